"""RTP and RTCP (RFC 3550) recognised on UDP flows that nothing else claimed.

RTP has no magic number, so one packet proves nothing: ``RtpStreamDetector`` watches a flow
and says ``rtp`` only after several packets share one SSRC with small forward sequence steps
and non-decreasing timestamps.  SRTP keeps the RTP header in the clear, so it is recognised
the same way; only the SDP (``RTP/SAVP``) tells them apart.  Nothing here raises on bad bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

RTCP_PACKET_TYPES = range(192, 214)
"""RTCP packet types that may follow the first (FIR/NACK 192-195, SR 200 ... SNM 213)."""
RTCP_FIRST_TYPES = range(200, 208)
"""Packet types a compound RTCP packet may start with (SR, RR, SDES, BYE, APP, feedback, XR)."""
MAX_RTCP_PACKETS = 32
_SRTCP_TRAILERS = (4, 8, 14, 16, 20)
"""SRTCP E-flag/index word plus an authentication tag of 0, 4, 10, 12 or 16 bytes."""
_PLAUSIBLE_TYPES = frozenset(range(35)) | frozenset(range(96, 128))
"""RFC 3551 static types and the dynamic range; 35-95 are unassigned or clash with RTCP."""


@dataclass(frozen=True)
class RtpHeader:
    """The fixed RTP header and the lengths around it."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    csrc_count: int
    header_length: int
    """Bytes before the payload: 12 + CSRCs + extension."""
    payload_length: int
    """Payload bytes after the header, padding removed."""
    has_extension: bool = False
    padding: int = 0


@dataclass(frozen=True)
class RtcpPacket:
    """A compound RTCP packet, as far as its headers go."""

    packet_types: tuple[int, ...]
    """Types of the packets in it, in order (200 SR, 201 RR, 202 SDES, 203 BYE ...)."""
    ssrc: int
    """SSRC of the sender of the first packet."""
    srtcp: bool
    """True when an SRTCP trailer (index and authentication tag) follows the packets."""


def parse_rtp_header(payload: bytes) -> RtpHeader | None:
    """Decode an RTP header, or None if the bytes cannot be one.

    Payload types 72-76 are refused: with the marker bit they are RTCP's 200-204 (RFC 5761).
    """
    size = len(payload)
    if size < 12:
        return None
    first, second = payload[0], payload[1]
    if first >> 6 != 2:
        return None
    payload_type = second & 0x7F
    if 72 <= payload_type <= 76:
        return None
    csrc_count = first & 0x0F
    header_length = 12 + 4 * csrc_count
    has_extension = bool(first & 0x10)
    if has_extension:
        if header_length + 4 > size:
            return None
        words = (payload[header_length + 2] << 8) | payload[header_length + 3]
        header_length += 4 + 4 * words
    if header_length > size:
        return None
    padding = 0
    if first & 0x20:
        padding = payload[-1]
        if padding == 0 or header_length + padding > size:
            return None
    return RtpHeader(
        payload_type=payload_type,
        marker=bool(second & 0x80),
        sequence=(payload[2] << 8) | payload[3],
        timestamp=int.from_bytes(payload[4:8], "big"),
        ssrc=int.from_bytes(payload[8:12], "big"),
        csrc_count=csrc_count,
        header_length=header_length,
        payload_length=size - header_length - padding,
        has_extension=has_extension,
        padding=padding,
    )


def parse_rtcp(payload: bytes) -> RtcpPacket | None:
    """Walk a compound RTCP packet; None unless every length adds up.

    The first packet must be 200-207; report counts must fit the length of SR and RR
    packets.  Bytes left over are accepted only as an SRTCP trailer or as 1-3 stray bytes.
    """
    size = len(payload)
    offset = 0
    types: list[int] = []
    while offset + 4 <= size and len(types) < MAX_RTCP_PACKETS:
        first, packet_type = payload[offset], payload[offset + 1]
        if first >> 6 != 2:
            break
        if packet_type not in (RTCP_PACKET_TYPES if types else RTCP_FIRST_TYPES):
            if not types:
                return None
            break  # maybe an SRTCP trailer, whose E bit looks like version 2
        length = (((payload[offset + 2] << 8) | payload[offset + 3]) + 1) * 4
        count = first & 0x1F
        if packet_type == 200 and length < 28 + 24 * count:
            return None
        if packet_type == 201 and length < 8 + 24 * count:
            return None
        if offset + length > size:
            return None
        types.append(packet_type)
        offset += length
    if not types or size < 8:
        return None
    leftover = size - offset
    # Some stacks leave a few stray bytes after the last packet; anything longer must be
    # an SRTCP trailer.
    srtcp = leftover in _SRTCP_TRAILERS
    if leftover >= 4 and not srtcp:
        return None
    return RtcpPacket(tuple(types), int.from_bytes(payload[4:8], "big"), srtcp=srtcp)


def looks_like_rtcp(payload: bytes) -> bool:
    """True when the payload parses as a (possibly SRTCP) compound RTCP packet."""
    return parse_rtcp(payload) is not None


def _demux_class(first_byte: int) -> str:
    """RFC 7983 first-byte demultiplexing of a WebRTC port."""
    if first_byte < 4:
        return "stun"
    if 20 <= first_byte <= 63:
        return "dtls"
    if 64 <= first_byte <= 79:
        return "turn-channel"
    if 128 <= first_byte <= 191:
        return "rtp"
    return "other"


@dataclass(slots=True)
class _Direction:
    ssrc: int = -1
    sequence: int = 0
    timestamp: int = 0
    run: int = 0


_NONE: frozenset[int] = frozenset()


class RtpStreamDetector:
    """Decides whether a UDP flow carries RTP, from the first packets of each direction.

    Feed every payload with its direction (0 originator, 1 responder) to ``add``.  The
    verdict becomes ``rtp`` once one direction shows ``min_packets`` consecutive packets with
    one SSRC, sequence steps of 1..``max_sequence_gap`` (mod 2^16), timestamps that do not go
    back (mod 2^32) and plausible payload types; ``not_rtp`` after ``max_packets`` packets
    without that.  RTCP (rtcp-mux) and STUN/DTLS packets on the same port are counted apart
    and do not break a run.
    """

    __slots__ = ("min_packets", "max_packets", "max_sequence_gap", "verdict", "packets", "rtcp_packets",
                 "payload_types", "ssrcs", "_directions")

    def __init__(
        self, min_packets: int = 4, max_packets: int = 64, max_sequence_gap: int = 100
    ):
        self.min_packets = max(2, min_packets)
        self.max_packets = max_packets
        self.max_sequence_gap = max_sequence_gap
        self.verdict = "unknown"
        """``unknown`` (still watching), ``rtp`` or ``not_rtp``."""
        self.packets = 0
        self.rtcp_packets = 0
        # Made when first needed: a capture of many short UDP flows gives every one a detector.
        self.payload_types: set[int] | frozenset[int] = _NONE
        """Payload types seen in packets that continued a run."""
        self.ssrcs: set[int] | frozenset[int] = _NONE
        """SSRCs of the runs that reached ``min_packets``."""
        self._directions: tuple[_Direction, _Direction] | None = None

    @property
    def is_rtp(self) -> bool:
        return self.verdict == "rtp"

    def add(self, payload: bytes, direction: int = 0) -> str:
        """Take one UDP payload; returns the verdict so far."""
        if self.verdict == "not_rtp":
            return self.verdict
        self.packets += 1
        if payload and _demux_class(payload[0]) in ("stun", "dtls", "turn-channel"):
            return self._give_up_if_long()
        if looks_like_rtcp(payload):
            self.rtcp_packets += 1
            return self._give_up_if_long()
        header = parse_rtp_header(payload)
        if self._directions is None:
            self._directions = (_Direction(), _Direction())
        state = self._directions[1 if direction else 0]
        if header is None or header.payload_type not in _PLAUSIBLE_TYPES:
            state.run = 0
            return self._give_up_if_long()
        if state.run and self._continues(state, header):
            state.run += 1
            if self.payload_types is _NONE:
                self.payload_types = set()
            self.payload_types.add(header.payload_type)
        else:
            state.run = 1
        state.ssrc, state.sequence, state.timestamp = (
            header.ssrc,
            header.sequence,
            header.timestamp,
        )
        if state.run >= self.min_packets:
            if self.ssrcs is _NONE:
                self.ssrcs = set()
            self.ssrcs.add(header.ssrc)
            self.verdict = "rtp"
            return self.verdict
        return self._give_up_if_long()

    def _continues(self, state: _Direction, header: RtpHeader) -> bool:
        step = (header.sequence - state.sequence) & 0xFFFF
        advance = (header.timestamp - state.timestamp) & 0xFFFFFFFF
        return (
            header.ssrc == state.ssrc
            and 1 <= step <= self.max_sequence_gap
            and advance < 0x80000000
        )

    def _give_up_if_long(self) -> str:
        if self.verdict == "unknown" and self.packets >= self.max_packets:
            self.verdict = "not_rtp"
        return self.verdict
