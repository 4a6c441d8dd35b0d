"""The live line on stderr: packets, bytes, elapsed time, drops -- rewritten in place on a terminal;
elsewhere (a pipe, a CI log) only the final line, so logs stay readable."""

from __future__ import annotations

import sys
from typing import TextIO

from tracecheck.capture.interface import Drops


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _drops(drops: Drops) -> str:
    known = drops.dropped_by_os is not None or drops.dropped_by_interface is not None
    return f"{drops.dropped:,} dropped" if known else "drops reported at the end"


class LiveLine:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = not quiet and self.stream.isatty()
        self._shown = False

    def _print(self, text: str, *, final: bool = False) -> None:
        if self.live:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def begin(self, interface: str, backend: str, path) -> None:
        if self.live:
            self._print(f"capturing on {interface} with {backend} into {path}; Ctrl-C stops", final=True)

    def update(self, packets: int, size: int, elapsed: float, drops: Drops) -> None:
        if self.live:
            self._print(f"{packets:,} packets  {_size(size)}  {_clock(elapsed)}  {_drops(drops)}")

    def end(self, result) -> None:
        if self.quiet:
            return
        files = ", ".join(str(p) for p in result.files)
        lost = "" if result.seen == result.packets else f" ({result.seen - result.packets:,} more seen but not written)"
        line = (f"tracecheck: captured {result.packets:,} packets{lost}, {_size(result.bytes)} in "
                f"{_clock(result.elapsed_s)}, {_drops(result.drops)}, with {result.backend}; "
                f"stopped: {result.stopped_by}; wrote {files}")
        self._print(line, final=True)
