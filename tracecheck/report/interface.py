"""What every report format is: a name ``--format`` knows it by, the file it writes in the report
directory, and how it renders a report (and the flow table) to bytes.

Adding a format takes one module in ``tracecheck/report/`` that defines a ``FORMAT``: the registry
(``formats.py``) finds it, ``--format``'s help and the error for an unknown name list it, the writer
writes it, the manifest vouches for it.  A format module imports what only it needs (jinja2, the
PDF engine) inside its functions, so that listing the formats stays cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tracecheck.report.atomic import write_atomically

if TYPE_CHECKING:
    from tracecheck.report.model import Report

Columns = Mapping[str, Sequence]
"""The flow table as columns (``tracecheck.flows.table.COLUMNS``): column name -> its values."""


class ReportFormat(ABC):
    """One output of ``analyze`` in the report directory."""

    name: ClassVar[str]
    """As ``--format`` names it (``sarif``)."""
    file_name: ClassVar[str]
    """The file it writes in the report directory (``report.sarif``)."""
    summary: ClassVar[str]
    """One line for ``--format``'s help: what it is for."""
    always: ClassVar[bool] = False
    """Written on every run (CONTRACT.md's report directory), whatever ``--format`` says."""
    order: ClassVar[int] = 100
    """Where it comes among the formats (the contract's report.json, report.html, flows.csv first)."""
    page: ClassVar[bool] = False
    """A page for people to read (report.html, report.pdf): of a large report, written by a forked
    process while this one writes the rest (``side_by_side``)."""

    def prepare(self) -> None:
        """Import what rendering will need, ahead of it: done before a forked process writes the
        page (``side_by_side``), which then starts with it loaded instead of loading it itself."""

    @abstractmethod
    def render(self, report: Report, flows: Columns) -> bytes:
        """The file's bytes: the same report and flows give the same bytes, every time."""

    def write(self, report: Report, flows: Columns, out_dir: Path) -> Path:
        """Write the file atomically into ``out_dir`` and return its path."""
        return write_atomically(Path(out_dir) / self.file_name, self.render(report, flows))
