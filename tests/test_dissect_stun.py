"""STUN/TURN messages, XOR addresses, ChannelData and DTLS records; real WebRTC captures."""

from __future__ import annotations

import ipaddress
import os
import struct
from collections import Counter

import pytest
from dissect_helpers import read_transport, shared_data
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect.dtls import looks_like_dtls, parse_dtls
from tracecheck.dissect.stun import (
    MAGIC_COOKIE,
    ChannelData,
    StunAddress,
    channel_data_payload,
    parse_channel_data,
    parse_stun,
    stun_message_length,
)

COOKIE = struct.pack("!I", MAGIC_COOKIE)

# --------------------------------------------------------------------------- builders


def attribute(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + bytes(-len(value) % 4)


def stun(
    message_type: int,
    attributes: list[bytes],
    txid: bytes = b"\x01" * 12,
    cookie: bool = True,
) -> bytes:
    body = b"".join(attributes)
    head = struct.pack("!HH", message_type, len(body))
    return head + (COOKIE + txid if cookie else txid) + body


def xor_address(attr_type: int, ip: str, port: int, txid: bytes) -> bytes:
    raw = ipaddress.ip_address(ip).packed
    pad = (COOKIE + txid)[: len(raw)]
    xored = bytes(a ^ b for a, b in zip(raw, pad))
    family = 1 if len(raw) == 4 else 2
    return attribute(
        attr_type, struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + xored
    )


def plain_address(attr_type: int, ip: str, port: int) -> bytes:
    raw = ipaddress.ip_address(ip).packed
    return attribute(
        attr_type, struct.pack("!BBH", 0, 1 if len(raw) == 4 else 2, port) + raw
    )


XOR_MAPPED, XOR_PEER, XOR_RELAYED, MAPPED = 0x0020, 0x0012, 0x0016, 0x0001

# RFC 5769 2.2 and 2.3 sample responses (MESSAGE-INTEGRITY and FINGERPRINT values zeroed:
# they are not checked here).
RFC5769_TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
RFC5769_SOFTWARE = bytes.fromhex("8022 000b 74657374 20766563 746f7220")
RFC5769_V4 = (
    bytes.fromhex("0101003c")
    + COOKIE
    + RFC5769_TXID
    + RFC5769_SOFTWARE
    + bytes.fromhex("0020 0008 0001 a147 e112a643")
    + bytes.fromhex("00080014")
    + bytes(20)
    + bytes.fromhex("80280004")
    + bytes(4)
)
RFC5769_V6 = (
    bytes.fromhex("01010048")
    + COOKIE
    + RFC5769_TXID
    + RFC5769_SOFTWARE
    + bytes.fromhex("0020 0014 0002 a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9")
    + bytes.fromhex("00080014")
    + bytes(20)
    + bytes.fromhex("80280004")
    + bytes(4)
)


# --------------------------------------------------------------------------- STUN


def test_rfc5769_ipv4_response():
    msg = parse_stun(RFC5769_V4)
    assert (msg.method, msg.message_class, msg.classic) == ("binding", "success", False)
    assert msg.transaction_id == RFC5769_TXID.hex()
    assert msg.software == "test vector"  # the trailing space is padding
    assert msg.mapped == (StunAddress("xor_mapped", "192.0.2.1", 32853, 4),)
    assert msg.has_integrity and msg.has_fingerprint
    assert msg.attribute_types == (0x8022, 0x0020, 0x0008, 0x8028)


def test_rfc5769_ipv6_response():
    msg = parse_stun(RFC5769_V6)
    assert msg.mapped == (
        StunAddress("xor_mapped", "2001:db8:1234:5678:11:2233:4455:6677", 32853, 6),
    )


def test_turn_allocate_success_names_the_relay_and_the_client():
    txid = os.urandom(12)
    msg = parse_stun(
        stun(
            0x0103,
            [
                xor_address(XOR_RELAYED, "18.156.0.7", 50000, txid),
                xor_address(XOR_MAPPED, "93.35.171.209", 39032, txid),
                attribute(0x000D, struct.pack("!I", 600)),
                attribute(0x8022, b"Coturn-4.6"),
            ],
            txid,
        )
    )
    assert (msg.method, msg.message_class) == ("allocate", "success")
    assert msg.relayed == (StunAddress("xor_relayed", "18.156.0.7", 50000, 4),)
    assert msg.mapped[0].ip == "93.35.171.209" and msg.lifetime == 600
    assert msg.software == "Coturn-4.6"


def test_create_permission_and_channel_bind_name_the_peers():
    txid = os.urandom(12)
    msg = parse_stun(
        stun(
            0x0008,
            [
                xor_address(XOR_PEER, "203.0.113.50", 40000, txid),
                xor_address(XOR_PEER, "2001:db8::50", 40002, txid),
                attribute(0x0006, b"1735689600:agent.smith@example.com"),
                attribute(0x0014, b"example.org"),
            ],
            txid,
        )
    )
    assert msg.method == "create_permission" and msg.message_class == "request"
    assert [(p.ip, p.port, p.family) for p in msg.peers] == [
        ("203.0.113.50", 40000, 4),
        ("2001:db8::50", 40002, 6),
    ]
    assert msg.username == "***" and "agent.smith" not in repr(msg)
    assert msg.realm == "example.org"
    bind = parse_stun(stun(0x0009, [attribute(0x000C, b"\x40\x01\x00\x00")]))
    assert bind.method == "channel_bind" and bind.channel_number == 0x4001


def test_keyed_username_and_error_code():
    raw = stun(
        0x0113,
        [
            attribute(0x0009, b"\x00\x00\x04\x01Unauthorized"),
            attribute(0x0006, b"alice"),
        ],
    )
    msg = parse_stun(raw, mask_key=b"secret")
    assert msg.message_class == "error" and msg.error_code == 401
    assert (
        msg.username.startswith("u-")
        and msg.username == parse_stun(raw, b"secret").username
    )
    assert msg.username != parse_stun(raw, b"other").username


def test_classic_rfc3489_binding_response():
    txid = os.urandom(16)
    raw = stun(
        0x0101,
        [
            plain_address(MAPPED, "198.51.100.4", 3478),
            plain_address(0x0004, "192.0.2.9", 3478),
        ],
        txid,
        cookie=False,
    )
    if txid[:4] == COOKIE:  # pragma: no cover - one chance in 2^32
        return
    msg = parse_stun(raw)
    assert msg.classic and msg.transaction_id == txid.hex()
    assert msg.mapped == (StunAddress("mapped", "198.51.100.4", 3478, 4),)
    assert msg.addresses_of("source")[0].ip == "192.0.2.9"


def test_whatsapp_lengths_that_are_not_a_multiple_of_four():
    raw = (
        stun(0x0003, [], txid=bytes(12)) + struct.pack("!HH", 0x4000, 102) + bytes(102)
    )
    raw = raw[:2] + struct.pack("!H", 106) + raw[4:]
    msg = parse_stun(raw)
    assert msg.method == "allocate" and msg.attribute_types == (0x4000,)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes(19),
        b"\x80" + bytes(19),  # top bits set: RTP/other
        stun(0x0001, [attribute(0x8022, b"x")])[:-1],  # length beyond the datagram
        stun(0x0001, [], bytes(16), cookie=False)
        + b"\x00\x01\x00\x04",  # classic: extra bytes
        stun(0x0001, [attribute(0x0020, bytes(8))])[:20]
        + b"\x00\x20\x00\x40"
        + bytes(4),
        stun(
            0x0003, [attribute(0x0001, bytes(8))], txid=bytes(16), cookie=False
        ),  # classic method?
        stun(0x0001, [attribute(0x7777, bytes(4))], txid=bytes(16), cookie=False),
        b"\x17\xfe\xfd" + bytes(30),
    ],
)
def test_not_stun(payload):
    assert parse_stun(payload) is None


def test_odd_address_attributes_are_skipped():
    txid = bytes(12)
    msg = parse_stun(
        stun(
            0x0101,
            [
                attribute(XOR_MAPPED, b"\x00\x03\x00\x01" + bytes(4)),  # family 3
                attribute(
                    XOR_MAPPED, b"\x00\x01\x00\x01" + bytes(16)
                ),  # IPv4 with 16 bytes
                attribute(
                    XOR_MAPPED, b"\x00\x02\x00\x01" + bytes(4)
                ),  # IPv6 with 4 bytes
            ],
            txid,
        )
    )
    assert msg is not None and msg.addresses == ()


@given(
    st.ip_addresses(),
    st.integers(0, 65535),
    st.binary(min_size=12, max_size=12),
    st.sampled_from([XOR_MAPPED, XOR_PEER, XOR_RELAYED]),
)
def test_xor_addresses_round_trip(ip, port, txid, attr_type):
    msg = parse_stun(stun(0x0101, [xor_address(attr_type, str(ip), port, txid)], txid))
    (address,) = msg.addresses
    assert (address.ip, address.port, address.family) == (str(ip), port, ip.version)


# --------------------------------------------------------------------------- ChannelData


def test_channel_data():
    rtp = b"\x80\x00" + bytes(170)
    assert parse_channel_data(
        b"\x40\x01" + struct.pack("!H", len(rtp)) + rtp
    ) == ChannelData(0x4001, 172)
    assert parse_channel_data(b"\x40\x01\x00\x05abcde\x00\x00\x00") == ChannelData(
        0x4001, 5
    )
    assert channel_data_payload(b"\x7f\xff\x00\x02hi\x00\x00") == b"hi"
    for bad in (
        b"\x3f\xff\x00\x00",
        b"\x80\x00\x00\x00",
        b"\x40\x00\x00\x09abc",
        b"\x40\x00\x00\x00" + bytes(4),
        b"\x40",
    ):
        assert parse_channel_data(bad) is None
    assert channel_data_payload(b"\x40") == b""


def test_tcp_framing_lengths():
    assert stun_message_length(RFC5769_V4) == len(RFC5769_V4)
    assert stun_message_length(b"\x40\x01\x00\x05abcde") == 12  # padded to 4 over TCP
    assert stun_message_length(b"\x80\x00\x00\x00") is None
    assert stun_message_length(b"\x00") is None


# --------------------------------------------------------------------------- DTLS


def client_hello(
    sni: str | None = "turn.example.com", srtp: bool = True, offset: int = 0
) -> bytes:
    extensions = b""
    if sni is not None:
        name = sni.encode()
        server_name = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
        extensions += struct.pack("!HH", 0, len(server_name)) + server_name
    if srtp:
        extensions += struct.pack("!HH", 14, 5) + b"\x00\x02\x00\x01\x00"
    body = (
        b"\xfe\xfd"
        + os.urandom(32)
        + b"\x00"
        + b"\x00"  # session id, cookie
        + b"\x00\x02\xc0\x2b"
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = (
        b"\x01"
        + len(body).to_bytes(3, "big")
        + b"\x00\x00"
        + offset.to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + body
    )
    return record(22, handshake, version=0xFEFF)


def record(
    content_type: int, body: bytes, version: int = 0xFEFD, epoch: int = 0
) -> bytes:
    return (
        struct.pack("!BHH", content_type, version, epoch)
        + bytes(6)
        + struct.pack("!H", len(body))
        + body
    )


def test_dtls_client_hello_sni_and_use_srtp():
    got = parse_dtls(client_hello("TURN.Example.COM."))
    assert got.client_hello and got.use_srtp and got.server_name == "turn.example.com"
    assert got.version == "1.0" and got.content_types == (22,)
    plain = parse_dtls(client_hello(None, srtp=False))
    assert plain.server_name == "" and plain.use_srtp is False
    fragment = parse_dtls(client_hello(offset=100))
    assert fragment.client_hello and fragment.server_name == ""


def test_dtls_records_in_one_datagram():
    flight = (
        record(22, bytes(30)) + record(20, b"\x01") + record(22, bytes(40), epoch=1)
    )
    assert parse_dtls(flight).content_types == (22, 20, 22)
    assert looks_like_dtls(record(23, os.urandom(100), version=0xFEFC))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        record(23, bytes(10))[:-1],
        record(23, bytes(10)) + b"\x17",
        record(19, bytes(10)),
        record(23, bytes(10), version=0x0303),  # TLS, not DTLS
        b"\x00\x01\x00\x00" + COOKIE + bytes(12),
    ],
)
def test_not_dtls(payload):
    assert not looks_like_dtls(payload) and parse_dtls(payload) is None


# --------------------------------------------------------------------------- hostile bytes


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(payload):
    parse_stun(payload)
    parse_stun(
        payload[:2]
        + struct.pack("!H", max(0, len(payload) - 20) & ~3)
        + COOKIE
        + payload[8:]
    )
    parse_channel_data(payload)
    stun_message_length(payload)
    parse_dtls(payload)
    parse_dtls(b"\x16\xfe\xfd" + bytes(8) + struct.pack("!H", len(payload)) + payload)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=12))
def test_random_attributes_never_raise(attributes):
    msg = parse_stun(stun(0x0101, [attribute(t, v) for t, v in attributes]))
    assert msg is not None and len(msg.attribute_types) == len(attributes)


# --------------------------------------------------------------------------- real captures


def capture(name):
    root = shared_data()
    path = root / "pcaps" / name if root else None
    if path is None or not path.exists():
        pytest.skip("shared capture data not present")
    return path


def stun_in(path):
    messages = []
    for seg in read_transport(path):
        msg = parse_stun(seg.payload) if seg.proto == "udp" else None
        if msg is not None:
            messages.append((seg, msg))
    return messages


@pytest.mark.shared_data
def test_google_meet_binding_and_mapped_addresses_match_tshark():
    path = capture("ndpi/stun_google_meet.pcapng")
    messages = stun_in(path)
    # tshark -Y stun: 87 messages (0x0001 x44, 0x0101 x43).
    assert Counter((m.method, m.message_class) for _, m in messages) == {
        ("binding", "request"): 44,
        ("binding", "success"): 43,
    }
    mapped = Counter((a.ip, a.port) for _, m in messages for a in m.mapped)
    assert mapped == {
        ("93.35.171.209", 39032): 16,
        ("93.35.171.209", 39033): 24,
        ("2001:b07:a3d:c112:48a1:1094:1227:281e", 45572): 3,
    }
    assert all(m.username in ("", "***") for _, m in messages)
    # tshark -Y dtls: 55 datagrams, two ClientHellos (DTLS 1.0 record version) offering SRTP.
    dtls = [
        d
        for seg in read_transport(path)
        if seg.proto == "udp" and (d := parse_dtls(seg.payload))
    ]
    assert len(dtls) == 55
    assert [(d.version, d.use_srtp) for d in dtls if d.client_hello] == [
        ("1.0", True)
    ] * 2


@pytest.mark.shared_data
def test_whatsapp_allocations_match_tshark_and_ndpi():
    messages = stun_in(capture("ndpi/whatsapp_voice_and_message.pcap"))
    # tshark: 18 Allocate requests and 18 successes; WhatsApp's own 0x0800 messages carry the
    # cookie too (tshark skips them, nDPI counts all 44 as STUN.WhatsAppCall packets).
    assert Counter((m.method, m.message_class) for _, m in messages) == {
        ("allocate", "request"): 18,
        ("allocate", "success"): 18,
        ("0x200", "request"): 8,
    }
    mapped = sorted((seg.src, a.ip, a.port) for seg, m in messages for a in m.mapped)
    assert mapped == sorted(
        (server, "191.162.107.92", port)
        for server, port in [
            ("173.252.121.1", 42912),
            ("173.252.121.1", 46535),
            ("179.60.192.48", 32848),
            ("179.60.192.48", 37608),
            ("31.13.64.48", 34235),
            ("31.13.64.48", 40396),
            ("31.13.73.48", 32839),
            ("31.13.73.48", 44962),
            ("31.13.73.48", 54157),
            ("31.13.73.48", 56158),
            ("31.13.74.48", 37639),
            ("31.13.74.48", 44044),
            ("31.13.79.192", 41454),
            ("31.13.79.192", 43546),
            ("31.13.84.48", 35711),
            ("31.13.84.48", 53889),
            ("31.13.93.48", 48608),
            ("31.13.93.48", 52725),
        ]
    )
