"""Who each flow talks to: run the protocol dissectors over the few packets that matter.

``Dissection.on_packets`` is the flow stage's packet hook.  Per batch it picks, in bulk, the
packets whose payload can name something — the first payload packets of every flow, every
DNS packet, anything that starts like SIP or carries the STUN cookie — and only those are
handed to the per-protocol parsers.  ``finish`` then names every flow (SNI > HTTP Host >
SIP > DNS), links RTP streams to the SIP calls that announced them, and returns the names.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from tracecheck.dissect import dns, dtls, http, quic, rtp, sip, stun, tls
from tracecheck.dissect.tcp_stream import StreamReassembler, seq_diff
from tracecheck.flows.table import address
from tracecheck.ingest.decode import Packets
from tracecheck.vocabulary import Call, Flow, NameObservation

# Payload packets per flow looked at: a TCP ClientHello or HTTP request is in the client's
# first segments; UDP needs a few more (RTP is recognised from a run of packets).
FIRST_PAYLOADS_TCP = 4
FIRST_PAYLOADS_UDP = 8
DNS_PORTS = (53, 5353, 5355)
STUN_COOKIE = 0x2112A442
SIP_STARTS = (b"INV", b"REG", b"ACK", b"BYE", b"CAN", b"OPT", b"SIP", b"NOT", b"SUB", b"INF", b"PRA", b"UPD", b"REF", b"MES", b"PUB")
_SIP_PREFIXES = np.array([(s[0] << 16) | (s[1] << 8) | s[2] for s in SIP_STARTS], dtype=np.int64)
NAME_RANK = {"sni": 0, "quic_sni": 0, "http_host": 1, "sip": 2, "dns": 3}
TCP, UDP = 6, 17


class _Packet(NamedTuple):
    payload: bytes
    ts: float
    src: str
    dst: str
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
        if not len(p):
            return
        if flow_of.max() >= len(self.seen):
            grown = np.zeros(max(2 * len(self.seen), int(flow_of.max()) + 1), dtype=np.int64)
            grown[: len(self.seen)] = self.seen
            done = np.zeros(len(grown), dtype=bool)
            done[: len(self.finished)] = self.finished
            start = np.full(len(grown), -1, dtype=np.int64)
            start[: len(self.client_start)] = self.client_start
            port = np.zeros(len(grown), dtype=np.int64)
            port[: len(self.client_port)] = self.client_port
            self.seen, self.finished, self.client_start, self.client_port = grown, done, start, port
        proto = p.proto.astype(np.int64)
        # Where each client's stream starts, from its SYN: tells a late first segment from a stream
        # that does not start like anything known.
        syns = np.flatnonzero((proto == TCP) & ((p.tcp_flags & 0x12) == 0x02))
        if len(syns):
            self.client_start[flow_of[syns]] = (p.seq[syns].astype(np.int64) + 1) & 0xFFFFFFFF
            self.client_port[flow_of[syns]] = p.sport[syns]
        ported = ((proto == TCP) | (proto == UDP)) & (p.payload_len > 0)
        rows = np.flatnonzero(ported)
        if not len(rows):
            return
        flows = flow_of[rows]
        order = np.argsort(flows, kind="stable")
        sorted_flows = flows[order]
        starts = np.r_[True, sorted_flows[1:] != sorted_flows[:-1]]
        group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - group_start
        limit = np.where(proto[rows] == TCP, FIRST_PAYLOADS_TCP, FIRST_PAYLOADS_UDP)
        early = ~self.finished[flows] & (self.seen[flows] + rank < limit)
        np.add.at(self.seen, flows, 1)

        data, at, size = p.data, p.payload[rows], p.payload_len[rows]
        dns_port = np.isin(p.sport[rows], DNS_PORTS) | np.isin(p.dport[rows], DNS_PORTS)
        prefix = (data[at].astype(np.int64) << 16) | (data[at + 1].astype(np.int64) << 8) | data[at + 2]
        sip_like = (size >= 8) & np.isin(prefix, _SIP_PREFIXES)
        cookie = (size >= 20) & (((data[at + 4].astype(np.int64) << 24) | (data[at + 5].astype(np.int64) << 16)
                                  | (data[at + 6].astype(np.int64) << 8) | data[at + 7]) == STUN_COOKIE)
        always = dns_port | sip_like | cookie  # looked at whatever the flow's state
        chosen = early | always
        pick, always = rows[chosen], always[chosen]
        if not len(pick):
            return
        # Plain Python values for the per-packet work: numpy scalars are slow one by one.
        columns = zip(flow_of[pick].tolist(), p.payload[pick].tolist(), p.payload_len[pick].tolist(),
                      (p.ts_ns[pick] / 1e9).tolist(), p.src_hi[pick].tolist(), p.src_lo[pick].tolist(),
                      p.dst_hi[pick].tolist(), p.dst_lo[pick].tolist(), p.sport[pick].tolist(), p.dport[pick].tolist(),
                      p.proto[pick].tolist(), p.seq[pick].tolist(), p.tcp_flags[pick].tolist(), always.tolist())
        raw = p.data
        finished = self.finished
        for flow, start, length, ts, src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, seq, flags, must in columns:
            if not must and finished[flow]:  # recognised by an earlier packet of this batch
                continue
            self.examined += 1
            packet = _Packet(raw[start: start + length].tobytes(), ts, address(src_hi, src_lo), address(dst_hi, dst_lo),
                             sport, dport, proto == TCP, seq, flags)
            self._examine(packet, flow)

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
                self._dns(raw, ts, flow, client=dst, port=min(sport, dport) if sport in DNS_PORTS else dport)
            state.app = state.app or ("mdns" if 5353 in (sport, dport) else "llmnr" if 5355 in (sport, dport) else "dns")
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
            stream = state.streams.setdefault(sender, StreamReassembler())
            stream.add(pk.seq, payload)
            hello = tls.parse_client_hello(stream.contiguous())
            if hello is tls.NEED_MORE:
                return
            state.tls_done.add(sender)
            if hello is not None:
                state.app = "tls"
                if hello.sni:
                    detail = "ECH offered: may be only the public (outer) name" if hello.ech else ""
                    state.names.append(("sni", hello.sni, detail))
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

    def _udp(self, state, payload, ts, flow, src, dst, sport, dport) -> None:
        if state.quic is not None or (not state.app and quic.looks_like_quic_initial(payload)):
            if state.quic is None:
                state.quic = quic.QuicInitialAssembler()
            if not state.quic.done:
                hello = state.quic.feed(payload)
                if hello is not None:
                    state.app = "quic"
                    if hello.sni:
                        state.names.append(("quic_sni", hello.sni, "ECH offered: may be only the public (outer) name" if hello.ech else ""))
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
        if message.is_request and message.request_host and not _is_address(message.request_host):
            state.names.append(("sip", message.request_host, f"SIP {message.method} request URI host"))
        if message.sdp is not None:
            from tracecheck.dissect.sdp import expected_media

            for endpoint in expected_media(message.sdp):
                call.media_endpoints.add((endpoint.ip, endpoint.port))
                call.srtp |= endpoint.srtp

    # ------------------------------------------------------------------ the end

    def finish(self, flows: list[Flow], flow_index: dict[str, int]) -> tuple[list[Flow], list[NameObservation], list[Call]]:
        """Name the flows, link media to calls, and list every name seen."""
        uid_of = {index: uid for uid, index in flow_index.items()}
        names: list[NameObservation] = []
        by_ip: dict[str, list[tuple]] = defaultdict(list)
        for ts, ip, name, source, flow, ttl, client, detail in self.dns_answers:
            names.append(NameObservation(ts=ts, ip=ip, name=name, source=source, uid=uid_of.get(flow, ""), ttl=ttl, client=client, detail=detail))
            if source == "dns":
                by_ip[ip].append((ts, name, client))
        endpoint_call = {ep: call_id for call_id, call in self.calls.items() for ep in call.media_endpoints}
        media: dict[str, set] = defaultdict(set)
        named: list[Flow] = []
        for flow in flows:
            index = flow_index[flow.uid]
            state = self.flows.get(index)
            server_name, source, app = "", "", state.app if state else ""
            if state and state.names:
                source, server_name, detail = min(state.names, key=lambda n: NAME_RANK[n[0]])
                for src, name, det in state.names:
                    names.append(NameObservation(ts=flow.ts, ip=flow.resp_h, name=name, source=src, uid=flow.uid, detail=det))
            if not server_name:
                server_name, detail = _dns_name(by_ip.get(flow.resp_h, ()), flow)
                source = "dns" if server_name else ""
            call_id = endpoint_call.get((flow.resp_h, flow.resp_p)) or endpoint_call.get((flow.orig_h, flow.orig_p))
            if call_id and flow.proto == "udp" and app not in ("sip", "dns"):
                media[call_id].add(flow.uid)
                if not app:
                    app = "srtp" if self.calls[call_id].srtp else "rtp"
                elif app == "rtp" and self.calls[call_id].srtp:
                    app = "srtp"
            named.append(replace(flow, server_name=server_name, name_source=source, app=app))
        calls = [
            Call(call_id=call_id, first_ts=call.first_ts, last_ts=call.last_ts,
                 signalling=tuple(sorted(uid_of[f] for f in call.signalling if f in uid_of)),
                 media=tuple(sorted(media.get(call_id, ()))))
            for call_id, call in sorted(self.calls.items(), key=lambda kv: (kv[1].first_ts, kv[0]))
        ]
        names.sort(key=lambda n: (n.ts, n.ip, n.name, n.source, n.uid))
        return named, names, calls


def _dns_name(answers, flow: Flow) -> tuple[str, str]:
    """The name answered to this flow's client most recently before the flow began; else to
    any client before it began; else the first answer after (a name seen late is still a name)."""
    before_mine = [a for a in answers if a[0] <= flow.ts and a[2] == flow.orig_h]
    if before_mine:
        return max(before_mine)[1], "answered to this client before the flow"
    before = [a for a in answers if a[0] <= flow.ts]
    if before:
        return max(before)[1], "answered to another client before the flow"
    if answers:
        return min(answers)[1], "answered only after the flow began"
    return "", ""


def _is_address(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host
