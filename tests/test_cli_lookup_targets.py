"""`tracecheck lookup TARGET...`: a target that is neither an address nor a host name is exit 2,
one line, before any look-up or DNS query is made."""

from __future__ import annotations

import json
import socket

import pytest

from cli_runner import one_line, run


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1788220800")
    return lambda *args: run(monkeypatch, capsys, "--db", str(tmp_path / "db"), *args)


@pytest.mark.parametrize("target", [
    "999.1.1.1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "10", "01.2.3.256",
    "exa mple.com", "-bad.example.com", "bad-.example.com", "a..b.example", "https://api.example.com",
    "1.2.3.0/24", "[2001:db8::1]", "host.123", "x" * 64 + ".example.com", ("a" * 60 + ".") * 5 + "com",
    "api.example.com:443", "*.example.com",
])
def test_a_target_that_is_neither_address_nor_name_is_exit_2(tc, target):
    code, out, err = tc("lookup", "--", target)
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"tracecheck: {target} is not an IP address or a host name")


@pytest.mark.parametrize("target", [
    "3.248.0.1", "2a05:d018::1", "fe80::1%eth0", "localhost", "api.mypurecloud.ie", "API.MyPureCloud.IE.",
    "s3.eu-west-1.amazonaws.com", "1e100.net", "xn--bcher-kva.example", "bücher.example", "_sip._tcp.example.com",
    "123.example.com",
])
def test_addresses_and_plausible_names_are_looked_up(tc, target):
    code, out, err = tc("lookup", "--json", target)
    assert code == 0, err
    assert [row["target"] for row in json.loads(out)] == [target]


def test_one_bad_target_among_several_stops_before_any_work(tc, monkeypatch):
    asked = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: asked.append(host) or [])
    code, out, err = tc("lookup", "--resolve", "api.mypurecloud.ie", "3.248.0.1", "999.1.1.1", "also bad")
    assert code == 2 and out == "" and asked == []
    assert one_line(err).startswith("tracecheck: 999.1.1.1 is not an IP address or a host name")
