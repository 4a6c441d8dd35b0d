"""Read a pcap stream from a pipe as it is written (tcpdump ``-w -``, dumpcap ``-P -w -``).

A pipe hands over whatever bytes are there: a record may arrive in pieces, so bytes are kept
until a whole record is in.  Record lengths come from another program but are still checked:
a length beyond ``MAX_FRAME`` means the stream is not what it claims, and reading stops.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from tracecheck.ingest.records import MAX_FRAME

MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),      # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),         # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
HEADER = 24
RECORD = 16


class StreamError(Exception):
    """The stream is not a pcap stream, or breaks off inside its header."""


class PcapStream:
    """The header of a pcap stream, then its records."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        header = self._read_exactly(HEADER)
        if len(header) < HEADER:
            raise StreamError("the capture program wrote no pcap header" if not header else
                              f"the capture program's output broke off after {len(header)} bytes")
        if header[:4] not in MAGIC:
            raise StreamError(f"the capture program's output is not pcap (starts with {header[:4].hex()})")
        self._endian, self._ns_per_tick = MAGIC[header[:4]]
        _major, _minor, _zone, _sigfigs, self.snaplen, self.linktype = struct.unpack(
            self._endian + "HHiIII", header[4:])
        self.linktype &= 0x0FFFFFFF  # the upper bits carry FCS flags, not the link type
        self._record = struct.Struct(self._endian + "IIII")

    def _read_exactly(self, size: int) -> bytes:
        parts, got = [], 0
        while got < size:
            chunk = self._stream.read(size - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def records(self) -> Iterator[tuple[int, bytes, int]]:
        """``(timestamp ns, captured bytes, length on the wire)`` until the stream ends."""
        while True:
            head = self._read_exactly(RECORD)
            if len(head) < RECORD:
                return  # the program ended (between records, or mid-record when killed)
            seconds, fraction, caplen, wirelen = self._record.unpack(head)
            if caplen > MAX_FRAME:
                raise StreamError(f"a record claims {caplen} bytes: the stream is corrupt")
            data = self._read_exactly(caplen)
            if len(data) < caplen:
                return
            yield seconds * 1_000_000_000 + fraction * self._ns_per_tick, data, wirelen
