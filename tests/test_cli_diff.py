"""`tracecheck diff OLD NEW`: vendor drift between two assessments of the same call."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from call_scenarios import TRANSCRIBE_US, eu_compliant_call, write_range_files

from cli_runner import one_line, run
from tracecheck.report.diff import diff_reports


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    db = str(tmp_path / "db")
    return lambda *args: run(monkeypatch, capsys, "--db", db, *args)


def test_a_us_transcription_stream_added_is_named_and_exits_1(tc, tmp_path):
    """The acceptance test: same call twice, the second with a US transcription stream added."""
    ranges = write_range_files(tmp_path / "downloads")
    assert tc("db", "import", str(ranges["aws"]), "--source", "aws")[0] == 0
    old_capture = eu_compliant_call().write(tmp_path / "q1.pcapng")
    new_capture = eu_compliant_call().service(*TRANSCRIBE_US, rtt_ms=78).write(tmp_path / "q2.pcapng")
    assert tc("analyze", str(old_capture), "--out", str(tmp_path / "q1"))[0] == 0
    assert tc("analyze", str(new_capture), "--out", str(tmp_path / "q2"))[0] == 1

    code, out, err = tc("diff", str(tmp_path / "q1"), str(tmp_path / "q2" / "report.json"), "--json")
    assert code == 1 and err == ""
    result = json.loads(out)
    [row] = result["destinations"]
    assert row["status"] == "appeared" and row["ip"] == TRANSCRIBE_US[1] and row["name"] == TRANSCRIBE_US[0]
    assert row["verdict"] == "violation"
    assert result["new_violations"] == [TRANSCRIBE_US[1]]
    assert result["sources"] == [] and result["policy"] == []

    code, out, _ = tc("diff", str(tmp_path / "q1"), str(tmp_path / "q2"))
    assert code == 1
    [line] = [line for line in out.splitlines()[:-1] if TRANSCRIBE_US[1] in line]
    assert line.startswith("appeared") and TRANSCRIBE_US[0] in line and "violation" in line
    assert out.splitlines()[-1].startswith("NEW VIOLATIONS: 1")

    # The other way round the US stream vanished: nothing new violates.
    code, out, _ = tc("diff", str(tmp_path / "q2"), str(tmp_path / "q1"), "--json")
    assert code == 0 and [r["status"] for r in json.loads(out)["destinations"]] == ["vanished"]
    # Same report twice: nothing changed; the JSON is byte for byte the same on a re-run.
    first = tc("diff", str(tmp_path / "q2"), str(tmp_path / "q2"), "--json")
    assert first[0] == 0 and json.loads(first[1])["destinations"] == []
    assert tc("diff", str(tmp_path / "q2"), str(tmp_path / "q2"), "--json") == first


def _report(*destinations, sources=(), policy=None) -> dict:
    return {"schema_version": "1", "destinations": list(destinations), "sources": list(sources),
            "policy": policy or {"name": "gdpr-eu", "sha256": "aa", "authorized": ["EU", "EEA"], "exceptions": []}}


def _dest(ip, name="", verdict="compliant", **fields) -> dict:
    return {"ip": ip, "names": [{"name": name, "source": "sni"}] if name else [], "verdict": verdict,
            "provider": "aws", "region": "eu-west-1", "country": "IE", "category": "crm"} | fields


def test_a_destination_that_moved_address_but_kept_its_name_is_moved():
    old = _report(_dest("3.120.181.40", "acme.my.salesforce.com"))
    new = _report(_dest("3.227.250.20", "ACME.my.salesforce.com", "violation", region="us-east-1", country="US"))
    result = diff_reports(old, new)
    [row] = result.destinations
    assert row.status == "moved" and row.old_ip == "3.120.181.40" and row.ip == "3.227.250.20"
    assert {c.field: (c.old, c.new) for c in row.changes} == {
        "ip": ("3.120.181.40", "3.227.250.20"), "region": ("eu-west-1", "us-east-1"),
        "country": ("IE", "US"), "verdict": ("compliant", "violation")}
    assert result.exit_code == 1


def test_a_verdict_that_became_a_violation_exits_1_and_an_old_violation_does_not():
    old = _report(_dest("1.1.1.1", "a.example"), _dest("2.2.2.2", "b.example", "violation"))
    new = _report(_dest("1.1.1.1", "a.example", "violation"), _dest("2.2.2.2", "b.example", "violation"))
    assert diff_reports(old, new).new_violations == ("1.1.1.1",)
    assert diff_reports(new, new).exit_code == 0
    assert diff_reports(new, old).exit_code == 0


def test_changed_sources_and_policy_are_said():
    aws = {"name": "aws", "kind": "provider", "version": "1", "date": "2026-01-01", "sha256": "aa"}
    old = _report(sources=[aws, {"name": "gone", "kind": "geoip", "date": "", "sha256": "cc"}])
    new = _report(sources=[aws | {"date": "2026-04-01", "sha256": "bb"}],
                  policy={"name": "gdpr-eu", "sha256": "bb", "authorized": ["EU"],
                          "exceptions": [{"id": "EX-1", "expires": "2026-12-31", "active": True, "matched": []}]})
    result = diff_reports(old, new)
    assert [(c.field, (c.old or {}).get("date"), (c.new or {}).get("date")) for c in result.sources] == [
        ("aws", "2026-01-01", "2026-04-01"), ("gone", "", None)]
    assert [c.field for c in result.policy] == ["sha256", "authorized", "exception EX-1"]


def test_a_rule_that_was_widened_is_said_with_before_and_after():
    rule = {"entry": "categories.transcription", "action": "allow", "authorized": ["EU"], "indeterminate": "warn"}
    old = _report(policy={"name": "p", "sha256": "aa", "authorized": ["EU"], "rules": [rule]})
    new = _report(policy={"name": "p", "sha256": "bb", "authorized": ["EU"], "indeterminate": "fail",
                          "rules": [rule | {"authorized": ["US", "EU"]},
                                    {"entry": "categories.telemetry", "action": "ignore"}]})
    changes = {c.field: c for c in diff_reports(old, new).policy}
    assert list(changes) == ["sha256", "indeterminate", "rule categories.telemetry", "rule categories.transcription"]
    widened = changes["rule categories.transcription"]
    assert widened.old["authorized"] == ["EU"] and widened.new["authorized"] == ["EU", "US"]
    assert changes["rule categories.telemetry"].old is None


def test_a_huge_file_is_refused_before_it_is_read(monkeypatch, tmp_path):
    from tracecheck.errors import UserError
    from tracecheck.report import diff

    big = tmp_path / "report.json"
    big.write_text('{"schema_version": "1", "destinations": []}' + " " * 2048)
    monkeypatch.setattr(diff, "MAX_REPORT_BYTES", 1024)
    with pytest.raises(UserError, match="larger than"):
        diff.load_report(tmp_path)


def test_hostile_names_are_printed_as_text(monkeypatch, capsys, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_report()))
    new.write_text(json.dumps(_report(_dest("6.6.6.6", "[/]x[red]evil[/red]", "violation"))))
    code, out, err = run(monkeypatch, capsys, "diff", str(old), str(new))
    assert code == 1 and "Traceback" not in err
    assert "[/]x[red]evil[/red]" in out


def test_bad_input_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_report()))
    (tmp_path / "text.json").write_text("not json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    (tmp_path / "v9.json").write_text(json.dumps(_report() | {"schema_version": "9"}))
    (tmp_path / "empty").mkdir()
    for bad, said in (("missing", "no report.json"), ("empty", "no report.json"), ("text.json", "not a report.json"),
                      ("other.json", "not a tracecheck report.json"), ("v9.json", "not supported")):
        for args in ((str(tmp_path / bad), str(good)), (str(good), str(tmp_path / bad))):
            code, out, err = run(monkeypatch, capsys, "diff", *args)
            assert code == 2 and out == "" and said in one_line(err), (bad, err)


def test_the_json_document_does_not_share_state_with_its_inputs():
    old = _report(_dest("1.1.1.1", "a.example", jurisdictions=["EU", "EEA"]))
    new = copy.deepcopy(old)
    new["destinations"][0]["jurisdictions"] = ["EEA", "EU"]  # order is not a change
    assert diff_reports(old, new).destinations == ()


def test_the_table_says_only_what_changed_in_a_source(monkeypatch, capsys, tmp_path):
    aws = {"name": "aws", "kind": "provider", "version": "1", "date": "2026-01-01", "sha256": "aa"}
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_report(sources=[aws])))
    new.write_text(json.dumps(_report(sources=[aws | {"date": "2026-04-01"}])))
    code, out, _ = run(monkeypatch, capsys, "diff", str(old), str(new))
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("aws")]
    assert line.split() == ["aws", "date=2026-01-01", "date=2026-04-01"]
    assert out.splitlines()[-1].startswith("no new violations")


_texts = st.text(max_size=12)
_destinations = st.lists(st.fixed_dictionaries({
    "ip": st.sampled_from(["1.1.1.1", "2.2.2.2", "3.3.3.3", "::1"]),
    "names": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a.example", "b.example", "[/]"])}), max_size=2),
    "verdict": st.sampled_from(["compliant", "violation", "indeterminate", "not_assessed"]),
    "region": _texts, "country": st.none() | _texts, "jurisdictions": st.lists(_texts, max_size=3)}), max_size=4)


@settings(max_examples=150, deadline=None)
@given(_destinations, _destinations)
def test_diff_of_any_two_reports_is_consistent(old_destinations, new_destinations):
    old, new = _report(*old_destinations), _report(*new_destinations)
    assert diff_reports(old, old).destinations == () and diff_reports(new, new).exit_code == 0
    result = diff_reports(old, new)
    json.dumps(result.to_json())
    new_ips = {d["ip"] for d in new_destinations}
    assert set(result.new_violations) <= new_ips
    assert result.exit_code == (1 if result.new_violations else 0)
    olds = {d["ip"] for d in old_destinations}
    for row in result.destinations:
        where = {"appeared": (False, True), "vanished": (True, False), "changed": (True, True),
                 "moved": (False, True)}[row.status]
        assert (row.ip in olds, row.ip in new_ips) == where
        assert row.status != "moved" or (row.old_ip in olds and row.old_ip not in new_ips)


def test_relays_that_share_only_a_stun_realm_are_not_one_destination_moved():
    # Every relay of an operator gives the same REALM: a new relay is a new destination.
    realm = {"name": "turn.l.google.com", "source": "stun_realm"}
    old = _report(_dest("74.125.247.128") | {"names": [realm]})
    new = _report(_dest("142.250.82.249", verdict="violation", country="US") | {"names": [realm]})
    result = diff_reports(old, new)
    assert sorted(row.status for row in result.destinations) == ["appeared", "vanished"]
    assert result.new_violations == ("142.250.82.249",)
