"""The service catalog and the classifier: which vendor, which category, which region a name implies."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.classify import classify, classify_media, load_catalog
from tracecheck.errors import UserError
from tracecheck.vocabulary import Category

GENESYS_REGIONS = [
    ("mypurecloud.com", "us-east-1"),
    ("mypurecloud.ie", "eu-west-1"),
    ("mypurecloud.de", "eu-central-1"),
    ("euw2.pure.cloud", "eu-west-2"),
    ("mypurecloud.jp", "ap-northeast-1"),
    ("mypurecloud.com.au", "ap-southeast-2"),
    ("usw2.pure.cloud", "us-west-2"),
    ("cac1.pure.cloud", "ca-central-1"),
    ("aps1.pure.cloud", "ap-south-1"),
    ("apne2.pure.cloud", "ap-northeast-2"),
    ("apne3.pure.cloud", "ap-northeast-3"),
    ("sae1.pure.cloud", "sa-east-1"),
    ("mec1.pure.cloud", "me-central-1"),
    ("euc2.pure.cloud", "eu-central-2"),
    ("use2.us-gov-pure.cloud", "us-east-2"),
]


@pytest.mark.parametrize("domain,region", GENESYS_REGIONS)
@pytest.mark.parametrize("sub", ["api", "apps", "login", "streaming.notifications"])
def test_every_genesys_region_domain_implies_its_aws_region(domain, region, sub):
    service = classify([f"{sub}.{domain}"])
    assert (service.vendor, service.category, service.region) == ("Genesys", Category.PLATFORM, region)


@pytest.mark.parametrize("domain,region", GENESYS_REGIONS)
def test_genesys_turn_hosts_are_media_in_the_same_region(domain, region):
    service = classify([f"turn.{domain}"])
    assert (service.category, service.region) == (Category.MEDIA, region)


# Every hostname shape the catalog promises, and what it must say.
EXPECTED = [
    ("transcribestreaming.us-east-1.amazonaws.com", "AWS", Category.TRANSCRIPTION, "us-east-1"),
    ("transcribe.eu-central-1.amazonaws.com", "AWS", Category.TRANSCRIPTION, "eu-central-1"),
    ("transcribestreaming-fips.us-gov-west-1.amazonaws.com", "AWS", Category.TRANSCRIPTION, "us-gov-west-1"),
    ("comprehend.eu-west-1.amazonaws.com", "AWS", Category.SPEECH_ANALYTICS, "eu-west-1"),
    ("runtime-v2-lex.eu-west-2.amazonaws.com", "AWS", Category.SPEECH_ANALYTICS, "eu-west-2"),
    ("acme.my.connect.aws", "AWS", Category.PLATFORM, ""),
    ("connect.eu-central-1.amazonaws.com", "AWS", Category.PLATFORM, "eu-central-1"),
    ("abc123.execute-api.eu-west-1.amazonaws.com", "AWS", Category.INTEGRATION_MIDDLEWARE, "eu-west-1"),
    ("xyz.lambda-url.us-east-2.on.aws", "AWS", Category.INTEGRATION_MIDDLEWARE, "us-east-2"),
    ("westeurope.stt.speech.microsoft.com", "Microsoft", Category.TRANSCRIPTION, "westeurope"),
    ("eastus.api.cognitive.microsoft.com", "Microsoft", Category.TRANSCRIPTION, "eastus"),
    ("speech.googleapis.com", "Google", Category.TRANSCRIPTION, ""),
    ("eu-speech.googleapis.com", "Google", Category.TRANSCRIPTION, "eu"),
    ("europe-west4-speech.googleapis.com", "Google", Category.TRANSCRIPTION, "europe-west4"),
    ("dialogflow.googleapis.com", "Google", Category.SPEECH_ANALYTICS, ""),
    ("europe-west1-dialogflow.googleapis.com", "Google", Category.SPEECH_ANALYTICS, "europe-west1"),
    ("api.deepgram.com", "Deepgram", Category.TRANSCRIPTION, ""),
    ("api.eu.deepgram.com", "Deepgram", Category.TRANSCRIPTION, "eu"),
    ("api.assemblyai.com", "AssemblyAI", Category.TRANSCRIPTION, ""),
    ("api.eu.assemblyai.com", "AssemblyAI", Category.TRANSCRIPTION, "eu"),
    ("eu2.rt.speechmatics.com", "Speechmatics", Category.TRANSCRIPTION, "eu2"),
    ("us2.rt.speechmatics.com", "Speechmatics", Category.TRANSCRIPTION, "us2"),
    ("asr.api.speechmatics.com", "Speechmatics", Category.TRANSCRIPTION, ""),
    ("tenant.verintcloudservices.com", "Verint", Category.SPEECH_ANALYTICS, ""),
    ("home-c32.nice-incontact.com", "NICE", Category.PLATFORM, ""),
    ("api-eu1.niceincontact.com", "NICE", Category.PLATFORM, "eu1"),
    ("feapi.callminer.net", "CallMiner", Category.SPEECH_ANALYTICS, ""),
    ("app.observe.ai", "Observe.AI", Category.SPEECH_ANALYTICS, ""),
    ("api.openai.com", "OpenAI", Category.SPEECH_ANALYTICS, ""),
    ("acme.my.salesforce.com", "Salesforce", Category.CRM_INTEGRATION, ""),
    ("acme.lightning.force.com", "Salesforce", Category.CRM_INTEGRATION, ""),
    ("acme.service-now.com", "ServiceNow", Category.CRM_INTEGRATION, ""),
    ("acme.zendesk.com", "Zendesk", Category.CRM_INTEGRATION, ""),
    ("api.hubapi.com", "HubSpot", Category.CRM_INTEGRATION, "na1"),
    ("api-eu1.hubapi.com", "HubSpot", Category.CRM_INTEGRATION, "eu1"),
    ("acme.crm4.dynamics.com", "Microsoft", Category.CRM_INTEGRATION, "EMEA"),
    ("acme.api.crm.dynamics.com", "Microsoft", Category.CRM_INTEGRATION, "NAM"),
    ("acme.crm11.dynamics.com", "Microsoft", Category.CRM_INTEGRATION, "GBR"),
    ("orders.de-c1.cloudhub.io", "MuleSoft", Category.INTEGRATION_MIDDLEWARE, "eu-central-1"),
    ("eu1.anypoint.mulesoft.com", "MuleSoft", Category.INTEGRATION_MIDDLEWARE, "eu1"),
    ("prod-12.westeurope.logic.azure.com", "Microsoft", Category.INTEGRATION_MIDDLEWARE, "westeurope"),
    ("d111111abcdef8.cloudfront.net", "AWS", Category.CDN, ""),
    ("a1.akamaiedge.net", "Akamai", Category.CDN, ""),
    ("dualstack.x.ssl.fastly.net", "Fastly", Category.CDN, ""),
    ("cdnjs.cloudflare.com", "Cloudflare", Category.CDN, ""),
    ("v10.events.data.microsoft.com", "Microsoft", Category.ANALYTICS, ""),  # Windows diagnostic data
    ("ctldl.windowsupdate.com", "Microsoft", Category.TELEMETRY, ""),
    ("mesu.apple.com", "Apple", Category.TELEMETRY, ""),
    ("update.googleapis.com", "Google", Category.TELEMETRY, ""),
    ("login.microsoftonline.com", "Microsoft", Category.IDENTITY, ""),
    ("acme.okta.com", "Okta", Category.IDENTITY, ""),
    ("accounts.google.com", "Google", Category.IDENTITY, ""),
    ("trunk.pstn.dublin.twilio.com", "Twilio", Category.TELEPHONY_CARRIER, "eu-west-1"),
]


@pytest.mark.parametrize("name,vendor,category,region", EXPECTED)
def test_catalog_knows_the_promised_hostnames(name, vendor, category, region):
    service = classify([name])
    assert service is not None, name
    assert (service.vendor, service.category, service.region) == (vendor, category, region)
    assert name in service.matched  # the evidence names the host it matched


@pytest.mark.parametrize("name,category", [
    ("connectivitycheck.gstatic.com", Category.TELEMETRY),  # exact name beats *.gstatic.com (cdn)
    ("fonts.gstatic.com", Category.CDN),
    ("login.salesforce.com", Category.IDENTITY),             # exact beats *.salesforce.com (crm)
    ("eu.salesforce.com", Category.CRM_INTEGRATION),
    ("bucket.s3.eu-west-1.amazonaws.com", Category.OTHER),
    ("transcribestreaming.eu-west-1.amazonaws.com", Category.TRANSCRIPTION),  # beats *.{aws_region}.amazonaws.com
])
def test_most_specific_pattern_wins(name, category):
    assert classify([name]).category is category


def test_aws_region_placeholder_does_not_read_service_labels_as_regions():
    assert classify(["bucket.s3.amazonaws.com"]).region == ""
    assert classify(["bucket.s3.eu-west-1.amazonaws.com"]).region == "eu-west-1"
    assert classify(["ec2-3-4-5-6.compute-1.amazonaws.com"]).region == "us-east-1"


def test_regionless_genesys_names_imply_no_region():
    service = classify(["login.pure.cloud"])
    assert (service.vendor, service.region) == ("Genesys", "")
    # *.mypurecloud.com must not swallow the Australian domain
    assert classify(["api.mypurecloud.com.au"]).region == "ap-southeast-2"


def test_names_are_normalised_and_unknown_names_give_none():
    assert classify(["API.MyPureCloud.IE."]).region == "eu-west-1"
    assert classify(["unknown.example.org"]) is None
    assert classify([]) is None
    assert classify(["mypurecloud.ie.evil.example"]) is None


def test_the_first_recognised_name_decides():
    # SNI first, then a CNAME into a CDN: the service is the vendor's, not the carrier's.
    service = classify(["unknown.example.org", "api.eu.deepgram.com", "d1.cloudfront.net"])
    assert (service.vendor, service.category) == ("Deepgram", Category.TRANSCRIPTION)


def test_builtin_catalog_size_and_sources():
    catalog = load_catalog()
    assert len(catalog.vendors) >= 25
    assert len(catalog.patterns) >= 250
    for required in ("Genesys", "AWS", "Microsoft", "Google", "Deepgram", "AssemblyAI", "Speechmatics", "Verint",
                     "NICE", "CallMiner", "Observe.AI", "OpenAI", "Salesforce", "ServiceNow", "Zendesk", "HubSpot",
                     "MuleSoft", "Akamai", "Fastly", "Cloudflare", "Apple", "Okta"):
        assert required in catalog.vendors
    assert catalog.sources[0].path == "geo_db/services.yaml" and len(catalog.sources[0].sha256) == 64


USER_CATALOG = """\
version: 1
services:
  - vendor: Acme
    name: Acme transcription
    category: transcription
    source: https://acme.example/docs
    patterns:
      - "*.acme-stt.example"
      - {host: "api.eu.acme-stt.example", region: eu-central-1}
  - vendor: Acme
    name: Acme re-declares Deepgram
    category: speech_analytics
    source: https://acme.example/docs
    patterns:
      - "api.deepgram.com"
      - "*.cloudfront.net"
"""


def test_user_catalog_extends_and_wins_ties(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(USER_CATALOG)
    catalog = load_catalog([path])
    assert classify(["x.acme-stt.example"], catalog).vendor == "Acme"
    assert classify(["api.eu.acme-stt.example"], catalog).region == "eu-central-1"
    # the same pattern as a built-in one: the catalog loaded last wins the tie
    assert classify(["api.deepgram.com"], catalog).vendor == "Acme"
    assert classify(["d1.cloudfront.net"], catalog).vendor == "Acme"
    # but a more specific built-in pattern still beats a less specific user one
    assert classify(["api.eu.deepgram.com"], catalog).vendor == "Deepgram"
    assert [source.path for source in catalog.sources] == ["geo_db/services.yaml", str(path)]


BAD_CATALOGS = [
    ("category: transcriptoin", 5, "services[0].category"),
    ("source: docs.example", 6, "source must be a public URL"),
    ('patterns: ["*.com"]', 7, "too broad"),
    ('patterns: [{regex: "(unclosed"}]', 7, "does not compile"),
    ('patterns: [{host: "a.example.com", suffix: "example.com"}]', 7, "exactly one of host, suffix or regex"),
    ('patterns: [{host: "*.x.example.com", colour: red}]', 7, "unknown field 'colour'"),
    ('patterns: ["API.Example.com"]', 7, "lower-case"),
    ("patterns: []", 7, "at least one pattern"),
]


@pytest.mark.parametrize("line,line_no,message", BAD_CATALOGS)
def test_catalog_errors_name_file_line_and_problem(tmp_path, line, line_no, message):
    fields = {"vendor": "vendor: Acme", "name": "name: Acme", "category": "category: transcription",
              "source": "source: https://acme.example", "patterns": 'patterns: ["*.acme.example"]'}
    key = line.split(":")[0]
    fields[key] = line
    text = "version: 1\nservices:\n  - " + "\n    ".join(fields.values()) + "\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_catalog([path], builtin=False)
    assert str(err.value).startswith(f"{path}:{line_no}:")
    assert message in str(err.value)


def test_catalog_duplicate_keys_and_syntax_errors_name_the_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("version: 1\nservices: []\nservices: []\n")
    with pytest.raises(UserError, match=r"dup.yaml:3: duplicate key 'services' \(first on line 2\)"):
        load_catalog([path], builtin=False)
    path.write_text("services:\n  - vendor: [\n")
    with pytest.raises(UserError, match=r"dup.yaml:3: YAML syntax"):
        load_catalog([path], builtin=False)


def test_media_takes_its_category_from_the_call():
    platform_call = classify_media(Category.PLATFORM)
    assert platform_call.category is Category.MEDIA
    sip_to_transcriber = classify_media(Category.TRANSCRIPTION, classify(["api.eu.deepgram.com"]))
    assert (sip_to_transcriber.category, sip_to_transcriber.vendor, sip_to_transcriber.region) == (
        Category.TRANSCRIPTION, "Deepgram", "eu")
    assert classify_media(None).category is Category.MEDIA
    assert classify_media(Category.TELEPHONY_CARRIER).category is Category.TELEPHONY_CARRIER


def _glob_a_character_at_a_time(text: str) -> tuple[str, str, int]:
    """compile_host_glob as it was first written: a character at a time."""
    from tracecheck.classify import catalog

    parts: list[str] = []
    index = 0
    if text.startswith("*."):
        parts.append(rf"(?:{catalog._LABEL}+\.)+")
        index = 2
    wildcard_end = index
    while index < len(text):
        placeholder = catalog._PLACEHOLDER_RE.match(text, index)
        if placeholder:
            parts.append(catalog._PLACEHOLDERS[placeholder.group()])
            index = wildcard_end = placeholder.end()
        elif text[index] == "*":
            parts.append(f"{catalog._LABEL}*")
            index = wildcard_end = index + 1
        else:
            parts.append(re.escape(text[index]))
            index += 1
    fixed = len(catalog._PLACEHOLDER_RE.sub("", text).replace("*", ""))
    return "".join(parts), text[wildcard_end:], fixed + (catalog._EXACT_BONUS if fixed == len(text) else 0)


_GLOB_PIECES = st.sampled_from(["*", "*.", ".", "{region}", "{aws_region}", "{regio", "}", "{", "-", "a", "b7",
                                "mypurecloud", "\\", "(", "?", "[", "é", " "])


@settings(max_examples=400, deadline=None)
@given(st.lists(_GLOB_PIECES | st.text(max_size=4), max_size=12).map("".join))
def test_a_glob_compiles_as_it_did_a_character_at_a_time(glob):
    from tracecheck.classify.catalog import compile_host_glob

    assert compile_host_glob(glob) == _glob_a_character_at_a_time(glob)


def test_every_builtin_glob_compiles_as_it_did_a_character_at_a_time():
    import yaml

    from tracecheck.classify.catalog import builtin_catalog_path, compile_host_glob

    hosts = [p["host"] for s in yaml.safe_load(builtin_catalog_path().read_text())["services"]
             for p in s["patterns"] if "host" in p]
    assert len(hosts) > 150
    for host in hosts:
        assert compile_host_glob(host) == _glob_a_character_at_a_time(host), host
