"""Google QUIC (gQUIC): the server name in a client's first packet, Q024 to Q050 and T050/T051.

Old Chrome, Android apps and embedded clients still speak it.  The client's first packet
carries its crypto handshake in the clear or under keys anyone can derive:

- Q024-Q043: the *public header* (flags, 8-byte connection id, version, packet number), a
  12-byte message authentication hash, then frames (before Q034 after a private flags byte;
  before Q039 little-endian); the handshake is STREAM frame 1 holding a ``CHLO`` message whose
  ``SNI`` tag is the name.
- Q046: an IETF-style long header (type byte, version, one byte of both connection id lengths,
  connection id, packet number), then the same hash and frames as Q043.
- Q050: an IETF long header whose Initial is protected as RFC 9001 does, with Q050's salt
  (``quic.GOOGLE_INITIAL_VERSIONS``); inside, a crypto frame (type 0x08: offset, length) with
  the CHLO.  T050/T051 are the same with a TLS ClientHello in place of the CHLO.

Layouts from Chromium's QUIC documents as Wireshark's packet-gquic.c and nDPI's quic.c read
them.  Captures are hostile input: every length is checked, nothing here raises.
"""

from __future__ import annotations

from typing import NamedTuple

from tracecheck.dissect import quic, tls

# Public header flags (Q043 and before).
PUBLIC_FLAG_VERSION = 0x01
PUBLIC_FLAG_RESET = 0x02
PUBLIC_FLAG_NONCE = 0x04  # 32-byte diversification nonce, from servers only (clients set it
# with 0x08, as 0x0C once meant "8-byte connection id")
PUBLIC_FLAG_CID = 0x08  # 8-byte connection id
PUBLIC_PN_LENGTH = {0: 1, 1: 2, 2: 4, 3: 6}  # by bits 0x30
CID_LEN = 8
HASH_LEN = 12  # FNV-1a-128 of the packet, truncated: the "null encryption" of unprotected packets
Q046_CID_LENGTHS = 0x50  # DCIL 5 (+3 = 8 bytes), SCIL 0: a client's first packet

# Frames.
FRAME_PADDING = 0x00
FRAME_PING = 0x07
FRAME_STREAM = 0x80  # 1fdooos s: fin, data length present, offset length, stream id length
STREAM_FIN = 0x40
STREAM_HAS_LENGTH = 0x20
CRYPTO_STREAM = 1
FRAME_CRYPTO_Q050 = 0x08  # Q050/T05x: offset and length as QUIC varints

# CHLO: tag, entry count (u16 LE), padding, then (tag, end offset u32 LE) per entry, then values.
CHLO = b"CHLO"
TAG_SNI = b"SNI\x00"
MAX_TAGS = 128
MAX_NAME = 253
MAX_FRAMES = 16


_VERSION_STARTS = (b"Q0", b"T0")


class GquicHello(NamedTuple):
    """What a gQUIC client's first packet says."""

    version: str
    """``Q043``, ``Q046``, ``Q050``, ``T051`` ..."""
    sni: str
    """Lower-case server name, or ``""`` when the hello gives none."""


def is_gquic_version(raw: bytes) -> bool:
    """``Q0xx`` or ``T0xx`` as four ASCII bytes."""
    return len(raw) == 4 and raw[:2] in (b"Q0", b"T0") and raw[2:].isdigit()


def parse_client_packet(datagram: bytes) -> GquicHello | None:
    """The hello in a gQUIC client's first packet, or None if the datagram is not one."""
    if len(datagram) < 14 or (datagram[1:3] not in _VERSION_STARTS and datagram[9:11] not in _VERSION_STARTS):
        return None  # the version is at 1 (long header, or public header without a connection id) or at 9
    datagram = bytes(datagram[:2048])
    if datagram[0] & 0x80:  # an IETF-style long header: Q046 and later
        version = datagram[1:5]
        if not is_gquic_version(version):
            return None
        if version in quic.GOOGLE_INITIAL_VERSIONS:
            return _protected_initial(datagram, version)
        if version == b"Q046":
            return _q046(datagram)
        return None
    return _public_header(datagram)


def _public_header(datagram: bytes) -> GquicHello | None:
    flags = datagram[0]
    if flags & (0x80 | PUBLIC_FLAG_RESET) or not flags & PUBLIC_FLAG_VERSION:
        return None
    pos = 1 + (CID_LEN if flags & PUBLIC_FLAG_CID else 0)
    version = datagram[pos : pos + 4]
    if not is_gquic_version(version) or version[:1] != b"Q" or int(version[1:]) >= 46:
        return None
    pos += 4 + PUBLIC_PN_LENGTH[(flags >> 4) & 0x03] + HASH_LEN
    if int(version[1:]) < 34:
        pos += 1  # the private flags byte, gone since Q034
    return _hello_in_stream_frames(datagram, pos, version)


def _q046(datagram: bytes) -> GquicHello | None:
    if datagram[5] != Q046_CID_LENGTHS:
        return None
    pos = 6 + CID_LEN + (datagram[0] & 0x03) + 1 + HASH_LEN
    return _hello_in_stream_frames(datagram, pos, b"Q046")


def _hello_in_stream_frames(data: bytes, pos: int, version: bytes) -> GquicHello | None:
    """Walk the frames from ``pos`` to the crypto stream's first bytes; parse the CHLO there."""
    order = "big" if int(version[1:]) >= 39 else "little"
    for _ in range(MAX_FRAMES):
        if pos >= len(data):
            return None
        kind = data[pos]
        if kind == FRAME_PING:
            pos += 1
            continue
        if not kind & FRAME_STREAM:
            return None  # padding ends the packet; any other frame comes after no CHLO we read
        offset_len = (kind >> 2) & 0x07
        offset_len = offset_len + 1 if offset_len else 0
        id_len = (kind & 0x03) + 1
        head = pos + 1 + id_len + offset_len
        if head + 2 > len(data):
            return None
        stream = int.from_bytes(data[pos + 1 : pos + 1 + id_len], order)
        if kind & STREAM_HAS_LENGTH:
            length, start = int.from_bytes(data[head : head + 2], order), head + 2
        else:
            length, start = len(data) - head, head
        if start + length > len(data):
            return None
        if stream == CRYPTO_STREAM:  # a CHLO, at offset 0 or (the second, after a REJ) further on
            return _from_chlo(data[start : start + length], version)
        pos = start + length
    return None


def _protected_initial(datagram: bytes, version: bytes) -> GquicHello | None:
    """Q050/T05x: cut out the Initial (the IETF long-header walk), decrypt, read the crypto frame."""
    pos = 5
    dcid_len = datagram[pos]
    if dcid_len == 0 or dcid_len > quic.MAX_CID_LEN or pos + 1 + dcid_len >= len(datagram):
        return None
    dcid = datagram[pos + 1 : pos + 1 + dcid_len]
    pos += 1 + dcid_len
    scid_len = datagram[pos]
    if scid_len > quic.MAX_CID_LEN:
        return None
    scid = datagram[pos + 1 : pos + 1 + scid_len]
    pos += 1 + scid_len
    token = quic.read_varint(datagram, pos)
    if token is None:
        return None
    pos = token[1] + token[0]
    length = quic.read_varint(datagram, pos)
    if length is None or length[1] + length[0] > len(datagram) or length[0] < 1 + quic.TAG_LEN:
        return None
    packet = quic.LongHeaderPacket("initial", int.from_bytes(version, "big"), dcid, scid,
                                   datagram[token[1] : pos], datagram[: length[1] + length[0]], length[1])
    opened = quic.decrypt_initial(packet, dcid)
    if opened is None:
        return None
    data = _crypto_frame_data(opened.payload)
    if data is None:
        return None
    if version[:1] == b"T":
        hello = tls.parse_client_hello_message(data, details=False)
        return GquicHello(version.decode(), hello.sni) if isinstance(hello, tls.ClientHello) else None
    return _from_chlo(data, version)


def _crypto_frame_data(payload: bytes) -> bytes | None:
    """The bytes of the first crypto frame (0x08) after any padding."""
    pos = 0
    while pos < len(payload) and payload[pos] == FRAME_PADDING:
        pos += 1
    if pos >= len(payload) or payload[pos] != FRAME_CRYPTO_Q050:
        return None
    offset = quic.read_varint(payload, pos + 1)
    if offset is None:
        return None
    length = quic.read_varint(payload, offset[1])
    if length is None or length[1] + length[0] > len(payload):
        return None
    return payload[length[1] : length[1] + length[0]]


def parse_chlo(message: bytes) -> dict[bytes, bytes] | None:
    """A CHLO's tags and values, or None when ``message`` is not a whole, well-formed CHLO."""
    if len(message) < 8 or message[:4] != CHLO:
        return None
    count = int.from_bytes(message[4:6], "little")
    values_at = 8 + 8 * count
    if count > MAX_TAGS or values_at > len(message):
        return None
    tags, previous = {}, 0
    for i in range(count):
        entry = 8 + 8 * i
        end = int.from_bytes(message[entry + 4 : entry + 8], "little")
        if end < previous or values_at + end > len(message):
            return None
        tags[message[entry : entry + 4]] = message[values_at + previous : values_at + end]
        previous = end
    return tags


def _from_chlo(message: bytes, version: bytes) -> GquicHello | None:
    tags = parse_chlo(message)
    if tags is None:
        return None
    return GquicHello(version.decode(), _name(tags.get(TAG_SNI, b"")))


def _name(raw: bytes) -> str:
    """A host name as sent, lower-case; ``""`` when it is not one (too long, not printable)."""
    if not raw or len(raw) > MAX_NAME:
        return ""
    text = raw.decode("ascii", "replace").strip().rstrip(".").lower()
    return text if text.isprintable() and " " not in text and "\ufffd" not in text else ""
