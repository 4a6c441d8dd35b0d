"""`tracecheck diff OLD NEW`: what changed between two assessments (vendor drift)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from tracecheck.cli.app import app

_VERDICT_STYLE = {"violation": "bold red", "indeterminate": "yellow", "compliant": "green", "not_assessed": "dim"}


@app.command()
def diff(
    old: Path = typer.Argument(..., help="The earlier report directory (or its report.json)."),
    new: Path = typer.Argument(..., help="The later report directory (or its report.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print a stable JSON document instead of tables."),
) -> int:
    """Show what changed between two reports: destinations that appeared, vanished or moved address, changed places, categories or verdicts, and changed sources or policy.

    Exit 1 when NEW has a violation OLD did not have, 0 otherwise, 2 for bad input."""
    from tracecheck.report.diff import diff_reports, load_report

    result = diff_reports(load_report(old), load_report(new))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        _print(result)
    return result.exit_code


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Every cell is a Text: names come from the capture and must never be read as rich markup.
    console = Console(width=None if sys.stdout.isatty() else 240, highlight=False)
    if result.destinations:
        table = Table(title="destinations", box=None, pad_edge=False)
        for column in ("change", "destination", "name", "verdict", "what changed"):
            table.add_column(column, overflow="fold")
        for row in result.destinations:
            what = "; ".join(f"{c.field}: {_shown(c.old)} -> {_shown(c.new)}" for c in row.changes)
            table.add_row(Text(row.status), Text(row.ip), Text(row.name or "-"),
                          Text(row.verdict, style=_VERDICT_STYLE.get(row.verdict, "")), Text(what or "-"))
        console.print(table)
    for title, changes in (("sources", result.sources), ("policy", result.policy)):
        if not changes:
            continue
        table = Table(title=title, box=None, pad_edge=False)
        for column in ("what", "old", "new"):
            table.add_column(column, overflow="fold")
        for change in changes:
            old, new = change.old, change.new
            if isinstance(old, dict) and isinstance(new, dict):  # say only what differs: a date, a hash
                keys = [k for k in new if old.get(k) != new.get(k)]
                old, new = {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}
            table.add_row(Text(change.field), Text(_shown(old)), Text(_shown(new)))
        console.print(table)
    if result.new_violations:
        summary = f"NEW VIOLATIONS: {len(result.new_violations)} ({', '.join(result.new_violations)})"
    else:
        summary = "no new violations"
    counts = {s: sum(r.status == s for r in result.destinations) for s in ("appeared", "vanished", "moved", "changed")}
    typer.echo(f"{summary}; destinations " + ", ".join(f"{n} {s}" for s, n in counts.items())
               + f"; {len(result.sources)} source and {len(result.policy)} policy changes")


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return str(value) if value != "" else "-"
