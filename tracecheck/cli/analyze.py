"""`tracecheck analyze`: the whole pipeline on a test call; a report directory and a verdict."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import typer

from tracecheck.cli.app import app, settings
from tracecheck.cli.flows import report_reading
from tracecheck.cli.progress import reading_progress
from tracecheck.errors import UserError
from tracecheck.report import formats, grouping
from tracecheck.vocabulary import BASIS_LABEL

TERMINAL_ROWS = 100
"""Violations, and indeterminates, the terminal table shows past grouping.SUMMARISE_ABOVE
destinations: a CI log stays readable, and rich lays out each row at some cost."""
_VERDICT_STYLE = {"violation": "bold red", "indeterminate": "yellow", "compliant": "green", "not_assessed": "dim"}


@app.command()
def analyze(
    captures: list[str] = typer.Argument(None, help="pcap or pcapng files of the test call, optionally gzip-compressed (or, after --zeek/--eve/--flows, more paths of that kind)."),
    policy: Path | None = typer.Option(None, "--policy", "-p", help="Residency policy YAML (default: the gdpr-eu template)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report directory (default: reports/<capture name>). A re-run replaces the report in it whole; a non-empty directory that holds no tracecheck report, or files tracecheck did not write, is refused (see --force)."),
    format: list[str] = typer.Option([], "--format", "-f", help=formats.help_text()),
    site: str | None = typer.Option(None, "--site", help="Where the capture was taken, for the RTT bound: region code, city, country or lat,lon (default: the site the capture file records, from `tracecheck capture --site`, else the policy's)."),
    catalog: list[Path] = typer.Option([], "--catalog", help="Extra service catalog YAML (repeatable)."),
    rdap: bool = typer.Option(False, "--rdap", help="Also ask RDAP registries (uses the network; cached)."),
    sign_key: Path | None = typer.Option(None, "--sign-key", help="Ed25519 private key (PEM) to sign manifest.json; make one with `tracecheck keygen -o KEY`."),
    zeek: list[str] = typer.Option([], "--zeek", help="Judge Zeek logs instead of captures: a log directory, files or globs (TSV or JSON, rotated and .gz included), local or URLs that fsspec reads (s3://, gs://, file:// ...; its filesystem package installed); repeatable."),
    eve: list[str] = typer.Option([], "--eve", help="Judge Suricata eve.json files instead of captures (paths, globs or fsspec URLs); repeatable."),
    flows: list[str] = typer.Option([], "--flows", help="Judge a flow dataset (`tracecheck flows ... --format parquet --partitioned -o DIR`; a path or an fsspec URL) instead of captures."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Aggregate sensor logs on a dask.distributed cluster (tcp://HOST:PORT; its workers must read the same paths); default: locally, one file at a time (or threads, processes)."),
    force: bool = typer.Option(False, "--force", help="Write into --out DIR even though it holds files tracecheck did not write: files named as tracecheck's outputs are overwritten, nothing else is deleted, and `tracecheck verify` lists the rest as extra."),
) -> int:
    """Judge every destination of a test call against a residency policy and write the evidence.

    Exit 0 when nothing violates the policy, 1 when something does (or an unknown destination fails under `indeterminate: fail`, or nothing at all was judged), 2 for bad input."""
    sensor, logs, captures = _input_kind(list(captures or []), zeek, eve, flows)
    from tracecheck.ingest import digest

    digest.start(captures)  # hashed while the pipeline is imported (ingest/digest.py)
    try:
        from tracecheck.analyze import AnalyzeRequest

        request = AnalyzeRequest(captures=tuple(captures), sensor=sensor, logs=logs, scheduler=scheduler, db_dir=settings.db, policy=policy, out_dir=out,
                                 formats=tuple(part for item in format for part in item.split(",")), site=site,
                                 catalogs=tuple(catalog), rdap=rdap, sign_key=sign_key, force=force)
        return run_and_report(request)
    finally:
        digest.forget_started()


CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")


def _input_kind(given_paths: list[str], zeek: list[str], eve: list[str], flows: list[str]) -> tuple[str, tuple[str, ...], list[Path]]:
    """Which input the run judges: captures, or one kind of sensor logs.  After --zeek (--eve,
    --flows) the other paths given are more of them (a shell glob: ``--zeek logs/2026-12-0*``);
    a capture among them, or two kinds of logs, is a usage error.  Paths stay text until they are
    known to be captures: a URL (``s3://bucket/x``) would lose a slash as a Path."""
    paths = [Path(p) for p in given_paths]
    kinds = [(kind, given) for kind, given in (("zeek", zeek), ("eve", eve), ("flows", flows)) if given]
    if not kinds:
        return "", (), paths
    if len(kinds) > 1:
        raise UserError(f"give one kind of sensor logs, not {' and '.join('--' + k for k, _ in kinds)}: judge them in "
                        f"separate runs")
    kind, given = kinds[0]
    captures = [p for p in paths if str(p).lower().endswith(CAPTURE_SUFFIXES)]
    if captures:
        raise UserError(f"captures ({captures[0]}) and --{kind} logs cannot be judged in one run: give either "
                        f"capture files or sensor logs")
    return kind, tuple(given) + tuple(given_paths), []


def run_and_report(request) -> int:
    """Analyze, print what the user must read (capture warnings, notes, the vantage point, the
    destination table) and the summary line; the exit code is analyze's (CONTRACT.md)."""
    from tracecheck.analyze import analyze as run

    with reading_progress() as progress:
        result = run(request, progress)
    report_reading(result.reading)
    if request.force and not settings.quiet:
        _note_kept(result)
    if not settings.quiet:
        # The capture's own warnings were just printed; the rest weaken the evidence and are said once here.
        for warning in result.report.warnings[len(result.reading.warnings):]:
            print(f"tracecheck: note: {warning}", file=sys.stderr)
        _print_vantage_points(result.report)
        _print_table(result.report)
    typer.echo(summary_line(result))
    # Returned, not raised: main() exits with the command's return value (standalone_mode=False).
    return result.exit_code


def _print_vantage_points(report) -> None:
    """How each capture was taken, as its file says: one line each (text from the file, shown as text)."""
    from tracecheck.report.vantage import vantage_lines

    for line in vantage_lines(report):
        typer.echo(line)


def _note_kept(result) -> None:
    from tracecheck.report.writer import left_beside, some_names

    kept = left_beside(result.out_dir, result.files)
    if kept:
        one = len(kept) == 1
        print(f"tracecheck: note: --force kept {len(kept)} file{'' if one else 's'} tracecheck did not write in "
              f"{result.out_dir} ({some_names(kept)}); `tracecheck verify` reports {'it' if one else 'them'} as "
              f"extra: move {'it' if one else 'them'} out before handing the report over", file=sys.stderr)


def summary_line(result) -> str:
    """One line: the verdict sentence (report/verdict_line.py, shared with report.md and report.pdf)
    and where the evidence is."""
    from tracecheck.report.verdict_line import verdict_sentence

    return f"{verdict_sentence(result.report, result.default_policy)}; report in {result.out_dir}"


def _print_table(report) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tracecheck.report.model import Destination

    table = Table(show_lines=False, box=None, pad_edge=False)
    for column in ("destination", "name", "category", "place", "evidence", "verdict"):
        table.add_column(column, overflow="fold")
    local = 0
    rows = sorted(report.destinations, key=Destination.severity_key)
    summarised = len(rows) > grouping.SUMMARISE_ABOVE
    if summarised:  # as report.html: the violations and indeterminates (a few), then counts
        counts = Counter(d.verdict.value for d in rows)
        listed = [d for verdict in grouping.LISTED_VERDICTS
                  for d in [d for d in rows if d.verdict.value == verdict][:TERMINAL_ROWS]]
        rows = listed
    for destination in rows:
        if destination.basis == "local":
            local += 1  # never a violation: one line for all of them keeps the table short
            continue
        distinct = list(dict.fromkeys(n.name for n in destination.names))
        name = (distinct[0] + (f" (+{len(distinct) - 1})" if len(distinct) > 1 else "")) if distinct else "-"
        category = destination.category or "-"
        if destination.vendor:
            category = f"{category} ({destination.vendor})"
        verdict = destination.verdict.value
        shown = verdict.replace("_", " ") + (f" (exception {destination.exception})" if destination.exception else "")
        evidence = "-" if verdict == "not_assessed" else BASIS_LABEL.get(destination.basis, destination.basis)
        # Text, never str: names come from the capture and rich would read "[/]" or "[red]" as markup.
        where = destination.ip + (f" via {', '.join(destination.via)}" if destination.via else "")  # a TURN relay's peer
        table.add_row(Text(where), Text(name), Text(category), Text(_place(destination)),
                      Text(evidence), Text(shown, style=_VERDICT_STYLE[verdict]))
    if local:
        table.add_row(Text(f"+ {local} local"), "-", "-", "local network", Text(BASIS_LABEL["local"]),
                      Text("compliant", style=_VERDICT_STYLE["compliant"]))
    if summarised:
        left = {verdict: counts[verdict] - sum(1 for d in listed if d.verdict.value == verdict)
                for verdict in ("violation", "indeterminate", "compliant", "not_assessed")}
        for verdict, count in left.items():
            if count:
                table.add_row(Text(f"+ {count:,} more"), "-", "-", "-", "-",
                              Text(verdict.replace("_", " "), style=_VERDICT_STYLE[verdict]))
    if not table.row_count:
        return
    # Piped output is not folded at 80 columns: a CI log is read whole, one destination a line.
    Console(width=None if sys.stdout.isatty() else 240, highlight=False).print(table)
    if summarised:
        print(f"tracecheck: {len(report.destinations):,} destinations: {len(listed):,} listed above; report.html counts "
              f"them by place and provider, report.json and flows.csv list all", file=sys.stderr)


def _place(destination) -> str:
    """``aws eu-west-1 IE``, ``anycast``, or ``?`` when no source places the address."""
    where = destination.country or ("anycast" if destination.anycast else "?")
    return " ".join(part for part in (destination.provider, destination.region, where) if part)
