"""Zeek logs (TSV and JSON lines, gzip, rotated, re-headed) read into flow and name frames."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
from collections import Counter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracecheck.errors import UserError
from tracecheck.sensors import zeek
from tracecheck.sensors.interface import FLOW_COLUMNS, NAME_COLUMNS
from tracecheck.sensors.zeek import ZEEK

CONN_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
               "orig_bytes", "resp_bytes", "conn_state", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
               "tunnel_parents")
CONN_TYPES = ("time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count",
              "string", "count", "count", "count", "count", "set[string]")


def tsv(kind: str, fields, rows, types=None, close: bool = True) -> str:
    """A Zeek TSV log: ``rows`` are tuples of field texts, as Zeek would write them."""
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", f"#path\t{kind}",
             "#open\t2026-12-01-10-00-00", "#fields\t" + "\t".join(fields),
             "#types\t" + "\t".join(types or ["string"] * len(fields))]
    lines += ["\t".join(str(value) for value in row) for row in rows]
    if close:
        lines.append("#close\t2026-12-01-11-00-00")
    return "\n".join(lines) + "\n"


def header(kind: str, fields, types=None) -> str:
    return ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
            f"#path\t{kind}\n#fields\t" + "\t".join(fields) + "\n#types\t"
            + "\t".join(types or ["string"] * len(fields)) + "\n")


CONN_ROWS = [
    ("1764583200.123456", "CAbc1", "10.0.0.1", "50000", "192.0.2.10", "443", "tcp", "ssl,http", "1.500000",
     "100", "200", "SF", "10", "600", "8", "900", "(empty)"),
    ("1764583201.000000", "CAbc2", "10.0.0.1", "50001", "2001:DB8:0::1", "53", "udp", "-", "-", "-", "-", "S0",
     "1", "60", "-", "-", "(empty)"),
]


def expected_conn(log: str) -> pd.DataFrame:
    return typed_flows([
        ("CAbc1", 1764583200.123456, 1.5, "tcp", "10.0.0.1", 50000, "192.0.2.10", 443, 10, 600, 8, 900, "ssl,http", log),
        ("CAbc2", 1764583201.0, math.nan, "udp", "10.0.0.1", 50001, "2001:db8::1", 53, 1, 60, -1, -1, "", log),
    ])


def typed_flows(rows) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(FLOW_COLUMNS))
    for column in FLOW_COLUMNS:
        if column in ("ts", "duration"):
            frame[column] = frame[column].astype("float64")
        elif column in zeek.INT_FIELDS:
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = frame[column].astype("str")
    return frame


def typed_names(rows) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(NAME_COLUMNS))
    frame["ts"] = frame["ts"].astype("float64")
    for column in NAME_COLUMNS[1:]:
        frame[column] = frame[column].astype("str")
    return frame


def read(path: str, rows: int = 200_000):
    """(flows, names, skipped, lines) of one log, all chunks together."""
    (log,) = ZEEK.find([path])
    chunks = list(ZEEK.chunks(log, rows))
    flows = [chunk.flows for chunk in chunks if chunk.flows is not None]
    names = [chunk.names for chunk in chunks if chunk.names is not None]
    skipped = sum((chunk.skipped for chunk in chunks), start=type(chunks[0].skipped)()) if chunks else {}
    return (pd.concat(flows, ignore_index=True) if flows else None,
            pd.concat(names, ignore_index=True) if names else None, skipped, sum(chunk.lines for chunk in chunks))


def write(path, text: str | bytes, gz: bool = False) -> str:
    data = text.encode() if isinstance(text, str) else text
    if gz:
        data = gzip.compress(data)
    with open(path, "wb") as out:
        out.write(data)
    return str(path)


def json_lines(records) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def conn_json(nested: bool) -> list[dict]:
    out = []
    for row in CONN_ROWS:
        record = {name: value for name, value in zip(CONN_FIELDS, row) if value not in ("-", "(empty)")}
        for name in ("ts", "duration"):
            if name in record:
                record[name] = float(record[name])
        for name in zeek.INT_FIELDS | {"orig_bytes", "resp_bytes"}:
            if name in record:
                record[name] = int(record[name])
        record["extra_field_from_a_plugin"] = {"x": [1, 2]}
        if nested:
            record["id"] = {key[3:]: record.pop(key) for key in list(record) if key.startswith("id.")}
        out.append(record)
    return out


# ---------------------------------------------------------------- conn.log


def test_conn_tsv_exact_flows(tmp_path):
    path = write(tmp_path / "conn.log", tsv("conn", CONN_FIELDS, CONN_ROWS, CONN_TYPES))
    flows, names, skipped, lines = read(path)
    pd.testing.assert_frame_equal(flows, expected_conn(path))
    assert names is None and not skipped and lines == 11


@pytest.mark.parametrize("nested", [False, True])
def test_conn_json_flat_and_nested_read_as_the_tsv(tmp_path, nested):
    path = write(tmp_path / "conn.log", json_lines(conn_json(nested)))
    flows, _, skipped, _ = read(path)
    pd.testing.assert_frame_equal(flows, expected_conn(path))
    assert not skipped


def test_conn_json_iso_timestamps(tmp_path):
    records = conn_json(False)
    records[0]["ts"] = "2025-12-01T10:00:00.123456Z"
    path = write(tmp_path / "conn.log", json_lines(records))
    flows, _, _, _ = read(path)
    assert flows["ts"].tolist()[0] == pytest.approx(1764583200.123456)


def test_gzip_rotated_names_and_a_directory(tmp_path):
    logs = tmp_path / "logs" / "2026-12-01"
    logs.mkdir(parents=True)
    write(logs / "conn.10:00:00-11:00:00.log.gz", tsv("conn", CONN_FIELDS, CONN_ROWS[:1], CONN_TYPES), gz=True)
    write(logs / "conn.2026-12-01-11-00-00.log.gz", tsv("conn", CONN_FIELDS, CONN_ROWS[1:], CONN_TYPES), gz=True)
    write(logs / "ssl.2026-12-01-11-00-00.log", json_lines([{"ts": 1.0, "uid": "C", "server_name": "a.example"}]))
    write(logs / "weird.2026-12-01-11-00-00.log.gz", header("weird", ("ts", "name")), gz=True)
    write(logs / "stderr.log", "listening on eth0\n")
    write(logs / "notes.txt", "not looked at")
    survey = ZEEK.survey([str(tmp_path / "logs")])
    assert [(os.path.basename(log.path), log.log, log.layout) for log in survey.logs] == [
        ("conn.10:00:00-11:00:00.log.gz", "conn", "tsv"),
        ("conn.2026-12-01-11-00-00.log.gz", "conn", "tsv"),
        ("ssl.2026-12-01-11-00-00.log", "ssl", "json"),
    ]
    assert [(os.path.basename(path), why.split(":")[0]) for path, why in survey.ignored] == [
        ("stderr.log", "zeekctl process output, not a log"),
        ("weird.2026-12-01-11-00-00.log.gz", "Zeek weird.log"),
    ]
    assert ZEEK.find([str(logs / "conn.*.log.gz")]) == survey.logs[:2]
    flows = pd.concat([chunk.flows for log in survey.logs[:2] for chunk in ZEEK.chunks(log)], ignore_index=True)
    assert flows["uid"].tolist() == ["CAbc1", "CAbc2"]


def test_json_log_kind_from_its_fields_when_the_name_says_nothing(tmp_path):
    path = write(tmp_path / "sensor-a.log", json_lines([{"ts": 1.0, "uid": "C", "query": "x.example",
                                                         "qtype_name": "A", "answers": ["192.0.2.1"]}]))
    assert [log.log for log in ZEEK.find([path])] == ["dns"]
    path = write(tmp_path / "other.log", json_lines([{"_path": "quic", "ts": 1.0, "server_name": "q.example"}]))
    assert [log.log for log in ZEEK.find([path])] == ["quic"]


def test_a_repeated_header_takes_over_mid_file(tmp_path):
    reordered = ("uid", "ts", "id.resp_h", "id.resp_p", "id.orig_h", "id.orig_p", "proto", "new_column")
    second = header("conn", reordered) + "CNew\t1764583300.5\t198.51.100.7\t5061\t10.0.0.9\t40000\ttcp\tx\n"
    text = tsv("conn", CONN_FIELDS, CONN_ROWS, CONN_TYPES) + second + "#close\tlater\n"
    path = write(tmp_path / "conn.log", text)
    for rows in (3, 200_000):  # the header inside one chunk, and across chunks
        flows, _, skipped, lines = read(path, rows)
        assert flows["uid"].tolist() == ["CAbc1", "CAbc2", "CNew"]
        assert flows.iloc[2][["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "orig_pkts", "app"]].tolist() == [
            "10.0.0.9", 40000, "198.51.100.7", 5061, -1, ""]
        assert math.isnan(flows.iloc[2]["duration"])
        assert not skipped and lines == text.count("\n")


def test_bad_lines_are_skipped_and_counted_not_fatal(tmp_path):
    rows = [*CONN_ROWS, ("1764583202", "CShort", "10.0.0.1"),
            ("1764583203", "CBadPort", "10.0.0.1", "port?", "192.0.2.10", "443", "tcp", "-", "-", "-", "-", "S0",
             "1", "60", "0", "0", "(empty)"),
            ("1764583204", "CNotIp", "10.0.0.1", "1", "not-an-address", "443", "tcp", "-", "-", "-", "-", "S0",
             "1", "60", "0", "0", "(empty)"),
            ("1764583205", "CBig", "10.0.0.1", "1", "192.0.2.10", "70000", "tcp", "-", "-", "-", "-", "S0",
             "1", "60", "0", "0", "(empty)")]
    text = tsv("conn", CONN_FIELDS, rows, CONN_TYPES).encode() + b"\xff\xfe garbage\n"
    path = write(tmp_path / "conn.log", text)
    flows, _, skipped, _ = read(path)
    pd.testing.assert_frame_equal(flows, expected_conn(path))
    assert skipped == {"unparseable line": 3, "not an IP address": 1, "value out of range": 1}


def test_json_bad_lines_are_skipped(tmp_path):
    text = json_lines(conn_json(False)) + "{not json\n[1,2]\n" + json.dumps({"ts": 1.0, "uid": "C", "id.orig_p": "x"}) + "\n"
    flows, _, skipped, _ = read(write(tmp_path / "conn.log", text))
    assert flows["uid"].tolist() == ["CAbc1", "CAbc2"]
    assert skipped == {"unparseable line": 3}


@pytest.mark.parametrize("content, why", [
    (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(16), "not a Zeek log"),
    (b"hello world\nthis is text\n", "not a Zeek log"),
    (b"ts,uid,id.orig_h\n1,C,10.0.0.1\n", "not a Zeek log"),
    (b'{"timestamp":"2026-12-01T10:00:00+0000","event_type":"flow"}\n', "use --eve"),
    (b"#separator \\x09\n#path\tconn\n1\t2\n", "without #path or #fields"),
])
def test_not_a_zeek_log_is_a_one_line_user_error(tmp_path, content, why):
    path = write(tmp_path / "conn.log", content)
    with pytest.raises(UserError) as err:
        ZEEK.find([path])
    assert path in str(err.value) and why in str(err.value) and "\n" not in str(err.value)


def test_missing_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        ZEEK.find([str(tmp_path / "absent.log")])
    with pytest.raises(UserError, match="no file matches"):
        ZEEK.find([str(tmp_path / "*.log")])


# ---------------------------------------------------------------- names


def test_ssl_quic_http_sip_names(tmp_path):
    fields = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "server_name", "extra")
    write(tmp_path / "ssl.log", tsv("ssl", fields, [
        ("1.5", "C1", "10.0.0.1", "1", "192.0.2.10", "443", "API.Example.COM.", "x"),
        ("2.5", "C2", "10.0.0.1", "2", "2001:db8::10", "443", "caf\\xc3\\xa9.example", "x"),
        ("3.5", "C3", "10.0.0.1", "3", "192.0.2.11", "443", "-", "x"),
        ("4.5", "C4", "10.0.0.1", "4", "192.0.2.12", "443", "a" * 300, "x"),
    ]))
    write(tmp_path / "quic.log", json_lines([{"ts": 5.0, "uid": "C5", "id": {"orig_h": "10.0.0.2", "resp_h": "192.0.2.20"},
                                              "server_name": "q.example"}]))
    write(tmp_path / "http.log", tsv("http", ("ts", "uid", "id.orig_h", "id.resp_h", "host"), [
        ("6", "C6", "10.0.0.1", "192.0.2.30", "Web.Example:8080"),
        ("7", "C7", "10.0.0.1", "192.0.2.31", "192.0.2.31:80"),
        ("8", "C8", "10.0.0.1", "192.0.2.32", "[2001:db8::1]:443"),
        ("9", "C9", "10.0.0.1", "192.0.2.33", "bad\\x00host"),
    ]))
    write(tmp_path / "sip.log", tsv("sip", ("ts", "uid", "id.orig_h", "id.resp_h", "method", "uri", "request_to"), [
        ("10", "C10", "10.0.0.1", "192.0.2.40", "INVITE", "sip:+15551234567@PBX.Example.com:5061;transport=tls", "-"),
        ("11", "C11", "10.0.0.1", "192.0.2.41", "REGISTER", "sip:192.0.2.41", "<sip:alice@voice.example>;tag=1"),
        ("12", "C12", "10.0.0.1", "192.0.2.42", "OPTIONS", "tel:+15551234567", "-"),
    ]))
    names = {kind: read(str(tmp_path / f"{kind}.log")) for kind in ("ssl", "quic", "http", "sip")}
    pd.testing.assert_frame_equal(names["ssl"][1], typed_names([
        (1.5, "C1", "192.0.2.10", "api.example.com", "sni", "10.0.0.1"),
        (2.5, "C2", "2001:db8::10", "caf\\xc3\\xa9.example", "sni", "10.0.0.1"),
    ]))
    assert names["ssl"][2] == {"not a host name": 1}
    pd.testing.assert_frame_equal(names["quic"][1], typed_names([(5.0, "C5", "192.0.2.20", "q.example", "quic_sni", "10.0.0.2")]))
    # IP literals are kept as the capture path keeps them (dissect.http); a NUL byte is no host
    pd.testing.assert_frame_equal(names["http"][1], typed_names([
        (6.0, "C6", "192.0.2.30", "web.example", "http_host", "10.0.0.1"),
        (7.0, "C7", "192.0.2.31", "192.0.2.31", "http_host", "10.0.0.1"),
        (8.0, "C8", "192.0.2.32", "2001:db8::1", "http_host", "10.0.0.1"),
    ]))
    assert names["http"][2] == {"not a host name": 1}
    pd.testing.assert_frame_equal(names["sip"][1], typed_names([
        (10.0, "C10", "192.0.2.40", "pbx.example.com", "sip", "10.0.0.1"),
        (11.0, "C11", "192.0.2.41", "voice.example", "sip", "10.0.0.1"),
    ]))


def test_dns_answers_with_a_cname_chain(tmp_path):
    fields = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "query", "qtype_name", "answers", "TTLs")
    types = ("time", "string", "addr", "port", "addr", "port", "string", "string", "vector[string]", "vector[interval]")
    path = write(tmp_path / "dns.log", tsv("dns", fields, [
        ("100.5", "D1", "10.0.0.1", "5353", "192.0.2.53", "53", "WWW.Example.com.", "A",
         "edge.cdn.example,edge2.cdn.example,192.0.2.80,192.0.2.81", "60.0,60.0,20.0,20.0"),
        ("101.5", "D2", "fe80::1", "5353", "2001:db8::53", "53", "v6.example", "AAAA", "2001:DB8::0:80", "30.0"),
        ("102.5", "D3", "10.0.0.1", "5353", "192.0.2.53", "53", "txt.example", "TXT", "TXT 5 hello", "30.0"),
        ("103.5", "D4", "10.0.0.1", "5353", "192.0.2.53", "53", "none.example", "A", "-", "-"),
        ("104.5", "D5", "10.0.0.1", "5353", "192.0.2.53", "53", "odd\\x00name.example", "A", "192.0.2.99", "1.0"),
    ], types))
    _, names, skipped, _ = read(path)
    pd.testing.assert_frame_equal(names, typed_names([
        (100.5, "D1", "192.0.2.80", "www.example.com", "dns", "10.0.0.1"),
        (100.5, "D1", "192.0.2.80", "edge.cdn.example", "dns_cname", "10.0.0.1"),
        (100.5, "D1", "192.0.2.80", "edge2.cdn.example", "dns_cname", "10.0.0.1"),
        (100.5, "D1", "192.0.2.81", "www.example.com", "dns", "10.0.0.1"),
        (100.5, "D1", "192.0.2.81", "edge.cdn.example", "dns_cname", "10.0.0.1"),
        (100.5, "D1", "192.0.2.81", "edge2.cdn.example", "dns_cname", "10.0.0.1"),
        (101.5, "D2", "2001:db8::80", "v6.example", "dns", "fe80::1"),
        (104.5, "D5", "192.0.2.99", "odd\\000name.example", "dns", "10.0.0.1"),
    ]))
    assert not skipped


def test_dns_names_match_the_capture_path(tmp_path):
    """The same answer through a capture's DNS parser and through dns.log give the same names."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    from tracecheck.dissect import dns as dns_wire

    response = bytes(DNS(id=1, qr=1, qd=DNSQR(qname="www.example.com"), an=[
        DNSRR(rrname="www.example.com", type="CNAME", rdata="edge.cdn.example"),
        DNSRR(rrname="edge.cdn.example", type="A", rdata="192.0.2.80")]))
    capture = {(answer.ip, name) for answer in dns_wire.response_addresses(response) for name in answer.chain}
    path = write(tmp_path / "dns.log", json_lines([{"ts": 1.0, "uid": "D", "id.orig_h": "10.0.0.1", "query": "www.example.com",
                                                   "answers": ["edge.cdn.example", "192.0.2.80"]}]))
    _, names, _, _ = read(path)
    assert set(zip(names["ip"], names["name"])) == capture


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize("where", ["first line", "later"])
def test_a_separator_header_naming_no_separator_is_refused_with_the_path(tmp_path, where):
    # "#separator" with nothing after it: splitting on "" would raise a bare ValueError.
    text = "#separator \n#path\tconn\n" if where == "first line" else header("conn", zeek.FIELDS["conn"]) + "#separator \n"
    path = write(tmp_path / "conn.log", text)
    with pytest.raises(UserError, match=r"conn\.log: a Zeek #separator header that names no separator"):
        for log in ZEEK.find([path]):
            list(ZEEK.chunks(log, rows=3))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.binary(max_size=60) | st.sampled_from([b"#fields\tts\tuid", b"#separator \\x09", b"-\t(empty)",
                                                               b'{"ts": 1, "id": 3}', b"#path\tdns"]), max_size=12),
       kind=st.sampled_from(["conn", "dns", "ssl", "sip", "http"]), layout=st.sampled_from(["tsv", "json", "raw"]))
def test_arbitrary_lines_raise_nothing_but_user_error(tmp_path, body, kind, layout):
    start = header(kind, zeek.FIELDS[kind]).encode() if layout == "tsv" else (
        b'{"ts": 1.0, "uid": "C"}\n' if layout == "json" else b"")
    path = write(tmp_path / f"{kind}.log", start + b"\n".join(body) + b"\n")
    try:
        for log in ZEEK.find([path]):
            for chunk in ZEEK.chunks(log, rows=3):
                assert chunk.lines >= 0
    except UserError as err:
        assert "\n" not in str(err)


_record = st.tuples(
    st.floats(min_value=0, max_value=2e9, allow_nan=False).map(lambda value: round(value, 6)),
    st.text(alphabet="ABCDEFGHJKabcdefgh0123456789", min_size=1, max_size=18),
    st.ip_addresses().map(str), st.integers(0, 65535), st.ip_addresses().map(str), st.integers(0, 65535),
    st.sampled_from(["tcp", "udp", "icmp"]), st.sampled_from(["ssl", "dns", "ssl,http", "-"]),
    st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda value: round(value, 6)),
    st.lists(st.none() | st.integers(0, 2**62), min_size=4, max_size=4),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record, min_size=1, max_size=20), slow=st.booleans())
def test_tsv_records_round_trip(tmp_path, monkeypatch, records, slow):
    if slow:  # the line-by-line reader must read what pyarrow reads
        monkeypatch.setattr(zeek, "_tsv_block_arrow", lambda *args: (_ for _ in ()).throw(ValueError("slow")))
    text_rows = []
    for ts, uid, orig, orig_p, resp, resp_p, proto, service, duration, counts in records:
        text_rows.append((repr(ts), uid, orig, orig_p, resp, resp_p, proto, service,
                          "-" if duration is None else repr(duration), "-", "-", "SF",
                          *("-" if count is None else count for count in counts), "(empty)"))
    path = write(tmp_path / "conn.log", tsv("conn", CONN_FIELDS, text_rows, CONN_TYPES))
    flows, _, skipped, _ = read(path, rows=7)
    import ipaddress

    assert not skipped
    pd.testing.assert_frame_equal(flows, typed_flows([
        (uid, ts, math.nan if duration is None else duration, proto, str(ipaddress.ip_address(orig)), orig_p,
         str(ipaddress.ip_address(resp)), resp_p, *(-1 if count is None else count for count in counts),
         "" if service == "-" else service, path)
        for ts, uid, orig, orig_p, resp, resp_p, proto, service, duration, counts in records]))


# ---------------------------------------------------------------- Zeek's own output

ZEEK_MIRROR = "/work/.mirror/zeek+zeek/repo"


def _baselines() -> list[str]:
    if not os.path.isdir(ZEEK_MIRROR):
        return []
    listing = subprocess.run(["git", "-C", ZEEK_MIRROR, "ls-tree", "-r", "--name-only", "HEAD", "testing/btest/Baseline"],
                             capture_output=True, text=True, check=False).stdout.split()
    return [path for path in listing if path.rsplit("/", 1)[-1] in {f"{kind}.log" for kind in zeek.READ}]


@pytest.mark.skipif(not _baselines(), reason="no Zeek repository mirror at /work/.mirror/zeek+zeek")
def test_zeek_btest_baselines_parse(tmp_path):
    """Real Zeek output (its btest baselines, read from the mirror, never copied here): every
    TSV or JSON baseline of the six logs reads without an error, and nearly all without a skip."""
    read_clean = read_any = 0
    reasons: Counter = Counter()
    for index, name in enumerate(_baselines()[:400]):
        data = subprocess.run(["git", "-C", ZEEK_MIRROR, "show", f"HEAD:{name}"], capture_output=True, check=True).stdout
        # btest's canonifiers: a banner line first, times masked as X's (put back as a time)
        if data.startswith(b"### BTest"):
            data = data.split(b"\n", 1)[1]
        data = data.replace(b"XXXXXXXXXX.XXXXXX", b"1764583200.000000")
        if not (data.startswith(b"#separator") or data.lstrip().startswith(b"{")):
            continue  # btest canonifies some baselines into other shapes
        path = write(tmp_path / f"{index}.{name.rsplit('/', 1)[-1]}", data)
        try:
            logs = ZEEK.find([path])
        except UserError:
            continue  # a baseline cut down to a few columns (no #path): not a whole log
        for log in logs:
            skipped = sum((chunk.skipped for chunk in ZEEK.chunks(log)), start=Counter())
            read_any += 1
            read_clean += not skipped
            reasons.update(skipped)
    print(f"Zeek btest baselines: {read_any} read, {read_clean} without a skipped row; skipped: {dict(reasons)}")
    assert read_any > 20
    assert read_clean / read_any > 0.9


def test_underscore_scope_separator(tmp_path):
    """``Log::default_scope_sep = "_"`` writes id_orig_h ...: read as the dotted names."""
    fields = tuple(name.replace(".", "_") for name in CONN_FIELDS)
    path = write(tmp_path / "conn.log", tsv("conn", fields, CONN_ROWS, CONN_TYPES))
    pd.testing.assert_frame_equal(read(path)[0], expected_conn(path))
    records = [{key.replace(".", "_"): value for key, value in record.items()} for record in conn_json(False)]
    path = write(tmp_path / "conn.json.log", json_lines(records))
    pd.testing.assert_frame_equal(read(path)[0], expected_conn(path))


def test_readers_and_logs_pickle_for_workers(tmp_path):
    """Dask workers get the reader and a LogFile, and read the chunk themselves."""
    import pickle

    path = write(tmp_path / "conn.log.gz", tsv("conn", CONN_FIELDS, CONN_ROWS, CONN_TYPES), gz=True)
    reader, (log,) = pickle.loads(pickle.dumps((ZEEK, ZEEK.find([path]))))
    pd.testing.assert_frame_equal(next(reader.chunks(log)).flows, expected_conn(path))


def test_a_truncated_gzip_log_is_a_user_error(tmp_path):
    rows = [(f"{1764583200 + n}.0", f"C{n}", "10.0.0.1", "1", "192.0.2.1", "443", "tcp", "-", "-", "-", "-", "S0",
             "1", "60", "0", "0", "(empty)") for n in range(20_000)]
    data = gzip.compress(tsv("conn", CONN_FIELDS, rows, CONN_TYPES).encode())
    path = tmp_path / "conn.log.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    (log,) = ZEEK.find([str(path)])
    with pytest.raises(UserError, match="damaged"):
        for _ in ZEEK.chunks(log, rows=1000):
            pass


@pytest.mark.parametrize("layout", ["tsv", "json"])
def test_a_log_whose_address_columns_were_renamed_is_refused_at_sight(tmp_path, layout):
    # Zeek's Log::default_field_name_map can write id.orig_h as "src": every record would be
    # skipped as "not an IP address" and the run would judge nothing without saying why.
    renamed = ("ts", "uid", "src", "src_port", "dst", "dst_port", "proto", "orig_pkts")
    row = ("1.0", "C1", "10.0.0.1", "5000", "192.0.2.10", "443", "tcp", "3")
    path = tmp_path / "conn.log"
    if layout == "tsv":
        write(path, tsv("conn", renamed, [row]))
    else:
        write(path, json_lines([dict(zip(renamed, row))]))
    with pytest.raises(UserError) as err:
        ZEEK.find([str(path)])
    message = str(err.value)
    assert str(path) in message and "id.orig_h or id.resp_h" in message and "\n" not in message


# ---------------------------------------------------------------- direction without a SYN

DIRECTION_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
                    "duration", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "history")
DIRECTION_ROWS = [  # (history, whether the capture path's originator is Zeek's responder)
    ("ShADadFf", False),  # the originator's SYN: the two rules agree
    ("^hADad", False),    # Zeek flipped on a SYN/ACK first: its receiver, as the capture path
    ("Dd", False),        # UDP, the first packet's sender, not flipped
    ("^Dd", True),        # UDP from a likely server port: Zeek flipped, the capture path keeps the sender
    ("^dA", True),        # TCP seen mid-stream, flipped by port
    ("DsA", True),        # the only SYN came from the responder
    ("HA", True),         # the originator sent the SYN/ACK: the responder received it
    ("-", False),         # no history: Zeek's choice kept
]


def _direction_rows():
    for i, (history, _) in enumerate(DIRECTION_ROWS):
        yield (f"{1764583200 + i}.000000", f"Cdir{i}", "198.51.100.7", "67", f"10.0.0.{i + 1}", "68", "udp", "-",
               "1.000000", "3", "300", "5", "700", history)


@pytest.mark.parametrize("layout", ["tsv", "json", "tsv-lines"])
def test_an_originator_without_a_syn_is_the_capture_paths(tmp_path, layout, monkeypatch):
    """A row whose history shows Zeek's port-based flip (``^``) without any SYN or SYN/ACK, or a
    SYN/SYN-ACK from the other side only, is read with the capture path's originator: the two
    sides' addresses, ports, packets and bytes traded; other rows as Zeek wrote them."""
    rows = list(_direction_rows())
    if layout == "json":
        records = []
        for row in rows:
            record = {name: value for name, value in zip(DIRECTION_FIELDS, row) if value != "-"}
            for name in ("ts", "duration"):
                record[name] = float(record[name])
            for name in zeek.INT_FIELDS:
                record[name] = int(record[name])
            records.append(record)
        path = write(tmp_path / "conn.log", json_lines(records))
    else:
        if layout == "tsv-lines":  # the forgiving line reader, as after a block pyarrow refused
            monkeypatch.setattr(zeek, "_tsv_block_arrow", lambda *a: (_ for _ in ()).throw(ValueError("no")))
        path = write(tmp_path / "conn.log", tsv("conn", DIRECTION_FIELDS, rows))
    flows, _, skipped, _ = read(path)
    assert not skipped and len(flows) == len(DIRECTION_ROWS)
    for (history, swapped), flow in zip(DIRECTION_ROWS, flows.to_dict("records")):
        client = f"10.0.0.{int(flow['uid'][4:]) + 1}"
        expected = (client, 68, 5, 700, "198.51.100.7", 67, 3, 300) if swapped else \
                   ("198.51.100.7", 67, 3, 300, client, 68, 5, 700)
        got = tuple(flow[c] for c in ("id.orig_h", "id.orig_p", "orig_pkts", "orig_ip_bytes",
                                      "id.resp_h", "id.resp_p", "resp_pkts", "resp_ip_bytes"))
        assert got == expected, history


def test_a_conn_log_without_history_keeps_zeeks_originator(tmp_path):
    path = write(tmp_path / "conn.log", tsv("conn", CONN_FIELDS, CONN_ROWS, CONN_TYPES))
    flows, *_ = read(path)
    assert flows["id.orig_h"].tolist() == ["10.0.0.1", "10.0.0.1"]
