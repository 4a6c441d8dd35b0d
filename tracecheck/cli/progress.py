"""Progress on stderr for long reads: only on a terminal, never with --quiet."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from tracecheck.cli.app import settings


@contextmanager
def reading_progress():
    """Yields a ``progress(path, done_bytes, total_bytes)`` callback, or None when silent."""
    if settings.quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    # Drawn at each update, not by rich's refresh thread: updates come every block (32 MiB), and
    # with no thread of ours running a large report's pages can be written by a forked process
    # (report/side_by_side.py).
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, auto_refresh=False) as bar:
        tasks: dict[str, int] = {}

        def update(path: str, done: int, total: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(f"reading {path}", total=total or None)
            bar.update(tasks[path], completed=done, refresh=True)

        yield update
