"""`analyze` end to end on test calls with known truth: every destination's verdict and the exit code,
with nothing imported (embedded GeoIP + hostnames) and with provider range files imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from call_scenarios import (
    CARRIER_MEDIA_US,
    CARRIER_SBC,
    CDN,
    GENESYS_API,
    GENESYS_API6,
    SALESFORCE_US,
    TRANSCRIBE_US,
    TRANSCRIBE_US6,
    TestCall,
    eu_compliant_call,
    us_crm_call,
    us_transcription_call,
    write_range_files,
)

from tracecheck.analyze import default_out_dir
from analyze_request import analyze
from tracecheck.errors import UserError
from tracecheck.geo import store


@pytest.fixture(params=["nothing-imported", "ranges-imported"])
def db(request, tmp_path) -> Path:
    """A data directory: empty, or holding synthetic AWS and Cloudflare files in their own schemas."""
    folder = tmp_path / "db"
    folder.mkdir()
    if request.param == "ranges-imported":
        for kind, path in write_range_files(tmp_path / "downloads").items():
            store.import_file(folder, path, kind)
    return folder


def run(call: TestCall, tmp_path: Path, db: Path, link: str = "ethernet", **options):
    capture = call.write(tmp_path / f"call-{link}.pcapng", link)
    return analyze([str(capture)], out_dir=tmp_path / f"out-{link}", db_dir=db, **options)


def verdicts(result) -> dict[str, str]:
    return {d.ip: d.verdict.value for d in result.report.destinations}


def remote_verdicts(result) -> dict[str, str]:
    """Verdicts of the destinations beyond the local network (the DNS resolver is always local)."""
    return {d.ip: d.verdict.value for d in result.report.destinations if d.basis != "local"}


def destination(result, ip: str):
    return next(d for d in result.report.destinations if d.ip == ip)


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the scenarios


def test_eu_compliant_call_exits_0(tmp_path, db):
    result = run(eu_compliant_call(), tmp_path, db)
    assert result.exit_code == 0
    assert result.report.summary.verdict.value == "compliant"
    assert set(verdicts(result).values()) == {"compliant"}
    genesys = destination(result, GENESYS_API[1])
    assert (genesys.vendor, genesys.category, genesys.country, genesys.region) == ("Genesys", "platform", "IE", "eu-west-1")
    assert destination(result, "52.212.4.5").category == "media"  # WebRTC TURN media with no name


def test_transcription_in_a_us_region_is_a_violation(tmp_path, db):
    result = run(us_transcription_call(), tmp_path, db)
    assert result.exit_code == 1
    assert result.report.summary.verdict.value == "violation"
    transcribe = destination(result, TRANSCRIBE_US[1])
    assert transcribe.verdict.value == "violation" and transcribe.fails
    assert (transcribe.category, transcribe.vendor, transcribe.region, transcribe.country) == \
        ("transcription", "AWS", "us-east-1", "US")
    reasons = " ".join(transcribe.reasons)
    assert "us-east-1" in reasons and "US" in reasons
    assert verdicts(result)[GENESYS_API[1]] == "compliant"
    sources = {e.source for e in transcribe.evidence}
    assert {"sni", "dns", "service-catalog", "geoip2fast", "hostname"} <= sources
    if (db / store.SOURCES_DIR).is_dir():
        assert transcribe.provider == "aws" and "aws-ip-ranges" in sources


def test_crm_integration_in_a_us_region_is_a_violation(tmp_path, db):
    result = run(us_crm_call(), tmp_path, db)
    crm = destination(result, SALESFORCE_US[1])
    assert (crm.verdict.value, crm.category, crm.vendor, crm.country) == ("violation", "crm_integration", "Salesforce", "US")
    assert result.exit_code == 1


def test_anycast_cdn_is_indeterminate_never_compliant(tmp_path, db):
    call = eu_compliant_call().service(*CDN)
    result = run(call, tmp_path, db)
    cdn = destination(result, CDN[1])
    assert cdn.verdict.value == "indeterminate" and cdn.country is None
    assert "anycast" in cdn.reasons[0]
    assert cdn.anycast
    assert result.exit_code == 0  # the gdpr-eu template warns on unknowns
    assert result.report.summary.verdict.value == "compliant"

    strict = write_policy(tmp_path, "name: strict\nauthorized: {jurisdictions: [EU, EEA]}\nindeterminate: fail\n")
    result = run(call, tmp_path, db, policy_path=strict)
    assert result.exit_code == 1
    assert result.report.summary.verdict.value == "indeterminate"
    assert destination(result, CDN[1]).fails


def test_public_dns_resolver_is_anycast_not_a_violation(tmp_path, db):
    # Google Public DNS answers from the nearest point of presence; GeoIP's "US" is its registrant.
    call = TestCall(resolver="8.8.8.8").service(*GENESYS_API).tls("9.9.9.9", "dns.quad9.net")
    result = run(call, tmp_path, db)
    assert verdicts(result) == {"8.8.8.8": "indeterminate", "9.9.9.9": "indeterminate", GENESYS_API[1]: "compliant"}
    assert result.exit_code == 0
    assert any("encrypted DNS" in note and "9.9.9.9" in note for note in result.report.observability)


def test_tls_without_sni_is_named_by_dns(tmp_path, db):
    call = TestCall().dns(*TRANSCRIBE_US).tls(TRANSCRIBE_US[1], sni=None, rtt_ms=78)
    result = run(call, tmp_path, db)
    transcribe = destination(result, TRANSCRIBE_US[1])
    assert [(n.name, n.source) for n in transcribe.names] == [(TRANSCRIBE_US[0], "dns")]
    assert (transcribe.category, transcribe.verdict.value) == ("transcription", "violation")
    assert result.exit_code == 1


def test_ipv6_destinations(tmp_path, db):
    call = TestCall().service(*GENESYS_API6, rtt_ms=11).service(*TRANSCRIBE_US6, rtt_ms=80)
    result = run(call, tmp_path, db)
    assert remote_verdicts(result) == {GENESYS_API6[1]: "compliant", TRANSCRIBE_US6[1]: "violation"}
    assert destination(result, TRANSCRIBE_US6[1]).country == "US"
    assert result.exit_code == 1


@pytest.mark.parametrize("link", ["sll2", "vxlan"])
def test_sll2_and_vxlan_mirrors_give_the_ethernet_verdicts(tmp_path, link):
    db = tmp_path / "empty-db"
    call = us_transcription_call().service(*GENESYS_API6)
    plain = run(call, tmp_path, db)
    other = run(call, tmp_path, db, link=link)
    assert remote_verdicts(other) == remote_verdicts(plain)
    assert other.exit_code == plain.exit_code == 1
    if link == "vxlan":
        assert any("vxlan" in note for note in other.report.observability)
        assert "10.0.9.2" in verdicts(other)  # the mirror's own tunnel flow, local and compliant
        assert verdicts(other)["10.0.9.2"] == "compliant"


def test_local_addresses_are_never_violations(tmp_path, db):
    # A proxy on the LAN named like a US endpoint, and an SBC reached over the VPN.
    call = TestCall().tls("192.168.1.10", TRANSCRIBE_US[0]).tls("100.64.0.7", "sbc.carrier.example")
    call.tls("fd00:1::5", SALESFORCE_US[0], client="fd00:20::40")
    result = run(call, tmp_path, db)
    assert set(verdicts(result).values()) == {"compliant"}
    for d in result.report.destinations:
        assert "local address" in d.reasons[0] and d.basis == "local"
    # ... and a capture of local traffic alone judged nothing beyond the site: it proves nothing.
    assert result.exit_code == 1 and result.report.summary.verdict.value == "indeterminate"


def test_sip_media_takes_the_call_category_and_the_far_side_is_judged(tmp_path, db):
    # The carrier's RTP reaches the agent first, so the flow's responder is the agent's private
    # address: the destination must still be the carrier's media server.
    call = TestCall().sip_call(CARRIER_SBC, CARRIER_MEDIA_US, remote_first=True)
    result = run(call, tmp_path, db)
    media = destination(result, CARRIER_MEDIA_US)
    assert (media.category, media.verdict.value, media.country) == ("telephony_carrier", "violation", "US")
    assert any(e.source == "sip" and e.claim.startswith("media of call") for e in media.evidence)
    assert media.orig_bytes > 0 and media.resp_bytes > 0
    signalling = destination(result, CARRIER_SBC[1])
    assert (signalling.vendor, signalling.category, signalling.verdict.value) == ("Twilio", "telephony_carrier", "compliant")
    [report_call] = result.report.calls
    assert report_call.signalling and report_call.media
    assert result.exit_code == 1


def test_flows_to_one_address_are_one_destination(tmp_path):
    call = TestCall().service(*TRANSCRIBE_US, rtt_ms=90).tls(TRANSCRIBE_US[1], TRANSCRIBE_US[0], rtt_ms=80)
    result = run(call, tmp_path, tmp_path / "db")
    transcribe = destination(result, TRANSCRIBE_US[1])
    flows = [f for f in result.reading.flows if f.resp_h == TRANSCRIBE_US[1]]
    assert transcribe.flows == len(flows) == 2
    assert transcribe.orig_bytes == sum(f.orig_ip_bytes for f in flows)
    assert transcribe.resp_bytes == sum(f.resp_ip_bytes for f in flows)
    assert transcribe.first_ts == min(f.ts for f in flows)
    assert [(n.name, n.source) for n in transcribe.names] == [(TRANSCRIBE_US[0], "sni"), (TRANSCRIBE_US[0], "dns")]


def test_rtt_bound_uses_the_smallest_handshake(tmp_path):
    # 4 ms from Dublin cannot reach Virginia: the claim is implausible -- which flags the
    # violation (a proxy near the agent gives this picture) and never clears it.
    call = TestCall().service(*TRANSCRIBE_US, rtt_ms=90).tls(TRANSCRIBE_US[1], TRANSCRIBE_US[0], rtt_ms=4)
    result = run(call, tmp_path, tmp_path / "db", site="Dublin")
    transcribe = destination(result, TRANSCRIBE_US[1])
    assert transcribe.verdict.value == "violation" and transcribe.flags == ["rtt_implausible"]
    bound = [e for e in transcribe.evidence if e.source == "rtt-bound"]
    assert bound and bound[0].claim.startswith("implausible") and "rtt 4 ms" in bound[0].detail


def test_disagreeing_names_are_kept_as_evidence(tmp_path):
    call = TestCall().dns("cdn-edge.vendor.example", GENESYS_API[1]).tls(GENESYS_API[1], GENESYS_API[0])
    result = run(call, tmp_path, tmp_path / "db")
    genesys = destination(result, GENESYS_API[1])
    assert [(n.name, n.source) for n in genesys.names] == [(GENESYS_API[0], "sni"), ("cdn-edge.vendor.example", "dns")]
    assert any(e.claim == "names disagree" for e in genesys.evidence)
    assert genesys.vendor == "Genesys"  # the client's own SNI decides the service


def test_observability_names_what_was_hidden(tmp_path):
    call = TestCall().tls("52.210.12.60", "cloudflare-ech.com", ech=True)
    call.tls("1.1.1.1", "cloudflare-dns.com").tls("3.121.0.5", sni=None)
    result = run(call, tmp_path, tmp_path / "db")
    notes = "\n".join(result.report.observability)
    assert "AudioHook" in notes and "data actions" in notes
    assert "ECH" in notes and "cloudflare-ech.com" in notes
    assert "encrypted DNS" in notes and "1.1.1.1" in notes
    assert "No name at all" in notes and "3.121.0.5" in notes


def test_out_of_scope_flows_are_not_judged(tmp_path):
    policy = write_policy(tmp_path, "name: scoped\nauthorized: {jurisdictions: [EU]}\nscope: {clients: [10.99.0.0/16]}\n")
    result = run(us_transcription_call(), tmp_path, tmp_path / "db", policy_path=policy)
    assert result.report.destinations == [] and result.exit_code == 1  # nothing judged proves nothing
    assert result.report.summary.verdict.value == "indeterminate"
    assert any("outside the policy's scope" in note for note in result.report.observability)
    assert len(result.reading.flows) > 0


def test_default_policy_is_gdpr_eu_and_said_so(tmp_path):
    result = run(us_transcription_call(), tmp_path, tmp_path / "db")
    assert result.default_policy
    policy = result.report.policy
    assert (policy.name, policy.path, policy.authorized) == ("gdpr-eu", "template:gdpr-eu", ["EU", "EEA"])
    assert any("gdpr-eu" in w for w in result.report.warnings)
    assert any("No provider range files" in w for w in result.report.warnings)


# --------------------------------------------------------------------------- evidence files


def test_same_inputs_give_the_same_report_bytes(tmp_path, db, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    capture = us_transcription_call().sip_call(CARRIER_SBC, CARRIER_MEDIA_US).service(*CDN).write(tmp_path / "c.pcapng")
    first = analyze([str(capture)], out_dir=tmp_path / "one", db_dir=db)
    second = analyze([str(capture)], out_dir=tmp_path / "two", db_dir=db)
    one, two = (tmp_path / "one" / "report.json").read_bytes(), (tmp_path / "two" / "report.json").read_bytes()
    assert one == two
    assert "generated" not in json.loads(one)
    assert first.report == second.report
    for name in ("flows.csv", "report.html"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_the_report_directory_verifies(tmp_path):
    from tracecheck.report.verification import check

    result = run(us_transcription_call(), tmp_path, tmp_path / "db", formats=["sarif", "junit"])
    names = sorted(p.name for p in result.out_dir.iterdir())
    assert {"report.json", "report.html", "flows.csv", "manifest.json", "report.sarif"} <= set(names)
    verification = check(result.out_dir)
    assert verification.ok, verification.problems
    assert verification.inputs_checked == 1


def test_report_json_follows_the_contract(tmp_path):
    result = run(us_transcription_call(), tmp_path, tmp_path / "db")
    data = json.loads((result.out_dir / "report.json").read_text())
    assert list(data)[:9] == ["schema_version", "tool", "inputs", "accounting", "sources", "policy", "summary",
                              "destinations", "calls"]
    acc = data["accounting"]
    assert acc["records"] == acc["decoded"] + sum(acc["skipped"].values())
    for d in data["destinations"]:
        assert set(d) >= {"ip", "names", "provider", "service", "region", "country", "jurisdictions", "vendor",
                          "category", "flows", "orig_bytes", "resp_bytes", "first_ts", "last_ts", "verdict",
                          "reasons", "evidence"}
        assert d["verdict"] in ("compliant", "violation", "indeterminate") and d["reasons"]
    assert data["destinations"][0]["verdict"] == "violation"  # most severe first


def test_bad_inputs_are_user_errors_before_any_reading(tmp_path):
    capture = us_transcription_call().write(tmp_path / "c.pcapng")
    bad = write_policy(tmp_path, "name: x\nauthorized: {jurisdictions: [Atlantis]}\n")
    for options in ({"policy_path": bad}, {"site": "Atlantis"}, {"formats": ["pdfx"]},
                    {"policy_path": tmp_path / "missing.yaml"}):
        with pytest.raises(UserError):
            analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path / "db", **options)
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError):
        analyze([str(tmp_path / "no-such.pcapng")], out_dir=tmp_path / "out", db_dir=tmp_path / "db")


def test_default_out_dir_is_named_after_the_capture():
    assert default_out_dir("captures/demo-call.pcapng") == Path("reports/demo-call")
    assert default_out_dir("/x/y/test.pcap.gz") == Path("reports/test")


def test_a_capture_with_nothing_remote_says_its_verdict_shows_nothing(tmp_path):
    call = TestCall().tls("192.168.1.10", "intranet.example")
    result = run(call, tmp_path, tmp_path / "db")
    assert result.exit_code == 1 and result.report.summary.verdict.value == "indeterminate"
    assert any("shows nothing" in warning for warning in result.report.warnings)
    assert result.report.summary.caveats[0].startswith("nothing judged: ")
