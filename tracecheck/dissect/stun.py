"""STUN and TURN (RFC 5389/8489, RFC 8656; classic RFC 3489): who the media really goes to.

A WebRTC or softphone call behind NAT shows its media going to a TURN server; the relay's
XOR-PEER-ADDRESS names the real far end, and XOR-MAPPED-ADDRESS the public address the
client was seen from.  USERNAME is a credential and is only ever returned masked.
Nothing here raises on bad bytes; at most ``MAX_ATTRIBUTES`` attributes are read.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracecheck.dissect._wire import ipv4_text, ipv6_text, masked_token

MAGIC_COOKIE = 0x2112A442
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
MAX_ATTRIBUTES = 64
_MAX_TEXT = 256

METHODS = {
    0x001: "binding",
    0x002: "shared_secret",
    0x003: "allocate",
    0x004: "refresh",
    0x006: "send",
    0x007: "data",
    0x008: "create_permission",
    0x009: "channel_bind",
    0x00A: "connect",
    0x00B: "connection_bind",
    0x00C: "connection_attempt",
}
CLASSES = ("request", "indication", "success", "error")

ADDRESS_ATTRIBUTES = {
    0x0001: "mapped",
    0x0002: "response",
    0x0004: "source",
    0x0005: "changed",
    0x0012: "xor_peer",
    0x0016: "xor_relayed",
    0x0020: "xor_mapped",
    0x8020: "xor_mapped",
    0x8023: "alternate_server",
    0x802B: "response_origin",
    0x802C: "other",
}
"""Attributes holding an address, by the name ``StunAddress.kind`` gives them."""
_XOR_ATTRIBUTES = frozenset({0x0012, 0x0016, 0x0020, 0x8020})
_USERNAME, _ERROR_CODE, _LIFETIME, _REALM, _SOFTWARE = (
    0x0006,
    0x0009,
    0x000D,
    0x0014,
    0x8022,
)
_CHANNEL_NUMBER, _MESSAGE_INTEGRITY, _FINGERPRINT = 0x000C, 0x0008, 0x8028
_CLASSIC_ATTRIBUTES = frozenset(range(0x0001, 0x000C)) | {0x8020, 0x8022}
_CLASSIC_TYPES = frozenset({0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112})


@dataclass(frozen=True)
class StunAddress:
    """One address attribute, decoded (XOR undone)."""

    kind: str
    """``xor_mapped`` (public address of the client), ``xor_relayed`` (address the TURN
    server allocated), ``xor_peer`` (the far end behind the relay), ``mapped``,
    ``alternate_server``, ``response_origin``, ``other``, ``source``, ``changed`` ..."""
    ip: str
    port: int
    family: int
    """4 or 6."""


@dataclass(frozen=True)
class StunMessage:
    """A STUN/TURN message with the attributes that name places."""

    method: str
    """``binding``, ``allocate``, ``refresh``, ``send``, ``data``, ``create_permission``,
    ``channel_bind`` ... or ``0x...`` for unknown methods."""
    message_class: str
    """``request``, ``indication``, ``success`` or ``error``."""
    transaction_id: str
    """Hex of the 12-byte transaction id (16 bytes for classic STUN)."""
    classic: bool
    """True for RFC 3489 messages without the magic cookie."""
    addresses: tuple[StunAddress, ...] = ()
    username: str = ""
    """USERNAME masked (``***`` or a keyed hash); ``""`` when absent."""
    software: str = ""
    realm: str = ""
    error_code: int | None = None
    lifetime: int | None = None
    channel_number: int | None = None
    has_integrity: bool = False
    has_fingerprint: bool = False
    attribute_types: tuple[int, ...] = ()
    """Every attribute type present, in order (up to ``MAX_ATTRIBUTES``)."""

    def addresses_of(self, kind: str) -> tuple[StunAddress, ...]:
        return tuple(a for a in self.addresses if a.kind == kind)

    @property
    def mapped(self) -> tuple[StunAddress, ...]:
        """Reflexive addresses: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS."""
        return self.addresses_of("xor_mapped") or self.addresses_of("mapped")

    @property
    def relayed(self) -> tuple[StunAddress, ...]:
        """XOR-RELAYED-ADDRESS: the TURN server's allocation for the client."""
        return self.addresses_of("xor_relayed")

    @property
    def peers(self) -> tuple[StunAddress, ...]:
        """XOR-PEER-ADDRESS: the real media peers behind a TURN relay."""
        return self.addresses_of("xor_peer")


@dataclass(frozen=True)
class ChannelData:
    """A TURN ChannelData message (RFC 8656 12.4): application data relayed on a channel."""

    channel: int
    """0x4000..0x7FFF (0x4000..0x4FFF since RFC 8656)."""
    length: int
    """Bytes of application data after the 4-byte header."""


def _address(
    attr_type: int, value: bytes, transaction_id: bytes, cookie: bool
) -> StunAddress | None:
    if len(value) < 8 or value[0] != 0:
        return None
    family = value[1]
    port = (value[2] << 8) | value[3]
    xor = attr_type in _XOR_ATTRIBUTES and cookie
    if xor:
        port ^= MAGIC_COOKIE >> 16
    if family == 1 and len(value) == 8:
        raw = value[4:8]
        if xor:
            raw = bytes(a ^ b for a, b in zip(raw, _COOKIE_BYTES))
        return StunAddress(ADDRESS_ATTRIBUTES[attr_type], ipv4_text(raw), port, 4)
    if family == 2 and len(value) == 20:
        raw = value[4:20]
        if xor:
            raw = bytes(a ^ b for a, b in zip(raw, _COOKIE_BYTES + transaction_id))
        return StunAddress(ADDRESS_ATTRIBUTES[attr_type], ipv6_text(raw), port, 6)
    return None


def _text(value: bytes) -> str:
    text = value[:_MAX_TEXT].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)


def parse_stun(payload: bytes, mask_key: bytes | None = None) -> StunMessage | None:
    """Decode a STUN message (UDP datagram, or one message at the start of a TCP stream).

    Returns None unless the header is consistent: top two bits zero, a length that fits, and
    either the magic cookie or (classic STUN) a Binding/Shared-Secret type, a length that is
    a multiple of 4, and attributes that exactly fill the message.  ``mask_key`` keys the USERNAME hash.
    """
    data = bytes(payload)
    if len(data) < 20 or data[0] & 0xC0:
        return None
    message_type = (data[0] << 8) | data[1]
    length = (data[2] << 8) | data[3]
    end = 20 + length
    if end > len(data):
        return None
    cookie = data[4:8] == _COOKIE_BYTES
    # WhatsApp sends cookie-bearing messages whose length is not a multiple of 4; the
    # cookie is evidence enough, so only classic STUN is held to the rule.
    if not cookie and (
        message_type not in _CLASSIC_TYPES or end != len(data) or length & 3
    ):
        return None
    transaction_id = data[8:20] if cookie else data[4:20]
    method_bits = (
        (message_type & 0x000F)
        | ((message_type & 0x00E0) >> 1)
        | ((message_type & 0x3E00) >> 2)
    )
    class_bits = ((message_type & 0x0010) >> 4) | ((message_type & 0x0100) >> 7)
    fields: dict = {}
    addresses: list[StunAddress] = []
    types: list[int] = []
    offset = 20
    while offset + 4 <= end and len(types) < MAX_ATTRIBUTES:
        attr_type = (data[offset] << 8) | data[offset + 1]
        attr_length = (data[offset + 2] << 8) | data[offset + 3]
        value = data[offset + 4 : offset + 4 + attr_length]
        if offset + 4 + attr_length > end:
            return None  # an attribute overrunning the message: not STUN
        if not cookie and attr_type not in _CLASSIC_ATTRIBUTES:
            return None
        types.append(attr_type)
        offset += 4 + ((attr_length + 3) & ~3)
        if attr_type in ADDRESS_ATTRIBUTES:
            address = _address(attr_type, value, transaction_id, cookie)
            if address is not None:
                addresses.append(address)
        elif attr_type == _USERNAME:
            fields["username"] = masked_token(
                value.decode("utf-8", "replace"), mask_key, "u-"
            )
        elif attr_type == _SOFTWARE:
            fields["software"] = _text(value)
        elif attr_type == _REALM:
            fields["realm"] = _text(value)
        elif attr_type == _ERROR_CODE and len(value) >= 4:
            fields["error_code"] = (value[2] & 0x07) * 100 + value[3]
        elif attr_type == _LIFETIME and len(value) == 4:
            fields["lifetime"] = int.from_bytes(value, "big")
        elif attr_type == _CHANNEL_NUMBER and len(value) == 4:
            fields["channel_number"] = (value[0] << 8) | value[1]
        elif attr_type == _MESSAGE_INTEGRITY:
            fields["has_integrity"] = True
        elif attr_type == _FINGERPRINT:
            fields["has_fingerprint"] = True
    if not cookie and offset != end:
        return None
    return StunMessage(
        method=METHODS.get(method_bits, f"0x{method_bits:03x}"),
        message_class=CLASSES[class_bits],
        transaction_id=transaction_id.hex(),
        classic=not cookie,
        addresses=tuple(addresses),
        attribute_types=tuple(types),
        **fields,
    )


def parse_channel_data(payload: bytes) -> ChannelData | None:
    """Decode a TURN ChannelData header; None unless the length fits the datagram.

    Over UDP the data may be followed by up to 3 bytes of padding.  The first byte range
    (0x40-0x7F) is shared with QUIC short headers, so a flow should show several of these.
    """
    if len(payload) < 4:
        return None
    channel = (payload[0] << 8) | payload[1]
    length = (payload[2] << 8) | payload[3]
    if not 0x4000 <= channel <= 0x7FFF or not 0 <= len(payload) - 4 - length <= 3:
        return None
    return ChannelData(channel, length)


def channel_data_payload(payload: bytes) -> bytes:
    """The relayed application data of a ChannelData message (often RTP, RTCP or DTLS)."""
    data = parse_channel_data(payload)
    return bytes(payload[4 : 4 + data.length]) if data else b""


def stun_message_length(stream: bytes) -> int | None:
    """Bytes the STUN message or ChannelData at the start of a TCP stream will take, if known.

    Over TCP ChannelData is padded to a multiple of 4 (RFC 8656 12.5).
    """
    if len(stream) < 4:
        return None
    first = stream[0]
    length = (stream[2] << 8) | stream[3]
    if first & 0xC0 == 0:
        return 20 + length
    if 0x40 <= first <= 0x7F:
        return 4 + ((length + 3) & ~3)
    return None
