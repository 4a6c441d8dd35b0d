"""Suricata eve.json read into flow and name frames."""

from __future__ import annotations

import gzip
import json
import math
import os
from collections import Counter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracecheck.errors import UserError
from tracecheck.sensors.eve import EVE
from tracecheck.sensors.interface import FLOW_COLUMNS, NAME_COLUMNS

T0 = "2026-12-01T10:00:00.250000+0100"
T0_EPOCH = 1796115600.25


def typed(rows, columns) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in columns:
        if column in ("ts", "duration"):
            frame[column] = frame[column].astype("float64")
        elif column in ("id.orig_p", "id.resp_p", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"):
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = frame[column].astype("str")
    return frame


def write(path, events, gz: bool = False, extra: bytes = b"") -> str:
    data = "".join(json.dumps(event) + "\n" for event in events).encode() + extra
    with open(path, "wb") as out:
        out.write(gzip.compress(data) if gz else data)
    return str(path)


def read(path: str, rows: int = 200_000):
    (log,) = EVE.find([path])
    chunks = list(EVE.chunks(log, rows))
    return (pd.concat([chunk.flows for chunk in chunks], ignore_index=True),
            pd.concat([chunk.names for chunk in chunks], ignore_index=True),
            sum((chunk.skipped for chunk in chunks), start=Counter()), chunks)


def event(kind: str, flow_id: int = 1, src=("10.0.0.1", 50000), dest=("192.0.2.10", 443), proto="TCP", **fields):
    return {"timestamp": T0, "flow_id": flow_id, "in_iface": "eth0", "event_type": kind, "src_ip": src[0],
            "src_port": src[1], "dest_ip": dest[0], "dest_port": dest[1], "proto": proto, **fields}


def flow_fields(**extra):
    return {"flow": {"pkts_toserver": 10, "pkts_toclient": 8, "bytes_toserver": 740, "bytes_toclient": 1012,
                     "start": T0, "end": "2026-12-01T09:00:01.750000+0000", "age": 1, "state": "closed",
                     "reason": "timeout", "alerted": False}, **extra}


def test_flow_and_netflow_events_exact(tmp_path):
    icmp = event("flow", 3, ("10.0.0.1", None), ("2001:db8::1", None), "IPv6-ICMP", icmp_type=128, icmp_code=0,
                 **flow_fields())
    del icmp["src_port"], icmp["dest_port"]
    path = write(tmp_path / "eve.json", [
        event("flow", 1, app_proto="tls", **flow_fields()),
        event("flow", 2, ("10.0.0.1", 5353), ("192.0.2.53", 53), "UDP", app_proto="failed",
              flow={"pkts_toserver": 1, "bytes_toserver": 80, "start": T0}),
        icmp,
        event("flow", 4, proto="SCTP", **flow_fields()),
        event("netflow", 5, proto="TCP", app_proto="http",
              netflow={"pkts": 4, "bytes": 400, "start": T0, "end": "2026-12-01T09:00:02.250000+0000", "age": 2}),
    ])
    flows, names, skipped, chunks = read(path)
    pd.testing.assert_frame_equal(flows, typed([
        ("1", T0_EPOCH, 1.5, "tcp", "10.0.0.1", 50000, "192.0.2.10", 443, 10, 740, 8, 1012, "tls", path),
        ("2", T0_EPOCH, math.nan, "udp", "10.0.0.1", 5353, "192.0.2.53", 53, 1, 80, -1, -1, "", path),
        ("3", T0_EPOCH, 1.5, "icmp", "10.0.0.1", 128, "2001:db8::1", 0, 10, 740, 8, 1012, "", path),
        ("4", T0_EPOCH, 1.5, "132", "10.0.0.1", 50000, "192.0.2.10", 443, 10, 740, 8, 1012, "", path),
        ("5", T0_EPOCH, 2.0, "tcp", "10.0.0.1", 50000, "192.0.2.10", 443, 4, 400, 0, 0, "http", path),
    ], FLOW_COLUMNS))
    assert names.empty and not skipped
    assert chunks[0].first_ts == chunks[0].last_ts == T0_EPOCH and chunks[0].lines == 5


def test_tls_quic_http_sip_names(tmp_path):
    path = write(tmp_path / "eve.json", [
        event("tls", 1, tls={"sni": "API.Example.com.", "version": "TLS 1.3"}),
        event("quic", 2, ("10.0.0.1", 50001), ("2001:db8::443", 443), "UDP", quic={"version": "1", "sni": "q.example"}),
        event("http", 3, dest=("192.0.2.80", 8080), http={"hostname": "web.example", "http_port": 8080, "url": "/"}),
        event("http", 4, http={"hostname": "192.0.2.10"}),
        event("sip", 5, dest=("192.0.2.60", 5060), proto="UDP",
              sip={"method": "INVITE", "uri": "sip:+15551234567@pbx.example.com;transport=udp", "version": "SIP/2.0"}),
        event("sip", 6, dest=("192.0.2.61", 5060), proto="UDP",
              sip={"request_line": "REGISTER sip:voice.example SIP/2.0"}),
        event("tls", 7, tls={"version": "TLS 1.2"}),
    ])
    _, names, skipped, _ = read(path)
    pd.testing.assert_frame_equal(names, typed([
        (T0_EPOCH, "1", "192.0.2.10", "api.example.com", "sni", "10.0.0.1"),
        (T0_EPOCH, "2", "2001:db8::443", "q.example", "quic_sni", "10.0.0.1"),
        (T0_EPOCH, "3", "192.0.2.80", "web.example", "http_host", "10.0.0.1"),
        (T0_EPOCH, "4", "192.0.2.10", "192.0.2.10", "http_host", "10.0.0.1"),  # as a capture names it
        (T0_EPOCH, "5", "192.0.2.60", "pbx.example.com", "sip", "10.0.0.1"),
        (T0_EPOCH, "6", "192.0.2.61", "voice.example", "sip", "10.0.0.1"),
    ], NAME_COLUMNS))
    assert skipped == {}


def test_dns_answers_in_each_of_suricatas_shapes(tmp_path):
    server, client = ("192.0.2.53", 53), ("10.0.0.7", 40000)
    path = write(tmp_path / "eve.json", [
        event("dns", 1, client, server, "UDP", dns={"type": "query", "rrname": "www.example.com", "rrtype": "A"}),
        event("dns", 2, server, client, "UDP", dns={  # eve v2, detailed answers: the chain is known
            "version": 2, "type": "answer", "rrname": "WWW.Example.com", "rrtype": "A", "rcode": "NOERROR",
            "answers": [{"rrname": "www.example.com", "rrtype": "CNAME", "ttl": 60, "rdata": "edge.cdn.example"},
                        {"rrname": "edge.cdn.example", "rrtype": "A", "ttl": 20, "rdata": "192.0.2.80"},
                        {"rrname": "edge.cdn.example", "rrtype": "TXT", "ttl": 20, "rdata": "hello"}]}),
        event("dns", 3, server, client, "UDP", dns={  # grouped
            "version": 2, "type": "answer", "rrname": "v6.example", "rrtype": "AAAA",
            "grouped": {"CNAME": ["v6.cdn.example"], "AAAA": ["2001:DB8::0:80"]}}),
        event("dns", 4, server, client, "UDP", dns={  # eve v1: one record an event
            "type": "answer", "id": 9, "rrname": "old.example", "rrtype": "A", "ttl": 5, "rdata": "192.0.2.81"}),
        event("dns", 5, server, client, "UDP", dns={
            "type": "answer", "id": 9, "rrname": "old.example", "rrtype": "CNAME", "ttl": 5, "rdata": "x.example"}),
        event("dns", 6, client, server, "UDP", dns={  # eve v3 (Suricata 8): queries and answers lists
            "version": 3, "type": "response", "queries": [{"rrname": "new.example", "rrtype": "A"}],
            "answers": [{"rrname": "new.example", "rrtype": "A", "rdata": "192.0.2.82"}]}),
    ])
    _, names, skipped, _ = read(path)
    pd.testing.assert_frame_equal(names, typed([
        (T0_EPOCH, "2", "192.0.2.80", "www.example.com", "dns", "10.0.0.7"),
        (T0_EPOCH, "2", "192.0.2.80", "edge.cdn.example", "dns_cname", "10.0.0.7"),
        (T0_EPOCH, "3", "2001:db8::80", "v6.example", "dns", "10.0.0.7"),
        (T0_EPOCH, "3", "2001:db8::80", "v6.cdn.example", "dns_cname", "10.0.0.7"),
        (T0_EPOCH, "4", "192.0.2.81", "old.example", "dns", "10.0.0.7"),
        (T0_EPOCH, "6", "192.0.2.82", "new.example", "dns", "10.0.0.7"),
    ], NAME_COLUMNS))
    assert not skipped


def test_other_events_and_bad_lines_are_counted_not_fatal(tmp_path):
    path = write(tmp_path / "eve.json", [
        event("alert", alert={"signature": "x"}), event("stats", stats={}), event("alert"),
        event("flow", 1, flow={"start": "yesterday"}), event("flow", 2, ("not-an-ip", 1), **flow_fields()),
        {"event_type": ["odd"]},
    ], extra=b"{broken\n\n")
    flows, names, skipped, _ = read(path)
    assert flows.empty and names.empty
    assert skipped == {"other event type: alert": 2, "other event type: stats": 1, "unparseable line": 3,
                       "not an IP address": 1}


def test_find_directories_globs_gzip_and_refusals(tmp_path):
    write(tmp_path / "eve.json", [event("flow", 1, **flow_fields())])
    write(tmp_path / "eve.json.1.gz", [event("flow", 2, **flow_fields())], gz=True)
    write(tmp_path / "eve-2026-12-01.json", [])
    write(tmp_path / "fast.log", [{"not": "read"}])
    assert [os.path.basename(log.path) for log in EVE.find([str(tmp_path)])] == ["eve.json", "eve.json.1.gz"]
    assert [os.path.basename(path) for path, _ in EVE.ignored([str(tmp_path)])] == ["eve-2026-12-01.json"]
    assert [os.path.basename(log.path) for log in EVE.find([str(tmp_path / "eve.json*")])] == ["eve.json", "eve.json.1.gz"]
    (gz,) = EVE.find([str(tmp_path / "eve.json.1.gz")])
    assert next(EVE.chunks(gz)).flows["uid"].tolist() == ["2"]
    for content, why in ((b"\x0a\x0d\x0d\x0a" + bytes(30), "not a Suricata eve.json"),
                         (b'{"ts": 1.0, "uid": "C"}\n', "use --zeek"),
                         (b"a,b,c\n1,2,3\n", "not a Suricata eve.json")):
        with open(tmp_path / "eve-bad.json", "wb") as out:
            out.write(content)
        with pytest.raises(UserError) as err:
            EVE.find([str(tmp_path / "eve-bad.json")])
        assert why in str(err.value) and "eve-bad.json" in str(err.value)


def test_a_truncated_gzip_is_a_user_error(tmp_path):
    data = gzip.compress(b"".join(json.dumps(event("flow", n, **flow_fields())).encode() + b"\n" for n in range(5000)))
    path = tmp_path / "eve.json.gz"
    path.write_bytes(data[: len(data) // 2])
    (log,) = EVE.find([str(path)])
    with pytest.raises(UserError, match="damaged"):
        for _ in EVE.chunks(log, rows=100):
            pass


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.binary(max_size=80) | st.builds(
    lambda kind, body: json.dumps({"timestamp": T0, "event_type": kind, "src_ip": "10.0.0.1", "dest_ip": body,
                                   kind: {"sni": body, "hostname": body, "answers": [{"rrname": body, "rrtype": "A",
                                                                                      "rdata": body}]}}).encode(),
    st.sampled_from(["flow", "tls", "http", "dns", "quic", "sip", "netflow", "alert"]), st.text(max_size=30)),
    max_size=10))
def test_arbitrary_lines_raise_nothing_but_user_error(tmp_path, lines):
    path = tmp_path / "eve.json"
    path.write_bytes(json.dumps(event("flow", **flow_fields())).encode() + b"\n" + b"\n".join(lines) + b"\n")
    try:
        for log in EVE.find([str(path)]):
            for chunk in EVE.chunks(log, rows=4):
                assert list(chunk.flows.columns) == list(FLOW_COLUMNS)
                assert list(chunk.names.columns) == list(NAME_COLUMNS)
    except UserError as err:
        assert "\n" not in str(err)


def test_the_fast_flow_reader_reads_as_the_careful_one(tmp_path, monkeypatch):
    from tracecheck.sensors import eve

    events = [event("flow", n, (f"10.0.{n % 3}.1", 1000 + n), (f"192.0.2.{n % 50}", 443), ("TCP", "UDP", "GRE")[n % 3],
                    app_proto=("tls", "failed", "dns")[n % 3], **flow_fields()) for n in range(60)]
    events[7]["flow"]["end"] = "2026-12-01T09:00:07.000001Z"
    del events[8]["flow"]["end"]
    events.insert(5, event("tls", 99, tls={"sni": "a.example"}))
    events.insert(9, event("netflow", 98, netflow={"pkts": 1, "bytes": 60, "start": T0}))
    path = write(tmp_path / "eve.json", events)
    fast = read(path)
    (log,) = EVE.find([path])
    columns, others = eve._flow_events_arrow(log, open(path, "rb").read().splitlines())  # takes this block
    assert len(columns["ts"]) == 60 and len(others) == 2
    monkeypatch.setattr(eve, "_flow_events_arrow", lambda *args: (_ for _ in ()).throw(ValueError("careful")))
    careful = read(path)
    for one, other in ((fast[0], careful[0]), (fast[1], careful[1])):
        pd.testing.assert_frame_equal(one.sort_values("uid", ignore_index=True), other.sort_values("uid", ignore_index=True),
                                      check_exact=True)
    assert fast[2] == careful[2] and len(fast[0]) == 61


SURICATA_LAB_MIRROR = "/work/.mirror/Chala1899+IDS-Lab-Suricata/repo"


@pytest.mark.skipif(not os.path.isdir(SURICATA_LAB_MIRROR), reason="no mirror of a real Suricata 7 eve.json")
def test_a_real_suricata_eve_json(tmp_path):
    """A lab's real eve.json (Suricata 7: stats, alert, flow, dns v2, http, tls ...), read from
    the mirror and never copied here: every line is taken or counted as another event type."""
    import subprocess

    data = subprocess.run(["git", "-C", SURICATA_LAB_MIRROR, "show", "HEAD:eve.json"], capture_output=True,
                          check=True).stdout
    path = tmp_path / "eve.json"
    path.write_bytes(data)
    flows, names, skipped, _ = read(str(path))
    assert len(flows) > 200 and (flows["proto"].isin(["tcp", "udp", "icmp"])).all()
    assert set(names["source"]) >= {"dns", "dns_cname", "sni", "http_host"}
    assert all(reason.startswith("other event type") for reason in skipped)


def test_a_first_event_longer_than_the_usual_sniff(tmp_path):
    stats = event("stats", stats={f"counter_{n}": n for n in range(12_000)})  # ~200 kB, as on a many-core sensor
    path = write(tmp_path / "eve.json", [stats, event("flow", 1, **flow_fields())])
    flows, _, skipped, _ = read(path)
    assert flows["uid"].tolist() == ["1"] and skipped == {"other event type: stats": 1}
