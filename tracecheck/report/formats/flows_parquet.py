"""flows.parquet: the flow table with declared column types, so that runs concatenate."""

from __future__ import annotations

from tracecheck.report.interface import Columns, ReportFormat


class FlowsParquet(ReportFormat):
    name = "parquet"
    file_name = "flows.parquet"
    summary = "the flow table for pandas and Arrow, one schema across runs"

    def render(self, report, flows: Columns) -> bytes:
        from tracecheck.flows.table import COLUMNS
        from tracecheck.report import tables

        return tables.parquet_bytes(flows, COLUMNS)


FORMAT = FlowsParquet()
