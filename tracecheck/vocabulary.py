"""The words every stage of tracecheck passes on.

Read this file to learn the domain.  Data flows one way:

    capture files --ingest--> packets --flows--> flow table --dissect--> names, calls
    --geo--> places --classify--> services --policy--> verdicts --report--> evidence

Every record here is frozen: a stage produces new values, it never edits an earlier stage's.
Field names follow Zeek's logs where the concept is the same (``orig`` is the side that
opened the conversation, ``resp`` the side that answered).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# --------------------------------------------------------------------------- ingest


@dataclass(frozen=True)
class CaptureInterface:
    """One interface a pcapng file describes (its interface description block)."""

    name: str = ""
    """``if_name``: ``eth0``, ``\\Device\\NPF_{...}``."""
    description: str = ""
    linktype: int = -1
    """LINKTYPE number (1 Ethernet, 113 Linux cooked, 101 raw IP ...)."""
    snaplen: int = 0
    """Largest number of bytes kept of each packet (0: no limit)."""
    filter: str = ""
    """The capture filter (BPF) in force: what the capture never saw by design."""
    os: str = ""
    ts_resolution: int = 6
    """``if_tsresol``: 6 microseconds, 9 nanoseconds (high bit: a power of two)."""


@dataclass(frozen=True)
class VantagePoint:
    """Where and how a capture was taken, as the pcapng file itself records it.

    ``tracecheck capture`` writes all of it; other tools write some (Wireshark: the OS, the
    application, the interface and its filter, the statistics).  Everything here came from the
    file: it is shown, never trusted to decide anything but the default ``--site``."""

    site: str = ""
    """Where the capture was taken, as the operator said (``Dublin``, ``eu-west-1``, ``53.35,-6.26``)."""
    note: str = ""
    """The operator's note: which test call, which agent, what was done."""
    test_call_id: str = ""
    """An id for the test call, to match the report to the ticket."""
    host: str = ""
    """The capturing machine's name."""
    os: str = ""
    hardware: str = ""
    application: str = ""
    """The program that wrote the file (``tracecheck 0.1.0 (tcpdump 4.99.3, libpcap 1.10.3)``)."""
    interfaces: tuple[CaptureInterface, ...] = ()
    start_ts: float | None = None
    """When capturing started (the interface statistics' start time), seconds since the epoch."""
    stop_ts: float | None = None
    received: int | None = None
    """Packets the interface received while capturing (``isb_ifrecv``)."""
    dropped_by_interface: int | None = None
    """Packets lost for lack of resources at the interface (``isb_ifdrop``)."""
    dropped_by_os: int | None = None
    """Packets the kernel dropped before the capture program read them (``isb_osdrop``)."""
    comments: tuple[str, ...] = ()
    """Other comments of the file, as written."""

    @property
    def dropped(self) -> int:
        """Every packet the capture is known to have lost: each one is evidence that was not seen."""
        return (self.dropped_by_interface or 0) + (self.dropped_by_os or 0)


@dataclass(frozen=True)
class CaptureInfo:
    """One capture file as read: what it is and what it held."""

    path: str
    """The path as the user gave it."""
    sha256: str
    """SHA-256 of the file's bytes as stored (compressed, if it was)."""
    format: str
    """``pcap``, ``pcap-ns``, ``pcapng``; with ``+gzip`` when compressed."""
    linktypes: tuple[int, ...]
    """Every link type (DLT/LINKTYPE number) of the file's interfaces, in order of first use."""
    packets: int
    """Packet records read (including those skipped)."""
    first_ts: float | None
    """Timestamp of the earliest record, seconds since the epoch."""
    last_ts: float | None
    """Timestamp of the latest record."""
    vantage: VantagePoint | None = None
    """What the file says of how it was captured (pcapng only); None when it says nothing."""


@dataclass(frozen=True)
class Accounting:
    """Where every record went: ``records == decoded + sum(skipped.values())``."""

    records: int
    """Records read from the capture files."""
    decoded: int
    """Records that reached at least one flow."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Records that reached no flow, by reason (``truncated_record``, ``non_ip:arp`` ...)."""
    notes: dict[str, int] = field(default_factory=dict)
    """Things worth knowing that lost no record (blocks skipped, fragments attributed ...)."""


# --------------------------------------------------------------------------- flows


@dataclass(frozen=True)
class Flow:
    """A bidirectional conversation: one row of the flow table (CONTRACT.md columns)."""

    uid: str
    """Stable identifier, unique in one run, linking names, calls and verdicts to the flow."""
    ts: float
    """First packet, seconds since the epoch."""
    duration: float
    """Last packet minus first packet, seconds."""
    proto: str
    """``tcp``, ``udp``, ``icmp`` (ICMPv6 too), or the IP protocol number as text."""
    orig_h: str
    """Originator address: the side that sent the first SYN, else the first packet's sender."""
    orig_p: int
    """Originator port (ICMP: the message type, as Zeek does)."""
    resp_h: str
    """Responder address."""
    resp_p: int
    """Responder port (ICMP: the counterpart type or the code)."""
    orig_pkts: int
    """Packets sent by the originator."""
    orig_ip_bytes: int
    """Sum of the IP total lengths sent by the originator, as on the wire."""
    resp_pkts: int
    """Packets sent by the responder."""
    resp_ip_bytes: int
    """Sum of the IP total lengths sent by the responder."""
    server_name: str = ""
    """The best name known for the responder (see ``name_source``)."""
    name_source: str = ""
    """Where ``server_name`` came from: ``sni``, ``quic_sni``, ``http_host``, ``sip``, ``dns`` or ``""``."""
    app: str = ""
    """Application protocol recognised (``tls``, ``quic``, ``dns``, ``sip``, ``rtp`` ...)."""
    vlan: int | None = None
    """Outermost 802.1Q VLAN id of the first packet, if tagged."""
    tunnel: str = ""
    """Encapsulations the flow was carried in, outermost first (``vxlan``, ``geneve``, ``gre/vxlan`` ...)."""
    handshake_rtt_ms: float | None = None
    """TCP SYN to SYN/ACK (QUIC: first Initial to first server reply) as seen where captured."""
    capture_file: str = ""
    """The capture file the flow's first packet came from."""


# --------------------------------------------------------------------------- dissect


class NameSource(str, enum.Enum):
    """How a name was learned for an address, strongest first."""

    SNI = "sni"
    QUIC_SNI = "quic_sni"
    HTTP_HOST = "http_host"
    SIP = "sip"
    DNS = "dns"
    STUN_REALM = "stun_realm"
    """A STUN/TURN REALM: the relay operator's authentication domain (who runs it, not where)."""
    BANNER = "banner"
    """A server's greeting naming itself (SMTP/FTP 220, POP3, IMAP, Munin): its own claim."""


CLASSIFY_ONLY_SOURCES = frozenset({NameSource.STUN_REALM.value, NameSource.BANNER.value})
"""Name sources that say who runs a server, never where it is: the service catalog may read
them, but they never give a flow its ``server_name`` (CONTRACT.md fixes ``name_source``) and
geo's hostname hints never place an address by them (a realm such as ``turn.l.google.com``
is the same for relays on every continent; a server's greeting is whatever it is set to say)."""


@dataclass(frozen=True)
class NameObservation:
    """A name seen for an address, and where and when it was seen."""

    ts: float
    """When it was seen, seconds since the epoch."""
    ip: str
    """The address the name belongs to."""
    name: str
    """Lower-case host name, without trailing dot."""
    source: str
    """A ``NameSource`` value, or ``dns_cname`` for a name reached through a CNAME chain
    (``stun_realm`` and ``banner``: see ``CLASSIFY_ONLY_SOURCES``)."""
    uid: str
    """The flow it was seen in."""
    ttl: int | None = None
    """DNS answers: the record's TTL, seconds."""
    client: str = ""
    """DNS answers: the client the answer was sent to."""
    detail: str = ""
    """Anything a reviewer needs to judge the claim (``ECH outer name``, CNAME chain ...)."""


@dataclass(frozen=True)
class Call:
    """A SIP call and the flows that carried its signalling and media."""

    call_id: str
    """The SIP Call-ID, masked if it carries a user part."""
    first_ts: float
    last_ts: float
    signalling: tuple[str, ...]
    """Flow uids of the SIP messages."""
    media: tuple[str, ...]
    """Flow uids of the RTP/RTCP streams the SDP announced."""


@dataclass(frozen=True)
class RelayedPeer:
    """A peer a client reached through a TURN relay (RFC 8656), on one flow to the relay.

    The relay is only the first hop: the peer in its permissions, channel bindings and Send/Data
    indications is where the media goes next."""

    ip: str
    """The peer's address (XOR-PEER-ADDRESS)."""
    port: int
    relay: str
    """The TURN server's address: the flow's far end."""
    uid: str
    """The flow to the relay that carried the TURN messages."""
    sent_packets: int
    """Client-to-relay packets bound for this peer: ChannelData on its channels, Send indications."""
    sent_bytes: int
    """IP bytes of those packets, as on the wire between client and relay."""
    received_packets: int
    """Relay-to-client packets from this peer: ChannelData on its channels, Data indications."""
    received_bytes: int
    first_ts: float
    last_ts: float
    learned_from: tuple[str, ...]
    """What named the peer: ``permission`` (CreatePermission), ``channel 0x4001`` (ChannelBind),
    ``send`` (Send indication), ``data`` (Data indication)."""


# --------------------------------------------------------------------------- geo


class SourceKind(str, enum.Enum):
    """What kind of source a piece of evidence comes from: all that ranking reads.

    A source's *name* says which file it was (``aws-ip-ranges``, a geofeed imported as
    ``google.csv``); its kind says what that file can prove, whatever it is called."""

    PROVIDER = "provider"
    """A provider's own published range file (AWS ip-ranges.json, Azure service tags ...)."""
    HOSTNAME = "hostname"
    """A region the vendor's own endpoint name gives away (``*.eu-west-1.amazonaws.com``), or a
    name that leads to a known anycast edge (``*.msedge.net``, CloudFront)."""
    GEOFEED = "geofeed"
    """An RFC 8805 geofeed, self-published by the network's operator."""
    GEOIP = "geoip"
    """An imported MaxMind-format database (MaxMind, DB-IP, IPinfo)."""
    EMBEDDED = "embedded"
    """The GeoIP default shipped inside an installed package."""
    REGISTRY = "registry"
    """RDAP: where the address's holder registered, not where the host is."""
    RTT_BOUND = "rtt_bound"
    """The distance a handshake round trip allows from the capture site."""
    NAME = "name"
    """A name seen for the address in the capture (SNI, DNS answer, SIP ...)."""
    CATALOG = "catalog"
    """The service catalog's match, or the region catalog placing another source's region."""
    NOTE = "note"
    """tracecheck's own remark (sources disagree, media of a call ...)."""


SOURCE_RANK: Mapping[SourceKind, int | None] = MappingProxyType({
    SourceKind.PROVIDER: 0,
    SourceKind.HOSTNAME: 1,
    SourceKind.GEOFEED: 2,
    SourceKind.GEOIP: 3,
    SourceKind.EMBEDDED: 4,
    SourceKind.REGISTRY: None,
    SourceKind.RTT_BOUND: None,
    SourceKind.NAME: None,
    SourceKind.CATALOG: None,
    SourceKind.NOTE: None,
})
"""The one ranking of sources, read by geo (which source places an address) and by policy (which
disagreement counts): 0 is strongest; None never places an address.  A provider's file proves
where its prefixes are served; the vendor's regional endpoint name comes next (the vendor chose
it); a geofeed is the operator's own word; a GeoIP database guesses, mostly from registrations."""

BASIS_LABEL: Mapping[str, str] = MappingProxyType({
    "provider": "provider file",
    "hostname": "vendor hostname",
    "geofeed": "geofeed",
    "geoip": "GeoIP only",
    "local": "local address",
    "": "nothing places it",
})
"""How strong a verdict's deciding evidence is (``Assessment.basis``), as a reviewer reads it."""


def basis_of(kind: SourceKind | None) -> str:
    """report.json's ``basis`` of a place decided by ``kind``: ``provider``, ``hostname``,
    ``geofeed``, ``geoip`` (an imported database or the embedded default alike), or ``""``."""
    if kind is None or SOURCE_RANK.get(kind) is None:
        return ""
    return SourceKind.GEOIP.value if kind is SourceKind.EMBEDDED else kind.value


@dataclass(frozen=True)
class Located:
    """Where one piece of evidence says an address is: a location claim as data."""

    country: str | None = None
    """ISO 3166-1 alpha-2; None when the claim names no single country (anycast, unknown region)."""
    subdivision: str = ""
    region: str = ""
    """The provider's region code, when the claim is a region (``eu-west-1``)."""
    provider: str = ""
    city: str = ""
    anycast: bool = False
    """Announced from many places: the claim is that no single place can be claimed."""

    def label(self) -> str:
        """``eu-west-1 (IE)``, ``US-CA``, ``anycast``: how reasons name the claim."""
        if self.anycast:
            return "anycast"
        where = self.subdivision or self.country or "unknown country"
        return f"{self.region} ({where})" if self.region else where

    def same_place(self, other: Located) -> bool:
        if self.anycast or other.anycast:
            return self.anycast == other.anycast
        if self.country != other.country:
            return False
        if self.subdivision and other.subdivision and self.subdivision != other.subdivision:
            return False
        return not (self.region and other.region and self.region != other.region)


@dataclass(frozen=True)
class Evidence:
    """One source's claim about a destination, with what makes it checkable."""

    source: str
    """Which source says so: ``aws-ip-ranges``, ``geoip2fast``, ``hostname``, ``rtt-bound`` ..."""
    claim: str
    """What it says, as prose for people (``region eu-west-1``, ``country IE``): never parsed."""
    detail: str = ""
    """How to check it: the file's date and hash, the matching prefix, the name."""
    kind: SourceKind = SourceKind.NOTE
    """What kind of source it is: the only thing ranking reads (``SOURCE_RANK``)."""
    where: Located | None = None
    """The place it claims, or None when it is not a location claim (an AS name, a name seen)."""


@dataclass(frozen=True)
class Place:
    """Where a destination is, as far as the evidence goes."""

    ip: str
    provider: str = ""
    """Cloud or network provider (``aws``, ``azure``, ``gcp``, ``oracle``, ``cloudflare`` ...)."""
    service: str = ""
    """The provider's service label for the prefix (``EC2``, ``AzureCloud`` ...)."""
    region: str = ""
    """The provider's own region code (``eu-west-1``, ``westeurope`` ...)."""
    country: str | None = None
    """ISO 3166-1 alpha-2; None when unknown or when no single country can be claimed."""
    subdivision: str = ""
    """ISO 3166-2 where law cares (``US-CA``)."""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    jurisdictions: tuple[str, ...] = ()
    """Named legal areas the country belongs to (``EU``, ``EEA``, ``US-CA`` ...)."""
    anycast: bool = False
    """True where the address is announced from many places (then ``country`` is None)."""
    local: bool = False
    """Private, loopback, link-local or documentation address: never leaves the site."""
    basis: SourceKind | None = None
    """The kind of the source that decided the place (None: nothing placed it)."""
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class SourceInfo:
    """A data source the answers came from, so an auditor can fetch the same file."""

    name: str
    kind: str
    """Which reader understood it (``aws``, ``azure``, ``gcp``, ``mmdb`` ...)."""
    version: str
    """The source's own version or serial (syncToken, changeNumber, build epoch)."""
    date: str
    """The source's own publication date, ISO 8601."""
    sha256: str
    prefixes: int
    age_days: int | None = None
    stale: bool = False
    date_basis: str = "content"
    """Where ``date`` came from: ``content`` (the source's own date), ``filename``, or a file time
    (``mtime``, ``http-last-modified``, ``download-time``) for formats that carry no date."""


FILE_TIME_BASES = frozenset({"mtime", "http-last-modified", "download-time"})
"""Date bases that are when a file was written, not when its content was published."""


def date_label(date: str, basis: str) -> str:
    """A source's date as people should read it: its own date, or ``date unknown (file time
    2026-01-01)`` for a format that carries none, which only its file's time dates."""
    if basis in FILE_TIME_BASES:
        return f"date unknown (file time {date[:10]})" if date else "date unknown"
    return date or "undated"


# --------------------------------------------------------------------------- classify & policy


class Category(str, enum.Enum):
    """What kind of service a destination provides, as a residency review cares."""

    PLATFORM = "platform"
    MEDIA = "media"
    SPEECH_ANALYTICS = "speech_analytics"
    TRANSCRIPTION = "transcription"
    CRM_INTEGRATION = "crm_integration"
    INTEGRATION_MIDDLEWARE = "integration_middleware"
    TELEPHONY_CARRIER = "telephony_carrier"
    IDENTITY = "identity"
    CDN = "cdn"
    ANALYTICS = "analytics"
    TELEMETRY = "telemetry"
    OTHER = "other"


@dataclass(frozen=True)
class Service:
    """Who a destination is: a vendor's service and what it does."""

    vendor: str
    category: Category
    name: str = ""
    region: str = ""
    """The region the hostname implies, if the catalog says so."""
    matched: str = ""
    """The catalog pattern that matched, as evidence."""


class Verdict(str, enum.Enum):
    """What the policy says of one destination (and, in the summary, of the whole run)."""

    COMPLIANT = "compliant"
    """Placed, on evidence, inside the authorized area (or allowed by an unexpired exception)."""
    VIOLATION = "violation"
    """Placed, on evidence, outside the authorized area."""
    INDETERMINATE = "indeterminate"
    """Where it is cannot be established (unknown, anycast, sources or physics that contradict a
    compliant claim): never silently compliant.  Also the run's verdict when nothing was judged."""
    NOT_ASSESSED = "not_assessed"
    """The policy ignores it (an ``ignore:`` entry, a category or vendor rule ``ignore``): listed
    with the rule that ignores it, never counted as compliant."""


@dataclass(frozen=True)
class Destination:
    """One destination address as the policy sees it (beside its ``Place`` and ``Service``)."""

    ip: str
    names: tuple[str, ...] = ()
    """Names seen for the address, strongest first (SNI, then DNS answers, then CNAME chain)."""
    name_sources: tuple[str, ...] = ()
    """How each of ``names`` was learned (``sni``, ``dns`` ...), in the same order; may be shorter."""
    category: Category | None = None
    """Overrides the service's category: a call's media and signalling peers take the call's."""
    handshake_rtt_ms: float | None = None
    """The smallest handshake RTT over the destination's flows: the tightest distance bound."""

    @property
    def selectable_names(self) -> tuple[str, ...]:
        """The names a policy's ``host`` selector (an exception, an ignore rule) may match: not
        those seen only as the server's claim about itself (``CLASSIFY_ONLY_SOURCES``): a
        selector makes a verdict laxer, and a server must not pick its own exception."""
        return tuple(name for index, name in enumerate(self.names)
                     if index >= len(self.name_sources) or self.name_sources[index] not in CLASSIFY_ONLY_SOURCES)


@dataclass(frozen=True, slots=True)  # one per destination: a hundred thousand of them in a large run
class Assessment:
    """A verdict with everything the report needs to explain it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    """Sentences a reviewer reads, the deciding one first."""
    fails: bool
    """True when this destination makes the run fail: a violation, or an indeterminate under a
    rule whose ``indeterminate`` is ``fail``."""
    exception: str = ""
    """The id of the exception that made it compliant, if one did."""
    evidence: tuple[Evidence, ...] = field(default=())
    """Evidence the policy stage adds (the RTT bound); geo's own evidence stays on the Place."""
    basis: str = ""
    """How strong the deciding evidence is: ``provider``, ``hostname``, ``geofeed``, ``geoip``,
    ``local``, or ``""`` when nothing placed the destination (``basis_of``)."""
    flags: tuple[str, ...] = ()
    """Contradictions that did not change the verdict or made it stricter: ``rtt_implausible``
    (the handshake RTT is shorter than the claimed place allows), ``sources_disagree``."""
    rule: str = ""
    """The policy entry that decided how it was judged (``categories.transcription``,
    ``ignore[0]``), if one did."""

    @property
    def ignored(self) -> bool:
        return self.verdict is Verdict.NOT_ASSESSED

