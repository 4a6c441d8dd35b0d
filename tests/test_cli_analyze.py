"""`tracecheck analyze` as users and CI run it: the shipped demo, the table and summary, exit codes
0/1/2, range files imported with `tracecheck db import`, and `tracecheck verify` on the output."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from call_scenarios import CDN, eu_compliant_call, us_transcription_call, write_range_files

from cli_runner import run
from test_classify import USER_CATALOG

DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    """Run tracecheck with a fresh, empty data directory (``--db`` is kept between in-process runs)."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    db = tmp_path / "db"
    return lambda *args: run(monkeypatch, capsys, "--db", str(db), *args)


def test_demo_shows_the_us_transcription_violation(tc, tmp_path):
    out_dir = tmp_path / "demo"
    code, out, err = tc("analyze", str(DEMO), "--out", str(out_dir))
    assert code == 1
    lines = out.splitlines()
    transcribe = next(line for line in lines if "transcribestreaming.us-east-1.amazonaws.com" in line)
    assert "violation" in transcribe and "transcription" in transcribe and "us-east-1" in transcribe
    for genesys in ("api.mypurecloud.ie", "apps.mypurecloud.ie"):
        assert "compliant" in next(line for line in lines if genesys in line)
    assert "compliant" in next(line for line in lines if "acme.my.salesforce.com" in line)
    summary = lines[-1]
    assert summary.startswith("VIOLATION: 1 violation") and "gdpr-eu (default template)" in summary
    assert str(out_dir) in summary
    assert "records" in err and "Traceback" not in err
    report = json.loads((out_dir / "report.json").read_text())
    assert report["summary"]["verdict"] == "violation" and report["summary"]["violations"] == 1
    [violation] = [d for d in report["destinations"] if d["verdict"] == "violation"]
    assert violation["ip"] == "3.227.250.10" and violation["category"] == "transcription"

    code, out, err = tc("verify", str(out_dir))
    assert code == 0 and out.splitlines()[-1].startswith("OK")


def test_demo_with_the_policy_template_from_a_file(tc, tmp_path):
    policy = tmp_path / "policy.yaml"
    assert tc("policy", "init", "--template", "gdpr-eu", "-o", str(policy))[0] == 0
    code, out, _ = tc("analyze", str(DEMO), "--policy", str(policy), "--out", str(tmp_path / "r"))
    assert code == 1 and "(default template)" not in out.splitlines()[-1]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["policy"]["path"] == str(policy) and report["policy"]["name"] == "gdpr-eu"
    assert tc("verify", str(tmp_path / "r"))[0] == 0


def test_compliant_call_exits_0(tc, tmp_path):
    capture = eu_compliant_call().write(tmp_path / "eu.pcapng")
    code, out, _ = tc("analyze", str(capture), "--out", str(tmp_path / "r"))
    assert code == 0 and out.splitlines()[-1].startswith("COMPLIANT: 0 violations")


def test_imported_ranges_make_the_cdn_anycast(monkeypatch, capsys, tmp_path):
    """`db import` of synthetic Cloudflare and AWS files into a tmp --db, then analyze with it."""
    db = str(tmp_path / "db")
    files = write_range_files(tmp_path / "downloads")
    for kind in ("cloudflare", "aws"):
        assert run(monkeypatch, capsys, "--db", db, "db", "import", str(files[kind]), "--source", kind)[0] == 0
    capture = eu_compliant_call().service(*CDN).write(tmp_path / "cdn.pcapng")
    code, out, _ = run(monkeypatch, capsys, "--db", db, "analyze", str(capture), "--out", str(tmp_path / "r"))
    assert code == 0  # gdpr-eu warns on unknowns
    row = next(line for line in out.splitlines() if CDN[1] in line)
    assert "indeterminate" in row and "cloudflare" in row and "anycast" in row
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    cdn = next(d for d in report["destinations"] if d["ip"] == CDN[1])
    assert cdn["verdict"] == "indeterminate" and cdn["country"] is None and cdn["provider"] == "cloudflare"
    genesys = next(d for d in report["destinations"] if d["ip"] == "52.210.12.34")
    assert (genesys["provider"], genesys["region"], genesys["verdict"]) == ("aws", "eu-west-1", "compliant")
    assert {s["kind"] for s in report["sources"]} >= {"aws", "cloudflare", "embedded"}


def test_quiet(monkeypatch, capsys, tmp_path):
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "--quiet", "analyze", str(capture),
                         "--out", str(tmp_path / "r"))
    assert code == 1
    assert out.count("\n") == 1 and out.startswith("VIOLATION")
    assert err == ""


def test_formats_and_signature_verify(tc, tmp_path):
    key = tmp_path / "sign.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    code, _, _ = tc("analyze", str(capture), "--out", str(tmp_path / "r"), "--format", "sarif,junit",
                    "--sign-key", str(key), "--site", "Dublin")
    assert code == 1
    written = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"report.json", "report.html", "flows.csv", "manifest.json", "manifest.sig", "report.sarif"} <= written
    code, out, _ = tc("verify", str(tmp_path / "r"))
    assert code == 0 and "signature checked" in out


def test_two_runs_write_identical_report_json(tc, tmp_path):
    capture = us_transcription_call().service(*CDN).write(tmp_path / "c.pcapng")
    for name in ("a", "b"):
        tc("analyze", str(capture), "--out", str(tmp_path / name))
    assert (tmp_path / "a" / "report.json").read_bytes() == (tmp_path / "b" / "report.json").read_bytes()


@pytest.mark.parametrize("args, says", [
    (["--policy", "{bad}"], "bad.yaml:3: indeterminate"),
    (["--policy", "{missing}"], "missing.yaml"),
    (["--site", "Atlantis"], "site"),
    (["--format", "docx"], "format"),
    (["--catalog", "{missing}"], "missing.yaml"),
])
def test_bad_input_is_one_line_and_exit_2(tc, tmp_path, args, says):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nauthorized: {jurisdictions: [EU]}\nindeterminate: sometimes\n")
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    args = [a.format(bad=bad, missing=tmp_path / "missing.yaml") for a in args]
    code, out, err = tc("analyze", str(capture), "--out", str(tmp_path / "r"), *args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("tracecheck: ") and says in err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "r").exists()


def test_missing_capture_is_exit_2(tc, tmp_path):
    code, _, err = tc("analyze", str(tmp_path / "nothing.pcapng"), "--out", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_readme_quick_start_in_a_fresh_process(tmp_path):
    """README quick start 1 as a user types it: the installed console script, nothing imported."""
    command = shutil.which("tracecheck")
    if command is None:
        pytest.skip("the tracecheck console script is not on PATH")
    out_dir = tmp_path / "reports" / "demo"
    proc = subprocess.run([command, "--db", str(tmp_path / "db"), "analyze", str(DEMO), "--out", str(out_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "VIOLATION" in proc.stdout and "transcribestreaming.us-east-1.amazonaws.com" in proc.stdout
    assert (out_dir / "manifest.json").is_file()


def test_out_into_a_foreign_directory_is_refused_before_the_captures_are_read(tc, tmp_path, monkeypatch):
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    out_dir = tmp_path / "mine"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("the user's")

    def read(*args, **kwargs):
        raise AssertionError("the captures were read before --out was checked")

    with monkeypatch.context() as patched:
        patched.setattr("tracecheck.analyze.build_named_flows", read)
        code, out, err = tc("analyze", str(capture), "--out", str(out_dir))
    assert (code, out) == (2, "")
    assert err == (f"tracecheck: {out_dir} is not empty and holds no tracecheck report (manifest.json); "
                   f"choose another --out DIR or add --force\n")

    code, out, err = tc("analyze", str(capture), "--out", str(out_dir), "--force")
    assert code == 1 and (out_dir / "notes.txt").read_text() == "the user's"
    assert (f"tracecheck: note: --force kept 1 file tracecheck did not write in {out_dir} (notes.txt); "
            f"`tracecheck verify` reports it as extra: move it out before handing the report over") in err
    code, out, _ = tc("verify", str(out_dir))
    assert code == 1 and "extra: notes.txt (not listed in manifest.json)" in out


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(tc, tmp_path):
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    out_dir = tmp_path / "r"
    assert tc("analyze", str(capture), "--out", str(out_dir))[0] == 1
    (out_dir / "report.json").unlink()
    (out_dir / "report.json").mkdir()  # a directory where a file should be: fails even as root
    (out_dir / "report.json" / "x").write_text("x")
    code, out, err = tc("analyze", str(capture), "--out", str(out_dir), "--force")
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (f"tracecheck: cannot write {out_dir / 'report.json'}: Is a directory; "
                                    f"move that directory out of the way or choose another --out DIR")


ACME_CATALOG = USER_CATALOG.encode("utf-8")


def test_the_report_directory_holds_the_policy_and_catalogs_as_used(tc, tmp_path):
    from tracecheck.policy.templates import template_text

    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    catalog = tmp_path / "acme catalog.yaml"
    catalog.write_bytes(ACME_CATALOG)
    out_dir = tmp_path / "r"
    assert tc("analyze", str(capture), "--out", str(out_dir), "--catalog", str(catalog))[0] == 1
    report = json.loads((out_dir / "report.json").read_text())
    manifest = json.loads((out_dir / "manifest.json").read_text())
    template = template_text("gdpr-eu").encode("utf-8")
    assert (out_dir / "policy.yaml").read_bytes() == template  # no --policy: the template's text, hashed as written
    assert report["policy"]["sha256"] == hashlib.sha256(template).hexdigest() == manifest["policy"]["sha256"]
    assert manifest["policy"]["copy"] == "policy.yaml"
    assert manifest["catalogs"] == [{"path": str(catalog), "sha256": hashlib.sha256(ACME_CATALOG).hexdigest(),
                                     "copy": "catalogs/1-acme_catalog.yaml"}]
    assert (out_dir / "catalogs" / "1-acme_catalog.yaml").read_bytes() == ACME_CATALOG
    recorded = next(s for s in report["sources"] if s["name"] == str(catalog))
    assert recorded["sha256"] == manifest["catalogs"][0]["sha256"]

    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b"# ours\r\n" + template)
    assert tc("analyze", str(capture), "--out", str(out_dir), "--policy", str(policy))[0] == 1
    assert (out_dir / "policy.yaml").read_bytes() == policy.read_bytes()
    assert json.loads((out_dir / "report.json").read_text())["policy"]["sha256"] == hashlib.sha256(
        policy.read_bytes()).hexdigest()
    assert not (out_dir / "catalogs").exists()  # no --catalog this time: the earlier copy is gone


def test_a_report_moved_elsewhere_verifies_from_what_it_holds(tc, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    us_transcription_call().write(work / "us.pcapng")
    (work / "acme.yaml").write_bytes(ACME_CATALOG)
    monkeypatch.chdir(work)
    assert tc("analyze", "us.pcapng", "--out", "reports/us", "--catalog", "acme.yaml")[0] == 1
    handed_over = tmp_path / "audit" / "us-report"
    handed_over.parent.mkdir()
    shutil.move(work / "reports" / "us", handed_over)
    shutil.rmtree(work)  # the policy template, the catalog and the capture: only what the directory holds is left
    monkeypatch.chdir(tmp_path)
    code, out, _ = tc("verify", str(handed_over))
    lines = out.splitlines()
    assert code == 0, out
    assert lines[0].startswith("checked: policy policy.yaml is the policy judged by (sha256 ")
    assert lines[1].startswith("checked: service catalog catalogs/1-acme.yaml is acme.yaml as judged by (sha256 ")
    assert "not checked: input us.pcapng (not found; hash recorded sha256:" in out
    assert lines[-1].startswith(f"OK {handed_over}: 5 files and 0 of 1 inputs match the manifest, not signed; ")
    assert tc("verify", str(handed_over), "--require-inputs")[0] == 1

    policy = handed_over / "policy.yaml"
    policy.write_bytes(policy.read_bytes().replace(b"EU", b"US", 1))
    code, out, err = tc("verify", str(handed_over))
    assert code == 1 and out.startswith("changed: policy.yaml (sha256 ")
    assert "changed: policy policy.yaml is not the policy judged by (sha256 " in out
    assert "failed: 2 problems" in err
