"""An uncompressed capture read through a memory map: no copies from the page cache.

Readers ask for blocks as they do of any stream (``read_block``), but a block here is a view
into the mapping, and a record cut at a block's end is not copied: the next block simply
starts where the last complete record ended.  Pages already decoded are dropped from the
process (``madvise``), so resident memory stays flat however large the file is.
"""

from __future__ import annotations

import mmap

import numpy as np

PAD = 256  # as records.PAD: zero bytes readers may touch past a frame's end
KEEP_BEHIND = 3  # blocks kept mapped behind the one being read


class MappedFile:
    def __init__(self, fileobj, digest=None) -> None:
        self.size = fileobj.seek(0, 2)
        fileobj.seek(0)
        self.map = mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ) if self.size else None
        self.view = memoryview(self.map) if self.map is not None else memoryview(b"")
        self.pos = 0          # where the next block starts (after read() or a block's end)
        self.hashed = 0       # bytes fed to the digest so far
        self.dropped = 0      # bytes released back to the page cache
        self.digest = digest
        self.error = None

    def read(self, size: int) -> bytes:
        data = bytes(self.view[self.pos: self.pos + size])
        self.pos += len(data)
        return data

    def read_block(self, carry, want: int) -> tuple[memoryview, bool]:
        """The unconsumed ``carry`` (a tail of the previous block) and up to ``want`` more."""
        start = self.pos - len(carry)
        end = min(self.pos + want, self.size)
        # Batches already handed out may still be in use (the flow stage runs a batch or two
        # behind the reader): release only what lies well behind them.
        self._release(start - KEEP_BEHIND * want)
        self._hash(end)
        self.pos = end
        if end + PAD <= self.size:
            data = np.frombuffer(self.map, dtype=np.uint8, count=end - start + PAD, offset=start)
        else:  # the file's last bytes: copy them into a padded array
            data = np.zeros(end - start + PAD, dtype=np.uint8)
            data[: end - start] = np.frombuffer(self.view[start:end], dtype=np.uint8)
        return memoryview(data)[: end - start], end >= self.size

    def finish_hash(self) -> None:
        self._hash(self.size)

    def _hash(self, upto: int) -> None:
        if self.digest is not None and upto > self.hashed:
            self.digest.update(self.view[self.hashed: upto])
            self.hashed = upto

    def _release(self, upto: int) -> None:
        page = mmap.PAGESIZE
        upto = (upto // page) * page
        if self.map is not None and upto - self.dropped >= 32 << 20 and hasattr(self.map, "madvise"):
            self.map.madvise(mmap.MADV_DONTNEED, self.dropped, upto - self.dropped)
            self.dropped = upto

    def close(self) -> None:
        self.view.release()
        if self.map is not None:
            try:
                self.map.close()
            except BufferError:  # a batch still holds a view: the mapping goes with it
                pass
