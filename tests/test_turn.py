"""Media behind a TURN relay: the peers in its permissions, channel bindings and Send/Data
indications, the bytes relayed to each, and each peer judged as a destination of its own."""

from __future__ import annotations

import io
import ipaddress
import json
import marshal
import struct
from pathlib import Path

import pytest
from call_scenarios import AGENT, AGENT6, CARRIER_SBC, TURN_EU, TestCall, write_range_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw
from turn_scenarios import (
    CHANNEL_BIND,
    CHANNEL_NUMBER,
    CREATE_PERMISSION,
    INDICATION,
    PEER_DE,
    PEER_LAN,
    PEER_REFUSED,
    PEER_US,
    REQUEST,
    SEND,
    XOR_PEER,
    RelayedCall,
    attribute,
    channel_data,
    rtp,
    stun_message,
    xor_address,
)

from analyze_request import analyze
from tracecheck.dissect.stun import parse_stun
from tracecheck.dissect.turn import MAX_PEERS_PER_FLOW, TurnLog
from tracecheck.flows.pipeline import build_named_flows
from tracecheck.geo import store
from tracecheck.report.formats.markdown import render_markdown

RELAY_IP = TURN_EU[0]


def relayed_capture(tmp_path: Path, tcp: bool = False) -> tuple[Path, RelayedCall]:
    call = TestCall()
    relayed = RelayedCall(call, tcp=tcp).build()
    return call.write(tmp_path / f"relayed-{'tcp' if tcp else 'udp'}.pcapng"), relayed


def by_peer(peers) -> dict[tuple[str, int], tuple]:
    return {(p.ip, p.port): (p.sent_packets, p.sent_bytes, p.received_packets, p.received_bytes) for p in peers}


# --------------------------------------------------------------------------- dissection


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "worker"])
def test_every_peer_with_the_bytes_relayed_to_it(tmp_path, tcp, parallel):
    capture, truth = relayed_capture(tmp_path, tcp)
    peers = build_named_flows([str(capture)], parallel=parallel).relayed
    found = by_peer(peers)
    assert found[PEER_US] == tuple(truth.expected[PEER_US])  # ChannelData on 0x4000, both ways
    assert found[PEER_DE] == tuple(truth.expected[PEER_DE])  # Send and Data indications
    assert found[PEER_LAN] == (0, 0, 0, 0)                   # a permission, nothing relayed
    assert PEER_REFUSED not in found                          # its ChannelBind was refused: 0x4001 is not bound
    assert {p.relay for p in peers} == {RELAY_IP}
    assert len({p.uid for p in peers}) == 1
    learned = {(p.ip, p.port): p.learned_from for p in peers}
    assert learned[PEER_US] == ("permission", "channel 0x4000")
    assert learned[PEER_DE] == ("permission", "send", "data")
    us = next(p for p in peers if (p.ip, p.port) == PEER_US)
    assert us.first_ts <= us.last_ts


def test_a_relay_reached_over_ipv6(tmp_path):
    call = TestCall(agent=AGENT6)
    truth = RelayedCall(call, relay=("2a05:d018::20", 3478)).build(channel_packets=6, send_packets=4)
    peers = build_named_flows([str(call.write(tmp_path / "relayed6.pcapng"))]).relayed
    assert by_peer(peers)[PEER_US] == tuple(truth.expected[PEER_US])
    assert by_peer(peers)[PEER_DE] == tuple(truth.expected[PEER_DE])
    assert {p.relay for p in peers} == {"2a05:d018::20"}


def test_channel_data_on_a_flow_without_bindings_names_no_one(tmp_path):
    """Bytes that look like ChannelData (a QUIC short header can) name no peer without a ChannelBind."""
    call = TestCall()
    for n in range(20):
        call._at(IP(src=AGENT, dst="34.203.250.7") / UDP(sport=51000, dport=443) / Raw(channel_data(0x4000, rtp(n, 9))))
    assert build_named_flows([str(call.write(tmp_path / "lookalike.pcapng"))]).relayed == []


def test_peers_per_relay_flow_are_bounded():
    log = TurnLog()
    for n in range(MAX_PEERS_PER_FLOW + 50):
        txid = n.to_bytes(12, "big")
        peer = f"34.{n // 256}.{n % 256}.1"
        message = parse_stun(stun_message(CREATE_PERMISSION, REQUEST, txid, [xor_address(XOR_PEER, peer, 9, txid)]))
        log.on_message(0, float(n), (0, 1), 5000, (0, 2), 3478, message, 100)
    peers = log.peers({0: "C1"}, lambda hi, lo: f"relay-{lo}")
    assert len(peers) == MAX_PEERS_PER_FLOW
    assert {p.relay for p in peers} == {"relay-2"}


_address_attribute = st.builds(
    lambda family, port, raw, length: struct.pack("!HH", XOR_PEER, length) + (struct.pack("!BBH", 0, family, port) + raw)[:length],
    st.integers(0, 3), st.integers(0, 0xFFFF), st.binary(min_size=0, max_size=24), st.integers(0, 28))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from([CREATE_PERMISSION, CHANNEL_BIND, SEND, 0x007]),
       message_class=st.sampled_from([REQUEST, INDICATION, 0x100, 0x110]),
       attributes=st.lists(st.one_of(_address_attribute,
                                     st.builds(lambda v: attribute(CHANNEL_NUMBER, v), st.binary(max_size=8)),
                                     st.builds(lambda t, v: attribute(t, v), st.integers(0, 0xFFFF), st.binary(max_size=40))),
                           max_size=12),
       txid=st.binary(min_size=12, max_size=12))
def test_hostile_attributes_never_raise_and_name_only_addresses(method, message_class, attributes, txid):
    """Whatever the attributes hold, the log keeps only peers whose address parsed, and channels
    only in the ChannelData range."""
    body = b"".join(a + bytes(-len(a) % 4) for a in attributes)
    message_type = (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | message_class
    raw = struct.pack("!HH", message_type, len(body)) + (0x2112A442).to_bytes(4, "big") + txid + body
    message = parse_stun(raw)
    log = TurnLog()
    if message is not None:
        log.on_message(3, 1.0, (0, 1), 5000, (0, 2), 3478, message, len(raw) + 28)
    for peer in log.peers({3: "C3"}, lambda hi, lo: "203.0.113.9"):
        assert peer.ip == str(ipaddress.ip_address(peer.ip))
        assert 0 <= peer.port <= 0xFFFF
        assert all(how in ("permission", "send", "data") or 0x4000 <= int(how.split()[-1], 16) <= 0x7FFF
                   for how in peer.learned_from)
    again = TurnLog()
    again.absorb(marshal.loads(marshal.dumps(log.summary())))  # plain data, as a worker sends it back
    assert again.peers({3: "C3"}, lambda hi, lo: "203.0.113.9") == log.peers({3: "C3"}, lambda hi, lo: "203.0.113.9")


# --------------------------------------------------------------------------- analyze


@pytest.fixture(params=["nothing-imported", "ranges-imported"])
def db(request, tmp_path) -> Path:
    folder = tmp_path / "db"
    folder.mkdir()
    if request.param == "ranges-imported":
        for kind, path in write_range_files(tmp_path / "downloads").items():
            store.import_file(folder, path, kind)
    return folder


def test_each_peer_is_a_destination_reached_via_the_relay(tmp_path, db):
    capture, truth = relayed_capture(tmp_path)
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=db, formats=["md"])
    found = {d.ip: d for d in result.report.destinations}
    us, de, lan, relay = found[PEER_US[0]], found[PEER_DE[0]], found[PEER_LAN[0]], found[RELAY_IP]

    assert us.via == de.via == lan.via == [RELAY_IP] and relay.via == []
    assert (us.orig_bytes, us.resp_bytes) == (truth.expected[PEER_US][1], truth.expected[PEER_US][3])
    assert (de.orig_bytes, de.resp_bytes) == (truth.expected[PEER_DE][1], truth.expected[PEER_DE][3])
    assert us.flows == de.flows == relay.flows == 1
    assert us.verdict.value == "violation" and us.country == "US"   # the audio went on to the US
    assert de.verdict.value == "compliant" and de.country == "DE"
    assert relay.verdict.value == "compliant" and relay.country == "IE"
    assert {d.category for d in (us, de, relay, lan)} == {"media"}
    assert lan.basis == "local" and "TURN relay" in lan.reasons[0]
    assert result.exit_code == 1

    turn = [e for e in us.evidence if e.source == "turn"]
    assert len(turn) == 1
    uid = result.reading.flows.columns["uid"][0]
    assert turn[0].claim == f"media relayed through {RELAY_IP} to {PEER_US[0]} on flow {uid}, {truth.expected[PEER_US][1]} bytes"
    assert "channel 0x4000" in turn[0].detail
    assert any(e.source == "turn" and e.claim == f"TURN relay on flow {uid}" for e in relay.evidence)

    written = json.loads((tmp_path / "out" / "report.json").read_text())
    by_ip = {d["ip"]: d for d in written["destinations"]}
    assert by_ip[PEER_US[0]]["via"] == [RELAY_IP]
    assert "via" not in by_ip[RELAY_IP]  # left out when the destination was reached directly
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert f"`{PEER_US[0]}` via `{RELAY_IP}`" in markdown
    html = (tmp_path / "out" / "report.html").read_text()
    assert f"via <code>{RELAY_IP}</code>" in html


def test_relayed_peers_outside_the_policy_scope_are_not_judged(tmp_path):
    capture, _ = relayed_capture(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("name: scoped\nauthorized: {jurisdictions: [EU]}\nscope: {clients: [10.99.0.0/16]}\n")
    result = analyze([str(capture)], policy_path=policy, out_dir=tmp_path / "out", db_dir=tmp_path)
    assert not any(d.via for d in result.report.destinations)


def test_a_report_without_relays_has_no_via(tmp_path):
    call = TestCall().turn_media()  # STUN binding and RTP straight to the server: no TURN peers
    capture = call.write(tmp_path / "direct.pcapng")
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path, formats=["md"])
    assert all(d.via == [] for d in result.report.destinations)
    assert all("via" not in d for d in json.loads((tmp_path / "out" / "report.json").read_text())["destinations"])
    assert " via " not in render_markdown(result.report)


def test_a_sip_call_announcing_the_relayed_address_owns_the_relay_flow_and_its_peers(tmp_path):
    """The agent's SDP gives the relay's allocation: the flow to the relay is the call's media, and
    the peers behind it are judged as what the call is for."""
    call = TestCall()
    RelayedCall(call).sip_invite(CARRIER_SBC).build(channel_packets=10, send_packets=5)
    capture = call.write(tmp_path / "relayed-sip.pcapng")
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path)
    [sip_call] = result.report.calls
    assert set(sip_call.media_to) == {RELAY_IP, PEER_US[0], PEER_DE[0], PEER_LAN[0]}  # the relay and its peers
    us = next(d for d in result.report.destinations if d.ip == PEER_US[0])
    assert us.via == [RELAY_IP]
    assert any(e.source == "sip" and e.claim.startswith("media of call ") for e in us.evidence)
    assert us.category == "telephony_carrier"  # what the call is for: its signalling went to a carrier
    assert any(e.source == "turn" for e in us.evidence)


def test_a_relay_that_names_no_peer_is_said_in_the_limits(tmp_path):
    """An allocation and nothing else (a proprietary relay, or a capture cut short): the relay is
    judged alone, and the report says the media's next hop is not known."""
    call = TestCall()
    relayed = RelayedCall(call)
    relayed._exchange(0x003, [attribute(0x0019, b"\x11\x00\x00\x00")],
                      [lambda t: xor_address(0x0016, RELAY_IP, 60000, t)])
    result = analyze([str(call.write(tmp_path / "allocate-only.pcapng"))], out_dir=tmp_path / "out", db_dir=tmp_path)
    [note] = [line for line in result.report.observability if "TURN" in line]
    assert f"{RELAY_IP} (flow " in note and "not known" in note
    assert [d.ip for d in result.report.destinations] == [RELAY_IP]

    full, _ = relayed_capture(tmp_path)
    result = analyze([str(full)], out_dir=tmp_path / "out-full", db_dir=tmp_path)
    assert not [line for line in result.report.observability if "TURN" in line]


def test_the_pdf_says_via_the_relay(tmp_path):
    pytest.importorskip("typst", reason="the typst wheel (the PDF engine) is not installed")
    pypdf = pytest.importorskip("pypdf", reason="pypdf (a test dependency) is not installed")
    from tracecheck.report.formats.pdf import render_pdf

    capture, _ = relayed_capture(tmp_path)
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path)
    pdf = pypdf.PdfReader(io.BytesIO(render_pdf(result.report)))
    text = "".join(ch for page in pdf.pages for ch in page.extract_text() if not ch.isspace() and ch != "\u200b")
    assert f"{PEER_US[0]}via{RELAY_IP}" in text
    assert f"throughTURNrelay{RELAY_IP}" in text


_packet_rows = st.lists(st.tuples(
    st.integers(-1, 3),                                        # flow (-1: none)
    st.sampled_from([6, 17, 1]),                               # proto
    st.one_of(st.integers(0x3FFE, 0x8001), st.integers(0, 0xFFFF)),  # first two bytes
    st.integers(0, 0xFFFF),                                    # length field
    st.integers(0, 1500),                                      # payload length
    st.integers(0, 2),                                         # sender
), max_size=60)


@settings(max_examples=200, deadline=None)
@given(rows=_packet_rows, lengths_fit=st.booleans())
def test_channel_data_counted_in_bulk_as_one_by_one(rows, lengths_fit):
    """The bulk count equals the rule applied packet by packet: a channel number, and a length
    that fills the payload but for up to 3 bytes of padding, on TCP or UDP."""
    import numpy as np

    from tracecheck.ingest.decode import Packets

    if lengths_fit:  # most rows then are ChannelData-shaped
        rows = [(f, p, c, length, length + 4 + (size % 4), s) for f, p, c, length, size, s in rows]
    n = len(rows)
    heads = [(c << 48) | (length << 32) if size >= 4 else ((c << 48) | (length << 32)) & ~((1 << (64 - 8 * size)) - 1)
             for _, _, c, length, size, _ in rows]
    cols = {"payload_head": np.array(heads, dtype=np.uint64), "payload_len": np.array([r[4] for r in rows], dtype=np.int64),
            "proto": np.array([r[1] for r in rows], dtype=np.int16), "src_hi": np.zeros(n, np.uint64),
            "src_lo": np.array([r[5] for r in rows], dtype=np.uint64), "sport": np.full(n, 5000, np.int32),
            "ip_len": np.array([r[4] + 28 for r in rows], dtype=np.int32)}
    p = Packets(data=np.zeros(1, np.uint8), record=np.arange(n), ts_ns=np.arange(n, dtype=np.int64) * 1000, cols=cols)
    log = TurnLog()
    log.count_channel_data(p, np.array([r[0] for r in rows], dtype=np.int64))
    expected: dict[tuple, list] = {}
    for i, (flow, proto, channel, length, size, sender) in enumerate(rows):
        if flow >= 0 and proto in (6, 17) and 0x4000 <= channel <= 0x7FFF and size >= 4 and 0 <= size - 4 - length <= 3:
            entry = expected.setdefault((flow, channel, 0, sender, 5000), [0, 0, i * 1000, i * 1000])
            entry[0] += 1
            entry[1] += size + 28
            entry[3] = i * 1000
    assert log.channel_data == expected


def test_a_peer_on_the_relay_itself_is_not_a_destination_of_its_own(tmp_path):
    """Both ends behind the same relay: the peer is the far client's allocation on it.  The relay
    is not said to be reached through itself, its bytes are not counted twice, and the limits say
    the far client is not in view."""
    call = TestCall()
    relayed = RelayedCall(call)
    relayed._exchange(0x003, [attribute(0x0019, b"\x11\x00\x00\x00")],
                      [lambda t: xor_address(0x0016, RELAY_IP, 60000, t)])
    relayed._exchange(CHANNEL_BIND, [attribute(CHANNEL_NUMBER, b"\x40\x00\x00\x00"),
                                     lambda t: xor_address(XOR_PEER, RELAY_IP, 60001, t)])
    for n in range(5):
        relayed._packet(channel_data(0x4000, rtp(n, 7)), True, 10)
    result = analyze([str(call.write(tmp_path / "hairpin.pcapng"))], out_dir=tmp_path / "out", db_dir=tmp_path)
    [relay] = result.report.destinations
    assert relay.ip == RELAY_IP and relay.via == []
    [flow] = list(result.reading.flows)
    assert relay.orig_bytes == flow.orig_ip_bytes  # the flow's bytes, once
    assert any("itself" in e.detail for e in relay.evidence if e.source == "turn")
    assert any("TURN relays with no peer in view" in line for line in result.report.observability)
