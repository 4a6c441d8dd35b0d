"""Write a file so that a reader sees the old bytes or the new ones, never half of them.

A report directory is evidence: an interrupted run must not leave a truncated report.json that
a later ``manifest.json`` then vouches for.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tracecheck.errors import UserError


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it."""
    path = Path(path)
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise UserError(f"cannot write in {path.parent}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    return path
