"""`verify`: recompute every hash a report directory's manifest lists, and check its signature.

What is checked, and what cannot be, is said line by line: an auditor reads the outcome, not only
the exit code.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from tracecheck.errors import UserError
from tracecheck.report.manifest import (
    MANIFEST,
    MANIFEST_VERSION,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    fingerprint,
    safe_relative,
    shown,
    walk,
    load_public_key,
    sha256_file,
)


@dataclass
class Verification:
    """The outcome of ``check``: problems fail verification, notes do not."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_checked: int = 0
    inputs_checked: int = 0
    signed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(report_dir: Path, pubkey: Path | None = None) -> list[str]:
    """Every way ``report_dir`` differs from its manifest, one line each; empty when it matches."""
    return check(report_dir, pubkey).problems


def check(report_dir: Path, pubkey: Path | None = None) -> Verification:
    """Recompute every hash the manifest lists.  A directory that is not a report (or a --pubkey
    that cannot be read) is a UserError; anything that does not match is a problem."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise UserError(f"{report_dir}: no such directory; give the report directory `analyze --out` wrote")
    manifest_path = report_dir / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{report_dir}: no {MANIFEST}, so not a tracecheck report directory "
                        f"(or its manifest was deleted)")
    pinned = load_public_key(pubkey) if pubkey is not None else None
    result = Verification()
    raw = manifest_path.read_bytes()
    manifest = _parse(raw, result)
    if manifest is None:
        return result
    _check_signature(report_dir, raw, manifest, pinned, result)
    _check_files(report_dir, manifest["files"], result)
    for entry in manifest["inputs"]:
        _check_outside_file("input", entry, result)
    if isinstance(manifest.get("policy"), dict):
        _check_outside_file("policy", manifest["policy"], result)
    return result


def _parse(raw: bytes, result: Verification) -> dict | None:
    try:
        manifest = json.loads(raw)
    except ValueError as err:
        result.problems.append(f"{MANIFEST}: not valid JSON ({err})")
        return None
    shape_ok = (isinstance(manifest, dict) and isinstance(manifest.get("files"), list)
                and isinstance(manifest.get("inputs", []), list)
                and all(isinstance(e, dict) for e in manifest["files"] + manifest.get("inputs", [])))
    if not shape_ok:
        result.problems.append(f"{MANIFEST}: not a tracecheck manifest (no list of files)")
        return None
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        result.problems.append(f"{MANIFEST}: manifest_version {manifest.get('manifest_version')!r} is not "
                               f"{MANIFEST_VERSION!r}; use the tracecheck version that wrote it")
        return None
    manifest.setdefault("inputs", [])
    return manifest


def _check_files(report_dir: Path, entries: list[dict], result: Verification) -> None:
    present, odd = walk(report_dir)
    present_paths = dict(present)
    listed: set[str] = set()
    for entry in entries:
        rel = entry.get("path")
        if not safe_relative(rel):
            result.problems.append(f"{MANIFEST}: refuses file entry {shown(rel)} (not a plain path inside the directory)")
            continue
        listed.add(rel)
        path = present_paths.get(rel)
        if path is None:
            result.problems.append(f"missing: {shown(rel)} (listed in {MANIFEST})")
            continue
        actual = sha256_file(path)
        result.files_checked += 1
        if actual != entry.get("sha256"):
            result.problems.append(f"changed: {shown(rel)} (sha256 {actual}, manifest says {shown(entry.get('sha256'))})")
        elif path.stat().st_size != entry.get("size"):
            result.problems.append(f"changed: {shown(rel)} (size {path.stat().st_size}, manifest says {entry.get('size')})")
    for rel in sorted(set(present_paths) - listed):
        result.problems.append(f"extra: {shown(rel)} (not listed in {MANIFEST})")
    for rel in odd:
        result.problems.append(f"extra: {shown(rel)} (not a regular file)")


def _check_outside_file(kind: str, entry: dict, result: Verification) -> None:
    """Inputs and the policy live outside the directory: check them where they still are."""
    path_text = entry.get("path")
    if not isinstance(path_text, str) or not path_text:
        result.problems.append(f"{MANIFEST}: {kind} entry without a path")
        return
    path = Path(path_text)
    if not path.is_file():
        result.notes.append(f"{kind} {shown(path_text)}: not found, not checked")
        return
    actual = sha256_file(path)
    result.inputs_checked += 1
    if actual != entry.get("sha256"):
        result.problems.append(f"changed: {kind} {shown(path_text)} (sha256 {actual}, "
                               f"manifest says {shown(entry.get('sha256'))})")


def _check_signature(report_dir: Path, raw: bytes, manifest: dict, pinned, result: Verification) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    declared = manifest.get("signature")
    sig_path = report_dir / SIGNATURE
    if declared is None:
        if sig_path.exists():
            result.problems.append(f"{SIGNATURE} is present but {MANIFEST} names no signature")
        if pinned is not None:
            result.problems.append(f"not signed, but --pubkey was given: expected a signature by {fingerprint(pinned)}")
        return
    result.signed = True
    if not isinstance(declared, dict) or declared.get("algorithm") != SIGNATURE_ALGORITHM:
        result.problems.append(f"{MANIFEST}: signature algorithm is not {SIGNATURE_ALGORITHM}")
        return
    if not sig_path.is_file():
        result.problems.append(f"missing: {SIGNATURE} ({MANIFEST} says it is signed)")
        return
    declared_fingerprint = declared.get("public_key_sha256")
    if pinned is not None:
        key = pinned
        if fingerprint(pinned) != declared_fingerprint:
            result.problems.append(f"signature: signed by key {shown(declared_fingerprint)}, "
                                   f"not by the --pubkey key {fingerprint(pinned)}")
            return
    else:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(declared.get("public_key", ""), validate=True))
        except ValueError:
            result.problems.append(f"{MANIFEST}: the embedded public key is not an Ed25519 key")
            return
        if fingerprint(key) != declared_fingerprint:
            result.problems.append(f"{MANIFEST}: the embedded public key does not match its fingerprint")
            return
    try:
        key.verify(sig_path.read_bytes(), raw)
    except InvalidSignature:
        result.problems.append(f"signature: {SIGNATURE} does not match {MANIFEST} for key {fingerprint(key)}")
        return
    if pinned is not None:
        result.notes.append(f"signature valid, by the --pubkey key {fingerprint(key)}")
    else:
        result.notes.append(f"signature valid for the embedded key {fingerprint(key)}; it proves the files are "
                            f"unchanged since signing, not who signed (pin the key with --pubkey)")
