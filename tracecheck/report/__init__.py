"""Output formats: one module each (tables: CSV/JSON/Parquet; the report JSON; HTML; manifest).

The public entry points: ``Report`` (and its parts, in ``model``) to build report.json's content,
``write_report`` to write a whole report directory, ``verify`` to check one.  They are imported
on first use, so that ``tracecheck flows`` (which needs only ``tables``) starts quickly.
"""

from importlib import import_module

_EXPORTS = {
    "check": "verification", "verify": "verification",
    "Report": "model", "Summary": "model",
    "parse_formats": "writer", "write_report": "writer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"tracecheck.report.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tracecheck.report' has no attribute {name!r}")
