"""Which packets the dissectors look at: chosen in bulk, a batch at a time.

Every packet of a capture passes through this choice; a few in a hundred are then looked at
one by one (``session.Dissection.examine``).  A packet is chosen when its
payload can name something: every DNS packet, whatever starts like SIP or carries the STUN
cookie, the first payload packets of each flow not yet recognised — except TLS records
that cannot be a ClientHello — and, later in a flow not yet recognised, a record that starts
like a ClientHello (STARTTLS: SMTP, POP3, IMAP, FTP and XMPP upgrade after an exchange of any
length).  ``Candidates`` and ``_early`` say it in NumPy; ``_select.c``
does the same in one compiled pass, and the tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tracecheck.ingest.decode import Packets

try:
    from tracecheck.dissect._select import choose as _choose
    from tracecheck.dissect._select import join_slices as _join_slices
except ImportError:  # built without a C compiler: Candidates and _early, in NumPy, choose
    _choose = _join_slices = None
COMPILED = _choose is not None

# Payload packets per flow looked at: a TCP ClientHello or HTTP request is in the client's
# first segments; UDP needs a few more (RTP is recognised from a run of packets).
FIRST_PAYLOADS_TCP = 4
FIRST_PAYLOADS_UDP = 8
DNS_PORTS = (53, 5353, 5355)
STUN_COOKIE = 0x2112A442
SIP_STARTS = (b"INV", b"REG", b"ACK", b"BYE", b"CAN", b"OPT", b"SIP", b"NOT", b"SUB", b"INF", b"PRA", b"UPD", b"REF", b"MES", b"PUB")
_DNS_PORT = np.zeros(1 << 16, dtype=bool)
_DNS_PORT[list(DNS_PORTS)] = True
_SIP_PREFIXES = np.array([(s[0] << 16) | (s[1] << 8) | s[2] for s in SIP_STARTS], dtype=np.int64)
TCP, UDP = 6, 17


@dataclass
class Picks:
    """The packets a batch hands to the dissectors: their fields as arrays and their payloads
    in one byte string — cheap to build in bulk and to send to another process."""

    flow: np.ndarray
    offset: np.ndarray
    """Where each payload starts in ``blob``; it ends where the next one starts."""
    ts: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    proto: np.ndarray
    seq: np.ndarray
    flags: np.ndarray
    must: np.ndarray
    """DNS, SIP and STUN packets: looked at even in a flow already recognised."""
    dns: np.ndarray
    """Packets on a DNS port (53, 5353, 5355): whole flows, DNS and nothing else."""
    ip_len: np.ndarray
    """IP bytes of each packet as on the wire (TURN counts what it relays to each peer)."""
    blob: bytes | memoryview
    """The payloads one after another (a worker process reads them into a buffer it reuses)."""
    syn_flow: np.ndarray
    """Flows that saw a client SYN in the batch, where its stream starts, and its port."""
    syn_start: np.ndarray
    syn_port: np.ndarray

    @classmethod
    def gather(cls, p: Packets, flow_of: np.ndarray, pick: np.ndarray, must: np.ndarray, dns: np.ndarray,
               syns: np.ndarray) -> "Picks":
        start = p.payload[pick]
        offset, blob = _joined(memoryview(p.data), start, start + p.payload_len[pick])
        return cls(flow=flow_of[pick], offset=offset, ts=p.ts_ns[pick] / 1e9,
                   src_hi=p.src_hi[pick], src_lo=p.src_lo[pick], dst_hi=p.dst_hi[pick], dst_lo=p.dst_lo[pick],
                   sport=p.sport[pick], dport=p.dport[pick], proto=p.proto[pick], seq=p.seq[pick],
                   flags=p.tcp_flags[pick], must=must, dns=dns, ip_len=p.ip_len[pick], blob=blob,
                   syn_flow=flow_of[syns], syn_start=(p.seq[syns].astype(np.int64) + 1) & 0xFFFFFFFF,
                   syn_port=p.sport[syns].astype(np.int64))

    def split_dns(self) -> tuple["Picks", "Picks"]:
        """(the DNS packets, the rest): the flows of one never share state with the other's, so
        two processes can look at them side by side.  The client SYNs go with the rest."""
        return self._take(np.flatnonzero(self.dns), with_syns=False), self._take(np.flatnonzero(~self.dns), with_syns=True)

    def _take(self, rows: np.ndarray, with_syns: bool) -> "Picks":
        offset, blob = _joined(memoryview(self.blob), self.offset[:-1][rows], self.offset[1:][rows])
        syns = slice(None) if with_syns else slice(0, 0)
        return replace(self, offset=offset, blob=blob, **{name: getattr(self, name)[rows] for name in _PER_PACKET},
                       **{name: getattr(self, name)[syns] for name in ("syn_flow", "syn_start", "syn_port")})

    def __len__(self) -> int:
        return len(self.flow)

    def rows(self, index: np.ndarray, *names: str):
        """The packets at ``index``: a tuple each of their payload's start and end in ``blob``
        and the named fields, as plain Python values (numpy scalars are slow one by one)."""
        return zip(self.offset[:-1][index].tolist(), self.offset[1:][index].tolist(),
                   *(getattr(self, name)[index].tolist() for name in names))


_PER_PACKET = ("flow", "ts", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "proto", "seq", "flags",
               "must", "dns", "ip_len")


def _joined(data: memoryview, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, bytes]:
    """The slices ``data[start:end]`` one after another, and where each begins (plus the end)."""
    offset = np.zeros(len(start) + 1, dtype=np.int64)
    np.cumsum(end - start, out=offset[1:])
    if _join_slices is not None:  # one copy in C, not a slice object per payload
        return offset, _join_slices(data, np.ascontiguousarray(start, dtype=np.int64),
                                    np.ascontiguousarray(end, dtype=np.int64))
    return offset, b"".join([data[a:b] for a, b in zip(start.tolist(), end.tolist())])


@dataclass
class Candidates:
    """What can be told of a batch's packets without any flow's state: which carry a payload,
    and of those which must be looked at whatever their flow and which cannot name anything."""

    rows: np.ndarray
    """TCP and UDP packets with a payload."""
    limit: np.ndarray
    """Per row: how many of its flow's first payloads are looked at (TCP fewer than UDP)."""
    always: np.ndarray
    """Per row: DNS port, starts like SIP, or carries the STUN cookie: looked at whatever the flow's state."""
    dns: np.ndarray
    """Per row: on a DNS port."""
    not_a_hello: np.ndarray
    """Per row: a TLS record that cannot be a ClientHello."""
    hello_start: np.ndarray
    """Per row: a TCP payload that starts like a ClientHello record: looked at however late it
    comes in a flow not yet recognised (a STARTTLS upgrade, a hello after junk payloads)."""
    syns: np.ndarray
    """Client SYNs: where each client's stream starts."""

    @classmethod
    def of(cls, p: Packets) -> "Candidates":
        proto = p.proto
        # Where each client's stream starts, from its SYN: tells a late first segment from a stream
        # that does not start like anything known.
        syns = np.flatnonzero((proto == TCP) & ((p.tcp_flags & 0x12) == 0x02))
        rows = np.flatnonzero(((proto == TCP) | (proto == UDP)) & (p.payload_len > 0))
        is_tcp = proto[rows] == TCP
        size, head8 = p.payload_len[rows], p.payload_head[rows]  # first eight bytes, zero past the end
        head = (head8 >> 32).astype(np.int64)  # the first four
        dns_port = _DNS_PORT[p.sport[rows]] | _DNS_PORT[p.dport[rows]]
        sip_like = (size >= 8) & np.isin(head >> 8, _SIP_PREFIXES)
        cookie = (size >= 20) & ((head8 & 0xFFFFFFFF) == STUN_COOKIE)
        # TLS records that cannot be a ClientHello (application data, alerts, a ServerHello ...)
        # name nothing: most of a TLS flow's first packets, and the largest.  The record header
        # must be well-formed, so a hello's continuation segment is never mistaken for one.
        first, handshake_type = head >> 24, (head8 >> 16) & 0xFF
        tls_record = is_tcp & (((head >> 16) & 0xFF) == 3) & (((head >> 8) & 0xFF) <= 4)
        not_a_hello = tls_record & ((first == 23) | (first == 20) | (first == 21) | ((first == 22) & (handshake_type != 1)))
        hello_start = tls_record & (first == 22) & (handshake_type == 1)
        return cls(rows=rows, limit=np.where(is_tcp, FIRST_PAYLOADS_TCP, FIRST_PAYLOADS_UDP),
                   always=dns_port | sip_like | cookie, dns=dns_port, not_a_hello=not_a_hello,
                   hello_start=hello_start, syns=syns)


def choose(p: Packets, flow_of: np.ndarray, seen: np.ndarray, finished: np.ndarray) -> tuple[np.ndarray, ...]:
    """(packets chosen, which of them must be looked at, which are on a DNS port, client SYNs).

    ``seen`` (per flow: payload packets counted so far) is updated; ``finished`` (per flow:
    nothing more to learn from its payloads) is read.  Both must cover every flow in ``flow_of``."""
    if _choose is not None:
        return _choose_compiled(p, flow_of, seen, finished)
    c = Candidates.of(p)
    flows = flow_of[c.rows]
    early = _early(flows, c.limit, seen, finished) & ~c.not_a_hello
    late_hello = c.hello_start & ~finished[flows]  # not counted in seen: a flow's first payloads stay its first
    chosen = early | c.always | late_hello
    return c.rows[chosen], c.always[chosen], c.dns[chosen], c.syns


def _choose_compiled(p: Packets, flow_of: np.ndarray, seen: np.ndarray, finished: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same choice as ``Candidates`` and ``_early``, in one compiled pass (_select.c)."""
    n = len(p)
    picks, kinds, syns = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.uint8), np.empty(n, dtype=np.int64)
    picked, syn_count = _choose(
        np.ascontiguousarray(p.proto, dtype=np.int16), np.ascontiguousarray(p.tcp_flags, dtype=np.int16),
        np.ascontiguousarray(p.payload_len, dtype=np.int64), np.ascontiguousarray(p.payload_head, dtype=np.uint64),
        np.ascontiguousarray(p.sport, dtype=np.int32), np.ascontiguousarray(p.dport, dtype=np.int32),
        np.ascontiguousarray(flow_of, dtype=np.int64), seen, finished.view(np.uint8),
        picks, kinds, syns)
    kinds = kinds[:picked]
    return picks[:picked], (kinds & 1).astype(bool), (kinds & 2).astype(bool), syns[:syn_count]


def _early(flows: np.ndarray, limit: np.ndarray, seen: np.ndarray, finished: np.ndarray) -> np.ndarray:
    """Which of these payload packets (their flows, in capture order) are among the first
    ``limit`` of a flow not yet recognised; counts them as seen."""
    early = np.zeros(len(flows), dtype=bool)
    # Only flows still short of their limit can have an early packet: rank those alone.
    open_rows = np.flatnonzero(~finished[flows] & (seen[flows] < limit))
    candidates = flows[open_rows]
    order = np.argsort(candidates, kind="stable")
    ordered = candidates[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, len(ordered)])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, sizes)  # place within its flow's packets
    early[open_rows] = seen[candidates] + rank < limit[open_rows]
    seen[ordered[starts]] += sizes
    return early
