"""flows.csv: the flow table in the report directory, CONTRACT.md's columns, safe in a spreadsheet."""

from __future__ import annotations

from tracecheck.report.interface import Columns, ReportFormat


class FlowsCsv(ReportFormat):
    name = "csv"
    file_name = "flows.csv"
    summary = "the flow table, Zeek conn.log columns, formulas neutralised"
    always = True
    order = 2

    def render(self, report, flows: Columns) -> bytes:
        from tracecheck.report import tables

        return tables.columns_to_csv(flows).encode("utf-8")


FORMAT = FlowsCsv()
