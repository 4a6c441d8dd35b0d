"""Where the curated facts shipped with tracecheck live (``geo_db/``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def geo_db_dir() -> Path:
    """The ``geo_db`` folder: inside the installed wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "geo_db", here.parent / "geo_db"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("geo_db/ not found beside the tracecheck package; reinstall tracecheck")
