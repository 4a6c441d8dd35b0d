"""DNS over TLS, QUIC and HTTPS recognised and said in the report's limits, naming the resolver
(issue 15): DoT is TLS to port 853, DoQ QUIC to 853, DoH TLS or QUIC on 443 to a known public
resolver's name or address."""

from __future__ import annotations

from pathlib import Path

from analyze_request import analyze
from call_scenarios import TestCall

from tracecheck.destinations import DestinationTraffic, SeenName
from tracecheck.observability import encrypted_dns_kinds, observability_notes, resolver_name
from tracecheck.vocabulary import Flow


def flow(resp_h: str, resp_p: int, proto: str = "tcp", app: str = "tls", uid: str = "C1") -> Flow:
    return Flow(uid=uid, ts=1.0, duration=1.0, proto=proto, orig_h="10.0.0.5", orig_p=50000, resp_h=resp_h,
                resp_p=resp_p, orig_pkts=5, orig_ip_bytes=500, resp_pkts=5, resp_ip_bytes=900, app=app)


def traffic(ip: str, flows: list[Flow], names: tuple[str, ...] = ()) -> DestinationTraffic:
    return DestinationTraffic(ip=ip, flows=flows, names=[SeenName(n, "sni", 1.0, "C1") for n in names])


def test_kinds_and_resolver_names():
    dot = traffic("45.90.28.1", [flow("45.90.28.1", 853)], ("dns.nextdns.io",))
    doq = traffic("94.140.14.14", [flow("94.140.14.14", 853, "udp", "quic")])
    doh_by_address = traffic("1.1.1.1", [flow("1.1.1.1", 443), flow("1.1.1.1", 443, "udp", "quic", "C2")])
    doh_by_name = traffic("203.0.113.7", [flow("203.0.113.7", 443)], ("doh.opendns.com",))
    private_dot = traffic("192.0.2.53", [flow("192.0.2.53", 853)], ("resolver.corp.example",))
    plain = traffic("203.0.113.8", [flow("203.0.113.8", 443)], ("www.example.com",))
    assert encrypted_dns_kinds(dot) == [("DoT", 1)] and resolver_name(dot) == "dns.nextdns.io"
    assert encrypted_dns_kinds(doq) == [("DoQ", 1)] and resolver_name(doq) == "dns.adguard-dns.com"
    assert encrypted_dns_kinds(doh_by_address) == [("DoH", 2)] and resolver_name(doh_by_address) == "cloudflare-dns.com"
    assert encrypted_dns_kinds(doh_by_name) == [("DoH", 1)] and resolver_name(doh_by_name) == "doh.opendns.com"
    assert encrypted_dns_kinds(private_dot) == [("DoT", 1)] and resolver_name(private_dot) == "resolver.corp.example"
    assert encrypted_dns_kinds(plain) == []
    assert encrypted_dns_kinds(traffic("8.8.8.8", [flow("8.8.8.8", 53, "udp", "dns")])) == []  # plain DNS hides nothing


def test_the_limit_sentence_names_each_resolver():
    destinations = {t.ip: t for t in (
        traffic("1.1.1.1", [flow("1.1.1.1", 443)]),
        traffic("94.140.14.14", [flow("94.140.14.14", 853, "udp", "quic")]),
        traffic("203.0.113.8", [flow("203.0.113.8", 443)], ("www.example.com",)))}
    [note] = [n for n in observability_notes(destinations, {"10.0.0.5"}) if n.startswith("Names hidden by encrypted DNS")]
    assert "cloudflare-dns.com at 1.1.1.1 by DoH (1 flow)" in note
    assert "dns.adguard-dns.com at 94.140.14.14 by DoQ (1 flow)" in note
    assert "203.0.113.8" not in note and "DNS cannot name" in note


def test_report_says_dot_and_doh(tmp_path: Path):
    call = TestCall().tls("8.8.8.8", "dns.google", port=853).tls("9.9.9.9", "dns.quad9.net").tls("3.121.0.5", sni=None)
    capture = call.write(tmp_path / "call.pcap")
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path / "db")
    notes = "\n".join(result.report.observability)
    assert "dns.google at 8.8.8.8 by DoT (1 flow)" in notes
    assert "dns.quad9.net at 9.9.9.9 by DoH (1 flow)" in notes
    assert "3.121.0.5" not in notes.split("No name at all")[0]


def test_dot_is_recognised_by_its_alpn_on_any_port(tmp_path: Path):
    # A private resolver on 443 (to pass firewalls): not a known DoH resolver, but its hello says DoT.
    call = TestCall().tls("45.90.28.9", "resolver.corp.example", alpn=("dot",)).tls(
        "3.121.0.6", "www.example.com", alpn=("h2", "http/1.1"))
    capture = call.write(tmp_path / "call.pcap")
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path / "db")
    apps = {f.resp_h: f.app for f in result.reading.flows}
    assert apps == {"45.90.28.9": "dot", "3.121.0.6": "tls"}
    notes = "\n".join(result.report.observability)
    assert "resolver.corp.example at 45.90.28.9 by DoT (1 flow)" in notes
    assert "3.121.0.6" not in notes.split("No name at all")[0]


def test_a_dot_hello_split_over_segments_is_dot_too(tmp_path: Path):
    # Through the per-packet path (the hello reassembled), not the bulk lane of whole hellos.
    from dissect_helpers import build_client_hello, tls_records
    from test_dissect_session import MS, T0, Capture, flow_to, named

    hello = tls_records(build_client_hello(sni="resolver.corp.example", alpn=("dot",)))
    cap = Capture()
    seq, ack = cap.handshake(T0, "10.0.0.5", "45.90.28.9", 50040, 8443)
    cap.segment(T0 + 20 * MS, "10.0.0.5", "45.90.28.9", 50040, 8443, seq, hello[:60], ack)
    cap.segment(T0 + 21 * MS, "10.0.0.5", "45.90.28.9", 50040, 8443, seq + 60, hello[60:], ack)
    flow = flow_to(named(cap.write(tmp_path)), "45.90.28.9", 8443)
    assert (flow.server_name, flow.app) == ("resolver.corp.example", "dot")
