"""`tracecheck verify DIR`: recompute every hash a report directory's manifest lists."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tracecheck.cli.app import app, settings
from tracecheck.errors import UserError


@app.command()
def verify(
    directory: Path | None = typer.Argument(None, help="A report directory written by `analyze --out`."),
    pubkey: Path | None = typer.Option(None, "--pubkey", help="Ed25519 public key (PEM) the manifest must be signed by."),
) -> None:
    """Check a report directory against its manifest: files, input captures, policy, signature.

    Exit 0 when everything matches, 1 when anything does not (one line per problem), 2 for a
    directory that is not a report."""
    from tracecheck.report.verification import check

    if directory is None:  # said here, not by click, so that it is one line and exit 2 like every error
        raise UserError("verify needs the report DIR (the one `tracecheck analyze --out DIR` wrote)")
    result = check(directory, pubkey)
    for problem in result.problems:
        typer.echo(problem)
    if not settings.quiet:
        for note in result.notes:
            print(f"tracecheck: {note}", file=sys.stderr)
    if result.problems:
        print(f"tracecheck: verification of {directory} failed: {len(result.problems)} "
              f"problem{'s' if len(result.problems) != 1 else ''}", file=sys.stderr)
        # sys.exit, not typer.Exit: the CLI runs click with standalone_mode=False, which turns
        # typer.Exit(1) into a return value and the process would exit 0.
        sys.exit(1)
    signed = ", signature checked" if result.signed else ", not signed"
    typer.echo(f"OK {directory}: {result.files_checked} files and {result.inputs_checked} inputs "
               f"match the manifest{signed}")
