"""Names from a capture are text to the terminal, never rich markup: `[/]` must not crash a table
and `[red]` must not style it (analyze, lookup, db status, diff)."""

from __future__ import annotations

import json

from call_scenarios import GENESYS_API, TestCall

from cli_runner import run

HOSTILE = ("[/]close.example", "[red]x.example", "[link=http://evil.example]y[/link].example")


def test_analyze_prints_hostile_names_verbatim(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    call = TestCall().service(*GENESYS_API)
    for n, name in enumerate(HOSTILE):
        call.service(name, f"52.210.12.{60 + n}")
    capture = call.write(tmp_path / "hostile.pcapng")
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(capture),
                         "--out", str(tmp_path / "r"))
    assert code in (0, 1) and "Traceback" not in err and "MarkupError" not in err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    recorded = {n["name"] for d in report["destinations"] for n in d["names"]}
    for name in HOSTILE:
        assert name in recorded  # the capture's name reached the report...
        assert name in out, out  # ...and is printed as it is, markup and all


def test_lookup_prints_hostile_targets_verbatim(monkeypatch, capsys, tmp_path):
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "lookup", "52.210.12.34")
    assert code == 0 and "52.210.12.34" in out
    from tracecheck.cli import lookup as lookup_cli

    rows = [{"target": "[/]t", "ip": "[red]1", "provider": "[bold]p", "service": "", "region": "[/]",
             "country": "[i]X", "city": "", "anycast": False, "local": False, "jurisdictions": ["[/]"],
             "evidence": [{"source": "[/]s", "claim": "[red]c[/red]"}]}]
    lookup_cli._print_table(rows)
    out = capsys.readouterr().out
    for text in ("[/]t", "[red]1", "[bold]p", "[i]X", "[/]s: [red]c[/red]"):
        assert text in out


def test_db_status_prints_hostile_source_names_verbatim(monkeypatch, capsys, tmp_path):
    from tracecheck.geo import store

    row = {"name": "[/]geo", "kind": "[red]geoip", "version": "[bold]v", "date": "2026-01-01",
           "date_label": "2026-01-01", "age_days": 1, "prefixes": 3, "sha256": "ab" * 32, "stale": True,
           "modified": True}
    monkeypatch.setattr(store, "status", lambda db: {"db": "[/]db", "today": "2026-01-02", "sources": [row],
                                                     "missing": ["[/]aws"]})
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "db", "status")
    assert code == 0 and "Traceback" not in err
    for text in ("[/]geo", "[red]geoip", "[bold]v", "stale modified since import", "missing: [/]aws"):
        assert text in out, out
