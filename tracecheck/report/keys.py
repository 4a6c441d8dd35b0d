"""An Ed25519 key pair for signing manifests (`analyze --sign-key`) and pinning them (`verify --pubkey`)."""

from __future__ import annotations

import os
from pathlib import Path

from tracecheck.errors import UserError
from tracecheck.report.manifest import fingerprint


def public_path(key: Path) -> Path:
    """``KEY.pub`` beside ``KEY``."""
    return key.with_name(key.name + ".pub")


def generate_key_pair(key: Path, force: bool = False) -> str:
    """Write KEY (PKCS8 PEM, mode 0600 from its creation) and KEY.pub; return the public key's sha256
    as manifest.json's ``public_key_sha256`` names it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = public_path(key)
    if not force:
        for path in (key, pub):
            if path.exists() or path.is_symlink():
                raise UserError(f"{path} exists; keygen does not overwrite a key (use --force to replace it)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = private.public_key()
    _write_private(key, pem)
    try:
        if pub.is_symlink():  # replaced, never written through
            pub.unlink()
        pub.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as err:
        key.unlink()  # a private key without its public half would only be confusing
        raise UserError(f"{pub}: cannot write: {err.strerror or err}") from None
    return fingerprint(public)


def _write_private(key: Path, pem: bytes) -> None:
    # Created 0600 by open() itself, never chmod-ed after: no moment where another user can read it.
    # A replaced key is unlinked first, so an old file's looser mode is not kept.
    try:
        if key.exists() or key.is_symlink():
            key.unlink()
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as err:
        raise UserError(f"{key}: cannot write the key: {err.strerror or err}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
