"""`tracecheck verify DIR`: exit 0 when everything matches, 1 when not (a line per problem), 2 for bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import report_samples
from report_samples import write_key, write_public

from cli_runner import run
from tracecheck.report import write_report


@pytest.fixture
def report_dir(tmp_path):
    out = tmp_path / "report"
    write_report(report_samples.report(), out, report_samples.flow_rows(), {"sarif"})
    return out


def test_untouched_report_exits_0(monkeypatch, capsys, report_dir):
    code, out, err = run(monkeypatch, capsys, "verify", str(report_dir))
    assert code == 0
    assert out == f"OK {report_dir}: 4 files and 0 inputs match the manifest, not signed\n"
    assert "input hand-made/test-call.pcapng: not found, not checked" in err


def test_tampered_report_exits_1_with_one_line_per_problem(monkeypatch, capsys, report_dir):
    (report_dir / "report.html").write_text("<p>all fine</p>")
    (report_dir / "flows.csv").unlink()
    (report_dir / "extra.txt").write_text("x")
    code, out, err = run(monkeypatch, capsys, "verify", str(report_dir))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0] == "missing: flows.csv (listed in manifest.json)"
    assert lines[1].startswith("changed: report.html (sha256 ")
    assert lines[2] == "extra: extra.txt (not listed in manifest.json)"
    assert "verification of" in err and "failed: 3 problems" in err


def test_bad_input_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    for args in (("verify", str(tmp_path / "missing")), ("verify", str(tmp_path)), ("verify",)):
        code, out, err = run(monkeypatch, capsys, *args)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_pubkey_pins_the_signer(monkeypatch, capsys, tmp_path):
    key = write_key(tmp_path / "sign.pem")
    out_dir = tmp_path / "signed"
    write_report(report_samples.report(), out_dir, report_samples.flow_rows(), set(), sign_key=key)
    pub = write_public(tmp_path / "sign.pub.pem", key)
    code, out, err = run(monkeypatch, capsys, "verify", str(out_dir), "--pubkey", str(pub))
    assert code == 0 and "signature checked" in out and "by the --pubkey key" in err
    other = write_public(tmp_path / "other.pub.pem", write_key(tmp_path / "other.pem"))
    code, out, err = run(monkeypatch, capsys, "verify", str(out_dir), "--pubkey", str(other))
    assert code == 1 and out.startswith("signature: signed by key ")
    code, out, err = run(monkeypatch, capsys, "verify", str(out_dir), "--pubkey", str(tmp_path / "nope.pem"))
    assert code == 2 and "cannot read" in err


def test_the_installed_command_exits_1_on_a_failed_verification(report_dir):
    # Through the real entry point: a typer.Exit(1) would be swallowed by standalone_mode=False.
    (report_dir / "report.json").write_text("{}")
    done = subprocess.run([sys.executable, "-c", "from tracecheck.cli import main; main()", "verify",
                           str(report_dir)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stdout.startswith("changed: report.json")
