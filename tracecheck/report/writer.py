"""Write a report directory: report.json, report.html, flows.csv, the formats asked for, then the
manifest that vouches for all of them.

Each file is written atomically, and manifest.json comes last, so a directory with a manifest is a
complete one.  Files this writer produces but was not asked for this time (``report.sarif`` from
an earlier run with ``--format sarif``, say) are removed first: the manifest lists every file in
the directory, and must not vouch for an earlier run's output as if it were this one's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tracecheck.errors import UserError
from tracecheck.report import html, json_report, junit, manifest, sarif, tables
from tracecheck.report.atomic import write_atomically
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

_OWN_OPTIONAL_FILES = [name for name, _ in EXTRA.values()] + [FLOWS_PARQUET]


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
                 sign_key: Path | None = None) -> list[Path]:
    """Write the report directory ``out_dir`` (created if needed) and return the files written,
    manifest.json (and manifest.sig) last.

    ``flows_rows`` is the flow table keyed by ``tracecheck.flows.table.COLUMNS``: its rows
    (``as_record``) or its columns (``FlowTable.columns``).
    ``formats`` adds to report.json, report.html and flows.csv: ``sarif``, ``junit``, ``parquet``.
    ``sign_key`` is an Ed25519 private key in PEM; it is read before anything is written, so a bad
    key leaves no half-made directory."""
    from tracecheck.flows.table import COLUMNS

    check_formats(formats)
    flows_table = tables.as_columns(flows_rows, COLUMNS)
    if sign_key is not None:
        manifest.load_signing_key(sign_key)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}") from None
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a directory; choose another --out DIR")
    for name in _OWN_OPTIONAL_FILES:
        (out_dir / name).unlink(missing_ok=True)

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
    written += manifest.write_manifest(out_dir, report, sign_key)
    return written


def _write_parquet(rows: tables.Columns, columns, path: Path) -> Path:
    # tables.write_table writes in place; write beside the target and rename, like every other file.
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        tables.write_table(rows, columns, "parquet", str(temporary))
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
