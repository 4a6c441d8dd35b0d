"""Report formats, one module each, and their registry: every module of this package that
defines ``FORMAT`` (a ``ReportFormat``) is a format ``analyze --format`` knows."""

from __future__ import annotations

import pkgutil
from functools import cache
from importlib import import_module

from tracecheck.errors import UserError
from tracecheck.report.interface import ReportFormat


@cache
def all_formats() -> tuple[ReportFormat, ...]:
    """Every format, in their ``order``, then by name."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        defined = getattr(import_module(f"{__name__}.{module.name}"), "FORMAT", None)
        if isinstance(defined, ReportFormat):
            found.append(defined)
    return tuple(sorted(found, key=lambda f: (f.order, f.name)))


def names() -> tuple[str, ...]:
    return tuple(f.name for f in all_formats())


def chosen(wanted: set[str]) -> list[ReportFormat]:
    """The formats a run writes: the always-written ones and those in ``wanted``."""
    check(wanted)
    return [f for f in all_formats() if f.always or f.name in wanted]


def check(wanted: set[str]) -> None:
    """An unknown name is a UserError that lists the known ones."""
    unknown = sorted(set(wanted) - set(names()))
    if unknown:
        raise UserError(f"unknown report format {', '.join(unknown)}: choose from {', '.join(names())}")


def help_text() -> str:
    """``--format``'s help, from the registry: what each optional format adds."""
    extra = [f"{f.name} ({f.file_name}: {f.summary})" for f in all_formats() if not f.always]
    written = ", ".join(f.file_name for f in all_formats() if f.always)
    return f"More outputs beside {written}, comma-separated or repeated: " + "; ".join(extra) + "."
