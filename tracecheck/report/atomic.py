"""Write a file so that a reader sees the old bytes or the new ones, never half of them.

A report directory is evidence: an interrupted run must not leave a truncated report.json that
a later ``manifest.json`` then vouches for.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from tracecheck.errors import UserError

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")
"""``.report.json.k3j_x9.tmp`` (mkstemp's random part has no dot): what a run leaves behind when
killed between writing a file and renaming it."""

_REMEDY = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space",
    errno.EACCES: "make it writable",
    errno.EPERM: "make it writable",
    errno.EROFS: "remount it writable",
    errno.EISDIR: "move that directory out of the way",
    errno.ENOTDIR: "a file stands where a directory should be: move it out of the way",
}


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it."""
    return fill_atomically(path, lambda temporary: Path(temporary).write_bytes(data))


def write_parts_atomically(path: Path, parts: Iterable[bytes]) -> Path:
    """``write_atomically`` of bytes made a part at a time (report.json's slices, flows.csv's rows):
    each part is written as it comes, so the whole file is never held."""
    def fill(temporary: str) -> None:
        with open(temporary, "wb") as out:
            for part in parts:
                out.write(part)

    return fill_atomically(path, fill)


def fill_atomically(path: Path, fill: Callable[[str], object]) -> Path:
    """Let ``fill`` write a temporary file beside ``path`` (by its name: pyarrow opens it itself),
    flush it to disk, then rename it to ``path``."""
    path = Path(path)
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise cannot_write(err, path.parent, within=True) from None
    try:
        fill(temporary)
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise cannot_write(err, path) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def temporary_of(name: str) -> str | None:
    """The file a temporary file named ``name`` was to become, or None if it is not one of ours."""
    found = _TEMPORARY.match(name)
    return found.group("name") if found else None


def cannot_write(err: OSError, path: Path, within: bool = False) -> UserError:
    """One line: what could not be written, why, and what to do (``within``: a file in ``path``)."""
    where = f"in {path}" if within else str(path)
    remedy = _REMEDY.get(err.errno or 0, "check the directory")
    return UserError(f"cannot write {where}: {err.strerror or err}; {remedy} or choose another --out DIR")
