"""Web and product analytics, RUM, session replay and widgets (issue 11): category ``analytics``.

Every vendor's documented hosts name that vendor; a vendor's EU data-centre hosts carry its EU label
and win over its catch-all; the labels stay labels (they never place an address); and nothing that
watches a page's users is ``telemetry``, which the policy templates ignore.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from call_scenarios import GENESYS_API, TestCall

from cli_runner import run
from tracecheck.classify import classify, load_catalog
from tracecheck.policy import Destination, assess
from tracecheck.geo.catalog import find_region
from tracecheck.geo.hostnames import catalog_hint
from tracecheck.policy.model import parse_policy
from tracecheck.policy.templates import template_text
from tracecheck.vocabulary import Category, Evidence, Place, Verdict

# Each vendor's documented hosts, US / worldwide or region-less (see geo_db/services.yaml sources).
VENDOR_HOSTS = [
    ("www.google-analytics.com", "Google"),
    ("region1.google-analytics.com", "Google"),
    ("ssl.google-analytics.com", "Google"),
    ("region1.analytics.google.com", "Google"),
    ("www.googletagmanager.com", "Google"),
    ("stats.g.doubleclick.net", "Google"),
    ("acme.sc.omtrdc.net", "Adobe"),
    ("acme.tt.omtrdc.net", "Adobe"),
    ("acme.112.2o7.net", "Adobe"),
    ("dpm.demdex.net", "Adobe"),
    ("assets.adobedtm.com", "Adobe"),
    ("acme.data.adobedc.net", "Adobe"),
    ("app.pendo.io", "Pendo"),
    ("cdn.pendo.io", "Pendo"),
    ("data.pendo.io", "Pendo"),
    ("pendo-static-5668600916475904.storage.googleapis.com", "Pendo"),
    ("static.hotjar.com", "Hotjar"),
    ("ws.hotjar.com", "Hotjar"),
    ("content.hotjar.io", "Hotjar"),
    ("edge.fullstory.com", "FullStory"),
    ("rs.fullstory.com", "FullStory"),
    ("api.fullstory.com", "FullStory"),
    ("cdn.logrocket.io", "LogRocket"),
    ("r.lr-ingest.io", "LogRocket"),
    ("r.lr-in-prod.com", "LogRocket"),
    ("api-js.mixpanel.com", "Mixpanel"),
    ("cdn.mxpnl.com", "Mixpanel"),
    ("api2.amplitude.com", "Amplitude"),
    ("cdn.amplitude.com", "Amplitude"),
    ("cdn.segment.com", "Segment"),
    ("api.segment.io", "Segment"),
    ("cdn.heapanalytics.com", "Heap"),
    ("c.us.heap-api.com", "Heap"),
    ("o447951.ingest.sentry.io", "Sentry"),
    ("browser.sentry-cdn.com", "Sentry"),
    ("browser-intake-datadoghq.com", "Datadog"),
    ("www.datadoghq-browser-agent.com", "Datadog"),
    ("bam.nr-data.net", "New Relic"),
    ("bam-cell.nr-data.net", "New Relic"),
    ("js-agent.newrelic.com", "New Relic"),
    ("abc12345.live.dynatrace.com", "Dynatrace"),
    ("bf12345abc.bf.dynatrace.com", "Dynatrace"),
    ("js-cdn.dynatrace.com", "Dynatrace"),
    ("widget.intercom.io", "Intercom"),
    ("api-iam.intercom.io", "Intercom"),
    ("js.intercomcdn.com", "Intercom"),
    ("siteintercept.qualtrics.com", "Qualtrics"),
    ("zn3jaxnbaqbnhcvq-acme.siteintercept.qualtrics.com", "Qualtrics"),
    ("acme.qualtrics.com", "Qualtrics"),
    ("nebula-cdn.kampyle.com", "Medallia"),
    ("acme.medallia.com", "Medallia"),
    ("www.clarity.ms", "Microsoft"),
]


@pytest.mark.parametrize("host,vendor", VENDOR_HOSTS)
def test_every_documented_host_is_analytics_of_its_vendor(host, vendor):
    service = classify([host])
    assert service is not None, host
    assert (service.vendor, service.category) == (vendor, Category.ANALYTICS)


# (EU host, the same vendor's host outside the EU data centre, vendor, the vendor's EU label)
EU_HOSTS = [
    ("app.eu.pendo.io", "app.pendo.io", "Pendo", "eu"),
    ("data.eu.pendo.io", "data.pendo.io", "Pendo", "eu"),
    ("eu1.fullstory.com", "fullstory.com", "FullStory", "eu1"),
    ("edge.eu1.fullstory.com", "edge.fullstory.com", "FullStory", "eu1"),
    ("app.eu1.fullstory.com", "app.fullstory.com", "FullStory", "eu1"),
    ("api-eu.mixpanel.com", "api.mixpanel.com", "Mixpanel", "eu"),
    ("data-eu.mixpanel.com", "data.mixpanel.com", "Mixpanel", "eu"),
    ("api.eu.amplitude.com", "api2.amplitude.com", "Amplitude", "eu"),
    ("events.eu1.segmentapis.com", "api.segmentapis.com", "Segment", "eu1"),
    ("eu1.api.segmentapis.com", "api.segmentapis.com", "Segment", "eu1"),
    ("ingest.de.sentry.io", "ingest.sentry.io", "Sentry", "de"),
    ("o4507146805772288.ingest.de.sentry.io", "o447951.ingest.sentry.io", "Sentry", "de"),
    ("de.sentry.io", "us.sentry.io", "Sentry", "de"),
    ("browser-intake-datadoghq.eu", "browser-intake-datadoghq.com", "Datadog", "EU1"),
    ("session-replay.browser-intake-datadoghq.eu", "app.datadoghq.com", "Datadog", "EU1"),
    ("app.datadoghq.eu", "api.datadoghq.com", "Datadog", "EU1"),
    ("bam.eu01.nr-data.net", "bam.nr-data.net", "New Relic", "eu"),
    ("api-iam.eu.intercom.io", "api-iam.intercom.io", "Intercom", "eu"),
    ("api.eu.intercom.io", "api.intercom.io", "Intercom", "eu"),
    ("nexus-europe-websocket.intercom.io", "nexus-websocket-a.intercom.io", "Intercom", "eu"),
    ("uploads.intercomcdn.eu", "uploads.intercomcdn.com", "Intercom", "eu"),
    ("feedback.digital-cloud.medallia.eu", "acme.medallia.eu", "Medallia", "eu"),
    ("feedback-eu.kampyle.com", "nebula-cdn.kampyle.com", "Medallia", "eu"),
]


@pytest.mark.parametrize("eu_host,other_host,vendor,label", EU_HOSTS)
def test_eu_hosts_carry_the_vendors_label_and_beat_its_catch_all(eu_host, other_host, vendor, label):
    eu, other = classify([eu_host]), classify([other_host])
    assert (eu.vendor, eu.category, eu.region) == (vendor, Category.ANALYTICS, label)
    assert (other.vendor, other.category) == (vendor, Category.ANALYTICS) and other.region != label
    winner, catch_all = _winner_and_catch_all(eu_host, other_host)
    assert winner.region == label and eu.matched == f"{winner.text} <- {eu_host}"
    assert catch_all is None or catch_all is not winner


def _winner_and_catch_all(eu_host: str, other_host: str):
    """The pattern an EU host gets, and the vendor pattern it shares with the other host, if any."""
    matching = [p for p in load_catalog().patterns if p.region_for(eu_host) is not None]
    shared = [p for p in matching if p.region_for(other_host) is not None]
    return matching[0], (shared[0] if shared else None)


def test_most_eu_hosts_compete_with_their_vendors_catch_all():
    """Where the EU host lives under the vendor's catch-all (all but the separate EU domains)."""
    competing = [eu for eu, other, _, _ in EU_HOSTS if _winner_and_catch_all(eu, other)[1] is not None]
    assert len(competing) >= len(EU_HOSTS) - 5


@pytest.mark.parametrize("host,label", [
    ("browser-intake-us3-datadoghq.com", "US3"),
    ("rum.browser-intake-us5-datadoghq.com", "US5"),
    ("browser-intake-ap1-datadoghq.com", "AP1"),
    ("http-intake.logs.us3.datadoghq.com", "US3"),
    ("browser-intake-ddog-gov.com", "US1-FED"),
    ("us1.data.pendo.io", "us1"),
    ("api-iam.au.intercom.io", "au"),
    ("feedback.digital-cloud-uk.medallia.eu", "uk"),
])
def test_other_regional_hosts_carry_their_vendors_label(host, label):
    service = classify([host])
    assert (service.category, service.region) == (Category.ANALYTICS, label)


def test_region_labels_stay_labels():
    """A vendor's own label is evidence, never a place: no provider region code hides among them."""
    labelled = [p for p in load_catalog().patterns if p.category is Category.ANALYTICS and p.region]
    assert len(labelled) >= 30
    for eu_host, _, _, _ in EU_HOSTS:
        service = classify([eu_host])
        assert catalog_hint(eu_host, service.region, service.matched, find_region) is None, eu_host


@pytest.mark.parametrize("host", ["www.google-analytics.com", "region1.google-analytics.com",
                                  "www.googletagmanager.com", "googletagmanager.com", "google-analytics.com"])
def test_google_analytics_and_tag_manager_are_not_telemetry(host):
    assert classify([host]).category is Category.ANALYTICS
    telemetry = [p.text for p in load_catalog().patterns
                 if p.category is Category.TELEMETRY and p.region_for(host) is not None]
    assert telemetry == []


# telemetry keeps what carries no user data; usage reporting is analytics; services that send
# other user data (URLs, typed text, location, push payloads) are `other`. Both of those are judged.
BACKGROUND = {
    Category.TELEMETRY: [
        "fe2.update.microsoft.com",
        "ctldl.windowsupdate.com",
        "www.msftconnecttest.com",
        "settings-win.data.microsoft.com",        # beats *.data.microsoft.com
        "config.edge.skype.com",
        "mesu.apple.com",
        "captive.apple.com",
        "ocsp2.apple.com",
        "update.googleapis.com",
        "clientservices.googleapis.com",
        "connectivitycheck.gstatic.com",
        "redirector.gvt1.com",
        "detectportal.firefox.com",
        "firefox.settings.services.mozilla.com",  # beats *.services.mozilla.com
        "ocsp.digicert.com",
    ],
    Category.ANALYTICS: [
        "v10.events.data.microsoft.com",
        "browser.events.data.microsoft.com",
        "vortex-win.data.microsoft.com",
        "watson.telemetry.microsoft.com",
        "incoming.telemetry.mozilla.org",
        "static.cloudflareinsights.com",
    ],
    Category.OTHER: [
        "nav.smartscreen.microsoft.com",
        "client.wns.windows.com",
        "edge.microsoft.com",
        "1-courier.push.apple.com",
        "gs-loc.ls.apple.com",
        "safebrowsing.googleapis.com",
        "clients1.google.com",
        "optimizationguide-pa.googleapis.com",
        "content-autofill.googleapis.com",
        "push.services.mozilla.com",
    ],
}


@pytest.mark.parametrize("host,category", [(host, kind) for kind, hosts in BACKGROUND.items() for host in hosts])
def test_telemetry_keeps_only_what_carries_no_user_data(host, category):
    assert classify([host]).category is category


# --------------------------------------------------------------------------- judged by the gdpr-eu template

TODAY = date(2026, 9, 1)
GDPR_EU = parse_policy(template_text("gdpr-eu"), "gdpr-eu.yaml")
IN_US = Place(ip="3.230.1.1", provider="aws", region="us-east-1", country="US",
              evidence=(Evidence("aws-ip-ranges", "region us-east-1", "prefix 3.224.0.0/12"),))
IN_IE = Place(ip="52.16.1.1", provider="aws", region="eu-west-1", country="IE",
              evidence=(Evidence("aws-ip-ranges", "region eu-west-1", "prefix 52.16.0.0/15"),))


def judge(host: str, place: Place):
    return assess(Destination(ip=place.ip, names=(host,), name_sources=("sni",)), place, classify([host]),
                  GDPR_EU, TODAY)


@pytest.mark.parametrize("host", ["www.google-analytics.com", "www.googletagmanager.com", "acme.sc.omtrdc.net",
                                  "api-iam.eu.intercom.io", "o4507146805772288.ingest.de.sentry.io"])
def test_gdpr_eu_judges_analytics_by_where_it_is(host):
    abroad, at_home = judge(host, IN_US), judge(host, IN_IE)
    assert (abroad.verdict, abroad.ignored, abroad.fails) == (Verdict.VIOLATION, False, True)
    assert abroad.reasons[0].startswith("analytics, ") and "not assessed" not in abroad.reasons[0]
    assert (at_home.verdict, at_home.ignored) == (Verdict.COMPLIANT, False)


@pytest.mark.parametrize("host", BACKGROUND[Category.ANALYTICS] + BACKGROUND[Category.OTHER])
def test_gdpr_eu_judges_what_left_telemetry(host):
    assert not judge(host, IN_US).ignored


def test_gdpr_eu_still_ignores_telemetry():
    result = judge("ctldl.windowsupdate.com", IN_US)
    assert result.ignored and "not assessed" in result.reasons[0]


def test_an_eu_label_never_places_an_address():
    result = judge("api-iam.eu.intercom.io", Place(ip="44.1.2.3"))
    assert result.verdict is Verdict.INDETERMINATE
    assert "no source places this address" in result.reasons[0] and "the hostname implies eu" in result.reasons[0]


# --------------------------------------------------------------------------- tracecheck analyze, end to end

GOOGLE_ANALYTICS = ("www.google-analytics.com", "3.227.250.60")  # the embedded GeoIP default places 3.227.x in the US
WINDOWS_UPDATE = ("ctldl.windowsupdate.com", "3.227.250.61")


def test_analyze_judges_google_analytics_instead_of_ignoring_it(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    call = TestCall().service(*GENESYS_API, rtt_ms=11).service(*GOOGLE_ANALYTICS, rtt_ms=80)
    capture = call.service(*WINDOWS_UPDATE, rtt_ms=80).write(tmp_path / "ga.pcapng")
    code, _, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(capture),
                       "--out", str(tmp_path / "r"))
    assert code == 1, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    by_ip = {d["ip"]: d for d in report["destinations"]}
    analytics = by_ip[GOOGLE_ANALYTICS[1]]
    assert (analytics["category"], analytics["vendor"], analytics["verdict"]) == ("analytics", "Google", "violation")
    assert {"name": GOOGLE_ANALYTICS[0], "source": "sni"} in analytics["names"]
    assert not any("not assessed" in reason for reason in analytics["reasons"])
    # The contrast: telemetry is still not assessed (how report.json spells that is not this test's business).
    update = by_ip[WINDOWS_UPDATE[1]]
    assert update["category"] == "telemetry" and "not assessed" in update["reasons"][0]
    assert (report["summary"]["verdict"], report["summary"]["violations"]) == ("violation", 1)
