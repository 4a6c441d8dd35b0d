"""End to end: small captures written here, read by ``build_named_flows`` and the CLI, and the
names, apps and calls the dissectors give each flow (issue 3).

Each test builds its own pcap packet by packet (scapy) into ``tmp_path``: split and reordered
ClientHellos, ECH, a two-datagram QUIC Initial, DNS through CNAMEs and over TCP, HTTP Host and
CONNECT, a SIP call with RTP; and checks the flow table, the ``names`` rows and the calls.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from call_scenarios import TestCall
from capture_builders import SECOND, T0, ether, write_pcap
from dissect_helpers import (
    build_client_hello,
    protect_initial,
    split_crypto,
    tls_records,
)
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw
from test_cli_flows import assert_one_line_error, run

from tracecheck.flows.pipeline import build_named_flows

MS = 1_000_000
CLIENT, OTHER_CLIENT, THIRD_CLIENT, RESOLVER = "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.53"
SERVER = "93.184.216.34"

# --------------------------------------------------------------------------- building captures


class Capture:
    """Raw IP packets with their times, written as an Ethernet pcap."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []

    def add(self, at_ns: int, packet) -> Capture:
        self.frames.append((at_ns, bytes(packet)))
        return self

    def write(self, tmp_path, name: str = "c.pcap"):
        frames = sorted(self.frames, key=lambda f: f[0])  # stable: equal times keep their order
        return write_pcap(tmp_path / name, [(ts, ether(p)) for ts, p in frames])

    # -------------------------------------------------------------- TCP

    def handshake(self, at_ns: int, client: str, server: str, sport: int, dport: int,
                  isn: int = 1000, server_isn: int = 90000, rtt_ms: float = 10.0) -> tuple[int, int]:
        """SYN, SYN/ACK, ACK; returns the next client and server sequence numbers."""
        rtt = int(rtt_ms * MS)
        self.add(at_ns, IP(src=client, dst=server) / TCP(sport=sport, dport=dport, flags="S", seq=isn))
        self.add(at_ns + rtt, IP(src=server, dst=client) / TCP(sport=dport, dport=sport, flags="SA", seq=server_isn, ack=isn + 1))
        self.add(at_ns + rtt + MS, IP(src=client, dst=server) / TCP(sport=sport, dport=dport, flags="A", seq=isn + 1, ack=server_isn + 1))
        return isn + 1, server_isn + 1

    def segment(self, at_ns: int, src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes,
                ack: int = 0) -> Capture:
        return self.add(at_ns, IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=ack) / Raw(payload))

    def tcp_flow(self, at_ns: int, client: str, server: str, sport: int, dport: int, payload: bytes,
                 reply: bytes = b"") -> Capture:
        """A connection whose client sends ``payload`` in one segment (and the server ``reply``)."""
        seq, ack = self.handshake(at_ns, client, server, sport, dport)
        self.segment(at_ns + 12 * MS, client, server, sport, dport, seq, payload, ack)
        if reply:
            self.segment(at_ns + 22 * MS, server, client, dport, sport, ack, reply, seq + len(payload))
        return self

    # -------------------------------------------------------------- DNS

    def dns_answer(self, at_ns: int, client: str, name: str, ip: str, chain: tuple[str, ...] = (),
                   sport: int = 33000, ttl: int = 60) -> Capture:
        """A query from ``client`` and the resolver's answer 5 ms later (through ``chain``'s CNAMEs)."""
        query = DNS(id=sport, rd=1, qd=DNSQR(qname=name, qtype="A"))
        self.add(at_ns, IP(src=client, dst=RESOLVER) / UDP(sport=sport, dport=53) / query)
        self.add(at_ns + 5 * MS, IP(src=RESOLVER, dst=client) / UDP(sport=53, dport=sport) / dns_response(name, ip, chain, ttl))
        return self


def dns_response(name: str, ip: str, chain: tuple[str, ...] = (), ttl: int = 60) -> DNS:
    records, owner = [], name
    for target in chain:
        records.append(DNSRR(rrname=owner, type="CNAME", ttl=300, rdata=target))
        owner = target
    records.append(DNSRR(rrname=owner, type="A", ttl=ttl, rdata=ip))
    # A list, not records chained with "/": scapy would count those as one answer (ancount 1).
    return DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"), an=records)


def named(path):
    return build_named_flows([str(path)])


def flow_to(result, resp_h: str, resp_p: int, orig_h: str | None = None):
    found = [f for f in result.result.flows
             if f.resp_h == resp_h and f.resp_p == resp_p and (orig_h is None or f.orig_h == orig_h)]
    assert len(found) == 1, [(f.orig_h, f.orig_p, f.resp_h, f.resp_p) for f in result.result.flows]
    return found[0]


def names_of(result, **match) -> list:
    return [n for n in result.names if all(getattr(n, k) == v for k, v in match.items())]


# --------------------------------------------------------------------------- 1, 2: TLS ClientHello


HELLO = tls_records(build_client_hello(sni="split.example.com", alpn=("h2", "http/1.1")))
CUTS = (70, 150)


@pytest.mark.parametrize("order", [
    (2, 0, 0, 1),  # the last piece first, the first one twice (retransmitted)
    (1, 0, 2, 1),  # the middle piece first and again at the end
    (0, 2, 2, 1),  # in order but for the middle piece, the last one retransmitted
    (1, 2, 1, 0),  # the first piece lost before the capture point and retransmitted last
], ids=["last-first", "middle-first", "middle-last", "first-lost"])
def test_client_hello_in_three_segments_out_of_order_with_a_retransmission(tmp_path, order):
    pieces = [HELLO[:CUTS[0]], HELLO[CUTS[0]:CUTS[1]], HELLO[CUTS[1]:]]
    offsets = [0, CUTS[0], CUTS[1]]
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, SERVER, 50001, 443)
    for i, piece in enumerate(order):
        cap.segment(T0 + (12 + i) * MS, CLIENT, SERVER, 50001, 443, seq + offsets[piece], pieces[piece], ack)
    body = bytes(200)
    cap.segment(T0 + 30 * MS, SERVER, CLIENT, 443, 50001, ack, b"\x16\x03\x03" + len(body).to_bytes(2, "big") + body, seq + len(HELLO))

    result = named(cap.write(tmp_path))
    flow = flow_to(result, SERVER, 443)
    assert (flow.server_name, flow.name_source, flow.app) == ("split.example.com", "sni", "tls")
    rows = names_of(result, source="sni")
    assert [(n.ip, n.name, n.uid) for n in rows] == [(SERVER, "split.example.com", flow.uid)]


def test_ech_keeps_the_outer_name_and_says_it_may_be_only_the_public_name(tmp_path):
    hello = tls_records(build_client_hello(sni="public.ech.example", ech=True))
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, SERVER, 50002, 443)
    cap.segment(T0 + 12 * MS, CLIENT, SERVER, 50002, 443, seq, hello, ack)

    result = named(cap.write(tmp_path))
    flow = flow_to(result, SERVER, 443)
    assert (flow.server_name, flow.name_source, flow.app) == ("public.ech.example", "sni", "tls")
    [row] = names_of(result, source="sni")
    assert row.name == "public.ech.example" and row.uid == flow.uid
    assert "public" in row.detail and "outer" in row.detail and "ECH" in row.detail


def test_a_hello_without_ech_has_no_ech_detail(tmp_path):
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, SERVER, 50003, 443)
    cap.segment(T0 + 12 * MS, CLIENT, SERVER, 50003, 443, seq, tls_records(build_client_hello(sni="plain.example")), ack)
    [row] = names_of(named(cap.write(tmp_path)), source="sni")
    assert row.name == "plain.example" and "ECH" not in row.detail


# --------------------------------------------------------------------------- 3: QUIC


QUIC_SERVER = "142.250.1.1"
DCID = bytes.fromhex("8394c8f03e515708")


def quic_initials() -> list[bytes]:
    """A post-quantum-sized ClientHello whose CRYPTO data spans two Initial datagrams."""
    hello = build_client_hello(sni="quic.example.net", alpn=("h3",), key_share_size=1216)
    assert len(hello) > 1300  # too big for one datagram
    first, second = split_crypto(hello, [len(hello) // 2])
    return [protect_initial(first, DCID, packet_number=0, pad_to=1200),
            protect_initial(second, DCID, packet_number=1, pad_to=1200)]


@pytest.mark.parametrize("reordered", [False, True], ids=["in-order", "reordered"])
def test_quic_initial_spanning_two_datagrams(tmp_path, reordered):
    datagrams = quic_initials()
    if reordered:
        datagrams.reverse()
    assert all(len(d) >= 1200 for d in datagrams)
    cap = Capture()
    for i, datagram in enumerate(datagrams):
        cap.add(T0 + i * MS, IP(src=CLIENT, dst=QUIC_SERVER) / UDP(sport=51000, dport=443) / Raw(datagram))
    server_initial = protect_initial(b"\x02\x01\x00\x00\x01" + bytes(40), b"\x05\x06\x07\x08", scid=DCID[:4],
                                     key_dcid=DCID, server=True, pad_to=1200)
    cap.add(T0 + 26 * MS, IP(src=QUIC_SERVER, dst=CLIENT) / UDP(sport=443, dport=51000) / Raw(server_initial))
    for i in range(5):  # the rest of the connection: short-header packets both ways
        cap.add(T0 + (30 + i) * MS, IP(src=CLIENT, dst=QUIC_SERVER) / UDP(sport=51000, dport=443) / Raw(b"\x40" + bytes(60)))

    result = named(cap.write(tmp_path))
    flow = flow_to(result, QUIC_SERVER, 443)
    assert (flow.proto, flow.orig_h, flow.orig_p) == ("udp", CLIENT, 51000)
    assert (flow.server_name, flow.name_source, flow.app) == ("quic.example.net", "quic_sni", "quic")
    assert flow.handshake_rtt_ms == pytest.approx(26.0, abs=0.01)  # first Initial -> server's first packet
    [row] = names_of(result, source="quic_sni")
    assert (row.ip, row.name, row.uid) == (QUIC_SERVER, "quic.example.net", flow.uid)


# --------------------------------------------------------------------------- 4, 5, 8: DNS


def test_dns_name_through_a_cname_chain_names_a_flow_without_tls(tmp_path):
    cap = Capture()
    cap.dns_answer(T0, CLIENT, "www.shop.example", SERVER, chain=("shop.cdn.example.net", "edge7.cdn.example.net"), ttl=120)
    cap.tcp_flow(T0 + SECOND, CLIENT, SERVER, 50010, 8080, b"\x00\x01\x02binary protocol, not TLS", b"\x05ok")

    result = named(cap.write(tmp_path))
    flow = flow_to(result, SERVER, 8080)
    assert (flow.server_name, flow.name_source) == ("www.shop.example", "dns")
    assert flow.app == ""
    dns_flow = flow_to(result, RESOLVER, 53)
    assert dns_flow.app == "dns"
    [asked] = names_of(result, source="dns")
    assert (asked.ip, asked.name, asked.ttl, asked.client, asked.uid) == (SERVER, "www.shop.example", 120, CLIENT, dns_flow.uid)
    assert asked.ts == pytest.approx((T0 + 5 * MS) / 1e9)
    cnames = names_of(result, source="dns_cname")
    assert sorted(n.name for n in cnames) == ["edge7.cdn.example.net", "shop.cdn.example.net"]
    assert all(n.ip == SERVER and n.client == CLIENT and n.uid == dns_flow.uid for n in cnames)


def test_a_flow_takes_the_name_answered_most_recently_before_it_began(tmp_path):
    cap = Capture()
    cap.dns_answer(T0 + 1 * SECOND, CLIENT, "old.example.com", SERVER, sport=33001)
    cap.dns_answer(T0 + 5 * SECOND, CLIENT, "new.example.com", SERVER, sport=33002)
    cap.tcp_flow(T0 + 10 * SECOND, CLIENT, SERVER, 50011, 8080, b"\x00binary")
    cap.dns_answer(T0 + 20 * SECOND, CLIENT, "later.example.com", SERVER, sport=33003)  # after the flow began

    result = named(cap.write(tmp_path))
    flow = flow_to(result, SERVER, 8080)
    assert (flow.server_name, flow.name_source) == ("new.example.com", "dns")
    assert sorted(n.name for n in names_of(result, source="dns", ip=SERVER)) == [
        "later.example.com", "new.example.com", "old.example.com"]


def test_an_answer_to_another_client_is_used_only_when_the_flows_client_got_none(tmp_path):
    cap = Capture()
    cap.dns_answer(T0 + 1 * SECOND, CLIENT, "mine.example.com", SERVER, sport=33001)
    cap.dns_answer(T0 + 5 * SECOND, OTHER_CLIENT, "theirs.example.com", SERVER, sport=33002)  # more recent
    cap.tcp_flow(T0 + 10 * SECOND, CLIENT, SERVER, 50012, 8080, b"\x00binary")
    cap.tcp_flow(T0 + 11 * SECOND, THIRD_CLIENT, SERVER, 50013, 8080, b"\x00binary")  # asked nothing itself

    result = named(cap.write(tmp_path))
    assert flow_to(result, SERVER, 8080, orig_h=CLIENT).server_name == "mine.example.com"
    assert flow_to(result, SERVER, 8080, orig_h=THIRD_CLIENT).server_name == "theirs.example.com"
    assert {(n.name, n.client) for n in names_of(result, source="dns")} == {
        ("mine.example.com", CLIENT), ("theirs.example.com", OTHER_CLIENT)}


def test_sni_wins_over_a_different_dns_name_and_both_are_kept(tmp_path):
    call = TestCall(agent=CLIENT, resolver=RESOLVER).dns("cdn-alias.example.org", SERVER).tls(SERVER, "api.example.com")
    path = write_pcap(tmp_path / "c.pcap", [(ts, ether(p)) for ts, p in call.packets])

    result = named(path)
    flow = flow_to(result, SERVER, 443)
    assert (flow.server_name, flow.name_source, flow.app) == ("api.example.com", "sni", "tls")
    seen = {(n.name, n.source) for n in result.names if n.ip == SERVER}
    assert seen == {("cdn-alias.example.org", "dns"), ("api.example.com", "sni")}
    assert names_of(result, source="sni")[0].uid == flow.uid


def test_dns_over_tcp_with_a_response_split_across_two_segments(tmp_path):
    query = bytes(DNS(id=9, rd=1, qd=DNSQR(qname="tcp.example.com", qtype="A")))
    response = bytes(dns_response("tcp.example.com", SERVER, chain=("tcp.cdn.example.net",), ttl=30))
    framed_query = len(query).to_bytes(2, "big") + query
    framed = len(response).to_bytes(2, "big") + response
    cut = len(framed) // 2
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, RESOLVER, 40053, 53)
    cap.segment(T0 + 12 * MS, CLIENT, RESOLVER, 40053, 53, seq, framed_query, ack)
    cap.segment(T0 + 20 * MS, RESOLVER, CLIENT, 53, 40053, ack, framed[:cut], seq + len(framed_query))
    cap.segment(T0 + 21 * MS, RESOLVER, CLIENT, 53, 40053, ack + cut, framed[cut:], seq + len(framed_query))
    cap.tcp_flow(T0 + SECOND, CLIENT, SERVER, 50014, 8080, b"\x00binary")

    result = named(cap.write(tmp_path))
    dns_flow = flow_to(result, RESOLVER, 53)
    assert (dns_flow.proto, dns_flow.app) == ("tcp", "dns")
    [asked] = names_of(result, source="dns")
    assert (asked.ip, asked.name, asked.ttl, asked.client, asked.uid) == (SERVER, "tcp.example.com", 30, CLIENT, dns_flow.uid)
    assert [n.name for n in names_of(result, source="dns_cname")] == ["tcp.cdn.example.net"]
    flow = flow_to(result, SERVER, 8080)
    assert (flow.server_name, flow.name_source) == ("tcp.example.com", "dns")


# --------------------------------------------------------------------------- 6: HTTP


def test_http_host_names_the_flow(tmp_path):
    request = b"GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"
    cap = Capture().tcp_flow(T0, CLIENT, SERVER, 50020, 80, request, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    result = named(cap.write(tmp_path))
    flow = flow_to(result, SERVER, 80)
    assert (flow.server_name, flow.name_source, flow.app) == ("www.example.org", "http_host", "http")
    [row] = names_of(result, source="http_host")
    assert (row.ip, row.name, row.uid) == (SERVER, "www.example.org", flow.uid)


def test_connect_through_a_proxy_names_the_real_destination(tmp_path):
    proxy = "10.0.0.8"
    request = b"CONNECT real.example.com:443 HTTP/1.1\r\nHost: real.example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n"
    cap = Capture().tcp_flow(T0, CLIENT, proxy, 50021, 3128, request, b"HTTP/1.1 200 Connection established\r\n\r\n")
    result = named(cap.write(tmp_path))
    flow = flow_to(result, proxy, 3128)
    assert (flow.server_name, flow.name_source) == ("real.example.com", "http_host")
    [row] = names_of(result, source="http_host")
    assert (row.ip, row.name, row.uid) == (proxy, "real.example.com", flow.uid)


# --------------------------------------------------------------------------- 7: SIP, SDP, RTP

CALLER, SBC, MEDIA = "10.0.0.5", "54.171.127.192", "34.203.250.10"
PHONE_DIGITS = ("35312345678", "0035312345678", "2345678", "234 5678", "353 1 234")
CALL_ID = "0035312345678-4711@pbx.example.com"


def _with_phone_numbers(packet: bytes) -> bytes:
    """The test call's SIP messages with a caller and callee named by phone numbers."""
    ip = IP(packet)
    if UDP not in ip or ip[UDP].sport != 5060:
        return packet
    text = bytes(ip[UDP].payload)
    text = text.replace(b"From: <sip:agent7@cc.example.org>", b'From: "+353 1 234 5678" <sip:+35312345678@cc.example.org>')
    text = text.replace(b"To: <sip:+35312345678@carrier.example>", b"To: <sip:0035312345678@carrier.example>")
    return bytes(IP(src=ip.src, dst=ip.dst) / UDP(sport=5060, dport=5060) / Raw(text))


def sip_call_capture(tmp_path):
    call = TestCall(agent=CALLER).sip_call(("pbx.example.com", SBC), MEDIA, call_id=CALL_ID, media_port=20000, packets=20)
    packets = [(ts, _with_phone_numbers(p)) for ts, p in call.packets]
    sip_payloads = [p for _, p in packets if b"SIP/2.0" in p]
    assert any(b'"+353 1 234 5678"' in p for p in sip_payloads) and any(b"sip:0035312345678@" in p for p in sip_payloads)
    assert any(b"m=audio 20000" in p for p in sip_payloads) and any(b"m=audio 40000" in p for p in sip_payloads)
    return write_pcap(tmp_path / "call.pcap", [(ts, ether(p)) for ts, p in packets])


def test_sip_call_links_its_rtp_media(tmp_path):
    result = named(sip_call_capture(tmp_path))
    flows = result.result.flows
    sip_flow = flow_to(result, SBC, 5060)
    rtp_flows = [f for f in flows if {(f.orig_h, f.orig_p), (f.resp_h, f.resp_p)} == {(CALLER, 40000), (MEDIA, 20000)}]
    assert len(rtp_flows) == 1
    rtp_flow = rtp_flows[0]
    assert sip_flow.app == "sip"
    assert (sip_flow.server_name, sip_flow.name_source) == ("pbx.example.com", "sip")
    assert rtp_flow.app == "rtp"
    [call] = result.calls
    assert call.signalling == (sip_flow.uid,)
    assert call.media == (rtp_flow.uid,)
    assert call.first_ts <= rtp_flow.ts and call.last_ts >= sip_flow.ts
    assert not any(d in call.call_id for d in PHONE_DIGITS)  # the Call-ID is masked too


def test_sip_call_output_never_shows_a_phone_number(tmp_path):
    path = sip_call_capture(tmp_path)
    outputs = []
    for command in ("flows", "names"):
        for fmt in ("csv", "json"):
            code, out, err = run(command, str(path), "--format", fmt)
            assert code == 0, err
            outputs.append(out + err)
    flows_csv = outputs[0]
    assert "rtp" in flows_csv and "sip" in flows_csv  # the call is in there
    for text in outputs:
        for phone in PHONE_DIGITS:
            assert phone not in text
        for run_ in re.findall(r"[0-9][0-9 ()+\-]*", text):  # not even written with separators
            assert "2345678" not in re.sub(r"[^0-9]", "", run_), run_


# --------------------------------------------------------------------------- 9: work per flow


def test_a_recognised_flow_is_not_examined_further(tmp_path):
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, SERVER, 50030, 443)
    hello = tls_records(build_client_hello(sni="long.example.com"))
    cap.segment(T0 + 12 * MS, CLIENT, SERVER, 50030, 443, seq, hello, ack)
    seq += len(hello)
    record = b"\x17\x03\x03\x01\x00" + bytes(256)
    for i in range(200):
        if i % 2:
            cap.segment(T0 + (20 + i) * MS, CLIENT, SERVER, 50030, 443, seq, record, ack)
            seq += len(record)
        else:
            cap.segment(T0 + (20 + i) * MS, SERVER, CLIENT, 443, 50030, ack, record, seq)
            ack += len(record)

    result = named(cap.write(tmp_path))
    flow = flow_to(result, SERVER, 443)
    assert (flow.server_name, flow.app) == ("long.example.com", "tls")
    assert flow.orig_pkts + flow.resp_pkts == 204
    assert result.examined <= 4


def test_whole_hellos_taken_in_bulk_leave_what_the_per_packet_path_leaves(tmp_path, monkeypatch):
    """Most TLS flows open with a whole ClientHello and are named without the per-packet path
    (``_whole_client_hellos``): flows that go on oddly after it must end up exactly as there."""
    from tracecheck.dissect.session import Dissection

    cap, port = Capture(), 50100
    whole = tls_records(build_client_hello(sni="whole.example"))
    sip_like = b"OPTIONS sip:desk@10.0.0.5 SIP/2.0\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    server_hello = b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"
    variants = [
        [(CLIENT, whole)],
        [(CLIENT, whole), (CLIENT, sip_like), (SERVER, sip_like)],  # SIP-looking bytes after the hello
        [(CLIENT, whole[:40]), (CLIENT, whole[40:])],  # a hello over two segments
        [(CLIENT, server_hello), (CLIENT, whole)],  # a handshake record that is no ClientHello
        [(CLIENT, whole), (CLIENT, whole)],  # the hello again (retransmitted)
        [(CLIENT, b"\x16\x03\x01\x00")],  # too short to be anything
        [(CLIENT, whole)],  # to port 53: a DNS port's flow is DNS, whatever it carries
    ]
    for n, variant in enumerate(variants):
        port += 1
        seq, ack = cap.handshake(T0 + n * SECOND, CLIENT, SERVER, port, 53 if n == len(variants) - 1 else 443)
        for i, (sender, payload) in enumerate(variant):
            at = T0 + n * SECOND + (12 + i) * MS
            server_port = 53 if n == len(variants) - 1 else 443
            if sender == CLIENT:
                cap.segment(at, CLIENT, SERVER, port, server_port, seq, payload, ack)
                seq += len(payload)
            else:
                cap.segment(at, SERVER, CLIENT, server_port, port, ack, payload, seq)
                ack += len(payload)
    path = cap.write(tmp_path)

    def outcome():
        result = build_named_flows([str(path)], parallel=False)
        table = [(f.orig_p, f.server_name, f.name_source, f.app) for f in result.result.flows]
        return table, [(n.ip, n.name, n.source, n.uid, n.detail) for n in result.names], result.examined

    taken = []
    bulk_lane = Dissection._whole_client_hellos

    def counted(self, picks, rows):
        rest = bulk_lane(self, picks, rows)
        taken.append(len(rows) - len(rest))
        return rest

    monkeypatch.setattr(Dissection, "_whole_client_hellos", counted)
    bulk = outcome()
    assert sum(taken) == 4  # the flows whose first picked payload is a whole hello (a ServerHello is never picked)
    monkeypatch.setattr(Dissection, "_whole_client_hellos", lambda self, picks, rows: rows)
    assert bulk == outcome()
    assert bulk[0][0][1:] == ("whole.example", "sni", "tls")


def test_a_flow_that_starts_like_nothing_known_is_given_up_within_the_payload_limit(tmp_path):
    # Its next few payloads are looked at too: a hello may follow a preamble (test_http_reassembly).
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, SERVER, 50031, 2222)
    for i in range(20):
        cap.segment(T0 + (20 + i) * MS, CLIENT, SERVER, 50031, 2222, seq, b"SSH-2.0-x" + bytes(50), ack)
        seq += 59
    result = named(cap.write(tmp_path))
    assert flow_to(result, SERVER, 2222).app == ""
    assert result.examined == 4  # choice.FIRST_PAYLOADS_TCP


def test_a_late_segment_without_a_hello_before_it_is_given_up_within_the_payload_limit(tmp_path):
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, SERVER, 50032, 443)
    for i in range(20):  # the stream's first 100 bytes never captured
        cap.segment(T0 + (20 + i) * MS, CLIENT, SERVER, 50032, 443, seq + 100 + 59 * i, bytes(59), ack)
    result = named(cap.write(tmp_path))
    assert (flow_to(result, SERVER, 443).server_name, flow_to(result, SERVER, 443).app) == ("", "")
    assert result.examined <= 4


# --------------------------------------------------------------------------- 10: the names command


def test_names_cli_csv_json_and_a_bad_format(tmp_path):
    cap = Capture()
    cap.dns_answer(T0, CLIENT, "www.shop.example", SERVER, chain=("edge.cdn.example.net",))
    seq, ack = cap.handshake(T0 + SECOND, CLIENT, SERVER, 50040, 443)
    cap.segment(T0 + SECOND + 12 * MS, CLIENT, SERVER, 50040, 443, seq, tls_records(build_client_hello(sni="www.shop.example")), ack)
    path = cap.write(tmp_path)

    code, out, err = run("names", str(path))
    assert code == 0, err
    assert out.splitlines()[0] == "ts,ip,name,source,uid,ttl,client,detail"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["ip"], r["name"], r["source"]) for r in rows} == {
        (SERVER, "www.shop.example", "dns"), (SERVER, "edge.cdn.example.net", "dns_cname"), (SERVER, "www.shop.example", "sni")}
    dns_row = next(r for r in rows if r["source"] == "dns")
    assert (dns_row["ttl"], dns_row["client"]) == ("60", CLIENT)
    assert all(r["uid"].startswith("C") for r in rows)

    code, out, err = run("names", str(path), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [list(r) for r in data] == [["ts", "ip", "name", "source", "uid", "ttl", "client", "detail"]] * 3
    assert {(r["name"], r["source"]) for r in data} == {(r["name"], r["source"]) for r in rows}
    assert next(r for r in data if r["source"] == "dns")["ttl"] == 60

    out_file = tmp_path / "names.csv"
    code, out, err = run("names", str(path), "-o", str(out_file))
    assert code == 0 and out == ""
    assert out_file.read_text().splitlines()[0] == "ts,ip,name,source,uid,ttl,client,detail"

    code, out, err = run("names", str(path), "--format", "xml")
    assert_one_line_error(code, err, "")
    assert "xml" in err and "--format" in err and out == ""
