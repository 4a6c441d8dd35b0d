"""`tracecheck keygen`: a key pair that `analyze --sign-key` and `verify --pubkey` accept."""

from __future__ import annotations

import json
import os
import stat

from call_scenarios import us_transcription_call

from cli_runner import one_line, run


def test_keygen_sign_verify_round_trip_and_a_tampered_report_fails(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    key = tmp_path / "keys" / "sign.pem"
    key.parent.mkdir()
    old_umask = os.umask(0)  # the key's mode must come from its creation, not from the user's umask
    try:
        code, out, err = run(monkeypatch, capsys, "keygen", "-o", str(key))
    finally:
        os.umask(old_umask)
    assert code == 0 and err == ""
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8
    pub = tmp_path / "keys" / "sign.pem.pub"
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    label, digest = out.splitlines()[-1].split()
    assert label == "public_key_sha256:" and len(digest) == 64

    db = str(tmp_path / "db")
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    out_dir = tmp_path / "r"
    assert run(monkeypatch, capsys, "--db", db, "analyze", str(capture), "--out", str(out_dir),
               "--sign-key", str(key))[0] == 1
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["signature"]["public_key_sha256"] == digest  # keygen printed the name the manifest uses
    code, out, _ = run(monkeypatch, capsys, "--db", db, "verify", str(out_dir), "--pubkey", str(pub))
    assert code == 0 and "signature checked" in out.splitlines()[-1]

    (out_dir / "report.json").write_text((out_dir / "report.json").read_text().replace('"violation"', '"compliant"'))
    code, out, _ = run(monkeypatch, capsys, "--db", db, "verify", str(out_dir), "--pubkey", str(pub))
    assert code == 1 and "changed: report.json" in out


def test_keygen_refuses_to_overwrite_without_force(monkeypatch, capsys, tmp_path):
    key = tmp_path / "k.pem"
    assert run(monkeypatch, capsys, "keygen", "-o", str(key))[0] == 0
    before = key.read_bytes()
    code, out, err = run(monkeypatch, capsys, "keygen", "-o", str(key))
    assert code == 2 and out == "" and "--force" in one_line(err)
    assert key.read_bytes() == before
    (tmp_path / "other.pem.pub").write_text("kept")
    code, _, err = run(monkeypatch, capsys, "keygen", "-o", str(tmp_path / "other.pem"))
    assert code == 2 and "other.pem.pub" in one_line(err) and not (tmp_path / "other.pem").exists()

    key.chmod(0o644)
    assert run(monkeypatch, capsys, "keygen", "-o", str(key), "--force")[0] == 0
    assert key.read_bytes() != before and stat.S_IMODE(key.stat().st_mode) == 0o600


def test_keygen_without_out_or_into_a_missing_folder_is_one_line(monkeypatch, capsys, tmp_path):
    for args in (("keygen",), ("keygen", "-o", str(tmp_path / "no" / "k.pem"))):
        code, out, err = run(monkeypatch, capsys, *args)
        assert code == 2 and out == "" and one_line(err)
