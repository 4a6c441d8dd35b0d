"""Google QUIC (issue 15): the SNI of a client's CHLO names the flow (``quic_sni``), for the
public-header versions (Q039, Q043), Q046's long header, Q050's protected Initial and T051's
TLS hello.  Packets are written byte by byte per the layouts in ``tracecheck/dissect/gquic.py``
(checked once against tshark 4.0's gquic dissector: it shows each one's SNI tag)."""

from __future__ import annotations

import struct

import pytest
from capture_builders import T0, ether, write_pcap
from dissect_helpers import build_client_hello, protect_initial
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP

from tracecheck.dissect import gquic
from tracecheck.flows.pipeline import build_named_flows

CID = bytes.fromhex("e71ad5d7756c4d4d")


def chlo(sni: str | None = "www.example.com", extra: dict | None = None) -> bytes:
    """A CHLO message: tags in order, each with the end offset of its value."""
    tags = {b"PAD\x00": bytes(40), b"VER\x00": b"Q043"}
    if sni is not None:
        tags[b"SNI\x00"] = sni.encode()
    tags.update(extra or {})
    index, values, end = b"", b"", 0
    for tag, value in tags.items():
        end += len(value)
        index += tag + struct.pack("<I", end)
        values += value
    return b"CHLO" + struct.pack("<HH", len(tags), 0) + index + values


def stream_frame(data: bytes, stream: int = 1, offset: int = 0) -> bytes:
    """1 0 1 ooo 00: a STREAM frame with a 2-byte data length, 1-byte stream id and, if
    ``offset``, a 2-byte offset (Q039+ big-endian)."""
    kind = 0xA0 | (0x04 if offset else 0)
    return bytes([kind, stream]) + (struct.pack(">H", offset) if offset else b"") + struct.pack(">H", len(data)) + data


def q043(message: bytes, version: bytes = b"Q043", flags: int = 0x0D) -> bytes:
    """Public header (version, 8-byte CID; 0x04 as Chrome sets it), 1-byte packet number,
    12-byte message authentication hash, the frames, padding to 1350 bytes."""
    packet = bytes([flags]) + CID + version + b"\x01" + bytes(range(12)) + stream_frame(message)
    return packet + bytes(1350 - len(packet))


def q046(message: bytes, offset: int = 0) -> bytes:
    """Long header 0xC3 (Initial, 4-byte packet number), Q046, CID lengths 0x50, CID, packet
    number, hash, frames."""
    packet = b"\xc3Q046\x50" + CID + b"\x00\x00\x00\x01" + bytes(12) + stream_frame(message, offset=offset)
    return packet + bytes(1350 - len(packet))


def q050(message: bytes, version: bytes = b"Q050") -> bytes:
    """An Initial protected as RFC 9001 with the version's salt; a crypto frame 0x08."""
    frame = b"\x08\x00" + bytes([0x40 | (len(message) >> 8), len(message) & 0xFF]) + message
    return protect_initial(frame, CID, version=int.from_bytes(version, "big"), scid=b"", pn_len=4,
                           packet_number=1, pad_to=1350)


@pytest.mark.parametrize("packet, version", [
    (q043(chlo()), "Q043"),
    (q043(chlo(), flags=0x09), "Q043"),
    (q043(chlo(), version=b"Q039"), "Q039"),
    (q046(chlo()), "Q046"),
    (q046(chlo(), offset=1024), "Q046"),  # the second CHLO, after the server's REJ
    (q050(chlo()), "Q050"),
    (q050(build_client_hello(sni="www.example.com"), version=b"T051"), "T051"),
])
def test_each_version_gives_its_sni(packet, version):
    assert gquic.parse_client_packet(packet) == gquic.GquicHello(version, "www.example.com")


def test_little_endian_before_q039_and_the_private_flags_byte_before_q034():
    message = chlo()
    frame = b"\xa0\x01" + struct.pack("<H", len(message)) + message
    q035 = b"\x0d" + CID + b"Q035\x01" + bytes(12) + frame
    q025 = b"\x0d" + CID + b"Q025\x01" + bytes(12) + b"\x01" + frame
    assert gquic.parse_client_packet(q035).sni == gquic.parse_client_packet(q025).sni == "www.example.com"


def test_no_sni_and_not_gquic():
    assert gquic.parse_client_packet(q043(chlo(sni=None))) == gquic.GquicHello("Q043", "")
    assert gquic.parse_client_packet(q043(b"REJ\x00" + bytes(20))) is None
    assert gquic.parse_client_packet(q043(chlo(sni="bad name\x00"))).sni == ""
    assert gquic.parse_client_packet(q050(chlo())[:-1]) is None  # the tag no longer checks
    assert gquic.parse_client_packet(b"\x0dQ043" + bytes(40)) is None
    assert gquic.parse_client_packet(bytes(1350)) is None


def test_a_flow_is_named_by_its_chlo_on_any_port(tmp_path):
    frames = []
    for i, (packet, port) in enumerate([(q043(chlo("a.example.com")), 443), (q046(chlo("b.example.com")), 443),
                                        (q050(chlo("c.example.com")), 443), (q043(chlo("d.example.com")), 6121)]):
        ip = IP(src="10.0.0.5", dst=f"192.0.2.{i + 1}") / UDP(sport=50000 + i, dport=port)
        frames.append((T0 + i * 1_000_000, ether(bytes(ip / packet))))
        reply = IP(src=f"192.0.2.{i + 1}", dst="10.0.0.5") / UDP(sport=port, dport=50000 + i)
        frames.append((T0 + i * 1_000_000 + 500_000, ether(bytes(reply / bytes(200)))))
    named = build_named_flows([str(write_pcap(tmp_path / "gquic.pcap", frames))])
    got = sorted((f.resp_h, f.server_name, f.name_source, f.app) for f in named.result.flows)
    assert got == [(f"192.0.2.{i + 1}", f"{c}.example.com", "quic_sni", "quic") for i, c in enumerate("abcd")]
    assert {n.detail for n in named.names if n.source == "quic_sni"} == {"gQUIC Q043", "gQUIC Q046", "gQUIC Q050"}


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from([q043(chlo()), q046(chlo()), q050(chlo())]),
       edits=st.lists(st.tuples(st.integers(0, 1349), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 1350))
def test_damaged_packets_never_raise(base, edits, cut):
    packet = bytearray(base[:cut])
    for pos, value in edits:
        if pos < len(packet):
            packet[pos] = value
    found = gquic.parse_client_packet(bytes(packet))
    assert found is None or len(found.sni) <= gquic.MAX_NAME


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_chlo_parser_on_any_bytes(raw):
    tags = gquic.parse_chlo(b"CHLO" + raw)
    assert tags is None or all(len(tag) == 4 for tag in tags)
