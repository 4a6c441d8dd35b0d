"""`tracecheck flows`: the flow table of one or more captures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from tracecheck.cli.app import app, settings
from tracecheck.cli.progress import reading_progress


def report_reading(result) -> None:
    """Warnings (truncation, corruption) and the record accounting, on stderr."""
    for warning in result.warnings:
        print(f"tracecheck: warning: {warning}", file=sys.stderr)
    if settings.quiet:
        return
    acc = result.accounting
    skipped = ", ".join(f"{reason} {n}" for reason, n in acc.skipped.items())
    print(f"tracecheck: {acc.records} records, {acc.decoded} decoded"
          + (f", skipped: {skipped}" if skipped else "") + f"; {len(result.flows)} flows", file=sys.stderr)


@app.command()
def flows(
    captures: List[Path] = typer.Argument(..., help="pcap or pcapng files, optionally gzip-compressed."),
    format: str = typer.Option("csv", "--format", "-f", help="csv, json or parquet."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Output file (default: stdout)."),
    partitioned: bool = typer.Option(False, "--partitioned", help="With --format parquet: write a hive-partitioned dataset into the directory -o DIR (by capture file and date), for `tracecheck analyze --flows DIR`."),
    names: bool = typer.Option(True, "--names/--no-names", help="Run the dissectors to fill server_name, name_source and app."),
) -> None:
    """The flow table: one row per bidirectional flow, columns as Zeek's conn.log."""
    from tracecheck.flows.pipeline import build_flows, build_named_flows
    from tracecheck.flows.table import COLUMNS
    from tracecheck.report.tables import FORMATS, write_table

    if format not in FORMATS:
        raise typer.BadParameter(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}", param_hint="--format")
    if partitioned and (format != "parquet" or not output):
        raise typer.BadParameter("--partitioned writes a Parquet dataset: give --format parquet and -o DIR",
                                 param_hint="--partitioned")
    with reading_progress() as progress:
        paths = [str(p) for p in captures]
        result = build_named_flows(paths, progress=progress).result if names else build_flows(paths, progress=progress)
    if partitioned:
        from tracecheck.sensors.flow_dataset import write_dataset

        write_dataset(result.flows.columns, output)
    else:
        write_table(result.flows.columns, COLUMNS, format, output)
    report_reading(result)
