"""QUIC Initial packets: find them, decrypt them, and put the client's ClientHello back together.

Initial packets are encrypted, but with keys anyone can derive from the client's Destination
Connection ID (RFC 9001 5.2; RFC 9369 for version 2), so an observer can read the ClientHello and
its SNI.  A post-quantum ClientHello no longer fits one datagram: its CRYPTO frames spread over
several Initial packets and datagrams, and Chrome cuts and shuffles them even within a packet, so
the frames are reassembled by offset before the hello is parsed.

Captures are hostile input: every length is checked before use, every loop is bounded, and a
packet that does not decrypt is skipped, never raised on.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Iterator, NamedTuple

from tracecheck.dissect import tls
from tracecheck.dissect.tcp_stream import StreamReassembler

QUIC_V1: Final = 0x00000001
QUIC_V2: Final = 0x6B3343CF
QUIC_DRAFT_29: Final = 0xFF00001D
MVFST_DRAFT_22: Final = 0xFACEB001
MVFST_DRAFT_27: Final = 0xFACEB002
MVFST_EXPERIMENTAL: Final = 0xFACEB00E


@dataclass(frozen=True)
class _VersionRules:
    salt: bytes
    label_prefix: bytes  # "quic " or "quicv2 " before key / iv / hp
    packet_types: tuple[str, str, str, str]  # long-header type bits 0..3 → packet kind


_V1_TYPES = ("initial", "0rtt", "handshake", "retry")
_V1_RULES = _VersionRules(
    bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic ", _V1_TYPES
)
_DRAFT_RULES = _VersionRules(
    bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"), b"quic ", _V1_TYPES
)
_DRAFT_23_RULES = _VersionRules(bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502"), b"quic ", _V1_TYPES)
VERSIONS: Final[dict[int, _VersionRules]] = {
    QUIC_V1: _V1_RULES,
    # RFC 9369 3.2: every long-header type moved, Initial is 0b01.
    QUIC_V2: _VersionRules(
        bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
        b"quicv2 ",
        ("retry", "initial", "0rtt", "handshake"),
    ),
    # Drafts 29-32 share one salt; older captures from 2020-2021 still carry them.
    **{QUIC_DRAFT_29 + i: _DRAFT_RULES for i in range(4)},
    # Drafts 23-28 (and Facebook's mvfst builds of 27) had the salt before; mvfst's build of
    # draft 22 the one before that (salts from the drafts' section 5.2).
    **{QUIC_DRAFT_29 - 6 + i: _DRAFT_23_RULES for i in range(6)},
    MVFST_DRAFT_27: _DRAFT_23_RULES,
    MVFST_EXPERIMENTAL: _DRAFT_23_RULES,
    MVFST_DRAFT_22: _VersionRules(bytes.fromhex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a"), b"quic ", _V1_TYPES),
}

# Google QUIC's last versions protect their Initial packets as RFC 9001 does, with salts of their
# own (Chromium's quic_crypto_stream / nDPI's quic.c list them).  Their frames are not IETF QUIC's:
# gquic.py reads them, so they stay out of VERSIONS, which the IETF parser above accepts.
GOOGLE_INITIAL_VERSIONS: Final[dict[bytes, _VersionRules]] = {
    b"Q050": _VersionRules(bytes.fromhex("504574efd066fe2f9d945cfcdbd3a7f0d3b56b45"), b"quic ", _V1_TYPES),
    b"T050": _VersionRules(bytes.fromhex("7ff579e5acd072915580304c43a2367c60488310"), b"quic ", _V1_TYPES),
    b"T051": _VersionRules(bytes.fromhex("7a4edef4e7ccee5fa4506c19124fc8ccda6e033d"), b"quic ", _V1_TYPES),
}
_ALL_RULES: Final = {**VERSIONS, **{int.from_bytes(v, "big"): r for v, r in GOOGLE_INITIAL_VERSIONS.items()}}

# What _quic.c needs of the table: each version's long-header type bits → packet kind.
_PACKET_TYPES: Final = {version: rules.packet_types for version, rules in VERSIONS.items()}

MAX_CID_LEN: Final = 20
MAX_PACKETS_PER_DATAGRAM: Final = 16
MAX_FRAMES_PER_PACKET: Final = 256
MAX_CRYPTO_BYTES: Final = 64 * 1024
TAG_LEN: Final = 16
SAMPLE_LEN: Final = 16


# --------------------------------------------------------------------------- wire pieces


def read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """RFC 9000 16: (value, next position), or None when ``buf`` ends inside the integer."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    end = pos + (1 << (first >> 6))
    if end > len(buf):
        return None
    if end == pos + 1:
        return first, end  # the two length bits are zero
    return int.from_bytes(buf[pos:end], "big") & _VARINT_VALUE[end - pos], end


_VARINT_VALUE = {2: (1 << 14) - 1, 4: (1 << 30) - 1, 8: (1 << 62) - 1}  # by size: the bits below the length bits


# The per-packet records below are NamedTuples, not frozen dataclasses: one of each is made for
# every QUIC flow, and a frozen dataclass costs several times as much to build.
class LongHeaderPacket(NamedTuple):
    """One long-header packet cut out of a datagram; its payload is still protected."""

    kind: str
    """``initial``, ``0rtt``, ``handshake``, ``retry``, ``version_negotiation`` or ``unknown``."""
    version: int
    dcid: bytes
    scid: bytes
    token: bytes
    """Initial: the token (non-empty after a Retry); Retry: the token it hands out."""
    data: bytes
    """The whole packet as on the wire."""
    pn_offset: int
    """Where the packet number starts in ``data`` (Initial, 0-RTT, Handshake)."""


def iter_long_header_packets(datagram: bytes, first: LongHeaderPacket | None = None) -> Iterator[LongHeaderPacket]:
    """The long-header packets coalesced in one datagram, in order; stops at padding or junk.

    ``first``: the datagram's first packet, when the caller has cut it out already."""
    pos = 0
    for _ in range(MAX_PACKETS_PER_DATAGRAM):
        if first is not None:
            packet, first = first, None
        else:
            if len(datagram) - pos < 7 or not datagram[pos] & 0x80:
                return  # short header (consumes the rest), zero padding, or too short
            packet = _parse_long_header(datagram, pos)
            if packet is None:
                return
        yield packet
        pos += len(packet.data)


def _parse_long_header(buf: bytes, start: int) -> LongHeaderPacket | None:
    """The long-header packet at ``buf[start:]``, or None; callers have checked that ``buf``
    holds 7 bytes from there."""
    if COMPILED:
        return _parse_long_header_c(buf, start, _PACKET_TYPES, LongHeaderPacket)
    return _parse_long_header_py(buf, start)


def _parse_long_header_py(buf: bytes, start: int) -> LongHeaderPacket | None:
    """RFC 9000 17.2: the definition of ``_quic.parse_long_header``, which reads the same in C
    (this walk was most of what a flow cost once decryption was compiled)."""
    first = buf[start]
    version = int.from_bytes(buf[start + 1 : start + 5], "big")
    pos = start + 5
    dcid_len = buf[pos]
    if pos + 1 + dcid_len >= len(buf):
        return None
    dcid = bytes(buf[pos + 1 : pos + 1 + dcid_len])
    pos += 1 + dcid_len
    scid_len = buf[pos]
    if pos + 1 + scid_len > len(buf):
        return None
    scid = bytes(buf[pos + 1 : pos + 1 + scid_len])
    pos += 1 + scid_len
    if version == 0:  # version negotiation: the rest of the datagram lists versions
        return LongHeaderPacket(
            "version_negotiation", 0, dcid, scid, b"", bytes(buf[start:]), pos - start
        )
    rules = VERSIONS.get(version)
    if rules is None:
        return LongHeaderPacket(
            "unknown", version, dcid, scid, b"", bytes(buf[start:]), pos - start
        )
    if dcid_len > MAX_CID_LEN or scid_len > MAX_CID_LEN or not first & 0x40:
        return None
    kind = rules.packet_types[(first >> 4) & 0x03]
    if kind == "retry":  # token then a 16-byte integrity tag, to the end of the datagram
        if len(buf) - pos < TAG_LEN:
            return None
        return LongHeaderPacket(
            kind, version, dcid, scid, bytes(buf[pos:-TAG_LEN]), bytes(buf[start:]), pos - start
        )
    token = b""
    if kind == "initial":
        got = read_varint(buf, pos)
        if got is None or got[1] + got[0] > len(buf):
            return None
        token, pos = bytes(buf[got[1] : got[1] + got[0]]), got[1] + got[0]
    got = read_varint(buf, pos)
    if got is None:
        return None
    length, pos = got
    if length < 1 + TAG_LEN or pos + length > len(buf):
        return None
    return LongHeaderPacket(
        kind, version, dcid, scid, token, bytes(buf[start : pos + length]), pos - start
    )


def looks_like_quic_initial(datagram: bytes) -> bool:
    """Cheap test: does the datagram open with a plausible Initial of a version we can decrypt?"""
    return first_initial(datagram) is not None


def first_initial(datagram: bytes) -> LongHeaderPacket | None:
    """The datagram's first packet, when it is a plausible Initial of a version we can decrypt
    (what ``looks_like_quic_initial`` tests), else None.  Hand it to ``feed``, which then
    need not cut it out again."""
    if len(datagram) < 7 or datagram[0] & 0xC0 != 0xC0:
        return None
    # The parse names the kind (and "unknown" for a version we cannot decrypt): no look-up of
    # the version ahead of it, which cost more than the compiled parse.
    packet = _parse_long_header(datagram, 0)
    if packet is None or packet.kind != "initial" or len(packet.data) < packet.pn_offset + 4 + SAMPLE_LEN:
        return None
    return packet


# --------------------------------------------------------------------------- keys and decryption


class InitialKeys(NamedTuple):
    key: bytes
    iv: bytes
    hp: bytes


def _hkdf_expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label with an empty context; one SHA-256 block is enough here."""
    return hmac.digest(secret, _expand_info(label, length), "sha256")[:length]  # one-shot: OpenSSL's, not hmac.HMAC


@lru_cache(maxsize=None)
def _expand_info(label: bytes, length: int) -> bytes:
    """HKDF-Expand-Label's info (and the counter of its one block): a handful of labels exist,
    and this runs for every QUIC flow."""
    full = b"tls13 " + label
    return length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00\x01"


def initial_secret(dcid: bytes, version: int = QUIC_V1) -> bytes:
    return hmac.digest(_ALL_RULES[version].salt, dcid, "sha256")


def initial_keys(dcid: bytes, version: int = QUIC_V1, *, server: bool = False) -> InitialKeys:
    """Initial packet protection keys of one side, from the client's first DCID (RFC 9001 5.2)."""
    side = _hkdf_expand_label(
        initial_secret(bytes(dcid), version), b"server in" if server else b"client in", 32
    )
    prefix = _ALL_RULES[version].label_prefix
    return InitialKeys(
        key=_hkdf_expand_label(side, prefix + b"key", 16),
        iv=_hkdf_expand_label(side, prefix + b"iv", 12),
        hp=_hkdf_expand_label(side, prefix + b"hp", 16),
    )


@lru_cache(maxsize=512)
def _ciphers(dcid: bytes, version: int, server: bool) -> tuple[InitialKeys, object, object]:
    """The keys, the AEAD and a header-protection encryptor for them (``_unprotect_py``).  AES-ECB
    keeps no state between blocks, so one encryptor serves every packet (and is never finalized).
    cryptography is imported here, not above: where ``_quic.c`` is built it is not needed."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keys = initial_keys(dcid, version, server=server)
    return keys, AESGCM(keys.key), Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()


def decode_packet_number(truncated: int, pn_len: int, largest: int) -> int:
    """RFC 9000 A.3: the full packet number closest to ``largest + 1``."""
    expected = largest + 1
    window = 1 << (8 * pn_len)
    half = window // 2
    candidate = (expected & ~(window - 1)) | truncated
    if candidate <= expected - half and candidate < (1 << 62) - window:
        return candidate + window
    if candidate > expected + half and candidate >= window:
        return candidate - window
    return candidate


class DecryptedInitial(NamedTuple):
    version: int
    dcid: bytes
    scid: bytes
    token: bytes
    packet_number: int
    payload: bytes
    """The decrypted frames."""


def decrypt_initial(
    packet: LongHeaderPacket, key_dcid: bytes, *, server: bool = False, largest_pn: int = -1
) -> DecryptedInitial | None:
    """Remove header and packet protection from an Initial; None when it does not decrypt."""
    if packet.kind != "initial" or packet.version not in _ALL_RULES:
        return None
    if len(packet.data) < packet.pn_offset + 4 + SAMPLE_LEN:
        return None
    if COMPILED:
        rules = _ALL_RULES[packet.version]
        opened = _unprotect(packet.data, packet.pn_offset, bytes(key_dcid), rules.salt, rules.label_prefix,
                            server, largest_pn)
    else:
        opened = _unprotect_py(packet, bytes(key_dcid), server, largest_pn)
    if opened is None:
        return None
    pn, payload = opened
    return DecryptedInitial(packet.version, packet.dcid, packet.scid, packet.token, pn, payload)


def _unprotect_py(packet: LongHeaderPacket, key_dcid: bytes, server: bool, largest_pn: int) -> tuple[int, bytes] | None:
    """RFC 9001 5.3-5.4: (packet number, decrypted payload), or None.  The definition of
    ``_quic.unprotect``, which does the same against libcrypto without the objects around it."""
    from cryptography.exceptions import InvalidTag

    data, pn_offset = packet.data, packet.pn_offset
    keys, aead, hp_encryptor = _ciphers(key_dcid, packet.version, server)
    sample = data[pn_offset + 4 : pn_offset + 4 + SAMPLE_LEN]
    mask = hp_encryptor.update(sample)
    first = data[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    truncated = int.from_bytes(data[pn_offset : pn_offset + pn_len], "big") ^ int.from_bytes(mask[1 : 1 + pn_len], "big")
    header = bytes([first]) + data[1:pn_offset] + truncated.to_bytes(pn_len, "big")
    pn = decode_packet_number(truncated, pn_len, largest_pn)
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    try:
        return pn, aead.decrypt(nonce, data[pn_offset + pn_len :], header)
    except (InvalidTag, ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------- frames


class CryptoFrame(NamedTuple):
    offset: int
    data: bytes


def crypto_frames(payload: bytes) -> list[CryptoFrame]:
    """CRYPTO frames of a decrypted Initial, skipping PADDING, PING and ACK.

    Any other frame (CONNECTION_CLOSE, or something not allowed in an Initial) ends the walk:
    its length is unknown to us, and the hello never comes after it.
    """
    if COMPILED:
        return _crypto_frames_c(payload, CryptoFrame)
    return _crypto_frames_py(payload)


def _crypto_frames_py(payload: bytes) -> list[CryptoFrame]:
    """RFC 9000 19: the definition of ``_quic.crypto_frames``, which walks the same in C."""
    out: list[CryptoFrame] = []
    pos = 0
    for _ in range(MAX_FRAMES_PER_PACKET):
        if pos >= len(payload):
            break
        frame_type = payload[pos]
        if frame_type == 0x00:  # PADDING: skip the whole run at once
            if payload.endswith(bytes(len(payload) - pos)):
                break  # padding to the end, as in most Initials: one comparison (lstrip looks byte by byte)
            pos = len(payload) - len(payload[pos:].lstrip(b"\x00"))
        elif frame_type == 0x01:  # PING
            pos += 1
        elif frame_type in (0x02, 0x03):
            next_pos = _skip_ack(payload, pos + 1, ecn=frame_type == 0x03)
            if next_pos is None:
                break
            pos = next_pos
        elif frame_type == 0x06:
            offset = read_varint(payload, pos + 1)
            length = offset and read_varint(payload, offset[1])
            if not length or length[1] + length[0] > len(payload):
                break
            out.append(CryptoFrame(offset[0], bytes(payload[length[1] : length[1] + length[0]])))
            pos = length[1] + length[0]
        else:
            break
    return out


def _skip_ack(payload: bytes, pos: int, *, ecn: bool) -> int | None:
    fields = []
    for _ in range(4):  # largest acknowledged, delay, range count, first range
        got = read_varint(payload, pos)
        if got is None:
            return None
        fields.append(got[0])
        pos = got[1]
    range_count = fields[2]
    if range_count > (len(payload) - pos) // 2:  # each range needs at least two bytes
        return None
    for _ in range(2 * range_count + (3 if ecn else 0)):
        got = read_varint(payload, pos)
        if got is None:
            return None
        pos = got[1]
    return pos


# --------------------------------------------------------------------------- the assembler


class QuicInitialAssembler:
    """Rebuilds one connection's ClientHello from its client-to-server datagrams, in any order.

    Keys are tried from every DCID a client Initial carried and from any Retry's SCID (a client
    answers a Retry with Initials keyed on it), so a caller can simply feed each datagram;
    Retry packets from the server may be fed too, or announced with ``add_dcid``.  CRYPTO bytes
    are kept apart per key, since an Initial after a Retry restarts the handshake at offset 0.
    """

    MAX_CANDIDATES: Final = 8
    MAX_DATAGRAMS: Final = 64
    MAX_PENDING: Final = 8

    def __init__(self, dcid: bytes | None = None, details: bool = True) -> None:
        self.details = details
        """Parse the ClientHello in full (else only what naming needs: see tls.parse_client_hello)."""
        self.version: int | None = None
        """Version of the first client Initial decrypted."""
        self.dcid: bytes | None = dcid
        """The DCID whose keys decrypted the first client Initial (the original DCID)."""
        self.client_hello: tls.ClientHello | None = None
        self.failed = False
        """True when the CRYPTO stream proved not to start with a ClientHello."""
        self.datagrams = 0
        self._candidates: list[bytes] = [] if dcid is None else [bytes(dcid)]
        self._streams: dict[tuple[int, bytes], StreamReassembler] = {}
        self._largest_pn: dict[tuple[int, bytes], int] = {}
        self._pending: list[LongHeaderPacket] = []  # Initials no known key opened (yet)

    @property
    def done(self) -> bool:
        return self.client_hello is not None or self.failed or self.datagrams >= self.MAX_DATAGRAMS

    def add_dcid(self, dcid: bytes) -> None:
        """Derive keys from this DCID too (a Retry's SCID, or one learned elsewhere)."""
        dcid = bytes(dcid)
        if dcid not in self._candidates and len(self._candidates) < self.MAX_CANDIDATES:
            self._candidates.append(dcid)

    def feed(self, datagram: bytes, first: LongHeaderPacket | None = None) -> tls.ClientHello | None:
        """Take one datagram; returns the ClientHello once, on the datagram that completes it.

        ``first``: the datagram's first packet as ``first_initial`` cut it out."""
        if self.done:
            return None
        self.datagrams += 1
        for packet in iter_long_header_packets(bytes(datagram), first):
            if packet.kind == "retry":
                self.add_dcid(packet.scid)
            elif packet.kind == "initial":
                hello = self._take_initial(packet)
                if hello is not None:
                    return hello
        return None

    def _take_initial(
        self, packet: LongHeaderPacket, retrying: bool = False
    ) -> tls.ClientHello | None:
        self.add_dcid(packet.dcid)
        order = [packet.dcid] + [c for c in self._candidates if c != packet.dcid]
        for key_dcid in order:
            space = (packet.version, key_dcid)
            decrypted = decrypt_initial(
                packet, key_dcid, largest_pn=self._largest_pn.get(space, -1)
            )
            if decrypted is None:
                continue
            self._largest_pn[space] = max(self._largest_pn.get(space, -1), decrypted.packet_number)
            new_key = self.version is None
            if new_key:
                self.version, self.dcid = packet.version, key_dcid
            hello = self._take_frames(space, crypto_frames(decrypted.payload))
            if hello is None and new_key and not retrying:
                hello = self._retry_pending()
            return hello
        if not retrying and len(self._pending) < self.MAX_PENDING:
            # Addressed to a DCID that is not its key (the client switched to the server's
            # CID): it may open once the Initial that names the original DCID turns up.
            self._pending.append(packet)
        return None

    def _retry_pending(self) -> tls.ClientHello | None:
        pending, self._pending = self._pending, []
        for packet in pending:
            hello = self._take_initial(packet, retrying=True)
            if hello is not None or self.done:
                return hello
        return None

    def _take_frames(
        self, space: tuple[int, bytes], frames: list[CryptoFrame]
    ) -> tls.ClientHello | None:
        stream = self._streams.get(space)
        if stream is None and len(frames) == 1 and frames[0].offset == 0 and len(frames[0].data) <= MAX_CRYPTO_BYTES:
            # Most hellos come whole in the first Initial's one frame: what the reassembler
            # would hand back is that frame; it is only made if more is needed.
            result = tls.parse_client_hello_message(frames[0].data, self.details)
            if result is tls.NEED_MORE:
                self._streams[space] = StreamReassembler(limit=MAX_CRYPTO_BYTES, isn=0)
                self._streams[space].add(0, frames[0].data)
        else:
            if stream is None:
                stream = self._streams[space] = StreamReassembler(limit=MAX_CRYPTO_BYTES, isn=0)
            for frame in frames:
                if frame.offset < MAX_CRYPTO_BYTES:
                    stream.add(frame.offset, frame.data)
            result = tls.parse_client_hello_message(stream.contiguous(), self.details)
        if isinstance(result, tls.ClientHello):
            self.client_hello = result
            return result
        if result is None:
            self.failed = True
        return None


try:
    from tracecheck.dissect._quic import crypto_frames as _crypto_frames_c
    from tracecheck.dissect._quic import parse_long_header as _parse_long_header_c
    from tracecheck.dissect._quic import unprotect as _unprotect
except ImportError:  # built without a C compiler or libcrypto's headers: cryptography does it
    _unprotect = _parse_long_header_c = _crypto_frames_c = None
COMPILED = _unprotect is not None
