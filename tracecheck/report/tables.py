"""Row tables (flows, names) as CSV, JSON or Parquet — safe to open in a spreadsheet.

Capture content is hostile: a host name such as ``=HYPERLINK(...)`` would run as a formula in
Excel or LibreOffice.  Text cells starting with a formula character get a leading apostrophe
(OWASP's CSV injection advice); numbers are left alone.

Tables are written column by column: a column of one type (all text, all integers, floats or
empty) is converted by one list comprehension, and only a column of mixed types goes cell by
cell.  The text is the same, byte for byte, as the row-by-row writers' (``json.dumps`` with
``indent=1``, ``_cell`` per cell), which the tests hold it to.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from json.encoder import encode_basestring

import numpy as np

from tracecheck.errors import UserError

FORMATS = ("csv", "json", "parquet")
# Parquet types of each table's columns, in order.  Declared, not inferred: pyarrow makes a column
# no row fills ``null`` (``vlan`` of an untagged capture, every column of an empty table), so
# the files of two runs would not concatenate (``pyarrow.concat_tables``, ``pandas.concat``).
FLOW_PARQUET = {
    "uid": "string", "ts": "double", "duration": "double", "proto": "string",
    "id.orig_h": "string", "id.orig_p": "int64", "id.resp_h": "string", "id.resp_p": "int64",
    "orig_pkts": "int64", "orig_ip_bytes": "int64", "resp_pkts": "int64", "resp_ip_bytes": "int64",
    "server_name": "string", "name_source": "string", "app": "string", "vlan": "int64", "tunnel": "string",
    "handshake_rtt_ms": "double", "capture_file": "string",
}
NAMES_PARQUET = {
    "ts": "double", "ip": "string", "name": "string", "source": "string", "uid": "string", "ttl": "int64",
    "client": "string", "detail": "string",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")

Columns = Mapping[str, Sequence]
"""A table as columns: column name -> its values, every column as long as the others."""


def neutralise(value):
    """A cell value that no spreadsheet will evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_FORMULA_FIRST = frozenset(FORMULA_START)


def _cell(value):
    """One CSV cell: text neutralised, floats to the microsecond, nothing for None/NaN.
    Numbers (even negative ones) are left alone."""
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


def csv_texts(values: Sequence) -> list[str]:
    """Every cell of one column as the csv module would write ``_cell`` of it, quotes included."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return _quoted_where_needed(["'" + v if v[:1] in _FORMULA_FIRST else v for v in values])
    if kinds == {int}:
        return list(map(str, values))
    if kinds <= {int, type(None)}:
        return ["" if v is None else str(v) for v in values]
    if kinds <= {float, type(None)}:
        return _microseconds(values)
    # Mixed or unusual types: cell by cell, turned into text as the csv module turns them.
    return _quoted_where_needed([_csv_text(_cell(v)) for v in values])


def _csv_text(cell) -> str:
    """What the csv module writes for a ``_cell`` value (floats by repr, the rest by str)."""
    if isinstance(cell, str):
        return cell
    if cell is None:
        return ""
    return repr(cell) if isinstance(cell, float) else str(cell)


_CSV_SPECIAL = ',"\r\n'  # every character that can make the csv module quote a field


def _needs_quotes(text: str) -> bool:
    return any(special in text for special in _CSV_SPECIAL)  # str's "in" is far faster than a regex here


def _quoted_where_needed(texts: list[str]) -> list[str]:
    if not _needs_quotes("".join(texts)):
        return texts
    return [_csv_quoted(text) if _needs_quotes(text) else text for text in texts]


def _csv_quoted(text: str) -> str:
    """The field as the csv module writes it (in quotes, quotes doubled, if it needs them)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([text, ""])  # two fields: a lone "" is a case of its own
    return out.getvalue()[:-2]


_FIXED_POINT = (1e-4, 2.0 ** 32)


def _microseconds(values: Sequence) -> list[str]:
    """``_cell`` of a column of floats (None and NaN as ""), at list speed.

    ``f"{v:.6f}"`` rounds exactly as ``round(v, 6)`` does (both are dtoa's mode 3).  Where doubles are
    closer together than 1e-6 (|v| < 2**32) and repr writes fixed point (|v| >= 1e-4), the
    rounded double's shortest repr is those six decimals without trailing zeros.  Elsewhere
    (0 < |v| < 1e-4, huge values, NaN, None) ``_cell`` itself writes the cell."""
    magnitude = np.abs(np.array(values, dtype=float))  # None -> NaN
    plain = (((magnitude >= _FIXED_POINT[0]) & (magnitude < _FIXED_POINT[1])) | (magnitude == 0)).tolist()
    texts = [f"{v:.6f}".rstrip("0") if fixed else _csv_text(_cell(v)) for v, fixed in zip(values, plain)]
    return [text + "0" if text[-1:] == "." else text for text in texts]  # repr writes 5.0, not 5.


def columns_to_csv(table: Columns) -> str:
    """``csv.writer(lineterminator="\\n")`` of the header and of ``_cell`` of every cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table)
    if len(table) < 2:  # no row-joining shortcut for a table that narrow: the csv module writes it
        writer.writerows(zip(*([_cell(v) for v in values] for values in table.values())))
        return out.getvalue()
    lines = list(map(",".join, zip(*(csv_texts(values) for values in table.values()))))
    return out.getvalue() + ("\n".join(lines) + "\n" if lines else "")


class _NotScalar(Exception):
    """A cell json.dumps would lay out over several lines: only json.dumps itself can write it."""


def _json_scalar(value) -> str:
    """``json.dumps(value)`` of one cell, tested in json's own order (str, None, bools, int, float)."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    raise _NotScalar


def json_texts(values: Sequence) -> list[str]:
    """Every cell of one column as ``json.dumps(..., ensure_ascii=False)`` writes it."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(map(encode_basestring, values))
    if kinds == {int}:
        return list(map(int.__repr__, values))
    if kinds <= {int, type(None)}:
        return ["null" if v is None else int.__repr__(v) for v in values]
    if kinds <= {float, type(None)} and all(map(math.isfinite, filter(None, values))):
        return ["null" if v is None else float.__repr__(v) for v in values]
    return [_json_scalar(v) for v in values]


def columns_to_json(table: Columns) -> str:
    """``json.dumps(rows, indent=1, ensure_ascii=False)`` of the table's rows, built from columns:
    json's indented writer is pure Python and slow, its cell encoders are not."""
    try:
        cells = [json_texts(values) for values in table.values()]
    except _NotScalar:
        cells = []
    if not cells:
        return _rows_to_json(table)
    n = len(cells[0])
    if not n:
        return "[]\n"
    # Each row as json.dumps(indent=1) lays it out at depth 2: what comes before each cell,
    # interleaved with the cells, then joined once.
    before = ["{\n  " if i == 0 else ",\n  " for i in range(len(table))]
    pieces: list = []
    for lead, name, texts in zip(before, table, cells):
        pieces += (repeat(lead + encode_basestring(name) + ": ", n), texts)
    pieces.append(repeat("\n },\n ", n))
    body = "".join(chain.from_iterable(zip(*pieces)))
    return "[\n " + body[:-len(",\n ")] + "\n]\n"


def _rows_to_json(table: Columns) -> str:
    rows = [dict(zip(table, values)) for values in zip(*table.values())]
    return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"


def rows_to_columns(rows: Iterable[dict], columns: Sequence[str]) -> dict[str, list]:
    rows = list(rows)
    return {c: [row.get(c) for row in rows] for c in columns}


def as_columns(rows: Iterable[dict] | Columns, columns: Sequence[str]) -> Columns:
    """The table as ``columns`` (in that order), whether it came as rows (dicts) or as columns."""
    if isinstance(rows, Mapping):
        return {c: rows[c] for c in columns}
    return rows_to_columns(rows, columns)


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    return columns_to_csv(rows_to_columns(rows, columns))


def to_json(rows: Iterable[dict], columns: Sequence[str]) -> str:
    return columns_to_json(rows_to_columns(rows, columns))


def parquet_schema(columns: Sequence[str]):
    """The declared ``pyarrow.Schema`` of the table with these columns (flows or names); a
    KeyError for any other, whose types nobody declared."""
    import pyarrow as pa

    declared = next((types for types in (FLOW_PARQUET, NAMES_PARQUET) if list(types) == list(columns)), None)
    if declared is None:
        raise KeyError(f"no Parquet schema declared for the columns {list(columns)}")
    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in declared.items()])


def write_table(rows: list[dict] | Columns, columns: Sequence[str], fmt: str, output: str | None) -> None:
    """Write ``rows`` (dicts, or the table as ``Columns``) to ``output`` (a path; ``None`` or
    ``-`` for stdout), with the columns named by ``columns``, in that order."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    table = as_columns(rows, columns)
    to_stdout = output in (None, "-")
    if fmt == "parquet":
        if to_stdout:
            raise UserError("parquet is binary: give an output file with -o FILE")
        # Opened here, not by pyarrow: it would read the name as a URI (s3://... goes to the network).
        _write(output, "wb", lambda out: out.write(parquet_bytes(table, columns)))
        return
    text = columns_to_csv(table) if fmt == "csv" else columns_to_json(table)
    if to_stdout:
        sys.stdout.write(text)
        return
    _write(output, "w", lambda out: out.write(text))


def parquet_bytes(table: Columns, columns: Sequence[str]) -> bytes:
    """The table as a Parquet file, with the declared types of its columns (``parquet_schema``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_table = pa.table({c: list(table[c]) for c in columns}, schema=parquet_schema(columns))
    sink = pa.BufferOutputStream()
    pq.write_table(arrow_table, sink)
    return sink.getvalue().to_pybytes()


def _write(output: str, mode: str, write) -> None:
    """``write(file)`` into ``output``; any OSError (a directory, no permission, a full disk) is one line."""
    try:
        with open(output, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as out:
            write(out)
    except OSError as err:  # pyarrow's errors on a file object are OSErrors too
        raise UserError(f"cannot write {output}: {err.strerror or err}") from None
