"""SDP offers and answers (RFC 8866): where a call's media is meant to flow.

Only the network facts are kept (``c=``, ``m=``, ``a=rtcp``, ``a=rtcp-mux``, ICE candidates,
direction); names, user fields and keys in the body (``o=``, ``s=``, ``a=crypto`` ...) are
dropped, since they can carry personal data.  Bounded: at most ``MAX_SDP`` bytes and
``MAX_LINES`` lines are read, and a few hundred media sections and candidates are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracecheck.dissect._wire import canonical_ip, parse_port, small_int

MAX_SDP = 65536
MAX_LINES = 2000
MAX_MEDIA = 64
MAX_CANDIDATES = 256
_DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


@dataclass(frozen=True)
class IceCandidate:
    """One ``a=candidate:`` line (RFC 8839): an address a peer offers for media."""

    address: str
    """Canonical IP text (candidates with mDNS ``.local`` names are not kept)."""
    port: int
    component: int
    """1 for RTP, 2 for RTCP."""
    transport: str
    """``udp`` or ``tcp``, lower-case."""
    type: str
    """``host``, ``srflx`` (NAT mapping), ``prflx``, or ``relay`` (a TURN server)."""


@dataclass(frozen=True)
class SdpMedia:
    """One ``m=`` section."""

    media: str
    """``audio``, ``video``, ``image``, ``application`` ..."""
    port: int
    """Transport port; 0 means the stream was rejected or disabled."""
    port_count: int
    """Ports used from ``port`` upwards (``m=audio 49170/2``), normally 1."""
    proto: str
    """``RTP/AVP``, ``RTP/SAVP``, ``UDP/TLS/RTP/SAVPF``, ``udptl`` ..."""
    payload_types: tuple[int, ...]
    """The numeric formats (RTP payload types); non-numeric formats are not listed."""
    address: str | None
    """Media-level ``c=`` address, canonical text; None means the session's applies."""
    rtcp_port: int | None = None
    """``a=rtcp:`` port (RFC 3605), when RTCP does not use port + 1."""
    rtcp_address: str | None = None
    """``a=rtcp:`` address, when given."""
    rtcp_mux: bool = False
    """``a=rtcp-mux``: RTCP shares the RTP port."""
    direction: str = ""
    """``sendrecv``, ``sendonly``, ``recvonly``, ``inactive``, or ``""`` if not said here."""
    candidates: tuple[IceCandidate, ...] = ()

    @property
    def is_rtp(self) -> bool:
        """True for RTP profiles (``RTP/AVP``, ``RTP/SAVPF``, ``UDP/TLS/RTP/SAVPF`` ...)."""
        return "RTP/" in self.proto.upper()

    @property
    def is_srtp(self) -> bool:
        """True when the profile is secure RTP (SAVP / SAVPF)."""
        return "SAVP" in self.proto.upper()


@dataclass(frozen=True)
class Sdp:
    """The network facts of one session description."""

    address: str | None
    """Session-level ``c=`` address, canonical text (multicast TTL/count suffix removed)."""
    media: tuple[SdpMedia, ...]
    direction: str = ""
    """Session-level direction attribute, if any."""

    def address_for(self, media: SdpMedia) -> str | None:
        """Where ``media`` is to be sent: its own ``c=`` if any, else the session's."""
        return media.address if media.address is not None else self.address


@dataclass(frozen=True)
class MediaEndpoint:
    """An address and port where a peer said it expects RTP, RTCP or other media."""

    ip: str
    port: int
    kind: str
    """``rtp``, ``rtcp``, or ``other`` (non-RTP media such as T.38 ``udptl``)."""
    media: str
    """The ``m=`` media type (``audio``, ``video`` ...)."""
    srtp: bool
    """True when the SDP asked for secure RTP: the stream will look like RTP but be SRTP."""
    source: str
    """``c-line`` or ``candidate:<type>`` (host, srflx, prflx, relay)."""


def _connection_address(value: str) -> str | None:
    # "IN IP4 203.0.113.1" or "IN IP4 224.2.1.1/127/3" (multicast TTL and count)
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        return None
    return canonical_ip(parts[2].split("/", 1)[0])


def _candidate(value: str) -> IceCandidate | None:
    # foundation component transport priority address port "typ" type [extensions]
    parts = value.split(None, 9)
    if len(parts) < 8 or parts[6] != "typ":
        return None
    component = small_int(parts[1], 256)
    address = canonical_ip(parts[4])
    port = parse_port(parts[5])
    if component is None or address is None or port is None:
        return None
    return IceCandidate(
        address, port, component, parts[2].lower()[:8], parts[7].lower()[:8]
    )


class _MediaBuilder:
    __slots__ = ("candidates", "fields")

    def __init__(self, fields: dict) -> None:
        self.fields = fields
        self.candidates: list[IceCandidate] = []

    def build(self) -> SdpMedia:
        return SdpMedia(candidates=tuple(self.candidates), **self.fields)


def _media_line(value: str) -> _MediaBuilder | None:
    parts = value.split()
    if len(parts) < 3:
        return None
    port_text, _, count_text = parts[1].partition("/")
    port = parse_port(port_text)
    count = parse_port(count_text) if count_text else 1
    if port is None or not count:
        return None
    numbers = (small_int(f, 127) for f in parts[3:64])
    payload_types = tuple(n for n in numbers if n is not None)
    return _MediaBuilder(
        {
            "media": parts[0].lower()[:32],
            "port": port,
            "port_count": min(count, 64),
            "proto": parts[2][:40],
            "payload_types": payload_types,
            "address": None,
        }
    )


def parse_sdp(body: bytes) -> Sdp | None:
    """Read a session description; None unless it starts like SDP (``v=0``).

    Malformed lines are skipped, so a damaged description still yields what is readable.
    """
    text = bytes(body[:MAX_SDP]).decode("utf-8", "replace")
    if not text.lstrip().startswith("v="):
        return None
    session_address: str | None = None
    session_direction = ""
    media: list[_MediaBuilder] = []
    current: _MediaBuilder | None = None
    for raw_line in text.splitlines()[:MAX_LINES]:
        line = raw_line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            current = _media_line(value) if len(media) < MAX_MEDIA else None
            if current is not None:
                media.append(current)
            continue
        if kind == "c":
            address = _connection_address(value)
            if current is None:
                session_address = session_address or address
            elif address is not None and current.fields["address"] is None:
                current.fields["address"] = address
            continue
        if kind != "a":
            continue
        name, _, attr_value = value.partition(":")
        if name in _DIRECTIONS:
            if current is None:
                session_direction = name
            else:
                current.fields["direction"] = name
        elif current is None:
            continue
        elif name == "rtcp-mux":
            current.fields["rtcp_mux"] = True
        elif name == "rtcp":
            parts = attr_value.split()
            port = parse_port(parts[0]) if parts else None
            if port is not None:
                current.fields["rtcp_port"] = port
                if len(parts) == 4:
                    current.fields["rtcp_address"] = _connection_address(
                        " ".join(parts[1:])
                    )
        elif name == "candidate" and len(current.candidates) < MAX_CANDIDATES:
            candidate = _candidate(attr_value)
            if candidate is not None:
                current.candidates.append(candidate)
    return Sdp(session_address, tuple(m.build() for m in media), session_direction)


def _unspecified(ip: str) -> bool:
    return ip in ("0.0.0.0", "::")  # RFC 3264 hold: "do not send here"


def expected_media(sdp: Sdp) -> list[MediaEndpoint]:
    """Every (ip, port) where this side said media should arrive, de-duplicated, in order.

    Rejected streams (port 0) and held ones (``c=`` 0.0.0.0) are left out.  RTCP goes to
    ``a=rtcp`` or port + 1 unless ``a=rtcp-mux`` puts it on the RTP port (then only the RTP
    endpoint is listed).  UDP ICE candidates add endpoints: component 1 RTP, 2 RTCP.
    """
    found: dict[tuple[str, int, str], MediaEndpoint] = {}

    def add(ip: str | None, port: int, kind: str, m: SdpMedia, source: str) -> None:
        if ip is None or _unspecified(ip) or not 0 < port <= 65535:
            return
        found.setdefault(
            (ip, port, kind), MediaEndpoint(ip, port, kind, m.media, m.is_srtp, source)
        )

    for m in sdp.media:
        if m.port == 0:
            continue
        address = sdp.address_for(m)
        rtp_kind = "rtp" if m.is_rtp else "other"
        for index in range(m.port_count):
            step = 2 if m.is_rtp else 1  # RFC 8866 5.14: RTP port ranges step by two
            add(address, m.port + index * step, rtp_kind, m, "c-line")
            if m.is_rtp and not m.rtcp_mux:
                if index == 0 and m.rtcp_port is not None:
                    add(m.rtcp_address or address, m.rtcp_port, "rtcp", m, "c-line")
                else:
                    add(address, m.port + index * step + 1, "rtcp", m, "c-line")
        for candidate in m.candidates:
            if candidate.transport != "udp":
                continue
            kind = "rtcp" if candidate.component == 2 and m.is_rtp else rtp_kind
            add(
                candidate.address,
                candidate.port,
                kind,
                m,
                "candidate:" + candidate.type,
            )
    return list(found.values())
