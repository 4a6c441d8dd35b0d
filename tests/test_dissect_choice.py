"""The compiled packet choice (_select.c) picks what Candidates and _early pick, batch after batch."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect import choice
from tracecheck.dissect.session import Dissection
from tracecheck.ingest.decode import Packets

MAP_NORESERVE = getattr(__import__("mmap"), "MAP_NORESERVE", 0x4000)  # Linux's value on x86 and ARM
compiled = pytest.mark.skipif(not choice.COMPILED, reason="tracecheck.dissect._select was not built (no C compiler)")

# Payload beginnings that steer the choice: TLS records (a hello, data, a ServerHello, a
# hello's continuation), SIP, the STUN cookie, QUIC, RTP, and nothing.
HEADS = [
    bytes.fromhex("1603010200010001"), bytes.fromhex("1703030040aabbcc"), bytes.fromhex("1603030050020000"),
    bytes.fromhex("15030300020230ff"), bytes.fromhex("1403030001010000"), bytes.fromhex("1605030001010000"),
    b"INVITE s", b"SIP/2.0 ", b"OPTIONS ", bytes.fromhex("000100082112a442"), bytes.fromhex("c300000001081234"),
    bytes.fromhex("8000123400000001"), bytes(8),
]


def test_compiled_choice_is_built_where_a_compiler_is():
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not cc or shutil.which(cc[0]) is None:
        pytest.skip("no C compiler on this machine: the NumPy choice is the expected one")
    assert choice.COMPILED, "tracecheck.dissect._select failed to build; reinstall with `pip install -e .` and read its log"


@st.composite
def batches(draw):
    """Batches of packets over a set of flows, each flow one protocol, as the decoder gives them."""
    flows = draw(st.integers(1, 12))
    protocol = draw(st.lists(st.sampled_from([6, 17, 1]), min_size=flows, max_size=flows))
    out = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 60))
        flow = draw(st.lists(st.integers(0, flows - 1), min_size=n, max_size=n))
        head = [int.from_bytes(draw(st.sampled_from(HEADS)), "big") for _ in range(n)]
        out.append(dict(
            flow=np.array(flow, dtype=np.int64),
            proto=np.array([protocol[f] for f in flow], dtype=np.int16),
            tcp_flags=np.array(draw(st.lists(st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x03]), min_size=n, max_size=n)), dtype=np.int16),
            payload_len=np.array(draw(st.lists(st.sampled_from([0, 1, 7, 8, 19, 20, 300]), min_size=n, max_size=n)), dtype=np.int64),
            payload_head=np.array(head, dtype=np.uint64),
            sport=np.array(draw(st.lists(st.sampled_from([53, 5353, 5355, 443, 5060, 40000]), min_size=n, max_size=n)), dtype=np.int32),
            dport=np.array(draw(st.lists(st.sampled_from([53, 443, 3478, 50000]), min_size=n, max_size=n)), dtype=np.int32),
        ))
    finished = draw(st.lists(st.booleans(), min_size=flows, max_size=flows))
    return flows, protocol, finished, out


def packets(batch: dict) -> Packets:
    n = len(batch["flow"])
    cols = {k: v for k, v in batch.items() if k != "flow"}
    cols.update(src_hi=np.zeros(n, np.uint64), src_lo=np.zeros(n, np.uint64), dst_hi=np.zeros(n, np.uint64),
                dst_lo=np.zeros(n, np.uint64), seq=np.zeros(n, np.int64), payload=np.zeros(n, np.int64),
                ip_len=batch["payload_len"] + 28)
    # Every payload lies inside the batch's bytes, as the decoder guarantees.
    data = np.zeros(int(batch["payload_len"].max(initial=0)) + 1, np.uint8)
    return Packets(data=data, record=np.arange(n), ts_ns=np.arange(n), cols=cols)


def choices(flows: int, finished: list[bool], out: list[dict], use_compiled: bool):
    chooser = Dissection()
    chooser._grow(flows)
    chooser.finished[:flows] = finished
    made = []
    with mock.patch.object(choice, "_choose", choice._choose if use_compiled else None):
        for batch in out:
            picks = chooser.select(packets(batch), batch["flow"])
            made.append(None if picks is None else
                        (picks.flow.tolist(), picks.must.tolist(), picks.dns.tolist(), picks.syn_flow.tolist()))
    return made, chooser.seen[:flows]


@compiled
@settings(max_examples=400, deadline=None)
@given(batches())
def test_the_compiled_choice_equals_the_numpy_one(drawn):
    flows, protocol, finished, out = drawn
    in_c, seen_c = choices(flows, finished, out, use_compiled=True)
    in_numpy, seen_numpy = choices(flows, finished, out, use_compiled=False)
    assert in_c == in_numpy
    # Past a flow's limit the count no longer matters (NumPy counts on, C stops).
    limit = np.array([choice.FIRST_PAYLOADS_TCP if p == 6 else choice.FIRST_PAYLOADS_UDP for p in protocol])
    assert np.minimum(seen_c, limit).tolist() == np.minimum(seen_numpy, limit).tolist()


@compiled
def test_a_flow_index_outside_the_state_is_refused_not_written():
    n = 3
    args = [np.full(n, 17, np.int16), np.zeros(n, np.int16), np.full(n, 10, np.int64), np.zeros(n, np.uint64),
            np.full(n, 40000, np.int32), np.full(n, 443, np.int32), np.array([0, 1, 5], np.int64),
            np.zeros(2, np.int64), np.zeros(2, np.uint8), np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.int64)]
    with pytest.raises(ValueError, match="flow index"):
        choice._choose(*args)
    with pytest.raises(ValueError, match="picks"):
        choice._choose(*args[:9], np.empty(n - 1, np.int64), *args[10:])


@pytest.mark.parametrize("use_compiled", [pytest.param(True, marks=compiled), False], ids=["compiled", "numpy"])
def test_what_is_chosen_and_why(use_compiled):
    heads = [b"\x16\x03\x01\x02\x00\x01\x00\x01", b"\x17\x03\x03\x00\x40\xaa\xbb\xcc", b"INVITE s", bytes(8), bytes(8)]
    batch = dict(
        flow=np.array([0, 0, 1, 2, 3], np.int64), proto=np.array([6, 6, 17, 17, 6], np.int16),
        tcp_flags=np.array([0x18, 0x18, 0, 0, 0x02], np.int16), payload_len=np.array([300, 300, 400, 60, 0], np.int64),
        payload_head=np.array([int.from_bytes(h, "big") for h in heads], np.uint64),
        sport=np.array([50000, 50000, 5060, 33000, 50001], np.int32), dport=np.array([443, 443, 5060, 53, 443], np.int32))
    made, _ = choices(4, [False, False, True, True], [batch], use_compiled)
    flow, must, dns, syn_flow = made[0]
    # The hello (not the data record), the SIP message and the DNS packet though their flows
    # are finished, and the SYN of flow 3.
    assert (flow, must, dns, syn_flow) == ([0, 1, 2], [False, True, True], [False, False, True], [3])


@compiled
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=30))
def test_payloads_are_joined_as_python_joins_them(data, slices):
    """The picked payloads gathered in C (join_slices) are the Python join of the same slices."""
    slices = [(min(a, b, len(data)), min(max(a, b), len(data))) for a, b in slices]
    start = np.array([a for a, _ in slices], dtype=np.int64)
    end = np.array([b for _, b in slices], dtype=np.int64)
    offset, blob = choice._joined(memoryview(data), start, end)
    with mock.patch.object(choice, "_join_slices", None):
        assert choice._joined(memoryview(data), start, end)[1] == blob
    assert blob == b"".join(data[a:b] for a, b in slices)
    assert offset.tolist() == [0, *np.cumsum([b - a for a, b in slices]).tolist()]


@compiled
@pytest.mark.parametrize("start, end", [(-1, 2), (3, 2), (0, 11)])
def test_a_slice_outside_the_data_is_refused_not_read(start, end):
    with pytest.raises(ValueError, match="outside"):
        choice._join_slices(b"0123456789", np.array([start], dtype=np.int64), np.array([end], dtype=np.int64))


@compiled
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 7))
def test_misaligned_int64_arrays_are_refused_not_loaded(shift):
    """An int64 array that does not start on an 8-byte boundary (a view into a byte buffer)."""
    raw = np.zeros(8 * 4 + 8, np.uint8)
    misaligned = raw[shift: shift + 8 * 4].view(np.int64)
    with pytest.raises(ValueError, match="aligned"):
        choice._join_slices(b"0123456789", misaligned, np.zeros(4, np.int64))
    n = 4
    args = [np.full(n, 17, np.int16), np.zeros(n, np.int16), misaligned, np.zeros(n, np.uint64),
            np.full(n, 40000, np.int32), np.full(n, 443, np.int32), np.zeros(n, np.int64),
            np.zeros(1, np.int64), np.zeros(1, np.uint8), np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.int64)]
    with pytest.raises(ValueError, match="aligned"):
        choice._choose(*args)



@compiled
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux anonymous mapping reserving nothing")
def test_slices_whose_total_passes_any_size_are_refused_not_copied():
    """Each slice inside the data, but the whole 16 TiB of it half a million times over: the
    total passes what a size holds.  Refused, never wrapped to an undersized buffer and a huge
    memcpy into it.  (The data is a mapping of pages never touched: it costs no memory.)"""
    import mmap

    size = 1 << 44
    data = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, prot=mmap.PROT_READ)
    try:
        n = (1 << 63) // size + 1
        with pytest.raises(ValueError, match="add up"):
            choice._join_slices(data, np.zeros(n, np.int64), np.full(n, size, np.int64))
    finally:
        data.close()


@pytest.mark.parametrize("use_compiled", [pytest.param(True, marks=compiled), False], ids=["compiled", "numpy"])
def test_a_hello_after_the_first_payloads_is_chosen_while_its_flow_is_open(use_compiled):
    # STARTTLS: a mail or FTP exchange of any length, then a ClientHello; it is not counted, so
    # a flow's first payloads stay its first.  A recognised flow's later hellos are left alone.
    text, hello = b"250-PIPE", b"\x16\x03\x01\x02\x00\x01\x00\x01"
    heads = [text] * 6 + [hello] + [text] * 6 + [hello]
    flow = [0] * 7 + [1] * 7
    n = len(flow)
    batch = dict(flow=np.array(flow, np.int64), proto=np.full(n, 6, np.int16), tcp_flags=np.full(n, 0x18, np.int16),
                 payload_len=np.full(n, 300, np.int64), payload_head=np.array([int.from_bytes(h, "big") for h in heads], np.uint64),
                 sport=np.full(n, 40000, np.int32), dport=np.full(n, 25, np.int32))
    made, _ = choices(2, [False, True], [batch], use_compiled)
    assert made[0][0] == [0, 0, 0, 0, 0]  # flow 0's first four payloads and its hello; nothing of flow 1
