"""Names a server claims for itself (issue 15): a STUN/TURN REALM and a server's greeting (SMTP,
FTP, POP3, IMAP, Munin) -- kept as ``stun_realm`` and ``banner`` names of the server's address,
read by classification, never a flow's ``server_name`` and never placing an address; and a
ClientHello after a STARTTLS exchange of any length.

Each test writes its own capture (scapy) into ``tmp_path``.
"""

from __future__ import annotations

import csv
import json

import pytest
from capture_builders import T0
from dissect_helpers import build_client_hello, tls_records
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw
from test_dissect_session import MS, Capture, flow_to, named, names_of
from turn_scenarios import ALLOCATE, ERROR, ERROR_CODE, NONCE, REALM, REQUEST, SUCCESS, attribute, stun_message

from analyze_request import analyze
from tracecheck.dissect._wire import host_name
from tracecheck.dissect.banner import MAX_GREETING, greeting_name

CLIENT, RELAY, MAIL = "10.0.0.5", "34.203.250.20", "93.184.216.34"
TXID = bytes(range(12))


def refused_allocate(realm: bytes) -> list[bytes]:
    """A client's Allocate without credentials and the relay's 401 naming its REALM, then the
    client's Allocate with that REALM (as TURN clients do, RFC 8656 section 7.2)."""
    return [
        stun_message(ALLOCATE, REQUEST, TXID, [attribute(0x0019, b"\x11\x00\x00\x00")]),
        stun_message(ALLOCATE, ERROR, TXID, [attribute(ERROR_CODE, b"\x00\x00\x04\x01Unauthorized"),
                                             attribute(REALM, realm), attribute(NONCE, b"abcdef")]),
        stun_message(ALLOCATE, REQUEST, bytes(12), [attribute(0x0019, b"\x11\x00\x00\x00"), attribute(REALM, realm)]),
    ]


def turn_capture(tmp_path, realm: bytes, server_first: bool = False):
    """The exchange above over UDP to RELAY:3478 (``server_first``: the capture begins with the
    relay's 401, so the flow is seen from the relay's side)."""
    cap = Capture()
    messages = refused_allocate(realm)
    if server_first:
        messages = messages[1:]
    for i, message in enumerate(messages):
        outbound = message[0] & 0x01 == 0 and message[1] & 0x10 == 0  # a request
        src, dst, sport, dport = (CLIENT, RELAY, 50000, 3478) if outbound else (RELAY, CLIENT, 3478, 50000)
        cap.add(T0 + i * 20 * MS, IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(message))
    return cap.write(tmp_path)


# --------------------------------------------------------------------------- STUN REALM


@pytest.mark.parametrize("server_first", [False, True], ids=["client-first", "relay-first"])
def test_a_stun_realm_names_the_relay_for_classification_only(tmp_path, server_first):
    result = named(turn_capture(tmp_path, b"turn.example.org", server_first))
    (flow,) = result.result.flows
    realms = names_of(result, source="stun_realm")
    # One observation for the flow, of the relay's address whichever side the capture saw first.
    assert [(n.ip, n.name, n.uid) for n in realms] == [(RELAY, "turn.example.org", flow.uid)]
    assert "who runs the relay, not where" in realms[0].detail
    # CONTRACT.md: name_source is one of sni, quic_sni, http_host, dns, sip or empty.
    assert (flow.server_name, flow.name_source, flow.app) == ("", "", "stun")


@pytest.mark.parametrize("realm", [b"", b"not a host", b"<script>x</script>.example", b"10.1.2.3", b"a" * 300,
                                   b"caf\xc3\xa9.example", b"-bad.example"])
def test_a_realm_that_is_not_a_host_name_names_nothing(tmp_path, realm):
    result = named(turn_capture(tmp_path, realm))
    assert names_of(result, source="stun_realm") == []


def test_a_realm_over_tcp_and_in_the_worker_process(tmp_path):
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, RELAY, 50001, 3478)
    for i, message in enumerate(refused_allocate(b"Relay.Example.NET.")):
        if i == 1:
            cap.segment(T0 + (20 + i) * MS, RELAY, CLIENT, 3478, 50001, ack, message, seq)
            ack += len(message)
        else:
            cap.segment(T0 + (20 + i) * MS, CLIENT, RELAY, 50001, 3478, seq, message, ack)
            seq += len(message)
    path = cap.write(tmp_path)
    for parallel in (False, True):
        result = build_named_flows_of(path, parallel)
        assert [(n.ip, n.name) for n in names_of(result, source="stun_realm")] == [(RELAY, "relay.example.net")]


def build_named_flows_of(path, parallel):
    from tracecheck.flows.pipeline import build_named_flows

    return build_named_flows([str(path)], parallel=parallel)


# --------------------------------------------------------------------------- greetings


def greeting_capture(tmp_path, greeting: bytes, from_server: bool = True, with_syn: bool = True, port: int = 25):
    cap = Capture()
    if with_syn:
        seq, ack = cap.handshake(T0, CLIENT, MAIL, 50010, port)
    else:
        seq, ack = 1001, 90001
    if from_server:
        cap.segment(T0 + 20 * MS, MAIL, CLIENT, port, 50010, ack, greeting, seq)
    else:
        cap.segment(T0 + 20 * MS, CLIENT, MAIL, 50010, port, seq, greeting, ack)
    return cap.write(tmp_path)


@pytest.mark.parametrize("greeting, port, name", [
    (b"220 mx.example.com ESMTP Postfix (Debian)\r\n", 25, "mx.example.com"),
    (b"220-opmta1 smtp.orange.fr ESMTP server ready\r\n", 587, "opmta1"),  # SMTP's first word is its name by rule
    (b"220 ftp.example.org FTP server ready\r\n", 21, "ftp.example.org"),
    (b"+OK pop.example.net POP3 server ready <1896.697170952@dbc.example>\r\n", 110, "pop.example.net"),
    (b"* OK [CAPABILITY IMAP4rev1 STARTTLS] imap.example.net ready\r\n", 143, "imap.example.net"),
    (b"# munin node at db-node02\n", 4949, "db-node02"),
])
def test_a_server_greeting_names_the_server_for_classification_only(tmp_path, greeting, port, name):
    result = named(greeting_capture(tmp_path, greeting, port=port))
    flow = flow_to(result, MAIL, port)
    banners = names_of(result, source="banner")
    assert [(n.ip, n.name, n.uid) for n in banners] == [(MAIL, name, flow.uid)]
    assert "the server's own claim" in banners[0].detail
    assert (flow.server_name, flow.name_source) == ("", "")


@pytest.mark.parametrize("greeting", [
    b"220 ProFTPD 1.3.5 Server (Debian) [::ffff:10.0.0.1]\r\n",  # FTP's first word: the software
    b"220 ESMTP Postfix\r\n", b"220 localhost ESMTP\r\n", b"220 [192.0.2.1] ESMTP\r\n", b"220 2.0.0 Ready\r\n",
    b"+OK Dovecot ready.\r\n", b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n",
    b"220 mx.\xe2\x80\x8bexample.com ESMTP\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
])
def test_a_greeting_that_names_no_host_names_nothing(tmp_path, greeting):
    assert names_of(named(greeting_capture(tmp_path, greeting)), source="banner") == []


@pytest.mark.parametrize("from_server, with_syn", [(False, True), (True, False)],
                         ids=["sent-by-the-client", "no-handshake-seen"])
def test_a_greeting_is_taken_only_from_the_server_of_a_connection_seen_opening(tmp_path, from_server, with_syn):
    # The client could say anything; and without the SYN the side that spoke is not known to be the server.
    path = greeting_capture(tmp_path, b"220 mx.example.com ESMTP\r\n", from_server, with_syn)
    assert names_of(named(path), source="banner") == []


def test_a_greeting_longer_than_the_bound_is_read_only_to_it():
    assert greeting_name(b"220 " + b"a" * MAX_GREETING + b".example ESMTP\r\n") is None
    assert greeting_name(b"220 mx.example.com " + b"x" * 5000 + b" ESMTP") == ("ftp", "mx.example.com")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.builds(lambda head, rest: head + rest,
                                             st.sampled_from([b"220 ", b"220-", b"+OK ", b"* OK ", b"# munin node at "]),
                                             st.binary(max_size=300)))
def test_greetings_never_raise_and_give_only_host_names_from_their_first_line(payload):
    found = greeting_name(payload)
    if found is not None:
        assert found.protocol in ("smtp", "ftp", "pop3", "imap", "munin")
        assert host_name(found.name) == found.name
        assert found.name.encode() in payload[:MAX_GREETING].split(b"\n")[0].lower()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_host_name_gives_only_letters_digits_hyphens_and_dots(text):
    name = host_name(text)
    if name is not None:
        assert len(name) <= 253 and name == name.lower() and not name.endswith(".")
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.")
        assert not name.split(".")[-1].isdigit()
        assert all(label and not label.startswith("-") and not label.endswith("-") and len(label) <= 63
                   for label in name.split("."))


# --------------------------------------------------------------------------- STARTTLS


def starttls_capture(tmp_path, exchanges: int):
    """SMTP: the greeting, ``exchanges`` EHLO/250 round trips, STARTTLS/220, then the hello."""
    cap = Capture()
    seq, ack = cap.handshake(T0, CLIENT, MAIL, 50020, 25)
    at = T0 + 20 * MS

    def say(from_server: bool, data: bytes) -> None:
        nonlocal seq, ack, at
        at += MS
        if from_server:
            cap.segment(at, MAIL, CLIENT, 25, 50020, ack, data, seq)
            ack += len(data)
        else:
            cap.segment(at, CLIENT, MAIL, 50020, 25, seq, data, ack)
            seq += len(data)

    say(True, b"220 mx.example.com ESMTP\r\n")
    for _ in range(exchanges):
        say(False, b"EHLO client.example\r\n")
        say(True, b"250-mx.example.com\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    say(False, b"STARTTLS\r\n")
    say(True, b"220 2.0.0 Ready to start TLS\r\n")
    say(False, tls_records(build_client_hello(sni="mx.example.com")))
    return cap.write(tmp_path)


@pytest.mark.parametrize("exchanges", [0, 1, 6])
def test_a_hello_after_a_starttls_exchange_of_any_length_names_the_flow(tmp_path, exchanges):
    path = starttls_capture(tmp_path, exchanges)
    for parallel in (False, True):
        flow = flow_to(build_named_flows_of(path, parallel), MAIL, 25)
        assert (flow.server_name, flow.name_source, flow.app) == ("mx.example.com", "sni", "tls")


# --------------------------------------------------------------------------- geo and the report


def realm_report(tmp_path, realm: bytes, host_header: bool = False):
    """A TURN relay in the US (the embedded GeoIP's answer) whose REALM is a regional AWS name;
    ``host_header``: the client also asks for that name over HTTP (a name that may place it)."""
    cap = Capture()
    for i, message in enumerate(refused_allocate(realm)):
        outbound = i != 1
        src, dst, sport, dport = (CLIENT, RELAY, 50000, 3478) if outbound else (RELAY, CLIENT, 3478, 50000)
        cap.add(T0 + i * 20 * MS, IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(message))
    if host_header:
        cap.tcp_flow(T0 + 200 * MS, CLIENT, RELAY, 50100, 80, b"GET / HTTP/1.1\r\nHost: " + realm + b"\r\n\r\n")
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "out"
    result = analyze([str(cap.write(tmp_path))], out_dir=out, db_dir=tmp_path / "db")
    (relay,) = [d for d in result.report.destinations if d.ip == RELAY]
    return relay, out


def test_a_realm_classifies_but_never_places_the_relay(tmp_path):
    realm = b"transcribestreaming.eu-west-1.amazonaws.com"
    relay, out = realm_report(tmp_path, realm)
    assert {"name": realm.decode(), "source": "stun_realm"} in [n.model_dump(mode="json") for n in relay.names]
    assert relay.vendor == "AWS"  # who runs it: classification may read the realm
    assert relay.region != "eu-west-1" and relay.country == "US"  # where: the address alone
    assert not any(e.source == "hostname" for e in relay.evidence)
    assert not any("eu-west-1" in e.claim for e in relay.evidence if e.source != "stun_realm")
    with open(out / "flows.csv", newline="") as f:
        assert {row["name_source"] for row in csv.DictReader(f)} == {""}
    written = json.loads((out / "report.json").read_text())
    assert any(n["source"] == "stun_realm" for d in written["destinations"] for n in d["names"])

    # The control: the same name asked for by the client (HTTP Host) is a hostname hint for geo.
    placed, _ = realm_report(tmp_path / "control", realm, host_header=True)
    assert any(e.source == "hostname" and "eu-west-1" in e.claim for e in placed.evidence)


# --------------------------------------------------------------------------- the policy's selectors

SELECTED_BY_HOST = """name: eu
authorized: {jurisdictions: [EU, EEA]}
%s
"""


@pytest.mark.parametrize("selector", [
    "exceptions:\n  - {id: EXC-1, host: mx.example.com, justification: j, reference: r, expires: 2099-01-01}",
    "ignore:\n  - {host: mx.example.com, reason: lab}",
])
def test_a_servers_own_claim_never_selects_an_exception_or_ignore_rule(tmp_path, selector):
    # Both make a verdict laxer: a server that names itself in its greeting must not pick them.
    capture = greeting_capture(tmp_path, b"220 mx.example.com ESMTP Postfix\r\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(SELECTED_BY_HOST % selector)
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path / "db", policy_path=policy)
    (mail,) = [d for d in result.report.destinations if d.ip == MAIL]
    assert ("mx.example.com", "banner") in [(n.name, n.source) for n in mail.names]
    assert mail.verdict.value == "violation" and not mail.exception and not mail.rule.startswith("ignore")
