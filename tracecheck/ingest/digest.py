"""A capture file's SHA-256, read and hashed on a thread of its own.

The report names each capture by the SHA-256 of its bytes as stored.  Hashing 677 MB takes
0.4 s of a core even with the CPU's SHA instructions, and the file's readers have none to spare
while they build the flow table.  So the hash is not fed from the readers' blocks: a thread
opens the file a second time, reads it in small pieces into one reused buffer (the page cache
serves it; no block is kept waiting for the hash) and hashes as it goes, at the lowest
scheduling priority.  It runs while the pipeline is imported; while the flow table is built it
goes on only as long as more than ``LEFT_FOR_LATER`` bytes remain (``held``: the reading thread
needs the memory bandwidth); it finishes on the idle core while the destinations are named and
judged.  The digest is asked for when the report is made.

Two reads must see the same bytes.  A file that is not a regular file (a device) may not read
the same twice: ``capture.open_capture`` hashes it in line, as it reads.  A regular file that
changed while it was read (tcpdump still writing, a ring buffer rotated) is said: ``changed``
names the change, and the caller warns that the digest may not be of the bytes judged.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from stat import S_ISREG

from tracecheck.errors import UserError

PIECE = 16 << 20
"""Bytes read and hashed at a time without the compiled loop: each piece takes the GIL back twice,
a wait of up to the switch interval (5 ms) while the main thread runs Python, so pieces are big."""

try:
    from tracecheck.ingest import _digest as _compiled
except ImportError:  # not built (no C compiler or no OpenSSL headers): the same digest, slower
    _compiled = None


class Hashed:
    """A digest computed in line, as the file was read: nothing to wait for."""

    def __init__(self, hexdigest: str) -> None:
        self._hexdigest = hexdigest

    def hexdigest(self) -> str:
        return self._hexdigest

    def changed(self) -> str | None:
        return None  # the bytes hashed are the bytes read, whatever the file did meanwhile


class FileDigest:
    """SHA-256 of a regular file, computed on a thread started at construction."""

    def __init__(self, path: str, opened: os.stat_result) -> None:
        self.path = path
        self._opened = opened
        self._hexdigest = ""
        self._hashed = 0
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="tracecheck-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        _lowest_priority()
        try:
            with open(self.path, "rb", buffering=0) as stream:
                if not _same_file(os.fstat(stream.fileno()), self._opened):
                    self._error = "it was replaced by another file while it was read"
                    return
                digest, self._hashed = _sha256_to_end(stream)
                self._hexdigest = digest.hex()
        except OSError as err:
            self._error = err.strerror or str(err)

    def hexdigest(self) -> str:
        """The file's SHA-256 once every byte is hashed (call when the readers are done with it);
        ``UserError`` if it could not be read."""
        _hold(-1)  # wanted now: were it held, it would wait forever
        self._thread.join()
        if self._error is not None:
            raise UserError(f"cannot hash {self.path}: {self._error}")
        return self._hexdigest

    def changed(self) -> str | None:
        """Whether the file changed between the readers' opening it and now (call after
        ``hexdigest``): then its digest may not be of the bytes judged.  None when it did not."""
        try:
            now = os.stat(self.path)
        except OSError as err:
            return f"it could not be looked at again ({err.strerror or err})"
        if not _same_file(now, self._opened):
            return "it was replaced by another file"
        if self._hashed != self._opened.st_size or now.st_size != self._opened.st_size:
            return (f"it held {self._opened.st_size:,} bytes when opened, {self._hashed:,} when hashed and "
                    f"{now.st_size:,} now")
        if now.st_mtime_ns != self._opened.st_mtime_ns:
            return "it was written to"
        return None


_started: dict[tuple[int, int], FileDigest] = {}
"""Digests begun by ``start`` before their file was opened, by (device, inode)."""


def start(paths) -> None:
    """Begin hashing these files now, before the pipeline is even imported: the import takes a
    fifth of a second of one core, and the other core can hash a third of a large capture in it.
    ``file_digest`` hands each on when its file is opened."""
    for path in paths:
        try:
            status = os.stat(path)
        except (OSError, ValueError):
            continue  # said when the file is opened
        if S_ISREG(status.st_mode) and (status.st_dev, status.st_ino) not in _started:
            _started[status.st_dev, status.st_ino] = FileDigest(str(path), status)


def forget_started() -> None:
    """Drop the digests ``start`` began that no reader took (the run ended before it opened their
    files: bad input); their threads end when their files are hashed."""
    _started.clear()


def file_digest(path: str, opened: os.stat_result) -> FileDigest:
    """The digest of the regular file just opened at ``path``: the one ``start`` began for it, if
    any (its own look at the file is then the earlier one, so ``changed`` spans both), else a new one."""
    early = _started.pop((opened.st_dev, opened.st_ino), None)
    if early is not None and early._opened.st_mtime_ns == opened.st_mtime_ns:  # the same inode, unchanged
        return early
    return FileDigest(path, opened)  # none, or begun for a file since written to or gone (its inode reused)


def regular_file(stream) -> os.stat_result | None:
    """The open file's status when it is a regular file (one that can be read twice), else None."""
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return status if S_ISREG(status.st_mode) else None


def _sha256_to_end(stream) -> tuple[bytes, int]:
    """SHA-256 of the rest of the open file, and its length: in C without the GIL when built
    (``_digest.c``), else in pieces here."""
    if _compiled is not None:
        return _compiled.sha256_fd(stream.fileno())
    sha256, hashed = hashlib.sha256(), 0
    left = os.fstat(stream.fileno()).st_size - stream.tell()
    buffer = bytearray(PIECE)
    view = memoryview(buffer)
    while True:
        remaining = left - hashed  # as the file's size was at the start
        with _hold_changed:
            _hold_changed.wait_for(lambda: remaining <= 0 or _left_for_later < 0 or remaining > _left_for_later)
        count = stream.readinto(buffer)
        if not count:
            break
        sha256.update(view[:count])
        hashed += count
    return sha256.digest(), hashed


LEFT_FOR_LATER = 512 << 20
"""Bytes of a capture the hash may leave for after the flow stage (``held``): about 0.35 s of
hashing, which the run's naming and judging leave a core idle for."""
_left_for_later = -1
_hold_changed = threading.Condition()


@contextmanager
def held() -> Iterator[None]:
    """For the block's length (the flow stage's), hashing goes on only while more than
    ``LEFT_FOR_LATER`` bytes of its file remain, then waits between pieces.

    Even at the lowest priority a hash beside the flow table takes the memory bandwidth and the
    caches its reading thread needs (a tenth of a second of the 1M corpus's run).  So a capture's
    hash runs while the pipeline is imported, then only as far as it must beside the flow stage,
    and is finished while flows are named and judged, when one core is idle: a 677 MB capture is
    not hashed beside the flow stage at all, a 3.6 GB one mostly is.  Asking for a digest
    (``hexdigest``) lets it go on."""
    _hold(LEFT_FOR_LATER)
    try:
        yield
    finally:
        _hold(-1)


def _hold(keep: int) -> None:
    global _left_for_later
    if _compiled is not None:
        _compiled.hold(keep)
    with _hold_changed:
        _left_for_later = keep
        _hold_changed.notify_all()


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _lowest_priority() -> None:
    """Nice this thread (Linux gives each thread its own): the flow table's threads come first."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
