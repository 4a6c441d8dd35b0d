"""`tracecheck db status | update | import`: the data sources behind every place."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from tracecheck.cli.app import app, settings
from tracecheck.errors import UserError

db_app = typer.Typer(name="db", help="Manage the data sources (provider ranges, GeoIP databases).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table.")) -> None:
    """Every source: version, its own date, SHA-256, age, prefixes, and whether it is stale."""
    from tracecheck.geo import store

    report = store.status(settings.db)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"data sources in {report['db']} (as of {report['today']})"))
    for column in ("name", "kind", "version", "date", "age", "prefixes", "sha256", ""):
        table.add_column(column, overflow="fold", no_wrap=column in ("name", "date", "sha256"),
                         max_width=24 if column == "version" else None)
    for row in report["sources"]:
        age = "?" if row["age_days"] is None else f"{row['age_days']} d"
        flag = Text("stale", style="red") if row["stale"] else Text("ok")
        if row.get("modified"):
            flag.append(" modified since import", style="red")
        date = row["date"][:10] if row["date_label"] == row["date"] else row["date_label"]
        # Text, never str: names and versions come from imported files, not rich markup.
        cells = (row["name"], row["kind"], row["version"] or "-", date or "-", age, str(row["prefixes"]), row["sha256"][:12])
        table.add_row(*(Text(str(cell)) for cell in cells), flag)
    console = Console(width=None if sys.stdout.isatty() else 132)  # piped: do not fold at 80 columns
    console.print(table)
    if report["missing"]:
        console.print(Text(f"missing: {', '.join(report['missing'])} - run `tracecheck db update`, or "
                      "`tracecheck db import FILE --source KIND` on an air-gapped machine"))


@db_app.command("update")
def update(
    names: Optional[List[str]] = typer.Argument(None, help="Sources to fetch (default: every official one)."),
    url: Optional[List[str]] = typer.Option(None, "--url", help="NAME=URL: fetch NAME from URL (a mirror)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for each server."),
) -> None:
    """Download every source from its publisher (the only command that uses the network)."""
    from tracecheck.vocabulary import date_label
    from tracecheck.geo.update import parse_url_overrides
    from tracecheck.geo.update import update as run_update

    overrides = parse_url_overrides(url or [])
    say = None if settings.quiet else (lambda message: print(f"tracecheck: {message}", file=sys.stderr))
    outcomes = run_update(settings.db, names=names or None, urls=overrides, timeout=timeout, progress=say)
    failed = [outcome for outcome in outcomes if outcome.error]
    for outcome in outcomes:
        if outcome.info is not None and not settings.quiet:
            print(f"tracecheck: {outcome.name}: {outcome.info.prefixes} prefixes, "
                  f"{_dated(date_label(outcome.info.date, outcome.date_basis))}", file=sys.stderr)
    if failed:
        done = len(outcomes) - len(failed)
        raise UserError(f"{len(failed)} of {len(outcomes)} sources not updated ({done} updated): "
                        + "; ".join(f"{outcome.name}: {outcome.error}" for outcome in failed))


@db_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A provider range file, geofeed CSV or .mmdb database."),
    source: str = typer.Option(..., "--source", "-s", help="aws, azure, gcp, google, oracle, cloudflare, fastly, genesys, geofeed or mmdb."),
    name: str = typer.Option("", "--name", help="Store under this name (default: the source's own)."),
) -> None:
    """Check a file with its reader and store it in the data directory (for air-gapped machines)."""
    from tracecheck.vocabulary import date_label
    from tracecheck.geo.store import import_file

    info, basis = import_file(settings.db, file, source, name)
    if not settings.quiet:
        print(f"tracecheck: imported {file} as {info.name} ({info.kind}, {info.prefixes} prefixes, "
              f"{_dated(date_label(info.date, basis))}, sha256 {info.sha256[:16]})", file=sys.stderr)


def _dated(label: str) -> str:
    """``dated 2026-08-22...``, or the label itself when the source has no date of its own."""
    return label if label.startswith(("date unknown", "undated")) else f"dated {label}"
