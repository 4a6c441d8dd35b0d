"""`verify`: recompute every hash a report directory's manifest lists, and check its signature.

What is checked, and what cannot be, is said line by line: an auditor reads the outcome, not only
the exit code.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tracecheck.errors import UserError
from tracecheck.report.formats.json_report import FILE_NAME as REPORT_JSON
from tracecheck.report.manifest import (
    CATALOG_KIND,
    MANIFEST,
    MANIFEST_VERSION,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    fingerprint,
    load_public_key,
    safe_relative,
    sha256_file,
    shown,
    walk,
)


@dataclass
class Verification:
    """The outcome of ``check``: problems fail verification; what was checked beyond the list of
    files, and what could not be, is said line by line."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    """What was checked beyond the list of files: the copies of the policy and catalogs, inputs, the signature."""
    not_checked: list[str] = field(default_factory=list)
    """What could not be checked, and why: an auditor must know what the OK does not cover."""
    files_checked: int = 0
    inputs_checked: int = 0
    inputs: int = 0
    """Inputs the manifest lists."""
    signed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(report_dir: Path, pubkey: Path | None = None) -> list[str]:
    """Every way ``report_dir`` differs from its manifest, one line each; empty when it matches."""
    return check(report_dir, pubkey).problems


def check(report_dir: Path, pubkey: Path | None = None, require_inputs: bool = False) -> Verification:
    """Recompute every hash the manifest lists: the files in the directory, the copies of the policy
    and service catalogs against report.json, the input captures wherever they can be found
    (``input_places``), the signature.  A directory that is not a report (or a --pubkey that cannot
    be read) is a UserError; anything that does not match is a problem, and so is a missing input
    when ``require_inputs``."""
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
    listed = _check_files(report_dir, manifest["files"], result)
    report = _report_json(report_dir, listed)
    _check_policy(report_dir, manifest, report, listed, result)
    copied = _check_catalogs(report_dir, manifest, report, listed, result)
    _note_sources(manifest, copied, result)
    result.inputs = len(manifest["inputs"])
    for entry in manifest["inputs"]:
        _check_input(report_dir, entry, require_inputs, result)
    _check_signature(report_dir, raw, manifest, pinned, result)
    return result


def input_places(report_dir: Path, recorded: str) -> list[Path]:
    """Where an input recorded as ``recorded`` is looked for, in order: the path as recorded (a
    relative one from the current directory), the same relative path from the report directory's
    parent (the report and its captures handed over side by side), and the file name alone in the
    report directory's parent."""
    beside = Path(os.path.abspath(report_dir)).parent
    path = Path(recorded)
    places = [path] + ([] if path.is_absolute() else [beside / path]) + [beside / path.name]
    unique: dict[str, Path] = {}
    for place in places:
        unique.setdefault(os.path.realpath(place), place)
    return list(unique.values())


def _parse(raw: bytes, result: Verification) -> dict | None:
    try:
        manifest = json.loads(raw)
    except ValueError as err:
        result.problems.append(f"{MANIFEST}: not valid JSON ({err})")
        return None
    shape_ok = (isinstance(manifest, dict) and isinstance(manifest.get("files"), list)
                and isinstance(manifest.get("inputs", []), list)
                and isinstance(manifest.get("catalogs", []), list)
                and all(isinstance(e, dict) for e in manifest["files"] + manifest.get("inputs", [])
                        + manifest.get("catalogs", [])))
    if not shape_ok:
        result.problems.append(f"{MANIFEST}: not a tracecheck manifest (no list of files)")
        return None
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        result.problems.append(f"{MANIFEST}: manifest_version {manifest.get('manifest_version')!r} is not "
                               f"{MANIFEST_VERSION!r}; use the tracecheck version that wrote it")
        return None
    manifest.setdefault("inputs", [])
    return manifest


def _check_files(report_dir: Path, entries: list[dict], result: Verification) -> set[str]:
    """Every listed file against its hash, and anything not listed; returns the listed paths."""
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
    # Not listed is a problem, not a note: the manifest lists every file the run wrote, so anything
    # else was put there afterwards, and an auditor must not take it for the tool's output.
    for rel in sorted(set(present_paths) - listed):
        result.problems.append(f"extra: {shown(rel)} (not listed in {MANIFEST})")
    for rel in odd:
        result.problems.append(f"extra: {shown(rel)} (not a regular file)")
    return listed


def _report_json(report_dir: Path, listed: set[str]) -> dict | None:
    """report.json, to hold the copies to what it says; None when it is not there to read (a
    problem said already)."""
    if REPORT_JSON not in listed:
        return None
    try:
        report = json.loads((report_dir / REPORT_JSON).read_bytes())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


# --------------------------------------------------------------------------- the policy and catalogs as used


def _check_policy(report_dir: Path, manifest: dict, report: dict | None, listed: set[str],
                  result: Verification) -> None:
    policy = manifest.get("policy")
    if not isinstance(policy, dict):
        result.problems.append(f"{MANIFEST}: no policy entry")
        return
    copy = policy.get("copy")
    if copy is None:  # written before the directory kept a copy: look where the policy was
        _check_outside(report_dir, "policy", policy, "no copy in the directory, ", False, result)
        return
    recorded = {}
    if report is not None and isinstance(report.get("policy"), dict):
        recorded["report.json's policy.sha256"] = report["policy"].get("sha256")
    recorded["manifest.json's"] = policy.get("sha256")
    _check_copy(report_dir, copy, listed, ("the policy's copy", ""), (f"policy {shown(copy)}", "the policy judged by"),
                recorded, result)


def _check_catalogs(report_dir: Path, manifest: dict, report: dict | None, listed: set[str],
                    result: Verification) -> set[tuple[object, object]]:
    """Each catalog's copy against report.json's sources; returns the (name, sha256) of those copied."""
    in_report = {}
    if report is not None and isinstance(report.get("sources"), list):
        in_report = {s.get("name"): s.get("sha256") for s in report["sources"]
                     if isinstance(s, dict) and s.get("kind") == CATALOG_KIND}
    copied = set()
    for entry in manifest.get("catalogs", []):
        given, copy = entry.get("path"), entry.get("copy")
        subject = f"service catalog {shown(copy)}"
        copied.add((given, entry.get("sha256")))
        if report is not None and given not in in_report:
            result.problems.append(f"changed: {subject}: report.json's sources name no service catalog {shown(given)}")
            continue
        recorded = {"report.json's sources": in_report[given]} if report is not None else {}
        recorded["manifest.json's"] = entry.get("sha256")
        _check_copy(report_dir, copy, listed, (f"the copy of service catalog {shown(given)}", " at"),
                    (subject, f"{shown(given)} as judged by"), recorded, result)
    return copied


def _check_copy(report_dir: Path, copy: object, listed: set[str], refused: tuple[str, str],
                claim: tuple[str, str], recorded: dict[str, object], result: Verification) -> None:
    """The copy at ``copy`` against every hash ``recorded`` for it (by whom): ``claim`` is the
    (subject, what it must be) of the line said, ``refused`` names it when it is not a listed file."""
    if not isinstance(copy, str) or not safe_relative(copy) or copy not in listed:
        result.problems.append(f"{MANIFEST}: refuses {refused[0]}{refused[1]} {shown(copy)} (not a file it lists)")
        return
    path = report_dir / copy
    if not path.is_file():
        return  # said already: missing
    actual = sha256_file(path)
    subject, predicate = claim
    differ = {who: value for who, value in recorded.items() if value != actual}
    if not differ:
        result.checked.append(f"{subject} is {predicate} (sha256 {actual}, as {next(iter(recorded))})")
        return
    values = {str(value) for value in differ.values()}
    said = (f"{' and '.join(differ)} say{'s' if len(differ) == 1 else ''} {shown(values.pop())}" if len(values) == 1
            else ", ".join(f"{who} says {shown(value)}" for who, value in differ.items()))
    result.problems.append(f"changed: {subject} is not {predicate} (sha256 {actual}, {said})")


def _note_sources(manifest: dict, copied: set[tuple[object, object]], result: Verification) -> None:
    sources = manifest.get("sources")
    names = [shown(s.get("name")) for s in sources if isinstance(s, dict)
             and (s.get("name"), s.get("sha256")) not in copied] if isinstance(sources, list) else []
    if names:
        result.not_checked.append(f"data sources {', '.join(names)} (not copied into the directory; their "
                                  f"versions, dates and sha256 are in {MANIFEST})")


# --------------------------------------------------------------------------- inputs and signature


def _check_input(report_dir: Path, entry: dict, required: bool, result: Verification) -> None:
    if _check_outside(report_dir, "input", entry, "", required, result):
        result.inputs_checked += 1


def _check_outside(report_dir: Path, kind: str, entry: dict, why: str, required: bool,
                   result: Verification) -> bool:
    """A file kept outside the directory (an input; the policy of an older report), wherever
    ``input_places`` finds it; True when found and unchanged."""
    recorded, expected = entry.get("path"), entry.get("sha256")
    if not isinstance(recorded, str) or not recorded:
        result.problems.append(f"{MANIFEST}: {kind} entry without a path")
        return False
    places = [place for place in input_places(report_dir, recorded) if place.is_file()]
    if not places:
        if required:
            result.problems.append(f"missing: {kind} {shown(recorded)} (not found as recorded, nor beside "
                                   f"{report_dir}; --require-inputs)")
        else:
            result.not_checked.append(f"{kind} {shown(recorded)} ({why}not found; hash recorded "
                                      f"sha256:{shown(expected)})")
        return False
    hashes = [(place, sha256_file(place)) for place in places]
    for place, actual in hashes:
        if actual == expected:
            moved = f" (found at {shown(place)})" if place != Path(recorded) else ""
            result.checked.append(f"{kind} {shown(recorded)}{moved}")
            return True
    place, actual = hashes[0]
    where = f"found at {shown(place)}: " if place != Path(recorded) else ""
    result.problems.append(f"changed: {kind} {shown(recorded)} ({where}sha256 {actual}, manifest says {shown(expected)})")
    return False


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
        else:
            result.not_checked.append(f"signature ({MANIFEST} is not signed: the hashes show the files agree with "
                                      f"it, not who wrote them; sign with `analyze --sign-key`)")
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
        result.checked.append(f"signature by the --pubkey key {fingerprint(key)}")
    else:
        result.checked.append(f"signature valid for the key {MANIFEST} names ({fingerprint(key)})")
        result.not_checked.append("signer identity (no --pubkey: the signature proves the files are unchanged since "
                                  "signing, not who signed)")
