"""Row tables (flows, names) as CSV, JSON or Parquet — safe to open in a spreadsheet.

Capture content is hostile: a host name such as ``=HYPERLINK(...)`` would run as a formula in
Excel or LibreOffice.  Text cells starting with a formula character get a leading apostrophe
(OWASP's CSV injection advice); numbers are left alone.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Iterable, Sequence

from tracecheck.errors import UserError

FORMATS = ("csv", "json", "parquet")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def neutralise(value):
    """A cell value that no spreadsheet will evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_FORMULA_FIRST = frozenset(FORMULA_START)


def _cell(value):
    """One CSV cell: text neutralised, floats to the microsecond, nothing for None/NaN.
    Numbers (even negative ones) are left alone.  Written for speed: it runs once per cell."""
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in _FORMULA_FIRST else value
    if value is None:
        return ""
    if kind is float:
        return "" if math.isnan(value) else repr(round(value, 6))
    if isinstance(value, str):  # str subclasses (enums)
        return neutralise(str(value))
    return value


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_cell(row.get(c)) for c in columns] for row in rows])
    return out.getvalue()


def to_json(rows: Iterable[dict], columns: Sequence[str]) -> str:
    return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=1, ensure_ascii=False) + "\n"


def write_table(rows: list[dict], columns: Sequence[str], fmt: str, output: str | None) -> None:
    """Write ``rows`` to ``output`` (a path; ``None`` or ``-`` for stdout)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    to_stdout = output in (None, "-")
    if fmt == "parquet":
        if to_stdout:
            raise UserError("parquet is binary: give an output file with -o FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: [row.get(c) for row in rows] for c in columns})
        try:
            pq.write_table(table, output)
        except OSError as err:  # pyarrow raises FileNotFoundError, IsADirectoryError ...
            raise UserError(f"cannot write {output}: {err.strerror or err}") from None
        return
    text = to_csv(rows, columns) if fmt == "csv" else to_json(rows, columns)
    if to_stdout:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot write {output}: {err.strerror or err}") from None
