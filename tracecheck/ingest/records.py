"""Packet records as the file readers hand them on: batches of raw frames, not yet decoded.

A reader walks its file once, in blocks, and yields ``RecordBatch`` values: the block's bytes
plus one entry per record (where its frame starts, how much was captured, how long it was on
the wire, when, and on which link type).  Decoding happens later, in bulk, over a whole batch.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tracecheck.ingest.pcapng_options import ContextReader

# Largest frame we accept from a record header.  Real snap lengths top out at 256 KiB
# (TSO/GRO super-frames reach 64 KiB); anything beyond is a corrupt header, and trusting it
# would make us allocate whatever a hostile file claims.
MAX_FRAME = 1 << 20

# How much of a file a reader takes at once: big enough that per-block overhead vanishes,
# small enough that memory stays flat whatever the file's size.
BLOCK_SIZE = 32 << 20


@dataclass
class RecordBatch:
    """Consecutive records of one file."""

    data: np.ndarray
    """The bytes the frames live in (uint8), padded so short reads past a frame stay in bounds."""
    offset: np.ndarray
    """Where each frame starts in ``data`` (int64)."""
    caplen: np.ndarray
    """Bytes captured (int64)."""
    wirelen: np.ndarray
    """Bytes on the wire (int64)."""
    ts_ns: np.ndarray
    """Timestamp, nanoseconds since the epoch (int64)."""
    linktype: np.ndarray
    """Link type of the record's interface (int64)."""
    first_record: int
    """Record number (0-based, across the whole run) of the first record here."""

    def __len__(self) -> int:
        return len(self.offset)

    def take(self, rows: np.ndarray) -> "RecordBatch":
        """Some of the records, over the same bytes, numbered from 0."""
        return RecordBatch(data=self.data, offset=self.offset[rows], caplen=self.caplen[rows], wirelen=self.wirelen[rows],
                           ts_ns=self.ts_ns[rows], linktype=self.linktype[rows], first_record=0)


MAX_TS_NS = 1 << 62

# Zero bytes after a batch's frames: field reads a little past a short frame stay inside the array.
PAD = 256


def make_batch(block: memoryview, offsets, caplens, wirelens, ts_ns, linktypes, first_record: int) -> RecordBatch:
    """A batch over ``block`` as ``BlockRead`` read it: its padded store, no copy."""
    data = block.obj if isinstance(block, memoryview) else None
    if not (isinstance(data, np.ndarray) and len(data) >= len(block) + PAD):
        data = np.zeros(len(block) + PAD, dtype=np.uint8)
        data[: len(block)] = np.frombuffer(block, dtype=np.uint8)
    return RecordBatch(
        data=data,
        offset=np.asarray(offsets, dtype=np.int64),
        caplen=np.asarray(caplens, dtype=np.int64),
        wirelen=np.asarray(wirelens, dtype=np.int64),
        # Corrupt timestamps (pcapng ticks are 64 bits) are held to 1970..2116, so differences
        # of two of them never overflow int64.
        ts_ns=np.clip(np.asarray(ts_ns, dtype=np.int64), 0, MAX_TS_NS),
        linktype=np.asarray(linktypes, dtype=np.int64),
        first_record=first_record,
    )


@dataclass
class ReadStats:
    """What a reader met besides packets: kept so nothing is lost silently."""

    records: int = 0
    """Records found (packets handed on plus records that could not be)."""
    skipped: Counter = field(default_factory=Counter)
    """Records not handed on, by reason."""
    notes: Counter = field(default_factory=Counter)
    """Non-packet blocks skipped and other facts that lose no record."""
    warnings: list[str] = field(default_factory=list)
    """One line each, for stderr: truncation, corruption."""
    linktypes: list[int] = field(default_factory=list)
    """Link types in order of first appearance."""
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    context: ContextReader = field(default_factory=lambda: ContextReader())
    """What a pcapng file says of how it was captured (its SHB, IDB and ISB options)."""

    def saw_linktype(self, linktype: int) -> None:
        if linktype not in self.linktypes:
            self.linktypes.append(linktype)

    def saw_times(self, ts_ns: np.ndarray) -> None:
        if len(ts_ns):
            lo, hi = int(ts_ns.min()), int(ts_ns.max())
            self.first_ts_ns = lo if self.first_ts_ns is None else min(self.first_ts_ns, lo)
            self.last_ts_ns = hi if self.last_ts_ns is None else max(self.last_ts_ns, hi)


class BlockPool:
    """The arrays a reader reads its blocks into, used again once nothing refers to them.

    A fresh 32 MiB array is memory the kernel must hand over page by page, each page zeroed
    first: for a 677 MB capture that zeroing took 0.28 s of the reading thread, more than
    walking the records.  A block's array is free again when its batch, its packets and every
    view of it are gone: then the pool's reference is the only one left (``sys.getrefcount``),
    whoever held the others.  A few blocks are in flight at once (one being read, one waiting,
    one being aggregated), so a few arrays are kept; past that a block gets a fresh one.

    The walks' output arrays (``walk.capacity``) come from a pool of their own, whose ``least``
    is their size for the largest block: sized for the smallest records, they are mostly
    untouched, but a fresh one would still cost its first pages, zeroed, at every block."""

    KEEP = 4

    def __init__(self, least: int | None = None) -> None:
        self._arrays: list[np.ndarray] = []
        self._least = BLOCK_SIZE + 2 * MAX_FRAME if least is None else least

    def array(self, size: int) -> np.ndarray:
        """An uninitialised uint8 array of ``size`` bytes that nothing else refers to."""
        for index in range(len(self._arrays)):
            # Two references: the list's, and getrefcount's argument.
            if len(self._arrays[index]) >= size and sys.getrefcount(self._arrays[index]) == 2:
                return self._arrays[index][:size]
        array = np.empty(max(size, self._least), dtype=np.uint8)
        if len(self._arrays) < self.KEEP:
            self._arrays.append(array)
        return array[:size]


CHUNK = 2 << 20
"""Bytes read at a time into a block, each walked as soon as it is read, while in the cache: a
32 MiB block read whole and then walked is walked from memory, a stall at every record (142 ns a
record, where a chunk at a time takes 17), and the one large read is slower too."""


class BlockRead:
    """A block being read: the unconsumed tail of the previous block (``carry``), then up to
    ``want`` fresh bytes a chunk (``CHUNK``) at a time, straight into a zero-padded NumPy array
    (the batch's storage; from ``pool`` if given).  ``data`` is what has been read so far."""

    def __init__(self, stream, carry, want: int = BLOCK_SIZE, pool: BlockPool | None = None) -> None:
        kept = len(carry)
        self.end = kept + want
        self.store = pool.array(self.end + PAD) if pool is not None else np.empty(self.end + PAD, dtype=np.uint8)
        self.store[:kept] = np.frombuffer(carry, dtype=np.uint8) if kept else self.store[:0]
        self.store[kept:kept + PAD] = 0
        self.size = kept
        self.eof = False
        """The stream ended (a read gave less than asked)."""
        self._stream, self._view = stream, memoryview(self.store)

    def read_chunk(self) -> bool:
        """Read the next chunk; False, reading nothing, once the block is full or the stream ended."""
        if self.eof or self.size == self.end:
            return False
        asked = min(CHUNK, self.end - self.size)
        got = self._stream.readinto(self._view[self.size:self.size + asked])
        self.size += got
        self.store[self.size:self.size + PAD] = 0
        self.eof = got < asked
        return True

    @property
    def data(self) -> memoryview:
        return self._view[:self.size]