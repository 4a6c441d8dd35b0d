"""report.json bytes: the same report gives the same bytes, with or without SOURCE_DATE_EPOCH."""

from __future__ import annotations

import json

import pytest
import report_samples

from tracecheck.errors import UserError
from tracecheck.report.formats.json_report import (
    FORMAT,
    load_report,
    render_report_json,
)


def test_same_report_same_bytes(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = render_report_json(report_samples.report())
    second = render_report_json(report_samples.report())
    assert first == second
    assert first.endswith(b"}\n") and not first.endswith(b"\n\n")
    assert b"generated" not in first


def test_order_of_construction_does_not_matter(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    forward = report_samples.report()
    backward = report_samples.report(destinations=list(reversed(report_samples.destinations())),
                                     sources=list(reversed(forward.sources)))
    assert render_report_json(forward) == render_report_json(backward)


def test_source_date_epoch_gives_a_generated_time_and_still_the_same_bytes(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764230400")
    first = render_report_json(report_samples.report())
    assert first == render_report_json(report_samples.report())
    assert json.loads(first)["generated"] == "2025-11-27T08:00:00Z"
    assert list(json.loads(first))[-1] == "generated"


def test_text_is_utf8_not_escaped(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    report = report_samples.report(observability=["Zürich 東京"])
    raw = render_report_json(report)
    assert "Zürich 東京".encode() in raw and b"\\u" not in raw


def test_written_file_loads_back_and_renders_identically(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    path = FORMAT.write(report_samples.report(), {}, tmp_path)
    assert path.name == "report.json"
    assert render_report_json(load_report(path)) == path.read_bytes()
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary behind


def test_load_report_says_what_is_wrong(tmp_path):
    bad = tmp_path / "report.json"
    bad.write_text('{"schema_version": "1"}')
    with pytest.raises(UserError, match="not a tracecheck report.json: tool"):
        load_report(bad)
    bad.write_text("not json")
    with pytest.raises(UserError, match="not a tracecheck report.json"):
        load_report(bad)
