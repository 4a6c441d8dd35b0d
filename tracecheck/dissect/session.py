"""Who each flow talks to: run the protocol dissectors over the few packets that matter.

``Dissection.on_packets`` is the flow stage's packet hook.  Per batch it picks, in bulk, the
packets whose payload can name something — the first payload packets of every flow, every
DNS packet, anything that starts like SIP or carries the STUN cookie — and only those are
handed to the per-protocol parsers.  ``finish`` then names every flow (SNI > HTTP Host >
SIP > DNS) and links RTP streams to the SIP calls that announced them; ``names`` lists every
name seen, for the stages that want the list.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tracecheck.dissect._wire import canonical_ip
from tracecheck.dissect.tcp_stream import DEFAULT_LIMIT, StreamReassembler, seq_diff
from tracecheck.flows.table import FlowTable, address
from tracecheck.ingest.decode import Packets
from tracecheck.vocabulary import Call, NameObservation

if TYPE_CHECKING:
    from tracecheck.dissect import dns, dtls, http, quic, rtp, sip, stun, tls

try:
    from tracecheck.dissect._select import choose as _choose
except ImportError:  # built without a C compiler: Candidates and _early, in NumPy, choose
    _choose = None
COMPILED = _choose is not None


def load_protocols() -> None:
    """Import the protocol dissectors, on the first packet examined: a process that only picks
    packets for a worker (worker.py) never examines one and is spared ~45 ms of imports."""
    global dns, dtls, http, quic, rtp, sip, stun, tls
    from tracecheck.dissect import dns, dtls, http, quic, rtp, sip, stun, tls

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
ECH_DETAIL = "ECH offered: may be only the public (outer) name"
NAME_RANK = {"sni": 0, "quic_sni": 0, "http_host": 1, "sip": 2, "dns": 3}
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
    blob: bytes
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
                   flags=p.tcp_flags[pick], must=must, dns=dns, blob=blob,
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
               "must", "dns")


def _joined(data: memoryview, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, bytes]:
    """The slices ``data[start:end]`` one after another, and where each begins (plus the end)."""
    offset = np.zeros(len(start) + 1, dtype=np.int64)
    np.cumsum(end - start, out=offset[1:])
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
        return cls(rows=rows, limit=np.where(is_tcp, FIRST_PAYLOADS_TCP, FIRST_PAYLOADS_UDP),
                   always=dns_port | sip_like | cookie, dns=dns_port, not_a_hello=not_a_hello, syns=syns)


class _Packet(NamedTuple):
    payload: bytes
    ts: float
    src: tuple[int, int]
    """An address as its two 64-bit halves: text only where a name needs it (``address``)."""
    dst: tuple[int, int]
    sport: int
    dport: int
    tcp: bool
    seq: int
    flags: int


@dataclass
class _FlowState:
    app: str = ""
    names: list = field(default_factory=list)  # (source, name, detail) in the order found
    streams: dict = field(default_factory=dict)  # sender -> StreamReassembler
    consumed: dict = field(default_factory=dict)  # sender -> stream bytes already parsed (DNS/SIP over TCP)
    tls_done: set = field(default_factory=set)
    quic: quic.QuicInitialAssembler | None = None
    rtp: rtp.RtpStreamDetector | None = None
    first_sender: tuple | None = None


@dataclass
class _CallState:
    first_ts: float
    last_ts: float
    signalling: set = field(default_factory=set)
    media_endpoints: set = field(default_factory=set)
    srtp: bool = False


class Dissection:
    """Collects names, apps and calls while the flow table is built."""

    def __init__(self) -> None:
        self.flows: dict[int, _FlowState] = defaultdict(_FlowState)
        self.absorbed: dict[int, tuple[str, list]] = {}  # a worker's findings: flow index -> (app, names)
        self.seen = np.zeros(1024, dtype=np.int64)  # payload packets looked at, per flow index
        self.finished = np.zeros(1024, dtype=bool)  # nothing more to learn from this flow's payloads
        self.client_start = np.full(1024, -1, dtype=np.int64)  # per flow: client's first stream byte (SYN seq + 1)
        self.client_port = np.zeros(1024, dtype=np.int64)  # per flow: the port the SYN came from
        self.dns_answers: list[tuple] = []  # (ts, ip, name, source, flow, ttl, client, detail)
        self.calls: dict[str, _CallState] = {}
        self.stun_addresses: list[tuple] = []  # (flow, kind, ip, port)
        self.examined = 0

    # ------------------------------------------------------------------ selection, in bulk

    def on_packets(self, p: Packets, flow_of: np.ndarray, capture: int) -> None:
        """The flow stage's hook: pick the packets that matter, then look at them."""
        picks = self.select(p, flow_of)
        if picks is not None:
            self.examine(picks)

    def select(self, p: Packets, flow_of: np.ndarray) -> "Picks | None":
        """The packets whose payload can name something, in bulk: every DNS packet, whatever
        starts like SIP or carries the STUN cookie, and the first payload packets of each flow
        not yet recognised."""
        if not len(p):
            return None
        self._grow(int(flow_of.max()) + 1)
        if _choose is not None:
            pick, must, dns, syns = self._choose_compiled(p, flow_of)
        else:
            c = Candidates.of(p)
            early = self._early(flow_of[c.rows], c.limit) & ~c.not_a_hello
            chosen = early | c.always
            pick, must, dns, syns = c.rows[chosen], c.always[chosen], c.dns[chosen], c.syns
        if not len(pick) and not len(syns):
            return None
        return Picks.gather(p, flow_of, pick, must, dns, syns)

    def _choose_compiled(self, p: Packets, flow_of: np.ndarray) -> tuple[np.ndarray, ...]:
        """The same choice as ``Candidates`` and ``_early``, in one compiled pass (_select.c)."""
        n = len(p)
        picks, kinds, syns = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.uint8), np.empty(n, dtype=np.int64)
        picked, syn_count = _choose(
            np.ascontiguousarray(p.proto, dtype=np.int16), np.ascontiguousarray(p.tcp_flags, dtype=np.int16),
            np.ascontiguousarray(p.payload_len, dtype=np.int64), np.ascontiguousarray(p.payload_head, dtype=np.uint64),
            np.ascontiguousarray(p.sport, dtype=np.int32), np.ascontiguousarray(p.dport, dtype=np.int32),
            np.ascontiguousarray(flow_of, dtype=np.int64), self.seen, self.finished.view(np.uint8),
            picks, kinds, syns)
        kinds = kinds[:picked]
        return picks[:picked], (kinds & 1).astype(bool), (kinds & 2).astype(bool), syns[:syn_count]

    def _early(self, flows: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Which of these payload packets (their flows, in capture order) are among the first
        ``limit`` of a flow not yet recognised; counts them as seen."""
        early = np.zeros(len(flows), dtype=bool)
        # Only flows still short of their limit can have an early packet: rank those alone.
        open_rows = np.flatnonzero(~self.finished[flows] & (self.seen[flows] < limit))
        candidates = flows[open_rows]
        order = np.argsort(candidates, kind="stable")
        ordered = candidates[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, dtype=np.int64)
        sizes = np.diff(np.r_[starts, len(ordered)])
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - np.repeat(starts, sizes)  # place within its flow's packets
        early[open_rows] = self.seen[candidates] + rank < limit[open_rows]
        self.seen[ordered[starts]] += sizes
        return early

    def examine(self, picks: "Picks") -> None:
        """Look at picked packets one by one, in capture order."""
        if "tls" not in globals():
            load_protocols()
        # A worker process sees only the picks: room for their flows in the per-flow arrays.
        self._grow(max(int(picks.flow.max(initial=-1)), int(picks.syn_flow.max(initial=-1))) + 1)
        if len(picks.syn_flow):
            self.client_start[picks.syn_flow] = picks.syn_start
            self.client_port[picks.syn_flow] = picks.syn_port
        datagrams = picks.dns & (picks.proto == UDP)
        if datagrams.any():
            self._dns_datagrams(picks, np.flatnonzero(datagrams))
        rest = self._whole_client_hellos(picks, np.flatnonzero(~datagrams))
        finished, blob = self.finished, picks.blob
        for start, end, flow, ts, src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, seq, flags, must in picks.rows(
                rest, "flow", "ts", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "proto", "seq", "flags",
                "must"):
            if not must and finished[flow]:  # recognised by an earlier packet of this batch
                continue
            self.examined += 1
            packet = _Packet(blob[start:end], ts, (src_hi, src_lo), (dst_hi, dst_lo), sport, dport, proto == TCP, seq, flags)
            self._examine(packet, flow)
            finished = self.finished  # _examine may have grown the arrays

    def _whole_client_hellos(self, picks: "Picks", rows: np.ndarray) -> np.ndarray:
        """Name the flows whose first picked packet is a whole ClientHello — most TLS flows —
        leaving the state ``_examine`` would leave, without its per-packet work; return the
        rows still to examine."""
        blob = picks.blob
        start, end = picks.offset[:-1][rows], picks.offset[1:][rows]
        flows = picks.flow[rows]
        first_byte = np.frombuffer(blob, dtype=np.uint8)[np.minimum(start, max(len(blob) - 1, 0))] if len(blob) else 0
        candidate = (picks.proto[rows] == TCP) & (end - start > 5) & (end - start <= DEFAULT_LIMIT) & (first_byte == 0x16)
        first_of_flow = np.zeros(len(rows), dtype=bool)
        first_of_flow[np.unique(flows, return_index=True)[1]] = True
        candidate &= first_of_flow & ~self.finished[flows]
        named = []
        for i, a, b, flow, src_hi, src_lo, sport in zip(np.flatnonzero(candidate).tolist(), start[candidate].tolist(),
                                                          end[candidate].tolist(), flows[candidate].tolist(),
                                                          picks.src_hi[rows][candidate].tolist(),
                                                          picks.src_lo[rows][candidate].tolist(),
                                                          picks.sport[rows][candidate].tolist()):
            if flow in self.flows:  # seen in an earlier batch: the per-packet path knows its story
                continue
            hello = tls.parse_client_hello(blob[a:b], details=False)
            if not isinstance(hello, tls.ClientHello):
                continue
            state = self.flows[flow]
            state.first_sender = sender = ((src_hi, src_lo), sport)
            self._hello_seen(state, sender, hello)
            self.finished[flow] = True
            named.append(i)
        self.examined += len(named)
        return np.delete(rows, named)

    def _dns_datagrams(self, picks: "Picks", index: np.ndarray) -> None:
        """DNS over UDP, the bulk of what DNS-port flows carry: each datagram is one message and
        such a flow is DNS and nothing else, so this loop does only what ``_examine`` would."""
        flows, blob = self.flows, picks.blob
        self.examined += len(index)
        for start, end, flow, ts, dst_hi, dst_lo, sport, dport in picks.rows(
                index, "flow", "ts", "dst_hi", "dst_lo", "sport", "dport"):
            state = flows[flow]
            if not state.app:
                state.app = _dns_app(sport, dport)
            if end - start >= 12 and blob[start + 2] & 0x80:  # a query names nothing
                self._dns(blob[start:end], ts, flow, client=address(dst_hi, dst_lo), port=_dns_port(sport, dport))

    def _grow(self, size: int) -> None:
        """Room in the per-flow arrays for flow indexes below ``size``."""
        if size <= len(self.seen):
            return
        new = max(2 * len(self.seen), size)
        for name, fill in (("seen", 0), ("finished", False), ("client_start", -1), ("client_port", 0)):
            old = getattr(self, name)
            grown = np.full(new, fill, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    # ------------------------------------------------------------------ a worker's results

    def summary(self) -> dict:
        """What ``finish`` needs, as plain data (sent back by a worker process)."""
        return {
            "flows": self.findings(),
            "dns_answers": self.dns_answers, "stun_addresses": self.stun_addresses, "examined": self.examined,
            "calls": {call_id: (c.first_ts, c.last_ts, sorted(c.signalling), sorted(c.media_endpoints), c.srtp)
                      for call_id, c in self.calls.items()},
        }

    def absorb(self, summary: dict) -> None:
        """Take over a worker's results (see ``summary``)."""
        self.absorbed.update(summary["flows"])  # kept as sent: a _FlowState per flow would cost more than finish
        self.dns_answers += summary["dns_answers"]
        self.stun_addresses += summary["stun_addresses"]
        self.examined += summary["examined"]
        for call_id, (first, last, signalling, media, srtp) in summary["calls"].items():
            self.calls[call_id] = _CallState(first, last, set(signalling), set(media), srtp)

    # ------------------------------------------------------------------ one packet

    def _examine(self, pk: "_Packet", flow: int) -> None:
        payload, ts, src, dst, sport, dport = pk.payload, pk.ts, pk.src, pk.dst, pk.sport, pk.dport
        state = self.flows[flow]
        sender = (src, sport)
        if state.first_sender is None:
            state.first_sender = sender
        is_tcp = pk.tcp

        if sport in DNS_PORTS or dport in DNS_PORTS:
            messages = self._tcp_messages(state, sender, pk, dns.split_tcp_messages) if is_tcp else [payload]
            for raw in messages:
                self._dns(raw, ts, flow, client=address(*dst), port=_dns_port(sport, dport))
            state.app = state.app or _dns_app(sport, dport)
            return
        if is_tcp:
            self._tcp(state, sender, pk, ts, flow, dst)
        else:
            self._udp(state, payload, ts, flow, src, dst, sport, dport)
        if state.app in ("tls", "http", "websocket", "quic", "rtp", "srtp") and (state.app != "rtp" or state.rtp is None or state.rtp.verdict != "unknown"):
            self.finished[flow] = True  # named and recognised: later payloads add nothing

    def _tcp_messages(self, state, sender, pk, splitter) -> list[bytes]:
        stream = state.streams.setdefault(sender, StreamReassembler())
        stream.add(pk.seq, pk.payload, syn=bool(pk.flags & 0x02))
        data = stream.contiguous()
        done = state.consumed.get(sender, 0)
        messages, used = splitter(data[done:])
        state.consumed[sender] = done + used
        return messages

    def _tcp(self, state, sender, pk, ts, flow, dst) -> None:
        payload = pk.payload
        if sender in state.tls_done:
            return
        if state.app in ("", "tls") and (payload[:1] == b"\x16" or sender in state.streams):
            stream = state.streams.get(sender)
            if stream is None and len(payload) <= DEFAULT_LIMIT:
                # Most hellos come in one segment: parse it as it is, and reassemble only when
                # it is not a whole hello (what the reassembler would hand back is this payload).
                hello = tls.parse_client_hello(payload, details=False)
                if not isinstance(hello, tls.ClientHello):
                    stream = state.streams[sender] = StreamReassembler()
                    stream.add(pk.seq, payload)
            else:
                stream = state.streams.setdefault(sender, StreamReassembler())
                stream.add(pk.seq, payload)
                hello = tls.parse_client_hello(stream.contiguous(), details=False)
            if hello is not tls.NEED_MORE:
                self._hello_seen(state, sender, hello)
            return
        if http.looks_like_http_request(payload):
            request = http.parse_http_request(payload)
            if request is not None:
                state.app = state.app or ("websocket" if request.websocket else "http")
                if request.connect_host:
                    state.names.append(("http_host", request.connect_host, f"CONNECT {request.connect_host}:{request.connect_port} through a proxy"))
                elif request.host:
                    state.names.append(("http_host", request.host, ""))
            return
        if payload[:3] in SIP_STARTS or state.app == "sip":
            for message in self._tcp_messages(state, sender, pk, sip.split_sip_stream):
                self._sip(message, ts, flow, dst)
            return
        if not state.app and len(state.streams) == 0:
            start = int(self.client_start[flow])
            if start >= 0 and sender[1] == self.client_port[flow] and 0 < seq_diff(pk.seq, start) < 65536:
                # Not the client's first bytes: its first segment (a ClientHello's start) comes
                # later, reordered or retransmitted.  Hold this one until it does (the payload
                # packet limit bounds the wait).
                stream = state.streams[sender] = StreamReassembler(isn=start)
                stream.add(pk.seq, payload)
                return
            self.finished[flow] = True  # neither TLS, HTTP nor SIP from its first payload

    @staticmethod
    def _hello_seen(state: _FlowState, sender: tuple, hello: tls.ClientHello | None) -> None:
        """What a sender's first bytes said: a ClientHello (TLS, and maybe a name) or not TLS."""
        state.tls_done.add(sender)
        if hello is not None:
            state.app = "tls"
            if hello.sni:
                state.names.append(("sni", hello.sni, ECH_DETAIL if hello.ech else ""))

    def _udp(self, state, payload, ts, flow, src, dst, sport, dport) -> None:
        if state.quic is not None or (not state.app and quic.looks_like_quic_initial(payload)):
            if state.quic is None:
                state.quic = quic.QuicInitialAssembler(details=False)
            if not state.quic.done:
                hello = state.quic.feed(payload)
                if hello is not None:
                    state.app = "quic"
                    if hello.sni:
                        state.names.append(("quic_sni", hello.sni, ECH_DETAIL if hello.ech else ""))
            if state.app == "quic" or not state.quic.failed:
                return
        if payload[:3] in SIP_STARTS:
            message = sip.parse_sip(payload)
            if message is not None:
                state.app = "sip"
                self._sip(message, ts, flow, dst)
                return
        message = stun.parse_stun(payload)
        if message is not None:
            state.app = state.app if state.app in ("rtp", "srtp", "dtls") else "stun"
            for found in message.addresses:
                self.stun_addresses.append((flow, found.kind, found.ip, found.port))
            return
        if dtls.looks_like_dtls(payload):
            datagram = dtls.parse_dtls(payload)
            if state.app in ("", "stun"):
                state.app = "dtls"
            if datagram is not None and datagram.server_name:
                state.names.append(("sni", datagram.server_name, "DTLS ClientHello"))
            return
        if state.app in ("", "stun", "dtls", "rtp"):
            if state.rtp is None:
                state.rtp = rtp.RtpStreamDetector()
            verdict = state.rtp.add(payload, 0 if (src, sport) == state.first_sender else 1)
            if verdict == "rtp":
                state.app = "rtp"
            elif verdict == "not_rtp":
                self.finished[flow] = True
            elif rtp.looks_like_rtcp(payload) and state.app == "":
                state.app = "rtcp"

    # ------------------------------------------------------------------ protocols with side effects

    def _dns(self, raw: bytes, ts: float, flow: int, client: str, port: int) -> None:
        if len(raw) < 12 or not raw[2] & 0x80:  # a query names nothing: only answers are parsed
            return
        message = dns.parse_dns(raw)
        if message is None or not message.is_response:
            return
        for answer in dns.address_answers(message, include_additionals=port == 5353):
            chain = " -> ".join(answer.chain)
            self.dns_answers.append((ts, answer.ip, answer.query, "dns", flow, answer.ttl, client, f"CNAME chain {chain}" if len(answer.chain) > 1 else ""))
            for hop in answer.chain[1:]:
                self.dns_answers.append((ts, answer.ip, hop, "dns_cname", flow, answer.ttl, client, f"reached from {answer.query} by CNAME"))

    def _sip(self, message: sip.SipMessage, ts: float, flow: int, dst: str) -> None:
        call = self.calls.get(message.call_id)
        if call is None:
            call = self.calls[message.call_id] = _CallState(first_ts=ts, last_ts=ts)
        call.first_ts, call.last_ts = min(call.first_ts, ts), max(call.last_ts, ts)
        call.signalling.add(flow)
        state = self.flows[flow]
        state.app = "sip"
        if message.is_request and message.request_host and canonical_ip(message.request_host) is None:
            state.names.append(("sip", message.request_host, f"SIP {message.method} request URI host"))
        if message.sdp is not None:
            from tracecheck.dissect.sdp import expected_media

            for endpoint in expected_media(message.sdp):
                call.media_endpoints.add((endpoint.ip, endpoint.port))
                call.srtp |= endpoint.srtp

    # ------------------------------------------------------------------ the end

    def findings(self) -> dict[int, tuple[str, list]]:
        """Each flow's app and names ((source, name, detail) in the order found), by flow index."""
        found = {index: (state.app, state.names) for index, state in self.flows.items()}
        found.update(self.absorbed)
        return found

    def finish(self, table: FlowTable) -> tuple[FlowTable, list[Call]]:
        """Name the flows (SNI > HTTP Host > SIP > DNS) and link media to calls.

        Works on the table's columns: the named table shares all but the three columns filled here."""
        columns = table.columns
        by_ip: dict[str, list[tuple]] = defaultdict(list)
        for ts, ip, name, source, _, _, client, _ in self.dns_answers:
            if source == "dns":
                by_ip[ip].append((ts, name, client))
        endpoint_call = {ep: call_id for call_id, call in self.calls.items() for ep in call.media_endpoints}
        media: dict[str, set] = defaultdict(set)
        found = self.findings()
        server_names, name_sources, apps = [], [], []
        for index, uid, ts, proto, orig_h, orig_p, resp_h, resp_p in zip(
                table.builder_index, columns["uid"], columns["ts"], columns["proto"],
                columns["id.orig_h"], columns["id.orig_p"], columns["id.resp_h"], columns["id.resp_p"]):
            app, seen = found.get(index, _NOTHING_FOUND)
            server_name, source = "", ""
            if seen:
                source, server_name, _ = seen[0] if len(seen) == 1 else min(seen, key=_name_rank)
            if not server_name:
                answers = by_ip.get(resp_h)
                server_name = _dns_name(answers, ts, orig_h)[0] if answers else ""
                source = "dns" if server_name else ""
            call_id = (endpoint_call.get((resp_h, resp_p)) or endpoint_call.get((orig_h, orig_p))
                       if endpoint_call and proto == "udp" else None)
            if call_id and app not in ("sip", "dns"):
                media[call_id].add(uid)
                if not app:
                    app = "srtp" if self.calls[call_id].srtp else "rtp"
                elif app == "rtp" and self.calls[call_id].srtp:
                    app = "srtp"
            server_names.append(server_name)
            name_sources.append(source)
            apps.append(app)
        uid_of = dict(zip(table.builder_index, columns["uid"]))
        calls = [
            Call(call_id=call_id, first_ts=call.first_ts, last_ts=call.last_ts,
                 signalling=tuple(sorted(uid_of[f] for f in call.signalling if f in uid_of)),
                 media=tuple(sorted(media.get(call_id, ()))))
            for call_id, call in sorted(self.calls.items(), key=lambda kv: (kv[1].first_ts, kv[0]))
        ]
        return table.with_names(server_names, name_sources, apps), calls

    def names(self, table: FlowTable) -> list[NameObservation]:
        """Every name seen for an address (DNS answers, then each flow's own names), sorted.

        Separate from ``finish`` because it is costly (a frozen record per name) and the flow
        table needs only each flow's best name."""
        columns = table.columns
        uid_of = dict(zip(table.builder_index, columns["uid"]))
        names = [NameObservation(ts=ts, ip=ip, name=name, source=source, uid=uid_of.get(flow, ""), ttl=ttl, client=client, detail=detail)
                 for ts, ip, name, source, flow, ttl, client, detail in self.dns_answers]
        found = self.findings()
        for index, uid, ts, resp_h in zip(table.builder_index, columns["uid"], columns["ts"], columns["id.resp_h"]):
            _, seen = found.get(index, _NOTHING_FOUND)
            names += [NameObservation(ts=ts, ip=resp_h, name=name, source=src, uid=uid, detail=detail)
                      for src, name, detail in seen]
        # Every field in the key: which process examined a DNS packet (worker.py) must not
        # change the order of two answers that differ only in TTL, client or detail.
        names.sort(key=_observation_order)
        return names


_NOTHING_FOUND = ("", ())


def _dns_app(sport: int, dport: int) -> str:
    return "mdns" if 5353 in (sport, dport) else "llmnr" if 5355 in (sport, dport) else "dns"


def _dns_port(sport: int, dport: int) -> int:
    """The DNS port a message was on (mDNS keeps addresses among the additional records)."""
    return min(sport, dport) if sport in DNS_PORTS else dport


def _observation_order(seen: NameObservation) -> tuple:
    return (seen.ts, seen.ip, seen.name, seen.source, seen.uid, seen.client, seen.detail,
            -1 if seen.ttl is None else seen.ttl)


def _name_rank(found: tuple) -> int:
    return NAME_RANK[found[0]]


def _dns_name(answers, ts: float, client: str) -> tuple[str, str]:
    """The name answered to this flow's client most recently before the flow began; else to
    any client before it began; else the first answer after (a name seen late is still a name)."""
    before_mine = [a for a in answers if a[0] <= ts and a[2] == client]
    if before_mine:
        return max(before_mine)[1], "answered to this client before the flow"
    before = [a for a in answers if a[0] <= ts]
    if before:
        return max(before)[1], "answered to another client before the flow"
    if answers:
        return min(answers)[1], "answered only after the flow began"
    return "", ""
