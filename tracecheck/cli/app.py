"""The typer application and the options every command shares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from tracecheck import __version__

app = typer.Typer(
    name="tracecheck",
    help="Prove or disprove, from a packet capture, that personal data stays where the law says it must.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class Settings:
    """Options given before the command."""

    db: Path
    quiet: bool


settings = Settings(db=Path(os.environ.get("TRACECHECK_DB", "~/.local/share/tracecheck")).expanduser(), quiet=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tracecheck {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    db: Optional[Path] = typer.Option(None, "--db", envvar="TRACECHECK_DB", help="Data directory for imported sources."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or summaries on stderr."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    if db is not None:
        settings.db = db.expanduser()
    settings.quiet = quiet
