"""Write a report directory: report.json, report.html, flows.csv, the formats asked for, then the
manifest that vouches for all of them.

Each file is written atomically, and manifest.json comes last, so a directory with a manifest is a
complete one.  The manifest lists the files this run wrote and nothing else, and a re-run replaces
an earlier report whole: the earlier run's files that this one does not write again
(``report.sarif`` from an earlier ``--format sarif``, a killed run's temporary files) are removed
before the new manifest is written.

tracecheck deletes only what it can tell is its own: files under the names it writes that the
manifest.json it wrote lists (and its own temporary files).  Anything else in the directory is the user's.  Without ``force`` a
directory holding such files is refused (one line, before the captures are read); with ``force``
the report is written beside them: files named as tracecheck's outputs are overwritten, nothing is
deleted, and ``verify`` lists the rest as extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracecheck.errors import UserError
from tracecheck.report import html, json_report, junit, manifest, sarif, tables
from tracecheck.report.atomic import cannot_write, fill_atomically, temporary_of, write_atomically
from tracecheck.report.model import Report

FLOWS_CSV = "flows.csv"
FLOWS_PARQUET = "flows.parquet"

ALWAYS = ("json", "html", "csv")
"""Written whatever ``formats`` says: the contract's report directory."""

EXTRA: dict[str, tuple[str, Callable[[Report, Path], Path]]] = {
    "sarif": (sarif.FILE_NAME, sarif.write_sarif),
    "junit": (junit.FILE_NAME, junit.write_junit),
}
FORMATS = (*ALWAYS, *EXTRA, "parquet")
"""Everything ``formats`` may name; ``parquet`` adds flows.parquet beside flows.csv."""

_OWN_NAMES = frozenset({json_report.FILE_NAME, html.FILE_NAME, FLOWS_CSV, FLOWS_PARQUET,
                        *(name for name, _ in EXTRA.values()), manifest.MANIFEST, manifest.SIGNATURE})
"""Every file name a run may write at the top of the directory: the only ones it ever deletes."""

_SHOWN_AT_MOST = 5


def parse_formats(text: str) -> set[str]:
    """``--format sarif,junit`` as a set; an unknown name is a UserError that lists the known ones."""
    formats = {part.strip().lower() for part in text.split(",") if part.strip()}
    check_formats(formats)
    return formats


def check_formats(formats: set[str]) -> None:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UserError(f"unknown report format {', '.join(unknown)}: choose from {', '.join(FORMATS)}")


def write_report(report: Report, out_dir: Path, flows_rows: list[dict] | tables.Columns, formats: set[str],
                 sign_key: Path | None = None, *, force: bool = False) -> list[Path]:
    """Write the report directory ``out_dir`` (created if needed) and return the files written,
    manifest.json (and manifest.sig) last.

    ``flows_rows`` is the flow table keyed by ``tracecheck.flows.table.COLUMNS``: its rows
    (``as_record``) or its columns (``FlowTable.columns``).
    ``formats`` adds to report.json, report.html and flows.csv: ``sarif``, ``junit``, ``parquet``.
    ``sign_key`` is an Ed25519 private key in PEM; it is read before anything is written, so a bad
    key leaves no half-made directory.
    ``force`` writes beside files tracecheck did not write (see the module's docstring).
    Every failure to write is a UserError naming the path and what to do."""
    from tracecheck.flows.table import COLUMNS

    check_formats(formats)
    flows_table = tables.as_columns(flows_rows, COLUMNS)
    if sign_key is not None:
        manifest.load_signing_key(sign_key)
    out_dir = Path(out_dir)
    before = check_out_dir(out_dir, force)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}; "
                        f"choose another --out DIR") from None
    try:
        written = [
            json_report.write_report_json(report, out_dir),
            html.write_html(report, out_dir),
            write_atomically(out_dir / FLOWS_CSV, tables.columns_to_csv(flows_table).encode("utf-8")),
        ]
        for fmt, (_, write) in EXTRA.items():
            if fmt in formats:
                written.append(write(report, out_dir))
        if "parquet" in formats:
            written.append(_write_parquet(flows_table, COLUMNS, out_dir / FLOWS_PARQUET))
        _remove(out_dir, set(before.earlier) - _relative(out_dir, written))
        written += manifest.write_manifest(out_dir, report, written, sign_key)
    except OSError as err:  # what the writers above do not catch themselves: an unlink, a stat
        raise cannot_write(err, Path(err.filename) if err.filename else out_dir) from None
    return written


# --------------------------------------------------------------------------- the directory


@dataclass(frozen=True)
class OutDir:
    """What stands in a report directory before a run writes into it."""

    is_report: bool
    """Its manifest.json is one tracecheck wrote."""
    earlier: tuple[str, ...]
    """An earlier run's files (relative POSIX paths): written again, or removed."""
    foreign: tuple[str, ...]
    """Everything else (relative POSIX paths; a directory ends in ``/``): never deleted."""


def check_out_dir(out_dir: Path, force: bool = False) -> OutDir:
    """What ``out_dir`` holds, or a UserError when a report may not be written there: a non-empty
    directory that is not a tracecheck report, or a report beside files tracecheck did not write,
    unless ``force``.  ``analyze`` calls it before reading the captures; ``write_report`` again."""
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return OutDir(False, (), ())
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a directory; choose another --out DIR")
    entries = _entries(out_dir)
    found = manifest.read_own_manifest(out_dir / manifest.MANIFEST)
    is_report = found is not None
    earlier = tuple(e for e in entries if is_report and _is_earlier(out_dir, e, found))
    foreign = tuple(e for e in entries if e not in earlier)
    if entries and not is_report and not force:
        raise UserError(f"{out_dir} is not empty and holds no tracecheck report ({manifest.MANIFEST}); "
                        f"choose another --out DIR or add --force")
    if foreign and is_report and not force:
        raise UserError(f"{out_dir} holds {len(foreign)} file{'s' if len(foreign) != 1 else ''} tracecheck did "
                        f"not write ({some_names(foreign)}); move them out of the way, or add --force to keep them "
                        f"beside the new report")
    return OutDir(is_report, earlier, foreign)


def left_beside(out_dir: Path, written: Iterable[Path]) -> list[str]:
    """What stands in ``out_dir`` besides the files a run wrote: what ``force`` kept."""
    out_dir = Path(out_dir)
    return sorted(set(_entries(out_dir)) - _relative(out_dir, written))


def _is_earlier(out_dir: Path, rel: str, earlier_manifest: dict) -> bool:
    """Whether ``rel`` is the earlier run's: a regular file at the top that its manifest lists (or is,
    or names as its signature) under a name tracecheck writes, or such a file's temporary file.
    A file merely named like tracecheck's is not: ``--force`` may have kept a user's report.sarif."""
    if "/" in rel or (out_dir / rel).is_symlink() or not (out_dir / rel).is_file():
        return False
    listed = {entry.get("path") for entry in earlier_manifest["files"] if isinstance(entry, dict)}
    listed.add(manifest.MANIFEST)
    if "signature" in earlier_manifest:
        listed.add(manifest.SIGNATURE)
    return (rel in listed and rel in _OWN_NAMES) or temporary_of(rel) in _OWN_NAMES


def _entries(root: Path) -> list[str]:
    """Everything under ``root`` but the directories that hold something, as relative POSIX paths,
    sorted; links are not followed (a link is an entry of its own)."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in list(dirs):
            if (here / name).is_symlink():
                files.append(name)
                dirs.remove(name)
        found += [(here / name).relative_to(root).as_posix() for name in files]
        if here != root and not dirs and not files:
            found.append(here.relative_to(root).as_posix() + "/")
    return sorted(found)


def _relative(out_dir: Path, paths: Iterable[Path]) -> set[str]:
    return {Path(path).relative_to(out_dir).as_posix() for path in paths}


def _remove(out_dir: Path, earlier: set[str]) -> None:
    for rel in sorted(earlier):
        (out_dir / rel).unlink(missing_ok=True)


def some_names(names: Sequence[str]) -> str:
    """The first few of ``names``, escaped for a one-line message, and how many more."""
    shown = ", ".join(manifest.shown(name) for name in names[:_SHOWN_AT_MOST])
    more = len(names) - _SHOWN_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown


def _write_parquet(rows: tables.Columns, columns, path: Path) -> Path:
    return fill_atomically(path, lambda temporary: tables.write_table(rows, columns, "parquet", temporary))
