"""Write a pcapng file that carries its own context, and stays valid whatever stops it.

Layout: a section header (the site, note, test-call id and host as ``tracecheck KEY: VALUE``
comments, the hardware, OS and writing program as options), one interface description (name,
link type, snap length, filter, nanosecond timestamps), the packets as enhanced packet blocks,
and at the end an interface statistics block (start and stop times, packets received, drops).

Each block is written whole, and the length of the file as of the last whole block is kept:
a write that fails (a full disk, a file size limit) is cut back to it, so the file always ends
on a block boundary and reads without a warning.  The statistics block is then attempted once:
it is small and the cut freed at least a partial block.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from tracecheck.ingest.pcapng_options import (
    CONTEXT_PREFIX, IF_FILTER, IF_NAME, IF_OS, IF_TSRESOL, ISB_ENDTIME, ISB_IFDROP, ISB_IFRECV, ISB_OSDROP,
    ISB_STARTTIME, OPT_COMMENT, SHB_HARDWARE, SHB_OS, SHB_USERAPPL,
)

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 1
INTERFACE_STATISTICS = 5
ENHANCED_PACKET = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
NANOSECONDS = 9
"""``if_tsresol`` 9: timestamps in nanoseconds, whatever resolution the capture program gave."""

OUT_OF_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class OutOfSpace(Exception):
    """The file cannot grow (disk full, quota, file size limit): it was cut back to its last whole block."""


@dataclass(frozen=True)
class FileContext:
    """What the section header and interface description say: written once, at the start."""

    site: str
    note: str
    test_call_id: str
    host: str
    os: str
    hardware: str
    application: str
    interface: str
    linktype: int
    snaplen: int
    filter: str


@dataclass(frozen=True)
class Statistics:
    """The interface statistics block: written last."""

    start_ns: int
    end_ns: int
    received: int | None
    dropped_by_os: int | None
    dropped_by_interface: int | None
    comment: str = ""
    """Why the capture (or this file of a ring) ended."""


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _text(code: int, value: str) -> bytes:
    return _option(code, value.encode("utf-8")) if value else b""


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _timestamp(ns: int) -> bytes:
    return struct.pack("<II", (ns >> 32) & 0xFFFFFFFF, ns & 0xFFFFFFFF)


def section_header(context: FileContext) -> bytes:
    options = b"".join(_text(OPT_COMMENT, f"{CONTEXT_PREFIX}{key}: {value}") for key, value in (
        ("site", context.site), ("note", context.note), ("test-call-id", context.test_call_id),
        ("host", context.host)) if value)
    options += _text(SHB_HARDWARE, context.hardware) + _text(SHB_OS, context.os)
    options += _text(SHB_USERAPPL, context.application)
    options += _option(0, b"") if options else b""
    # Section length -1: not known in advance (the file is written as packets arrive).
    return _block(SECTION_HEADER, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + options)


def interface_description(context: FileContext) -> bytes:
    options = _text(IF_NAME, context.interface)
    options += _option(IF_FILTER, b"\x00" + context.filter.encode("utf-8")) if context.filter else b""
    options += _text(IF_OS, context.os) + _option(IF_TSRESOL, bytes([NANOSECONDS])) + _option(0, b"")
    return _block(INTERFACE_DESCRIPTION, struct.pack("<HHI", context.linktype, 0, context.snaplen) + options)


def enhanced_packet(ts_ns: int, data: bytes, wirelen: int) -> bytes:
    body = struct.pack("<I", 0) + _timestamp(ts_ns) + struct.pack("<II", len(data), max(wirelen, len(data)))
    return _block(ENHANCED_PACKET, body + data + b"\x00" * (-len(data) % 4))


def interface_statistics(stats: Statistics) -> bytes:
    options = _option(ISB_STARTTIME, _timestamp(stats.start_ns)) + _option(ISB_ENDTIME, _timestamp(stats.end_ns))
    for code, value in ((ISB_IFRECV, stats.received), (ISB_IFDROP, stats.dropped_by_interface),
                        (ISB_OSDROP, stats.dropped_by_os)):
        if value is not None:
            options += _option(code, struct.pack("<Q", value))
    options += _text(OPT_COMMENT, stats.comment) + _option(0, b"")
    return _block(INTERFACE_STATISTICS, struct.pack("<I", 0) + _timestamp(stats.end_ns) + options)


def _wire_length(block: bytes) -> int:
    """An enhanced packet block's original length field."""
    return struct.unpack_from("<I", block, 24)[0]


FLUSH_BYTES = 1 << 18
"""Packets are written in batches of about this many bytes (and whenever the recorder flushes)."""


class PcapngWriter:
    """One pcapng file, written whole blocks at a time; ``size`` is always a block boundary on disk."""

    def __init__(self, path: Path, context: FileContext) -> None:
        self.path = path
        # Exclusive: a capture never replaces a file (the CLI refuses an existing --out first).
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.size = 0
        self.packets = 0
        """Packets on disk."""
        self.bytes = 0
        """Their bytes on the wire."""
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._pending_packets = 0
        self._pending_bytes = 0
        self._write(section_header(context) + interface_description(context))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                done = os.write(self._fd, view)
                view = view[done:]
        except OSError as err:
            # Cut back to the last whole block: the file must end where a block ends.
            os.ftruncate(self._fd, self.size)
            os.lseek(self._fd, self.size, os.SEEK_SET)  # else the next block would land past a hole
            if err.errno in OUT_OF_SPACE:
                raise OutOfSpace(os.strerror(err.errno)) from None
            raise
        self.size += len(data)

    @property
    def length(self) -> int:
        """Bytes the file will have once what is held back is written."""
        return self.size + self._pending_size

    def packet(self, ts_ns: int, data: bytes, wirelen: int) -> None:
        block = enhanced_packet(ts_ns, data, wirelen)
        self._pending.append(block)
        self._pending_size += len(block)
        self._pending_packets += 1
        self._pending_bytes += max(wirelen, len(data))
        if self._pending_size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the packets held back; on ``OutOfSpace`` they are lost and the file ends before them."""
        if not self._pending:
            return
        blocks, packets, wire = self._pending, self._pending_packets, self._pending_bytes
        self._pending, self._pending_size, self._pending_packets, self._pending_bytes = [], 0, 0, 0
        try:
            self._write(b"".join(blocks))
        except OutOfSpace:
            # The batch did not fit: keep as many of its packets as do, one block at a time.
            for block in blocks:
                self._write(block)
                self.packets += 1
                self.bytes += _wire_length(block)
            raise
        self.packets += packets
        self.bytes += wire

    def close(self, stats: Statistics | None) -> bool:
        """Write what is held back and the statistics block (when given), and close; False when the
        disk had no room for all of it (the file then ends at its last whole block)."""
        written = True
        try:
            self.flush()
        except OutOfSpace:
            written = False
        try:
            if stats is not None:
                self._write(interface_statistics(stats))
        except OutOfSpace:
            written = False
        finally:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
        return written
