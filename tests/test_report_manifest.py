"""manifest.json and verify: every hash rechecked; missing, extra and changed files found; signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import report_samples
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from report_samples import write_key, write_public

from tracecheck.errors import UserError
from tracecheck.report import check, verify, write_report
from tracecheck.report.manifest import MANIFEST, SIGNATURE, sha256_file


@pytest.fixture
def capture(tmp_path) -> Path:
    path = tmp_path / "call.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a not really a capture")
    return path


def make_report_dir(tmp_path: Path, capture: Path, sign_key: Path | None = None, formats=frozenset()) -> Path:
    inputs = report_samples.report().inputs
    real_input = inputs[0].model_copy(update={"path": str(capture), "sha256": sha256_file(capture)})
    out = tmp_path / "report"
    write_report(report_samples.report(inputs=[real_input]), out, report_samples.flow_rows(), set(formats), sign_key)
    return out


def test_manifest_lists_every_file_input_policy_and_source(tmp_path, capture):
    out = make_report_dir(tmp_path, capture, formats={"sarif", "junit"})
    manifest = json.loads((out / MANIFEST).read_text())
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == {"report.json", "report.html", "flows.csv", "report.sarif", "report.junit.xml"}
    for name, entry in listed.items():
        assert entry["sha256"] == sha256_file(out / name) and entry["size"] == (out / name).stat().st_size
    assert manifest["inputs"] == [{"path": str(capture), "sha256": sha256_file(capture)}]
    assert manifest["policy"] == {"path": "policy.yaml", "sha256": "d" * 64, "name": "gdpr-eu"}
    assert [(s["name"], s["date"], s["version"]) for s in manifest["sources"]] == [
        ("aws-ip-ranges", "2026-08-22", "1724300000"), ("geoip2fast", "2026-10-01", "1.2.2")]
    assert manifest["tool"] == {"name": "tracecheck", "version": "0.1.0"}
    assert "signature" not in manifest and not (out / SIGNATURE).exists()


def test_verify_passes_on_an_untouched_report(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    result = check(out)
    assert result.ok and result.files_checked == 3 and result.inputs_checked == 1
    assert result.notes == ["policy policy.yaml: not found, not checked"]


def test_one_changed_byte_is_found(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    data = bytearray((out / "report.json").read_bytes())
    data[100] ^= 0x01
    (out / "report.json").write_bytes(bytes(data))
    problems = verify(out)
    assert len(problems) == 1 and problems[0].startswith("changed: report.json (sha256 ")


def test_deleted_and_added_files_are_found(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    (out / "flows.csv").unlink()
    (out / "notes.txt").write_text("added later")
    (out / "sub").mkdir()
    (out / "sub" / "x.bin").write_bytes(b"x")
    assert verify(out) == ["missing: flows.csv (listed in manifest.json)",
                           "extra: notes.txt (not listed in manifest.json)",
                           "extra: sub/x.bin (not listed in manifest.json)"]


def test_changed_input_is_found_and_a_missing_one_only_noted(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    capture.write_bytes(b"edited")
    listed = json.loads((out / MANIFEST).read_text())["inputs"][0]["sha256"]
    assert verify(out) == [f"changed: input {capture} (sha256 {sha256_file(capture)}, manifest says {listed})"]
    capture.unlink()
    result = check(out)
    assert result.ok and f"input {capture}: not found, not checked" in result.notes


def test_a_manifest_cannot_point_outside_the_directory(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append({"path": "../call.pcapng", "sha256": sha256_file(capture), "size": 1})
    manifest["files"].append({"path": "/etc/passwd", "sha256": "0" * 64, "size": 1})
    (out / MANIFEST).write_text(json.dumps(manifest))
    problems = verify(out)
    assert problems == ["manifest.json: refuses file entry ../call.pcapng (not a plain path inside the directory)",
                        "manifest.json: refuses file entry /etc/passwd (not a plain path inside the directory)"]


def test_a_broken_manifest_fails_and_a_missing_one_is_bad_input(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    (out / MANIFEST).write_text("{not json")
    assert verify(out)[0].startswith("manifest.json: not valid JSON")
    (out / MANIFEST).unlink()
    with pytest.raises(UserError, match="not a tracecheck report directory"):
        verify(out)
    with pytest.raises(UserError, match="no such directory"):
        verify(tmp_path / "nowhere")


def test_names_that_could_forge_lines_are_escaped(tmp_path, capture):
    out = make_report_dir(tmp_path, capture)
    (out / "evil\nOK everything matches").write_text("x")
    problems = verify(out)
    assert problems == ["extra: evil\\nOK everything matches (not listed in manifest.json)"]


def test_signed_report_verifies_and_pins(tmp_path, capture):
    key = write_key(tmp_path / "sign.pem")
    out = make_report_dir(tmp_path, capture, sign_key=key)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["signature"]["algorithm"] == "ed25519" and len(manifest["signature"]["public_key_sha256"]) == 64
    assert len((out / SIGNATURE).read_bytes()) == 64
    unpinned = check(out)
    assert unpinned.ok and unpinned.signed and any("not who signed" in note for note in unpinned.notes)
    pinned = check(out, write_public(tmp_path / "sign.pub.pem", key))
    assert pinned.ok and any("by the --pubkey key" in note for note in pinned.notes)
    assert check(out, key).ok  # the private key file pins as well


def test_signature_fails_with_another_key_or_after_a_change(tmp_path, capture):
    key = write_key(tmp_path / "sign.pem")
    out = make_report_dir(tmp_path, capture, sign_key=key)
    other = write_public(tmp_path / "other.pub.pem", write_key(tmp_path / "other.pem"))
    problems = verify(out, other)
    assert len(problems) == 1 and problems[0].startswith("signature: signed by key ")
    # Re-listing a changed file in the manifest breaks the signature.
    (out / "flows.csv").write_text("uid\n")
    manifest = json.loads((out / MANIFEST).read_text())
    for entry in manifest["files"]:
        if entry["path"] == "flows.csv":
            entry.update(sha256=sha256_file(out / "flows.csv"), size=4)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    problems = verify(out)
    assert len(problems) == 1 and problems[0].startswith("signature: manifest.sig does not match manifest.json")


def test_signature_file_and_manifest_must_agree(tmp_path, capture):
    key = write_key(tmp_path / "sign.pem")
    out = make_report_dir(tmp_path, capture, sign_key=key)
    (out / SIGNATURE).unlink()
    assert verify(out) == ["missing: manifest.sig (manifest.json says it is signed)"]
    unsigned = make_report_dir(tmp_path, capture)  # rewriting unsigned removes the old signature
    assert not (unsigned / SIGNATURE).exists() and verify(unsigned) == []
    (unsigned / SIGNATURE).write_bytes(b"\0" * 64)
    assert verify(unsigned) == ["manifest.sig is present but manifest.json names no signature"]
    (unsigned / SIGNATURE).unlink()
    pub = write_public(tmp_path / "sign.pub.pem", key)
    assert verify(unsigned, pub)[0].startswith("not signed, but --pubkey was given")


def test_bad_keys_are_bad_input(tmp_path, capture):
    encrypted = write_key(tmp_path / "enc.pem", password=b"secret")
    with pytest.raises(UserError, match="encrypted"):
        make_report_dir(tmp_path, capture, sign_key=encrypted)
    assert not (tmp_path / "report").exists()  # nothing half-written
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(UserError, match="not a PEM private key"):
        make_report_dir(tmp_path, capture, sign_key=garbage)
    with pytest.raises(UserError, match="cannot read"):
        make_report_dir(tmp_path, capture, sign_key=tmp_path / "missing.pem")
    from cryptography.hazmat.primitives.asymmetric import ec

    not_ed25519 = tmp_path / "ec.pem"
    not_ed25519.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(UserError, match="must be Ed25519"):
        make_report_dir(tmp_path, capture, sign_key=not_ed25519)
    out = make_report_dir(tmp_path, capture)
    with pytest.raises(UserError, match="not a PEM public key"):
        verify(out, garbage)
    with pytest.raises(UserError, match="must be Ed25519"):
        verify(out, not_ed25519)
