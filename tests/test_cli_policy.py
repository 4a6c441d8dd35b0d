"""`tracecheck policy init | check`: output and exit codes (0 done, 2 bad input, one line, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import fake_geo
import pytest

from cli_runner import run


@pytest.fixture(autouse=True)
def geo(monkeypatch):
    return fake_geo.install(monkeypatch)


@pytest.mark.parametrize("name", ["gdpr-eu", "uk-gdpr", "lgpd-br", "ccpa-us"])
def test_init_writes_the_template_to_stdout(monkeypatch, capsys, name):
    code, out, err = run(monkeypatch, capsys, "policy", "init", "--template", name)
    assert code == 0 and f"name: {name}" in out and out.startswith("# tracecheck residency policy")


def test_init_to_a_file_then_check_it(monkeypatch, capsys, tmp_path):
    target = tmp_path / "policy.yaml"
    code, out, err = run(monkeypatch, capsys, "policy", "init", "--template", "gdpr-eu", "-o", str(target))
    assert code == 0 and out == "" and target.read_text().startswith("# tracecheck residency policy")
    code, out, err = run(monkeypatch, capsys, "policy", "check", str(target))
    assert code == 0
    assert out.startswith(f"OK {target}: policy 'gdpr-eu'")
    assert "authorized: {EU, EEA}" in out and "telemetry: ignore" in out


def test_init_refuses_to_overwrite_without_force(monkeypatch, capsys, tmp_path):
    target = tmp_path / "policy.yaml"
    target.write_text("mine")
    code, _, err = run(monkeypatch, capsys, "policy", "init", "--template", "gdpr-eu", "-o", str(target))
    assert code == 2 and "--force" in err and target.read_text() == "mine"
    code, _, _ = run(monkeypatch, capsys, "policy", "init", "--template", "gdpr-eu", "-o", str(target), "--force")
    assert code == 0 and "gdpr-eu" in target.read_text()


def test_unknown_or_missing_template_lists_the_available_ones(monkeypatch, capsys):
    for args in (("--template", "hipaa"), ()):
        code, out, err = run(monkeypatch, capsys, "policy", "init", *args)
        assert code == 2 and out == ""
        assert "ccpa-us, gdpr-eu, lgpd-br, uk-gdpr" in err
        assert len(err.strip().splitlines()) == 1


def test_check_invalid_policy_says_file_line_and_what(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nauthorized:\n  jurisdictions: [EU]\nindeterminate: sometimes\n")
    code, out, err = run(monkeypatch, capsys, "policy", "check", str(bad))
    assert code == 2 and out == ""
    assert err.strip() == f"tracecheck: {bad}:4: indeterminate: Input should be 'fail' or 'warn'"


def test_check_missing_file_or_argument_is_exit_2(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "policy", "check", str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read" in err
    code, _, err = run(monkeypatch, capsys, "policy", "check")
    assert code == 2 and "needs the policy FILE" in err


def test_check_warns_about_expired_exceptions_but_passes(monkeypatch, capsys, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nauthorized:\n  jurisdictions: [EU]\nexceptions:\n"
                    "  - {id: OLD, vendor: Deepgram, justification: j, reference: SCC, expires: 2020-01-01}\n")
    code, out, err = run(monkeypatch, capsys, "policy", "check", str(path))
    assert code == 0 and "exceptions: 1 (0 in force, 1 expired)" in out
    assert f"{path}:5: exception OLD expired on 2020-01-01" in err


def test_real_entry_point_has_no_traceback(tmp_path):
    command = [sys.executable, "-c", "from tracecheck.cli import main; main()"]
    good = subprocess.run(command + ["policy", "init", "--template", "lgpd-br"], capture_output=True, text=True)
    assert good.returncode == 0 and "name: lgpd-br" in good.stdout
    bad = subprocess.run(command + ["policy", "init", "--template", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "available:" in bad.stderr
