"""report.json: the contract's schema, written the same way byte for byte for the same report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from tracecheck.errors import UserError
from tracecheck.report.interface import Columns, ReportFormat

if TYPE_CHECKING:
    from tracecheck.report.model import Report

FILE_NAME = "report.json"


def render_report_json(report: Report) -> bytes:
    """UTF-8 JSON, two-space indent, non-ASCII kept as is, one trailing newline.

    ``generated`` is filled from SOURCE_DATE_EPOCH when that is set; without it the bytes
    carry no time of writing at all, so two runs on the same inputs compare equal."""
    from tracecheck.report.model import canonical_dict

    data = canonical_dict(report.with_generated_from_environment())
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


class ReportJson(ReportFormat):
    name = "json"
    file_name = FILE_NAME
    summary = "the contract's report (CONTRACT.md)"
    always = True
    order = 0

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_report_json(report)


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
