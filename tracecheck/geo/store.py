"""The data directory (``--db`` / ``TRACECHECK_DB``): imported and downloaded source files.

    <db>/sources/aws-ip-ranges.json        the file exactly as published (never rewritten)
    <db>/sources/aws-ip-ranges.meta.json   where it came from: kind, sha256, its own date ...
    <db>/rdap-cache.json                   RDAP answers, only if --rdap was ever used

A file enters only after its reader accepted it, through a temporary file in the same folder
and an atomic rename, so a failed import or download never leaves a half-written source behind.
The network is used by ``update`` alone (see ``geo.update``), and only when the user runs it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from tracecheck.errors import UserError
from tracecheck.geo.sources import MMDB, check_kind, read_source
from tracecheck.geo.sources.interface import RangeFile, sha256_hex
from tracecheck.vocabulary import FILE_TIME_BASES, SourceInfo, date_label

SOURCES_DIR = "sources"
META_SUFFIX = ".meta.json"
EXTENSIONS = {"cloudflare": ".txt", "geofeed": ".csv", MMDB: ".mmdb"}  # others: .json
# A range file older than this misses new prefixes (AWS publishes several times a week);
# GeoIP databases drift more slowly.
STALE_AFTER_DAYS = {MMDB: 60, "embedded": 90, "rdap": 3650}
DEFAULT_STALE_AFTER_DAYS = 30
# What a complete set looks like: `db status` names the ones missing.
EXPECTED_KINDS = ("aws", "azure", "gcp", "oracle", "cloudflare", "fastly")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def today() -> dt.date:
    """Today, or the day of ``SOURCE_DATE_EPOCH`` so that reports can be reproduced."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date()
    return dt.date.today()


def with_age(info: SourceInfo, on: dt.date, date_basis: str = "content") -> SourceInfo:
    """``info`` with ``age_days`` and ``stale`` filled in as of ``on``.

    A date after ``on`` has no age (None, never negative).  A source's own date there is newer
    than the day judged, so not stale; a file time there says nothing of the content's age, and
    like a missing date is not trusted fresh."""
    info = replace(info, date_basis=date_basis)
    try:
        published = dt.date.fromisoformat(info.date[:10])
    except ValueError:
        return replace(info, age_days=None, stale=True)  # a source without a date cannot be trusted fresh
    age = (on - published).days
    if age < 0:
        return replace(info, age_days=None, stale=date_basis in FILE_TIME_BASES)
    limit = STALE_AFTER_DAYS.get(info.kind, DEFAULT_STALE_AFTER_DAYS)
    return replace(info, age_days=age, stale=age > limit)


def sources_dir(db_dir: Path) -> Path:
    return Path(db_dir) / SOURCES_DIR


def stored(db_dir: Path) -> Iterator[dict[str, Any]]:
    """The provenance record of every stored source, by name."""
    folder = sources_dir(db_dir)
    if not folder.is_dir():
        return
    for meta_path in sorted(folder.glob(f"*{META_SUFFIX}")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            raise UserError(f"{meta_path} is unreadable; import the source again with `tracecheck db import`") from None
        meta["path"] = folder / meta["file"]
        yield meta


def load_sources(db_dir: Path, compiled: bool = False) -> list[Any]:
    """Every stored source, parsed: ``RangeFile``s and opened ``MmdbDatabase``s.

    ``compiled``: range files as ``said.RangeSource``s instead, compiled for look-ups (through the
    cache of ``source_cache``)."""
    loaded = []
    for meta in stored(db_dir):
        if not meta["path"].is_file():
            raise UserError(f"{meta['path']} is missing; import it again or delete {meta['name']}{META_SUFFIX}")
        if compiled and meta["kind"] != MMDB:
            from tracecheck.geo.source_cache import range_source

            loaded.append(range_source(meta, lambda meta=meta: _read_stored(meta)))
        else:
            loaded.append(_read_stored(meta))
    return loaded


def _read_stored(meta: dict[str, Any]) -> Any:
    source = read_source(meta["path"], meta["kind"], verify=False, name=meta["name"])
    if isinstance(source, RangeFile):
        info = replace(source.info, name=meta["name"])
        if source.date_basis != "content":  # the date came from the original file name or mtime
            info = replace(info, date=meta.get("date") or info.date)
        source = replace(source, info=info)
    return source


class Imported(NamedTuple):
    """A source as ``import_file`` stored it."""

    info: SourceInfo
    date_basis: str
    """Where ``info.date`` came from (``RangeFile.date_basis``; ``content`` for databases)."""


def import_file(db_dir: Path, path: Path, kind: str, name: str = "") -> Imported:
    """Check ``path`` with its reader, then store it under ``name`` (default: the source's own)."""
    kind = check_kind(kind)
    source = read_source(Path(path), kind)
    info = source.info
    if isinstance(source, RangeFile):
        from tracecheck.geo.said import RangeSource

        RangeSource(source)  # compiling its tables checks every prefix
    else:
        source.close()
    name = (name or info.name).lower()
    if not _NAME.match(name):
        raise UserError(f"{name!r} is not a usable source name (letters, digits, '.', '_', '-')")
    basis = getattr(source, "date_basis", "content")
    install(db_dir, Path(path), kind, name, replace(info, name=name), basis,
            origin={"origin": "import", "from": str(Path(path).resolve())})
    compile_stored(db_dir, name)
    return Imported(replace(info, name=name), basis)


def compile_stored(db_dir: Path, name: str) -> None:
    """Compile the stored range file ``name`` into the user cache now (``source_cache``), as
    ``analyze`` loads it: its first run after an import or update then reads it back, instead
    of spending most of a second compiling it.  A file that does not compile is left for
    ``analyze`` to refuse, in its own words."""
    for meta in stored(db_dir):
        if meta["name"] == name and meta["kind"] != MMDB and meta["path"].is_file():
            from tracecheck.geo.source_cache import range_source

            try:
                range_source(meta, lambda meta=meta: _read_stored(meta))
            except UserError:
                pass


def install(db_dir: Path, staged: Path, kind: str, name: str, info: SourceInfo, date_basis: str,
            origin: dict[str, Any]) -> Path:
    """Copy ``staged`` into the store atomically and write its provenance beside it."""
    folder = sources_dir(db_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the data directory {folder}: {err.strerror or err}; check --db") from None
    target = folder / f"{name}{EXTENSIONS.get(kind, '.json')}"
    _atomic_copy(staged, target)
    for other in folder.glob(f"{name}.*"):  # the same source stored earlier under another extension
        if other != target and not other.name.endswith(META_SUFFIX) and other.suffix in (".json", ".txt", ".csv", ".mmdb"):
            other.unlink()
    meta = {
        "name": name, "kind": kind, "file": target.name, "sha256": info.sha256, "version": info.version,
        "date": info.date, "date_basis": date_basis, "prefixes": info.prefixes,
        "stored_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **origin,
    }
    _atomic_write(folder / f"{name}{META_SUFFIX}", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return target


def _atomic_copy(source: Path, target: Path) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        stat = os.stat(source)
        os.utime(temporary, (stat.st_atime, stat.st_mtime))  # keep the mtime: some formats carry no other date
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise UserError(f"cannot store {source} in {target.parent}: {err.strerror or err}") from None


def _atomic_write(target: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)


def status(db_dir: Path, on: dt.date | None = None, with_embedded: bool = True) -> dict[str, Any]:
    """What ``db status`` shows: every stored source (and the embedded default), with age."""
    on = on or today()
    rows = []
    for meta in stored(db_dir):
        path: Path = meta["path"]
        actual = sha256_hex(path.read_bytes()) if path.is_file() else ""
        info = SourceInfo(name=meta["name"], kind=meta["kind"], version=str(meta.get("version", "")),
                          date=str(meta.get("date", "")), sha256=actual or meta.get("sha256", ""),
                          prefixes=int(meta.get("prefixes", 0)))
        basis = meta.get("date_basis", "")
        row = _row(with_age(info, on, basis), basis)
        row.update(path=str(path), date_basis=basis, origin=meta.get("origin", ""),
                   source=meta.get("from", ""), modified=bool(actual) and actual != meta.get("sha256"),
                   missing_file=not actual)
        rows.append(row)
    if with_embedded:
        from tracecheck.geo.sources import embedded

        default = embedded.load()
        if default is not None:
            row = _row(with_age(default.info, on), "content")
            row.update(path=str(default.path), date_basis="content", origin="package", source="geoip2fast")
            rows.append(row)
    kinds = {row["kind"] for row in rows}
    return {"db": str(db_dir), "today": on.isoformat(), "sources": rows,
            "missing": [kind for kind in EXPECTED_KINDS if kind not in kinds]}


def _row(info: SourceInfo, date_basis: str) -> dict[str, Any]:
    return {"name": info.name, "kind": info.kind, "version": info.version, "date": info.date,
            "date_label": date_label(info.date, date_basis), "sha256": info.sha256, "age_days": info.age_days,
            "stale": info.stale, "prefixes": info.prefixes}
