"""The policy model (validation, line numbers) and evaluation (verdicts and their reasons)."""

from __future__ import annotations

from datetime import date

import fake_geo
import pytest

from tracecheck.classify import classify, default_catalog
from tracecheck.errors import UserError
from tracecheck.policy import Destination, assess, evaluate, exit_code, flow_in_scope, overall_verdict, parse_policy
from tracecheck.policy.lint import policy_warnings
from tracecheck.policy.physics import parse_site
from tracecheck.policy.templates import template_names, template_text
from tracecheck.vocabulary import Category, Evidence, Flow, Located, Place, SourceKind, Verdict

TODAY = date(2026, 9, 1)


@pytest.fixture(autouse=True)
def geo(monkeypatch):
    return fake_geo.install(monkeypatch)


def policy(text: str = "", **_):
    base = "name: test\nauthorized:\n  jurisdictions: [EU, EEA]\n"
    return parse_policy(base + text, "p.yaml")


PROVIDER, HOSTNAME, EMBEDDED = SourceKind.PROVIDER, SourceKind.HOSTNAME, SourceKind.EMBEDDED


def said(source: str, kind: SourceKind, claim: str, detail: str = "", **where) -> Evidence:
    """A piece of evidence as geo writes it: prose for people, kind and place as data."""
    return Evidence(source, claim, detail, kind, Located(**where) if where else None)


US_EAST_1 = dict(country="US", subdivision="US-VA", region="us-east-1", provider="aws", city="Ashburn")
EU_WEST_1 = dict(country="IE", region="eu-west-1", provider="aws", city="Dublin")
AWS_US = Place(ip="3.230.1.1", provider="aws", region="us-east-1", country="US", subdivision="US-VA", city="Ashburn",
               basis=PROVIDER,
               evidence=(said("aws-ip-ranges", PROVIDER, "region us-east-1", "ip-ranges.json 2026-08-22 prefix 3.224.0.0/12",
                              **US_EAST_1),
                         said("geoip2fast", EMBEDDED, "country US", country="US")))
AWS_IE = Place(ip="52.16.1.1", provider="aws", region="eu-west-1", country="IE", city="Dublin", basis=PROVIDER,
               evidence=(said("aws-ip-ranges", PROVIDER, "region eu-west-1", "prefix 52.16.0.0/15", **EU_WEST_1),))
TRANSCRIBE_US = "transcribestreaming.us-east-1.amazonaws.com"


def dest(ip: str, *names: str, **kwargs) -> Destination:
    return Destination(ip=ip, names=names, name_sources=("sni",) * len(names), **kwargs)


# --------------------------------------------------------------------------- templates and validation


@pytest.mark.parametrize("name", ["gdpr-eu", "uk-gdpr", "lgpd-br", "ccpa-us"])
def test_every_template_validates(name):
    assert name in template_names()
    parsed = parse_policy(template_text(name), f"{name}.yaml")
    assert parsed.name == name
    assert {"gdpr-eu": ["EU", "EEA"], "uk-gdpr": ["UK", "EEA"], "lgpd-br": ["BR"],
            "ccpa-us": ["US"]}[name] == parsed.authorized_summary()
    assert parsed.indeterminate == "warn" and len(parsed.sha256) == 64


def test_templates_are_commented():
    for name in template_names():
        text = template_text(name)
        assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 15


BAD_POLICIES = [
    ("authorised:\n  countries: [IE]\n", 4, "unknown field 'authorised'; did you mean 'authorized'?"),
    ("categories:\n  transcriptoin: ignore\n", 5, "categories.transcriptoin"),
    ("categories:\n  telemetry: skip\n", 5, "'skip' is not a rule"),
    ("indeterminate: maybe\n", 4, "indeterminate: Input should be 'fail' or 'warn'"),
    ("tolerate_disagreement: lots\n", 4, "tolerate_disagreement"),
    ("exceptions:\n  - id: X\n    vendor: A\n    justification: j\n    reference: r\n    expires: soon\n", 9,
     "exceptions[0].expires: Input should be a valid date or datetime, input is too short; write a date like 2026-12-31"),
    ("exceptions:\n  - id: X\n    vendor: A\n    reference: r\n    expires: 2027-01-01\n", 5,
     "exceptions[0].justification: required field is missing"),
    ("exceptions:\n  - id: X\n    justification: j\n    reference: r\n    expires: 2027-01-01\n", 5,
     "give at least one of vendor, service, host, ip or category"),
    ("ignore:\n  - ip: 300.1.2.3\n", 5, "ignore[0].ip: ip '300.1.2.3' is not an address or network"),
    ("scope:\n  clients: [10.0.0.0/33]\n", 5, "scope.clients"),
    ("scope:\n  start: 2026-05-04T10:00:00Z\n  end: 2026-05-04T09:00:00Z\n", 4, "scope.end must be after scope.start"),
    ("site: Atlantis\n", 4, "site 'Atlantis' is not a region code"),
    ("vendors:\n  Genesys:\n    authorized: {countries: [Ireland]}\n", 6, "'IRELAND' is not an ISO 3166"),
    ("vendors:\n  Genesys:\n    authorized: {jurisdictions: [EUU]}\n", 6, "'EUU' is not a jurisdiction group"),
]


@pytest.mark.parametrize("text,line,message", BAD_POLICIES)
def test_policy_errors_name_file_line_and_problem(text, line, message):
    with pytest.raises(UserError) as err:
        policy(text)
    assert str(err.value).startswith(f"p.yaml:{line}:"), str(err.value)
    assert message in str(err.value)


def test_norway_is_a_country_not_a_boolean():
    assert policy("vendors:\n  Genesys:\n    authorized: {countries: [NO, no]}\n").vendors["Genesys"].authorized.countries == ["NO", "NO"]


def test_structural_policy_errors():
    with pytest.raises(UserError, match=r"^p.yaml:1: a policy is a YAML mapping"):
        parse_policy("- just a list\n", "p.yaml")
    with pytest.raises(UserError, match=r"^p.yaml:2: authorized: name at least one"):
        parse_policy("name: x\nauthorized: {}\n", "p.yaml")
    with pytest.raises(UserError, match=r"^p.yaml:4: duplicate key 'name' \(first on line 1\)"):
        parse_policy("name: x\nauthorized:\n  countries: [IE]\nname: y\n", "p.yaml")
    with pytest.raises(UserError, match=r"exception id 'A' is used twice"):
        policy("exceptions:\n" + "  - {id: A, vendor: X, justification: j, reference: r, expires: 2027-01-01}\n" * 2)


# --------------------------------------------------------------------------- verdicts


def test_us_transcription_is_a_violation_with_a_readable_reason():
    verdict, reasons = evaluate(dest("3.230.1.1", TRANSCRIBE_US), AWS_US, classify([TRANSCRIBE_US]), policy(), TODAY)
    assert verdict is Verdict.VIOLATION
    first = reasons[0]
    assert first.startswith("transcription, AWS Transcribe at us-east-1 (US, Ashburn): US is not in {EU, EEA}.")
    assert f"Evidence: SNI {TRANSCRIBE_US}" in first
    assert "aws-ip-ranges region us-east-1 (ip-ranges.json 2026-08-22 prefix 3.224.0.0/12)" in first
    assert "geoip2fast country US" in first


def test_eu_destination_is_compliant():
    result = assess(dest("52.16.1.1", "api.mypurecloud.ie"), AWS_IE, classify(["api.mypurecloud.ie"]), policy(), TODAY)
    assert result.verdict is Verdict.COMPLIANT and not result.fails
    assert result.reasons[0].startswith("platform, Genesys Cloud at eu-west-1 (IE, Dublin): IE is in EU.")


def test_local_addresses_are_never_violations():
    strict = policy("indeterminate: fail\ntolerate_disagreement: none\n")
    local = Place(ip="10.1.2.3", local=True, country="US")
    for service in (None, classify([TRANSCRIBE_US])):
        result = assess(dest("10.1.2.3", TRANSCRIBE_US), local, service, strict, TODAY)
        assert result.verdict is Verdict.COMPLIANT and not result.fails
        assert "local address" in result.reasons[0]


def test_anycast_is_indeterminate_and_fails_or_warns_per_policy():
    place = Place(ip="104.16.1.1", provider="cloudflare", anycast=True, basis=PROVIDER,
                  evidence=(said("cloudflare", PROVIDER, "anycast", provider="cloudflare", anycast=True),))
    service = classify(["cdnjs.cloudflare.com"])
    warn = assess(dest("104.16.1.1", "cdnjs.cloudflare.com"), place, service, policy(), TODAY)
    fail = assess(dest("104.16.1.1", "cdnjs.cloudflare.com"), place, service, policy("indeterminate: fail\n"), TODAY)
    assert warn.verdict is fail.verdict is Verdict.INDETERMINATE
    assert "anycast" in warn.reasons[0] and "no single country" in warn.reasons[0]
    assert not warn.fails and fail.fails
    placed = assess(dest("52.16.1.1"), AWS_IE, None, policy(), TODAY)
    assert (overall_verdict([warn, placed]), exit_code([warn, placed])) == (Verdict.COMPLIANT, 0)
    assert (overall_verdict([fail, placed]), exit_code([fail, placed])) == (Verdict.INDETERMINATE, 1)
    # A run whose every destination is unknown judged nothing: never compliant, whatever the rule.
    assert (overall_verdict([warn]), exit_code([warn])) == (Verdict.INDETERMINATE, 1)
    assert "indeterminate: fail" in fail.reasons[-1]


def test_unknown_place_is_indeterminate_never_compliant():
    result = assess(dest("198.51.100.20"), Place(ip="198.51.100.20"), None, policy(), TODAY)
    assert result.verdict is Verdict.INDETERMINATE
    assert "no source places this address" in result.reasons[0]


def test_a_vendor_hostname_can_place_a_destination():
    name = "transcribestreaming.eu-central-1.amazonaws.com"
    placed = Place(ip="198.51.100.77", provider="aws", region="eu-central-1", country="DE", basis=HOSTNAME,
                   evidence=(said("hostname", HOSTNAME, "region eu-central-1", country="DE", region="eu-central-1",
                                  provider="aws"),))
    result = assess(dest("198.51.100.77", name), placed, classify([name]), policy(), TODAY)
    assert result.verdict is Verdict.COMPLIANT and result.basis == "hostname"


def test_the_policy_does_not_place_what_geo_did_not():
    # The catalog's region reaches geo as a vendor hint (analyze); a Place geo left empty stays unknown.
    name = "transcribestreaming.eu-central-1.amazonaws.com"
    result = assess(dest("198.51.100.77", name), Place(ip="198.51.100.77"), classify([name]), policy(), TODAY)
    assert result.verdict is Verdict.INDETERMINATE and result.basis == ""


def test_violation_wins_the_summary_and_exit_code():
    bad = assess(dest("3.230.1.1", TRANSCRIBE_US), AWS_US, classify([TRANSCRIBE_US]), policy(), TODAY)
    good = assess(dest("52.16.1.1"), AWS_IE, None, policy(), TODAY)
    assert overall_verdict([good, bad]) is Verdict.VIOLATION and exit_code([good, bad]) == 1
    assert overall_verdict([good]) is Verdict.COMPLIANT and exit_code([good]) == 0


EXCEPTION = """exceptions:
  - id: TIA-7
    vendor: AWS
    category: transcription
    justification: US transcription pending the EU endpoint
    reference: SCC 2021/914 module 2; TIA-2026-007
    expires: {expires}
"""


def test_active_exception_allows_and_says_so():
    pol = policy(EXCEPTION.format(expires="2026-09-01"))  # the expiry day itself still applies
    result = assess(dest("3.230.1.1", TRANSCRIBE_US), AWS_US, classify([TRANSCRIBE_US]), pol, TODAY)
    assert result.verdict is Verdict.COMPLIANT and result.exception == "TIA-7"
    assert result.reasons[0].startswith("exception: TIA-7 -- allowed until 2026-09-01")
    assert "SCC 2021/914" in result.reasons[0] and "would be violation" in result.reasons[0]


def test_expired_exception_no_longer_applies_and_is_reported():
    pol = policy(EXCEPTION.format(expires="2026-08-31"))
    result = assess(dest("3.230.1.1", TRANSCRIBE_US), AWS_US, classify([TRANSCRIBE_US]), pol, TODAY)
    assert result.verdict is Verdict.VIOLATION and result.fails
    assert "Exception TIA-7 expired on 2026-08-31; it no longer applies." in result.reasons
    assert policy_warnings(pol, TODAY) == ["p.yaml:10: exception TIA-7 expired on 2026-08-31; it no longer applies"]


def test_exception_must_match_every_field_it_gives():
    pol = policy(EXCEPTION.format(expires="2027-01-01"))
    other_category = classify(["comprehend.us-east-1.amazonaws.com"])
    result = assess(dest("3.230.1.1", "comprehend.us-east-1.amazonaws.com"), AWS_US, other_category, pol, TODAY)
    assert result.verdict is Verdict.VIOLATION


NORWAY = Place(ip="51.13.0.1", provider="azure", region="norwayeast", country="NO", city="Oslo", basis=PROVIDER,
               evidence=(said("azure-service-tags", PROVIDER, "region norwayeast", country="NO", region="norwayeast",
                              provider="azure", city="Oslo"),))


def test_category_rule_replaces_the_authorized_set():
    pol = policy("categories:\n  transcription:\n    authorized: {jurisdictions: [EU]}\n")
    stt = classify(["norwayeast.stt.speech.microsoft.com"])
    crm = classify(["acme.crm4.dynamics.com"])
    assert assess(dest("51.13.0.1"), NORWAY, crm, pol, TODAY).verdict is Verdict.COMPLIANT  # EEA
    result = assess(dest("51.13.0.1"), NORWAY, stt, pol, TODAY)
    assert result.verdict is Verdict.VIOLATION
    assert "NO is not in {EU} (rule categories.transcription)" in result.reasons[0]


def test_vendor_rule_beats_category_rule():
    pol = policy("categories:\n  transcription:\n    authorized: {jurisdictions: [EU]}\n"
                 "vendors:\n  microsoft azure ai speech:\n    authorized: {countries: [NO]}\n")
    stt = classify(["norwayeast.stt.speech.microsoft.com"])
    assert assess(dest("51.13.0.1"), NORWAY, stt, pol, TODAY).verdict is Verdict.COMPLIANT


def test_region_authorization():
    pol = parse_policy("name: r\nauthorized:\n  regions: [aws:eu-west-1]\n", "r.yaml")
    frankfurt = Place(ip="3.120.0.1", provider="aws", region="eu-central-1", country="DE", basis=PROVIDER)
    assert assess(dest("52.16.1.1"), AWS_IE, None, pol, TODAY).verdict is Verdict.COMPLIANT
    assert assess(dest("3.120.0.1"), frankfurt, None, pol, TODAY).verdict is Verdict.VIOLATION


def test_media_flows_are_judged_by_the_calls_category():
    pol = policy("categories:\n  transcription:\n    authorized: {countries: [DE]}\n")
    media = dest("52.16.1.1", category=Category.TRANSCRIPTION)
    result = assess(media, AWS_IE, None, pol, TODAY)
    assert result.verdict is Verdict.VIOLATION and result.reasons[0].startswith("transcription,")


def test_ignore_rules_and_ignored_categories_are_not_assessed():
    pol = policy('categories:\n  telemetry: ignore\nignore:\n  - host: "*.corp.example"\n    reason: management\n'
                 "  - ip: 198.51.100.0/24\n")
    telemetry = classify(["ctldl.windowsupdate.com"])
    for destination, service in [(dest("3.230.1.1", "ctldl.windowsupdate.com"), telemetry),
                                 (dest("3.230.1.1", "mgmt.corp.example"), None),
                                 (dest("198.51.100.9"), None)]:
        result = assess(destination, AWS_US, service, pol, TODAY)
        assert result.verdict is Verdict.NOT_ASSESSED and result.ignored and not result.fails
        assert result.reasons[0].startswith("not assessed") and result.rule
    assert not assess(dest("3.230.1.1", "corp.example.net"), AWS_US, None, pol, TODAY).ignored


# --------------------------------------------------------------------------- disagreement


def _ie_place(*more: Evidence) -> Place:
    return Place(ip="52.16.1.1", provider="aws", region="eu-west-1", country="IE", city="Dublin", basis=PROVIDER,
                 evidence=(said("aws-ip-ranges", PROVIDER, "region eu-west-1", **EU_WEST_1), *more))


def test_weaker_source_disagreement_is_tolerated_and_shown():
    place = _ie_place(said("geoip2fast", EMBEDDED, "country US", country="US"),
                      said("rdap", SourceKind.REGISTRY, "registrant country US", "registrant Amazon", country="US"))
    result = assess(dest("52.16.1.1"), place, None, policy(), TODAY)
    assert result.verdict is Verdict.COMPLIANT and result.flags == ("sources_disagree",)
    shown = " ".join(result.reasons)
    assert "geoip2fast says US" in shown and "tolerates" in shown
    assert "rdap says" not in shown  # registry data is not a location claim


def test_a_source_is_ranked_by_its_kind_not_its_name():
    # A geofeed imported as google.csv is a geofeed, whatever its name: weaker than AWS's file.
    place = _ie_place(said("google", SourceKind.GEOFEED, "country US", country="US"))
    result = assess(dest("52.16.1.1"), place, None, policy(), TODAY)
    assert result.verdict is Verdict.COMPLIANT  # a geofeed is weaker than AWS's file: tolerated
    named_like_a_provider = Place(ip="52.16.1.1", country="IE", basis=SourceKind.GEOFEED, evidence=(
        said("aws-ranges-mirror.csv", SourceKind.GEOFEED, "country IE", country="IE"),
        said("google", SourceKind.GEOFEED, "country US", country="US")))
    result = assess(dest("52.16.1.1"), named_like_a_provider, None, policy(), TODAY)
    assert result.verdict is Verdict.INDETERMINATE  # two geofeeds, as strong, different verdicts
    assert result.basis == "geofeed"


def test_lines_that_are_not_location_claims_never_disagree():
    # The region catalog restating the provider's region, a registrant country, geo's own note.
    place = _ie_place(said("region-catalog", SourceKind.CATALOG, "aws eu-west-1 is in IE (Dublin)"),
                      said("geoip2fast", EMBEDDED, "country IE (Dublin)", country="IE"),
                      said("rdap", SourceKind.REGISTRY, "registrant country US", country="US"),
                      said("tracecheck", SourceKind.NOTE, "sources disagree: country IE, country US"))
    result = assess(dest("52.16.1.1"), place, None, policy("tolerate_disagreement: none\n"), TODAY)
    assert result.verdict is Verdict.COMPLIANT and not result.flags
    assert not any("Sources disagree" in reason for reason in result.reasons)


def test_a_local_zone_and_its_parent_region_are_one_claim():
    # AWS's file places a Local Zone (border group us-east-1-lim-1) in Peru; geo's line says so
    # once, with the zone's country: not "sources disagree" with the parent region's US.
    lima = Place(ip="15.220.1.1", provider="aws", region="us-east-1", country="PE", basis=PROVIDER,
                 evidence=(said("aws-ip-ranges", PROVIDER, "region us-east-1, border group us-east-1-lim-1",
                                country="PE", region="us-east-1-lim-1", provider="aws", city="Lima"),))
    result = assess(dest("15.220.1.1"), lima, None, policy("tolerate_disagreement: none\n"), TODAY)
    assert result.verdict is Verdict.VIOLATION and not result.flags
    assert result.reasons[0].startswith("unclassified destination at us-east-1-lim-1 (PE, Lima)")
    # ... and authorizing the parent region does not authorize a zone in another country
    parent = parse_policy("name: r\nauthorized:\n  regions: [aws:us-east-1]\n", "r.yaml")
    assert assess(dest("15.220.1.1"), lima, None, parent, TODAY).verdict is Verdict.VIOLATION


def test_any_disagreement_blocks_a_compliant_place_under_none():
    place = _ie_place(said("geoip2fast", EMBEDDED, "country US", country="US"))
    result = assess(dest("52.16.1.1"), place, None, policy("tolerate_disagreement: none\n"), TODAY)
    assert result.verdict is Verdict.INDETERMINATE
    assert "geoip2fast says US" in result.reasons[0]


def test_disagreement_never_clears_a_violation():
    # AWS's file says us-east-1; the name and a GeoIP database say Ireland.  Evidence may make a
    # verdict stricter, never laxer: the violation stands, flagged.
    name = "api.mypurecloud.ie"
    place = Place(**{**AWS_US.__dict__, "evidence": AWS_US.evidence + (
        said("hostname", HOSTNAME, "region eu-west-1", **EU_WEST_1), said("geoip2-city", SourceKind.GEOIP, "country IE",
                                                                          country="IE"))})
    for tolerance in ("none", "weaker_sources", "any"):
        result = assess(dest("3.230.1.1", name), place, classify([name]),
                        policy(f"tolerate_disagreement: {tolerance}\n"), TODAY)
        assert result.verdict is Verdict.VIOLATION and result.fails, tolerance
        assert "sources_disagree" in result.flags
        assert "The hostname implies region eu-west-1; the address ranges say us-east-1." in result.reasons
    assert any("never clears it" in reason for reason in result.reasons) or tolerance == "any"


def test_an_equal_source_that_disagrees_makes_a_compliant_place_indeterminate():
    place = Place(ip="52.16.1.1", provider="aws", region="eu-west-1", country="IE", basis=HOSTNAME, evidence=(
        said("hostname", HOSTNAME, "region eu-west-1", **EU_WEST_1),
        said("hostname", HOSTNAME, "region us-east-1", **US_EAST_1)))
    result = assess(dest("52.16.1.1"), place, None, policy(), TODAY)
    assert result.verdict is Verdict.INDETERMINATE and "as authoritative" in result.reasons[0]
    relaxed = assess(dest("52.16.1.1"), place, None, policy("tolerate_disagreement: any\n"), TODAY)
    assert relaxed.verdict is Verdict.COMPLIANT


def test_same_country_region_difference_is_shown_not_blocking():
    name = "transcribestreaming.us-east-2.amazonaws.com"
    result = assess(dest("3.230.1.1", name), AWS_US, classify([name]), policy(), TODAY)
    assert result.verdict is Verdict.VIOLATION
    assert "The hostname implies region us-east-2; the address ranges say us-east-1." in result.reasons


# --------------------------------------------------------------------------- subdivisions, physics, scope


def test_state_level_policy_needs_a_state():
    pol = parse_policy("name: ca\nauthorized:\n  jurisdictions: [US-CA]\n", "ca.yaml")
    no_state = Place(ip="8.8.4.4", country="US", basis=EMBEDDED,
                     evidence=(said("geoip2fast", EMBEDDED, "country US", country="US"),))
    texas = Place(ip="8.8.4.5", country="US", subdivision="US-TX", basis=SourceKind.GEOIP)
    california = Place(ip="8.8.4.6", country="US", subdivision="US-CA", basis=SourceKind.GEOIP)
    unknown = assess(dest("8.8.4.4"), no_state, None, pol, TODAY)
    assert unknown.verdict is Verdict.INDETERMINATE and "no source names the US subdivision" in unknown.reasons[0]
    violation = assess(dest("8.8.4.5"), texas, None, pol, TODAY)
    assert violation.verdict is Verdict.VIOLATION and "US-TX is not in {US-CA}" in violation.reasons[0]
    assert assess(dest("8.8.4.6"), california, None, pol, TODAY).verdict is Verdict.COMPLIANT


def test_a_physically_implausible_compliant_place_becomes_indeterminate():
    # Captured in Sydney, a 2 ms handshake: the server is within 200 km, not in Dublin.
    result = assess(dest("52.16.1.1", handshake_rtt_ms=2.0), AWS_IE, None, policy(), TODAY, site=parse_site("-33.87,151.21"))
    assert result.verdict is Verdict.INDETERMINATE and result.flags == ("rtt_implausible",)
    assert "physically implausible" in result.reasons[0] and "200 km" in result.reasons[0]
    assert result.evidence[0].source == "rtt-bound" and result.evidence[0].claim.startswith("implausible")


def test_the_rtt_bound_never_clears_a_violation():
    # Captured in Dublin, a 2 ms handshake: a proxy or SBC near the agent, not a server in Virginia.
    result = assess(dest("3.230.1.1", handshake_rtt_ms=2.0), AWS_US, None, policy(), TODAY, site=parse_site("Dublin"))
    assert result.verdict is Verdict.VIOLATION and result.fails and result.flags == ("rtt_implausible",)
    assert any("the violation stands" in reason for reason in result.reasons)
    assert result.evidence[0].claim.startswith("implausible")
    far = assess(dest("3.230.1.1", handshake_rtt_ms=80.0), AWS_US, None, policy(), TODAY, site=parse_site("Dublin"))
    assert far.verdict is Verdict.VIOLATION and not far.flags


def test_policy_site_is_used_and_near_places_are_corroborated():
    result = assess(dest("52.16.1.1", handshake_rtt_ms=1.5), AWS_IE, None, policy("site: eu-west-1\n"), TODAY)
    assert result.verdict is Verdict.COMPLIANT
    assert any(reason.startswith("Physics corroborates the place") for reason in result.reasons)


def _flow(ts: float, orig: str = "10.0.0.5", duration: float = 1.0) -> Flow:
    return Flow(uid="C1", ts=ts, duration=duration, proto="tcp", orig_h=orig, orig_p=50000, resp_h="3.230.1.1",
                resp_p=443, orig_pkts=1, orig_ip_bytes=60, resp_pkts=1, resp_ip_bytes=60)


def test_scope_time_window_clients_and_sip_calls():
    pol = policy("scope:\n  start: 2026-05-04T09:00:00Z\n  end: 2026-05-04T10:00:00\n  clients: [10.0.0.0/24]\n")
    nine_thirty = 1777887000.0  # 2026-05-04T09:30:00Z
    assert flow_in_scope(_flow(nine_thirty), pol)
    assert not flow_in_scope(_flow(nine_thirty + 7200), pol)
    assert not flow_in_scope(_flow(nine_thirty, orig="10.0.1.5"), pol)
    calls = policy("scope:\n  sip_calls_only: true\n  call_padding_seconds: 5\n")
    assert flow_in_scope(_flow(100.0), calls, [(90.0, 120.0)])
    assert flow_in_scope(_flow(124.0), calls, [(90.0, 120.0)])
    assert not flow_in_scope(_flow(200.0), calls, [(90.0, 120.0)])
    assert not flow_in_scope(_flow(100.0), calls, [])


@pytest.mark.parametrize("scope, everything", [
    ("", True), ("scope: {}\n", True), ("scope:\n  call_padding_seconds: 30\n", True),
    ("scope:\n  start: 2026-05-04T09:00:00Z\n", False), ("scope:\n  end: 2026-05-04T09:00:00Z\n", False),
    ("scope:\n  clients: [10.0.0.0/24]\n", False), ("scope:\n  sip_calls_only: true\n", False)])
def test_a_scope_covers_everything_only_when_nothing_bounds_it(scope, everything):
    # analyze then takes every flow without asking flow_in_scope of each: it must say yes to all.
    pol = policy(scope)
    assert pol.scope.covers_everything is everything
    flows = [_flow(0.0), _flow(1777887000.0 + 7200, orig="192.0.2.1"), _flow(-5.0, duration=-1.0)]
    assert all(flow_in_scope(flow, pol, []) for flow in flows) or not everything
    assert everything or not all(flow_in_scope(flow, pol, []) for flow in flows)


def test_warnings_for_unknown_vendors_and_soon_expiring_exceptions():
    pol = policy("vendors:\n  Genesis: ignore\n" + EXCEPTION.format(expires="2026-09-20"))
    warnings = policy_warnings(pol, TODAY, default_catalog())
    assert any("vendors.Genesis matches nothing" in w and "did you mean `Genesys`?" in w and w.startswith("p.yaml:5:")
               for w in warnings)
    assert any("exception TIA-7 expires on 2026-09-20" in w for w in warnings)


def test_today_honours_source_date_epoch(monkeypatch):
    from tracecheck.policy.evaluate import today_utc

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1777887000")
    assert today_utc() == date(2026, 5, 4)


def test_claims_of_one_answer_are_cited_with_their_detail_once():
    detail = "geoip2fast 1.2.2 (GeoLite2 2024-06-18) sha256:a9c368b586fa prefix 1.0.4.0/22"
    place = Place(ip="1.0.6.234", country="AU", basis=EMBEDDED,
                  evidence=(said("geoip2fast", EMBEDDED, "country AU", detail, country="AU"),
                            said("geoip2fast", EMBEDDED, "AS name Example Pty", detail),
                            said("rdap", SourceKind.REGISTRY, "country AU", "rdap.apnic.net")))
    reason = assess(dest("1.0.6.234"), place, None, policy(), date(2026, 1, 1)).reasons[0]
    assert reason.count(detail) == 1
    assert (f"Evidence: geoip2fast country AU, AS name Example Pty ({detail}); rdap country AU (rdap.apnic.net)."
            in reason)


def test_places_sharing_one_evidence_tuple_are_judged_each_by_its_own_fields():
    # evaluate keeps the claims made of a place per evidence tuple (geo shares one per combination
    # of answers): a place with the same tuple but other decided fields must not get the first's.
    import importlib
    from dataclasses import replace

    evaluation = importlib.import_module("tracecheck.policy.evaluate")  # the package exports a function of that name

    evaluation._PLACES_READ.clear()
    shared = AWS_US.evidence
    as_us = assess(dest("3.230.1.1"), AWS_US, None, policy(), TODAY)
    as_ie = assess(dest("3.230.1.2"), replace(AWS_US, ip="3.230.1.2", region="eu-west-1", country="IE",
                                              subdivision="", city="Dublin", evidence=shared), None, policy(), TODAY)
    again = assess(dest("3.230.1.3"), replace(AWS_US, ip="3.230.1.3"), None, policy(), TODAY)
    evaluation._PLACES_READ.clear()
    fresh = assess(dest("3.230.1.2"), replace(AWS_US, ip="3.230.1.2", region="eu-west-1", country="IE",
                                              subdivision="", city="Dublin", evidence=shared), None, policy(), TODAY)
    assert as_us.verdict is Verdict.VIOLATION and as_ie == fresh
    assert as_ie.verdict is not Verdict.VIOLATION and "sources_disagree" in as_ie.flags
    assert again.reasons == tuple(r.replace("3.230.1.1", "3.230.1.3") for r in as_us.reasons)
