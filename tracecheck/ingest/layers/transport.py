"""The upper layer of an IP packet: ports (TCP, UDP, SCTP, DCCP), ICMP types, and the
encapsulations that carry another packet inside (IP-in-IP, 6in4, GRE, and UDP tunnels)."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u16, u32
from tracecheck.ingest.fields import u64be
from tracecheck.ingest.layers import teredo

ICMP, IPIP, TCP, UDP, DCCP, IPV6_IN_IP, GRE, ICMPV6, SCTP, UDPLITE = 1, 4, 6, 17, 33, 41, 47, 58, 132, 136
PORTED = (TCP, UDP, DCCP, SCTP, UDPLITE)

# UDP ports that carry a tunnel: (port, layer of the inner header, tunnel name)
UDP_TUNNELS = (
    (4789, Layer.VXLAN, "vxlan"),   # AWS VPC Traffic Mirroring, Azure vTAP
    (8472, Layer.VXLAN, "vxlan"),   # Linux kernel's historical VXLAN port
    (6081, Layer.GENEVE, "geneve"),  # AWS Gateway Load Balancer
    (2152, Layer.GTPU, "gtp-u"),
    (3544, Layer.TEREDO, "teredo"),
    (5072, Layer.AYIYA, "ayiya"),
    (4754, Layer.GRE, "gre-udp"),    # GRE in UDP (RFC 8086): a GRE header, then the packet
)

# ICMP request type -> reply type, so a request and its reply land in one flow (as in Zeek).
ICMP_PAIRS = {8: 0, 13: 14, 15: 16, 17: 18, 10: 9}
ICMPV6_PAIRS = {128: 129, 133: 134, 135: 136, 130: 131}


def _pair_tables():
    request_of = np.full((2, 256), -1, dtype=np.int64)
    reply_of = np.full((2, 256), -1, dtype=np.int64)
    for v, pairs in enumerate((ICMP_PAIRS, ICMPV6_PAIRS)):
        for req, rep in pairs.items():
            reply_of[v, req] = rep
            request_of[v, rep] = req
    return request_of, reply_of


REQUEST_OF, REPLY_OF = _pair_tables()

# Lookup tables beat np.isin on every packet.
IS_PORTED = np.zeros(256, dtype=bool)
IS_PORTED[list(PORTED)] = True
TUNNEL_PORT = np.zeros(1 << 16, dtype=bool)
TUNNEL_PORT[[port for port, _, _ in UDP_TUNNELS]] = True
IS_ENCAPSULATION = np.zeros(256, dtype=bool)
IS_ENCAPSULATION[[IPIP, IPV6_IN_IP, GRE]] = True


def decode(c: Cursor, rows: np.ndarray, l4: np.ndarray) -> None:
    """Read the upper layer of ``rows`` whose IP header ends at ``l4``."""
    c.pos[rows] = l4
    later_fragment = c.frag_offset[rows] > 0  # no upper-layer header here: attributed by the flow stage
    if later_fragment.any():
        c.done(rows[later_fragment])
        rows, l4 = rows[~later_fragment], l4[~later_fragment]
    proto = c.proto[rows].astype(np.int64)
    limit = np.minimum(c.end[rows], c.ip_end[rows])
    ported = IS_PORTED[proto & 0xFF]
    short = ported & (l4 + 4 > limit)
    ported &= ~short

    # The fixed fields are read for every row at once — cheaper than selecting rows per
    # protocol first, and safe: the batch is padded past every frame.
    sport, dport = u16(c, l4), u16(c, l4 + 2)
    tcp = ported & (proto == TCP)
    full = tcp & (l4 + 14 <= limit)  # flags are known only if captured
    header = np.where(tcp, np.where(full, (u8(c, l4 + 12) >> 4) * 4, 20), 8)
    c.sport[rows] = np.where(ported, sport, 0)
    c.dport[rows] = np.where(ported, dport, 0)
    c.tcp_flags[rows] = np.where(full, u8(c, l4 + 13), 0)
    c.seq[rows] = np.where(full, u32(c, l4 + 4), 0)
    c.payload[rows] = np.where(ported, l4 + header, 0)
    payload_len = np.where(ported, np.maximum(limit - l4 - header, 0), 0)
    c.payload_len[rows] = payload_len
    c.payload_head[rows] = _head(c, l4 + header, payload_len)
    c.done(rows)  # an observation of its flow; the rarer cases below say otherwise

    if short.any():
        c.skip(rows[short], "truncated_transport_header")
    icmp = (proto == ICMP) | (proto == ICMPV6)
    if icmp.any():
        _icmp(c, rows[icmp], l4[icmp])
    whole = c.frag_id[rows] < 0  # tunnels inside a fragment are left as the outer flow
    encapsulated = whole & IS_ENCAPSULATION[proto & 0xFF]
    if encapsulated.any():
        for number, layer, name in ((IPIP, Layer.IPV4, "ip-in-ip"), (IPV6_IN_IP, Layer.IPV6, "6in4"), (GRE, Layer.GRE, "gre")):
            mine = encapsulated & (proto == number)
            if mine.any():
                c.spawn(rows[mine], layer, l4[mine], name)
    udp = whole & ported & (proto == UDP)
    maybe = udp & (TUNNEL_PORT[sport] | TUNNEL_PORT[dport])
    if maybe.any():
        _udp_tunnels(c, rows[maybe], l4[maybe])
    # Teredo on any other port, told by its shape (as Zeek finds it): the few payloads that
    # could start an IPv6 header or a Teredo indication are looked at closer.
    shaped = udp & ~maybe & (payload_len >= teredo.SMALLEST) & teredo.may_start(c.payload_head[rows])
    if shaped.any():
        shaped[shaped] = teredo.looks_like_teredo(c, l4[shaped] + 8, payload_len[shaped], u16(c, l4[shaped] + 4) - 8)
        if shaped.any():
            c.spawn(rows[shaped], Layer.TEREDO, l4[shaped] + 8, "teredo")


def _head(c: Cursor, at: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The first eight bytes at ``at`` as a big-endian integer, bytes past ``length`` as zero."""
    head = u64be(c.data, at)
    drop = (8 - np.minimum(length, 8)).astype(np.uint64) * np.uint64(8)  # bits past the payload
    kept = (head >> np.minimum(drop, np.uint64(63))) << np.minimum(drop, np.uint64(63))
    return np.where(length > 0, kept, np.uint64(0))


def _udp_tunnels(c: Cursor, rows: np.ndarray, l4: np.ndarray) -> None:
    sport, dport = c.sport[rows], c.dport[rows]
    claimed = np.zeros(len(rows), dtype=bool)
    for port, layer, name in UDP_TUNNELS:
        mine = ~claimed & ((dport == port) | (sport == port)) & (c.payload_len[rows] > 0)
        if mine.any():
            c.spawn(rows[mine], layer, l4[mine] + 8, name)
            claimed |= mine
    c.done(rows[~claimed])


def _icmp(c: Cursor, rows: np.ndarray, at: np.ndarray) -> None:
    short = at + 2 > np.minimum(c.end[rows], c.ip_end[rows])
    c.done(rows[short])  # type unknown: a flow between the two addresses all the same
    rows, at = rows[~short], at[~short]
    version = (c.proto[rows] == ICMPV6).astype(np.int64)
    kind, code = u8(c, at), u8(c, at + 1)
    reply, request = REPLY_OF[version, kind], REQUEST_OF[version, kind]
    # Request: (type, reply type); reply: (type, request type); the rest: (type, code).
    c.sport[rows] = kind
    c.dport[rows] = np.where(reply >= 0, reply, np.where(request >= 0, request, code))
    c.done(rows)
