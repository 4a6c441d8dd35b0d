"""`tracecheck names`: every name seen for an address, and where it was seen."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tracecheck.cli.app import app
from tracecheck.cli.flows import report_reading
from tracecheck.cli.progress import reading_progress

COLUMNS = ("ts", "ip", "name", "source", "uid", "ttl", "client", "detail")
FORMATS = ("csv", "json", "parquet")


@app.command()
def names(
    captures: List[Path] = typer.Argument(..., help="pcap or pcapng files, optionally gzip-compressed."),
    format: str = typer.Option("csv", "--format", "-f", help="csv, json or parquet."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Output file (default: stdout)."),
) -> None:
    """Every (ts, ip, name, source, uid) the capture reveals: DNS answers, TLS/QUIC SNI, HTTP Host, SIP; and what servers claim for themselves (stun_realm, banner), which names who runs a server, not where."""
    from dataclasses import asdict

    from tracecheck.flows.pipeline import build_named_flows
    from tracecheck.report.tables import write_table

    if format not in FORMATS:
        raise typer.BadParameter(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}", param_hint="--format")
    with reading_progress() as progress:
        named = build_named_flows([str(p) for p in captures], progress=progress)
    write_table([asdict(n) for n in named.names], COLUMNS, format, output)
    report_reading(named.result)
