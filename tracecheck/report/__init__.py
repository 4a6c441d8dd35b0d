"""Output formats: one module each (tables: CSV/JSON/Parquet; the report JSON; HTML; manifest).

The public entry points: ``Report`` (and its parts, in ``model``) to build report.json's content,
``write_report`` to write a whole report directory, ``verify`` to check one.
"""

from tracecheck.report.manifest import check, verify
from tracecheck.report.model import Report, Summary
from tracecheck.report.writer import FORMATS, parse_formats, write_report

__all__ = ["FORMATS", "Report", "Summary", "check", "parse_formats", "verify", "write_report"]
