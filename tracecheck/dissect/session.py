"""Who each flow talks to: run the protocol dissectors over the few packets that matter.

``Dissection.on_packets`` is the flow stage's packet hook.  Per batch it picks, in bulk
(``choice.choose``), the packets whose payload can name something — the first payload
packets of every flow, every DNS packet, anything that starts like SIP or carries the STUN
cookie — and only those are handed to the per-protocol parsers.  ``finish`` then names every flow (SNI > HTTP Host >
SIP > DNS) and links RTP streams to the SIP calls that announced them; ``names`` lists every
name seen, for the stages that want the list -- with the names servers claim for themselves (a
STUN REALM, a greeting), which say who runs a server, never name a flow and never place it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tracecheck.dissect._wire import canonical_ip
from tracecheck.dissect._wire import host_name as _wire_host_name
from tracecheck.dissect.choice import DNS_PORTS, SIP_STARTS, TCP, UDP, Picks, choose
from tracecheck.dissect.tcp_stream import DEFAULT_LIMIT, StreamReassembler, seq_diff
from tracecheck.dissect.turn import TurnLog
from tracecheck.flows.table import FlowTable, address
from tracecheck.ingest.decode import Packets
from tracecheck.vocabulary import Call, NameObservation, RelayedPeer

if TYPE_CHECKING:
    from tracecheck.dissect import agora, banner, dns, dtls, gquic, http, quic, rtp, sip, stun, tls


def load_protocols() -> None:
    """Import the protocol dissectors, on the first packet examined: a process that only picks
    packets for a worker (worker.py) never examines one and is spared ~45 ms of imports."""
    global agora, banner, dns, dtls, gquic, http, quic, rtp, sip, stun, tls
    from tracecheck.dissect import agora, banner, dns, dtls, gquic, http, quic, rtp, sip, stun, tls

ECH_DETAIL = "ECH offered: may be only the public (outer) name"
_STUN_COOKIE = (0x2112A442).to_bytes(4, "big")
NAME_RANK = {"sni": 0, "quic_sni": 0, "http_host": 1, "sip": 2, "dns": 3}
REALM_DETAIL = "STUN REALM: the relay operator's authentication domain (who runs the relay, not where it is)"
BANNER_DETAIL = "{protocol} greeting: the server's own claim of its name (who runs it, not where it is)"


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
    ip_len: int


@dataclass(slots=True)
class _FlowState:
    app: str = ""
    names: list = field(default_factory=list)  # (source, name, detail) in the order found
    streams: dict = field(default_factory=dict)  # sender -> StreamReassembler
    consumed: dict = field(default_factory=dict)  # sender -> stream bytes already parsed (DNS/SIP over TCP)
    tls_done: frozenset = frozenset()  # senders whose first bytes (hello, request head) were read (few flows have any)
    head_wait: bool = False  # an HTTP request head is being reassembled: not finished yet
    preamble: bool = False  # a payload came that was neither hello nor request: not at a stream's start
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
        self.flows: dict[int, _FlowState] = {}  # see _state
        self.absorbed: dict[int, tuple[str, list]] = {}  # a worker's findings: flow index -> (app, names)
        self.dns_datagram_flows: dict[int, str] = {}  # DNS over UDP: flow index -> app (it names nothing itself)
        # Flows named by a whole first hello in bulk: flow index -> (first sender, hello).  Their
        # state is made only if a later packet needs it (``_state``): most never have one.
        self.named_by_hello: dict[int, tuple] = {}
        self.seen = np.zeros(1024, dtype=np.int64)  # payload packets looked at, per flow index
        self.finished = np.zeros(1024, dtype=bool)  # nothing more to learn from this flow's payloads
        self.client_start = np.full(1024, -1, dtype=np.int64)  # per flow: client's first stream byte (SYN seq + 1)
        self.client_port = np.zeros(1024, dtype=np.int64)  # per flow: the port the SYN came from
        self.dns_answers: list[tuple] = []  # (ts, ip, name, source, flow, ttl, client, detail)
        self.calls: dict[str, _CallState] = {}
        self.stun_addresses: list[tuple] = []  # (flow, kind, ip, port)
        # Names a server claims for itself (STUN REALM, greetings), which name the sender or the
        # receiver rather than the flow's responder: (flow, ip, name, source) -> (ts, detail).
        self.claimed: dict[tuple, tuple] = {}
        self.turn = TurnLog()
        self._ip_len = 0  # of the packet being examined
        self.examined = 0

    # ------------------------------------------------------------------ selection, in bulk

    def on_packets(self, p: Packets, flow_of: np.ndarray, capture: int) -> None:
        """The flow stage's hook: pick the packets that matter, then look at them."""
        picks = self.select(p, flow_of)
        if picks is not None:
            self.examine(picks)

    def select(self, p: Packets, flow_of: np.ndarray) -> Picks | None:
        """The packets whose payload can name something (see ``choice.choose``), gathered."""
        if not len(p):
            return None
        self._grow(int(flow_of.max()) + 1)
        # Every ChannelData packet counts toward its peer's bytes, not only the picked ones:
        # counted here, in the process that sees every packet.
        self.turn.count_channel_data(p, flow_of)
        pick, must, dns, syns = choose(p, flow_of, self.seen, self.finished)
        if not len(pick) and not len(syns):
            return None
        return Picks.gather(p, flow_of, pick, must, dns, syns)

    def examine(self, picks: "Picks") -> None:
        """Look at picked packets one by one, each flow's in capture order."""
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
        # Each flow's first packet, then the others: most flows are recognised by their first
        # (a QUIC Initial, a hello split over segments ...) and their other packets are then
        # dropped here in bulk rather than one by one.  A flow's packets keep their order;
        # what flows share (calls, answers) does not depend on the order of flows.
        first = np.zeros(len(rest), dtype=bool)
        first[np.unique(picks.flow[rest], return_index=True)[1]] = True
        self._examine_rows(picks, rest[first])
        later = rest[~first]
        self._examine_rows(picks, later[picks.must[later] | ~self.finished[picks.flow[later]]])

    def _examine_rows(self, picks: "Picks", rows: np.ndarray) -> None:
        """The packets at ``rows`` one by one, through ``_examine``, in the order given."""
        finished, blob = self.finished, picks.blob
        for start, end, flow, ts, src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, seq, flags, must, ip_len in picks.rows(
                rows, "flow", "ts", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "proto", "seq", "flags",
                "must", "ip_len"):
            if not must and finished[flow]:  # recognised by an earlier packet of this batch
                continue
            self.examined += 1
            packet = _Packet(bytes(blob[start:end]), ts, (src_hi, src_lo), (dst_hi, dst_lo), sport, dport, proto == TCP, seq, flags,
                             ip_len)
            self._ip_len = ip_len  # the packet's IP bytes: TURN counts what it relays (turn.py)
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
        candidate = ((picks.proto[rows] == TCP) & ~picks.dns[rows]  # a DNS port's flow is DNS, whatever it carries
                     & (end - start > 5) & (end - start <= DEFAULT_LIMIT) & (first_byte == 0x16))
        first_of_flow = np.zeros(len(rows), dtype=bool)
        first_of_flow[np.unique(flows, return_index=True)[1]] = True
        candidate &= first_of_flow & ~self.finished[flows]
        named, flows_named = [], []
        for i, hello, flow, src_hi, src_lo, sport in zip(
                np.flatnonzero(candidate).tolist(), tls.name_client_hellos(blob, start[candidate], end[candidate]),
                flows[candidate].tolist(), picks.src_hi[rows][candidate].tolist(),
                picks.src_lo[rows][candidate].tolist(), picks.sport[rows][candidate].tolist()):
            if not isinstance(hello, tls.ClientHello) or flow in self.flows or flow in self.named_by_hello:
                continue  # not a hello, or a flow with a story already
            self.named_by_hello[flow] = (((src_hi, src_lo), sport), hello)
            named.append(i)
            flows_named.append(flow)
        self.finished[flows_named] = True
        self.examined += len(named)
        return np.delete(rows, named)

    def _dns_datagrams(self, picks: "Picks", index: np.ndarray) -> None:
        """DNS over UDP, the bulk of what DNS-port flows carry: each datagram is one message and
        such a flow is DNS and nothing else, so this loop does only what ``_examine`` would."""
        apps, blob = self.dns_datagram_flows, picks.blob
        self.examined += len(index)
        for start, end, flow, ts, dst_hi, dst_lo, sport, dport in picks.rows(
                index, "flow", "ts", "dst_hi", "dst_lo", "sport", "dport"):
            if flow not in apps:
                apps[flow] = _dns_app(sport, dport)
            if end - start >= 12 and blob[start + 2] & 0x80:  # a query names nothing
                self._dns_answers(bytes(blob[start:end]), ts, flow, _client_text(dst_hi, dst_lo), _dns_port(sport, dport))

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
            "claimed": list(self.claimed.items()),
            "turn": self.turn.summary(),
            "calls": {call_id: (c.first_ts, c.last_ts, sorted(c.signalling), sorted(c.media_endpoints), c.srtp)
                      for call_id, c in self.calls.items()},
        }

    def absorb(self, summary: dict) -> None:
        """Take over a worker's results (see ``summary``)."""
        self.absorbed.update(summary["flows"])  # kept as sent: a _FlowState per flow would cost more than finish
        self.dns_answers += summary["dns_answers"]
        self.stun_addresses += summary["stun_addresses"]
        for key, (ts, detail) in summary["claimed"]:
            self._claim(key, ts, detail)
        self.turn.absorb(summary["turn"])
        self.examined += summary["examined"]
        for call_id, (first, last, signalling, media, srtp) in summary["calls"].items():
            self.calls[call_id] = _CallState(first, last, set(signalling), set(media), srtp)

    # ------------------------------------------------------------------ one packet

    def _examine(self, pk: "_Packet", flow: int) -> None:
        payload, ts, src, dst, sport, dport = pk.payload, pk.ts, pk.src, pk.dst, pk.sport, pk.dport
        state = self._state(flow)
        sender = (src, sport)
        if state.first_sender is None:
            state.first_sender = sender
        is_tcp = pk.tcp

        if sport in DNS_PORTS or dport in DNS_PORTS:
            messages = self._tcp_messages(state, sender, pk, dns.split_tcp_messages) if is_tcp else [payload]
            for raw in messages:
                self._dns(raw, ts, flow, client=_client_text(*dst), port=_dns_port(sport, dport))
            state.app = state.app or _dns_app(sport, dport)
            return
        if is_tcp:
            self._tcp(state, sender, pk, ts, flow, dst)
        else:
            self._udp(state, payload, ts, flow, src, dst, sport, dport)
        if not state.head_wait and state.app in ("tls", "dot", "http", "websocket", "quic", "sd-rtn", "rtp", "srtp") and (state.app != "rtp" or state.rtp is None or state.rtp.verdict != "unknown"):
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
        if len(payload) <= _ZERO_FILL and sender not in state.streams and not payload.strip(b"\0"):
            return  # a keep-alive byte or zeros some stacks send with an ACK: nothing to read, and
            # the segment that follows at the same sequence number is the real start
        stream = state.streams.get(sender)
        if stream is not None and sender not in state.consumed and (state.app in ("", "tls") or state.head_wait):
            # The client's first bytes, in pieces: a ClientHello or HTTP request head split over
            # segments, or a segment held until the stream's start turns up.
            stream.add(pk.seq, payload)
            self._first_bytes(state, sender, stream.contiguous())
            return
        if state.app in ("", "tls") and payload[:1] == b"\x16":
            if len(payload) <= DEFAULT_LIMIT:
                # Most hellos come in one segment: parse it as it is, and reassemble only when
                # it is not a whole hello (what the reassembler would hand back is this payload).
                hello = tls.parse_client_hello(payload, details=False)
                if isinstance(hello, tls.ClientHello):
                    self._hello_seen(state, sender, hello)
                    return
            stream = state.streams[sender] = StreamReassembler()
            stream.add(pk.seq, payload)
            self._first_bytes(state, sender, stream.contiguous())
            return
        if not state.app and http.starts_like_http_request(payload):
            if not self._http_head(state, sender, payload):  # the head goes on in later segments
                start = int(self.client_start[flow])
                at_start = start >= 0 and sender[1] == self.client_port[flow] and not state.preamble
                stream = state.streams[sender] = StreamReassembler(limit=http.MAX_HEAD, isn=start if at_start else None)
                stream.add(pk.seq, payload)
            return
        if payload[:3] in SIP_STARTS or state.app == "sip" or sender in state.consumed:  # consumed: SIP begun
            for message in self._tcp_messages(state, sender, pk, _sip_messages):
                self._sip(message, ts, flow, dst)
            return
        if state.app in ("", "stun") and (payload[4:8] == _STUN_COOKIE or state.app == "stun"):
            self._stun_segment(state, pk, flow)
            return
        if not state.app and len(state.streams) == 0:
            start = int(self.client_start[flow])
            if not state.preamble and start >= 0 and sender[1] != self.client_port[flow]:
                # The server speaks first: a greeting may name it (SMTP, FTP, POP3, IMAP, Munin).
                greeting = banner.greeting_name(payload)
                if greeting is not None:
                    detail = BANNER_DETAIL.format(protocol=banner.LABELS[greeting.protocol])
                    self._claim((flow, _address_text(*pk.src), greeting.name, "banner"), ts, detail)
            if (not state.preamble and start >= 0 and sender[1] == self.client_port[flow]
                    and 0 < seq_diff(pk.seq, start) < 65536):
                # Not the client's first bytes: its first segment (a ClientHello's start) comes
                # later, reordered or retransmitted.  Hold this one until it does (the payload
                # packet limit bounds the wait).
                stream = state.streams[sender] = StreamReassembler(isn=start)
                stream.add(pk.seq, payload)
                return
            # Neither TLS, HTTP nor SIP.  A hello or request may still follow a preamble: FTP's
            # AUTH TLS, RDP's negotiation, a response first in a capture begun mid-connection.
            # The flow's next few payloads are looked at too (choice.FIRST_PAYLOADS_TCP bounds it).
            state.preamble = True

    def _stun_segment(self, state, pk, flow) -> None:
        """STUN over TCP (TURN's TCP transport, RFC 8656 section 3.1): the messages a segment
        starts with, one after another.  Not reassembled: a TURN client's requests and
        indications each fit a segment, and a message split across two is skipped."""
        payload, offset = pk.payload, 0
        while offset < len(payload):
            size = stun.stun_message_length(payload[offset:])
            if size is None or offset + size > len(payload):
                return
            if payload[offset] & 0xC0 == 0:
                message = stun.parse_stun(payload[offset:offset + size])
                if message is None:
                    return
                state.app = "stun"
                for found in message.addresses:
                    self.stun_addresses.append((flow, found.kind, found.ip, found.port))
                if message.realm:
                    self._realm(message, flow, pk.ts, pk.src, pk.dst)
                self.turn.on_message(flow, pk.ts, pk.src, pk.sport, pk.dst, pk.dport, message, pk.ip_len)
            offset += size

    def _state(self, flow: int) -> _FlowState:
        """The flow's state, made when first needed (as its hello left it, if the bulk lane named it)."""
        state = self.flows.get(flow)
        if state is None:
            state = self.flows[flow] = _FlowState()
            named = self.named_by_hello.pop(flow, None)
            if named is not None:  # named in bulk by its first hello: the state that hello leaves
                state.first_sender = named[0]
                self._hello_seen(state, *named)
        return state

    def _first_bytes(self, state: _FlowState, sender: tuple, data: bytes) -> None:
        """The in-order start of a sender's stream so far: a ClientHello, an HTTP request head,
        or neither (then the sender is done with); nothing happens while either needs more."""
        if not data:
            return  # the stream's first segment has not turned up yet
        if data[:1] == b"\x16":
            hello = tls.parse_client_hello(data, details=False)
            if hello is not tls.NEED_MORE:
                self._hello_seen(state, sender, hello)
        elif state.head_wait or http.starts_like_http_request(data):
            self._http_head(state, sender, data)
        else:
            self._hello_seen(state, sender, None)

    @staticmethod
    def _http_head(state: _FlowState, sender: tuple, data: bytes) -> bool:
        """Name the flow from a client's request head; False while the head may still bring a
        host (neither a host nor the blank line yet, and under ``http.MAX_HEAD``)."""
        request = http.parse_http_request(data)
        whole = request is not None and bool(request.host or request.complete)
        if not whole and len(data) < http.MAX_HEAD and http.starts_like_http_request(data):
            state.app, state.head_wait = state.app or "http", True
            return False
        state.head_wait = False
        state.tls_done = state.tls_done | {sender}  # the first request is all that is read
        state.streams.pop(sender, None)
        if request is None:  # what started like a request line was not one
            state.app = "" if state.app == "http" else state.app
            return True
        state.app = state.app if state.app not in ("", "http") else ("websocket" if request.websocket else "http")
        if request.connect_host:
            state.names.append(("http_host", request.connect_host, f"CONNECT {request.connect_host}:{request.connect_port} through a proxy"))
        elif request.host:
            state.names.append(("http_host", request.host, ""))
        return True

    @staticmethod
    def _hello_seen(state: _FlowState, sender: tuple, hello: tls.ClientHello | None) -> None:
        """What a sender's first bytes said: a ClientHello (TLS, and maybe a name) or not TLS."""
        state.tls_done = state.tls_done | {sender}
        if hello is not None:
            state.app = _hello_app(hello)
            state.names += _hello_names(hello)

    def _udp(self, state, payload, ts, flow, src, dst, sport, dport) -> None:
        first = None
        if state.quic is None and not state.app:
            old = gquic.parse_client_packet(payload)
            if old is not None:  # Google QUIC: a CHLO (or a T05x ClientHello), on any port
                state.app = "quic"
                if old.sni:
                    state.names.append(("quic_sni", old.sni, f"gQUIC {old.version}"))
                return
            edge = agora.hello_server_name(payload)
            if edge is not None:  # the client names the media edge it wants, as an SNI does
                state.app = "sd-rtn"
                state.names.append(("sni", edge, "Agora SD-RTN hello"))
                return
            first = quic.first_initial(payload)  # cut out once: feed takes it as it is
            if first is not None:
                state.quic = quic.QuicInitialAssembler(details=False)
        if state.quic is not None:
            if not state.quic.done:
                hello = state.quic.feed(payload, first)
                if hello is not None:
                    state.app = "quic"
                    if hello.sni:
                        state.names.append(("quic_sni", hello.sni, ECH_DETAIL if hello.ech else ""))
            if state.app == "quic" or not state.quic.failed:
                return
        if payload[:3] in SIP_STARTS:
            message = sip.parse_sip(payload, details=False)
            if message is not None:
                state.app = "sip"
                self._sip(message, ts, flow, dst)
                return
        message = stun.parse_stun(payload)
        if message is not None:
            state.app = state.app if state.app in ("rtp", "srtp", "dtls") else "stun"
            for found in message.addresses:
                self.stun_addresses.append((flow, found.kind, found.ip, found.port))
            if message.realm:
                self._realm(message, flow, ts, src, dst)
            self.turn.on_message(flow, ts, src, sport, dst, dport, message, self._ip_len)
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

    def _realm(self, message: stun.StunMessage, flow: int, ts: float, src: tuple, dst: tuple) -> None:
        """A STUN REALM names the server's operator: the server sends responses and receives
        requests (an indication's direction says nothing of who the server is)."""
        if message.message_class == "indication":
            return
        name = _wire_host_name(message.realm.strip('"'))
        if name is not None:
            server = dst if message.message_class == "request" else src
            self._claim((flow, _address_text(*server), name, "stun_realm"), ts, REALM_DETAIL)

    def _claim(self, key: tuple, ts: float, detail: str) -> None:
        """Keep a claimed name's first sighting in its flow (a realm comes in every request)."""
        earlier = self.claimed.get(key)
        if earlier is None or ts < earlier[0]:
            self.claimed[key] = (ts, detail)

    def _dns(self, raw: bytes, ts: float, flow: int, client: str, port: int) -> None:
        if len(raw) >= 12 and raw[2] & 0x80:  # a query names nothing: only answers are parsed
            self._dns_answers(raw, ts, flow, client, port)

    def _dns_answers(self, response: bytes, ts: float, flow: int, client: str, port: int) -> None:
        answers = self.dns_answers
        for query, ip, ttl, chain in dns.response_addresses(response, include_additionals=port == 5353):
            if len(chain) == 1:
                answers.append((ts, ip, query, "dns", flow, ttl, client, ""))
                continue
            answers.append((ts, ip, query, "dns", flow, ttl, client, f"CNAME chain {' -> '.join(chain)}"))
            for hop in chain[1:]:
                answers.append((ts, ip, hop, "dns_cname", flow, ttl, client, f"reached from {query} by CNAME"))

    def _sip(self, message: sip.SipMessage, ts: float, flow: int, dst: str) -> None:
        call = self.calls.get(message.call_id)
        if call is None:
            call = self.calls[message.call_id] = _CallState(first_ts=ts, last_ts=ts)
        call.first_ts, call.last_ts = min(call.first_ts, ts), max(call.last_ts, ts)
        call.signalling.add(flow)
        state = self._state(flow)
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
        found = {index: (app, []) for index, app in self.dns_datagram_flows.items()}
        found.update((index, (_hello_app(hello), _hello_names(hello))) for index, (_, hello) in self.named_by_hello.items())
        found.update((index, (state.app, state.names)) for index, state in self.flows.items())
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
        allocations = self.turn.allocations
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
            call_id = None
            if endpoint_call and (proto == "udp" or index in allocations):
                # A client behind a TURN relay announces the relay's allocation, not its flow's ends.
                call_id = (endpoint_call.get((resp_h, resp_p)) or endpoint_call.get((orig_h, orig_p))
                           or endpoint_call.get(allocations.get(index)))
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

    def relayed_peers(self, table: FlowTable) -> tuple[list[RelayedPeer], dict[str, str]]:
        """The peers clients reached through TURN relays, one per (flow, peer address), sorted;
        and every flow that spoke TURN, uid -> relay address (some show no peer)."""
        uid_of = dict(zip(table.builder_index, table.columns["uid"]))
        return self.turn.peers(uid_of, address), self.turn.relays(uid_of, address)

    def names(self, table: FlowTable) -> list[NameObservation]:
        """Every name seen for an address (DNS answers, then each flow's own names), sorted.

        Separate from ``finish`` because it is costly (a frozen record per name) and the flow
        table needs only each flow's best name."""
        columns = table.columns
        uid_of = dict(zip(table.builder_index, columns["uid"]))
        names = [NameObservation(ts=ts, ip=ip, name=name, source=source, uid=uid_of.get(flow, ""), ttl=ttl, client=client, detail=detail)
                 for ts, ip, name, source, flow, ttl, client, detail in self.dns_answers]
        names += [NameObservation(ts=ts, ip=ip, name=name, source=source, uid=uid_of.get(flow, ""), detail=detail)
                  for (flow, ip, name, source), (ts, detail) in self.claimed.items()]
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
_ZERO_FILL = 6
"""TCP payloads of at most this many zero bytes are ignored (see ``_tcp``)."""
# A DNS client's address as text, for every answer it receives: a capture has few clients.
_client_text = lru_cache(maxsize=4096)(address)
_address_text = _client_text  # the same cache for servers that claim a name: few too


def _hello_names(hello: tls.ClientHello) -> list[tuple[str, str, str]]:
    """The name a ClientHello gives its flow, if any: (source, name, detail)."""
    return [("sni", hello.sni, ECH_DETAIL if hello.ech else "")] if hello.sni else []


def _hello_app(hello: tls.ClientHello) -> str:
    """``dot`` for a hello that offers DNS over TLS (ALPN ``dot``, on any port), else ``tls``."""
    return "dot" if hello.alpn and tls.DOT_ALPN in hello.alpn else "tls"


def _sip_messages(stream: bytes) -> tuple[list, int]:
    return sip.split_sip_stream(stream, details=False)


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
