"""QUIC Initials: RFC vectors, built multi-packet Initials, hostile bytes, real captures."""

from __future__ import annotations

import random

import pytest
import quic_rfc_vectors as rfc
from dissect_helpers import (
    ack_frame,
    build_client_hello,
    crypto_frame,
    protect_initial,
    read_transport,
    shared_data,
    split_crypto,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect import quic, tls
from tracecheck.dissect.quic import QuicInitialAssembler, looks_like_quic_initial

CID = bytes.fromhex("0123456789abcdef")
BIG_HELLO = build_client_hello("pq.example", alpn=("h3",), key_share_size=1216)  # ~1.5 KiB


def packets(datagram: bytes) -> list[quic.LongHeaderPacket]:
    return list(quic.iter_long_header_packets(datagram))


# --------------------------------------------------------------------------- RFC vectors


@pytest.mark.parametrize(
    "version, secret, client, server",
    [
        (
            quic.QUIC_V1,
            rfc.V1_INITIAL_SECRET,
            (rfc.V1_CLIENT_KEY, rfc.V1_CLIENT_IV, rfc.V1_CLIENT_HP),
            (rfc.V1_SERVER_KEY, rfc.V1_SERVER_IV, rfc.V1_SERVER_HP),
        ),
        (
            quic.QUIC_V2,
            rfc.V2_INITIAL_SECRET,
            (rfc.V2_CLIENT_KEY, rfc.V2_CLIENT_IV, rfc.V2_CLIENT_HP),
            (rfc.V2_SERVER_KEY, rfc.V2_SERVER_IV, rfc.V2_SERVER_HP),
        ),
    ],
)
def test_initial_keys_match_the_rfc(version, secret, client, server):
    assert quic.initial_secret(rfc.DCID, version) == secret
    assert quic.initial_keys(rfc.DCID, version) == quic.InitialKeys(*client)
    assert quic.initial_keys(rfc.DCID, version, server=True) == quic.InitialKeys(*server)


@pytest.mark.parametrize(
    "version, protected, header",
    [
        (quic.QUIC_V1, rfc.V1_CLIENT_PROTECTED_PACKET, rfc.V1_CLIENT_UNPROTECTED_HEADER),
        (quic.QUIC_V2, rfc.V2_CLIENT_PROTECTED_PACKET, rfc.V2_CLIENT_UNPROTECTED_HEADER),
    ],
)
def test_client_initial_sample_decrypts(version, protected, header):
    assert looks_like_quic_initial(protected)
    (packet,) = packets(protected)
    assert (packet.kind, packet.version, packet.dcid, packet.scid) == (
        "initial",
        version,
        rfc.DCID,
        b"",
    )
    decrypted = quic.decrypt_initial(packet, rfc.DCID)
    assert decrypted.packet_number == 2
    assert len(decrypted.payload) == 1162
    assert decrypted.payload == rfc.CLIENT_CRYPTO_FRAME + bytes(1162 - len(rfc.CLIENT_CRYPTO_FRAME))
    (frame,) = quic.crypto_frames(decrypted.payload)
    assert frame.offset == 0 and rfc.CLIENT_CRYPTO_FRAME.endswith(frame.data)
    hello = tls.parse_client_hello_message(frame.data)
    assert (hello.sni, hello.alpn, hello.versions) == ("example.com", ("alpn",), (0x0304,))
    # Our own encryptor reproduces the RFC's packet byte for byte (so the tests' builder is right).
    rebuilt = protect_initial(
        rfc.CLIENT_CRYPTO_FRAME,
        rfc.DCID,
        version=version,
        scid=b"",
        packet_number=2,
        pn_len=4,
        pad_to=1200,
    )
    assert rebuilt == protected
    assert rebuilt[: len(header)] != header  # header protection really applied


@pytest.mark.parametrize(
    "version, protected",
    [
        (quic.QUIC_V1, rfc.V1_SERVER_PROTECTED_PACKET),
        (quic.QUIC_V2, rfc.V2_SERVER_PROTECTED_PACKET),
    ],
)
def test_server_initial_sample_decrypts(version, protected):
    (packet,) = packets(protected)
    decrypted = quic.decrypt_initial(packet, rfc.DCID, server=True)
    assert decrypted.packet_number == 1 and decrypted.payload == rfc.V1_SERVER_PAYLOAD
    assert quic.decrypt_initial(packet, rfc.DCID) is None  # client keys do not open it
    (frame,) = quic.crypto_frames(decrypted.payload)
    hello = tls._parse_server_hello_body(frame.data[4:])
    assert hello.selected_version == 0x0304 and hello.cipher_suite == 0x1301


@pytest.mark.parametrize(
    "version, retry", [(quic.QUIC_V1, rfc.V1_RETRY), (quic.QUIC_V2, rfc.V2_RETRY)]
)
def test_retry_samples_are_recognised(version, retry):
    (packet,) = packets(retry)
    assert (packet.kind, packet.version, packet.token) == ("retry", version, b"token")
    assert packet.scid == bytes.fromhex("f067a5502a4262b5")
    assert not looks_like_quic_initial(retry)


def test_packet_number_decoding_rfc9000_example():
    assert quic.decode_packet_number(0x9B32, 2, 0xA82F30EA) == 0xA82F9B32
    assert quic.decode_packet_number(2, 4, -1) == 2
    assert quic.decode_packet_number(0x00, 1, 0xFF) == 0x100


def test_varints():
    assert quic.read_varint(bytes.fromhex("c2197c5eff14e88c"), 0) == (151288809941952652, 8)
    assert quic.read_varint(bytes.fromhex("9d7f3e7d"), 0) == (494878333, 4)
    assert quic.read_varint(bytes.fromhex("7bbd"), 0) == (15293, 2)
    assert quic.read_varint(bytes.fromhex("25"), 0) == (37, 1)
    assert quic.read_varint(bytes.fromhex("7b"), 0) is None


# --------------------------------------------------------------------------- datagrams and frames


def test_coalesced_packets_padding_and_skipped_spaces():
    hello = build_client_hello("coalesced.example")
    initial = protect_initial(crypto_frame(0, hello), CID, packet_number=0)
    # A Handshake and a 0-RTT packet after it (opaque to us), then zero padding to 1200 bytes.
    handshake = (
        bytes([0xE0]) + (1).to_bytes(4, "big") + b"\x08" + CID + b"\x00" + b"\x40\x20" + bytes(32)
    )
    zero_rtt = (
        bytes([0xD0]) + (1).to_bytes(4, "big") + b"\x08" + CID + b"\x00" + b"\x40\x14" + bytes(20)
    )
    datagram = initial + handshake + zero_rtt
    datagram += bytes(1200 - len(datagram))
    assert [p.kind for p in packets(datagram)] == ["initial", "handshake", "0rtt"]
    assembler = QuicInitialAssembler()
    assert assembler.feed(datagram).sni == "coalesced.example"
    assert assembler.version == quic.QUIC_V1 and assembler.dcid == CID


def test_two_initials_coalesced_in_one_datagram():
    first, second = split_crypto(BIG_HELLO, [700])
    datagram = protect_initial(second, CID, packet_number=1) + protect_initial(
        first, CID, packet_number=0
    )
    assert QuicInitialAssembler().feed(datagram).sni == "pq.example"


@pytest.mark.parametrize("version", [quic.QUIC_V1, quic.QUIC_V2, quic.QUIC_DRAFT_29])
def test_hello_across_two_datagrams_fed_in_reverse(version):
    frames = split_crypto(BIG_HELLO, [1100])
    datagrams = [
        protect_initial(f, CID, version=version, packet_number=i, pad_to=1200)
        for i, f in enumerate(frames)
    ]
    assert all(looks_like_quic_initial(d) for d in datagrams)
    assembler = QuicInitialAssembler()
    assert assembler.feed(datagrams[1]) is None
    hello = assembler.feed(datagrams[0])
    assert hello.sni == "pq.example" and hello.alpn == ("h3",)
    assert assembler.version == version and assembler.done
    assert assembler.feed(datagrams[0]) is None  # reported once


def test_chrome_style_shuffled_crypto_frames_with_padding_and_ping():
    frames = split_crypto(BIG_HELLO, [3, 200, 201, 650, 1000, 1300])
    random.Random(1).shuffle(frames)
    noise = [b"\x01", b"\x00\x00\x00", b"\x01"]
    mixed_first = b"".join(f + n for f, n in zip(frames[:3], noise))
    mixed_second = b"".join(frames[3:]) + b"\x00" * 5 + b"\x01"
    datagrams = [
        protect_initial(mixed_first, CID, packet_number=0, pad_to=1250),
        protect_initial(ack_frame(0, ranges=2) + mixed_second, CID, packet_number=1, pad_to=1250),
    ]
    assembler = QuicInitialAssembler()
    results = [assembler.feed(d) for d in datagrams]
    assert results[0] is None and results[1].sni == "pq.example"


def test_overlapping_retransmitted_crypto_frames():
    datagrams = [
        protect_initial(crypto_frame(0, BIG_HELLO[:800]), CID, packet_number=0),
        protect_initial(crypto_frame(400, BIG_HELLO[400:1000]), CID, packet_number=1),  # overlap
        protect_initial(crypto_frame(0, BIG_HELLO[:800]), CID, packet_number=2),  # retransmission
        protect_initial(crypto_frame(1000, BIG_HELLO[1000:]), CID, packet_number=3),
    ]
    assembler = QuicInitialAssembler()
    assert [bool(assembler.feed(d)) for d in datagrams] == [False, False, False, True]


def test_later_client_initials_keyed_on_the_original_dcid():
    server_cid = bytes.fromhex("aabbccdd")
    frames = split_crypto(BIG_HELLO, [900])
    # After the server's first Initial the client addresses the server's CID, keys unchanged.
    later = protect_initial(frames[1], server_cid, key_dcid=CID, packet_number=1)
    first = protect_initial(frames[0], CID, packet_number=0)
    assembler = QuicInitialAssembler()
    assert assembler.feed(later) is None  # no key opens it yet: held back
    assert assembler.feed(first).sni == "pq.example"  # the original DCID is known: both open
    assert assembler.dcid == CID
    in_order = QuicInitialAssembler()
    assert in_order.feed(first) is None
    assert in_order.feed(later).sni == "pq.example"


def test_after_a_retry_the_new_dcid_keys_the_initial():
    retry_scid = bytes.fromhex("f067a5502a4262b5")
    before = protect_initial(crypto_frame(0, BIG_HELLO[:600]), CID, packet_number=0, pad_to=1200)
    retry = (
        bytes([0xF0])
        + (1).to_bytes(4, "big")
        + b"\x04abcd"
        + b"\x08"
        + retry_scid
        + b"token"
        + bytes(16)
    )
    after = [
        protect_initial(f, retry_scid, token=b"token", packet_number=i + 1, pad_to=1200)
        for i, f in enumerate(split_crypto(BIG_HELLO, [1000]))
    ]
    assembler = QuicInitialAssembler()
    assert assembler.feed(before) is None
    assert assembler.feed(retry) is None
    assert assembler.feed(after[1]) is None
    assert assembler.feed(after[0]).sni == "pq.example"
    assert packets(after[0])[0].token == b"token"


def test_caller_can_name_the_dcid():
    datagram = protect_initial(
        crypto_frame(0, build_client_hello("named.example")), b"\x99" * 4, key_dcid=CID
    )
    assert QuicInitialAssembler().feed(datagram) is None
    assembler = QuicInitialAssembler(dcid=CID)
    assert assembler.feed(datagram).sni == "named.example"
    other = QuicInitialAssembler()
    other.add_dcid(CID)
    assert other.feed(datagram).sni == "named.example"


def test_version_negotiation_and_unknown_versions_are_harmless():
    vn = (
        bytes([0x80])
        + bytes(4)
        + b"\x08"
        + CID
        + b"\x04abcd"
        + (1).to_bytes(4, "big")
        + quic.QUIC_V2.to_bytes(4, "big")
    )
    (packet,) = packets(vn)
    assert packet.kind == "version_negotiation"
    unknown = (
        bytes([0xC0]) + (0x1A2A3A4A).to_bytes(4, "big") + b"\x08" + CID + b"\x00" + bytes(1200)
    )
    assert packets(unknown)[0].kind == "unknown"
    assembler = QuicInitialAssembler()
    assert assembler.feed(vn) is None and assembler.feed(unknown) is None
    assert not looks_like_quic_initial(vn) and not looks_like_quic_initial(unknown)


def test_not_a_client_hello_gives_up():
    server_hello_like = b"\x02\x00\x00\x04\x03\x03\x00\x00"
    assembler = QuicInitialAssembler()
    assert assembler.feed(protect_initial(crypto_frame(0, server_hello_like), CID)) is None
    assert assembler.failed and assembler.done


def test_looks_like_quic_initial_rejects():
    good = protect_initial(crypto_frame(0, build_client_hello()), CID, pad_to=1200)
    assert looks_like_quic_initial(good)
    assert not looks_like_quic_initial(good[:60])  # length runs past the datagram
    assert not looks_like_quic_initial(bytes([0x40]) + good[1:])  # short header
    assert not looks_like_quic_initial(bytes([good[0] & ~0x40]) + good[1:])  # fixed bit clear
    assert not looks_like_quic_initial(bytes([good[0] | 0x20]) + good[1:])  # Handshake type
    assert not looks_like_quic_initial(good[:5] + b"\x15" + bytes(21) + good[6 + 21 :])  # DCID > 20
    assert not looks_like_quic_initial(b"")


def test_frames_walk_stops_gracefully():
    hello_frame = crypto_frame(0, b"abc")
    assert quic.crypto_frames(b"\x00\x00\x01" + hello_frame) == [quic.CryptoFrame(0, b"abc")]
    assert quic.crypto_frames(hello_frame + b"\x1c\x00\x00\x00" + crypto_frame(3, b"d")) == [
        quic.CryptoFrame(0, b"abc")
    ]
    assert quic.crypto_frames(b"\x06\x00\x10abc") == []  # length past the end
    assert quic.crypto_frames(b"\x02\x00\x00\x3f\x00" + hello_frame) == []  # ACK claims 63 ranges
    ecn_ack = b"\x03\x05\x00\x01\x00\x01\x01\x07\x08\x09"
    assert quic.crypto_frames(ecn_ack + hello_frame) == [quic.CryptoFrame(0, b"abc")]


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(1, len(BIG_HELLO) - 1), max_size=10),
    per_packet=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    version=st.sampled_from([quic.QUIC_V1, quic.QUIC_V2]),
)
def test_any_split_and_order_gives_the_sni(cuts, per_packet, seed, version):
    rng = random.Random(seed)
    frames = split_crypto(BIG_HELLO, cuts)
    rng.shuffle(frames)
    groups = [b"".join(frames[i : i + per_packet]) for i in range(0, len(frames), per_packet)]
    datagrams = [
        protect_initial(g, CID, version=version, packet_number=n) for n, g in enumerate(groups)
    ]
    rng.shuffle(datagrams)
    assembler = QuicInitialAssembler()
    found = [h for h in (assembler.feed(d) for d in datagrams) if h is not None]
    assert [h.sni for h in found] == ["pq.example"]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=1400))
def test_random_datagrams_never_raise(data):
    for candidate in (data, b"\xc0\x00\x00\x00\x01" + data, b"\xd0\x6b\x33\x43\xcf" + data):
        looks_like_quic_initial(candidate)
        QuicInitialAssembler().feed(candidate)
        for packet in packets(candidate):
            quic.decrypt_initial(packet, packet.dcid)
    quic.crypto_frames(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_corrupted_initials_never_raise(data):
    datagram = bytearray(protect_initial(crypto_frame(0, BIG_HELLO[:900]), CID, pad_to=1200))
    for _ in range(data.draw(st.integers(1, 6))):
        datagram[data.draw(st.integers(0, 80))] = data.draw(st.integers(0, 255))
    assembler = QuicInitialAssembler()
    assert assembler.feed(bytes(datagram[: data.draw(st.integers(0, len(datagram)))])) is None


# --------------------------------------------------------------------------- real captures

# Verified with tshark -Y tls.handshake.type==1 -T fields -e udp.stream -e
# tls.handshake.extensions_server_name -e quic.version: one connection, www.google.com, v1, h3.
REAL_QUIC = {
    "pcaps/zeek/quic_win11_firefox_google.pcap": [("www.google.com", quic.QUIC_V1, ("h3",))]
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(REAL_QUIC))
def test_real_quic_captures_match_tshark(name):
    root = shared_data()
    if root is None or not (root / name).exists():
        pytest.skip("shared data not present")
    assemblers: dict[tuple, QuicInitialAssembler] = {}
    found = []
    for seg in read_transport(root / name):
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        if seg.proto != "udp" or (
            key not in assemblers and not looks_like_quic_initial(seg.payload)
        ):
            continue
        assembler = assemblers.setdefault(key, QuicInitialAssembler())
        hello = assembler.feed(seg.payload)
        if hello is not None:
            found.append((hello.sni, assembler.version, hello.alpn))
    assert found == REAL_QUIC[name]
