"""What a capture backend is: something that hands over packets from one interface until told to stop.

One module per backend: ``tcpdump.py`` and ``dumpcap.py`` (a program writing pcap to a pipe,
``program.py``), ``sniffer.py`` (scapy's AF_PACKET socket, the fallback from the package index).
The recorder (``recorder.py``) writes the file, shows the live line and decides when to stop;
a backend only captures.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from tracecheck.errors import UserError

DEFAULT_SNAPLEN = 262144
"""Whole packets: tcpdump's and dumpcap's own default."""


class CaptureError(UserError):
    """The capture could not start (no such interface, a bad filter, no privilege): exit 2."""


@dataclass(frozen=True)
class Drops:
    """The capture's own counters, as the kernel (through the backend) reports them."""

    received: int | None = None
    """Packets that reached the capture (passed the filter), dropped or not."""
    dropped_by_os: int | None = None
    """Dropped by the kernel before the backend read them (its buffer was full)."""
    dropped_by_interface: int | None = None
    """Dropped by the interface or its driver."""

    @property
    def dropped(self) -> int:
        return (self.dropped_by_os or 0) + (self.dropped_by_interface or 0)


QUEUE_PACKETS = 10_000
"""Packets held between the backend and the writer (a tenth of a second at 100,000 packets/s)."""

END = None
"""Put on the packet queue when the backend has nothing more to give."""


class Backend(ABC):
    """One way to capture.  ``start`` returns once capturing has begun (or raises
    ``CaptureError``); packets then arrive on ``packets`` as ``(ts_ns, data, wirelen)``, and
    ``END`` after the last one, whether ``stop`` asked for it or the capture ended by itself."""

    name: ClassVar[str]
    """``tcpdump``, ``dumpcap``, ``scapy``: what ``--backend`` takes and the report names."""

    def __init__(self, interface: str, capture_filter: str, snaplen: int) -> None:
        self.interface = interface
        self.capture_filter = capture_filter
        self.snaplen = snaplen
        # Bounded: when the disk is slower than the network, the backend waits, the kernel's buffer
        # fills and its drops are counted -- memory does not grow with the backlog.
        self.packets: queue.Queue = queue.Queue(maxsize=QUEUE_PACKETS)
        self.linktype = 1
        self.ended_by_itself: str | None = None
        """Why the capture ended without being asked (the interface vanished ...), in one line."""

    @abstractmethod
    def start(self) -> None:
        """Begin capturing; ``CaptureError`` when that is impossible, saying what to do."""

    @abstractmethod
    def stop(self) -> None:
        """Ask the capture to end; ``END`` follows the last packet."""

    @abstractmethod
    def drops(self) -> Drops:
        """The counters as last known (final once ``END`` has arrived and ``finish`` returned)."""

    def refresh(self) -> None:
        """Ask for fresh counters (called about once a second for the live line); most need nothing."""

    def finish(self) -> None:
        """Wait for the backend to be done after ``END`` (collect final counters)."""

    @abstractmethod
    def describe(self) -> str:
        """What ran, for the file's ``shb_userappl`` and the user: ``tcpdump 4.99.3 (libpcap 1.10.3)``."""
