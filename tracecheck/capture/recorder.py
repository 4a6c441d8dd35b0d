"""Record one test call: pick a backend, write the pcapng file(s), show the live line, stop cleanly.

Whatever ends the capture -- Ctrl-C (SIGINT), SIGTERM, the duration, a full disk, the interface
going away -- the same path runs: the backend is asked to stop, the packets it still holds are
written, the interface statistics block (start and stop times, drops) closes the file, and the
file ends on a whole block.  With ``--ring SIZE,N`` the capture moves to a new file when one
reaches SIZE, each file complete with its own header and statistics, and only the newest N kept.
"""

from __future__ import annotations

import os
import platform
import queue
import shutil
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tracecheck import __version__
from tracecheck.capture.interface import DEFAULT_SNAPLEN, END, Backend, CaptureError, Drops
from tracecheck.capture.live import LiveLine
from tracecheck.capture.pcapng_writer import FileContext, OutOfSpace, PcapngWriter, Statistics
from tracecheck.capture.privilege import advice, process_can_capture, program_can_capture

BACKENDS = ("tcpdump", "dumpcap", "scapy")
"""``--backend auto`` tries them in this order: the first that is installed and may capture."""
BACKEND_ENV = "TRACECHECK_CAPTURE_BACKEND"


@dataclass(frozen=True)
class Ring:
    """``--ring SIZE,N``: files of at most ``size_bytes``, the newest ``files`` of them kept."""

    size_bytes: int
    files: int


@dataclass(frozen=True)
class CaptureRequest:
    """Everything ``record`` needs, resolved and checked by the CLI."""

    interface: str
    out: Path
    capture_filter: str = ""
    duration_s: float | None = None
    ring: Ring | None = None
    site: str = ""
    note: str = ""
    test_call_id: str = ""
    backend: str = "auto"
    snaplen: int = DEFAULT_SNAPLEN


@dataclass
class CaptureResult:
    files: list[Path]
    """The files kept, oldest first."""
    backend: str
    """``tcpdump``, ``dumpcap`` or ``scapy``."""
    application: str
    """What captured, as the file's ``shb_userappl`` names it, with versions."""
    packets: int = 0
    """Packets written to the files."""
    bytes: int = 0
    seen: int = 0
    """Packets the backend handed over (more than ``packets`` when the disk filled up)."""
    elapsed_s: float = 0.0
    drops: Drops = field(default_factory=Drops)
    stopped_by: str = ""
    """Why it stopped, in words: ``Ctrl-C``, ``the duration (60 s) ended``, ``the disk is full ...``."""
    failed: bool = False
    """It stopped on its own (disk full, interface gone): the file is valid but may not hold the whole call."""


def new_test_call_id() -> str:
    return f"tc-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def choose_backend(request: CaptureRequest) -> Backend:
    """The backend asked for, or the first of ``BACKENDS`` that is installed and may capture;
    ``CaptureError`` saying what to do when none may."""
    from tracecheck.capture import dumpcap, sniffer, tcpdump

    wanted = (os.environ.get(BACKEND_ENV, "").strip() or request.backend).lower()
    if wanted not in ("auto", *BACKENDS):
        raise CaptureError(f"unknown capture backend '{wanted}': use auto, {', '.join(BACKENDS)}")
    programs = {"tcpdump": tcpdump.BACKEND, "dumpcap": dumpcap.BACKEND}
    arguments = (request.interface, request.capture_filter, request.snaplen)
    if wanted == "scapy":
        return sniffer.BACKEND(*arguments)
    if wanted in programs:
        path = shutil.which(wanted)
        if path is None:
            raise CaptureError(f"{wanted} is not installed (or not on PATH); use --backend auto")
        return programs[wanted](*arguments, path=path)
    installed = [(name, path) for name in programs if (path := shutil.which(name))]
    for name, path in installed:
        if program_can_capture(path):
            return programs[name](*arguments, path=path)
    if process_can_capture() or not installed:
        return sniffer.BACKEND(*arguments)
    raise CaptureError(advice(request.interface))


def _context(request: CaptureRequest, backend: Backend) -> FileContext:
    uname = platform.uname()
    return FileContext(site=request.site, note=request.note, test_call_id=request.test_call_id,
                       host=socket.gethostname(), os=f"{uname.system} {uname.release}".strip(),
                       hardware=uname.machine, application=f"tracecheck {__version__} ({backend.describe()})",
                       interface=request.interface, linktype=backend.linktype, snaplen=backend.snaplen,
                       filter=request.capture_filter)


def ring_path(out: Path, number: int) -> Path:
    """``captures/call.pcapng`` -> ``captures/call-00001.pcapng``."""
    return out.with_name(f"{out.stem}-{number:05d}{out.suffix}")


class _Stop:
    """The first reason to stop wins; signals only set it (the loop does the work)."""

    def __init__(self) -> None:
        self.reason = ""
        self.failed = False

    def set(self, reason: str, failed: bool = False) -> None:
        if not self.reason:
            self.reason, self.failed = reason, failed

    def __bool__(self) -> bool:
        return bool(self.reason)


def record(request: CaptureRequest, live: LiveLine) -> CaptureResult:
    backend = choose_backend(request)
    stop = _Stop()
    names = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
    if hasattr(signal, "SIGHUP"):
        names[signal.SIGHUP] = "SIGHUP (the terminal closed)"
    previous = {sig: signal.signal(sig, lambda number, _frame: stop.set(names[number])) for sig in names}
    # A file size limit (ulimit -f) must fail the write (EFBIG), not kill the process mid-block.
    previous_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN) if hasattr(signal, "SIGXFSZ") else None
    try:
        return _record(request, backend, stop, live)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if previous_xfsz is not None:
            signal.signal(signal.SIGXFSZ, previous_xfsz)


def _record(request: CaptureRequest, backend: Backend, stop: _Stop, live: LiveLine) -> CaptureResult:
    start_ns = time.time_ns()  # before the backend starts: no packet is older than the start
    backend.start()
    recording = _Recording(request, backend, stop, start_ns)
    live.begin(request.interface, backend.name, recording.path)
    began = last_tick = last_refresh = time.monotonic()
    asked_at: float | None = None
    try:
        while True:
            if stop and asked_at is None:
                backend.stop()
                asked_at = time.monotonic()
            batch: list = []
            try:
                batch.append(backend.packets.get(timeout=0.2))
                while batch[-1] is not END and len(batch) < DRAIN:
                    batch.append(backend.packets.get_nowait())
            except queue.Empty:
                pass
            if recording.take(batch):
                break
            now = time.monotonic()
            if now - last_tick >= 0.25:
                last_tick = now
                recording.flush()
                if now - last_refresh >= 1.0:
                    last_refresh = now
                    backend.refresh()
                live.update(recording.seen, recording.wire_bytes, now - began, backend.drops())
            if request.duration_s is not None and now - began >= request.duration_s:
                stop.set(f"the duration ({request.duration_s:g} s) ended")
            if asked_at is not None and now - asked_at > STOP_PATIENCE:
                stop.set(f"{backend.name} did not stop when asked; it was ended", failed=True)
                break
    finally:
        if asked_at is None:
            backend.stop()
        backend.finish()
    if backend.ended_by_itself:
        stop.set(backend.ended_by_itself, failed=True)
    result = recording.close(backend.drops())
    live.end(result)
    return result


DRAIN = 4096
"""Packets taken off the queue at once: one wait per batch, not per packet."""
STOP_PATIENCE = 15.0
"""Seconds to wait for the backend's last packet once asked to stop (it escalates to SIGKILL meanwhile)."""


class _Recording:
    """The files being written: the current one, a ring's rotation, and what a full disk does."""

    def __init__(self, request: CaptureRequest, backend: Backend, stop: _Stop, start_ns: int) -> None:
        self.request, self.backend, self.stop = request, backend, stop
        self.context = _context(request, backend)
        self.result = CaptureResult(files=[], backend=backend.name, application=self.context.application)
        self.start_ns = self.file_start_ns = start_ns
        self.file_counters = Drops(received=0, dropped_by_os=0, dropped_by_interface=0)
        self.number = 1
        self.seen = self.wire_bytes = 0
        self.written = _Written()
        self.writer: PcapngWriter | None = None
        try:
            self._open()
        except OSError as err:
            backend.stop()
            backend.finish()
            raise CaptureError(f"cannot write {self.path}: {err.strerror or err}") from None

    @property
    def path(self) -> Path:
        return ring_path(self.request.out, self.number) if self.request.ring else self.request.out

    def _open(self) -> None:
        self.writer = PcapngWriter(self.path, self.context)
        self.result.files.append(self.path)
        while self.request.ring and len(self.result.files) > self.request.ring.files:
            self.result.files.pop(0).unlink(missing_ok=True)

    def take(self, batch: list) -> bool:
        """Write a batch of packets; True when the backend's ``END`` was in it."""
        for item in batch:
            if item is END:
                return True
            ts_ns, data, wirelen = item
            self.seen += 1
            self.wire_bytes += max(wirelen, len(data))
            if self.writer is None:
                continue  # the disk is full: the rest is counted, not kept
            try:
                self.writer.packet(ts_ns, data, wirelen)
                ring = self.request.ring
                if ring and self.writer.length >= ring.size_bytes:
                    self._rotate(ts_ns)
            except OutOfSpace as err:
                self._disk_full(err)
        return False

    def _rotate(self, ts_ns: int) -> None:
        counters = self.backend.drops()
        self._close_writer(_statistics(self.file_start_ns, max(ts_ns, time.time_ns()), counters, self.file_counters,
                                       comment=f"file {self.number} of a ring; the capture went on in the next"))
        # The next file starts at this packet: the ones queued behind it are no older.
        self.file_start_ns, self.file_counters = ts_ns, counters
        self.number += 1
        self._open()

    def flush(self) -> None:
        if self.writer is not None:
            try:
                self.writer.flush()
            except OutOfSpace as err:
                self._disk_full(err)

    def _disk_full(self, err: OutOfSpace) -> None:
        self._close_writer(None)
        self.stop.set(f"the disk is full ({err}); the file ends with the last packet that fit", failed=True)

    def _close_writer(self, stats: Statistics | None) -> bool:
        kept = self.writer.close(stats)
        self.written += (self.writer.packets, self.writer.bytes)
        self.writer = None
        return kept

    def close(self, counters: Drops) -> CaptureResult:
        end_ns = time.time_ns()
        if self.writer is not None:
            stats = _statistics(self.file_start_ns, end_ns, counters, self.file_counters,
                                comment=f"stopped: {self.stop.reason or 'the capture ended'}")
            if not self._close_writer(stats):
                self.stop.set("the disk is full; the file ends with the last packet that fit", failed=True)
        result = self.result
        result.packets, result.bytes, result.seen = self.written.packets, self.written.bytes, self.seen
        result.drops, result.elapsed_s = counters, (end_ns - self.start_ns) / 1e9
        result.stopped_by, result.failed = self.stop.reason or "the capture ended", self.stop.failed
        return result


class _Written:
    """Packets and bytes on disk, over every file of the capture (a ring's deleted ones too)."""

    def __init__(self) -> None:
        self.packets = self.bytes = 0

    def __iadd__(self, counts: tuple[int, int]) -> "_Written":
        self.packets += counts[0]
        self.bytes += counts[1]
        return self


def _statistics(start_ns: int, end_ns: int, now: Drops, before: Drops, comment: str = "") -> Statistics:
    """One file's interface statistics: the counters' growth while it was written."""
    def grown(key: str) -> int | None:
        value, earlier = getattr(now, key), getattr(before, key)
        return None if value is None else max(0, value - (earlier or 0))

    return Statistics(start_ns=start_ns, end_ns=end_ns, received=grown("received"),
                      dropped_by_os=grown("dropped_by_os"), dropped_by_interface=grown("dropped_by_interface"),
                      comment=comment)
