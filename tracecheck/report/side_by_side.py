"""Report files written two at a time: the pages in a forked child, the data here.

Each format is rendered in Python, one at a time, while the machine's other core has nothing
left to do: for the 1M-packet corpus report.html takes 0.16 s, report.json and flows.csv 0.12 s
together.  Forked after judging, a child process has the report as this process has it, renders
the page formats (report.html, report.pdf: ``ReportFormat.page``) and writes their files while
this process writes the rest.  Each file is written atomically by whichever process renders it,
so the directory holds the same files as when one process writes them all.

Forking is for large reports only (a fork and its copied pages cost more than a small page
takes), on platforms that fork, with a second core, and only while this process runs no other
thread: a lock another thread held at the fork would stay held in the child forever.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tracecheck.errors import UserError

WORTH_A_FORK = 500
"""Destinations from which the pages are written in a child: at 200 the page takes 50 ms."""


def forking_pays(destinations: int) -> bool:
    """Whether a report of this many destinations has its pages written by a forked child."""
    return (destinations >= WORTH_A_FORK and hasattr(os, "fork") and (os.cpu_count() or 1) > 1
            and threading.active_count() == 1)


def write_side_by_side(formats: Sequence, write: Callable[[object], Path]) -> list[Path]:
    """``write`` each of ``formats`` (in their order), the page formats in a forked child; the
    paths in the order of ``formats``.  A child's failure is raised here as it would have been
    raised there: a ``UserError`` as one, anything else as a RuntimeError that names it."""
    pages = [fmt for fmt in formats if fmt.page]
    if not pages or len(pages) == len(formats):
        return [write(fmt) for fmt in formats]
    for fmt in pages:  # loaded here, where the formats left take less time than the pages
        fmt.prepare()
    child = _Child(pages, write)
    try:
        here = {fmt.name: write(fmt) for fmt in formats if fmt not in pages}
    finally:
        there = child.result()  # reaped whatever happened here
    if isinstance(there, BaseException):
        raise there
    return [here[fmt.name] if fmt.name in here else there[fmt.name] for fmt in formats]


class _Child:
    """The forked writer of ``pages``: what it wrote, or why it could not, comes back on a pipe."""

    def __init__(self, pages: Sequence, write: Callable[[object], Path]) -> None:
        reading, writing = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: write, say how it went, and leave without any cleanup of ours
            os.close(reading)
            code = 0
            try:
                said = {"paths": {fmt.name: str(write(fmt)) for fmt in pages}}
            except UserError as err:
                said, code = {"user_error": str(err)}, 1
            except BaseException as err:  # noqa: BLE001 - handed to the parent, raised there
                said, code = {"error": f"{type(err).__name__}: {err}"}, 1
            try:
                with os.fdopen(writing, "wb") as pipe:  # a file object writes it all, piece by piece
                    pipe.write(json.dumps(said).encode("utf-8"))
            finally:
                os._exit(code)
        os.close(writing)
        self._reading = reading
        self._names = [fmt.file_name for fmt in pages]

    def result(self) -> dict[str, Path] | BaseException:
        with os.fdopen(self._reading, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        try:
            said = json.loads(data) if data else {}
        except ValueError:
            said = {}
        if "paths" in said and os.waitstatus_to_exitcode(status) == 0:
            return {name: Path(path) for name, path in said["paths"].items()}
        if "user_error" in said:
            return UserError(said["user_error"])
        why = said.get("error") or f"it ended with status {os.waitstatus_to_exitcode(status)}"
        return RuntimeError(f"writing {', '.join(self._names)} failed in its own process: {why}")
