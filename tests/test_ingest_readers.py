"""File readers: classic pcap (four variants and the modified one), pcapng (byte orders,
sections, interfaces, timestamp resolutions and offsets, every packet block, other blocks),
gzip; detection by magic bytes; truncated and corrupt files."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_builders import (ETHERNET, RAW, SECOND, SLL, T0, flow_summary, flows_of, frames_of, ng_block, ng_custom,
                              ng_epb, ng_idb, ng_isb, ng_nrb, ng_opb, ng_shb, ng_spb, pcap_bytes, pcapng_bytes, tcp, udp,
                              write_pcap, write_pcapng, ether)
from tracecheck.errors import UserError
from tracecheck.flows.pipeline import build_flows
from tracecheck.ingest.capture import open_capture

# A TCP handshake, data and close, and a DNS exchange: 8 records, 3 flows' worth of variety.
CONVERSATION = [
    tcp("10.0.0.1", "10.0.0.2", 40000, 443, "S"),
    tcp("10.0.0.2", "10.0.0.1", 443, 40000, "SA"),
    tcp("10.0.0.1", "10.0.0.2", 40000, 443, "A"),
    tcp("10.0.0.1", "10.0.0.2", 40000, 443, "PA", payload=b"x" * 100),
    tcp("10.0.0.2", "10.0.0.1", 443, 40000, "FA"),
    udp("10.0.0.1", "10.0.0.53", 5353, 53, payload=b"q" * 20),
    udp("10.0.0.53", "10.0.0.1", 53, 5353, payload=b"a" * 60),
    tcp("2001:db8::1", "2001:db8::2", 40001, 80, "S"),
]
# Timestamps with every nanosecond digit used, to see what each format keeps.
TIMES = [T0 + i * 1_234_567_891 + 123_456_789 for i in range(len(CONVERSATION))]
FRAMES = [(t, ether(p)) for t, p in zip(TIMES, CONVERSATION)]

EXPECTED = {  # flow_summary of each flow, by first packet time
    ("tcp", "10.0.0.1", 40000, "10.0.0.2", 443, 3, 40 + 40 + 140, 2, 80, None, ""),
    ("udp", "10.0.0.1", 5353, "10.0.0.53", 53, 1, 48, 1, 88, None, ""),
    ("tcp", "2001:db8::1", 40001, "2001:db8::2", 80, 1, 60, 0, 0, None, ""),
}


def read_ts(path) -> list[int]:
    """Every record's timestamp in nanoseconds, as the reader hands it on."""
    with open_capture(path) as capture:
        return [int(t) for batch in capture.batches() for t in batch.ts_ns]


def summaries(result) -> set[tuple]:
    return {flow_summary(f) for f in result.flows}


# --------------------------------------------------------------------------- classic pcap


@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_variants_give_the_same_flows(tmp_path, nanosecond, big_endian):
    path = write_pcap(tmp_path / "c.pcap", FRAMES, nanosecond=nanosecond, big_endian=big_endian)
    result = flows_of(path)
    assert summaries(result) == EXPECTED
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (8, 8, {})
    expected_ts = TIMES if nanosecond else [t // 1000 * 1000 for t in TIMES]
    assert read_ts(path) == expected_ts
    tcp_flow = next(f for f in result.flows if f.resp_p == 443)
    assert tcp_flow.ts == pytest.approx(expected_ts[0] / 1e9, abs=1e-6)
    assert tcp_flow.duration == pytest.approx((expected_ts[4] - expected_ts[0]) / 1e9, abs=1e-9)
    info = result.captures[0]
    assert info.format == ("pcap-ns" if nanosecond else "pcap")
    assert (info.linktypes, info.packets) == ((1,), 8)
    assert info.first_ts == expected_ts[0] / 1e9 and info.last_ts == expected_ts[-1] / 1e9


def test_nanosecond_precision_survives_into_the_flow_table(tmp_path):
    frames = [(T0 + 1, ether(CONVERSATION[0])), (T0 + 2, ether(CONVERSATION[1]))]
    ns = flows_of(write_pcap(tmp_path / "ns.pcap", frames, nanosecond=True)).flows[0]
    assert ns.ts * 1e9 == pytest.approx(T0 + 1, abs=300)  # float64 at 1.7e9 s: ~240 ns apart
    assert ns.duration == pytest.approx(1e-9)
    assert ns.handshake_rtt_ms == pytest.approx(1e-6)
    us = flows_of(write_pcap(tmp_path / "us.pcap", frames, nanosecond=False)).flows[0]
    assert us.duration == 0.0


@pytest.mark.parametrize("big_endian", [False, True])
def test_kuznetsov_modified_pcap(tmp_path, big_endian):
    path = write_pcap(tmp_path / "m.pcap", FRAMES, big_endian=big_endian, modified=True)
    result = flows_of(path)
    assert summaries(result) == EXPECTED
    assert result.captures[0].format == "pcap-modified"
    assert read_ts(path) == [t // 1000 * 1000 for t in TIMES]


def test_pcap_link_type_with_fcs_bits(tmp_path):
    """The top bits of the header's link type may say an FCS follows; the link type is the rest."""
    data = bytearray(pcap_bytes(FRAMES))
    data[20:24] = struct.pack("<I", ETHERNET | 0x04000000 | (4 << 28))
    (tmp_path / "fcs.pcap").write_bytes(bytes(data))
    result = flows_of(tmp_path / "fcs.pcap")
    assert result.captures[0].linktypes == (1,)
    assert summaries(result) == EXPECTED


# --------------------------------------------------------------------------- pcapng


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_both_byte_orders(tmp_path, big_endian):
    path = write_pcapng(tmp_path / "n.pcapng", FRAMES, big_endian=big_endian)
    result = flows_of(path)
    assert summaries(result) == EXPECTED
    assert read_ts(path) == [t // 1000 * 1000 for t in TIMES]  # default resolution: microseconds
    assert result.captures[0].format == "pcapng"
    assert result.accounting.notes == {"pcapng_sections": 1}


def test_pcapng_several_sections_with_their_own_byte_order_and_interfaces(tmp_path):
    raw = [p for _, p in FRAMES]
    data = b"".join([
        ng_shb(), ng_idb(ETHERNET, tsresol=9),
        *[ng_epb(0, TIMES[i], ether(CONVERSATION[i])) for i in range(4)],
        ng_shb(big_endian=True), ng_idb(RAW, big_endian=True),  # interface 0 again, now raw IP
        *[ng_epb(0, TIMES[i] // 1000, CONVERSATION[i], big_endian=True) for i in range(4, 8)],
        ng_shb(), ng_idb(ETHERNET, tsresol=9),  # a trailing empty section
    ])
    assert raw  # frames kept for symmetry with the pcap tests
    (tmp_path / "s.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "s.pcapng")
    assert summaries(result) == EXPECTED
    assert result.accounting.notes == {"pcapng_sections": 3}
    assert result.captures[0].linktypes == (1, 101)
    assert read_ts(tmp_path / "s.pcapng") == TIMES[:4] + [t // 1000 * 1000 for t in TIMES[4:]]


def test_pcapng_interfaces_with_different_link_types(tmp_path):
    sll = struct.pack(">HHH8sH", 0, 1, 6, bytes(8), 0x0800)
    data = b"".join([
        ng_shb(), ng_idb(ETHERNET), ng_idb(RAW), ng_idb(SLL),
        ng_epb(0, TIMES[0] // 1000, ether(CONVERSATION[0])),
        ng_epb(1, TIMES[1] // 1000, CONVERSATION[1]),
        ng_epb(2, TIMES[2] // 1000, sll + CONVERSATION[2]),
        ng_epb(1, TIMES[3] // 1000, CONVERSATION[3]),
        ng_epb(0, TIMES[4] // 1000, ether(CONVERSATION[4])),
    ])
    (tmp_path / "i.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "i.pcapng")
    assert [flow_summary(f) for f in result.flows] == [
        ("tcp", "10.0.0.1", 40000, "10.0.0.2", 443, 3, 220, 2, 80, None, "")]
    assert result.captures[0].linktypes == (1, 101, 113)


@pytest.mark.parametrize("tsresol, ticks, expected_ns", [
    (None, 1_700_000_000_123_456, T0 + 123_456_000),             # default 10^-6
    (9, T0 + 123_456_789, T0 + 123_456_789),                       # 10^-9
    (3, 1_700_000_000_123, T0 + 123_000_000),                       # 10^-3
    (12, 123_456_789_999, 123_456_789),                            # 10^-12: below a ns is dropped
    (0x94, (1_700_000_000 << 20) + (1 << 19), T0 + 500_000_000),   # 2^-20
    (0x94, (1_700_000_000 << 20) + 1, T0 + 953),                   # one 2^-20 tick = 953.67 ns
    (0x80 | 40, 1_700 << 40, 1_700 * SECOND),                      # 2^-40: the float path
])
def test_pcapng_if_tsresol(tmp_path, tsresol, ticks, expected_ns):
    data = ng_shb() + ng_idb(ETHERNET, tsresol=tsresol) + ng_epb(0, ticks, ether(CONVERSATION[0]))
    (tmp_path / "r.pcapng").write_bytes(data)
    assert read_ts(tmp_path / "r.pcapng") == [expected_ns]


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_if_tsoffset(tmp_path, big_endian):
    data = (ng_shb(big_endian) + ng_idb(ETHERNET, tsresol=9, tsoffset=1_700_000_000, big_endian=big_endian)
            + ng_idb(ETHERNET, tsoffset=-5, big_endian=big_endian)
            + ng_epb(0, 42, ether(CONVERSATION[0]), big_endian=big_endian)
            + ng_epb(1, 1_700_000_010_000_000, ether(CONVERSATION[1]), big_endian=big_endian))
    (tmp_path / "o.pcapng").write_bytes(data)
    assert read_ts(tmp_path / "o.pcapng") == [T0 + 42, T0 + 5 * SECOND]
    flow = flows_of(tmp_path / "o.pcapng").flows[0]
    assert flow.ts == T0 / 1e9 and flow.handshake_rtt_ms == pytest.approx(5000.0)


def test_pcapng_simple_and_obsolete_packet_blocks(tmp_path):
    data = b"".join([
        ng_shb(), ng_idb(ETHERNET, snaplen=1500),
        ng_epb(0, TIMES[0] // 1000, ether(CONVERSATION[0])),
        ng_spb(ether(CONVERSATION[1])),  # no timestamp: the previous packet's
        ng_opb(0, TIMES[2] // 1000, ether(CONVERSATION[2])),
        ng_opb(0, TIMES[3] // 1000, ether(CONVERSATION[3])[:60], wirelen=14 + 140),  # cut by the snap length
    ])
    (tmp_path / "b.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "b.pcapng")
    assert [flow_summary(f) for f in result.flows] == [
        ("tcp", "10.0.0.1", 40000, "10.0.0.2", 443, 3, 40 + 40 + 140, 1, 40, None, "")]
    assert result.accounting.notes == {"pcapng_sections": 1, "pcapng_simple_packet_without_timestamp": 1}
    us = [t // 1000 * 1000 for t in TIMES]
    assert read_ts(tmp_path / "b.pcapng") == [us[0], us[0], us[2], us[3]]


def test_pcapng_simple_packet_block_cut_to_the_snap_length(tmp_path):
    frame = ether(CONVERSATION[3])
    data = ng_shb() + ng_idb(ETHERNET, snaplen=54) + ng_spb(frame[:54], wirelen=len(frame))
    (tmp_path / "spb.pcapng").write_bytes(data)
    flow = flows_of(tmp_path / "spb.pcapng").flows[0]
    assert (flow.orig_pkts, flow.orig_ip_bytes) == (1, 140)


def test_pcapng_other_blocks_are_skipped_and_counted(tmp_path):
    data = b"".join([
        ng_shb(), ng_nrb(), ng_idb(ETHERNET), ng_custom(),
        ng_epb(0, TIMES[0] // 1000, ether(CONVERSATION[0])),
        ng_isb(0), ng_block(0x40000BAD, bytes(8)), ng_block(10, bytes(16)), ng_block(0x1234, b"????"),
        ng_epb(0, TIMES[1] // 1000, ether(CONVERSATION[1])), ng_isb(0),
    ])
    (tmp_path / "o.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "o.pcapng")
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (2, 2, {})
    assert acc.notes == {
        "pcapng_sections": 1,
        "pcapng_block_skipped:name_resolution": 1,
        "pcapng_block_skipped:custom": 2,
        "pcapng_interface_statistics": 2,
        "pcapng_block_skipped:decryption_secrets": 1,
        "pcapng_block_skipped:0x1234": 1,
    }
    assert result.flows[0].orig_pkts == 1 and result.flows[0].resp_pkts == 1


def test_pcapng_packet_on_an_undescribed_interface_is_counted(tmp_path):
    data = ng_shb() + ng_idb(ETHERNET) + ng_epb(0, 1, ether(CONVERSATION[0])) + ng_epb(3, 2, ether(CONVERSATION[1]))
    (tmp_path / "u.pcapng").write_bytes(data)
    acc = flows_of(tmp_path / "u.pcapng").accounting
    assert (acc.records, acc.decoded, acc.skipped) == (2, 1, {"pcapng_unknown_interface": 1})


@pytest.mark.parametrize("block", [
    struct.pack("<III", 1, 12, 12),   # interface description block without its fields
    struct.pack("<III", 6, 12, 12),   # enhanced packet block without its fields
    struct.pack("<III", 2, 12, 12),   # obsolete packet block without its fields
    struct.pack("<III", 3, 12, 12),   # simple packet block without its length
    struct.pack("<IIII", 3, 16, 100, 16),  # simple packet block with nothing captured
])
def test_pcapng_blocks_too_short_for_their_fields_at_the_end_of_the_file(tmp_path, block):
    """Regression: these read past the end of the data (IndexError / struct.error)."""
    data = ng_shb() + ng_idb(ETHERNET) + ng_epb(0, 1, ether(CONVERSATION[0])) + block
    (tmp_path / "short.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "short.pcapng")
    assert result.flows[0].orig_pkts == 1
    assert result.accounting.decoded == 1


def test_pcapng_short_interface_block_keeps_the_interface_numbering(tmp_path):
    data = (ng_shb() + struct.pack("<III", 1, 12, 12) + ng_idb(RAW)
            + ng_epb(0, 1, ether(CONVERSATION[0])) + ng_epb(1, 2, CONVERSATION[1]))
    (tmp_path / "idb.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "idb.pcapng")
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (2, 1, {"pcapng_unknown_interface": 1})
    assert acc.notes["pcapng_malformed_interface_block"] == 1
    assert result.captures[0].linktypes == (101,)


@pytest.mark.parametrize("tsresol, tsoffset", [(100, None), (0x7F, None), (6, 1 << 62), (6, -(1 << 62))])
def test_pcapng_absurd_resolution_or_offset_is_no_crash(tmp_path, tsresol, tsoffset):
    """Regression: 10^-100 s ticks and offsets beyond 2^63 ns raised OverflowError."""
    data = ng_shb() + ng_idb(ETHERNET, tsresol=tsresol, tsoffset=tsoffset) + ng_epb(0, 12345, ether(CONVERSATION[0]))
    (tmp_path / "abs.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "abs.pcapng")
    assert result.accounting.decoded == 1
    if tsresol == 6:  # the offset cannot be represented: ignored
        assert read_ts(tmp_path / "abs.pcapng") == [12_345_000]


def test_pcapng_obsolete_packet_block_with_top_bit_ticks(tmp_path):
    """Regression: OPB ticks >= 2^63 raised OverflowError (EPB ticks wrap quietly)."""
    data = ng_shb() + ng_idb(ETHERNET, tsoffset=-1) + ng_opb(0, (1 << 64) - 1, ether(CONVERSATION[0]))
    (tmp_path / "opb.pcapng").write_bytes(data)
    assert flows_of(tmp_path / "opb.pcapng").accounting.decoded == 1


# --------------------------------------------------------------------------- written by other tools


def test_files_written_by_scapy_and_dpkt(tmp_path):
    import dpkt
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter, wrpcap

    packets = []
    for t, frame in FRAMES:
        pkt = Ether(frame)
        pkt.time = t / 1e9
        packets.append(pkt)
    wrpcap(str(tmp_path / "scapy.pcap"), packets)
    writer = PcapNgWriter(str(tmp_path / "scapy.pcapng"))
    for pkt in packets:
        writer.write(pkt)
    writer.close()
    with open(tmp_path / "dpkt-ns.pcap", "wb") as f:
        w = dpkt.pcap.Writer(f, nano=True)
        for t, frame in FRAMES:
            w.writepkt(frame, ts=t / 1e9)
    with open(tmp_path / "dpkt.pcapng", "wb") as f:
        w = dpkt.pcapng.Writer(f)
        for t, frame in FRAMES:
            w.writepkt(frame, ts=t / 1e9)
    for name in ("scapy.pcap", "scapy.pcapng", "dpkt-ns.pcap", "dpkt.pcapng"):
        result = flows_of(tmp_path / name)
        assert summaries(result) == EXPECTED, name
        assert result.accounting.records == 8
        assert abs(result.flows[0].ts - TIMES[0] / 1e9) < 2e-6, name


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_gzip_compressed_captures(tmp_path, fmt):
    path = tmp_path / f"c.{fmt}.gz"
    (write_pcap if fmt == "pcap" else write_pcapng)(path, FRAMES, gzipped=True)
    result = flows_of(path)
    assert summaries(result) == EXPECTED
    assert result.captures[0].format == f"{fmt}+gzip"


def test_gzip_cut_short_keeps_what_was_read_and_warns(tmp_path):
    """Regression: a cut-short .gz lost everything decompressed in the failing read (up to a
    whole 32 MiB block, so all of a small file)."""
    data = pcap_bytes(FRAMES * 50)
    packed = gzip.compress(data, mtime=0)
    cut = packed[: len(packed) * 2 // 3]
    (tmp_path / "cut.pcap.gz").write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    complete, pos = 0, 24
    while pos + 16 <= len(readable) and pos + 16 + struct.unpack_from("<I", readable, pos + 8)[0] <= len(readable):
        pos += 16 + struct.unpack_from("<I", readable, pos + 8)[0]
        complete += 1
    assert 0 < complete < 400
    result = flows_of(tmp_path / "cut.pcap.gz")
    acc = result.accounting
    assert acc.records == complete + (pos < len(readable))
    assert acc.decoded == complete
    assert any("compressed stream is damaged or cut short" in w for w in result.warnings)


def test_the_name_does_not_matter(tmp_path):
    pcapng = write_pcapng(tmp_path / "really-pcapng.pcap", FRAMES)
    pcap = write_pcap(tmp_path / "capture.txt", FRAMES, nanosecond=True)
    gz = write_pcap(tmp_path / "noextension", FRAMES, gzipped=True)
    assert [flows_of(p).captures[0].format for p in (pcapng, pcap, gz)] == ["pcapng", "pcap-ns", "pcap+gzip"]
    assert all(summaries(flows_of(p)) == EXPECTED for p in (pcapng, pcap, gz))


@pytest.mark.parametrize("content, shown", [
    (b"hello, world\n", "68656c6c"),
    (b"", "(an empty file; expected pcap"),
    (gzip.compress(b"", mtime=0), "(decompresses to nothing; gzip data that is not pcap"),
    (b"\x0a\x0d", "0a0d"),
    (gzip.compress(b"just some text", mtime=0), "gzip data that is not pcap"),
    (b"PK\x03\x04zipfile", "504b0304"),
])
def test_not_a_capture_file(tmp_path, content, shown):
    path = tmp_path / "notes.pcap"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        build_flows([str(path)])
    message = str(err.value)
    assert message.startswith(f"not a capture file: {path} (")
    assert shown in message and "\n" not in message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match=r"^cannot read .*nothing\.pcap: No such file or directory$"):
        build_flows([str(tmp_path / "nothing.pcap")])
    with pytest.raises(UserError, match=r"^cannot read .*: Is a directory$"):
        build_flows([str(tmp_path)])


# --------------------------------------------------------------------------- truncated and corrupt


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncated_file_gives_what_could_be_read(tmp_path, fmt):
    data = pcap_bytes(FRAMES) if fmt == "pcap" else pcapng_bytes(FRAMES)
    last = len(ether(CONVERSATION[-1]))
    (tmp_path / "t").write_bytes(data[: len(data) - last // 2])  # cut inside the last frame
    result = flows_of(tmp_path / "t")
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (8, 7, {"truncated_record": 1})
    assert len(result.warnings) == 1 and "is cut short: the file is truncated" in result.warnings[0]
    assert summaries(result) == EXPECTED - {("tcp", "2001:db8::1", 40001, "2001:db8::2", 80, 1, 60, 0, 0, None, "")}


@pytest.mark.parametrize("cut", [0, 4, 10, 23, 24, 30, 39])
def test_pcap_cut_in_the_headers(tmp_path, cut):
    data = pcap_bytes(FRAMES)[:cut]
    (tmp_path / "h.pcap").write_bytes(data)
    if cut < 4:
        with pytest.raises(UserError):
            build_flows([str(tmp_path / "h.pcap")])
        return
    result = flows_of(tmp_path / "h.pcap")
    assert result.flows == []
    assert result.accounting.records == (1 if cut > 24 else 0)
    assert (cut == 24) == (result.warnings == [])


def test_record_header_claiming_two_gigabytes_stops_reading(tmp_path):
    data = bytearray(pcap_bytes(FRAMES))
    third = 24 + sum(16 + len(f) for _, f in FRAMES[:2])
    data[third + 8: third + 16] = struct.pack("<II", 2_000_000_000, 2_000_000_000)
    (tmp_path / "big.pcap").write_bytes(bytes(data))
    result = flows_of(tmp_path / "big.pcap")
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (3, 2, {"corrupt_record_header": 1})
    assert result.warnings == [f"{tmp_path / 'big.pcap'}: record 3 at byte {third} claims a 2000000000-byte frame; "
                               "the file is corrupt from there on, stopped reading"]


def test_pcapng_block_claiming_two_gigabytes_stops_reading(tmp_path):
    data = ng_shb() + ng_idb(ETHERNET) + ng_epb(0, 1, ether(CONVERSATION[0])) + struct.pack("<II", 6, 2_000_000_000) + bytes(64)
    (tmp_path / "big.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "big.pcapng")
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (2, 1, {"corrupt_block": 1})
    assert "claims length 2000000000" in result.warnings[0]


# Peak memory of this process only: VmHWM starts afresh at exec, while ru_maxrss would carry
# the high-water mark of the (large) pytest worker that forked it.
MEMORY_PROBE = """
import sys
from tracecheck.flows.pipeline import build_flows
r = build_flows(sys.argv[1:])
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(r.accounting.records, r.accounting.skipped, peak)
"""


def test_huge_claims_use_bounded_memory(tmp_path):
    """Headers that claim 2-4 GB (pcap record, pcapng block, EPB caplen, gzip'd) allocate nothing of that size."""
    pcap = bytearray(pcap_bytes(FRAMES[:1]))
    pcap += struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0) + bytes(100)
    (tmp_path / "a.pcap").write_bytes(bytes(pcap))
    (tmp_path / "b.pcap.gz").write_bytes(gzip.compress(bytes(pcap), mtime=0))
    (tmp_path / "c.pcapng").write_bytes(ng_shb() + ng_idb(ETHERNET) + struct.pack("<II", 6, 0xFFFFFFFC) + bytes(64))
    epb = bytearray(ng_epb(0, 1, ether(CONVERSATION[0])))
    epb[20:28] = struct.pack("<II", 0x7FFFFFFF, 0x7FFFFFFF)  # caplen, wirelen
    (tmp_path / "d.pcapng").write_bytes(ng_shb() + ng_idb(ETHERNET) + bytes(epb))
    paths = [str(tmp_path / n) for n in ("a.pcap", "b.pcap.gz", "c.pcapng", "d.pcapng")]
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, *paths], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    records, rest = proc.stdout.strip().split(" ", 1)
    skipped, maxrss_kb = rest.rsplit(" ", 1)
    assert records == "6"
    assert skipped == "{'corrupt_block': 1, 'corrupt_record_header': 2, 'malformed_packet_block': 1}"
    assert int(maxrss_kb) < 400_000, f"peak memory {maxrss_kb} KiB"


# --------------------------------------------------------------------------- blocks and batches


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("block_size", [64, 100, 333, 1000])
def test_small_read_blocks_give_the_same_records(tmp_path, monkeypatch, fmt, block_size):
    """Records that straddle block boundaries, or are larger than a block, are read whole."""
    import tracecheck.ingest.pcap as pcap_module
    import tracecheck.ingest.pcapng as pcapng_module

    big = ether(udp(payload=b"B" * 3000))
    frames = FRAMES + [(TIMES[-1] + 1000, big)] + FRAMES
    path = (write_pcap if fmt == "pcap" else write_pcapng)(tmp_path / "b", frames)
    whole = flows_of(path)
    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", block_size)
    monkeypatch.setattr(pcapng_module, "BLOCK_SIZE", block_size)
    with open_capture(path) as capture:
        batches = list(capture.batches())
    assert len(batches) > 2
    assert sum(len(b) for b in batches) == 17
    pieces = flows_of(path)
    assert [flow_summary(f) for f in pieces.flows] == [flow_summary(f) for f in whole.flows]
    assert pieces.accounting == whole.accounting
    assert [f.ts for f in pieces.flows] == [f.ts for f in whole.flows]


def test_record_numbers_run_across_batches_and_files(tmp_path, monkeypatch):
    import tracecheck.ingest.pcap as pcap_module

    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", 200)
    a = write_pcap(tmp_path / "a.pcap", FRAMES)
    b = write_pcap(tmp_path / "b.pcap", FRAMES)
    seen: list[np.ndarray] = []
    build_flows([str(a), str(b)], on_packets=lambda p, flow_of, i: seen.append(p.record))
    assert np.concatenate(seen).tolist() == list(range(16))


def test_frames_of_helper_is_in_order():
    assert [t for t, _ in frames_of([b"a", b"b"], start_ns=5, step_ns=2)] == [5, 7]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng", "pcap.gz"])
@pytest.mark.parametrize("block_size", [64, 1000, 1 << 20])
def test_the_file_hash_is_of_every_stored_byte_read_in_any_blocks(tmp_path, monkeypatch, fmt, block_size):
    """inputs[].sha256 is the stored file's, corrupt tail included, whether the file is read in
    one block or hundreds (it is hashed from a read of its own, ``ingest.digest``)."""
    import hashlib

    import tracecheck.ingest.pcap as pcap_module
    import tracecheck.ingest.pcapng as pcapng_module

    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", block_size)
    monkeypatch.setattr(pcapng_module, "BLOCK_SIZE", block_size)
    frames = FRAMES * 40
    path = (write_pcapng if fmt == "pcapng" else write_pcap)(tmp_path / "h", frames)
    stored = path.read_bytes() + b"\x07" * 37  # a tail no record header can explain
    if fmt == "pcap.gz":
        stored = gzip.compress(stored, mtime=0)
    path.write_bytes(stored)
    result = build_flows([str(path)], hash_files=True)
    assert result.captures[0].sha256 == ""  # until asked for
    result.hash_captures()
    assert result.captures[0].sha256 == hashlib.sha256(stored).hexdigest()
    assert result.accounting.decoded == len(frames)
    assert not any("changed while it was read" in w for w in result.warnings)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_block_s_array_is_used_again_only_once_nothing_refers_to_it(tmp_path, monkeypatch, fmt):
    """Blocks are read into arrays a pool hands out again (records.BlockPool): a batch kept alive
    keeps its bytes, whatever is read after it; batches let go of are read into again."""
    import tracecheck.ingest.pcap as pcap_module
    import tracecheck.ingest.pcapng as pcapng_module
    from tracecheck.ingest import records

    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", 300)
    monkeypatch.setattr(pcapng_module, "BLOCK_SIZE", 300)
    frames = [(T0 + i * 1000, ether(udp(payload=bytes([i]) * (40 + i)))) for i in range(120)]
    path = (write_pcap if fmt == "pcap" else write_pcapng)(tmp_path / "p", frames)

    def frame_bytes(batch):
        return [bytes(batch.data[o: o + c]) for o, c in zip(batch.offset, batch.caplen)]

    # For each array handed out: whether its pool had it before (reused), and which pool: the
    # blocks' or the walk's (its least: the walk's array for the largest block), whose pcapng rows
    # are copied out.
    handed_out = []
    real_array = records.BlockPool.array

    def array(pool, size):
        had = [id(a) for a in pool._arrays]  # not the arrays: a reference here would keep them in use
        given = real_array(pool, size)
        blocks = pool._least == records.BLOCK_SIZE + 2 * records.MAX_FRAME
        handed_out.append((id(given.base) in had, "blocks" if blocks else "walk"))
        return given

    monkeypatch.setattr(records.BlockPool, "array", array)
    with open_capture(path) as capture:
        kept = [(batch, frame_bytes(batch)) for batch in capture.batches()]  # every batch alive
    assert len(kept) > 10
    assert [frame_bytes(batch) for batch, _ in kept] == [seen for _, seen in kept]
    assert [f for _, seen in kept for f in seen] == [f for _, f in frames]
    assert not any(reused for reused, pool in handed_out if pool == "blocks" or fmt == "pcap")
    del kept
    handed_out.clear()

    with open_capture(path) as capture:
        streamed = [f for batch in capture.batches() for f in frame_bytes(batch)]  # each let go of
    assert streamed == [f for _, f in frames]
    for kind in ("blocks", "walk"):
        reused = [was for was, pool in handed_out if pool == kind]
        assert len(reused) > 10 and sum(reused) >= len(reused) - records.BlockPool.KEEP


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 1600), min_size=1, max_size=25), chunk=st.integers(1, 3000),
       block=st.sampled_from([700, 2000, 9000]), damage=st.sampled_from(["none", "cut", "huge claim"]),
       fmt=st.sampled_from(["pcap", "pcapng", "pcapng, two sections"]))
def test_a_block_read_and_walked_a_chunk_at_a_time_gives_what_one_read_gives(sizes, chunk, block, damage, fmt):
    """Blocks are read and walked a chunk (``records.CHUNK``) at a time, while in the cache: the
    same records, bytes, counts and warnings as a block read whole, for any chunk size, frames
    larger than a block, a file cut short or a record claiming too much; in pcapng also other
    blocks and a second section among the packets."""
    import io

    import tracecheck.ingest.pcap as pcap_module
    import tracecheck.ingest.pcapng as pcapng_module
    import tracecheck.ingest.records as records_module
    from tracecheck.ingest.records import MAX_FRAME, ReadStats

    frames = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    if fmt == "pcap":
        data = bytearray(pcap_bytes([(T0 + i, frame) for i, frame in enumerate(frames)]))
        claim = struct.pack("<IIII", 9, 0, MAX_FRAME + 1, MAX_FRAME + 1) + bytes(40)
    else:
        data = bytearray(ng_shb() + ng_idb(ETHERNET))
        for i, frame in enumerate(frames):
            data += ng_epb(0, i, frame)
            if i == len(frames) // 2:
                data += ng_isb(0) + (ng_shb() + ng_idb(RAW) if fmt.endswith("sections") else ng_spb(frame))
        claim = struct.pack("<II", 6, 0xFFFFFFFC) + bytes(40)
    if damage == "cut":
        data = data[:-3]
    elif damage == "huge claim":
        data += claim
    read_format = pcap_module.read_pcap if fmt == "pcap" else pcapng_module.read_pcapng

    def read(chunk_size: int):
        stats = ReadStats()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pcap_module, "BLOCK_SIZE", block)
            patch.setattr(pcapng_module, "BLOCK_SIZE", block)
            patch.setattr(records_module, "CHUNK", chunk_size)
            batches = list(read_format(io.BytesIO(bytes(data)), stats))
        frames = [bytes(b.data[o:o + c]) for b in batches for o, c in zip(b.offset.tolist(), b.caplen.tolist())]
        return (frames, [t for b in batches for t in b.ts_ns.tolist()], [l for b in batches for l in b.linktype.tolist()],
                stats.records, dict(stats.skipped), dict(stats.notes), stats.warnings)

    whole = read(1 << 40)
    assert read(chunk) == whole
    assert len(whole[0]) >= len(frames) - 1
