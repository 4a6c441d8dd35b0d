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
    require_inputs: bool = typer.Option(False, "--require-inputs", help="Fail (exit 1) when an input capture cannot be found, instead of saying it was not checked."),
) -> None:
    """Check a report directory against its manifest: its files (a file it does not list is a problem), the copies of the policy and service catalogs against report.json, the input captures, the signature.

    Everything but the captures is in DIR. A capture is looked for at its path as recorded (a relative one from the current directory), then at that relative path from the report directory's parent, then by its file name in the report directory's parent: hand a report over beside its captures folder, or beside the captures themselves.

    Prints one line per problem, then what was checked and what could not be (`not checked: ...`, also with --quiet, which leaves out only the `checked:` lines). Exit 0 when everything checked matches, 1 when anything does not (or an input is missing under --require-inputs), 2 for a directory that is not a report."""
    from tracecheck.report.verification import check

    if directory is None:  # said here, not by click, so that it is one line and exit 2 like every error
        raise UserError("verify needs the report DIR (the one `tracecheck analyze --out DIR` wrote)")
    result = check(directory, pubkey, require_inputs=require_inputs)
    for problem in result.problems:
        typer.echo(problem)
    if not settings.quiet:
        for line in result.checked:
            typer.echo(f"checked: {line}")
    for line in result.not_checked:
        typer.echo(f"not checked: {line}")
    if result.problems:
        print(f"tracecheck: verification of {directory} failed: {len(result.problems)} "
              f"problem{'s' if len(result.problems) != 1 else ''}", file=sys.stderr)
        # sys.exit, not typer.Exit: the CLI runs click with standalone_mode=False, which turns
        # typer.Exit(1) into a return value and the process would exit 0.
        sys.exit(1)
    signed = "signature checked" if result.signed else "not signed"
    unchecked = len(result.not_checked)
    caveat = f"; {unchecked} thing{'s' if unchecked != 1 else ''} not checked (above)" if unchecked else ""
    typer.echo(f"OK {directory}: {result.files_checked} files and {result.inputs_checked} of {result.inputs} "
               f"inputs match the manifest, {signed}{caveat}")
