"""The fallback without tcpdump or dumpcap: scapy's AF_PACKET listening socket (Linux).

scapy opens the socket, binds it to the interface, sets promiscuous mode and attaches the BPF
filter (which scapy compiles with tcpdump or libpcap: without either, only an empty filter
works, and the message says so).  Frames are then read here with ``recvmsg``, so that each
keeps its kernel timestamp (SO_TIMESTAMPNS) and its direction: on a loopback interface every
frame is seen leaving and arriving, and, as libpcap does, only the arrival is kept.  The
kernel's drop counter is read with PACKET_STATISTICS (it resets on every read: summed here).
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import threading
import time
from pathlib import Path

from tracecheck.capture.interface import END, Backend, CaptureError, Drops
from tracecheck.capture.privilege import advice, process_can_capture

SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
RECEIVE_BUFFER = 16 << 20
ARPHRD_LINKTYPE = {1: 1, 772: 1, 65534: 101, 803: 127}
"""The interface's ARPHRD type (/sys/class/net/IF/type) -> the link type of the frames read:
Ethernet and loopback give Ethernet frames, a tun device raw IP, a monitor interface radiotap."""
VANISHED = {errno.ENETDOWN, errno.ENXIO, errno.ENODEV}


class ScapySniffer(Backend):
    name = "scapy"

    def __init__(self, interface: str, capture_filter: str, snaplen: int) -> None:
        super().__init__(interface, capture_filter, snaplen)
        self._socket = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._received = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._loopback = False

    def start(self) -> None:
        if not process_can_capture():
            raise CaptureError(advice(self.interface))
        kind = _arphrd(self.interface)
        if kind is None:
            raise CaptureError(f"no interface named {self.interface} on this machine "
                               "(list them with `tracecheck capture --list-interfaces`)")
        self._loopback = kind == 772
        self.linktype = ARPHRD_LINKTYPE.get(kind, 1)
        try:
            from scapy.all import conf  # noqa: PLC0415 -- heavy import, only for the fallback
        except ImportError:
            raise CaptureError("neither tcpdump nor dumpcap is installed, and the fallback needs scapy: "
                               "`pip install scapy`, or install tcpdump") from None
        try:
            self._socket = conf.L2listen(iface=self.interface, filter=self.capture_filter or None)
        except PermissionError:
            raise CaptureError(advice(self.interface)) from None
        except Exception as err:  # noqa: BLE001 -- scapy raises its own kinds for a filter it cannot compile
            if self.capture_filter:
                raise CaptureError(f"the capture filter '{self.capture_filter}' could not be used by scapy ({err}); "
                                   "scapy compiles filters with tcpdump or libpcap: install one, or capture "
                                   "without --filter") from None
            raise CaptureError(f"scapy could not open {self.interface}: {err}") from None
        raw = self._socket.ins
        raw.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        _grow_buffer(raw)
        self._read_drops()  # the counters reset on read: start from zero here
        with self._lock:
            self._received = self._dropped = 0
        self._thread = threading.Thread(target=self._read, name="scapy-packets", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        raw = self._socket.ins
        space = socket.CMSG_SPACE(16)
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([raw], [], [], 0.2)
                if not ready:
                    continue
                data, ancillary, _flags, address = raw.recvmsg(max(self.snaplen, 65535), space)
                if self._loopback and address[2] == PACKET_OUTGOING:
                    continue
                self.packets.put((_kernel_time(ancillary), data[: self.snaplen], len(data)))
        except OSError as err:
            if err.errno in VANISHED:
                self.ended_by_itself = f"the interface {self.interface} went away ({err.strerror})"
            else:
                self.ended_by_itself = f"reading from {self.interface} failed: {err.strerror or err}"
        finally:
            self._read_drops()
            self.packets.put(END)

    def _read_drops(self) -> None:
        try:
            received, dropped = struct.unpack("II", self._socket.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except (OSError, struct.error):
            return
        with self._lock:
            self._received += received
            self._dropped += dropped

    def refresh(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._read_drops()

    def stop(self) -> None:
        self._stop.set()

    def finish(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()

    def drops(self) -> Drops:
        with self._lock:
            return Drops(received=self._received, dropped_by_os=self._dropped)

    def describe(self) -> str:
        try:
            import scapy

            version = scapy.VERSION
        except (ImportError, AttributeError):
            version = "?"
        return f"scapy {version} L2ListenSocket (AF_PACKET)"


def _kernel_time(ancillary: list) -> int:
    """The frame's arrival time from SO_TIMESTAMPNS (a struct timespec), else now."""
    for level, kind, body in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(body) >= 16:
            seconds, nanoseconds = struct.unpack("qq", body[:16])
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()


def _grow_buffer(raw: socket.socket) -> None:
    """A receive buffer that absorbs a burst (the default ~200 kB drops one): forced past
    net.core.rmem_max where the process may (CAP_NET_ADMIN), else as large as allowed."""
    for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            raw.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            return
        except OSError:
            continue


def _arphrd(interface: str) -> int | None:
    try:
        return int(Path("/sys/class/net", interface, "type").read_text().strip())
    except (OSError, ValueError):
        return None if "/" in interface or interface not in {name for _, name in socket.if_nameindex()} else 1


BACKEND = ScapySniffer
