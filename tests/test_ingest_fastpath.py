"""The compiled common case (``_fastpath.c``) must decode every frame it accepts exactly as the
layer-by-layer NumPy decoder does, leave everything else to it, and give the same accounting —
on well-formed frames of every kind and on truncated and bit-flipped ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from tracecheck.ingest import fastpath
from tracecheck.ingest.cursor import COLUMNS
from tracecheck.ingest.decode import PACKET_COLUMNS, Decoder
from tracecheck.ingest.records import make_batch

pytestmark = pytest.mark.skipif(not fastpath.COMPILED, reason="the compiled fast path is not built (no C compiler at install)")
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
V4 = dict(src="192.0.2.10", dst="198.51.100.7")
V6 = dict(src="2001:db8::10", dst="2001:db8:ffff::7")
TEREDO_SYN = bytes(IPv6(src="2001:0:4136:e378:8000:63bf:3fff:fdd2", dst=V6["dst"]) / TCP(sport=3, dport=4, flags="S"))


def _pool() -> list[bytes]:
    """Frames the fast path takes and frames it must leave alone, side by side."""
    e = lambda *layers: bytes(Ether(**MAC) / layers[0] if len(layers) == 1 else Ether(**MAC) / layers[0] / layers[1])  # noqa: E731
    return [
        e(IP(**V4) / TCP(sport=40000, dport=443, flags="S", seq=7, options=[("MSS", 1460), ("WScale", 7)])),
        e(IP(**V4) / TCP(sport=443, dport=40000, flags="SA", seq=99) / (b"x" * 100)),
        e(IP(**V4, options=b"\x94\x04\x00\x00") / UDP(sport=5060, dport=5060) / b"INVITE sip:x SIP/2.0\r\n"),
        e(IP(**V4) / UDP(sport=53, dport=33333) / (b"d" * 60)),
        e(IPv6(**V6) / TCP(sport=50000, dport=443, flags="PA") / (b"t" * 200)),
        e(IPv6(**V6) / UDP(sport=50000, dport=443) / (b"q" * 1200)),
        bytes(Ether(**MAC) / Dot1Q(vlan=100) / IP(**V4) / UDP(sport=16384, dport=16386) / (b"r" * 172)),
        bytes(Ether(**MAC) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(**V4) / TCP(sport=1, dport=2)),
        bytes(Ether(**MAC) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / Dot1Q(vlan=30) / IP(**V4) / TCP(sport=1, dport=2)),
        e(IP(**V4, flags="MF", id=9) / UDP(sport=1, dport=2) / (b"f" * 64)),
        e(IP(**V4, frag=8, id=9) / (b"g" * 40)),
        e(IP(**V4) / ICMP(type=8)),
        e(IP(**V4) / UDP(sport=9, dport=4789) / VXLAN(vni=5) / Ether(**MAC) / IP(**V4) / TCP(sport=3, dport=4)),
        e(IP(**V4) / UDP(sport=9, dport=4789)),  # a tunnel port with nothing inside
        e(IPv6(**V6) / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2) / b"h"),
        e(IPv6(**V6) / IPv6ExtHdrFragment(m=1, id=3) / UDP(sport=1, dport=2) / (b"i" * 16)),
        e(IP(**V4, proto=132) / (b"s" * 16)),
        bytes(Ether(**MAC, type=0x0806)) + bytes(28),
        bytes(Ether(**MAC) / IP(**V4, len=0) / TCP(sport=5, dport=6) / (b"o" * 50)),  # TSO: total length 0
        bytes(Ether(**MAC) / IPv6(**V6, plen=0) / UDP(sport=5, dport=6) / (b"j" * 30)),  # jumbogram-style 0
        bytes(Ether(**MAC) / IP(**V4, len=30) / TCP(sport=5, dport=6)),  # total shorter than the headers
        bytes(Ether(**MAC) / IP(**V4, ihl=4) / UDP(sport=5, dport=6)),
        bytes(Ether(**MAC) / IP(**V4, version=6) / UDP(sport=5, dport=6)),
        bytes(Ether(**MAC) / IP(**V4, len=12) / UDP(sport=5, dport=6)),  # total shorter than the IP header
        bytes(Ether(**MAC) / IP(**V4) / TCP(sport=5, dport=6, dataofs=2) / b"z"),  # TCP header length below 20
        e(IP(**V4) / UDP(sport=9, dport=4754) / GRE(proto=0x0800) / IP(**V4) / TCP(sport=3, dport=4)),  # GRE in UDP
        e(IP(**V4) / UDP(sport=9, dport=51413) / (b"\x00\x00" + bytes(6) + TEREDO_SYN)),  # Teredo, by its shape
        e(IP(**V4) / UDP(sport=9, dport=51413) / bytes(IPv6(**V6) / TCP(sport=3, dport=4))),  # IPv6-like, not Teredo
    ]


POOL = _pool()


def _batch(frames: list[bytes], caplens: list[int] | None = None, wirelens: list[int] | None = None,
           linktypes: list[int] | None = None):
    data = b"".join(frames)
    offsets = np.cumsum([0] + [len(f) for f in frames[:-1]])
    caplens = caplens or [len(f) for f in frames]
    return make_batch(memoryview(data), offsets, caplens, wirelens or [len(f) for f in frames],
                      np.arange(len(frames)) * 1000 + 10**18, linktypes or [1] * len(frames), first_record=5)


def _assert_same(batch):
    fast_packets, fast_skipped = Decoder().decode(batch)
    ref_packets, ref_skipped = Decoder(use_fastpath=False).decode(batch)
    assert fast_skipped == ref_skipped
    assert fast_packets.record.tolist() == ref_packets.record.tolist()
    assert fast_packets.ts_ns.tolist() == ref_packets.ts_ns.tolist()
    for name in PACKET_COLUMNS:
        fast, ref = fast_packets.cols[name], ref_packets.cols[name]
        assert fast.dtype == ref.dtype, name
        assert fast.tolist() == ref.tolist(), name
    return fast_packets


def test_fast_path_takes_the_common_case_and_leaves_the_rest():
    common = _batch(POOL[:8])
    rows, cols = fastpath.decode_common(common, COLUMNS)
    assert rows.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert cols["vlan"].tolist() == [-1, -1, -1, -1, -1, -1, 100, 10]  # the outermost tag
    assert cols["sport"].tolist()[:2] == [40000, 443] and cols["tcp_flags"].tolist()[:2] == [0x02, 0x12]
    assert cols["seq"].tolist()[:2] == [7, 99] and cols["payload_len"].tolist()[1] == 100
    everything = _batch(POOL)
    taken = fastpath.decode_common(everything, COLUMNS)[0].tolist()
    # The first eight, TSO's zero total length, IPv6's zero payload length and a total length
    # that cuts the TCP header (flags unknown), a TCP header length below 20; not three VLAN tags, fragments, ICMP, tunnels
    # (even an empty one; GRE in UDP; Teredo on another port), extension headers, SCTP, ARP or broken IP headers.
    assert taken == [0, 1, 2, 3, 4, 5, 6, 7, 18, 19, 20, 24, 27]
    _assert_same(everything)



def test_equal_on_every_frame_of_the_pool_in_every_link_type_mix():
    _assert_same(_batch(POOL, linktypes=[1 if i % 3 else 101 for i in range(len(POOL))]))  # raw IP rows mixed in


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=30),
       flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 80), st.integers(1, 255)), max_size=6),
       cuts=st.lists(st.integers(0, 120), max_size=30), wire_extra=st.lists(st.integers(-40, 3000), max_size=30))
def test_equal_on_hostile_frames(picks, flips, cuts, wire_extra):
    frames = [bytearray(POOL[i]) for i in picks]
    for which, at, mask in flips:  # corrupt header bytes: EtherTypes, versions, lengths, ports
        frame = frames[which % len(frames)]
        frame[at % len(frame)] ^= mask
    caplens = [len(f) for f in frames]
    for i, cut in enumerate(cuts[: len(frames)]):  # snap lengths that cut headers short
        caplens[i] = min(caplens[i], cut)
    wirelens = [max(0, c + w) for c, w in zip(caplens, wire_extra + [0] * len(frames))]
    _assert_same(_batch([bytes(f) for f in frames], caplens, wirelens))


def test_payload_head_is_the_first_eight_bytes_zero_past_the_end():
    frames = [POOL[2], bytes(Ether(**MAC) / IP(**V4) / UDP(sport=7, dport=9) / b"abc"), POOL[0]]
    for use_fastpath in (True, False):
        packets, _ = Decoder(use_fastpath=use_fastpath).decode(_batch(frames))
        assert packets.payload_head.tolist() == [int.from_bytes(b"INVITE s", "big"),
                                                 int.from_bytes(b"abc" + bytes(5), "big"), 0]


INT64 = st.integers(-(2**63), 2**63 - 1)


@PROPERTY
@given(rows=st.lists(st.tuples(INT64, INT64, INT64), min_size=1, max_size=8))
def test_rows_outside_the_data_are_refused_not_read(rows):
    """ethernet_ip called directly with any int64 rows: each one is a frame inside the data
    with a 32-bit wire length, or the call is refused (no difference or sum may wrap)."""
    from tracecheck.ingest._fastpath import ethernet_ip

    data = bytes(POOL[0]) + bytes(256)
    inside = all(0 <= s <= e <= len(data) and s <= w and w - s <= 0xFFFFFFFF for s, e, w in rows)
    n = len(rows)
    call = (data, np.array(rows, dtype=np.int64), np.empty((len(fastpath.UINT64_COLUMNS), n), np.uint64),
            np.empty((len(fastpath.INT64_COLUMNS), n), np.int64), np.empty(n, np.uint8))
    if inside:
        assert 0 <= ethernet_ip(*call) <= n
    else:
        with pytest.raises(ValueError, match="frame inside"):
            ethernet_ip(*call)


@pytest.mark.parametrize("row", [(0, 60, -(2**63)), (0, 60, 2**63 - 1), (2**63 - 1, 2**63 - 1, 2**63 - 1),
                                 (-(2**63), 60, 60), (40, 30, 60)])
def test_rows_made_to_wrap_are_refused(row):
    from tracecheck.ingest._fastpath import ethernet_ip

    call = (bytes(POOL[0]), np.array([row], dtype=np.int64), np.empty((len(fastpath.UINT64_COLUMNS), 1), np.uint64),
            np.empty((len(fastpath.INT64_COLUMNS), 1), np.int64), np.empty(1, np.uint8))
    with pytest.raises(ValueError, match="frame inside"):
        ethernet_ip(*call)
