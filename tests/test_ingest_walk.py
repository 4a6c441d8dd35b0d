"""The record walk: the compiled walk (``_walk.c``) must find exactly what the Python reference
finds, on well-formed chains of records and on hostile ones, and must be built whenever a C
compiler was there to build it."""

from __future__ import annotations

import shutil
import struct
import sysconfig

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture_builders import ETHERNET, T0, ether, ng_epb, ng_idb, ng_isb, ng_shb, pcap_bytes, tcp, udp
from tracecheck.flows.pipeline import build_flows
from tracecheck.ingest import walk
from tracecheck.ingest.records import MAX_FRAME

compiled = pytest.mark.skipif(not walk.COMPILED, reason="the compiled walk is not built (no C compiler at install)")
SECOND = 1_700_000_000  # a record header's ts_sec
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_compiled_walk_is_built_where_a_compiler_is():
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not cc or shutil.which(cc[0]) is None:
        pytest.skip("no C compiler on this machine: the Python walk is the expected one")
    assert walk.COMPILED, "tracecheck.ingest._walk failed to build; reinstall with `pip install -e .` and read its log"


def _pcap_chain(caplens: list[int], header: int, little: bool) -> bytes:
    endian = "<" if little else ">"
    out = bytearray()
    for n, caplen in enumerate(caplens):
        out += struct.pack(endian + "IIII", SECOND + n, n, caplen, caplen) + bytes(header - 16) + bytes([n % 251]) * caplen
    return bytes(out)


def _both_pcap(block: bytes, pos: int, header: int, little: bool, max_frame: int, room: int | None = None):
    results = []
    for fn in (walk.pcap_records, walk.pcap_records_py):
        rows = walk.capacity(len(block), header, walk.PCAP_COLUMNS) if room is None else np.empty((room, walk.PCAP_COLUMNS), dtype=np.int64)
        count, stop, caplen = fn(block, rows, pos, header, little, max_frame)
        results.append((count, stop, caplen, rows[:count].tolist()))
    return results


def test_pcap_walk_notes_each_record_and_stops_at_the_cut_one():
    block = _pcap_chain([60, 0, 1514], 16, True)
    cut = block + struct.pack("<IIII", SECOND, 0, 100, 100) + bytes(40)  # a record cut by the block's end
    for fn in (walk.pcap_records, walk.pcap_records_py):
        rows = walk.capacity(len(cut), 16, walk.PCAP_COLUMNS)
        assert fn(cut, rows, 0, 16, True, MAX_FRAME) == (3, len(block), 100)
        assert rows[:3].tolist() == [[0, SECOND, 0, 60, 60], [76, SECOND + 1, 1, 0, 0], [92, SECOND + 2, 2, 1514, 1514]]


def test_pcapng_walk_notes_each_packet_block_with_its_fields():
    block = ng_shb() + ng_idb() + ng_epb(0, (5 << 32) | 7, b"x" * 61, wirelen=1500) + ng_epb(0, 9, b"y" * 4) + ng_isb()
    first = len(ng_shb() + ng_idb())
    second = first + len(ng_epb(0, 0, b"x" * 61))
    for fn in (walk.pcapng_packets, walk.pcapng_packets_py):
        rows = walk.capacity(len(block), 32, walk.PCAPNG_COLUMNS)
        assert fn(block, rows, first, True, 32, MAX_FRAME) == (2, second + len(ng_epb(0, 9, b"y" * 4)))
        assert rows[:2].tolist() == [[first, second - first, 0, 5, 7, 61, 1500], [second, len(ng_epb(0, 9, b"y" * 4)), 0, 0, 9, 4, 4]]


def test_pcap_walk_stops_at_a_huge_claim_and_reports_it():
    block = _pcap_chain([60], 16, False) + struct.pack(">IIII", SECOND, 0, 0xFFFFFFFF, 60) + bytes(60)
    for fn in (walk.pcap_records, walk.pcap_records_py):
        assert fn(block, walk.capacity(len(block), 16, walk.PCAP_COLUMNS), 0, 16, False, MAX_FRAME) == (1, 76, 0xFFFFFFFF)


@compiled
@PROPERTY
@given(caplens=st.lists(st.integers(0, 300), max_size=40), header=st.sampled_from([16, 24]), little=st.booleans(),
       tail=st.binary(max_size=64), flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), max_size=4),
       pos=st.integers(0, 40), max_frame=st.sampled_from([MAX_FRAME, 200, 0]))
def test_pcap_walk_compiled_equals_reference(caplens, header, little, tail, flips, pos, max_frame):
    block = bytearray(_pcap_chain(caplens, header, little) + tail)
    for at, mask in flips:  # corrupt a few bytes anywhere: lengths included
        if block:
            block[at % len(block)] ^= mask
    compiled_result, reference = _both_pcap(bytes(block), pos, header, little, max_frame)
    assert compiled_result == reference


@compiled
@PROPERTY
@given(block=st.binary(max_size=512), header=st.sampled_from([16, 24]), little=st.booleans(), room=st.integers(0, 5))
def test_pcap_walk_never_writes_past_the_output(block, header, little, room):
    compiled_result, reference = _both_pcap(block, 0, header, little, MAX_FRAME, room=room)
    assert compiled_result == reference and compiled_result[0] <= room


def _ng_blocks(kinds: list[tuple[int, int]], little: bool) -> bytes:
    """Blocks of a given type and body size; the length field is what the block really spans."""
    endian = "<" if little else ">"
    out = bytearray()
    for btype, body in kinds:
        size = 12 + body
        out += struct.pack(endian + "II", btype, size) + bytes(body) + struct.pack(endian + "I", size)
    return bytes(out)


@compiled
@PROPERTY
@given(kinds=st.lists(st.tuples(st.sampled_from([6, 6, 6, 1, 3, 5, 0x0A0D0D0A]), st.integers(0, 40).map(lambda n: 4 * n)),
                      max_size=30),
       little=st.booleans(), tail=st.binary(max_size=40),
       flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), max_size=4), pos=st.integers(0, 16),
       max_block=st.sampled_from([MAX_FRAME + 4096, 64]), room=st.sampled_from([0, 1, 3, 100]))
def test_pcapng_walk_compiled_equals_reference(kinds, little, tail, flips, pos, max_block, room):
    block = bytearray(_ng_blocks(kinds, little) + tail)
    for at, mask in flips:
        if block:
            block[at % len(block)] ^= mask
    results = []
    for fn in (walk.pcapng_packets, walk.pcapng_packets_py):
        rows = np.empty((room, walk.PCAPNG_COLUMNS), dtype=np.int64)
        count, stop = fn(bytes(block), rows, pos, little, 32, max_block)
        results.append((count, stop, rows[:count].tolist()))
    assert results[0] == results[1]
    assert results[0][0] <= room


@compiled
def test_compiled_walk_refuses_output_that_is_not_int64_storage():
    with pytest.raises(ValueError):
        walk.pcap_records(bytes(64), bytearray(7), 0, 16, True, MAX_FRAME)
    with pytest.raises(ValueError):
        walk.pcapng_packets(bytes(64), bytearray(12), 0, True, 32, 1 << 20)
    with pytest.raises(ValueError):
        walk.pcap_records(bytes(64), bytearray(40), -1, 16, True, MAX_FRAME)
    with pytest.raises(ValueError):
        walk.pcap_records(bytes(64), bytearray(40), 0, 12, True, MAX_FRAME)  # no room for the header's fields


def _frames():
    return [(T0 + i * 1000, ether(tcp(sport=40000 + i % 7, flags="S" if i < 7 else "A", payload=b"p" * (i % 90))))
            for i in range(300)] + [(T0 + 400_000, ether(udp(payload=b"dns")))]


@pytest.mark.parametrize("kind", ["pcap", "pcap-ns-be", "pcapng", "pcapng-be"])
def test_readers_give_the_same_flows_with_either_walk(tmp_path, monkeypatch, kind):
    frames = _frames()
    if kind.startswith("pcapng"):
        big = kind.endswith("be")
        body = ng_shb(big) + ng_idb(ETHERNET, big_endian=big) + ng_isb(big_endian=big) + b"".join(
            ng_epb(0, ts // 1000, frame, big_endian=big) for ts, frame in frames[:150]) + ng_shb(big) + ng_idb(ETHERNET, big_endian=big) + b"".join(
            ng_epb(0, ts // 1000, frame, big_endian=big) for ts, frame in frames[150:])
    else:
        body = pcap_bytes(frames, ETHERNET, nanosecond=kind != "pcap", big_endian=kind != "pcap")
    path = tmp_path / "c.cap"
    path.write_bytes(body)
    compiled_result = build_flows([path])
    monkeypatch.setattr(walk, "pcap_records", walk.pcap_records_py)
    monkeypatch.setattr(walk, "pcapng_packets", walk.pcapng_packets_py)
    reference = build_flows([path])
    assert compiled_result.accounting == reference.accounting and compiled_result.accounting.decoded == len(frames)
    assert compiled_result.flows == reference.flows and len(reference.flows) == 8
