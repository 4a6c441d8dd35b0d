"""manifest.json: what a report directory holds and what it was made from, so an auditor can check it.

The manifest lists the SHA-256 and size of every file the run wrote into the directory (except
itself and its signature), the SHA-256 of every input capture, the policy and the service catalogs
the run was judged by -- with where their copies are in the directory (``policy.copy``,
``catalogs[].copy``), so that the directory holds all the evidence but the captures -- the data
sources' versions and dates, and the tool's version.  ``verify`` (``verification.py``) recomputes
all of it.

Signing (optional) uses Ed25519: ``manifest.sig`` holds the raw 64-byte signature over the exact
bytes of ``manifest.json``, and the manifest names the public key (raw key, base64, and its
SHA-256 fingerprint).  Without ``--pubkey``, verify checks the signature against that embedded key:
this proves the files were not changed since signing, not *who* signed -- pass ``--pubkey`` to pin
the signer's key.  Nothing here needs tracecheck to check; with OpenSSL:

    openssl genpkey -algorithm ed25519 -out sign.pem            # once, keep it private
    openssl pkey -in sign.pem -pubout -out sign.pub.pem         # give this to the auditor
    sha256sum FILE                                              # compare with manifest "files"
    openssl pkeyutl -verify -pubin -inkey sign.pub.pem -rawin -in manifest.json -sigfile manifest.sig
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tracecheck.errors import UserError
from tracecheck.report.atomic import write_atomically
from tracecheck.report.model import Report

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
POLICY_COPY = "policy.yaml"
"""The policy as the run used it, byte for byte (the template's text when no --policy was given)."""
CATALOG_COPIES = "catalogs"
"""The folder of the --catalog files as the run used them: ``catalogs/<n>-<name>``."""
CATALOG_KIND = "service-catalog"
"""The kind report.json's ``sources`` give a service catalog."""
MANIFEST_VERSION = "1"
SIGNATURE_ALGORITHM = "ed25519"
_NOT_LISTED = {MANIFEST, SIGNATURE}
_LARGEST_MANIFEST = 64 << 20
"""Larger is not one of ours (a report lists a few files); it is not read to find out."""


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Copy:
    """A file the run was judged by (the policy, a service catalog), copied into the directory."""

    given: str
    """As the run was given it: the path after ``--policy`` or ``--catalog``, or ``template:NAME``."""
    copy: str
    """Where the copy is, relative to the directory (POSIX): ``policy.yaml``, ``catalogs/1-acme.yaml``."""
    sha256: str
    """Of the copy's bytes, which are the bytes the run read."""


def build_manifest(out_dir: Path, report: Report, files: Sequence[Path], public_key_raw: bytes | None = None,
                   policy_copy: Copy | None = None, catalog_copies: Sequence[Copy] = ()) -> dict:
    """The manifest of the ``files`` a run wrote into ``out_dir``, for the inputs, policy and sources
    of ``report``.  Only those files: whatever else stands in the directory was not made by this run,
    and ``verify`` calls it extra.  ``policy_copy`` and ``catalog_copies`` say which of the files are
    the policy and the service catalogs the run was given."""
    out_dir = Path(out_dir)
    listed = sorted((Path(path).relative_to(out_dir).as_posix(), Path(path)) for path in files)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "tool": {"name": report.tool.name, "version": report.tool.version},
        "files": [{"path": rel, "sha256": sha256_file(path), "size": path.stat().st_size}
                  for rel, path in listed if rel not in _NOT_LISTED],
        "inputs": [{"path": i.path, "sha256": i.sha256} for i in report.inputs],
        "policy": {"path": report.policy.path, "sha256": report.policy.sha256, "name": report.policy.name},
        "catalogs": [{"path": c.given, "sha256": c.sha256, "copy": c.copy} for c in catalog_copies],
        "sources": [{"name": s.name, "kind": s.kind, "version": s.version, "date": s.date, "sha256": s.sha256}
                    for s in sorted(report.sources, key=lambda s: (s.kind, s.name))],
    }
    if policy_copy is not None:
        manifest["policy"]["copy"] = policy_copy.copy
    if public_key_raw is not None:
        manifest["signature"] = {
            "algorithm": SIGNATURE_ALGORITHM,
            "file": SIGNATURE,
            "public_key": base64.b64encode(public_key_raw).decode("ascii"),
            "public_key_sha256": hashlib.sha256(public_key_raw).hexdigest(),
        }
    return manifest


def render_manifest(manifest: dict) -> bytes:
    # ASCII-only on purpose: a file name that is not valid UTF-8 still round-trips (as \udcXX),
    # and every auditor's tool reads it.
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def write_manifest(out_dir: Path, report: Report, files: Sequence[Path], sign_key: Path | None = None,
                   policy_copy: Copy | None = None, catalog_copies: Sequence[Copy] = ()) -> list[Path]:
    """Write manifest.json for ``files`` (and manifest.sig when ``sign_key`` is given).  Call it last,
    once an earlier run's files are gone (an earlier manifest.sig among them)."""
    out_dir = Path(out_dir)
    private_key = load_signing_key(sign_key) if sign_key is not None else None
    public_raw = _raw_public(private_key.public_key()) if private_key is not None else None
    data = render_manifest(build_manifest(out_dir, report, files, public_raw, policy_copy, catalog_copies))
    written = [write_atomically(out_dir / MANIFEST, data)]
    if private_key is not None:
        written.append(write_atomically(out_dir / SIGNATURE, private_key.sign(data)))
    return written


def read_own_manifest(path: Path) -> dict | None:
    """The manifest at ``path`` if tracecheck wrote it (by its shape and tool name), else None: a
    web app's or another tool's manifest.json does not make a directory a report."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _LARGEST_MANIFEST:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if is_tracecheck_manifest(data) else None


def is_tracecheck_manifest(data: object) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("files"), list)
            and isinstance(data.get("tool"), dict) and data["tool"].get("name") == "tracecheck"
            and isinstance(data.get("manifest_version"), str))


# --------------------------------------------------------------------------- keys and files


def load_signing_key(path: Path):
    """An unencrypted Ed25519 private key in PEM (``openssl genpkey -algorithm ed25519``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _read_key_file(path, "--sign-key")
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise UserError(f"{path}: the signing key is encrypted; use an unencrypted Ed25519 PEM key "
                        f"(`tracecheck keygen -o KEY.pem`)") from None
    except ValueError:
        raise UserError(f"{path}: not a PEM private key; make one with `tracecheck keygen -o KEY.pem`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{path}: the signing key must be Ed25519 (make one with `tracecheck keygen -o KEY.pem`)")
    return key


def load_public_key(path: Path):
    """An Ed25519 public key in PEM; a private key PEM is accepted too (its public half is used)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    data = _read_key_file(path, "--pubkey")
    try:
        key = load_pem_public_key(data)
    except ValueError:
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise UserError(f"{path}: not a PEM public key; give the KEY.pub "
                            f"that `tracecheck keygen -o KEY` wrote") from None
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise UserError(f"{path}: the key must be Ed25519")
    return key


def _read_key_file(path: Path, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise UserError(f"{option} {path}: cannot read: {err.strerror or err}") from None


def _raw_public(public_key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_key) -> str:
    return hashlib.sha256(_raw_public(public_key)).hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def walk(root: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Regular files under ``root`` (POSIX relative path, path), sorted, without the manifest and its
    signature; and anything else found there (symlinks, sockets ...), which a report never holds."""
    files: list[tuple[str, Path]] = []
    odd: list[str] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            odd.append(rel)
        elif path.is_file() and rel not in _NOT_LISTED:
            files.append((rel, path))
    return files, odd


def safe_relative(rel: object) -> bool:
    """A manifest is as hostile as a capture: no absolute paths, no ``..``, no backslashes."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return not rel.startswith("/") and ".." not in parts and "." not in parts and rel not in _NOT_LISTED


def shown(value: object) -> str:
    """Text for a one-line message: control characters escaped, so a name cannot forge a line."""
    text = str(value)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
