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


NOT_CHECKED = [
    f"not checked: policy policy.yaml (no copy in the directory, not found; hash recorded sha256:{'d' * 64})",
    "not checked: data sources aws-ip-ranges, geoip2fast (not copied into the directory; their versions, dates "
    "and sha256 are in manifest.json)",
    f"not checked: input hand-made/test-call.pcapng (not found; hash recorded sha256:{'a' * 64})",
    "not checked: signature (manifest.json is not signed: the hashes show the files agree with it, not who wrote "
    "them; sign with `analyze --sign-key`)",
]


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_untouched_report_exits_0_and_says_what_it_could_not_check_on_stdout(monkeypatch, capsys, report_dir, quiet):
    code, out, err = run(monkeypatch, capsys, *quiet, "verify", str(report_dir))
    assert code == 0 and err == ""
    assert out.splitlines() == NOT_CHECKED + [
        f"OK {report_dir}: 4 files and 0 of 1 inputs match the manifest, not signed; 4 things not checked (above)"]


def test_what_was_checked_is_said_unless_quiet(monkeypatch, capsys, tmp_path):
    capture = tmp_path / "call.pcapng"
    capture.write_bytes(b"a capture")
    from tracecheck.report.manifest import sha256_file

    recorded = report_samples.report().inputs[0].model_copy(update={"path": str(capture),
                                                                    "sha256": sha256_file(capture)})
    report = report_samples.report_judged_by(inputs=[recorded])
    write_report(report, tmp_path / "r", report_samples.flow_rows(), set(), policy=report_samples.POLICY_TEXT)
    code, out, _ = run(monkeypatch, capsys, "verify", str(tmp_path / "r"))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("checked: policy policy.yaml is the policy judged by (sha256 ")
    assert lines[1] == f"checked: input {capture}"
    assert lines[-1] == (f"OK {tmp_path / 'r'}: 4 files and 1 of 1 inputs match the manifest, not signed; "
                         f"2 things not checked (above)")
    code, quiet, _ = run(monkeypatch, capsys, "--quiet", "verify", str(tmp_path / "r"))
    assert quiet.splitlines() == lines[2:]


def test_require_inputs_fails_on_a_missing_capture(monkeypatch, capsys, report_dir):
    code, out, err = run(monkeypatch, capsys, "verify", str(report_dir), "--require-inputs")
    assert code == 1
    assert out.splitlines()[0] == (f"missing: input hand-made/test-call.pcapng (not found as recorded, nor beside "
                                   f"{report_dir}; --require-inputs)")
    assert "failed: 1 problem" in err


def test_the_help_says_where_inputs_are_looked_for(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "verify", "--help")
    text = " ".join(out.split())
    assert code == 0 and "--require-inputs" in text
    assert "as recorded" in text and "report directory's parent" in text


def test_tampered_report_exits_1_with_one_line_per_problem(monkeypatch, capsys, report_dir):
    (report_dir / "report.html").write_text("<p>all fine</p>")
    (report_dir / "flows.csv").unlink()
    (report_dir / "extra.txt").write_text("x")
    code, out, err = run(monkeypatch, capsys, "verify", str(report_dir))
    assert code == 1
    lines = out.splitlines()
    assert lines[3:] == NOT_CHECKED  # what could not be checked is said whatever the outcome
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
    assert code == 0 and "signature checked" in out.splitlines()[-1] and "checked: signature by the --pubkey key" in out
    assert "signer identity" not in out
    code, out, err = run(monkeypatch, capsys, "verify", str(out_dir))
    assert code == 0 and "not checked: signer identity (no --pubkey: " in out
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
