"""flows.csv: the flow table in the report directory, CONTRACT.md's columns, safe in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tracecheck.report.atomic import write_parts_atomically
from tracecheck.report.interface import Columns, ReportFormat

ROWS_AT_A_TIME = 2_000
"""Rows turned into text at a time: the table is written column by column, a text per cell, and
a hundred thousand flows at once would hold two million of them.  Few, so that each chunk's
memory is the last one's again (``json_report.SLICE``: 20,000 at a time took three times the
faults)."""


class FlowsCsv(ReportFormat):
    name = "csv"
    file_name = "flows.csv"
    summary = "the flow table, Zeek conn.log columns, formulas neutralised"
    always = True
    order = 2

    def render(self, report, flows: Columns) -> bytes:
        return b"".join(_parts(flows))

    def write(self, report, flows: Columns, out_dir: Path) -> Path:
        """Written as it is made, ROWS_AT_A_TIME rows at a time, atomically like the others: the
        whole text of a hundred thousand flows is never held (nor its pieces waiting to be joined)."""
        return write_parts_atomically(Path(out_dir) / self.file_name, _parts(flows))


def _parts(flows: Columns) -> Iterator[bytes]:
    """flows.csv's bytes: the header and the first rows, then the rest ROWS_AT_A_TIME rows at a time."""
    from tracecheck.report import tables

    rows = len(next(iter(flows.values()), ()))
    if rows <= ROWS_AT_A_TIME:
        yield tables.columns_to_csv(flows).encode("utf-8")
        return
    for start in range(0, rows, ROWS_AT_A_TIME):
        text = tables.columns_to_csv({name: values[start:start + ROWS_AT_A_TIME] for name, values in flows.items()})
        yield (text if start == 0 else text.split("\n", 1)[1]).encode("utf-8")  # one header


FORMAT = FlowsCsv()
