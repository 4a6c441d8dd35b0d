"""Open a capture file whatever it is: recognised by its magic bytes, never by its name.

pcap (four variants), pcapng, and either of them gzip-compressed.  Read errors inside a
compressed stream end the file with a warning, as a truncated file does: what could be read
is kept.

Files are read into private buffers, never memory-mapped: a mapped file that shrinks while it
is read (a ring buffer rotated, a capture rewritten) faults on the pages past its new end, a
SIGBUS no Python code can catch.  A read of a shrunk file just ends early, and is said.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import queue
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO, Iterator

from tracecheck.errors import UserError
from tracecheck.ingest import pcap, pcapng
from tracecheck.ingest.records import ReadStats, RecordBatch


class _HashingReader:
    """Passes reads through, hashing the bytes as they go by (the file as stored).

    With ``background`` the hashing runs on a thread of its own (hashlib lets go of the GIL), so
    a large file is hashed while it is decoded instead of before: SHA-256 of a 677 MB capture
    is about half a second of one core.  The thread hashes the caller's buffer itself (a copy
    costs as much as it saves), so a buffer given to ``readinto`` must never be written again:
    ``records.read_block`` reads into a fresh array each time and makes it read-only."""

    def __init__(self, raw: BinaryIO, digest, background: bool = False) -> None:
        self.raw, self.digest = raw, digest
        self._hasher = _BackgroundDigest(digest) if digest is not None and background else None
        self._update = self._hasher.update if self._hasher else (digest.update if digest is not None else None)

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        if self._update is not None and chunk:
            self._update(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        if self._update is not None and count:
            self._update(memoryview(buffer)[:count])
        return count

    def readable(self) -> bool:
        return True

    def finish(self) -> str:
        """Hash whatever the reader did not consume (a corrupt tail still counts); the hex digest."""
        if self.digest is None:
            return ""
        while self.read(1 << 20):
            pass
        if self._hasher is not None:
            self._hasher.wait()
        return self.digest.hexdigest()

    def close(self) -> None:
        if self._hasher is not None:
            self._hasher.wait()


class _BackgroundDigest:
    """Feeds a digest on a thread, in the order the chunks came; a few chunks at most wait."""

    def __init__(self, digest) -> None:
        self.digest = digest
        self._chunks: queue.Queue = queue.Queue(maxsize=2)
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="tracecheck-sha256", daemon=True)
        self._thread.start()

    def update(self, chunk: bytes) -> None:
        if self._ended:  # read on after the digest was asked for: in line
            self.digest.update(chunk)
        else:
            self._chunks.put(chunk)

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self.digest.update(chunk)

    def wait(self) -> None:
        """Every chunk given so far is in the digest (and the thread has ended)."""
        if not self._ended:
            self._ended = True
            self._chunks.put(None)
            self._thread.join()


class _TolerantReader:
    """Reads that end quietly on a damaged compressed stream, keeping a note of why."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.error: str | None = None

    def read(self, size: int = -1) -> bytes:
        if self.error:
            return b""
        parts, got = [], 0
        # read1 where there is one (GzipFile): a read(n) that fails part-way drops all it had
        # decompressed, so a cut-short .gz would lose up to a whole block.
        read = getattr(self.inner, "read1", self.inner.read)
        while size < 0 or got < size:
            try:
                chunk = read(size - got if size >= 0 else -1)
            except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as err:
                self.error = f"compressed stream is damaged or cut short ({err or type(err).__name__})"
                break
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
            if size < 0:
                break
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` unless the stream ends (or breaks) first; bytes read are kept."""
        if self.error:
            return 0
        view = memoryview(buffer).cast("B")
        fill = getattr(self.inner, "readinto1", self.inner.readinto)
        got = 0
        while got < len(view):
            try:
                count = fill(view[got:])
            except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as err:
                self.error = f"compressed stream is damaged or cut short ({err or type(err).__name__})"
                break
            if not count:
                break
            got += count
        return got


@dataclass
class OpenCapture:
    """A capture file being read."""

    path: str
    format: str
    stats: ReadStats = field(default_factory=ReadStats)
    _raw: BinaryIO | None = None
    _hashing: _HashingReader | None = None
    _stream: _TolerantReader | None = None
    _watch: tuple = ()
    _size_at_open: int | None = None  # None: not a regular file (a pipe), or compressed

    def batches(self, first_record: int = 0) -> Iterator[RecordBatch]:
        if self.format.startswith("pcapng"):
            yield from pcapng.read_pcapng(self._stream, self.stats, first_record)
        else:
            yield from pcap.read_pcap(self._stream, self.stats, first_record)
        for reader in (self._stream, *self._watch):
            if reader.error:
                self.stats.warnings.append(reader.error)
        if self._size_at_open is not None:
            read = self.position()
            if read < self._size_at_open:
                self.stats.warnings.append(
                    f"the file shrank while it was read ({self._size_at_open} bytes when opened, {read} "
                    "there to read): it was cut or rewritten meanwhile; what could be read is kept")
            elif read > self._size_at_open:
                self.stats.warnings.append(
                    f"the file grew while it was read ({self._size_at_open} bytes when opened, {read} "
                    "read): it was still being written; read up to where it ended then")

    def sha256(self) -> str:
        """SHA-256 of the stored file (call after reading)."""
        return self._hashing.finish()

    def position(self) -> int:
        """Bytes of the stored file read so far (for progress)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self._hashing is not None:
            self._hashing.close()
        if self._raw is not None:
            self._raw.close()

    def __enter__(self) -> "OpenCapture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_capture(path: str | Path, hash_file: bool = False) -> OpenCapture:
    """Open ``path`` for reading; ``UserError`` (exit 2) if it is not a capture file."""
    name = str(path)
    try:
        raw = open(path, "rb")
    except OSError as err:
        raise UserError(f"cannot read {name}: {err.strerror or err}") from None
    try:
        head = raw.read(4)
        raw.seek(0)
    except OSError as err:
        raw.close()
        raise UserError(f"cannot read {name}: {err.strerror or err} (a regular file is needed)") from None
    compressed = head[:2] == b"\x1f\x8b"
    # A compressed file is read in small pieces, hashed faster than it is inflated: in line.
    hashing = _HashingReader(raw, hashlib.sha256() if hash_file else None, background=not compressed)
    stream = hashing
    watch: tuple = ()
    size_at_open = None
    if not compressed:
        try:
            stat = os.fstat(raw.fileno())
            size_at_open = stat.st_size if S_ISREG(stat.st_mode) else None
        except OSError:
            pass
    if compressed:
        inner = gzip.GzipFile(fileobj=hashing, mode="rb")
        try:
            head = inner.peek(4)[:4]
        except (EOFError, OSError, zlib.error) as err:
            raw.close()
            raise UserError(f"not a capture file: {name} (gzip data that cannot be decompressed: {err})") from None
        decompressed = _TolerantReader(inner)
        watch = (decompressed,)
        stream = decompressed
    tolerant = _TolerantReader(stream)
    if pcap.is_pcap(head):
        fmt = pcap.format_name(head)
    elif pcapng.is_pcapng(head):
        fmt = "pcapng"
    else:
        raw.close()
        what = "gzip data that is not" if compressed else "expected"
        shown = f"starts with {head.hex()}" if head else ("decompresses to nothing" if compressed else "an empty file")
        raise UserError(f"not a capture file: {name} ({shown}; {what} pcap or pcapng, optionally gzip-compressed)")
    return OpenCapture(path=name, format=fmt + ("+gzip" if compressed else ""), _raw=raw, _hashing=hashing, _stream=tolerant, _watch=watch, _size_at_open=size_at_open)
