"""Flows to destinations: one record per remote address, so that later stages work per address.

A destination is the far end of a flow: its responder -- unless the responder is a local address
and the originator is not.  That happens when the remote side spoke first (a carrier's RTP
reaching the agent before the agent's own, an inbound SIP INVITE): the data still goes to the
remote side, and judging only the local responder would hide it.

A TURN relay is only the first hop: each peer behind it (``RelayedPeer``) is a destination of
its own, reached through the relay on the relay's flow, with the bytes relayed to it.  Its
bytes are counted for the peer as well as for the relay: both are where that data went.

Names come from the dissectors' observations for the address, strongest source first (SNI,
QUIC SNI, HTTP Host, SIP, DNS answer, CNAME chain; then what a server claims for itself, a STUN
REALM or a greeting, which only classification reads), every distinct (name, source) kept -- an
SNI that disagrees with the DNS answer for the same address is evidence, not noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracecheck.geo.ranges import AddressKeys
from tracecheck.geo.special import local_table
from tracecheck.vocabulary import CLASSIFY_ONLY_SOURCES, Call, Flow, NameObservation, RelayedPeer

NAME_SOURCE_ORDER = ("sni", "quic_sni", "http_host", "sip", "dns", "dns_cname", "stun_realm", "banner")
"""Strongest first: what the client itself asked for beats what a resolver said about the address,
and both beat what a server says of itself (classification only)."""

MEDIA_APPS = frozenset({"rtp", "srtp", "rtcp", "stun", "dtls"})
"""Apps that carry (or set up) a call's audio and video."""


@dataclass(frozen=True)
class SeenName:
    """A name seen for a destination, with where it was first seen."""

    name: str
    source: str
    first_ts: float
    uid: str
    detail: str = ""


@dataclass
class DestinationTraffic:
    """Everything the capture shows about one remote address."""

    ip: str
    flows: list[Flow] = field(default_factory=list)
    names: list[SeenName] = field(default_factory=list)
    """Strongest source first, then earliest first."""
    calls: list[str] = field(default_factory=list)
    """Call-IDs whose media went to this address."""
    sent_bytes: int = 0
    """IP bytes the capture's side sent to the destination (the data that left)."""
    received_bytes: int = 0
    """IP bytes the destination sent back."""
    relayed: list[RelayedPeer] = field(default_factory=list)
    """How this address was reached through TURN relays (its own flows are in ``flows``)."""
    relays: list[RelayedPeer] = field(default_factory=list)
    """The peers this address relayed media to: it is a TURN relay."""

    # The properties below are asked once per destination of captures of a hundred thousand: the
    # relayed peers, which most destinations lack, are looked at only when there are some.

    @property
    def first_ts(self) -> float:
        first = min([flow.ts for flow in self.flows], default=math.inf)
        return min(first, *[peer.first_ts for peer in self.relayed]) if self.relayed else first

    @property
    def last_ts(self) -> float:
        last = max([flow.ts + max(flow.duration, 0.0) for flow in self.flows], default=-math.inf)
        return max(last, *[peer.last_ts for peer in self.relayed]) if self.relayed else last

    @property
    def flow_count(self) -> int:
        """Its own flows, and the relays' flows that reached it."""
        if not self.relayed:
            return len(self.flows)
        uids = {flow.uid for flow in self.flows}
        return len(self.flows) + len({peer.uid for peer in self.relayed} - uids)

    @property
    def via(self) -> list[str]:
        """The TURN relays it was reached through."""
        return sorted({peer.relay for peer in self.relayed}) if self.relayed else []

    @property
    def smallest_rtt_ms(self) -> float | None:
        """The tightest distance bound: queuing only ever adds to a round trip."""
        rtts = [f.handshake_rtt_ms for f in self.flows if f.handshake_rtt_ms is not None and math.isfinite(f.handshake_rtt_ms)]
        return min(rtts) if rtts else None

    @property
    def name_list(self) -> list[str]:
        """Distinct names, strongest first (what geo and classify are given)."""
        return list(dict.fromkeys([seen.name for seen in self.names])) if self.names else []

    @property
    def placing_names(self) -> list[str]:
        """Distinct names, strongest first, that geo may place the address by: all but those
        seen only as a server's claim about itself (``CLASSIFY_ONLY_SOURCES``)."""
        return list(dict.fromkeys(seen.name for seen in self.names if seen.source not in CLASSIFY_ONLY_SOURCES))

    @property
    def name_sources(self) -> list[str]:
        """The source of each of ``name_list``, in the same order."""
        if not self.names:
            return []
        first: dict[str, str] = {}
        for seen in self.names:
            first.setdefault(seen.name, seen.source)
        return [first[name] for name in self.name_list]

    @property
    def media_only(self) -> bool:
        """Every flow looks like call media (RTP, STUN/TURN, DTLS-SRTP); a relay's peer is media too."""
        return bool(self.flows or self.relayed) and all([flow.app in MEDIA_APPS for flow in self.flows])


def local_addresses(addresses: Iterable[str]) -> set[str]:
    """The addresses in geo's special-purpose ranges (private, loopback, documentation ...)."""
    unique = list(dict.fromkeys(addresses))
    if not unique:
        return set()
    rows = local_table().find(AddressKeys.parse(unique))
    return {ip for ip, row in zip(unique, rows, strict=True) if row >= 0}


def remote_side(flow: Flow, local: set[str]) -> tuple[str, bool]:
    """The destination of ``flow`` and whether it is the originator (the flow seen reversed)."""
    if flow.resp_h in local and flow.orig_h not in local:
        return flow.orig_h, True
    return flow.resp_h, False


def gather(flows: Iterable[Flow], names: Iterable[NameObservation], calls: Iterable[Call],
           relayed: Iterable[RelayedPeer] = (), local: set[str] | None = None) -> dict[str, DestinationTraffic]:
    """Group ``flows`` by destination address and attach the names seen and the calls whose media went there.

    ``relayed``: the peers behind TURN relays; those reached on one of ``flows`` become
    destinations too (or join the destination of their address).  ``local``: the local addresses
    among the flows' ends (``local_addresses``), when the caller has them already."""
    flows = list(flows)
    if local is None:
        local = local_addresses([ip for flow in flows for ip in (flow.orig_h, flow.resp_h)])
    media_call = {uid: call.call_id for call in calls for uid in call.media}
    destinations: dict[str, DestinationTraffic] = {}
    for flow in flows:
        ip, reversed_ = remote_side(flow, local)
        traffic = destinations.get(ip)
        if traffic is None:
            traffic = destinations[ip] = DestinationTraffic(ip=ip)
        traffic.flows.append(flow)
        if reversed_:
            traffic.sent_bytes += flow.resp_ip_bytes
            traffic.received_bytes += flow.orig_ip_bytes
        else:
            traffic.sent_bytes += flow.orig_ip_bytes
            traffic.received_bytes += flow.resp_ip_bytes
        call_id = media_call.get(flow.uid)
        if call_id and call_id not in traffic.calls:
            traffic.calls.append(call_id)
    _add_relayed(destinations, flows, local, relayed, media_call)

    seen: dict[str, dict[tuple[str, str], SeenName]] = {ip: {} for ip in destinations}
    for observation in names:
        _keep(seen.get(observation.ip), SeenName(observation.name, observation.source, observation.ts,
                                                 observation.uid, observation.detail))
    for traffic in destinations.values():
        for flow in traffic.flows:  # the flow's own best name, should the observations lack it
            if flow.server_name and flow.resp_h == traffic.ip:
                _keep(seen[traffic.ip], SeenName(flow.server_name, flow.name_source or "dns", flow.ts, flow.uid))
        traffic.names = sorted(seen[traffic.ip].values(), key=_name_order)
    return destinations


def _add_relayed(destinations: dict[str, DestinationTraffic], flows: list[Flow], local: set[str],
                 relayed: Iterable[RelayedPeer], media_call: dict[str, str]) -> None:
    """Each peer behind a relay as a destination, its bytes, and its call (the relay flow's)."""
    relay_of = {flow.uid: remote_side(flow, local)[0] for flow in flows}
    for peer in relayed:
        relay = relay_of.get(peer.uid)
        if relay is None:
            continue  # its relay flow is not judged (outside the policy's scope)
        destinations[relay].relays.append(peer)
        if peer.ip == relay:
            continue  # another client's allocation on the same relay: that client is not in view
        traffic = destinations.get(peer.ip)
        if traffic is None:
            traffic = destinations[peer.ip] = DestinationTraffic(ip=peer.ip)
        traffic.relayed.append(peer)
        traffic.sent_bytes += peer.sent_bytes
        traffic.received_bytes += peer.received_bytes
        call_id = media_call.get(peer.uid)
        if call_id and call_id not in traffic.calls:
            traffic.calls.append(call_id)


def _keep(found: dict[tuple[str, str], SeenName] | None, name: SeenName) -> None:
    if found is None or not name.name:
        return
    key = (name.name, name.source)
    earlier = found.get(key)
    if earlier is None or (name.first_ts, name.uid) < (earlier.first_ts, earlier.uid):
        # The earliest sighting is kept, but an ECH warning seen on any sighting must survive.
        detail = name.detail or (earlier.detail if earlier else "")
        found[key] = SeenName(name.name, name.source, name.first_ts, name.uid, detail)
    elif name.detail and not earlier.detail:
        found[key] = SeenName(earlier.name, earlier.source, earlier.first_ts, earlier.uid, name.detail)


def _name_order(seen: SeenName) -> tuple:
    rank = NAME_SOURCE_ORDER.index(seen.source) if seen.source in NAME_SOURCE_ORDER else len(NAME_SOURCE_ORDER)
    return (rank, seen.first_ts, seen.name, seen.uid)
