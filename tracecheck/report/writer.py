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

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracecheck.collector import give_back_freed_memory
from tracecheck.errors import UserError
from tracecheck.report import formats as registry
from tracecheck.report import manifest, tables
from tracecheck.report.atomic import cannot_write, temporary_of, write_atomically
from tracecheck.report.model import Report
from tracecheck.report.side_by_side import forking_pays, write_side_by_side


def _own_names() -> frozenset[str]:
    """Every file name a run may write at the top of the directory (beside catalogs/<n>-<name>): the
    only names it ever deletes."""
    return frozenset({*(f.file_name for f in registry.all_formats()), manifest.MANIFEST, manifest.SIGNATURE,
                      manifest.POLICY_COPY})

_COPY_NAME = re.compile(r"^[1-9][0-9]*-[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_LONGEST_NAME = 64
_SHOWN_AT_MOST = 5


def parse_formats(text: str) -> set[str]:
    """``--format sarif,junit`` as a set; an unknown name is a UserError that lists the known ones."""
    formats = {part.strip().lower() for part in text.split(",") if part.strip()}
    registry.check(formats)
    return formats


check_formats = registry.check


def write_report(report: Report, out_dir: Path, flows_rows: list[dict] | tables.Columns, formats: set[str],
                 sign_key: Path | None = None, *, force: bool = False, policy: bytes | None = None,
                 catalogs: Sequence[tuple[str, bytes]] = ()) -> list[Path]:
    """Write the report directory ``out_dir`` (created if needed) and return the files written,
    manifest.json (and manifest.sig) last.

    ``flows_rows`` is the flow table keyed by ``tracecheck.flows.table.COLUMNS``: its rows
    (``as_record``) or its columns (``FlowTable.columns``).
    ``formats`` names the optional formats to write beside the always-written ones (``report.formats``).
    ``sign_key`` is an Ed25519 private key in PEM; it is read before anything is written, so a bad
    key leaves no half-made directory.
    ``force`` writes beside files tracecheck did not write (see the module's docstring).
    ``policy`` is the policy's bytes as judged by, ``catalogs`` each ``--catalog`` file (as given, its
    bytes): copied into the directory (policy.yaml, catalogs/), so that it holds all the evidence but
    the captures.  Their hashes must be the report's.
    Every failure to write is a UserError naming the path and what to do."""
    from tracecheck.flows.table import COLUMNS

    chosen = registry.chosen(formats)
    flows_table = tables.as_columns(flows_rows, COLUMNS)
    if sign_key is not None:
        manifest.load_signing_key(sign_key)
    out_dir = Path(out_dir)
    policy_copy = _policy_copy(report, policy)
    catalog_copies = _catalog_copies(report, catalogs)
    before = check_out_dir(out_dir, force)
    if catalog_copies:
        _check_catalogs_folder(out_dir / manifest.CATALOG_COPIES)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}; "
                        f"choose another --out DIR") from None
    try:
        def write(fmt) -> Path:
            return _written(fmt, report, flows_table, out_dir)

        written = (write_side_by_side(chosen, write) if forking_pays(len(report.destinations))
                   else [write(fmt) for fmt in chosen])
        if policy_copy is not None:
            written.append(write_atomically(out_dir / policy_copy.copy, policy))
        written += _write_catalogs(out_dir, catalog_copies, [data for _, data in catalogs])
        _remove(out_dir, set(before.earlier) - _relative(out_dir, written))
        written += manifest.write_manifest(out_dir, report, written, sign_key, policy_copy, catalog_copies)
    except OSError as err:  # what the writers above do not catch themselves: an unlink, a stat
        raise cannot_write(err, Path(err.filename) if err.filename else out_dir) from None
    return written


def _written(fmt, report: Report, flows: tables.Columns, out_dir: Path) -> Path:
    """``fmt.write``, from a heap given back first: what the last format freed (report.json's
    slices, the page's rows) would otherwise stay in the process, and the formats' working memory
    would add up in the run's peak instead of the largest of them counting."""
    give_back_freed_memory()
    return fmt.write(report, flows, out_dir)


# --------------------------------------------------------------------------- the policy and catalogs as used


def read_copies(paths: Iterable[str | Path]) -> list[tuple[str, bytes]]:
    """Each ``--catalog`` file as given and its bytes, for ``write_report``'s ``catalogs``; read before
    the captures, so that a file moved during a long read costs nothing."""
    copies = []
    for path in paths:
        try:
            copies.append((str(Path(path)), Path(path).read_bytes()))
        except OSError as err:
            raise UserError(f"{path}: cannot read: {err.strerror or err}") from None
    return copies


def _policy_copy(report: Report, policy: bytes | None) -> manifest.Copy | None:
    if policy is None:
        return None
    _same_bytes("the policy", report.policy.path, policy, report.policy.sha256)
    return manifest.Copy(report.policy.path, manifest.POLICY_COPY, report.policy.sha256)


def _catalog_copies(report: Report, catalogs: Sequence[tuple[str, bytes]]) -> list[manifest.Copy]:
    recorded = {source.name: source.sha256 for source in report.sources if source.kind == manifest.CATALOG_KIND}
    copies = []
    for number, (given, data) in enumerate(catalogs, start=1):
        if given not in recorded:
            raise ValueError(f"the report names no service catalog {given!r}, so it cannot vouch for a copy of it")
        _same_bytes("the service catalog", given, data, recorded[given])
        copies.append(manifest.Copy(given, f"{manifest.CATALOG_COPIES}/{_copy_name(number, given)}",
                                    recorded[given]))
    return copies


def _same_bytes(what: str, given: str, data: bytes, recorded: str) -> None:
    """The copy must be what the report says was judged by: a file edited between the two reads
    (the catalogs are read twice: once to load, once to copy) must not be passed off as it."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        raise UserError(f"{what} {manifest.shown(given)} changed while tracecheck ran (its sha256 is now {actual}, "
                        f"the report says {recorded}); run again")


def _copy_name(number: int, given: str) -> str:
    """``<number>-<file name>``, the name cut to letters, digits, ``._-``: the number keeps two
    catalogs of the same name apart; no separator, no leading dot, nothing to escape or hide."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", re.split(r"[/\\]", given)[-1]).lstrip(".")[:_LONGEST_NAME]
    return f"{number}-{name or 'catalog'}"


def _check_catalogs_folder(folder: Path) -> None:
    """A link there would take the copies out of the directory; a file there stops them."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UserError(f"{folder} is not a directory tracecheck can copy the service catalogs into; move it out "
                        f"of the way or choose another --out DIR")


def _write_catalogs(out_dir: Path, copies: list[manifest.Copy], contents: list[bytes]) -> list[Path]:
    if not copies:
        return []
    (out_dir / manifest.CATALOG_COPIES).mkdir(exist_ok=True)
    return [write_atomically(out_dir / copy.copy, data) for copy, data in zip(copies, contents, strict=True)]


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
        one = len(foreign) == 1
        raise UserError(f"{out_dir} holds {len(foreign)} file{'' if one else 's'} tracecheck did not write "
                        f"({some_names(foreign)}); move {'it' if one else 'them'} out of the way, or add --force to "
                        f"keep {'it' if one else 'them'} beside the new report")
    return OutDir(is_report, earlier, foreign)


def left_beside(out_dir: Path, written: Iterable[Path]) -> list[str]:
    """What stands in ``out_dir`` besides the files a run wrote: what ``force`` kept."""
    out_dir = Path(out_dir)
    return sorted(set(_entries(out_dir)) - _relative(out_dir, written))


def _is_earlier(out_dir: Path, rel: str, earlier_manifest: dict) -> bool:
    """Whether ``rel`` is the earlier run's: a regular file that its manifest lists (or is, or names
    as its signature) under a name tracecheck writes, or such a file's temporary file, or the
    catalogs folder left empty.  A file merely named like tracecheck's is not: ``--force`` may have
    kept a user's report.sarif."""
    if rel == f"{manifest.CATALOG_COPIES}/":
        return True
    if (out_dir / rel).is_symlink() or not (out_dir / rel).is_file():
        return False
    folder, _, name = rel.rpartition("/")
    temporary = temporary_of(name)
    if temporary is not None:  # a killed run's, on its way to one of tracecheck's names
        return _is_own_name(f"{folder}/{temporary}" if folder else temporary)
    listed = {entry.get("path") for entry in earlier_manifest["files"] if isinstance(entry, dict)}
    listed.add(manifest.MANIFEST)
    if "signature" in earlier_manifest:
        listed.add(manifest.SIGNATURE)
    return rel in listed and _is_own_name(rel)


def _is_own_name(rel: str | None) -> bool:
    folder, _, name = (rel or "").rpartition("/")
    if folder == manifest.CATALOG_COPIES:
        return _COPY_NAME.match(name) is not None
    return not folder and name in _own_names()


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
        if not rel.endswith("/"):
            (out_dir / rel).unlink(missing_ok=True)
    folder = out_dir / manifest.CATALOG_COPIES
    if f"{manifest.CATALOG_COPIES}/" in earlier or any(rel.startswith(f"{manifest.CATALOG_COPIES}/") for rel in earlier):
        with contextlib.suppress(OSError):  # not empty: --force kept a user's file there
            folder.rmdir()


def some_names(names: Sequence[str]) -> str:
    """The first few of ``names``, escaped for a one-line message, and how many more."""
    shown = ", ".join(manifest.shown(name) for name in names[:_SHOWN_AT_MOST])
    more = len(names) - _SHOWN_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown
