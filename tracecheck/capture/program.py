"""A capture program writing pcap to a pipe: what tcpdump and dumpcap have in common.

The program runs in its own session, so a Ctrl-C at the terminal reaches tracecheck only, and
tracecheck stops the program itself (SIGINT: the program prints its counters and exits) once it
has decided to.  Its stdout is read by a thread into the packet queue; its stderr by another,
into the counters and the last lines (for messages when it fails or ends by itself).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from abc import abstractmethod
from collections import deque

from tracecheck.capture.interface import END, Backend, CaptureError, Drops
from tracecheck.capture.pcap_stream import PcapStream, StreamError
from tracecheck.capture.privilege import advice, looks_like_privilege_error

FILTER_SIGNS = ("filter", "expression", "unknown port", "unknown host", "unknown network", "unknown protocol")
"""What tcpdump and dumpcap say about a filter they cannot compile."""
STOP_TIMEOUT = 5.0
"""Seconds a program gets to stop after SIGINT before SIGTERM, and as long again before SIGKILL."""
SETTLE_MARGIN_S = 0.2
"""Beyond the program's read timeout, for a loaded machine, before it is told to stop."""


class ProgramBackend(Backend):
    """A program started with ``command()``; subclasses read its counters from its stderr."""

    program: str = ""
    read_timeout_s: float = 0.0
    """How long libpcap may hold packets in the kernel's ring before handing them over (its
    ``to_ms``).  A program told to stop exits without reading what is still held there, so the
    last packets before Ctrl-C -- the end of the call -- would be lost: it is told to stop only
    once that long has passed."""

    def __init__(self, interface: str, capture_filter: str, snaplen: int, path: str) -> None:
        super().__init__(interface, capture_filter, snaplen)
        self.path = path
        self._process: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=50)
        self._counters = Drops()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._version = ""

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that captures ``self.interface`` to stdout as pcap."""

    @abstractmethod
    def counters_from(self, line: str, current: Drops) -> Drops:
        """The counters after one line of the program's stderr."""

    def start(self) -> None:
        self._process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, start_new_session=True)
        errors = threading.Thread(target=self._read_stderr, name=f"{self.program}-stderr", daemon=True)
        errors.start()
        self._threads.append(errors)
        try:
            stream = PcapStream(self._process.stdout)
        except StreamError as err:
            self._process.wait(timeout=STOP_TIMEOUT)
            errors.join(timeout=1)
            raise CaptureError(self._start_failure(str(err))) from None
        self.linktype = stream.linktype
        self.snaplen = stream.snaplen or self.snaplen
        reader = threading.Thread(target=self._read_packets, args=(stream,), name=f"{self.program}-packets",
                                  daemon=True)
        reader.start()
        self._threads.append(reader)

    def _start_failure(self, what: str) -> str:
        said = " ".join(line for line in self._stderr if not line.lower().startswith(("capturing on", "file:")))
        if looks_like_privilege_error(said):
            return advice(self.interface)
        if "no such device" in said.lower() or "doesn't exist" in said.lower() or "no such interface" in said.lower():
            return f"no interface named {self.interface} on this machine (list them with `tracecheck capture --list-interfaces`)"
        if self.capture_filter and any(sign in said.lower() for sign in FILTER_SIGNS):
            return f"the capture filter '{self.capture_filter}' is not valid BPF: {self.program} says: {said.strip()[:300]}"
        return f"{self.program} could not start capturing on {self.interface}: {said.strip()[:300] or what}"

    def _read_stderr(self) -> None:
        for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            self._stderr.append(line)
            with self._lock:
                self._counters = self.counters_from(line, self._counters)

    def _read_packets(self, stream: PcapStream) -> None:
        try:
            for record in stream.records():
                self.packets.put(record)
        except StreamError as err:
            self.ended_by_itself = str(err)
            self._signal(signal.SIGTERM)  # its output cannot be read any more: it must not run on
        finally:
            code = self._process.wait()
            if not self._stopping and self.ended_by_itself is None:
                last = next((line for line in reversed(self._stderr) if not _is_counter_line(line)), "")
                self.ended_by_itself = f"{self.program} stopped by itself (exit {code}){': ' + last if last else ''}"
            self.packets.put(END)

    def stop(self) -> None:
        self._stopping = True
        if self._process is not None and self._process.poll() is None:
            # Meanwhile the recorder goes on writing what arrives; packets after the stop are few.
            settle = threading.Timer(self.read_timeout_s + SETTLE_MARGIN_S, self._signal, args=(signal.SIGINT,))
            settle.daemon = True
            settle.start()

    def _signal(self, sig: int) -> None:
        try:
            self._process.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass

    def finish(self) -> None:
        if self._process is None:
            return
        try:
            self._process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for thread in self._threads:
            thread.join(timeout=2)

    def drops(self) -> Drops:
        with self._lock:
            return self._counters

    def describe(self) -> str:
        if not self._version:
            try:
                done = subprocess.run([self.path, "--version"], capture_output=True, timeout=5, check=False)
                lines = (done.stdout + done.stderr).decode("utf-8", "replace").splitlines()
                self._version = " ".join(lines[0].split()) if lines else self.program
                pcap = next((" ".join(line.split()) for line in lines if line.lower().startswith("libpcap")), "")
                if pcap and pcap not in self._version:
                    self._version += f" ({pcap})"
            except (OSError, subprocess.TimeoutExpired):
                self._version = self.program
        return self._version


def _is_counter_line(line: str) -> bool:
    lowered = line.lower()
    return "packets" in lowered and ("captured" in lowered or "dropped" in lowered or "received" in lowered)
