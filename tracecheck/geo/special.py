"""Addresses that never leave the site: private, loopback, link-local, CGNAT, documentation,
multicast and the other IANA special-purpose blocks that are not globally reachable.

A flow to one of these goes to something on the capture's own network (a proxy, an SBC, a VPN
gateway); where *that* sends data is a question for a capture taken beyond it.
"""

from __future__ import annotations

from functools import cache

from tracecheck.geo.ranges import RangeTable

SOURCE = "special-ranges"

# (prefix, why it is local) — IANA IPv4/IPv6 Special-Purpose Address Registries.
LOCAL_NETWORKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network (RFC 791)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT shared space (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    ("::/128", "unspecified (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)


@cache
def local_table() -> RangeTable:
    """Rows index ``LOCAL_NETWORKS``."""
    return RangeTable.from_networks((network, row) for row, (network, _) in enumerate(LOCAL_NETWORKS))
