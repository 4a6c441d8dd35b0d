"""No false "compliant", from any input or option (issue 11).

Evidence may make a verdict stricter, never laxer; nothing is compliant without evidence.  Each
case runs the real CLI or ``analyze`` on a test call with known truth, then changes one thing a
user would change: ``--site``, a policy that ignores, scopes away or excepts destinations, an
empty, header-only or truncated capture, a global edge, an unnamed SIP peer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from call_scenarios import (
    CDN,
    GENESYS_API,
    TRANSCRIBE_US,
    TestCall,
    eu_compliant_call,
    us_transcription_call,
)
from capture_builders import write_pcap

from cli_runner import run as run_cli
from analyze_request import analyze


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    """``tracecheck ARGS`` with a fresh, empty data directory."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    db = tmp_path / "db"
    return lambda *args: run_cli(monkeypatch, capsys, "--db", str(db), *args)


def write_policy(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def report_of(out_dir: Path) -> dict:
    return json.loads((out_dir / "report.json").read_text())


def by_ip(report: dict) -> dict[str, dict]:
    return {d["ip"]: d for d in report["destinations"]}


def summary_of(out: str) -> str:
    """The summary line without the report's path (tmp_path holds the test's name)."""
    return out.splitlines()[-1].split("; report in ")[0]


def table_row(out: str, needle: str) -> str:
    return next(line for line in out.splitlines() if needle in line)


EU_ONLY = "name: eu\nauthorized: {jurisdictions: [EU, EEA]}\n"


# --------------------------------------------------------------------------- the RTT bound


def test_the_rtt_bound_never_clears_a_violation(tc, tmp_path):
    # A TLS-intercepting proxy in Dublin answers every handshake in 2 ms: us-east-1 "cannot" be
    # that close, but the transcription stream still went there.
    call = TestCall().service(*GENESYS_API, rtt_ms=2).service(*TRANSCRIBE_US, rtt_ms=2)
    capture = call.write(tmp_path / "proxy.pcapng")
    code, out, _ = tc("analyze", str(capture), "--site", "Dublin", "--out", str(tmp_path / "r"))
    assert code == 1
    assert summary_of(out).startswith("VIOLATION: 1 violation")
    transcribe = by_ip(report_of(tmp_path / "r"))[TRANSCRIBE_US[1]]
    assert transcribe["verdict"] == "violation"
    assert "rtt_implausible" in transcribe["flags"]
    assert any("RTT" in reason and "stands" in reason for reason in transcribe["reasons"])
    assert "violation" in table_row(out, TRANSCRIBE_US[0])


def test_the_rtt_bound_makes_a_compliant_place_indeterminate(tmp_path):
    # 3 ms from Sydney cannot reach Dublin: the compliant claim is contradicted.
    call = TestCall().service(*GENESYS_API, rtt_ms=3)
    result = analyze([str(call.write(tmp_path / "c.pcapng"))], out_dir=tmp_path / "r", db_dir=tmp_path / "db",
                     site="Sydney")
    genesys = next(d for d in result.report.destinations if d.ip == GENESYS_API[1])
    assert genesys.verdict.value == "indeterminate"
    assert "rtt_implausible" in genesys.flags
    assert "physically implausible" in genesys.reasons[0]


def test_a_middlebox_is_named_once_in_the_limits(tmp_path):
    call = TestCall().service(*GENESYS_API, rtt_ms=1).service(*TRANSCRIBE_US, rtt_ms=1)
    call.service("transcribe.us-east-1.amazonaws.com", "3.227.250.11", rtt_ms=1)
    call.service("comprehend.us-east-1.amazonaws.com", "3.227.250.12", rtt_ms=1)
    result = analyze([str(call.write(tmp_path / "c.pcapng"))], out_dir=tmp_path / "r", db_dir=tmp_path / "db",
                     site="Dublin")
    notes = [w for w in result.report.warnings if "middlebox" in w]
    assert len(notes) == 1 and "near the capture point" in notes[0] and "(3 of 4 destinations)" in notes[0]
    assert result.report.summary.violations == 3 and result.exit_code == 1


def test_no_middlebox_note_when_the_rtts_fit(tmp_path):
    result = analyze([str(us_transcription_call().write(tmp_path / "c.pcapng"))], out_dir=tmp_path / "r",
                     db_dir=tmp_path / "db", site="Dublin")
    assert not [w for w in result.report.warnings if "middlebox" in w]


# --------------------------------------------------------------------------- not_assessed


def test_an_ignored_category_is_not_assessed_never_compliant(tc, tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + "categories: {transcription: ignore}\n")
    capture = us_transcription_call().write(tmp_path / "c.pcapng")
    code, out, _ = tc("analyze", str(capture), "--policy", str(policy), "--out", str(tmp_path / "r"))
    report = report_of(tmp_path / "r")
    transcribe = by_ip(report)[TRANSCRIBE_US[1]]
    assert transcribe["verdict"] == "not_assessed"
    assert "categories.transcription" in transcribe["reasons"][0]
    summary = report["summary"]
    assert summary["not_assessed"] == 1
    assert summary["compliant"] == sum(1 for d in report["destinations"] if d["verdict"] == "compliant")
    assert "not assessed" in table_row(out, TRANSCRIBE_US[0]) and "compliant" not in table_row(out, TRANSCRIBE_US[0])
    assert "1 not assessed" in summary_of(out)
    assert code == 0  # the rest is compliant, on evidence
    html = (tmp_path / "r" / "report.html").read_text()
    row = html[html.index(TRANSCRIBE_US[1]) - 400:html.index(TRANSCRIBE_US[1])]
    assert "not_assessed" in row and "badge compliant" not in row


def test_an_ignore_rule_is_named_in_the_reason(tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + "ignore:\n  - {host: '*.amazonaws.com', reason: lab traffic}\n")
    result = analyze([str(us_transcription_call().write(tmp_path / "c.pcapng"))], policy_path=policy,
                     out_dir=tmp_path / "r", db_dir=tmp_path / "db")
    transcribe = next(d for d in result.report.destinations if d.ip == TRANSCRIBE_US[1])
    assert transcribe.verdict.value == "not_assessed"
    assert "ignore[0]" in transcribe.reasons[0] and "lab traffic" in transcribe.reasons[0]


def test_a_policy_that_ignores_everything_judges_nothing(tc, tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + "ignore:\n  - {ip: 0.0.0.0/0}\n  - {ip: '::/0'}\n")
    capture = us_transcription_call().write(tmp_path / "c.pcapng")
    code, out, _ = tc("analyze", str(capture), "--policy", str(policy), "--out", str(tmp_path / "r"))
    assert code == 1
    summary = summary_of(out)
    assert summary.startswith("INDETERMINATE: nothing judged") and "COMPLIANT" not in out
    report = report_of(tmp_path / "r")
    assert report["summary"]["verdict"] == "indeterminate"
    remote = [d for d in report["destinations"] if not d["ip"].startswith("10.")]
    assert remote and {d["verdict"] for d in remote} == {"not_assessed"}
    assert report["summary"]["not_assessed"] == len(remote)


# --------------------------------------------------------------------------- never compliant from nothing


def test_a_header_only_capture_judges_nothing(tc, tmp_path):
    capture = write_pcap(tmp_path / "empty.pcap", [])
    code, out, err = tc("analyze", str(capture), "--out", str(tmp_path / "r"))
    assert code == 1
    summary = summary_of(out)
    assert summary.startswith("INDETERMINATE: nothing judged: 0 records, 0 remote destinations")
    assert "wrong interface or filter?" in summary
    assert "COMPLIANT" not in out + err
    report = report_of(tmp_path / "r")
    assert report["summary"]["verdict"] == "indeterminate"
    html = (tmp_path / "r" / "report.html").read_text()
    assert "nothing judged" in html and "badge compliant" not in html
    assert ">compliant<" not in html.split("<section>")[0]  # not in the headline


def test_a_scope_that_excludes_every_flow_judges_nothing(tc, tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + "scope: {sip_calls_only: true}\n")
    capture = eu_compliant_call().write(tmp_path / "webrtc.pcapng")  # WebRTC: no SIP at all
    code, out, _ = tc("analyze", str(capture), "--policy", str(policy), "--out", str(tmp_path / "r"))
    assert code == 1
    summary = summary_of(out)
    assert summary.startswith("INDETERMINATE: nothing judged") and "outside the policy's scope" in summary


def test_flows_left_out_by_the_scope_are_said_with_the_verdict(tc, tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + "scope: {end: 2023-11-14T22:13:20.5Z}\n")
    capture = us_transcription_call().write(tmp_path / "c.pcapng")  # the US stream starts after the end
    code, out, _ = tc("analyze", str(capture), "--policy", str(policy), "--out", str(tmp_path / "r"))
    assert code == 0
    summary = summary_of(out)
    assert summary.startswith("COMPLIANT") and "outside the policy's scope, not judged" in summary


def test_only_local_traffic_judges_nothing(tmp_path):
    call = TestCall().tls("192.168.1.10", "intranet.example")
    result = analyze([str(call.write(tmp_path / "c.pcapng"))], out_dir=tmp_path / "r", db_dir=tmp_path / "db")
    assert result.exit_code == 1 and result.report.summary.verdict.value == "indeterminate"
    assert any("shows nothing" in warning for warning in result.report.warnings)
    assert result.report.summary.caveats[0].startswith("nothing judged: ")


def test_a_capture_where_nothing_could_be_placed_is_never_compliant(tc, tmp_path):
    # Every destination anycast (indeterminate, which the template only warns about): no verdict
    # rests on evidence, so the run is not "compliant" either.
    capture = TestCall().service(*CDN).write(tmp_path / "cdn.pcapng")
    code, out, _ = tc("analyze", str(capture), "--out", str(tmp_path / "r"))
    assert code == 1
    summary = summary_of(out)
    assert summary.startswith("INDETERMINATE: nothing judged") and "1 indeterminate" in summary
    assert report_of(tmp_path / "r")["summary"]["judged"] == 0


def _truncated(tmp_path: Path, call: TestCall, cut_at_query: str) -> Path:
    """The call's capture cut in the middle of the DNS query for ``cut_at_query``: its flows,
    which follow the query, are not in the file."""
    whole = call.write(tmp_path / "whole.pcapng").read_bytes()
    first_label = cut_at_query.split(".")[0]
    at = whole.index(bytes([len(first_label)]) + first_label.encode())
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole[:at + 3])
    return cut


@pytest.mark.parametrize("quiet", [False, True])
def test_a_truncated_capture_says_so_in_the_summary_line(tc, tmp_path, quiet):
    capture = _truncated(tmp_path, us_transcription_call(), TRANSCRIBE_US[0])
    args = (["--quiet"] if quiet else []) + ["analyze", str(capture), "--out", str(tmp_path / "r")]
    code, out, _ = tc(*args)
    summary = summary_of(out)
    assert summary.startswith("COMPLIANT") and "truncated" in summary
    assert TRANSCRIBE_US[1] not in by_ip(report_of(tmp_path / "r"))
    report = report_of(tmp_path / "r")
    assert any("truncated" in w for w in report["warnings"])
    html = (tmp_path / "r" / "report.html").read_text()
    assert "truncated" in html.split("</header>")[0].split("</title>")[1]


def test_a_capture_cut_before_anything_remote_judges_nothing(tc, tmp_path):
    capture = _truncated(tmp_path, us_transcription_call(), GENESYS_API[0])  # inside the first DNS query
    code, out, _ = tc("analyze", str(capture), "--out", str(tmp_path / "r"))
    assert code == 1
    summary = summary_of(out)
    assert summary.startswith("INDETERMINATE: nothing judged") and "truncated" in summary


# --------------------------------------------------------------------------- exceptions and rules


EXCEPTION = """
exceptions:
  - id: EXC-7
    vendor: AWS
    category: transcription
    justification: US transcription while the EU endpoint is qualified
    reference: SCC 2021/914 module 2
    expires: 2030-12-31
"""


def test_an_exception_shows_its_id_wherever_the_verdict_appears(tc, tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + EXCEPTION)
    capture = us_transcription_call().write(tmp_path / "c.pcapng")
    code, out, _ = tc("analyze", str(capture), "--policy", str(policy), "--out", str(tmp_path / "r"),
                      "--format", "junit")
    assert code == 0
    assert "exception EXC-7" in table_row(out, TRANSCRIBE_US[0])
    transcribe = by_ip(report_of(tmp_path / "r"))[TRANSCRIBE_US[1]]
    assert transcribe["verdict"] == "compliant" and transcribe["exception"] == "EXC-7"
    assert transcribe["reasons"][0].startswith("exception: EXC-7")
    html = (tmp_path / "r" / "report.html").read_text()
    assert "exception EXC-7" in html
    assert "EXC-7" in (tmp_path / "r" / "report.junit.xml").read_text()


def test_an_exception_bounded_to_places_does_not_cover_other_places(tmp_path):
    bounded = EXCEPTION.replace("    expires:", "    countries: [IE]\n    expires:")
    policy = write_policy(tmp_path, EU_ONLY + bounded)
    result = analyze([str(us_transcription_call().write(tmp_path / "c.pcapng"))], policy_path=policy,
                     out_dir=tmp_path / "r", db_dir=tmp_path / "db")
    transcribe = next(d for d in result.report.destinations if d.ip == TRANSCRIBE_US[1])
    assert transcribe.verdict.value == "violation" and result.exit_code == 1
    # ... and the exception that matched nothing in this capture is listed in the report
    [listed] = [e for e in result.report.policy.exceptions if e.id == "EXC-7"]
    assert listed.matched == []
    assert any("EXC-7" in w and "matched no destination" in w for w in result.report.warnings)

    regions = EXCEPTION.replace("    expires:", "    regions: [aws:us-east-1]\n    expires:")
    policy = write_policy(tmp_path, EU_ONLY + regions, "regions.yaml")
    result = analyze([str(us_transcription_call().write(tmp_path / "c.pcapng"))], policy_path=policy,
                     out_dir=tmp_path / "r2", db_dir=tmp_path / "db")
    transcribe = next(d for d in result.report.destinations if d.ip == TRANSCRIBE_US[1])
    assert transcribe.verdict.value == "compliant" and transcribe.exception == "EXC-7"
    [listed] = [e for e in result.report.policy.exceptions if e.id == "EXC-7"]
    assert listed.matched == [TRANSCRIBE_US[1]]


def test_an_exception_by_service(tmp_path):
    by_service = EXCEPTION.replace("    vendor: AWS\n    category: transcription\n", "    service: AWS Transcribe\n")
    policy = write_policy(tmp_path, EU_ONLY + by_service)
    result = analyze([str(us_transcription_call().write(tmp_path / "c.pcapng"))], policy_path=policy,
                     out_dir=tmp_path / "r", db_dir=tmp_path / "db")
    assert result.exit_code == 0
    transcribe = next(d for d in result.report.destinations if d.ip == TRANSCRIBE_US[1])
    assert transcribe.exception == "EXC-7"


@pytest.mark.parametrize("selector, hint", [
    ("vendor: AWS Transcribe", "did you mean `vendor: AWS`, `service: AWS Transcribe`?"),
    ("vendor: Genesis", "did you mean `vendor: Genesys`?"),
    ("service: Transcrib", "did you mean `service: AWS Transcribe`?"),
    ("vendor: Genesys\n    category: transcription", "no service in the catalog is vendor Genesys and category transcription"),
])
def test_policy_check_warns_about_selectors_that_match_nothing(tc, tmp_path, selector, hint):
    text = EU_ONLY + EXCEPTION.replace("    vendor: AWS\n    category: transcription", "    " + selector)
    policy = write_policy(tmp_path, text)
    code, out, err = tc("policy", "check", str(policy))
    assert code == 0
    warning = next(line for line in (out + err).splitlines() if "EXC-7" in line and "matches nothing" in line)
    assert hint in warning
    assert f"{policy}:" in warning  # FILE:LINE


def test_policy_check_warns_about_vendor_rules_that_match_nothing(tc, tmp_path):
    policy = write_policy(tmp_path, EU_ONLY + "vendors:\n  Genesis: {authorized: {countries: [IE]}}\n")
    code, out, err = tc("policy", "check", str(policy))
    assert code == 0 and "did you mean `Genesys`?" in out + err


# --------------------------------------------------------------------------- global edges


AZURE_TAGS = {
    "changeNumber": 376, "cloud": "Public",
    "values": [
        {"name": "AzureFrontDoor.FirstParty", "id": "AzureFrontDoor.FirstParty",
         "properties": {"changeNumber": 3, "region": "", "regionId": 0, "platform": "Azure",
                        "systemService": "AzureFrontDoor", "addressPrefixes": ["13.107.18.0/23"],
                        "networkFeatures": ["API"]}},
        {"name": "AzureCloud.westeurope", "id": "AzureCloud.westeurope",
         "properties": {"changeNumber": 9, "region": "westeurope", "regionId": 18, "platform": "Azure",
                        "systemService": "", "addressPrefixes": ["20.50.0.0/18"], "networkFeatures": ["API"]}},
    ],
}


def test_a_regionless_provider_range_is_a_global_edge_whatever_geoip_says(tc, tmp_path):
    tags = tmp_path / "ServiceTags_Public_20251103.json"
    tags.write_text(json.dumps(AZURE_TAGS))
    assert tc("db", "import", str(tags), "--source", "azure")[0] == 0
    call = TestCall().service("substrate.office.com", "13.107.18.11").service("api.contoso.example", "20.50.1.1")
    code, out, _ = tc("analyze", str(call.write(tmp_path / "c.pcapng")), "--out", str(tmp_path / "r"))
    edge = by_ip(report_of(tmp_path / "r"))["13.107.18.11"]
    assert edge["verdict"] == "indeterminate" and edge["country"] is None
    assert any(e["source"] == "geoip2fast" and e["claim"] == "country US" for e in edge["evidence"])  # shown
    assert by_ip(report_of(tmp_path / "r"))["20.50.1.1"]["country"] == "NL"
    assert code == 0


@pytest.mark.parametrize("name, chain, ip", [
    ("substrate.office.com", ("afd-k.office.com", "afd-k-acdc-direct.office.com.k-0001.k-msedge.net"), "13.107.18.11"),
    ("teams.microsoft.com", ("teams.office.com", "s-0005.s-msedge.net"), "52.113.194.132"),
    ("assets.vendor.example", ("d1234abcd.cloudfront.net",), "3.227.250.40"),
    ("cdn.vendor.example", ("vendor.example.edgekey.net", "e1234.a.akamaiedge.net"), "3.227.250.41"),
    ("www.vendor.example", ("vendor.map.fastly.net",), "3.227.250.42"),
])
def test_a_cname_chain_into_an_anycast_edge_is_no_country(tmp_path, name, chain, ip):
    call = TestCall().dns(name, ip, chain=chain).tls(ip, name)
    result = analyze([str(call.write(tmp_path / "c.pcapng"))], out_dir=tmp_path / "r", db_dir=tmp_path / "db")
    edge = next(d for d in result.report.destinations if d.ip == ip)
    assert edge.verdict.value == "indeterminate" and edge.country is None, edge.reasons
    assert edge.anycast
    assert any(e.claim == "country US" for e in edge.evidence)  # GeoIP's answer is shown, it does not decide


# --------------------------------------------------------------------------- a call's peers


def test_an_unnamed_sip_peer_is_a_telephony_carrier(tmp_path):
    call = TestCall().sip_call(("sbc.unknown-carrier.example", "54.171.127.200"), "34.203.250.10")
    result = analyze([str(call.write(tmp_path / "c.pcapng"))], out_dir=tmp_path / "r", db_dir=tmp_path / "db")
    signalling = next(d for d in result.report.destinations if d.ip == "54.171.127.200")
    media = next(d for d in result.report.destinations if d.ip == "34.203.250.10")
    assert signalling.category == "telephony_carrier"
    assert media.category == "telephony_carrier" and media.verdict.value == "violation"
    rule = write_policy(tmp_path, EU_ONLY + "categories:\n  telephony_carrier: {authorized: {countries: [US]}}\n")
    result = analyze([str(call.write(tmp_path / "c.pcapng"))], policy_path=rule, out_dir=tmp_path / "r2",
                     db_dir=tmp_path / "db")
    assert next(d for d in result.report.destinations if d.ip == "34.203.250.10").verdict.value == "compliant"
    assert next(d for d in result.report.destinations if d.ip == "54.171.127.200").verdict.value == "violation"


# --------------------------------------------------------------------------- how strong the deciding evidence is


def test_each_verdict_says_how_strong_its_deciding_evidence_is(tc, tmp_path):
    call = us_transcription_call().service("api.unlisted-vendor.example", "3.227.250.30")
    capture = call.write(tmp_path / "c.pcapng")
    code, out, _ = tc("analyze", str(capture), "--out", str(tmp_path / "r"), "--format", "sarif")
    assert code == 1
    report = report_of(tmp_path / "r")
    destinations = by_ip(report)
    assert destinations[TRANSCRIBE_US[1]]["basis"] == "hostname"
    assert destinations["3.227.250.30"]["basis"] == "geoip"
    assert destinations[GENESYS_API[1]]["basis"] == "hostname"
    assert report["summary"]["violations_geoip_only"] == 1
    summary = summary_of(out)
    assert summary.startswith("VIOLATION: 2 violations (1 on GeoIP alone)")
    assert "GeoIP only" in table_row(out, "3.227.250.30")
    sarif = json.loads((tmp_path / "r" / "report.sarif").read_text())
    levels = {r["properties"]["ip"]: (r["level"], r["ruleId"]) for r in sarif["runs"][0]["results"]}
    assert levels[TRANSCRIBE_US[1]] == ("error", "TC001")
    assert levels["3.227.250.30"][0] == "warning" and levels["3.227.250.30"][1] != "TC001"


def test_a_provider_file_is_the_strongest_basis(tc, tmp_path):
    from call_scenarios import write_range_files

    files = write_range_files(tmp_path / "downloads")
    assert tc("db", "import", str(files["aws"]), "--source", "aws")[0] == 0
    code, out, _ = tc("analyze", str(us_transcription_call().write(tmp_path / "c.pcapng")), "--out", str(tmp_path / "r"))
    assert by_ip(report_of(tmp_path / "r"))[TRANSCRIBE_US[1]]["basis"] == "provider"


def test_a_source_dated_by_its_file_time_says_so_in_the_report(tc, tmp_path):
    from call_scenarios import write_range_files

    files = write_range_files(tmp_path / "downloads")
    assert tc("db", "import", str(files["cloudflare"]), "--source", "cloudflare")[0] == 0
    code, _, _ = tc("analyze", str(TestCall().service(*CDN).service(*GENESYS_API).write(tmp_path / "c.pcapng")),
                    "--out", str(tmp_path / "r"))
    report = report_of(tmp_path / "r")
    cloudflare = next(s for s in report["sources"] if s["kind"] == "cloudflare")
    assert cloudflare["date_basis"] == "mtime"
    assert next(s for s in report["sources"] if s["kind"] == "embedded")["date_basis"] == "content"
    lines = [e["detail"] for e in by_ip(report)[CDN[1]]["evidence"] if e["source"] == cloudflare["name"]]
    assert lines and all("date unknown (file time " in line for line in lines)
    assert "date unknown (file time " in (tmp_path / "r" / "report.html").read_text()


def test_a_geofeed_named_like_a_provider_ranks_as_a_geofeed(tc, tmp_path):
    # A geofeed saved as google.csv: its word is an operator's, below the vendor's own regional name.
    feed = tmp_path / "google.csv"
    feed.write_text("52.210.12.0/24,US,US-VA,Ashburn,\n")
    assert tc("db", "import", str(feed), "--source", "geofeed")[0] == 0
    code, _, _ = tc("analyze", str(TestCall().service(*GENESYS_API).write(tmp_path / "c.pcapng")), "--out", str(tmp_path / "r"))
    genesys = by_ip(report_of(tmp_path / "r"))[GENESYS_API[1]]
    assert (genesys["verdict"], genesys["basis"], genesys["country"]) == ("compliant", "hostname", "IE")
    feed_lines = [e for e in genesys["evidence"] if "google" in e["source"]]
    assert feed_lines and {e["kind"] for e in feed_lines} == {"geofeed"}
    assert "sources_disagree" in genesys["flags"] and code == 0
