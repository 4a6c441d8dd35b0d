"""Imported range files, compiled once and kept in the user's cache folder.

Every ``analyze`` places its destinations with every range file in the data directory.  Parsing
Azure's service tags (95k prefixes) and compiling them into range tables costs half a second; with
AWS's and GCP's files, most of a small run.  The compiled form (``RangeSource``: the two range
tables, each row's facts, and the records themselves, column by column) is therefore written
once, at first use, to ``<cache>/ranges/``, and later runs read it back in a few milliseconds.

An entry is named by everything its content depends on, so that it can never serve what another
file, or another tracecheck, would have compiled:

- the SHA-256 of the file's bytes, read and hashed at every run, and its modification time (a
  format without a date of its own is dated by it);
- the provenance record ``db import`` wrote beside it (its name and date go into the evidence);
- a fingerprint of the code that parses and compiles it (the source of ``tracecheck/geo`` and of
  the vocabulary, tracecheck's and NumPy's versions) and ``CACHE_FORMAT``.

Entries hold plain data only (strings, numbers, lists, dicts and the arrays' bytes), read back by
the unpickler of ``usercache`` that refuses every other type, so that a planted file cannot run
code.  A cache that cannot be written or read is no error: the file is compiled, as without one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tracecheck.geo.ranges import RangeTable
from tracecheck.geo.said import RangeSource, _RowFacts
from tracecheck.geo.sources.interface import PrefixRecord, RangeFile, sha256_hex
from tracecheck.usercache import _PlainUnpickler, cache_dir
from tracecheck.vocabulary import SourceInfo, SourceKind

CACHE_FORMAT = 1
"""Bump when what an entry holds changes (the code fingerprint covers how it is computed)."""
_FOLDER = "ranges"
PRUNE_AFTER_DAYS = 30
"""An entry no run has read for this long goes (each ``db update`` makes new ones)."""
_ROW_ARRAYS = ("semantic", "service", "prefixlen", "answer_prefixlen")


def range_source(meta: dict[str, Any], read: Callable[[], RangeFile]) -> RangeSource:
    """The compiled ``RangeSource`` of the stored range file ``meta`` describes (``store.stored``):
    from the cache when these bytes were compiled by this code, else ``read()`` and compiled, and
    kept for the next run."""
    entry = _entry(meta)
    if entry is not None:
        try:
            with open(entry, "rb") as f:  # streamed: the whole entry is never in memory twice
                source = _from_plain(_PlainUnpickler(f).load())
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError,
                IndexError):
            pass  # none yet, or unreadable: compiled afresh below
        else:
            with contextlib.suppress(OSError):
                os.utime(entry)  # in use: not pruned
            return source
    source = RangeSource(read())
    if entry is not None:
        _keep(entry, _to_plain(source))
        _prune(entry.parent)
    return source


def _entry(meta: dict[str, Any]) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    path = Path(meta["path"])
    try:
        raw, mtime = path.read_bytes(), os.stat(path).st_mtime_ns
    except OSError:
        return None  # the reader says what is wrong with the file
    provenance = json.dumps({k: v for k, v in meta.items() if k != "path"}, sort_keys=True, default=str)
    key = hashlib.sha256("\n".join((sha256_hex(raw), str(mtime), provenance, _code_fingerprint(),
                                    str(CACHE_FORMAT))).encode()).hexdigest()
    return folder / _FOLDER / f"{key}.pickle"


@functools.cache
def _code_fingerprint() -> str:
    """A hash of the code that turns a range file into a ``RangeSource``: an upgrade, or an edit
    in a checkout, compiles afresh."""
    from tracecheck import __version__

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"{__version__} numpy {np.__version__}".encode())
    for source in sorted([*package.joinpath("geo").rglob("*.py"), package / "vocabulary.py"]):
        digest.update(source.name.encode())
        try:
            digest.update(source.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


def _keep(entry: Path, plain: dict[str, Any]) -> None:
    """Written whole or not at all: a reader sees no entry or a complete one."""
    try:
        blob = pickle.dumps(plain, protocol=5)
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, work = tempfile.mkstemp(prefix=f".{entry.name}.", dir=entry.parent)
    except (OSError, pickle.PicklingError):
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(work, entry)
    except OSError:
        Path(work).unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    cutoff = time.time() - PRUNE_AFTER_DAYS * 86400
    for entry in folder.glob("*.pickle"):
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                entry.unlink()


# ---------------------------------------------------------------- the plain form


def _array(values: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    return values.dtype.str, values.shape, values.tobytes()


def _from_array(plain: Sequence[Any]) -> np.ndarray:
    dtype, shape, data = plain
    if np.dtype(dtype).hasobject:
        raise ValueError("an object array is not plain data")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _to_plain(source: RangeSource) -> dict[str, Any]:
    parsed, facts = source.parsed, source._rows
    return {
        "info": dataclasses.asdict(source.info),
        "label": parsed.label,
        "kind": parsed.kind.value,
        "date_basis": parsed.date_basis,
        "records": _columns(parsed.prefixes),
        "tables": [{name: _array(values) for name, values in table.arrays().items()} for table in source.tables],
        "rows": {**{name: _array(getattr(facts, name)) for name in _ROW_ARRAYS},
                 "service_names": facts.service_names.tolist(), "claim_key": list(facts.claim_key)},
        "detail_head": source._detail_head,
    }


def _from_plain(plain: dict[str, Any]) -> RangeSource:
    info = SourceInfo(**plain["info"])
    records = _Records(plain["records"])
    parsed = RangeFile(info=info, label=plain["label"], kind=SourceKind(plain["kind"]), prefixes=records,
                       date_basis=plain["date_basis"])
    source = RangeSource.__new__(RangeSource)
    source.parsed, source.info, source.kind, source.find_region = parsed, info, parsed.kind, None
    source.tables = [RangeTable.from_bounds(*(_from_array(t[name]) for name in ("v4_bounds", "v4_rows", "v6_bounds",
                                                                                   "v6_rows")),
                                            int(_from_array(t["ranges"]))) for t in plain["tables"]]
    source._answers, source._beside = {}, {}
    source._detail_head = plain["detail_head"]
    rows = plain["rows"]
    facts = _RowFacts.__new__(_RowFacts)
    for name in _ROW_ARRAYS:
        setattr(facts, name, _from_array(rows[name]))
    facts.service_names = np.empty(len(rows["service_names"]), dtype=object)
    facts.service_names[:] = rows["service_names"]
    facts.claim_key = list(rows["claim_key"])
    facts.claims = {}
    facts.evidence = np.empty(len(records), dtype=object)
    facts.has_evidence = np.zeros(len(records), dtype=bool)
    if not all(len(getattr(facts, name)) == len(records) for name in _ROW_ARRAYS) or len(facts.claim_key) != len(records):
        raise ValueError("an entry whose parts disagree")
    source._rows = facts
    return source


def _columns(records: Sequence[PrefixRecord]) -> dict[str, Any]:
    """The records column by column: the networks as one text and where each ends in it, every
    other field as its distinct values and each record's index into them (a few dozen services,
    regions ... in 100k rows).  One string and small integers: 100k strings would cost 7 MB."""
    fields = list(zip(*records)) if len(records) else [()] * len(PrefixRecord._fields)
    columns: dict[str, Any] = {"count": len(records)}
    for name, values in zip(PrefixRecord._fields, fields):
        if name == "network":
            ends = np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)))
            columns[name] = ("".join(values), _array(ends))
            continue
        distinct = {value: code for code, value in enumerate(dict.fromkeys(values))}
        codes = np.fromiter(map(distinct.__getitem__, values), dtype=np.min_scalar_type(max(len(distinct) - 1, 0)),
                            count=len(values))
        columns[name] = (list(distinct), _array(codes))
    return columns


class _Records(Sequence):
    """A range file's ``PrefixRecord``s, kept as columns and made when a look-up reads one:
    a run reads the few rows its destinations fall in, not all 100k."""

    def __init__(self, columns: dict[str, Any]) -> None:
        self._count = columns["count"]
        self._text, self._ends = columns["network"][0], _from_array(columns["network"][1])
        self._fields = [(columns[name][0], _from_array(columns[name][1])) for name in PrefixRecord._fields
                        if name != "network"]
        if (len(self._ends) != self._count or (self._count and self._ends.item(-1) != len(self._text))
                or any(len(codes) != self._count for _, codes in self._fields)):
            raise ValueError("an entry whose columns disagree")

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(self._count))]
        row = range(self._count)[row]  # an index out of range raises, a negative one counts from the end
        network = self._text[self._ends.item(row - 1) if row else 0:self._ends.item(row)]
        return PrefixRecord(network, *(values[codes[row]] for values, codes in self._fields))
