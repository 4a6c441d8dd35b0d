"""manifest.json and verify: every hash rechecked; missing, extra and changed files found; signatures."""

from __future__ import annotations

import json
import shutil
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
    assert result.not_checked[0] == f"policy policy.yaml (no copy in the directory, not found; hash recorded sha256:{'d' * 64})"


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
    assert result.ok and f"input {capture} (not found; hash recorded sha256:{listed})" in result.not_checked
    required = check(out, require_inputs=True)
    assert required.problems == [f"missing: input {capture} (not found as recorded, nor beside {out}; "
                                 f"--require-inputs)"]


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
    fingerprint = manifest["signature"]["public_key_sha256"]
    assert unpinned.ok and unpinned.signed
    assert f"signature valid for the key manifest.json names ({fingerprint})" in unpinned.checked
    assert ("signer identity (no --pubkey: the signature proves the files are unchanged since signing, not who "
            "signed)") in unpinned.not_checked
    pinned = check(out, write_public(tmp_path / "sign.pub.pem", key))
    assert pinned.ok and f"signature by the --pubkey key {fingerprint}" in pinned.checked
    assert not any(line.startswith("signer identity") for line in pinned.not_checked)
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


# --------------------------------------------------------------------------- the policy and catalogs as used


ACME = ("acme.yaml", b"version: 1\nservices: []\n")


def make_judged_dir(tmp_path: Path, capture: Path, catalogs=(ACME,), sign_key: Path | None = None) -> Path:
    inputs = report_samples.report().inputs
    real_input = inputs[0].model_copy(update={"path": str(capture), "sha256": sha256_file(capture)})
    report = report_samples.report_judged_by(catalogs=list(catalogs), inputs=[real_input])
    out = tmp_path / "judged"
    write_report(report, out, report_samples.flow_rows(), set(), sign_key, policy=report_samples.POLICY_TEXT,
                 catalogs=list(catalogs))
    return out


def test_verify_checks_the_copies_of_the_policy_and_catalogs_against_the_report(tmp_path, capture):
    out = make_judged_dir(tmp_path, capture)
    result = check(out)
    assert result.ok, result.problems
    policy_sha = sha256_file(out / "policy.yaml")
    catalog_sha = sha256_file(out / "catalogs" / "1-acme.yaml")
    assert result.checked[:2] == [
        f"policy policy.yaml is the policy judged by (sha256 {policy_sha}, as report.json's policy.sha256)",
        f"service catalog catalogs/1-acme.yaml is acme.yaml as judged by (sha256 {catalog_sha}, as report.json's "
        f"sources)"]
    assert result.not_checked == [
        "data sources aws-ip-ranges, geoip2fast (not copied into the directory; their versions, dates and sha256 "
        "are in manifest.json)",
        "signature (manifest.json is not signed: the hashes show the files agree with it, not who wrote them; "
        "sign with `analyze --sign-key`)"]


def test_a_changed_policy_copy_fails_even_when_the_file_list_is_forged_to_match(tmp_path, capture):
    out = make_judged_dir(tmp_path, capture)
    recorded = json.loads((out / "report.json").read_text())["policy"]["sha256"]
    (out / "policy.yaml").write_bytes(b"name: lax\nauthorized: {jurisdictions: [US]}\n")
    edited = sha256_file(out / "policy.yaml")
    assert verify(out) == [
        f"changed: policy.yaml (sha256 {edited}, manifest says {recorded})",
        f"changed: policy policy.yaml is not the policy judged by (sha256 {edited}, report.json's policy.sha256 "
        f"and manifest.json's say {recorded})"]
    manifest = json.loads((out / MANIFEST).read_text())
    for entry in manifest["files"]:
        if entry["path"] == "policy.yaml":
            entry.update(sha256=edited, size=(out / "policy.yaml").stat().st_size)
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert verify(out) == [
        f"changed: policy policy.yaml is not the policy judged by (sha256 {edited}, report.json's policy.sha256 "
        f"and manifest.json's say {recorded})"]


def test_a_changed_or_missing_catalog_copy_fails(tmp_path, capture):
    out = make_judged_dir(tmp_path, capture)
    recorded = sha256_file(out / "catalogs" / "1-acme.yaml")
    (out / "catalogs" / "1-acme.yaml").write_bytes(b"version: 1\nservices: [] # edited\n")
    edited = sha256_file(out / "catalogs" / "1-acme.yaml")
    assert verify(out)[1] == (f"changed: service catalog catalogs/1-acme.yaml is not acme.yaml as judged by "
                              f"(sha256 {edited}, report.json's sources and manifest.json's say {recorded})")
    (out / "catalogs" / "1-acme.yaml").unlink()
    assert verify(out) == ["missing: catalogs/1-acme.yaml (listed in manifest.json)"]


def test_a_copy_must_be_a_listed_file_inside_the_directory(tmp_path, capture):
    out = make_judged_dir(tmp_path, capture)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["policy"]["copy"] = "../call.pcapng"
    manifest["catalogs"][0]["copy"] = "notes.txt"
    (out / "notes.txt").write_bytes(ACME[1])
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert verify(out) == [
        "extra: notes.txt (not listed in manifest.json)",
        "manifest.json: refuses the policy's copy ../call.pcapng (not a file it lists)",
        "manifest.json: refuses the copy of service catalog acme.yaml at notes.txt (not a file it lists)"]


def test_a_catalog_the_report_does_not_name_fails(tmp_path, capture):
    out = make_judged_dir(tmp_path, capture)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["catalogs"][0]["path"] = "other.yaml"
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert verify(out) == ["changed: service catalog catalogs/1-acme.yaml: report.json's sources name no "
                           "service catalog other.yaml"]


# --------------------------------------------------------------------------- where the captures are


def test_inputs_are_found_as_recorded_then_beside_the_report_directory(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "captures").mkdir(parents=True)
    (work / "captures" / "call.pcapng").write_bytes(b"the capture")
    monkeypatch.chdir(work)
    out = make_judged_dir(work, Path("captures/call.pcapng"))
    assert check(out).inputs_checked == 1  # as recorded, relative to the current directory

    bundle = tmp_path / "bundle"  # handed over: the report and its captures folder side by side
    bundle.mkdir()
    shutil.move(work / "captures", bundle / "captures")
    shutil.move(out, bundle / "judged")
    monkeypatch.chdir(tmp_path)
    result = check(bundle / "judged")
    assert result.ok and result.inputs_checked == 1
    assert f"input captures/call.pcapng (found at {bundle / 'captures' / 'call.pcapng'})" in result.checked

    flat = tmp_path / "flat"  # or the capture alone beside the report
    flat.mkdir()
    shutil.move(bundle / "captures" / "call.pcapng", flat / "call.pcapng")
    shutil.move(bundle / "judged", flat / "judged")
    result = check(flat / "judged")
    assert result.ok and result.inputs_checked == 1
    (flat / "call.pcapng").write_bytes(b"another capture of the same name")
    recorded = json.loads((flat / "judged" / MANIFEST).read_text())["inputs"][0]["sha256"]
    assert check(flat / "judged").problems == [
        f"changed: input captures/call.pcapng (found at {flat / 'call.pcapng'}: sha256 "
        f"{sha256_file(flat / 'call.pcapng')}, manifest says {recorded})"]


def test_a_report_from_before_the_copies_says_its_policy_was_not_checked(tmp_path, capture):
    out = make_judged_dir(tmp_path, capture, catalogs=())
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["policy"]["copy"], manifest["catalogs"]
    manifest["files"] = [entry for entry in manifest["files"] if entry["path"] != "policy.yaml"]
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "policy.yaml").unlink()
    result = check(out)
    assert result.ok
    assert result.not_checked[0] == (f"policy policy.yaml (no copy in the directory, not found; hash recorded "
                                     f"sha256:{manifest['policy']['sha256']})")
