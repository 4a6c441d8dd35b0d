"""Test builders: ClientHellos, TLS records, protected QUIC Initials; and a pcap reader."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tracecheck.dissect import quic

# --------------------------------------------------------------------------- TLS


def _vec(data: bytes, len_bytes: int) -> bytes:
    return len(data).to_bytes(len_bytes, "big") + data


def extension(ext_type: int, body: bytes) -> bytes:
    return struct.pack(">H", ext_type) + _vec(body, 2)


def build_client_hello(
    sni: str | None = "example.com",
    alpn: tuple[str, ...] = (),
    ech: bool = False,
    versions: tuple[int, ...] = (0x0304, 0x0303),
    key_share_size: int = 32,
    extra_extensions: tuple[bytes, ...] = (),
) -> bytes:
    """A ClientHello handshake message (type, 24-bit length, body).

    ``key_share_size`` sets the size of one key share: 1216 makes an X25519MLKEM768-sized
    hello that spans two QUIC datagrams, as Chrome and Firefox send today.
    """
    exts = b""
    if sni is not None:
        name = sni.encode()
        exts += extension(0x0000, _vec(b"\x00" + _vec(name, 2), 2))
    exts += extension(0x000A, _vec(b"\x00\x1d\x00\x17", 2))  # supported_groups
    if alpn:
        exts += extension(0x0010, _vec(b"".join(_vec(p.encode(), 1) for p in alpn), 2))
    if versions:
        exts += extension(0x002B, _vec(b"".join(struct.pack(">H", v) for v in versions), 1))
    exts += extension(
        0x0033,
        _vec(
            struct.pack(">HH", 0x11EC, key_share_size)
            + bytes(range(256)) * (key_share_size // 256)
            + bytes(key_share_size % 256),
            2,
        ),
    )
    if ech:
        exts += extension(
            0xFE0D, b"\x00\x00\x01\x00\x01\x2a" + _vec(bytes(32), 2) + _vec(bytes(144), 2)
        )
    for raw in extra_extensions:
        exts += raw
    body = (
        b"\x03\x03"
        + bytes(range(32))  # random
        + _vec(bytes(32), 1)  # legacy_session_id
        + _vec(b"\x13\x01\x13\x02\x13\x03\xc0\x2b", 2)
        + b"\x01\x00"  # compression: null
        + _vec(exts, 2)
    )
    return b"\x01" + _vec(body, 3)


def tls_records(
    message: bytes, fragment_sizes: list[int] | None = None, version: int = 0x0301
) -> bytes:
    """Wrap a handshake message in handshake records, cut at ``fragment_sizes`` (then the rest)."""
    out, pos = b"", 0
    for size in list(fragment_sizes or []) + [len(message)]:
        if pos >= len(message):
            break
        piece = message[pos : pos + size]
        out += struct.pack(">BHH", 22, version, len(piece)) + piece
        pos += len(piece)
    return out


# --------------------------------------------------------------------------- QUIC


def _varint(value: int) -> bytes:
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return struct.pack(">H", 0x4000 | value)
    if value < 0x40000000:
        return struct.pack(">I", 0x80000000 | value)
    return struct.pack(">Q", 0xC000000000000000 | value)


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + _varint(offset) + _varint(len(data)) + data


def ack_frame(largest: int = 0, ranges: int = 0) -> bytes:
    return (
        b"\x02"
        + _varint(largest)
        + _varint(0)
        + _varint(ranges)
        + _varint(0)
        + b"\x00\x00" * ranges
    )


def protect_initial(
    frames: bytes,
    dcid: bytes,
    *,
    version: int = quic.QUIC_V1,
    scid: bytes = b"\x01\x02\x03\x04",
    packet_number: int = 0,
    pn_len: int = 2,
    token: bytes = b"",
    key_dcid: bytes | None = None,
    pad_to: int = 0,
    server: bool = False,
) -> bytes:
    """Build and protect one Initial packet as a QUIC client (or server) would.

    ``pad_to`` adds PADDING frames until the packet is that long (1200 for a lone client
    Initial).  ``key_dcid`` derives the keys from another DCID than the header carries, as a
    client does once the server has chosen its connection ID.
    """
    keys = quic.initial_keys(key_dcid if key_dcid is not None else dcid, version, server=server)
    rules = quic.VERSIONS.get(version) or quic.GOOGLE_INITIAL_VERSIONS[version.to_bytes(4, "big")]
    type_bits = rules.packet_types.index("initial")
    first = 0xC0 | (type_bits << 4) | (pn_len - 1)
    head = (
        struct.pack(">BI", first, version)
        + _vec(dcid, 1)
        + _vec(scid, 1)
        + _varint(len(token))
        + token
    )

    def length_field(payload_len: int) -> bytes:
        return struct.pack(">H", 0x4000 | (pn_len + payload_len + 16))  # always 2 bytes

    overhead = len(head) + 2 + pn_len + 16
    payload = frames + bytes(max(0, pad_to - overhead - len(frames)))
    payload += bytes(max(0, 4 - pn_len - len(payload)))  # room for the header-protection sample
    header = (
        head
        + length_field(len(payload))
        + (packet_number & ((1 << (8 * pn_len)) - 1)).to_bytes(pn_len, "big")
    )
    nonce = bytes(a ^ b for a, b in zip(keys.iv, packet_number.to_bytes(12, "big")))
    sealed = AESGCM(keys.key).encrypt(nonce, payload, header)
    pn_offset = len(header) - pn_len
    sample = sealed[4 - pn_len : 4 - pn_len + 16]
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    protected = bytearray(header)
    protected[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        protected[pn_offset + i] ^= mask[1 + i]
    return bytes(protected) + sealed


def split_crypto(data: bytes, cuts: list[int], start: int = 0) -> list[bytes]:
    """CRYPTO frames covering ``data`` (at stream offset ``start``), cut at the given positions."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [crypto_frame(start + a, data[a:b]) for a, b in zip(edges, edges[1:])]


# --------------------------------------------------------------------------- real captures


def shared_data() -> Path | None:
    env = os.environ.get("TRACECHECK_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if root.is_dir() else None


@dataclass(frozen=True)
class Segment:
    proto: str
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    seq: int = 0
    syn: bool = False


def read_transport(path: Path) -> list[Segment]:
    """Every TCP segment and UDP datagram of a capture, in file order (dpkt; tests only)."""
    import socket

    import dpkt

    out: list[Segment] = []
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        linktype = reader.datalink()
        for _ts, raw in reader:
            try:
                if linktype == dpkt.pcap.DLT_EN10MB:
                    ip = dpkt.ethernet.Ethernet(raw).data
                elif linktype == dpkt.pcap.DLT_LINUX_SLL:
                    ip = dpkt.sll.SLL(raw).data
                else:
                    ip = dpkt.ip.IP(raw) if raw[0] >> 4 == 4 else dpkt.ip6.IP6(raw)
            except (dpkt.UnpackError, IndexError):
                continue
            if isinstance(ip, dpkt.ip.IP):
                family = socket.AF_INET
            elif isinstance(ip, dpkt.ip6.IP6):
                family = socket.AF_INET6
            else:
                continue
            l4 = ip.data
            src, dst = socket.inet_ntop(family, ip.src), socket.inet_ntop(family, ip.dst)
            if isinstance(l4, dpkt.tcp.TCP):
                syn = bool(l4.flags & dpkt.tcp.TH_SYN)
                out.append(
                    Segment("tcp", src, l4.sport, dst, l4.dport, bytes(l4.data), l4.seq, syn)
                )
            elif isinstance(l4, dpkt.udp.UDP):
                out.append(Segment("udp", src, l4.sport, dst, l4.dport, bytes(l4.data)))
    return out
