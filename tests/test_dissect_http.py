"""HTTP/1.x request heads: Host, CONNECT through a proxy, WebSocket, hostile bytes."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect.http import (
    MAX_HEAD,
    HttpRequest,
    looks_like_http_request,
    parse_http_request,
)


def request(line: str, *headers: str, body: bytes = b"") -> bytes:
    return ("\r\n".join([line, *headers]) + "\r\n\r\n").encode() + body


def test_get_with_host_and_port():
    got = parse_http_request(
        request("GET /api/v2/users HTTP/1.1", "Host: API.MyPureCloud.IE:8443")
    )
    assert got == HttpRequest(
        method="GET",
        target="/api/v2/users",
        version="HTTP/1.1",
        host="api.mypurecloud.ie",
        port=8443,
        complete=True,
    )


def test_connect_names_the_destination_behind_the_proxy():
    got = parse_http_request(
        request(
            "CONNECT transcribestreaming.us-east-1.amazonaws.com:443 HTTP/1.1",
            "Host: transcribestreaming.us-east-1.amazonaws.com:443",
            "Proxy-Authorization: Basic c2VjcmV0",
        )
    )
    assert got.connect_host == "transcribestreaming.us-east-1.amazonaws.com"
    assert got.connect_port == 443
    assert got.host == "transcribestreaming.us-east-1.amazonaws.com"
    assert "c2VjcmV0" not in repr(got)


def test_connect_without_host_header_and_to_an_ipv6_literal():
    got = parse_http_request(request("CONNECT [2001:db8::7]:5061 HTTP/1.1"))
    assert (got.connect_host, got.connect_port) == ("2001:db8::7", 5061)
    assert (got.host, got.port) == ("2001:db8::7", 5061)


def test_absolute_uri_overrides_host_and_private_parts_are_dropped():
    got = parse_http_request(
        request(
            "GET http://user:pw@Proxy-Target.example.com./lookup?phone=15551234567#x HTTP/1.1",
            "Host: other.example",
        )
    )
    assert (got.host, got.port) == ("proxy-target.example.com", None)
    assert got.target == "http://Proxy-Target.example.com./lookup"
    assert "15551234567" not in repr(got) and "pw" not in got.target


def test_websocket_upgrade():
    got = parse_http_request(
        request(
            "GET /notifications HTTP/1.1",
            "Host: streaming.mypurecloud.de",
            "Connection: Upgrade",
            "Upgrade: WebSocket",
        )
    )
    assert got.websocket is True and got.host == "streaming.mypurecloud.de"


def test_ssdp_style_methods_and_lf_only_lines():
    got = parse_http_request(b"M-SEARCH * HTTP/1.1\nHOST: 239.255.255.250:1900\n\n")
    assert (got.method, got.host, got.port, got.complete) == (
        "M-SEARCH",
        "239.255.255.250",
        1900,
        True,
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"GET",
        b"get / HTTP/1.1\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"\x16\x03\x01\x02\x00GET / HTTP/1.1",
    ],
)
def test_not_requests(payload):
    assert parse_http_request(payload) is None


@pytest.mark.parametrize(
    "host",
    [
        "exa mple.com",
        "a" * 300,
        "host:99999",
        "host:12x",
        "[::1",
        "h\u00e9.example",
        "",
    ],
)
def test_bad_hosts_are_left_empty(host):
    got = parse_http_request(request("GET / HTTP/1.1", f"Host: {host}"))
    assert got is not None and got.host == "" and got.port is None


def test_only_the_first_8_kib_are_read():
    filler = "X-Filler: " + "y" * (MAX_HEAD + 100)
    got = parse_http_request(request("GET / HTTP/1.1", filler, "Host: late.example"))
    assert got.host == "" and got.complete is False
    assert not looks_like_http_request(b"GET " + b"/" * MAX_HEAD + b" HTTP/1.1\r\n")


def test_partial_head_still_names_the_host():
    got = parse_http_request(b"GET / HTTP/1.1\r\nHost: early.example\r\nUser-Ag")
    assert got.host == "early.example" and got.complete is False


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(payload):
    parse_http_request(payload)
    parse_http_request(b"GET / HTTP/1.1\r\nHost: " + payload)
    parse_http_request(b"CONNECT " + payload + b" HTTP/1.1\r\n\r\n")


@given(
    st.text(min_size=1, max_size=40).filter(lambda t: " " not in t and "\n" not in t),
    st.text(max_size=80),
)
def test_random_targets_and_hosts_never_raise(target, host):
    raw = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(
        "utf-8", "surrogatepass"
    )
    got = parse_http_request(raw)
    if got is not None and got.host:
        assert got.host == got.host.lower() and " " not in got.host


def test_large_payload_is_fast():
    payload = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200_000
    started = time.perf_counter()
    assert parse_http_request(payload).complete is False
    assert time.perf_counter() - started < 0.5
