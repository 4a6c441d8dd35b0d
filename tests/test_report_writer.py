"""write_report: the whole report directory, deterministic, spreadsheet-safe, manifest last."""

from __future__ import annotations

import csv
import io

import pytest
import report_samples

from tracecheck.errors import UserError
from tracecheck.flows.table import COLUMNS
from tracecheck.report import parse_formats, verify, write_report


def _contents(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_writes_the_contract_files_and_the_manifest_last(tmp_path):
    written = write_report(report_samples.report(), tmp_path / "out" / "deep", report_samples.flow_rows(), set())
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "manifest.json"]
    assert sorted(p.name for p in (tmp_path / "out" / "deep").iterdir()) == [
        "flows.csv", "manifest.json", "report.html", "report.json"]


def test_extra_formats(tmp_path):
    written = write_report(report_samples.report(), tmp_path, report_samples.flow_rows(),
                           {"sarif", "junit", "parquet"})
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "report.sarif",
                                         "report.junit.xml", "flows.parquet", "manifest.json"]
    assert verify(tmp_path) == []


def test_same_inputs_same_bytes(tmp_path, monkeypatch):
    for epoch in (None, "1764230400"):
        if epoch is None:
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        else:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        first, second = tmp_path / f"a{epoch}", tmp_path / f"b{epoch}"
        for out in (first, second):
            write_report(report_samples.report(), out, report_samples.flow_rows(), {"sarif", "junit"})
        assert _contents(first) == _contents(second)


def test_flows_csv_has_the_contract_columns_and_neutralises_formulas(tmp_path):
    write_report(report_samples.report(), tmp_path, report_samples.flow_rows(), set())
    rows = list(csv.reader(io.StringIO((tmp_path / "flows.csv").read_text())))
    assert tuple(rows[0]) == COLUMNS
    server_names = [row[COLUMNS.index("server_name")] for row in rows[1:]]
    assert server_names == ["'" + report_samples.HOSTILE_FORMULA, "'-1+2"]
    assert rows[1][COLUMNS.index("id.resp_p")] == "443"  # numbers are left alone


def test_a_rerun_removes_outputs_not_asked_for_again(tmp_path):
    write_report(report_samples.report(), tmp_path, report_samples.flow_rows(), {"sarif", "junit", "parquet"})
    write_report(report_samples.report(), tmp_path, report_samples.flow_rows(), set())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows.csv", "manifest.json", "report.html", "report.json"]
    assert verify(tmp_path) == []


def test_unknown_formats_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(UserError, match="unknown report format pdf: choose from json, html, csv, sarif, junit, parquet"):
        write_report(report_samples.report(), tmp_path / "out", [], {"pdf"})
    assert not (tmp_path / "out").exists()
    assert parse_formats(" SARIF, junit,,") == {"sarif", "junit"}


def test_out_dir_that_is_a_file_is_bad_input(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(UserError, match="taken"):
        write_report(report_samples.report(), target, [], set())
