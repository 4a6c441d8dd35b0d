"""One reader per data source; each turns the publisher's own format into the common form.

Range files (``RANGE_READERS``) become a ``RangeFile``; ``mmdb`` files stay opened databases;
``embedded`` (geoip2fast) and ``rdap`` are not files a user imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tracecheck.errors import UserError
from tracecheck.geo.sources import aws, azure, cloudflare, fastly, gcp, genesys, geofeed, oracle
from tracecheck.geo.sources.interface import RangeFile, looks_like_prefix
from tracecheck.geo.sources.mmdb_tree import METADATA_MARKER

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
FORMAT_NAMES = {aws.KIND: aws.WHAT, azure.KIND: azure.WHAT, gcp.KIND: gcp.WHAT, oracle.KIND: oracle.WHAT,
                cloudflare.KIND: cloudflare.WHAT, fastly.KIND: fastly.WHAT, genesys.KIND: genesys.WHAT,
                geofeed.KIND: geofeed.WHAT, MMDB: "a MaxMind DB (.mmdb) file"}
"""What each kind's file is, as refusals name it."""
# A key only that publisher's JSON has: enough to say which --source a refused file wants.
_JSON_KEYS = {aws.KIND: b'"createDate"', azure.KIND: b'"changeNumber"', gcp.KIND: b'"creationTime"',
              oracle.KIND: b'"last_updated_timestamp"', fastly.KIND: b'"addresses"', genesys.KIND: b'"entities"'}
_MMDB_METADATA_WITHIN = 128 * 1024


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
    if path.is_dir():
        raise UserError(f"{path} is a directory; give the file itself ({FORMAT_NAMES[kind]}), not the folder it is in")
    if path.exists() and not path.is_file():
        raise UserError(f"{path} is not a regular file; give the file itself ({FORMAT_NAMES[kind]})")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        if kind == MMDB:
            from tracecheck.geo.sources.mmdb import MmdbDatabase

            return MmdbDatabase(path, verify=verify, name=name)
        return RANGE_READERS[kind](path)
    except UserError as err:
        raise _with_the_right_kind(err, path, kind) from None


def _with_the_right_kind(err: UserError, path: Path, kind: str) -> UserError:
    """``err``, saying which --source the file looks like when that is another kind."""
    try:
        guess = guess_kind(path.read_bytes())
    except OSError:
        return err
    message = str(err)
    same_reader = RANGE_READERS.get(guess, guess) == RANGE_READERS.get(kind, kind)  # gcp and google share one
    if guess is None or same_reader or f"--source {guess}" in message:
        return err
    return UserError(f"{message.removesuffix('; check --source')}; it looks like {FORMAT_NAMES[guess]}: "
                     f"use --source {guess}")


def guess_kind(data: bytes) -> str | None:
    """The kind of source ``data`` looks like, or None: a hint for a file refused as another kind."""
    if METADATA_MARKER in data[-_MMDB_METADATA_WITHIN:]:
        return MMDB
    if data.lstrip()[:1] in (b"{", b"["):
        return next((kind for kind, key in _JSON_KEYS.items() if key in data), None)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    rows = [line.split(",") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not rows or not all(looks_like_prefix(row[0].strip().strip('"')) for row in rows):
        return None
    return geofeed.KIND if any(len(row) > 1 for row in rows) else cloudflare.KIND
