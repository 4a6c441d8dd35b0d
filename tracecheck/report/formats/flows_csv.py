"""flows.csv: the flow table in the report directory, CONTRACT.md's columns, safe in a spreadsheet."""

from __future__ import annotations

from tracecheck.report.interface import Columns, ReportFormat

ROWS_AT_A_TIME = 20_000
"""Rows turned into text at a time: the table is written column by column, a text per cell, and
a hundred thousand flows at once would hold two million of them."""


class FlowsCsv(ReportFormat):
    name = "csv"
    file_name = "flows.csv"
    summary = "the flow table, Zeek conn.log columns, formulas neutralised"
    always = True
    order = 2

    def render(self, report, flows: Columns) -> bytes:
        from tracecheck.report import tables

        rows = len(next(iter(flows.values()), ()))
        if rows <= ROWS_AT_A_TIME:
            return tables.columns_to_csv(flows).encode("utf-8")
        parts = []
        for start in range(0, rows, ROWS_AT_A_TIME):
            text = tables.columns_to_csv({name: values[start:start + ROWS_AT_A_TIME] for name, values in flows.items()})
            parts.append((text if start == 0 else text.split("\n", 1)[1]).encode("utf-8"))  # one header
        return b"".join(parts)


FORMAT = FlowsCsv()
