"""Sensor logs summed per destination (tracecheck.sensors.aggregate) equal a plain row-by-row
grouping of the same rows, whichever way the rows are split into files and chunks and whichever
scheduler runs the graph."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_frames import FramesReader, flow_frame, name_frame

from tracecheck.destinations import local_addresses
from tracecheck.sensors.aggregate import SERVICE_PORTS, aggregate

ADDRESSES = ["10.0.0.1", "10.0.0.2", "192.168.1.9", "3.227.250.10", "52.210.12.34", "2a05:d018::1", "fd00::5"]
APPS = ["", "ssl", "quic", "rtp"]

flow_rows = st.lists(st.tuples(
    st.sampled_from(["Ca", "Cb", "Cc", "Cd"]),
    st.floats(1.7e9, 1.7e9 + 1000, allow_nan=False),
    st.one_of(st.just(math.nan), st.floats(0, 60)),
    st.sampled_from(["tcp", "udp"]),
    st.sampled_from(ADDRESSES), st.sampled_from([443, 5060, 50000]),
    st.sampled_from(ADDRESSES), st.sampled_from([443, 3478, 853]),
    st.integers(-1, 10_000), st.integers(-1, 10_000),
    st.sampled_from(APPS)), max_size=30)
name_rows = st.lists(st.tuples(
    st.floats(1.7e9, 1.7e9 + 1000, allow_nan=False), st.sampled_from(["Ca", "Cb", "Cx"]),
    st.sampled_from(ADDRESSES), st.sampled_from(["a.example", "b.example"]), st.sampled_from(["sni", "dns"])),
    max_size=12)


def expected_flows(rows: list[tuple]) -> pd.DataFrame:
    """Per destination (as destinations.remote_side decides it, row by row), the plain pandas sums."""
    local = local_addresses([ip for row in rows for ip in (row[4], row[6])])
    records = []
    for _uid, ts, duration, proto, oh, op, rh, rp, ob, rb, app in rows:
        reversed_ = rh in local and oh not in local
        ob, rb = max(ob, 0), max(rb, 0)
        port = op if reversed_ else rp
        port = port if port <= 1023 or port in SERVICE_PORTS else 0  # an ephemeral port is no service
        records.append({"ip": oh if reversed_ else rh, "proto": proto, "port": port, "app": app,
                        "flows": 1, "sent_bytes": rb if reversed_ else ob, "received_bytes": ob if reversed_ else rb,
                        "first_ts": ts, "last_ts": ts + (0.0 if math.isnan(duration) else max(duration, 0.0))})
    frame = pd.DataFrame(records, columns=["ip", "proto", "port", "app", "flows", "sent_bytes", "received_bytes",
                                           "first_ts", "last_ts"])
    return (frame.groupby(["ip", "proto", "port", "app"], as_index=False)
            .agg({"flows": "sum", "sent_bytes": "sum", "received_bytes": "sum", "first_ts": "min", "last_ts": "max"}))


def expected_names(rows: list[tuple]) -> dict:
    earliest: dict[tuple, tuple] = {}
    for ts, uid, ip, name, source in rows:
        key = (ip, name, source)
        earliest[key] = min(earliest.get(key, (ts, uid)), (ts, uid))
    return earliest


def split(rows: list, cuts: list[int]) -> list[list]:
    bounds = sorted({min(c, len(rows)) for c in cuts} | {0, len(rows)})
    return [rows[a:b] for a, b in zip(bounds, bounds[1:])]


def reader_of(flows: list[tuple], names: list[tuple], files: int, cuts: list[int]) -> FramesReader:
    chunks = {f"/logs/conn.{i}.log": [] for i in range(files)}
    for index, part in enumerate(split(flows, cuts)):
        chunks[f"/logs/conn.{index % files}.log"].append((flow_frame(part), None))
    for index, part in enumerate(split(names, cuts)):
        chunks[f"/logs/conn.{index % files}.log"].append((None, name_frame(part)))
    return FramesReader(chunks)


def summed(reader: FramesReader, scheduler: str, monkeypatch):
    monkeypatch.setattr("tracecheck.sensors.aggregate._hash_file", lambda path, digest: digest.update(path.encode()))
    monkeypatch.setattr("tracecheck.sensors.aggregate._COMPACT_AT", 5)  # a task combines its sums as it goes
    return aggregate(reader, reader.find(list(reader.frames)), scheduler=scheduler)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flows=flow_rows, names=name_rows, files=st.integers(1, 3), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_sums_equal_a_plain_groupby(flows, names, files, cuts, monkeypatch):
    result = summed(reader_of(flows, names, files, cuts), "sync", monkeypatch)
    want = expected_flows(flows)
    got = result.flows
    assert len(got) == len(want)
    if len(want):
        merged = want.merge(got, on=["ip", "proto", "port", "app"], suffixes=("", "_got"), how="outer", indicator=True)
        assert (merged["_merge"] == "both").all()
        for column in ("flows", "sent_bytes", "received_bytes", "first_ts", "last_ts"):
            assert (merged[column] == merged[f"{column}_got"]).all(), column
    assert list(got["ip"]) == sorted(got["ip"])  # sorted: the same report whatever finished first
    got_names = {(ip, name, source): (ts, uid) for ip, name, source, ts, uid in result.names.itertuples(index=False)}
    assert got_names == expected_names(names)
    taken = len(flows) + len(names)
    assert sum(log.rows for log in result.logs) == taken
    chunks = sum(len(chunks) for chunks in reader_of(flows, names, files, cuts).frames.values())
    assert sum(sum(log.skipped.values()) for log in result.logs) == chunks


def test_threads_and_sync_agree(monkeypatch):
    flows = [("C%d" % i, 1.7e9 + i, 1.0, "tcp", "10.0.0.%d" % (i % 5), 40000 + i, f"3.0.{i % 50}.1", 443, i, 2 * i,
              "ssl") for i in range(2000)]
    names = [(1.7e9 + i, "C%d" % i, f"3.0.{i % 50}.1", f"h{i % 7}.example", "sni") for i in range(500)]
    reader = reader_of(flows, names, 3, [100, 900, 1500])
    one, other = summed(reader, "threads", monkeypatch), summed(reader, "sync", monkeypatch)
    pd.testing.assert_frame_equal(one.flows, other.flows)
    pd.testing.assert_frame_equal(one.names, other.names)
    assert one.logs == other.logs and len(one.flows) == 50
    assert one.clients["flows"].sum() == 2000


def test_a_remote_originator_is_the_destination_and_bytes_swap(monkeypatch):
    # A carrier's RTP reaching the agent first: the remote side is still where the data goes.
    flows = [("Ca", 1.7e9, 2.0, "udp", "3.227.250.10", 3478, "10.0.0.1", 40000, 100, 700, "stun"),
             ("Cb", 1.7e9, 1.0, "udp", "3.227.250.10", 3478, "10.0.0.1", 40002, 10, 70, "stun")]
    result = summed(reader_of(flows, [], 1, []), "sync", monkeypatch)
    [row] = result.flows.to_dict("records")
    assert (row["ip"], row["port"], row["sent_bytes"], row["received_bytes"]) == ("3.227.250.10", 3478, 770, 110)
    assert row["last_ts"] == 1.7e9 + 2.0


def test_ephemeral_ports_do_not_multiply_a_destinations_groups(monkeypatch):
    # Inbound connections from one remote host, each from its own high port: one group, not 500.
    flows = [("C%d" % i, 1.7e9 + i, 0.5, "tcp", "3.227.250.10", 30000 + i, "10.0.0.1", 22, 60, 60, "")
             for i in range(500)]
    result = summed(reader_of(flows, [], 1, []), "sync", monkeypatch)
    [row] = result.flows.to_dict("records")
    assert (row["ip"], row["port"], row["flows"]) == ("3.227.250.10", 0, 500)


def test_many_files_are_summed_by_a_tree_into_one_partition_not_a_shuffle():
    """Dask would pick a hash shuffle (split_out > 1) by itself for a groupby on four keys over
    many files, and its local shuffle buffers every file's sums in memory until the end: memory
    then grows with the files (benchmarks/README.md).  Each reduction stays one partition."""
    from tracecheck.sensors.aggregate import reductions

    rows = [("C1", 1.0, 1.0, "tcp", "10.0.0.1", 40000, "192.0.2.1", 443, 10, 20, "ssl")]
    reader = FramesReader({f"conn.{i}.log": [(flow_frame(rows), None)] for i in range(40)})
    collections = reductions(reader, reader.find(list(reader.frames)))
    assert [c.optimize().npartitions for c in collections[:3]] == [1, 1, 1]  # what runs, once lowered
