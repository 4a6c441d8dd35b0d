"""`tracecheck capture`: record a test call to a pcapng file that says where and how it was taken."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer

from tracecheck.cli.app import app, settings
from tracecheck.errors import UserError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1_000_000, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
MAX_NOTE = 1000


@app.command()
def capture(
    interface: str | None = typer.Option(None, "--interface", "-i", help="Interface to capture on (see --list-interfaces)."),
    capture_filter: str = typer.Option("", "--filter", "-f", help="BPF capture filter, as tcpdump takes it (default: every packet). Traffic it excludes is never seen: the file and the report say which filter was in force."),
    duration: float | None = typer.Option(None, "--duration", "-d", help="Stop after this many seconds (default: at Ctrl-C or SIGTERM)."),
    ring: str | None = typer.Option(None, "--ring", help="SIZE,N: move to a new file every SIZE (MB unless a k/M/G unit is given) and keep the newest N files, named OUT-00001.pcapng ..."),
    out: Path | None = typer.Option(None, "--out", "-o", help="The pcapng file to write (default: captures/<test call id>.pcapng). Never overwritten."),
    site: str | None = typer.Option(None, "--site", help="Where the capture is taken: region code, city, country or lat,lon. Recorded in the file; `analyze` uses it when not given --site."),
    note: str = typer.Option("", "--note", help="The operator's note, recorded in the file (which agent, which call flow, ticket)."),
    test_call_id: str | None = typer.Option(None, "--test-call-id", help="An id for this test call, recorded in the file (default: a new one)."),
    backend: str = typer.Option("auto", "--backend", help="auto (tcpdump, then dumpcap, then scapy's sniffer), tcpdump, dumpcap or scapy; also TRACECHECK_CAPTURE_BACKEND."),
    snaplen: int = typer.Option(262144, "--snaplen", help="Bytes kept of each packet (default: whole packets)."),
    list_interfaces: bool = typer.Option(False, "--list-interfaces", help="List the interfaces and exit."),
    analyze: bool = typer.Option(False, "--analyze", help="Run `tracecheck analyze` on the finished file; the exit code is then analyze's."),
    policy: Path | None = typer.Option(None, "--policy", "-p", help="With --analyze: the residency policy (default: the gdpr-eu template)."),
    report: Path | None = typer.Option(None, "--report", help="With --analyze: the report directory (default: reports/<capture name>)."),
    format: list[str] = typer.Option([], "--format", help="With --analyze: extra report formats, as analyze --format takes them."),
) -> int:
    """Record a test call: a pcapng file carrying its site, note, test-call id, host, interface,
    filter, start and stop times and kernel drops, ready for `tracecheck analyze`.

    Stops cleanly at Ctrl-C, SIGTERM, the --duration, a full disk or a vanished interface: the file is
    always valid and closed. Exit 0 when the capture ended as asked, 2 when it could not start or ended on
    its own (the file is still valid); with --analyze, analyze's exit code."""
    from tracecheck.capture.interface import DEFAULT_SNAPLEN
    from tracecheck.capture.live import LiveLine
    from tracecheck.capture.recorder import CaptureRequest, new_test_call_id, record

    if list_interfaces:
        _print_interfaces()
        return 0
    if not interface:
        raise UserError("capture needs --interface IF (list them with `tracecheck capture --list-interfaces`)")
    if not analyze and (policy is not None or report is not None or format):
        raise UserError("--policy, --report and --format go with --analyze")
    if duration is not None and duration <= 0:
        raise UserError(f"--duration must be a positive number of seconds, not {duration:g}")
    if not 0 < snaplen <= DEFAULT_SNAPLEN:
        raise UserError(f"--snaplen must be between 1 and {DEFAULT_SNAPLEN}")
    if len(note) > MAX_NOTE:
        raise UserError(f"--note is {len(note)} characters; keep it under {MAX_NOTE} (the ticket holds the rest)")
    if site:
        from tracecheck.policy.physics import parse_site

        parse_site(site)  # a site analyze cannot place would be recorded for nothing
    call_id = test_call_id or new_test_call_id()
    path = out if out is not None else Path("captures") / f"{call_id}.pcapng"
    ring_setting = _ring(ring) if ring else None
    _check_out(path, ring_setting is not None)
    analyze_request = None
    if analyze:
        from tracecheck.analyze import AnalyzeRequest, check

        analyze_request = AnalyzeRequest(captures=(path,), db_dir=settings.db, policy=policy, out_dir=report,
                                         formats=tuple(p for item in format for p in item.split(",")))
        check(analyze_request)  # a bad policy or report directory is said now, not after the call
    request = CaptureRequest(interface=interface, out=path, capture_filter=capture_filter, duration_s=duration,
                             ring=ring_setting, site=site or "", note=note, test_call_id=call_id, backend=backend,
                             snaplen=snaplen)
    result = record(request, LiveLine(quiet=settings.quiet))
    if not result.files:
        raise UserError("the capture wrote no file")
    if result.failed:
        files = " ".join(str(p) for p in result.files)
        raise UserError(f"the capture stopped on its own: {result.stopped_by}; {result.packets:,} packets are in "
                        f"{files}, a valid file (`tracecheck analyze {files}` reads it, if it holds the call)")
    if analyze_request is None:
        typer.echo(" ".join(str(p) for p in result.files))
        return 0
    from dataclasses import replace

    from tracecheck.cli.analyze import run_and_report

    return run_and_report(replace(analyze_request, captures=tuple(result.files)))


def _ring(text: str):
    from tracecheck.capture.recorder import Ring

    size, sep, count = text.partition(",")
    found = _SIZE.match(size)
    if not sep or not found or not count.strip().isdigit() or int(count) < 1:
        raise UserError(f"--ring '{text}': give SIZE,N, for example 100,10 (files of 100 MB, the newest 10 kept) or 1G,5")
    size_bytes = int(float(found.group(1)) * _UNITS[found.group(2).lower()])
    if size_bytes < 64_000:
        raise UserError(f"--ring '{text}': files of at least 64 kB")
    return Ring(size_bytes=size_bytes, files=int(count))


def _check_out(path: Path, ring: bool) -> None:
    from tracecheck.capture.recorder import ring_path

    if path.suffix != ".pcapng":
        raise UserError(f"--out {path}: the file is pcapng; name it .pcapng (for example captures/call.pcapng)")
    first = ring_path(path, 1) if ring else path
    try:
        if first.exists() or first.is_symlink():
            raise UserError(f"{first} exists; a capture never overwrites one: choose another --out")
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None


def _print_interfaces() -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tracecheck.capture.interfaces import list_interfaces

    table = Table(box=None, pad_edge=False)
    for column in ("interface", "kind", "state", "addresses"):
        table.add_column(column)
    for found in list_interfaces():
        table.add_row(Text(found.name), Text(found.kind), Text(found.state), Text(" ".join(found.addresses)))
    Console(width=None if sys.stdout.isatty() else 200, highlight=False).print(table)
