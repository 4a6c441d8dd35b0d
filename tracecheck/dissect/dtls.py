"""DTLS records (RFC 6347, RFC 9147): WebRTC media keys and encrypted UDP.

Enough to recognise a DTLS datagram, and to read the SNI and the use_srtp extension (which
marks WebRTC's DTLS-SRTP) from an unfragmented ClientHello.  Nothing here raises on bad
bytes; at most ``MAX_RECORDS`` records and ``MAX_EXTENSIONS`` extensions are walked.
"""

from __future__ import annotations

from dataclasses import dataclass

DTLS_VERSIONS = {0xFEFF: "1.0", 0xFEFD: "1.2", 0xFEFC: "1.3"}
CONTENT_TYPES = range(20, 26)
"""change_cipher_spec, alert, handshake, application_data, heartbeat, tls12_cid."""
MAX_RECORDS = 16
MAX_EXTENSIONS = 128
_HANDSHAKE = 22
_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_EXT_USE_SRTP = 14


@dataclass(frozen=True)
class DtlsDatagram:
    """The records of one DTLS datagram."""

    version: str
    """Record-layer version of the first record: ``1.0``, ``1.2`` or ``1.3``."""
    content_types: tuple[int, ...]
    """Content type of each record (22 handshake, 23 application data ...)."""
    client_hello: bool = False
    """True when the first record starts a ClientHello."""
    server_name: str = ""
    """SNI host name from the ClientHello, lower-case (``""`` if none or fragmented)."""
    use_srtp: bool = False
    """The ClientHello offers DTLS-SRTP (RFC 5764): WebRTC media keys."""


def _records(payload: bytes) -> list[tuple[int, int, int, int]] | None:
    """(content type, version, body offset, body length) of each record, or None."""
    records = []
    offset = 0
    size = len(payload)
    while offset < size:
        if offset + 13 > size or len(records) >= MAX_RECORDS:
            return None
        content_type = payload[offset]
        version = (payload[offset + 1] << 8) | payload[offset + 2]
        length = (payload[offset + 11] << 8) | payload[offset + 12]
        if content_type not in CONTENT_TYPES or version not in DTLS_VERSIONS:
            return None
        if offset + 13 + length > size:
            return None
        records.append((content_type, version, offset + 13, length))
        offset += 13 + length
    return records or None


def looks_like_dtls(payload: bytes) -> bool:
    """True when the datagram is a whole number of DTLS records (plaintext record header)."""
    return _records(payload) is not None


def _client_hello_extensions(body: bytes) -> tuple[str, bool]:
    """(SNI, use_srtp) from a ClientHello body (after the 12-byte handshake header)."""
    # client_version(2) random(32) session_id<1> cookie<1> cipher_suites<2> compression<1>
    offset = 34
    for width in (1, 1, 2, 1):
        if offset + width > len(body):
            return "", False
        offset += width + int.from_bytes(body[offset : offset + width], "big")
    if offset + 2 > len(body):
        return "", False
    end = min(len(body), offset + 2 + ((body[offset] << 8) | body[offset + 1]))
    offset += 2
    server_name, use_srtp = "", False
    for _ in range(MAX_EXTENSIONS):
        if offset + 4 > end:
            break
        ext_type = (body[offset] << 8) | body[offset + 1]
        ext_length = (body[offset + 2] << 8) | body[offset + 3]
        value = body[offset + 4 : min(end, offset + 4 + ext_length)]
        offset += 4 + ext_length
        if ext_type == _EXT_USE_SRTP:
            use_srtp = True
        elif ext_type == _EXT_SERVER_NAME and len(value) >= 5 and value[2] == 0:
            name_length = (value[3] << 8) | value[4]
            name = value[5 : 5 + name_length]
            if (
                len(name) == name_length
                and name.isascii()
                and name.decode().isprintable()
            ):
                server_name = name.decode("ascii").lower().rstrip(".")
    return server_name, use_srtp


def parse_dtls(payload: bytes) -> DtlsDatagram | None:
    """Decode the record headers of a DTLS datagram, and its ClientHello if it starts one."""
    data = bytes(payload)
    records = _records(data)
    if records is None:
        return None
    content_type, version, body_at, length = records[0]
    client_hello = False
    server_name, use_srtp = "", False
    # handshake header: type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)
    if content_type == _HANDSHAKE and length >= 12 and data[body_at] == _CLIENT_HELLO:
        client_hello = True
        fragment_offset = int.from_bytes(data[body_at + 6 : body_at + 9], "big")
        fragment_length = int.from_bytes(data[body_at + 9 : body_at + 12], "big")
        if fragment_offset == 0:
            body = data[body_at + 12 : body_at + 12 + min(fragment_length, length - 12)]
            server_name, use_srtp = _client_hello_extensions(body)
    return DtlsDatagram(
        version=DTLS_VERSIONS[version],
        content_types=tuple(r[0] for r in records),
        client_hello=client_hello,
        server_name=server_name,
        use_srtp=use_srtp,
    )
