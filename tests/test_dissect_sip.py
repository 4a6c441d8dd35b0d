"""SIP and SDP: masked identities, TCP framing, media endpoints, hostile bytes, real calls."""

from __future__ import annotations

import dataclasses
import time

import pytest
from dissect_helpers import read_transport, shared_data
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect.sdp import MediaEndpoint, expected_media, parse_sdp
from tracecheck.dissect.sip import (
    SipMessage,
    ViaHop,
    mask_call_id,
    mask_sip_uri,
    parse_sip,
    split_sip_stream,
)

# --------------------------------------------------------------------------- builders

OFFER = (
    "v=0\r\n"
    "o=- 8000 8000 IN IP4 198.51.100.10\r\n"
    "s=call\r\n"
    "c=IN IP4 198.51.100.10\r\n"
    "t=0 0\r\n"
    "m=audio 40376 RTP/AVP 8 0 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=sendrecv\r\n"
)


def sip_message(
    start: str, headers: list[str], body: str = "", length: bool = True
) -> bytes:
    lines = [start, *headers]
    if length:
        lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def invite(
    user: str = "+15551234567",
    caller: str = "agent7",
    call_id: str = "a84b4c76e66710@pc33.atlanta.example",
    body: str = OFFER,
) -> bytes:
    return sip_message(
        f"INVITE sip:{user}@carrier.example.com:5060;user=phone SIP/2.0",
        [
            (
                "Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK776asdhds;received=203.0.113.9, "
                "SIP/2.0/TCP [2001:db8::5];branch=z9hG4bKold"
            ),
            "Max-Forwards: 70",
            f'From: "Agent Seven" <sip:{caller}@cc.example.org>;tag=1928301774',
            f"To: <sip:{user}@carrier.example.com>",
            f"Call-ID: {call_id}",
            "CSeq: 314159 INVITE",
            f"Contact: <sip:{caller}@10.1.2.3:5060;transport=udp>",
            f"P-Asserted-Identity: <tel:{user}>",
            "Content-Type: application/sdp",
        ],
        body,
    )


def ok_response(
    call_id: str = "a84b4c76e66710@pc33.atlanta.example", body: str = ""
) -> bytes:
    return sip_message(
        "SIP/2.0 200 OK",
        [
            "v: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK776asdhds",
            "f: <sip:agent7@cc.example.org>;tag=1928301774",
            "t: <sip:+15551234567@carrier.example.com>;tag=a6c85cf",
            f"i: {call_id}",
            "CSeq: 314159 INVITE",
            "m: <sip:+15551234567@192.0.2.4>",
            "c: application/sdp",
        ],
        body,
    )


# --------------------------------------------------------------------------- SIP fields


def test_invite_fields_are_kept_and_identities_masked():
    msg = parse_sip(invite())
    assert isinstance(msg, SipMessage)
    assert (msg.is_request, msg.method, msg.status_code) == (True, "INVITE", None)
    assert msg.request_uri == "sip:***@carrier.example.com:5060"
    assert (msg.request_host, msg.request_port) == ("carrier.example.com", 5060)
    assert msg.call_id == mask_call_id("a84b4c76e66710@pc33.atlanta.example")
    assert msg.call_id.endswith("@pc33.atlanta.example") and msg.call_id.startswith(
        "c-"
    )
    assert msg.cseq == 314159
    assert msg.via == (
        ViaHop("UDP", "10.1.2.3", 5060, "203.0.113.9"),
        ViaHop("TCP", "2001:db8::5", None, ""),
    )
    assert msg.via_hosts == ("10.1.2.3", "2001:db8::5")
    assert msg.from_uri == "sip:***@cc.example.org"
    assert msg.to_uri == "sip:***@carrier.example.com"
    assert msg.contact_uri == "sip:***@10.1.2.3:5060"
    assert msg.content_type == "application/sdp"
    assert msg.complete and msg.content_length == len(OFFER)
    assert expected_media(msg.sdp)[0] == MediaEndpoint(
        "198.51.100.10", 40376, "rtp", "audio", False, "c-line"
    )
    for secret in (
        "15551234567",
        "agent7",
        "Agent Seven",
        "a84b4c76e66710",
        "1928301774",
    ):
        assert secret not in repr(msg)


def test_response_with_compact_headers():
    msg = parse_sip(ok_response(body=OFFER))
    assert (msg.is_request, msg.status_code, msg.method) == (False, 200, "INVITE")
    assert msg.request_uri == "" and msg.request_host == ""
    assert msg.to_uri == "sip:***@carrier.example.com"
    assert msg.contact_uri == "sip:***@192.0.2.4"
    assert msg.via_hosts == ("10.1.2.3",)
    assert msg.sdp is not None and msg.sdp.address == "198.51.100.10"
    assert msg.call_id == parse_sip(invite()).call_id


def test_udp_without_content_length_takes_the_rest():
    raw = sip_message(
        "SIP/2.0 183 Session Progress", ["c: application/sdp"], OFFER, length=False
    )
    msg = parse_sip(raw)
    assert msg.content_length == len(OFFER) and msg.sdp is not None and msg.complete


def test_cut_body_is_marked_incomplete():
    raw = invite()
    msg = parse_sip(raw[:-30])
    assert msg is not None and msg.complete is False


def test_multipart_body_sdp_is_found():
    body = (
        "--b1\r\nContent-Type: application/sdp\r\n\r\n"
        + OFFER
        + "\r\n--b1\r\nContent-Type: application/isup\r\n\r\n\x01\x02\r\n--b1--\r\n"
    )
    raw = sip_message(
        "INVITE sip:+15551234567@gw.example.net SIP/2.0",
        ["Call-ID: x@y.example", 'Content-Type: multipart/mixed;boundary="b1"'],
        body,
    )
    msg = parse_sip(raw)
    assert msg.content_type == "multipart/mixed"
    assert [e.port for e in expected_media(msg.sdp)] == [40376, 40377]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"SIP/2.0 99 Too Low\r\n\r\n",
        b"SIP/2.0 2000 OK\r\n\r\n",
        b"invite sip:a@b.example SIP/2.0\r\n\r\n",
        b"INVITE sip:a@b.example SIP/3.0\r\n\r\n",
        b"INVITE sip:a@b.example SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
        b"\x80\x08\x00\x01" + bytes(160),
    ],
)
def test_not_sip(payload):
    assert parse_sip(payload) is None


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("sip:+15551234567@pbx.example.com", "sip:***@pbx.example.com"),
        (
            '"Bob" <sips:bob@Biloxi.Example.COM:5061;transport=tls>;tag=9',
            "sips:***@biloxi.example.com:5061",
        ),
        (
            "<sip:+1555;phone-context=+1@[2001:DB8::1]:5060>",
            "sip:***@[2001:db8::1]:5060",
        ),
        ("tel:+15551234567;phone-context=example.com", "tel:***"),
        ("sip:pbx.example.com;transport=tcp", "sip:pbx.example.com"),
        ("sip:192.0.2.7:5080", "sip:192.0.2.7:5080"),
        ("sip:alice", "sip:***"),
        ("sip:15551234567", "sip:***"),
        ("sip:user@555.123.4567", "sip:***"),
        ("urn:service:sos", "urn:***"),
        ("*", "*"),
        ("no uri at all 15551234567", "***"),
        ('"a<b" <sip:carol@c.example>', "***"),
    ],
)
def test_mask_sip_uri(value, masked):
    assert mask_sip_uri(value) == masked


def test_keyed_masks_tell_parties_apart():
    key = b"per-installation secret"
    one = mask_sip_uri("sip:+15551234567@pbx.example.com", key)
    assert one.startswith("sip:u-") and one.endswith("@pbx.example.com")
    assert one == mask_sip_uri("<sip:+15551234567@pbx.example.com>;tag=1", key)
    assert one != mask_sip_uri("sip:+15557654321@pbx.example.com", key)
    assert one != mask_sip_uri("sip:+15551234567@pbx.example.com", b"other key")
    assert mask_call_id("abc@h.example", key) != mask_call_id("abc@h.example")
    assert mask_call_id("no-host-here") == mask_call_id("no-host-here")
    assert "@" not in mask_call_id("no-host-here") and mask_call_id("") == ""


phone = st.builds(
    lambda plus, digits: plus + digits,
    st.sampled_from(["", "+"]),
    st.text("0123456789", min_size=8, max_size=15),
)
user_name = st.text("abcdefghijklmnopqrstuvwxyz", min_size=6, max_size=12).map(
    lambda s: "usr" + s
)


@settings(max_examples=300)
@given(phone, user_name, st.booleans(), st.sampled_from(["", "-", "."]))
def test_no_phone_number_or_user_part_survives(number, user, keyed, separator):
    key = b"k" if keyed else None
    spaced = separator.join([number[:3], number[3:]]) if separator else number
    body = OFFER.replace("o=- 8000", f"o={user} {number[-6:]}") + f"i={spaced}\r\n"
    raw = sip_message(
        f"INVITE sip:{spaced}@gw.example.net;user=phone SIP/2.0",
        [
            "Via: SIP/2.0/UDP gw.example.net;branch=z9hG4bK1",
            f'From: "{user} {number}" <sip:{user}@cc.example.org>;tag=77',
            f"To: <tel:{number}>",
            f"Contact: <sip:{number}@10.0.0.1>",
            f"Call-ID: {number}-{user}@10.0.0.1",
            f"Referred-By: <sip:{user}@cc.example.org>",
            "CSeq: 1 INVITE",
            "Content-Type: application/sdp",
        ],
        body,
    )
    for msg in [parse_sip(raw, key), *split_sip_stream(raw, key)[0]]:
        text = repr(msg)
        for secret in (number, number.lstrip("+"), spaced, user):
            assert secret not in text


# --------------------------------------------------------------------------- TCP framing


def test_split_sip_stream_at_every_boundary():
    first, second = invite(), ok_response(body=OFFER)
    stream = b"\r\n\r\n" + first + second + b"\r\n"
    for cut in range(len(stream) + 1):
        got, buffer = [], b""
        for segment in (stream[:cut], stream[cut:]):
            buffer += segment
            messages, used = split_sip_stream(buffer)
            got += messages
            buffer = buffer[used:]
        assert [m.status_code for m in got] == [None, 200], cut
        assert buffer == b""


def test_tcp_message_without_content_length_has_no_body():
    raw = sip_message(
        "OPTIONS sip:pbx.example.com SIP/2.0", ["Call-ID: z@q.example"], length=False
    )
    messages, used = split_sip_stream(raw + raw)
    assert len(messages) == 2 and used == 2 * len(raw)


def test_parse_sip_takes_the_first_of_several():
    assert parse_sip(invite() + ok_response()).method == "INVITE"


def test_garbage_stream_consumes_nothing():
    assert split_sip_stream(b"\x16\x03\x01" + bytes(100)) == ([], 0)


# --------------------------------------------------------------------------- SDP


WEBRTC_ANSWER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=rtcp-mux\r\n"
    "a=candidate:1 1 udp 2122260223 192.168.1.20 54400 typ host generation 0\r\n"
    "a=candidate:2 1 udp 1686052607 93.35.171.209 39032 typ srflx raddr 192.168.1.20 rport 54400\r\n"
    "a=candidate:3 1 udp 41885439 18.156.0.7 3478 typ relay raddr 93.35.171.209 rport 39032\r\n"
    "a=candidate:4 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active\r\n"
    "a=candidate:5 1 udp 1 abc.local 1 typ host\r\n"
    "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
)


def test_webrtc_candidates_become_endpoints():
    sdp = parse_sdp(WEBRTC_ANSWER.encode())
    audio = sdp.media[0]
    assert audio.is_srtp and audio.rtcp_mux and audio.payload_types == (111, 0)
    assert [c.type for c in audio.candidates] == ["host", "srflx", "relay", "host"]
    assert [(e.ip, e.port, e.kind, e.source) for e in expected_media(sdp)] == [
        ("192.168.1.20", 54400, "rtp", "candidate:host"),
        ("93.35.171.209", 39032, "rtp", "candidate:srflx"),
        ("18.156.0.7", 3478, "rtp", "candidate:relay"),
    ]
    assert all(e.srtp for e in expected_media(sdp))


def test_media_level_address_rtcp_attribute_and_ipv6():
    sdp = parse_sdp(
        b"v=0\r\nc=IN IP4 224.2.1.1/127/3\r\n"
        b"m=audio 49170 RTP/SAVP 0\r\nc=IN IP6 2001:DB8::1\r\na=rtcp:53020 IN IP4 126.16.64.4\r\n"
        b"m=video 51372/2 RTP/AVP 99\r\n"
        b"m=image 6000 udptl t38\r\n"
        b"m=audio 0 RTP/AVP 0\r\n"
    )
    assert sdp.address == "224.2.1.1"
    assert [(e.ip, e.port, e.kind, e.srtp) for e in expected_media(sdp)] == [
        ("2001:db8::1", 49170, "rtp", True),
        ("126.16.64.4", 53020, "rtcp", True),
        ("224.2.1.1", 51372, "rtp", False),
        ("224.2.1.1", 51373, "rtcp", False),
        ("224.2.1.1", 51374, "rtp", False),
        ("224.2.1.1", 51375, "rtcp", False),
        ("224.2.1.1", 6000, "other", False),
    ]


def test_hold_and_directions():
    sdp = parse_sdp(
        b"v=0\nc=IN IP4 0.0.0.0\na=sendonly\nm=audio 4000 RTP/AVP 0\na=inactive\n"
    )
    assert sdp.direction == "sendonly" and sdp.media[0].direction == "inactive"
    assert expected_media(sdp) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"hello",
        b"m=audio 1 RTP/AVP 0",
        b"\x00v=0",
        b"v=0\r\nm=audio \xb2 RTP/AVP \xb2",
    ],
)
def test_not_or_broken_sdp(body):
    sdp = parse_sdp(body)
    assert sdp is None or expected_media(sdp) == []


def test_unicode_digits_are_not_numbers():
    sdp = parse_sdp("v=0\nc=IN IP4 192.0.2.1\nm=audio ²³ RTP/AVP ¹\n".encode())
    assert sdp.media == ()


@settings(max_examples=400)
@given(st.binary(max_size=500))
def test_random_bytes_never_raise(payload):
    for candidate in (payload, b"INVITE sip:a@b.example SIP/2.0\r\n" + payload):
        msg = parse_sip(candidate)
        assert msg is None or isinstance(msg, SipMessage)
        split_sip_stream(candidate)
    sdp = parse_sdp(b"v=0\r\n" + payload)
    if sdp is not None:
        expected_media(sdp)


sdp_line = st.builds(
    lambda kind, words: f"{kind}={' '.join(words)}",
    st.sampled_from("vocmta"),
    st.lists(
        st.one_of(
            st.sampled_from(
                ["IN", "IP4", "IP6", "RTP/AVP", "rtcp:", "candidate:1", "typ", "udp"]
            ),
            st.integers(-5, 70000).map(str),
            st.sampled_from(["192.0.2.1", "2001:db8::1", "0.0.0.0", "::", "a.local"]),
            st.text("0123456789abc/:.-", max_size=6),
        ),
        max_size=9,
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(sdp_line, max_size=20))
def test_random_sdp_lines_never_raise(lines):
    sdp = parse_sdp(("v=0\r\n" + "\r\n".join(lines)).encode("utf-8", "surrogatepass"))
    for endpoint in expected_media(sdp):
        assert 0 < endpoint.port <= 65535


def test_huge_header_block_is_bounded():
    payload = (
        b"INVITE sip:a@b.example SIP/2.0\r\n"
        + b"Via: SIP/2.0/UDP h.example\r\n" * 50_000
    )
    started = time.perf_counter()
    parse_sip(payload)
    split_sip_stream(payload)
    assert time.perf_counter() - started < 1.0


# --------------------------------------------------------------------------- real calls

# Verified with tshark 4.x (sip.Method, sip.Status-Code, sip.Call-ID, sdp.connection_info,
# sdp.media.port) on the Wireshark wiki sample captures.
G711_SIGNALLING = [
    ("INVITE", None, "12013223@200.57.7.195"),
    ("INVITE", 100, "12013223@200.57.7.195"),
    ("INVITE", 180, "12013223@200.57.7.195"),
    ("REGISTER", None, "46E1C3CB36304F84A020CF6DD3F96461@Verso.com"),
    ("REGISTER", 200, "46E1C3CB36304F84A020CF6DD3F96461@Verso.com"),
    ("INVITE", 200, "12013223@200.57.7.195"),
    ("ACK", None, "12013223@200.57.7.195"),
    ("REGISTER", None, "D3A26FC3974B44ECB5A96E07282903E3@bestel.com"),
    ("REGISTER", 200, "D3A26FC3974B44ECB5A96E07282903E3@bestel.com"),
    ("REGISTER", None, "46E1C3CB36304F84A020CF6DD3F96461@Verso.com"),
    ("REGISTER", 200, "46E1C3CB36304F84A020CF6DD3F96461@Verso.com"),
    ("INVITE", None, "12015624@200.57.7.195"),
    ("INVITE", 100, "12015624@200.57.7.195"),
    ("INVITE", 180, "12015624@200.57.7.195"),
]
G722_SIGNALLING = [
    ("INVITE", None, "1-2161@10.0.2.20"),
    ("INVITE", 100, "1-2161@10.0.2.20"),
    ("INVITE", 200, "1-2161@10.0.2.20"),
    ("ACK", None, "1-2161@10.0.2.20"),
    ("BYE", None, "1-2161@10.0.2.20"),
    ("BYE", 200, "1-2161@10.0.2.20"),
]
CALLS = {
    "SIP_CALL_RTP_G711.pcap": (
        G711_SIGNALLING,
        [("200.57.7.196", 40376), ("200.57.7.204", 8000), ("200.57.7.196", 40360)],
    ),
    "sip-rtp-g722.pcap": (G722_SIGNALLING, [("10.0.2.20", 6000), ("10.0.2.15", 17472)]),
}


def shared_call(name: str):
    """A call capture of ../shared/data/pcaps/wireshark-wiki; the test is skipped without it."""
    root = shared_data()
    path = root / "pcaps" / "wireshark-wiki" / name if root else None
    if path is None or not path.exists():
        pytest.skip("shared capture data not present")
    return path


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(CALLS))
def test_real_calls_match_tshark(name):
    messages = [m for seg in read_transport(shared_call(name)) if (m := parse_sip(seg.payload))]
    signalling, media = CALLS[name]
    expected = [
        (method, status, mask_call_id(call_id))
        for method, status, call_id in signalling
    ]
    assert [(m.method, m.status_code, m.call_id) for m in messages] == expected
    rtp = [
        (e.ip, e.port)
        for m in messages
        if m.sdp
        for e in expected_media(m.sdp)
        if e.kind == "rtp"
    ]
    assert rtp == media
    rtcp = [
        (e.ip, e.port - 1)
        for m in messages
        if m.sdp
        for e in expected_media(m.sdp)
        if e.kind == "rtcp"
    ]
    assert rtcp == media
    for m in messages:
        assert "***" in m.from_uri or "@" not in m.from_uri


@given(st.ip_addresses())
def test_address_text_is_canonical_like_ipaddress(ip):
    from tracecheck.dissect._wire import canonical_ip

    assert canonical_ip(str(ip)) == str(ip)
    assert canonical_ip(ip.exploded.upper()) == str(ip)
    assert canonical_ip(f"[{ip}]") == str(ip)


# --------------------------------------------------------------------------- details=False

_LEFT_OUT = {"request_uri": "", "via": (), "from_uri": "", "to_uri": "", "contact_uri": ""}


def _lean_matches_full(payload: bytes) -> None:
    full, lean = parse_sip(payload), parse_sip(payload, details=False)
    assert (full is None) == (lean is None)
    if full is not None:
        assert lean == dataclasses.replace(full, **_LEFT_OUT)
    messages, used = split_sip_stream(payload)
    lean_messages, lean_used = split_sip_stream(payload, details=False)
    assert lean_used == used
    assert lean_messages == [dataclasses.replace(m, **_LEFT_OUT) for m in messages]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([invite(), ok_response(body=OFFER), invite(body=""), ok_response()]),
       st.lists(st.tuples(st.integers(0, 2000), st.binary(min_size=1, max_size=3)), max_size=4))
def test_naming_parse_leaves_out_only_the_masked_parties(message, edits):
    """What calls and names use (method, status, Call-ID, request host, SDP, lengths) is the
    same with details=False, on mutated messages too; only the masked parties and Via go."""
    data = bytearray(message)
    for at, replacement in edits:
        at %= len(data)
        data[at:at + len(replacement)] = replacement
    _lean_matches_full(bytes(data))


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(CALLS))
def test_naming_parse_of_real_calls(name):
    segments = read_transport(shared_call(name))
    for segment in segments:
        _lean_matches_full(segment.payload)
    assert any(parse_sip(s.payload, details=False) for s in segments)
