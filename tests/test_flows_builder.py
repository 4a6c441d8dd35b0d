"""The flow builder's compiled loop (``flows/_builder.c``) against its NumPy passes (``flows/builder.py``):
every flow column and every packet's flow index the same, batch by batch, for any packets --
repeated keys, TCP handshakes and closes, timestamps that jump, go backwards or sit at int64's
ends, fragments -- and in any batching.  The loop also refuses arrays of the wrong type or size
instead of reading past them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracecheck.flows import builder
from tracecheck.flows.builder import FLOW_COLUMNS, PACKET_INPUTS, FlowBuilder
from tracecheck.ingest.decode import Packets

pytestmark = pytest.mark.skipif(not builder.COMPILED, reason="the compiled flow loop is not built (no C compiler)")

SECOND = 1_000_000_000
V4 = 0xFFFF << 32  # ::ffff:0.0.0.0, as the decoder keeps an IPv4 address
HOSTS = [(0, V4 | 0x0A000001), (0, V4 | 0x0A000002), (0, V4 | 0xC0A80001), (0x20010DB8 << 32, 1)]
FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x01, 0x04, 0x14, 0x00]  # SYN, SYN/ACK, ACK, PSH/ACK, FIN/ACK, FIN, RST ...
STEPS = [0, 1, 1_000, SECOND, 4 * SECOND, 6 * SECOND, 61 * SECOND, 301 * SECOND, -SECOND, -400 * SECOND]
EDGES = [np.iinfo(np.int64).min, np.iinfo(np.int64).min + 1, -1, 0, np.iinfo(np.int64).max - 1, np.iinfo(np.int64).max]


def packets(rows: list[dict], first_record: int = 0) -> Packets:
    """A decoded batch, as the decoder gives it (its column types), from one dict per packet."""
    def column(name, dtype, default=0):
        return np.array([row.get(name, default) for row in rows], dtype=dtype)

    cols = {
        "src_hi": column("src_hi", np.uint64), "src_lo": column("src_lo", np.uint64),
        "dst_hi": column("dst_hi", np.uint64), "dst_lo": column("dst_lo", np.uint64),
        "proto": column("proto", np.int16), "sport": column("sport", np.int32), "dport": column("dport", np.int32),
        "ip_len": column("ip_len", np.int64), "tcp_flags": column("tcp_flags", np.int16), "seq": column("seq", np.int64),
        "vlan": column("vlan", np.int32, -1), "tunnel": column("tunnel", np.int32),
        "frag_id": column("frag_id", np.int64, -1), "frag_offset": column("frag_offset", np.int32),
    }
    return Packets(data=np.zeros(0, dtype=np.uint8), record=np.arange(len(rows), dtype=np.int64) + first_record,
                   ts_ns=column("ts_ns", np.int64), cols=cols)


def assert_same_flows(batches: list[list[dict]]) -> None:
    compiled, reference = FlowBuilder(compiled=True), FlowBuilder(compiled=False)
    assert compiled.compiled and not reference.compiled
    record = 0
    for rows in batches:
        p = packets(rows, record)
        record += len(rows)
        np.testing.assert_array_equal(compiled.add(p, 1), reference.add(p, 1))
    assert compiled.flows.size == reference.flows.size
    for name in FLOW_COLUMNS:
        np.testing.assert_array_equal(compiled.flows[name], reference.flows[name], err_msg=name)
    assert compiled.notes == reference.notes


@st.composite
def captures(draw) -> list[list[dict]]:
    """Packets among a few endpoints (so keys repeat and flows split), cut into batches."""
    count = draw(st.integers(1, 120))
    ts = draw(st.sampled_from([0, 10 * SECOND, *EDGES]))
    rows = []
    for _ in range(count):
        step = draw(st.sampled_from(STEPS + [None]))
        ts = draw(st.sampled_from(EDGES)) if step is None else int(np.int64(ts) + np.int64(step)) if abs(ts) < 2**62 else ts
        src, dst = draw(st.sampled_from(HOSTS)), draw(st.sampled_from(HOSTS))
        proto = draw(st.sampled_from([6, 6, 17, 1]))
        row = {"src_hi": src[0], "src_lo": src[1], "dst_hi": dst[0], "dst_lo": dst[1], "proto": proto,
               "sport": draw(st.sampled_from([0, 443, 5060, 40000])), "dport": draw(st.sampled_from([0, 443, 40000])),
               "ip_len": draw(st.integers(20, 1500)), "ts_ns": ts, "tunnel": draw(st.sampled_from([0, 0, 1, -1])),
               "vlan": draw(st.sampled_from([-1, 100]))}
        if proto == 6:
            row["tcp_flags"] = draw(st.sampled_from(FLAGS))
            row["seq"] = draw(st.sampled_from([1000, 1001, 7777]))
        if draw(st.integers(0, 9)) == 0:  # a fragment: the first (offset 0) or a later one
            row["frag_id"], row["frag_offset"] = draw(st.integers(1, 2)), draw(st.sampled_from([0, 185]))
        rows.append(row)
    cuts = sorted(set(draw(st.lists(st.integers(0, count), max_size=4))) | {0, count})
    return [rows[a:b] for a, b in zip(cuts, cuts[1:])]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(captures())
def test_the_compiled_loop_builds_the_flows_numpy_builds(batches):
    assert_same_flows(batches)


def test_many_new_keys_in_one_batch_grow_the_table_and_keep_numpy_numbering():
    # 5,000 keys in the first batch outgrow the 1,024 slots while the batch runs; each key comes
    # back in the second batch, once after its UDP timeout.
    rng = np.random.default_rng(7)
    hosts = rng.permutation(5000)

    def row(host: int, ts: int) -> dict:
        return {"src_hi": 0, "src_lo": V4 | (0x0A000000 + int(host)), "dst_hi": 0, "dst_lo": V4 | 0x08080808,
                "proto": 17, "sport": 5000 + int(host) % 7, "dport": 53, "ip_len": 80, "ts_ns": ts}

    first = [row(h, i) for i, h in enumerate(hosts)]
    second = [row(h, 10 * SECOND if h % 2 else 100 * SECOND) for h in hosts[::-1]]
    assert_same_flows([first, second])


def test_a_tcp_connection_split_across_batches_is_one_flow_and_a_reuse_is_another():
    def tcp(flags: int, ts: int, forward: bool = True, seq: int = 1000) -> dict:
        a, b = (HOSTS[0], 40000), (HOSTS[1], 443)
        (src, sport), (dst, dport) = (a, b) if forward else (b, a)
        return {"src_hi": src[0], "src_lo": src[1], "dst_hi": dst[0], "dst_lo": dst[1], "proto": 6, "sport": sport,
                "dport": dport, "ip_len": 60, "ts_ns": ts, "tcp_flags": flags, "seq": seq}

    batches = [[tcp(0x02, 0), tcp(0x12, 1, False)], [tcp(0x10, 2), tcp(0x11, 3), tcp(0x11, 4, False)],
               [tcp(0x02, 10 * SECOND, seq=5000)]]
    assert_same_flows(batches)
    built = FlowBuilder(compiled=True)
    for rows in batches:
        built.add(packets(rows), 0)
    assert built.flows.size == 2
    assert built.flows["pkts_a"].tolist() == [3, 1] and built.flows["pkts_b"].tolist() == [2, 0]


def test_the_loop_refuses_arrays_of_the_wrong_type_or_size():
    from tracecheck.flows._builder import FlowIndex

    p = packets([{"src_lo": 1, "dst_lo": 2, "proto": 17, "ts_ns": 5}])
    given = {**p.cols, "sport": p.sport.astype(np.int64), "dport": p.dport.astype(np.int64), "ts_ns": p.ts_ns,
             "record": p.record, "counted": np.ones(1, dtype=np.int64)}
    columns = {name: np.zeros(4, dtype=dtype) for name, dtype in FLOW_COLUMNS.items()}

    def add(inputs=None, cols=None, size=0, flow_of=None):
        inputs = {**given, **(inputs or {})}
        cols = {**columns, **(cols or {})}
        return FlowIndex().add([cols[n] for n in FLOW_COLUMNS], size, [inputs[n] for n in PACKET_INPUTS], 0,
                               np.empty(1, dtype=np.int64) if flow_of is None else flow_of)

    assert add() == 1
    for wrong in ({"sport": p.sport}, {"proto": p.proto.astype(np.int64)}, {"ts_ns": p.ts_ns.astype(np.uint64)},
                  {"record": np.arange(2)}, {"src_hi": p.src_hi[:0]}):
        with pytest.raises(ValueError):
            add(inputs=wrong)
    with pytest.raises(ValueError, match="first_side_b"):
        add(cols={"first_side_b": np.zeros(4, dtype=np.int64)})
    with pytest.raises(ValueError, match="last_ts must be int64 with room for 4 rows"):
        add(cols={"last_ts": np.zeros(3, dtype=np.int64)}, size=3)  # no room for the new row
    with pytest.raises(ValueError):
        add(size=-1)
    with pytest.raises(ValueError):
        add(flow_of=np.empty(2, dtype=np.int64))
    with pytest.raises(ValueError):
        add(cols={"a_hi": np.zeros(8, dtype=np.int64)[::2]})  # not contiguous
    with pytest.raises(BufferError):
        add(cols={"last_ts": np.zeros(4, dtype=np.int64).tobytes()})  # read-only
