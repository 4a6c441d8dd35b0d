"""report.json: the contract's schema, written the same way byte for byte for the same report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tracecheck.errors import UserError
from tracecheck.report.atomic import write_parts_atomically
from tracecheck.report.interface import Columns, ReportFormat

if TYPE_CHECKING:
    from tracecheck.report.model import Report

FILE_NAME = "report.json"


SLICE = 200
"""Destinations made plain and written at a time: report.json of a hundred thousand destinations
is 200 MB, and neither it nor its plain form is ever held whole.  Small, so that each slice's
memory is the last one's again: a page of memory new to a process is a fault, and after the pages
are forked off each one written is (2,000 at a time took twice the faults and a third more time)."""


def render_report_json(report: Report) -> bytes:
    """UTF-8 JSON, two-space indent, non-ASCII kept as is, one trailing newline.

    ``generated`` is filled from SOURCE_DATE_EPOCH when that is set; without it the bytes
    carry no time of writing at all, so two runs on the same inputs compare equal."""
    return b"".join(report_json_parts(report))


def report_json_parts(report: Report) -> Iterator[bytes]:
    """``render_report_json``'s bytes, a slice of destinations at a time: the head of the document
    up to its destinations, each SLICE of them as the indented writer lays them out at that depth
    (every line two spaces further in: a string's newlines are escaped, so a line break is never
    inside one), then the rest."""
    from tracecheck.report import grouping, model

    report = report.with_generated_from_environment()
    if not report.destinations or len(report.destinations) <= grouping.SUMMARISE_ABOVE:
        # The pages read this same plain form (grouping.page_data), and canonical_dict keeps it:
        # made once for both.  A larger report's pages read another, and its destinations are
        # written from their values (``_destinations_indented``) in a third of the time.
        yield dumps_indented(model.canonical_dict(report)) + b"\n"
        return
    head = dumps_indented(model.canonical_head(report))
    before, after = head.split(_EMPTY_DESTINATIONS, 1)  # the only key at that depth that is "destinations"
    yield before + b'\n  "destinations": ['
    ordered = model.sorted_destinations(report)
    for start in range(0, len(ordered), SLICE):
        part = _destinations_indented(ordered[start:start + SLICE])
        yield (b"," if start else b"") + part[1:-2].replace(b"\n", b"\n  ")  # without "[" and "\n]"
    yield b"\n  ]" + after + b"\n"


_EMPTY_DESTINATIONS = b'\n  "destinations": []'


def _destinations_indented(destinations) -> bytes:
    """``dumps_indented(plain_destinations(destinations))``: from the instances' values
    (``rows.destination_rows``) when orjson takes them as they are, else the careful way."""
    import orjson

    from tracecheck.report import model, rows as plain_rows

    rows = plain_rows.destination_rows(destinations, model.DESTINATION_FLOATS)
    try:
        text = (orjson.dumps(rows, option=orjson.OPT_INDENT_2)
                if plain_rows.floats_print_alike(rows, model.DESTINATION_FLOATS) else None)
    except (TypeError, orjson.JSONEncodeError):  # a lone surrogate, an integer beyond 64 bits
        text = None
    if text is None:
        return dumps_indented(model.plain_destinations(destinations))
    return text


# Where orjson writes a number otherwise than Python's repr: in exponent form (orjson's 1e-7 for
# repr's 1e-07, always with a sign), or in the decimal form of one that repr writes with an
# exponent (0.00001 for 1e-05).  Searched for as literals first (fast over a large report; names
# match too), then kept only when the line holds a number: a list item, or a key and a number
# (the newlines of a string are escaped, so a line is never inside one).
_NUMBER_SHAPES = (re.compile(rb"e[-+][0-9]"), re.compile(rb"0\.0000"))
_NUMBER_LINE = re.compile(rb' *(?:"(?:[^"\\]|\\.)*": )?-?[0-9]')


def _repr_differs(text: bytes) -> bool:
    for shape in _NUMBER_SHAPES:
        for found in shape.finditer(text):
            line_start = text.rfind(b"\n", 0, found.start()) + 1
            if _NUMBER_LINE.match(text, line_start):
                return True
    return False


def dumps_indented(data) -> bytes:
    """``json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)`` as UTF-8, byte for byte.

    orjson writes the same layout a hundred times faster than json's pure-Python indenting
    encoder, which took most of report.json's time for a capture of many destinations.  Where
    the two could differ (a number in exponent form, an integer beyond 64 bits) json writes it.
    ``data`` holds no NaN or infinity (report.json's plain form never does; orjson would write
    null where json refuses)."""
    import orjson

    try:
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    except (TypeError, orjson.JSONEncodeError):
        text = None
    if text is None or _repr_differs(text):
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return text


class ReportJson(ReportFormat):
    name = "json"
    file_name = FILE_NAME
    summary = "the contract's report (CONTRACT.md)"
    always = True
    order = 0

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_report_json(report)

    def write(self, report: Report, flows: Columns, out_dir: Path) -> Path:
        """Written a slice at a time (``report_json_parts``), atomically like the others."""
        return write_parts_atomically(Path(out_dir) / FILE_NAME, report_json_parts(report))


FORMAT = ReportJson()


def load_report(path: Path) -> Report:
    """Read a report.json back (for ``diff``, tools that post-process reports, and tests)."""
    from pydantic import ValidationError

    from tracecheck.report.model import Report

    try:
        return Report.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as err:
        raise UserError(f"{path}: cannot read: {err.strerror or err}") from None
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "top level"
        raise UserError(f"{path}: not a tracecheck report.json: {where}: {problem['msg']}") from None
    except ValueError as err:  # not JSON at all
        raise UserError(f"{path}: not a tracecheck report.json: {err}") from None
