"""One reader per data source; each turns the publisher's own format into the common form.

Range files (``RANGE_READERS``) become a ``RangeFile``; ``mmdb`` files stay opened databases;
``embedded`` (geoip2fast) and ``rdap`` are not files a user imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tracecheck.errors import UserError
from tracecheck.geo.sources import aws, azure, cloudflare, fastly, gcp, genesys, geofeed, oracle
from tracecheck.geo.sources.interface import RangeFile

RANGE_READERS: dict[str, Callable[[Path], RangeFile]] = {
    "aws": aws.parse,
    "azure": azure.parse,
    "gcp": gcp.parse,
    "google": gcp.parse,
    "oracle": oracle.parse,
    "cloudflare": cloudflare.parse,
    "fastly": fastly.parse,
    "genesys": genesys.parse,
    "geofeed": geofeed.parse,
}
MMDB = "mmdb"
IMPORTABLE_KINDS: tuple[str, ...] = (*RANGE_READERS, MMDB)


def check_kind(kind: str) -> str:
    kind = kind.strip().lower()
    if kind not in IMPORTABLE_KINDS:
        raise UserError(f"unknown source kind {kind!r}; use one of: {', '.join(IMPORTABLE_KINDS)}")
    return kind


def read_source(path: Path, kind: str, verify: bool = True, name: str = ""):
    """Parse ``path`` as ``kind``: a ``RangeFile``, or an opened ``MmdbDatabase``.

    ``verify=False`` skips the slow whole-file checks of a file that was checked on import.
    """
    kind = check_kind(kind)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if kind == MMDB:
        from tracecheck.geo.sources.mmdb import MmdbDatabase

        return MmdbDatabase(path, verify=verify, name=name)
    return RANGE_READERS[kind](path)
