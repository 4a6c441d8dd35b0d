"""HTTP request heads split over TCP segments (issue 15): a long URL fills the first segment and
the Host header comes in the second or third; segments out of order, retransmitted (with other
bytes), without the handshake; a head that never ends is given up at ``http.MAX_HEAD``."""

from __future__ import annotations

from capture_builders import T0
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dissect_session import CLIENT, MS, SERVER, Capture, flow_to, named

from tracecheck.dissect import http

LONG_URL = b"/search?" + b"q=x&" * 400  # 1608 bytes: longer than a segment's payload
REQUEST = (b"GET " + LONG_URL + b" HTTP/1.1\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n"
           b"Host: media.example.net\r\nConnection: keep-alive\r\n\r\n")
MSS = 1000
CUTS = [MSS, REQUEST.index(b"Host:") + 2]  # the third piece starts inside the header's name


def pieces(data: bytes, cuts) -> list[tuple[int, bytes]]:
    """(offset, bytes) of each piece of ``data`` cut at ``cuts``."""
    edges = [0, *cuts, len(data)]
    return [(a, data[a:b]) for a, b in zip(edges, edges[1:]) if b > a]


def capture(tmp_path, parts, order, handshake=True, port=80, reply=True):
    """A client sending ``parts`` in ``order`` (indexes may repeat: retransmissions)."""
    cap = Capture()
    isn = 5000
    if handshake:
        seq, ack = cap.handshake(T0, CLIENT, SERVER, 50100, port, isn=isn)
    else:
        seq, ack = isn + 1, 90001
    for i, index in enumerate(order):
        offset, data = parts[index]
        cap.segment(T0 + (12 + i) * MS, CLIENT, SERVER, 50100, port, seq + offset, data, ack)
    if reply:
        cap.segment(T0 + 40 * MS, SERVER, CLIENT, port, 50100, ack, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", seq + len(REQUEST))
    return named(cap.write(tmp_path))


def test_host_in_the_third_segment_names_the_flow(tmp_path):
    parts = pieces(REQUEST, CUTS)
    assert parts[1][1].endswith(b"\r\nHo") and parts[2][1].startswith(b"st: media.example.net")
    flow = flow_to(capture(tmp_path, parts, [0, 1, 2]), SERVER, 80)
    assert (flow.server_name, flow.name_source, flow.app) == ("media.example.net", "http_host", "http")


def test_out_of_order_and_retransmitted_segments(tmp_path):
    parts = pieces(REQUEST, CUTS)
    for order in ([2, 0, 1], [1, 2, 0], [0, 0, 2, 1], [1, 0, 1, 2]):
        flow = flow_to(capture(tmp_path, parts, order), SERVER, 80)
        assert (flow.server_name, flow.name_source) == ("media.example.net", "http_host"), order


def test_a_retransmission_with_other_bytes_does_not_overwrite_what_came_first(tmp_path):
    parts = pieces(REQUEST, CUTS)
    offset, third = parts[2]
    forged = (offset, third.replace(b"media.example.net", b"evil.example.com!"[:len(b"media.example.net")]))
    flow = flow_to(capture(tmp_path, [*parts, forged], [0, 2, 3, 1]), SERVER, 80)
    assert flow.server_name == "media.example.net"


def test_without_the_handshake_in_the_capture(tmp_path):
    parts = pieces(REQUEST, CUTS)
    flow = flow_to(capture(tmp_path, parts, [0, 1, 2], handshake=False), SERVER, 80)
    assert flow.server_name == "media.example.net"


def test_request_line_cut_inside_the_method_or_the_version(tmp_path):
    for cut in (2, 4, len(REQUEST.split(b"\r\n")[0]) - 3):
        flow = flow_to(capture(tmp_path, pieces(REQUEST, [cut]), [0, 1]), SERVER, 80)
        assert flow.server_name == "media.example.net", cut


def test_a_head_that_never_ends_is_given_up_at_the_bound(tmp_path):
    endless = b"GET /" + b"a" * (3 * http.MAX_HEAD)
    parts = pieces(endless, range(MSS, len(endless), MSS))
    result = capture(tmp_path, parts, range(4), reply=False)
    flow = flow_to(result, SERVER, 80)
    assert (flow.server_name, flow.name_source) == ("", "")
    late_host = b"GET /" + b"a" * http.MAX_HEAD + b" HTTP/1.1\r\nHost: late.example.com\r\n\r\n"
    parts = pieces(late_host, range(3000, len(late_host), 3000))
    assert flow_to(capture(tmp_path, parts, range(len(parts)), reply=False), SERVER, 80).server_name == ""


def test_not_http_after_all(tmp_path):
    bogus = b"GET " + b"x" * 1200 + b"\r\nHost: fake.example.com\r\n\r\n"  # no HTTP/ version
    flow = flow_to(capture(tmp_path, pieces(bogus, [MSS]), [0, 1], reply=False), SERVER, 80)
    assert (flow.server_name, flow.app) == ("", "")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, len(REQUEST) - 1), min_size=1, max_size=2, unique=True),
       data=st.data())
def test_any_split_in_any_order_names_the_flow(tmp_path, cuts, data):
    parts = pieces(REQUEST, sorted(cuts))
    order = data.draw(st.permutations(range(len(parts))))
    if len(parts) < 3:
        order = [*order, data.draw(st.sampled_from(order))]  # and one retransmission
    flow = flow_to(capture(tmp_path, parts, order), SERVER, 80)
    assert flow.server_name == "media.example.net"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(st.tuples(st.integers(-200, 3000), st.binary(max_size=1500)), min_size=1, max_size=4),
       start=st.sampled_from([b"GET /", b"POST http://", b"CONNECT ", b""]))
def test_hostile_segments_never_raise(tmp_path, segments, start):
    parts = [(0, start + segments[0][1]), *((max(0, off), raw) for off, raw in segments[1:] if raw)]
    parts = [p for p in parts if p[1]]
    if not parts:
        return
    result = capture(tmp_path, parts, range(len(parts)), reply=False)
    for flow in result.result.flows:
        assert len(flow.server_name) <= 253


def test_zero_bytes_sent_with_an_ack_before_the_first_segment(tmp_path):
    """Some stacks send an ACK carrying two zero bytes, then the real first segment at the same
    sequence number (nDPI's heuristic_tcp_ack_payload.pcap): the zeros are not the stream's start."""
    from test_dissect_session import HELLO

    for port, first, name in ((80, REQUEST, "media.example.net"), (443, HELLO, "split.example.com")):
        flow = flow_to(capture(tmp_path, [(0, b"\x00\x00"), (0, first)], [0, 1], port=port, reply=False), SERVER, port)
        assert flow.server_name == name


def test_a_hello_or_request_after_a_preamble(tmp_path):
    """The first payloads are not always the hello: FTP's AUTH TLS (after the server's banner),
    RDP's X.224 negotiation, or a capture begun mid-connection with a response in flight."""
    from test_dissect_session import HELLO

    cases = {
        21: [("s", b"220 ftp ready\r\n"), ("c", b"AUTH TLS\r\n"), ("s", b"234 go ahead\r\n"), ("c", HELLO)],
        3389: [("c", b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x01\x00\x00\x00"),
               ("s", b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x01\x00\x00\x00"), ("c", HELLO)],
        80: [("s", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), ("s", bytes(10)), ("c", REQUEST)],
    }
    for port, talk in cases.items():
        cap = Capture()
        seq, ack = cap.handshake(T0, CLIENT, SERVER, 50200, port, isn=700)
        for i, (side, data) in enumerate(talk):
            if side == "c":
                cap.segment(T0 + (20 + i) * MS, CLIENT, SERVER, 50200, port, seq, data, ack)
                seq += len(data)
            else:
                cap.segment(T0 + (20 + i) * MS, SERVER, CLIENT, port, 50200, ack, data, seq)
                ack += len(data)
        flow = flow_to(named(cap.write(tmp_path)), SERVER, port)
        assert flow.server_name == ("media.example.net" if port == 80 else "split.example.com"), port


def test_runs_of_spaces_in_the_request_line(tmp_path):
    request = b"GET          /very_long_uri HTTP/1.1\r\nHost: www.lan\r\n\r\n"
    flow = flow_to(capture(tmp_path, [(0, request)], [0], port=8080, reply=False), SERVER, 8080)
    assert flow.server_name == "www.lan"


def test_a_sip_invite_over_tcp_split_in_two_segments(tmp_path):
    invite = (b"INVITE sip:agent@pbx.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.5:50100\r\n"
              b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:agent@pbx.example.com>\r\nCall-ID: abc@10.0.0.5\r\n"
              b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    flow = flow_to(capture(tmp_path, pieces(invite, [60]), [0, 1], port=5060, reply=False), SERVER, 5060)
    assert (flow.server_name, flow.name_source, flow.app) == ("pbx.example.com", "sip", "sip")


@pytest.mark.parametrize("inside", ["Host: m", "Host: media.exa", "Host:", "Ho"])
def test_a_host_line_cut_by_the_segment_end_waits_for_the_rest(tmp_path, inside):
    # Found by the property test above: a first segment ending in "Host: m" named the flow "m".
    cut = REQUEST.index(b"Host:") + len(inside)
    for order in ([0, 1], [0, 1, 0], [1, 0]):
        flow = flow_to(capture(tmp_path, pieces(REQUEST, [cut]), order), SERVER, 80)
        assert flow.server_name == "media.example.net", order


def test_a_request_cut_inside_its_host_line_names_nothing_rather_than_a_piece():
    cut = REQUEST.index(b"Host:") + len(b"Host: med")
    assert http.parse_http_request(REQUEST[:cut]).host == ""
    assert http.parse_http_request(b"GET http://media.example.net/x HTTP/1.1").host == "media.example.net"
