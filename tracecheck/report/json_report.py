"""report.json: the contract's schema, written the same way byte for byte for the same report."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from tracecheck.errors import UserError
from tracecheck.report.atomic import write_atomically
from tracecheck.report.model import Report, canonical_dict

FILE_NAME = "report.json"


def render_report_json(report: Report) -> bytes:
    """UTF-8 JSON, two-space indent, non-ASCII kept as is, one trailing newline.

    ``generated`` is filled from SOURCE_DATE_EPOCH when that is set; without it the bytes
    carry no time of writing at all, so two runs on the same inputs compare equal."""
    data = canonical_dict(report.with_generated_from_environment())
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def write_report_json(report: Report, out_dir: Path) -> Path:
    return write_atomically(Path(out_dir) / FILE_NAME, render_report_json(report))


def load_report(path: Path) -> Report:
    """Read a report.json back (for tools that post-process reports, and for tests)."""
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
