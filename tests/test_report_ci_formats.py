"""SARIF 2.1.0 and JUnit XML for CI pipelines."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import report_samples

from tracecheck.report.formats.junit import render_junit
from tracecheck.report.model import Destination
from tracecheck.report.formats.sarif import SCHEMA_URI, render_sarif


def test_sarif_has_one_result_per_violation_and_indeterminate():
    sarif = json.loads(render_sarif(report_samples.report()))
    assert sarif["$schema"] == SCHEMA_URI and SCHEMA_URI.endswith("sarif-schema-2.1.0.json")
    assert sarif["version"] == "2.1.0" and len(sarif["runs"]) == 1
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "tracecheck"
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("TC001", "error"), ("TC002", "warning")]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in results:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"]
        location = result["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "hand-made/test-call.pcapng"
        assert location["logicalLocations"][0]["name"] == result["properties"]["ip"]
    assert "US is not in {EU, EEA}" in results[0]["message"]["text"]
    assert run["artifacts"][0]["hashes"]["sha-256"] == "a" * 64


def test_sarif_counts_follow_the_destinations_and_fingerprints_are_stable():
    dests = [Destination(ip=f"192.0.2.{i}", verdict=v) for i, v in
             enumerate(["violation", "violation", "indeterminate", "compliant", "compliant"])]
    report = report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False))
    results = json.loads(render_sarif(report))["runs"][0]["results"]
    assert len(results) == 3
    fingerprints = [r["partialFingerprints"]["destination/v1"] for r in results]
    assert len(set(fingerprints)) == 3
    assert fingerprints == [r["partialFingerprints"]["destination/v1"]
                            for r in json.loads(render_sarif(report))["runs"][0]["results"]]


def test_sarif_for_a_compliant_run_has_no_results():
    dests = [Destination(ip="192.0.2.1", verdict="compliant")]
    report = report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False))
    assert json.loads(render_sarif(report))["runs"][0]["results"] == []


def test_junit_has_a_testcase_per_destination_and_fails_violations():
    root = ET.fromstring(render_junit(report_samples.report()))
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 3
    by_name = {case.get("name").split(" ")[0]: case for case in cases}
    failure = by_name["3.224.10.20"].find("failure")
    assert failure.get("type") == "violation" and "aws-ip-ranges: region us-east-1" in failure.text
    assert by_name["2606:4700::6810:84e5"].find("skipped") is not None  # indeterminate, policy says warn
    assert list(by_name["52.18.1.2"]) == []  # compliant passes
    assert report_samples.HOSTILE_SCRIPT in by_name["2606:4700::6810:84e5"].get("name")  # escaped, parses back


def test_junit_fails_an_indeterminate_that_fails_the_run():
    dests = [Destination(ip="192.0.2.1", verdict="indeterminate", reasons=["anycast"])]
    report = report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=True))
    case = ET.fromstring(render_junit(report)).find("testsuite/testcase")
    assert case.find("failure").get("type") == "indeterminate"


def test_junit_survives_control_characters_from_the_capture():
    dests = [Destination(ip="192.0.2.1", verdict="violation", names=[], reasons=["bell\x07 and nul\x00"])]
    report = report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False))
    failure = ET.fromstring(render_junit(report)).find("testsuite/testcase/failure")
    assert failure.get("message") == "bell\ufffd and nul\ufffd"
