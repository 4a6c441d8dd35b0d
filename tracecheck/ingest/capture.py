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
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from tracecheck.errors import UserError
from tracecheck.ingest import pcap, pcapng
from tracecheck.ingest.digest import FileDigest, Hashed, file_digest, regular_file
from tracecheck.ingest.records import ReadStats, RecordBatch


class _HashingReader:
    """Passes reads through, hashing the bytes as they go by (the file as stored): for a file
    that is not a regular file, which cannot be read a second time for its hash (``digest``)."""

    def __init__(self, raw: BinaryIO, digest) -> None:
        self.raw, self.digest = raw, digest

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        if self.digest is not None and chunk:
            self.digest.update(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        if self.digest is not None and count:
            self.digest.update(memoryview(buffer)[:count])
        return count

    def readable(self) -> bool:
        return True

    def finish(self) -> str:
        """Hash whatever the reader did not consume (a corrupt tail still counts); the hex digest."""
        while self.read(1 << 20):
            pass
        return self.digest.hexdigest()


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
    _digest: FileDigest | None = None
    _stream: _TolerantReader | None = None
    _watch: tuple = ()
    _size_at_open: int | None = None  # None: not a regular file (a device), or compressed

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

    def digest(self) -> FileDigest | Hashed:
        """SHA-256 of the stored file (call after reading): a regular file's is still being
        computed on its own thread (``digest.FileDigest``), any other file's was made in line."""
        return self._digest or Hashed(self._hashing.finish())

    def position(self) -> int:
        """Bytes of the stored file read so far (for progress)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
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
    status = regular_file(raw)
    # A regular file is hashed from a read of its own (``digest``); anything else in line.
    inline = hash_file and status is None
    hashing = _HashingReader(raw, hashlib.sha256() if inline else None)
    stream = hashing
    watch: tuple = ()
    size_at_open = None
    if not compressed and status is not None:
        size_at_open = status.st_size
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
    digest = file_digest(name, status) if hash_file and not inline else None
    return OpenCapture(path=name, format=fmt + ("+gzip" if compressed else ""), _raw=raw, _hashing=hashing,
                       _digest=digest, _stream=tolerant, _watch=watch, _size_at_open=size_at_open)
