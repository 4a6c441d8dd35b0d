"""`tracecheck keygen -o KEY`: an Ed25519 key pair for `analyze --sign-key` and `verify --pubkey`."""

from __future__ import annotations

from pathlib import Path

import typer

from tracecheck.cli.app import app
from tracecheck.errors import UserError


@app.command()
def keygen(
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write the private key (PEM, PKCS8, mode 0600); the public key goes to KEY.pub."),
    force: bool = typer.Option(False, "--force", help="Replace an existing KEY and KEY.pub."),
) -> None:
    """Make an Ed25519 key pair: sign with `analyze --sign-key KEY`, check with `verify --pubkey KEY.pub`.

    Prints the public key's sha256, as manifest.json names it (public_key_sha256). Exit 2 when KEY or KEY.pub exists (without --force)."""
    from tracecheck.report.keys import generate_key_pair, public_path

    if out is None:
        raise UserError("keygen needs -o KEY (where to write the private key)")
    digest = generate_key_pair(out, force=force)
    typer.echo(f"private key: {out} (keep it secret)")
    typer.echo(f"public key: {public_path(out)} (give it to whoever runs `tracecheck verify --pubkey`)")
    typer.echo(f"public_key_sha256: {digest}")
