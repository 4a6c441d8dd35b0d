"""What a capture cannot show: the limits of the vantage point, and the names that were hidden.

A verdict of "compliant" only covers what passed the capture point.  An auditor must read, next
to the verdicts, what the capture could not have seen (server-side processing of the platform)
and where names were hidden from it (ECH, encrypted DNS, flows that never named their server),
because those destinations are placed by their address alone -- or not seen at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracecheck.destinations import DestinationTraffic

DOT_PORT = 853
"""DNS over TLS (RFC 7858) and DNS over QUIC (RFC 9250)."""

DOH_NAMES = frozenset({
    "dns.google", "dns.google.com", "cloudflare-dns.com", "one.one.one.one", "1dot1dot1dot1.cloudflare-dns.com",
    "mozilla.cloudflare-dns.com", "chrome.cloudflare-dns.com", "security.cloudflare-dns.com",
    "family.cloudflare-dns.com", "dns.quad9.net", "dns9.quad9.net", "dns10.quad9.net", "dns11.quad9.net",
    "doh.opendns.com", "dns.opendns.com", "dns.nextdns.io", "doh.cleanbrowsing.org", "dns.adguard-dns.com",
    "dns.adguard.com", "doh.dns.sb", "doh.mullvad.net", "dns.mullvad.net", "freedns.controld.com",
    "dns.controld.com", "doh.familyshield.opendns.com",
})
"""Public DNS-over-HTTPS resolvers, by the names browsers and operating systems use for them."""

# The same resolvers' published anycast addresses, with the name each is known by: DoH needs no
# name when the address is known, and the report names the resolver either way.  A short list on
# purpose (the public resolvers browsers and operating systems offer), kept by hand.
DOH_RESOLVERS: dict[str, str] = {
    **dict.fromkeys(("1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001"), "cloudflare-dns.com"),
    **dict.fromkeys(("1.1.1.2", "1.0.0.2"), "security.cloudflare-dns.com"),
    **dict.fromkeys(("1.1.1.3", "1.0.0.3"), "family.cloudflare-dns.com"),
    **dict.fromkeys(("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"), "dns.google"),
    **dict.fromkeys(("9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9"), "dns.quad9.net"),
    **dict.fromkeys(("9.9.9.10", "149.112.112.10", "2620:fe::10"), "dns10.quad9.net"),
    **dict.fromkeys(("9.9.9.11", "149.112.112.11", "2620:fe::11"), "dns11.quad9.net"),
    **dict.fromkeys(("208.67.222.222", "208.67.220.220", "2620:119:35::35", "2620:119:53::53"), "doh.opendns.com"),
    **dict.fromkeys(("94.140.14.14", "94.140.15.15", "2a10:50c0::ad1:ff", "2a10:50c0::ad2:ff"), "dns.adguard-dns.com"),
    **dict.fromkeys(("185.228.168.9", "185.228.169.9"), "doh.cleanbrowsing.org"),
}
DOH_ADDRESSES = frozenset(DOH_RESOLVERS)
DOT_ALPN = "dot"
"""The ALPN of DNS over TLS (RFC 7858), and the app of a flow whose ClientHello offers it (on any
port); DNS over QUIC offers ``doq`` (RFC 9250)."""

VANTAGE_LIMITS = (
    "What no capture at this point can show: processing the platform does server-side, from its own "
    "cloud -- AudioHook audio streams, data actions and integrations the platform calls itself (CRM "
    "look-ups, webhooks), recordings and transcripts it exports, and speech analytics or bots it "
    "runs. A capture at the agent desktop or its proxy sees only the desktop's own traffic; review "
    "those in the platform's configuration, or capture where they leave."
)
_LISTED = 8
"""Addresses named in one note before the rest are counted."""


def observability_notes(destinations: dict[str, DestinationTraffic], local: set[str],
                        flows_out_of_scope: int = 0) -> list[str]:
    """The report's ``observability`` lines, in a fixed order."""
    remote = [traffic for ip, traffic in sorted(destinations.items()) if ip not in local]
    hidden = _Hidden(remote)
    notes = [VANTAGE_LIMITS, _vantage(destinations.values(), local)]
    notes += [note for note in (_ech(hidden), _encrypted_dns(hidden, "capture"), _unnamed(hidden, "capture"),
                                _no_dns(hidden)) if note]
    if flows_out_of_scope:
        notes.append(f"{flows_out_of_scope} flow{_s(flows_out_of_scope)} fell outside the policy's scope and "
                     f"{'were' if flows_out_of_scope != 1 else 'was'} not judged (they are still in flows.csv).")
    return notes


class _Hidden:
    """What the notes below read of the remote destinations, found in one pass over them: a
    capture of a hundred thousand destinations is read once here, not once per note (each
    pass over that many objects costs about as much as the note's whole work)."""

    def __init__(self, remote: list[DestinationTraffic]) -> None:
        self.ech: list[tuple[str, str]] = []
        """(address, name) of each name a hello hid behind Encrypted Client Hello."""
        self.resolvers: list[str] = []
        """Each destination that carried DNS out of sight, as the note names it."""
        self.nameless: list[DestinationTraffic] = []
        self.nameless_flows = 0
        self.encrypted = False
        """Whether any flow spoke TLS, QUIC or DoT (whose names DNS would otherwise have given)."""
        self.dns_named = False
        """Whether any name came from a DNS answer."""
        for traffic in remote:
            if traffic.names:
                for seen in traffic.names:
                    if "ECH" in seen.detail:
                        self.ech.append((traffic.ip, seen.name))
                    if seen.source in ("dns", "dns_cname"):
                        self.dns_named = True
            else:
                self.nameless.append(traffic)
                self.nameless_flows += sum(_flows_in(flow) for flow in traffic.flows)
            if not self.encrypted:
                self.encrypted = any(flow.app in ("tls", "quic", DOT_ALPN) for flow in traffic.flows)
            kinds = encrypted_dns_kinds(traffic)
            if kinds:
                name = resolver_name(traffic)
                used = ", ".join(f"{kind} ({count} flow{_s(count)})" for kind, count in kinds)
                self.resolvers.append(f"{name + ' at ' if name else ''}{traffic.ip} by {used}")


def _vantage(destinations: Iterable[DestinationTraffic], local: set[str]) -> str:
    clients, tunnels, carried = set(), set(), 0
    for traffic in destinations:
        for flow in traffic.flows:
            if flow.orig_h in local:
                clients.add(flow.orig_h)
            if flow.tunnel:
                tunnels.add(flow.tunnel)
                carried += 1
    clients = sorted(clients)
    shown = ", ".join(clients[:_LISTED]) + (f" and {len(clients) - _LISTED} more" if len(clients) > _LISTED else "")
    text = (f"Vantage point: {len(clients)} local address{'es' if len(clients) != 1 else ''} opened flows"
            + (f" ({shown})" if clients else "") + ".")
    if tunnels:
        text += (f" {carried} flow{_s(carried)} arrived encapsulated ({', '.join(sorted(tunnels))}): a traffic mirror "
                 f"or tunnel, which shows what the mirrored hosts sent, not what others did for them.")
    return text


def _ech(hidden: _Hidden) -> str:
    if not hidden.ech:
        return ""
    listed = ", ".join(f"{name} at {ip}" for ip, name in hidden.ech[:_LISTED]) + _more(hidden.ech)
    return (f"Names hidden by ECH: {len(hidden.ech)} TLS/QUIC hello{_s(len(hidden.ech))} offered Encrypted Client "
            f"Hello ({listed}); the SNI seen may be only the provider's public (outer) name, and the real server "
            f"name is not visible.")


def encrypted_dns_kinds(traffic: DestinationTraffic) -> list[tuple[str, int]]:
    """How a destination carried DNS out of sight, with its flows: ``DoT`` (TLS to port 853, or a
    ClientHello offering ALPN ``dot`` on any port), ``DoQ`` (QUIC to 853), ``DoH`` (TLS or QUIC to
    a known resolver's name or address on 443)."""
    known = None  # whether it is a known resolver: asked only of destinations with flows to 443
    counts = None  # made for the few destinations that have such a flow (of a hundred thousand)
    for flow in traffic.flows:
        if flow.resp_p == DOT_PORT and flow.proto == "udp" and flow.app in ("quic", ""):
            kind = "DoQ"
        elif (flow.resp_p == DOT_PORT and flow.proto == "tcp") or flow.app == DOT_ALPN:
            kind = "DoT"
        elif flow.resp_p == 443 and flow.app in ("tls", "ssl", "quic", "http", ""):  # ssl: Zeek's name for TLS
            if known is None:
                known = traffic.ip in DOH_RESOLVERS or bool(set(traffic.name_list) & DOH_NAMES)
            if not known:
                continue
            kind = "DoH"
        else:
            continue
        counts = counts or {"DoT": 0, "DoQ": 0, "DoH": 0}
        counts[kind] += _flows_in(flow)
    return [(kind, count) for kind, count in counts.items() if count] if counts else []


def _flows_in(flow) -> int:
    """1 for a captured flow; a sensor log's summed group of flows (``sensors.judge_input.FlowGroup``)
    says how many it stands for."""
    return getattr(flow, "count", 1)


def resolver_name(traffic: DestinationTraffic) -> str:
    """The name a resolver is known by: a DoH name it was reached by, else its published address's
    name, else any name seen for it (a private DoT resolver's SNI)."""
    return (next((name for name in traffic.name_list if name in DOH_NAMES), "")
            or DOH_RESOLVERS.get(traffic.ip, "") or next(iter(traffic.name_list), ""))


def name_notes(remote: list[DestinationTraffic], record: str) -> list[str]:
    """The notes on hidden names that any record can show, in the report's order: which
    destinations carried DNS out of sight, and which nothing named; ``record``: what was read
    (``capture``, ``logs``).  Sensor logs have these two and no others."""
    hidden = _Hidden(remote)
    return [note for note in (_encrypted_dns(hidden, record), _unnamed(hidden, record)) if note]


def _encrypted_dns(hidden: _Hidden, record: str) -> str:
    found = hidden.resolvers
    if not found:
        return ""
    return (f"Names hidden by encrypted DNS: the client resolved names through {'; '.join(found[:_LISTED])}"
            f"{_more(found)}. Those answers are not in the {record}, so DNS cannot name the destinations it "
            f"resolved: they are named by SNI or HTTP Host alone, or not at all.")


def _unnamed(hidden: _Hidden, record: str) -> str:
    nameless, flows = hidden.nameless, hidden.nameless_flows
    if not nameless:
        return ""
    seen = "" if record == "capture" else f" in the {record}"
    listed = ", ".join(traffic.ip for traffic in nameless[:_LISTED]) + _more(nameless)
    return (f"No name at all: {len(nameless)} destination{_s(len(nameless))} ({flows} flow{_s(flows)}) showed no "
            f"SNI, HTTP Host, SIP host or DNS answer{seen} ({listed}); only the address places "
            f"{'them' if len(nameless) != 1 else 'it'}, and no service catalog entry can name the service.")


def _no_dns(hidden: _Hidden) -> str:
    if not hidden.encrypted or hidden.dns_named:
        return ""
    return ("No DNS answer for any remote destination was captured (a DNS cache, encrypted DNS, or DNS "
            "outside the capture point): names come from TLS/QUIC SNI and HTTP Host alone.")


def _more(items: Iterable) -> str:
    count = len(list(items))
    return f" and {count - _LISTED} more" if count > _LISTED else ""


def _s(count: int) -> str:
    return "" if count == 1 else "s"
