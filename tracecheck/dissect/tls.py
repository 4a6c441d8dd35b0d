"""TLS ClientHello (and ServerHello) from the first bytes of a TCP stream or a QUIC CRYPTO stream.

What tracecheck wants from a ClientHello is who the client meant to reach (SNI), what it meant
to speak (ALPN), and whether the SNI may only be an ECH public name.  The parser is strict about
structure it needs and lenient about the rest: a broken extension ends the extension walk but
keeps what was read before it.  Nothing here raises on malformed input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np

CONTENT_HANDSHAKE: Final = 22
HANDSHAKE_CLIENT_HELLO: Final = 1
HANDSHAKE_SERVER_HELLO: Final = 2

EXT_SERVER_NAME: Final = 0x0000
EXT_ALPN: Final = 0x0010
EXT_SUPPORTED_VERSIONS: Final = 0x002B
EXT_ENCRYPTED_CLIENT_HELLO: Final = 0xFE0D
EXT_ENCRYPTED_SERVER_NAME: Final = 0xFFCE  # ESNI drafts, ECH's predecessor: same meaning for us
_WANTED = frozenset((EXT_SERVER_NAME, EXT_ALPN, EXT_SUPPORTED_VERSIONS, EXT_ENCRYPTED_CLIENT_HELLO, EXT_ENCRYPTED_SERVER_NAME))
_NAMING = frozenset((EXT_SERVER_NAME, EXT_ALPN, EXT_ENCRYPTED_CLIENT_HELLO, EXT_ENCRYPTED_SERVER_NAME))  # details=False
DOT_ALPN: Final = "dot"
"""ALPN of DNS over TLS (RFC 7858, IANA's ALPN registry): the one protocol naming reads."""
_DOT_ONLY: Final = (DOT_ALPN,)

MAX_RECORD_LEN: Final = 16384 + 2048  # TLSCiphertext bound; plaintext handshake is smaller
MAX_HELLO_LEN: Final = 64 * 1024  # post-quantum hellos are ~2 KiB; anything this big is junk
MAX_NAME_LEN: Final = 255
MAX_LIST_ITEMS: Final = 64

# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
_HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)


class _NeedMore:
    """The bytes so far are a valid beginning; feed more and ask again."""

    _instance: _NeedMore | None = None

    def __new__(cls) -> _NeedMore:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_MORE"

    def __bool__(self) -> bool:  # so `if result:` only passes for a real hello
        return False


NEED_MORE: Final = _NeedMore()


class ClientHello(NamedTuple):
    """What a ClientHello says about where the client is going (a NamedTuple: one is made
    for every TLS and QUIC flow, and a frozen dataclass costs several times as much)."""

    sni: str
    """First host_name in server_name, lower-case, no trailing dot; ``""`` when absent."""
    alpn: tuple[str, ...]
    """Protocols offered in application_layer_protocol_negotiation, in order (``details=False``:
    only ``("dot",)`` when DNS over TLS is offered, else empty)."""
    ech: bool
    """encrypted_client_hello (or ESNI) present: ``sni`` is then only the public (outer) name.
    GREASE ECH, which Chrome sends to every server, cannot be told apart on the wire."""
    versions: tuple[int, ...]
    """supported_versions, in order, GREASE values included (``0x0304`` is TLS 1.3)."""
    legacy_version: int
    """ClientHello.legacy_version (``0x0303`` for TLS 1.2 and 1.3)."""
    cipher_suites: tuple[int, ...] = ()
    extensions: tuple[int, ...] = ()
    """Extension types in wire order (for fingerprints such as JA3/JA4)."""


@dataclass(frozen=True)
class ServerHello:
    legacy_version: int
    cipher_suite: int
    selected_version: int | None
    """From supported_versions: ``0x0304`` for TLS 1.3, else None (legacy_version applies)."""
    alpn: str = ""
    """Negotiated ALPN when sent in the clear (TLS 1.2; TLS 1.3 encrypts it)."""
    hello_retry_request: bool = False


def looks_like_tls(data: bytes) -> bool:
    """Cheap test: does ``data`` start like a TLS record (any content type, SSL 3.0 to TLS 1.3)?"""
    if len(data) < 5 or data[0] not in (20, 21, 22, 23, 24) or data[1] != 3 or data[2] > 4:
        return False
    length = (data[3] << 8) | data[4]
    if not 0 < length <= MAX_RECORD_LEN:
        return False
    # A handshake record must open with a known hello/handshake type.
    return (
        data[0] != CONTENT_HANDSHAKE
        or len(data) < 6
        or data[5] in (1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20)
    )


def parse_client_hello(data: bytes, details: bool = True) -> ClientHello | None | _NeedMore:
    """Parse the ClientHello at the start of a client's TLS record stream.

    The hello may span several records and any number of TCP segments.  Returns NEED_MORE
    while ``data`` is a valid but incomplete prefix, None when it is not a ClientHello.
    ``details=False`` reads only what naming needs (``sni``, ``ech``, ``legacy_version``, and
    whether ALPN offers ``dot``: DNS over TLS on any port) and leaves the rest of ALPN, versions,
    cipher suites and extension types empty: about half the work.
    """
    if not details and COMPILED:
        return _compiled_naming(data, True)
    message = _handshake_from_records(bytes(data), HANDSHAKE_CLIENT_HELLO)
    if message is None or message is NEED_MORE:
        return message
    return parse_client_hello_message(message, details)


def name_client_hellos(data: bytes, starts: np.ndarray, ends: np.ndarray) -> list[ClientHello | None | _NeedMore]:
    """``parse_client_hello(data[start:end], details=False)`` for every slice: a batch's
    hellos in one call (one per TLS flow: the per-call work is most of it otherwise)."""
    if not COMPILED:
        return [parse_client_hello(data[a:b], details=False) for a, b in zip(starts.tolist(), ends.tolist())]
    found = _client_hello_namings(data, np.ascontiguousarray(starts, dtype=np.int64),
                                  np.ascontiguousarray(ends, dtype=np.int64))
    return [ClientHello(one[1], _DOT_ONLY if one[3] else (), one[2], (), one[0]) if type(one) is tuple
            else (NEED_MORE if one else None) for one in found]


def parse_server_hello(data: bytes) -> ServerHello | None | _NeedMore:
    """Parse the ServerHello at the start of a server's TLS record stream."""
    message = _handshake_from_records(bytes(data), HANDSHAKE_SERVER_HELLO)
    if message is None or message is NEED_MORE:
        return message
    return _parse_server_hello_body(message[4:])


def handshake_message_length(data: bytes) -> int | None:
    """Total length (header included) of the handshake message ``data`` starts with, if known."""
    if len(data) < 4:
        return None
    return 4 + ((data[1] << 16) | (data[2] << 8) | data[3])


def parse_client_hello_message(msg: bytes, details: bool = True) -> ClientHello | None | _NeedMore:
    """Parse a bare handshake message (type, 24-bit length, body) as QUIC's CRYPTO stream has
    it (``details`` as for ``parse_client_hello``)."""
    if not details and COMPILED:
        return _compiled_naming(msg, False)
    if not msg:
        return NEED_MORE
    if msg[0] != HANDSHAKE_CLIENT_HELLO:
        return None
    total = handshake_message_length(msg)
    if total is None:
        return NEED_MORE
    if total > MAX_HELLO_LEN:
        return None
    if len(msg) < total:
        return NEED_MORE
    try:
        return _parse_client_hello_body(memoryview(msg)[4:total], details)
    except (IndexError, ValueError, struct.error):
        return None


# --------------------------------------------------------------------------- internals


def _compiled_naming(data: bytes, records: bool) -> ClientHello | None | _NeedMore:
    """``details=False`` through ``_tls.c``: the same fields, read in C (a hello per flow)."""
    found = _client_hello_naming(data, records)
    if isinstance(found, int):  # 0 or 1: not a ClientHello, or not whole yet
        return NEED_MORE if found else None
    legacy_version, sni, ech, dot = found
    return ClientHello(sni=sni, alpn=_DOT_ONLY if dot else (), ech=ech, versions=(), legacy_version=legacy_version)


def _handshake_from_records(data: bytes, want_type: int) -> bytes | None | _NeedMore:
    """Concatenate handshake-record fragments until the first handshake message is whole."""
    if not data:
        return NEED_MORE
    if data[0] != CONTENT_HANDSHAKE:
        return None
    if len(data) >= 2 and data[1] != 3:
        return None
    fragments = bytearray()
    pos = 0
    while True:
        if len(data) - pos < 5:
            return _header_prefix_ok(data[pos:])
        ctype, major, length = data[pos], data[pos + 1], (data[pos + 3] << 8) | data[pos + 4]
        if ctype != CONTENT_HANDSHAKE or major != 3 or length > MAX_RECORD_LEN:
            return None
        fragments += data[pos + 5 : pos + 5 + length]
        if fragments and fragments[0] != want_type:
            return None
        total = handshake_message_length(fragments)
        if total is not None:
            if total > MAX_HELLO_LEN:
                return None
            if len(fragments) >= total:
                return bytes(fragments[:total])
        if pos + 5 + length > len(data):
            return NEED_MORE
        pos += 5 + length


def _header_prefix_ok(head: bytes) -> None | _NeedMore:
    """A record header cut short: is what is there consistent with a handshake record?"""
    if head and head[0] != CONTENT_HANDSHAKE:
        return None
    if len(head) >= 2 and head[1] != 3:
        return None
    return NEED_MORE


class _Reader:
    """Bounds-checked cursor over a buffer; running off the end raises IndexError."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos, self.end = buf, 0, len(buf)

    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > self.end:
            raise IndexError("short buffer")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        b = self.take(2)
        return (b[0] << 8) | b[1]

    def vector(self, len_bytes: int) -> memoryview:
        n = self.u8() if len_bytes == 1 else self.u16()
        return self.take(n)


_TYPE_LENGTH = struct.Struct(">HH").unpack_from


def _vector(b: bytes, pos: int, end: int, len_bytes: int) -> tuple[int, int]:
    """Where the vector at ``pos`` (a 1- or 2-byte length, then that many bytes) starts and
    ends; IndexError if it runs past ``end``."""
    if pos + len_bytes > end:
        raise IndexError("short buffer")
    size = b[pos] if len_bytes == 1 else (b[pos] << 8) | b[pos + 1]
    start = pos + len_bytes
    if start + size > end:
        raise IndexError("short buffer")
    return start, start + size


# The ClientHello is parsed with plain indexes into one bytes object rather than a reader
# object: it runs once per TLS and QUIC flow, and method calls per field were most of its cost.
def _parse_client_hello_body(body: memoryview, details: bool = True) -> ClientHello:
    b = bytes(body)
    end = len(b)
    if end < 34:
        raise IndexError("short buffer")
    legacy_version = (b[0] << 8) | b[1]
    _, pos = _vector(b, 34, end, 1)  # after the random: legacy_session_id
    start, pos = _vector(b, pos, end, 2)
    suites = struct.unpack_from(f">{(pos - start) // 2}H", b, start) if details else ()
    _, pos = _vector(b, pos, end, 1)  # legacy_compression_methods
    sni, alpn, versions, ext_types, ech = "", (), (), [], False
    walked = 0
    if end - pos >= 2:
        stop = min(pos + 2 + ((b[pos] << 8) | b[pos + 1]), end)  # a block cut short keeps what is there
        pos += 2
        wanted = _WANTED if details else _NAMING
        # Extensions are (type, length, data): the hot loop here.
        while pos + 4 <= stop and walked < 4 * MAX_LIST_ITEMS:
            etype, size = _TYPE_LENGTH(b, pos)
            walked += 1
            if details:
                ext_types.append(etype)
            pos += 4
            if pos + size > stop:
                break
            if etype in wanted:
                try:
                    if etype == EXT_SERVER_NAME and not sni:
                        sni = _server_name(b, pos, pos + size)
                    elif etype == EXT_ALPN and not alpn:
                        alpn = _alpn_list(b, pos, pos + size)
                        if not details:  # naming wants only DNS over TLS from it
                            alpn = _DOT_ONLY if DOT_ALPN in alpn else ()
                    elif etype == EXT_SUPPORTED_VERSIONS and not versions:
                        versions = _client_versions(b, pos, pos + size)
                    elif etype in (EXT_ENCRYPTED_CLIENT_HELLO, EXT_ENCRYPTED_SERVER_NAME):
                        ech = True
                except IndexError:  # one bad extension spoils only itself
                    pass
            pos += size
    return ClientHello(
        sni=sni,
        alpn=alpn,
        ech=ech,
        versions=versions,
        legacy_version=legacy_version,
        cipher_suites=suites,
        extensions=tuple(ext_types),
    )


def _text(raw) -> str:
    """Wire bytes as text: ASCII as is, anything else escaped so it is visible, never lost."""
    return bytes(raw).decode("ascii", "backslashreplace")


def _server_name(b: bytes, pos: int, end: int) -> str:
    pos, end = _vector(b, pos, end, 2)  # server_name_list
    while end - pos >= 3:
        name_type = b[pos]
        start, pos = _vector(b, pos + 1, end, 2)
        if name_type == 0 and 0 < pos - start <= MAX_NAME_LEN:
            return _text(b[start:pos]).lower().rstrip(".")
    return ""


def _alpn_list(b: bytes, pos: int, end: int) -> tuple[str, ...]:
    pos, end = _vector(b, pos, end, 2)  # protocol_name_list
    out: list[str] = []
    while pos < end and len(out) < MAX_LIST_ITEMS:
        start, pos = _vector(b, pos, end, 1)
        out.append(_text(b[start:pos]))
    return tuple(out)


def _client_versions(b: bytes, pos: int, end: int) -> tuple[int, ...]:
    start, stop = _vector(b, pos, end, 1)
    count = min((stop - start) // 2, MAX_LIST_ITEMS)
    return struct.unpack_from(f">{count}H", b, start)


def _parse_server_hello_body(body: bytes) -> ServerHello | None:
    try:
        r = _Reader(memoryview(body))
        legacy_version = r.u16()
        random = bytes(r.take(32))
        r.vector(1)  # legacy_session_id_echo
        cipher_suite = r.u16()
        r.u8()  # compression
        selected, alpn = None, ""
        if r.left() >= 2:
            ext = _Reader(r.vector(2))
            while ext.left() >= 4:
                etype, edata = ext.u16(), ext.vector(2)
                if etype == EXT_SUPPORTED_VERSIONS and len(edata) == 2:
                    selected = (edata[0] << 8) | edata[1]
                elif etype == EXT_ALPN:
                    names = _alpn_list(bytes(edata), 0, len(edata))
                    alpn = names[0] if names else ""
    except (IndexError, struct.error):
        return None
    return ServerHello(
        legacy_version=legacy_version,
        cipher_suite=cipher_suite,
        selected_version=selected,
        alpn=alpn,
        hello_retry_request=random == _HRR_RANDOM,
    )


try:
    from tracecheck.dissect._tls import client_hello_naming as _client_hello_naming
    from tracecheck.dissect._tls import client_hello_namings as _client_hello_namings
    COMPILED = True
except ImportError:  # built without a C compiler: the Python above does it all
    COMPILED = False
