"""RTP/RTCP headers and the stream detector: real streams found, DNS/QUIC/random refused."""

from __future__ import annotations

import os
import random
import struct
from collections import Counter

import pytest
from dissect_helpers import read_transport, shared_data
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from tracecheck.dissect.rtp import (
    RtcpPacket,
    RtpHeader,
    RtpStreamDetector,
    looks_like_rtcp,
    parse_rtcp,
    parse_rtp_header,
)

# --------------------------------------------------------------------------- builders


def rtp(
    seq: int,
    ts: int,
    ssrc: int = 0x11223344,
    pt: int = 0,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding: int = 0,
    payload: bytes = b"\xd5" * 160,
) -> bytes:
    first = (
        0x80
        | (0x20 if padding else 0)
        | (0x10 if extension is not None else 0)
        | len(csrcs)
    )
    head = struct.pack(
        "!BBHII",
        first,
        (0x80 if marker else 0) | pt,
        seq & 0xFFFF,
        ts & 0xFFFFFFFF,
        ssrc,
    )
    head += b"".join(struct.pack("!I", c) for c in csrcs)
    if extension is not None:
        head += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    tail = (bytes(padding - 1) + bytes([padding])) if padding else b""
    return head + payload + tail


def rtcp_packet(packet_type: int, body: bytes, count: int = 0) -> bytes:
    return (
        struct.pack("!BBH", 0x80 | count, packet_type, (len(body) + 4) // 4 - 1) + body
    )


def sender_report(ssrc: int = 0xD2BD4E3E, reports: int = 0) -> bytes:
    body = struct.pack("!I", ssrc) + bytes(20) + bytes(24 * reports)
    return rtcp_packet(200, body, reports)


def sdes(ssrc: int = 0xD2BD4E3E) -> bytes:
    item = b"\x01\x07unknown"
    chunk = struct.pack("!I", ssrc) + item + bytes(4 - (len(item) % 4))
    return rtcp_packet(202, chunk, 1)


def audio_stream(
    count: int, start_seq: int = 65530, start_ts: int = 2**32 - 480, **kw
) -> list[bytes]:
    return [rtp(start_seq + i, start_ts + 160 * i, **kw) for i in range(count)]


def verdict(packets, directions=None, **kw) -> str:
    detector = RtpStreamDetector(**kw)
    for i, packet in enumerate(packets):
        detector.add(packet, directions[i] if directions else 0)
    return detector.verdict


# --------------------------------------------------------------------------- headers


def test_header_fields():
    header = parse_rtp_header(rtp(7, 1234, ssrc=0xCAFEBABE, pt=8, marker=True))
    assert header == RtpHeader(
        payload_type=8,
        marker=True,
        sequence=7,
        timestamp=1234,
        ssrc=0xCAFEBABE,
        csrc_count=0,
        header_length=12,
        payload_length=160,
    )


def test_csrcs_extension_and_padding_lengths():
    packet = rtp(1, 2, csrcs=(1, 2), extension=bytes(8), padding=4, payload=b"x" * 20)
    header = parse_rtp_header(packet)
    assert header.csrc_count == 2 and header.has_extension and header.padding == 4
    assert header.header_length == 12 + 8 + 4 + 8
    assert header.payload_length == 20


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        bytes(11),
        b"\x40" + bytes(15),  # version 1
        rtp(1, 1, pt=72),  # RTCP SR with the marker bit, read as RTP
        b"\x8f" + bytes(20),  # 15 CSRCs do not fit
        b"\x90"
        + bytes(11)
        + b"\xbe\xde\x00\x09"
        + bytes(8),  # extension longer than packet
        b"\xa0" + bytes(11) + b"abc\x00",  # padding count 0
        b"\xa0" + bytes(11) + b"abc\x09",  # padding longer than packet
    ],
)
def test_not_rtp_headers(packet):
    assert parse_rtp_header(packet) is None


def test_rtcp_compound_and_srtcp():
    compound = (
        sender_report(reports=1) + rtcp_packet(201, bytes(4) + bytes(24), 1) + sdes()
    )
    assert parse_rtcp(compound) == RtcpPacket((200, 201, 202), 0xD2BD4E3E, srtcp=False)
    assert parse_rtcp(compound + b"\x80\x00\x00\x01" + bytes(10)).srtcp is True
    assert (
        parse_rtcp(compound + b"\x00\x00").srtcp is False
    )  # stray bytes seen in the wild
    assert looks_like_rtcp(rtcp_packet(203, struct.pack("!I", 5), 1))  # BYE
    assert looks_like_rtcp(
        sdes()
    )  # reduced-size RTCP (RFC 5506) need not start with SR/RR


@pytest.mark.parametrize(
    "packet",
    [
        sender_report()[:-1],  # length field promises more
        sender_report() + bytes(7),  # neither stray bytes nor an SRTCP trailer
        rtcp_packet(200, struct.pack("!I", 1) + bytes(20), 1),  # a report promised
        rtcp_packet(199, bytes(8)),
        rtcp_packet(205, bytes(8)) + rtcp_packet(250, bytes(8)),  # 12 bytes: no trailer
        rtp(1, 1, pt=0),
    ],
)
def test_not_rtcp(packet):
    assert looks_like_rtcp(packet) is False


# --------------------------------------------------------------------------- detector


def test_steady_stream_is_rtp_after_four_packets():
    detector = RtpStreamDetector()
    verdicts = [detector.add(p) for p in audio_stream(4, pt=8)]
    assert verdicts == ["unknown", "unknown", "unknown", "rtp"]
    assert detector.ssrcs == {0x11223344} and detector.payload_types == {8}


def test_wraps_loss_reordering_and_dtmf():
    packets = audio_stream(10)
    del packets[3]  # one lost
    packets[5], packets[6] = packets[6], packets[5]  # one reordered
    dtmf = [rtp(65540 + i, 2**32 - 480 + 1600, pt=101, marker=i == 0) for i in range(3)]
    assert verdict(packets + dtmf) == "rtp"
    assert (
        verdict(dtmf + [rtp(65543, 2**32 - 480 + 1600, pt=101)]) == "rtp"
    )  # same timestamp


def test_ssrc_change_restarts_the_run():
    packets = audio_stream(3) + audio_stream(3, ssrc=0x99)
    assert verdict(packets) == "unknown"
    assert verdict(packets + audio_stream(4, ssrc=0x99, start_seq=65533)[3:]) == "rtp"


def test_each_direction_is_followed_separately():
    forward = audio_stream(4, ssrc=1)
    backward = audio_stream(4, ssrc=2, start_seq=100)
    interleaved = [p for pair in zip(forward, backward) for p in pair]
    assert verdict(interleaved, directions=[0, 1] * 4) == "rtp"
    assert (
        verdict(interleaved, directions=[0] * 8) == "unknown"
    )  # one direction, two SSRCs


def test_rtcp_mux_stun_and_dtls_do_not_break_a_run():
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    dtls = b"\x17\xfe\xfd" + bytes(10) + b"\x00\x10" + os.urandom(16)
    packets = audio_stream(4)
    mixed = [
        packets[0],
        stun,
        packets[1],
        sender_report() + sdes(),
        dtls,
        packets[2],
        packets[3],
    ]
    detector = RtpStreamDetector()
    for packet in mixed:
        detector.add(packet)
    assert detector.is_rtp and detector.rtcp_packets == 1


def test_backward_timestamps_and_implausible_types_are_refused():
    backwards = [rtp(i, 10_000 - 160 * i) for i in range(8)]
    assert verdict(backwards) == "unknown"
    unassigned = audio_stream(8, pt=50)
    assert verdict(unassigned) == "unknown"
    standing = [rtp(5, 160 * i) for i in range(8)]  # sequence does not move
    assert verdict(standing) == "unknown"


def test_gives_up_after_max_packets():
    detector = RtpStreamDetector(max_packets=10)
    for _ in range(10):
        detector.add(os.urandom(100))
    assert detector.verdict == "not_rtp"
    detector.add(audio_stream(1)[0])
    assert detector.verdict == "not_rtp"


# --------------------------------------------------------------------------- false positives


def test_random_streams_are_not_rtp():
    rng = random.Random(20250101)
    claimed = 0
    for _ in range(3000):
        packets = [rng.randbytes(rng.randint(0, 300)) for _ in range(10)]
        claimed += verdict(packets) == "rtp"
    assert claimed < 30  # under 1 %; in practice none


def test_random_streams_with_rtp_like_first_bytes_are_not_rtp():
    rng = random.Random(7)
    claimed = 0
    for _ in range(3000):
        packets = [
            bytes([0x80, rng.randrange(35)]) + rng.randbytes(160) for _ in range(10)
        ]
        claimed += verdict(packets) == "rtp"
    assert claimed < 30


def test_dns_flows_are_not_rtp():
    rng = random.Random(3)
    for _ in range(200):
        packets, directions = [], []
        for _ in range(5):
            ident = rng.randrange(65536)
            name = f"h{rng.randrange(10**6)}.example.com"
            packets.append(bytes(DNS(id=ident, rd=1, qd=[DNSQR(qname=name)])))
            packets.append(
                bytes(
                    DNS(
                        id=ident,
                        qr=1,
                        qd=[DNSQR(qname=name)],
                        an=[DNSRR(rrname=name, rdata="192.0.2.1")],
                    )
                )
            )
            directions += [0, 1]
        assert verdict(packets, directions) != "rtp"


def quic_long(first: int, rng: random.Random) -> bytes:
    dcid = rng.randbytes(8)
    return (
        bytes([first])
        + b"\x00\x00\x00\x01"
        + bytes([8])
        + dcid
        + b"\x08"
        + rng.randbytes(8)
        + rng.randbytes(1180)
    )


@pytest.mark.parametrize("grease", [False, True])
def test_quic_flows_are_not_rtp(grease):
    rng = random.Random(11)
    fixed = 0x00 if grease else 0x40  # RFC 9287 lets the fixed bit be greased to 0
    for _ in range(200):
        packets = [quic_long(0x80 | fixed | rng.randrange(16), rng) for _ in range(3)]
        packets += [
            bytes([fixed | rng.randrange(64)]) + rng.randbytes(rng.randint(30, 1200))
            for _ in range(7)
        ]
        assert verdict(packets) != "rtp"


# --------------------------------------------------------------------------- hostile bytes


@settings(max_examples=500)
@given(
    st.lists(st.binary(max_size=200), max_size=12),
    st.lists(st.integers(0, 1), max_size=12),
)
def test_random_input_never_raises(packets, directions):
    detector = RtpStreamDetector()
    for i, packet in enumerate(packets):
        parse_rtp_header(packet)
        parse_rtcp(packet)
        detector.add(packet, directions[i] if i < len(directions) else 0)
    assert detector.verdict in ("unknown", "rtp", "not_rtp")


@given(
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0, 8, 9, 18, 96, 111, 127]),
)
def test_any_clean_stream_is_found(seq, ts, ssrc, pt):
    assert (
        verdict(audio_stream(4, start_seq=seq, start_ts=ts, ssrc=ssrc, pt=pt)) == "rtp"
    )


# --------------------------------------------------------------------------- real captures


def detect_flows(path):
    flows: dict[tuple, RtpStreamDetector] = {}
    per_ssrc: Counter = Counter()
    rtcp = 0
    for seg in read_transport(path):
        if seg.proto != "udp":
            continue
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (min(a, b), max(a, b))
        flows.setdefault(key, RtpStreamDetector()).add(
            seg.payload, 0 if a == key[0] else 1
        )
        header = parse_rtp_header(seg.payload)
        if header is not None:
            per_ssrc[(seg.src, seg.sport, seg.dst, seg.dport, header.ssrc)] += 1
        rtcp += looks_like_rtcp(seg.payload)
    return {k for k, d in flows.items() if d.is_rtp}, flows, per_ssrc, rtcp


def capture(name):
    root = shared_data()
    path = root / "pcaps" / name if root else None
    if path is None or not path.exists():
        pytest.skip("shared capture data not present")
    return path


@pytest.mark.shared_data
def test_g711_call_streams_match_tshark():
    rtp_flows, flows, per_ssrc, rtcp = detect_flows(
        capture("wireshark-wiki/SIP_CALL_RTP_G711.pcap")
    )
    # tshark -o rtp.heuristic_rtp:TRUE -z rtp,streams: five streams in three flows (the
    # 40378<->4800 flow is a mirrored copy of the call that no SDP announced).
    assert rtp_flows == {
        (("200.57.7.196", 40376), ("200.57.7.204", 8000)),
        (("200.57.7.196", 40378), ("200.57.7.199", 4800)),
        (("200.57.7.196", 40362), ("200.57.7.202", 30000)),
    }
    streams = {
        k: n
        for k, n in per_ssrc.items()
        if (k[0], k[1]) in {x for f in rtp_flows for x in f}
    }
    assert streams == {
        ("200.57.7.202", 30000, "200.57.7.196", 40362, 0x00002E3D): 6,
        ("200.57.7.196", 40376, "200.57.7.204", 8000, 0x58F33DEA): 891,
        ("200.57.7.199", 4800, "200.57.7.196", 40378, 0x58F33DEA): 891,
        ("200.57.7.196", 40378, "200.57.7.199", 4800, 0xD2BD4E3E): 548,
        ("200.57.7.204", 8000, "200.57.7.196", 40376, 0xD2BD4E3E): 548,
    }
    # SIP, MGCP, H.225 RAS and SNMP flows in the same capture are not RTP.
    assert len(flows) == 18
    # 14 RTCP packets on 8001<->40377 (tshark, via the SDP) and 14 on the mirrored
    # 4801<->40379 (two of them end in 2 stray bytes that tshark's heuristic refuses).
    assert rtcp == 28


@pytest.mark.shared_data
def test_g722_call_stream_matches_tshark():
    rtp_flows, _, per_ssrc, _ = detect_flows(
        capture("wireshark-wiki/sip-rtp-g722.pcap")
    )
    assert rtp_flows == {(("10.0.2.15", 17472), ("10.0.2.20", 6000))}
    assert per_ssrc[("10.0.2.15", 17472, "10.0.2.20", 6000, 0x043DAABA)] == 425


@pytest.mark.shared_data
def test_google_meet_srtp_next_to_stun():
    rtp_flows, _, _, _ = detect_flows(capture("ndpi/stun_google_meet.pcapng"))
    # nDPI: DTLS.GoogleCall "Stream Content: Audio"; tshark's RTP heuristic finds streams in
    # exactly these three flows; the four STUN-only flows are not claimed.
    assert rtp_flows == {
        (("142.250.82.76", 19305), ("192.168.12.156", 38152)),
        (("142.250.82.76", 3478), ("192.168.12.156", 38152)),
        (
            ("2001:4860:4864:6::81", 19305),
            ("2001:b07:a3d:c112:48a1:1094:1227:281e", 45572),
        ),
    }


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name",
    [
        "pcapplusplus/DnsPackets.pcap",
        "zeek/dns-edns-ecs.pcap",
        "zeek/quic_win11_firefox_google.pcap",
        "zeek/quicdoq.pcap",
        "ndpi/whatsapp_voice_and_message.pcap",
        "ndpi/alexa-app.pcapng",
    ],
)
def test_dns_quic_and_stun_captures_have_no_rtp(name):
    assert detect_flows(capture(name))[0] == set()
