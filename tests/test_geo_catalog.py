"""The curated region and jurisdiction catalogs (geo_db/) and their loader."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tracecheck.errors import UserError
from tracecheck.geo import catalog
from tracecheck.geo.catalog import (
    ISO_COUNTRIES,
    PROVIDERS,
    Jurisdictions,
    Region,
    all_regions,
    find_region,
    load_jurisdictions,
    load_regions,
)
from tracecheck.resources import geo_db_dir

EU_27 = set("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())


@pytest.fixture(scope="module")
def jur() -> Jurisdictions:
    return load_jurisdictions()


# --------------------------------------------------------------------------- regions: structure


def test_every_provider_has_regions():
    counts = Counter(region.provider for region in all_regions())
    assert set(counts) == set(PROVIDERS)
    assert counts["aws"] >= 40 and counts["azure"] >= 60 and counts["gcp"] >= 40 and counts["oracle"] >= 40


def test_every_region_is_well_formed():
    for region in all_regions():
        assert region.country in ISO_COUNTRIES, region
        assert -90 <= region.latitude <= 90 and -180 <= region.longitude <= 180, region
        assert region.source.startswith("https://"), region
        assert region.name, region
        if region.subdivision:
            assert region.subdivision.startswith(region.country + "-"), region
        if region.country == "US" and region.precision != "country":
            assert region.subdivision.startswith("US-"), f"{region.code} needs its US state"
        if region.inferred:
            assert region.note, region


def test_codes_and_aliases_are_unique_per_provider():
    raw = yaml.safe_load((geo_db_dir() / "regions.yaml").read_text(encoding="utf-8"))
    for provider, block in raw["providers"].items():
        names = Counter()
        for entry in block["regions"]:
            names.update([entry["code"], *entry.get("aliases", [])])
        assert [code for code, n in names.items() if n > 1] == [], provider


def test_zones_hang_off_a_region_of_the_same_provider():
    index = load_regions()
    for region in all_regions():
        if region.kind == "region":
            assert not region.parent
        else:
            parent = index[(region.provider, region.parent)]
            assert parent.kind == "region" and parent.provider == region.provider


def test_load_regions_keys_match_values():
    for (provider, code), region in load_regions().items():
        assert region.provider == provider
        assert code == region.code or code in region.aliases


# --------------------------------------------------------------------------- regions: known facts


@pytest.mark.parametrize(
    ("provider", "code", "country", "subdivision", "city"),
    [
        ("aws", "eu-west-1", "IE", "", "Dublin"),
        ("aws", "us-east-1", "US", "US-VA", None),
        ("aws", "us-east-2", "US", "US-OH", None),
        ("aws", "us-west-1", "US", "US-CA", None),
        ("aws", "us-west-2", "US", "US-OR", None),
        ("aws", "eu-central-1", "DE", "", "Frankfurt"),
        ("aws", "eu-central-2", "CH", "", "Zurich"),
        ("aws", "cn-north-1", "CN", "", "Beijing"),
        ("aws", "eu-central-1-ham-1", "DE", "", "Hamburg"),
        ("aws", "us-east-1-bos-1", "US", "US-MA", "Boston"),
        ("aws", "us-east-1-bue-1", "AR", "", "Buenos Aires"),  # a us-east-1 zone outside the US
        ("aws", "us-west-2-lax-1", "US", "US-CA", "Los Angeles"),
        ("azure", "westeurope", "NL", "", None),
        ("azure", "northeurope", "IE", "", "Dublin"),
        ("azure", "eastus", "US", "US-VA", None),
        ("azure", "usgovvirginia", "US", "US-VA", None),
        ("azure", "chinanorth2", "CN", "", "Beijing"),
        ("gcp", "europe-west3", "DE", "", "Frankfurt"),
        ("gcp", "europe-west1", "BE", "", None),
        ("gcp", "us-central1", "US", "US-IA", None),
        ("gcp", "me-central2", "SA", "", "Dammam"),
        ("gcp", "africa-south1", "ZA", "", "Johannesburg"),
        ("oracle", "eu-frankfurt-1", "DE", "", "Frankfurt"),
        ("oracle", "uk-london-1", "GB", "", "London"),
        ("oracle", "us-ashburn-1", "US", "US-VA", "Ashburn"),
    ],
)
def test_known_regions(provider, code, country, subdivision, city):
    region = load_regions()[(provider, code)]
    assert region.country == country
    assert region.subdivision == subdivision
    if city is not None:
        assert region.city == city


def test_local_zone_parent_and_kind():
    zone = find_region("us-east-1-bos-1", "aws")
    assert zone is not None and zone.kind == "local_zone" and zone.parent == "us-east-1"
    wavelength = find_region("eu-central-1-wl1-ber-wlz-1", "aws")
    assert wavelength is not None and wavelength.kind == "wavelength_zone" and wavelength.country == "DE"


def test_azure_service_tag_abbreviations_are_aliases():
    region = find_region("germanywc", "azure")
    assert region is not None and region.code == "germanywestcentral" and region.country == "DE"
    assert load_regions()[("azure", "norwaye")].country == "NO"
    assert find_region("centralfrance", "azure").code == "francecentral"


def test_find_region_without_provider_and_with_spellings():
    assert find_region("eu-west-1").provider == "aws"
    assert find_region("westeurope").provider == "azure"
    assert find_region("europe-west1").provider == "gcp"
    assert find_region("eu-frankfurt-1").provider == "oracle"
    assert find_region("West Europe").code == "westeurope"
    assert find_region(" EU-WEST-1 ").code == "eu-west-1"
    assert find_region("eu-west-1a").code == "eu-west-1"  # AWS availability zone
    assert find_region("us-west-2-lax-1a").code == "us-west-2-lax-1"  # Local Zone AZ
    assert find_region("europe-west1-b").code == "europe-west1"  # GCP zone
    assert find_region("eu-west-1", "azure") is None
    assert find_region("mars-north-1") is None


def test_find_region_refuses_codes_two_providers_share(tmp_path, monkeypatch):
    path = tmp_path / "regions.yaml"
    entry = "{code: shared-1, name: X, country: DE, city: Berlin, latitude: 52.5, longitude: 13.4}"
    path.write_text(
        "schema: 1\nproviders:\n"
        f"  aws: {{source: 'https://example.com/a', regions: [{entry}]}}\n"
        f"  gcp: {{source: 'https://example.com/g', regions: [{entry}]}}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(catalog, "_default_regions_path", lambda: path)
    assert find_region("shared-1") is None
    assert find_region("shared-1", "gcp").provider == "gcp"


def test_inferred_placements_are_flagged_and_claim_no_state_they_do_not_know():
    inferred = [region for region in all_regions() if region.inferred]
    assert inferred, "the catalog should say which placements are inferred"
    unknown_state = load_regions()[("aws", "us-south-1")]
    assert unknown_state.inferred and unknown_state.country == "US" and unknown_state.subdivision == ""
    assert unknown_state.precision == "country"


def test_region_model_is_frozen():
    region = find_region("eu-west-1", "aws")
    with pytest.raises(Exception):
        region.country = "US"  # type: ignore[misc]
    assert isinstance(region, Region)


# --------------------------------------------------------------------------- regions: bad files


def _regions_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "regions.yaml"
    path.write_text("schema: 1\nproviders:\n  aws:\n    source: https://example.com\n    regions:\n" + body, encoding="utf-8")
    return path


GOOD = "      - {code: eu-west-1, name: Ireland, country: IE, city: Dublin, latitude: 53.35, longitude: -6.26}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("      - {code: eu-west-1, name: X, country: XX, city: Y, latitude: 1, longitude: 1}\n", "'XX' is not an ISO 3166-1"),
        ("      - {code: eu-west-1, name: X, country: IE, city: Y, latitude: 91, longitude: 1}\n", "latitude"),
        ("      - {code: us-east-1, name: X, country: US, city: Y, latitude: 1, longitude: 1}\n", "needs its state"),
        ("      - {code: eu-west-1, name: X, country: IE, city: Y, latitude: 1, longitude: 1, colour: red}\n", "colour: unknown field"),
        ("      - {code: eu-west-1, name: X, country: IE, subdivision: US-CA, city: Y, latitude: 1, longitude: 1}\n", "not an ISO 3166-2 code of IE"),
        ("      - {code: x-1, kind: local_zone, parent: nowhere-1, name: X, country: IE, city: Y, latitude: 1, longitude: 1}\n", "parent 'nowhere-1'"),
        ("      - {code: x-1, name: X, country: IE, city: Y, latitude: 1, longitude: 1, inferred: true}\n", "needs a note"),
        (GOOD + GOOD, "listed twice"),
        ("      - {code: eu-west-1, code: eu-west-2, name: X, country: IE, city: Y, latitude: 1, longitude: 1}\n", "duplicate key 'code'"),
        ("      - {code: eu-west-1, name: [unclosed\n", "YAML syntax"),
    ],
)
def test_bad_region_files_name_the_file_and_the_problem(tmp_path, body, expected):
    path = _regions_file(tmp_path, body)
    with pytest.raises(UserError) as caught:
        load_regions(path)
    message = str(caught.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_a_good_custom_region_file_loads(tmp_path):
    regions = load_regions(_regions_file(tmp_path, GOOD))
    assert regions[("aws", "eu-west-1")].source == "https://example.com"


# --------------------------------------------------------------------------- jurisdictions


def test_eu_and_eea(jur):
    assert set(jur.group("EU").members) == EU_27
    assert EU_27 <= jur.members("EU")
    assert jur.members("EEA") == jur.members("EU") | {"IS", "LI", "NO"}
    assert "IE" in jur.members("EU")
    assert "NO" in jur.members("EEA") and "NO" not in jur.members("EU")
    assert "GB" not in jur.members("EU") and "CH" not in jur.members("EEA")


def test_jurisdictions_for_places(jur):
    ireland = jur.jurisdictions_for("IE")
    assert {"EEA", "EU", "EU_ADEQUATE"} <= set(ireland) and list(ireland) == sorted(ireland)
    assert "EU" not in jur.jurisdictions_for("NO") and "EEA" in jur.jurisdictions_for("NO")
    assert "EU_ADEQUATE" in jur.jurisdictions_for("CH")
    california = jur.jurisdictions_for("US", "US-CA")
    assert {"US", "US-CA"} <= set(california)
    assert "EU_ADEQUATE" not in california
    assert "US-CA" not in jur.jurisdictions_for("US", "US-NV")
    assert "US-CA" not in jur.jurisdictions_for("US")
    assert jur.jurisdictions_for("ie") == ireland
    assert jur.jurisdictions_for("UK") == jur.jurisdictions_for("GB")
    assert jur.jurisdictions_for(None) == () and jur.jurisdictions_for("") == ()
    assert jur.jurisdictions_for("CN") == ()
    with pytest.raises(ValueError):
        jur.jurisdictions_for("DE", "US-CA")


def test_us_adequacy_is_conditional_not_blanket(jur):
    assert "US" not in jur.members("EU_ADEQUATE")
    assert "US" not in jur.members("UK_ADEQUATE")
    assert "US" in jur.members("EU_ADEQUATE_CONDITIONAL")
    decision = jur.adequacy("US")
    assert decision is not None and decision.conditional and "Privacy Framework" in decision.condition
    assert decision.adopted.isoformat() == "2023-07-10"
    assert "2023/1795" in decision.instrument


def test_adequacy_decisions(jur):
    adequate = jur.members("EU_ADEQUATE")
    for country in "AD AR BR CA CH FO GB GG IL IM JE JP KR NZ UY".split():
        assert country in adequate, country
        assert jur.adequacy(country) is not None and not jur.adequacy(country).conditional
    assert jur.members("EEA") <= adequate
    assert jur.adequacy("CA").partial and "PIPEDA" in jur.adequacy("CA").scope
    uk = jur.adequacy("GB")
    assert uk.adopted.isoformat() == "2021-06-28" and uk.renewed and uk.expires.year == 2031
    assert all(decision.url.startswith("https://") for decision in jur.decisions)
    assert jur.adequacy("CN") is None


def test_uk_groups(jur):
    assert jur.members("UK") == {"GB"}
    assert {"GB", "GI", "IE", "NO", "CH", "KR"} <= jur.members("UK_ADEQUATE")
    assert "US" in jur.members("UK_ADEQUATE_CONDITIONAL")
    assert jur.adequacy("KR", by="UK") is not None


def test_us_state_groups(jur):
    assert jur.members("US-CA") == {"US-CA"}
    assert jur.members("US") == {"US"}
    states = jur.members("US_STATE_PRIVACY")
    for state in "CA VA CO CT UT TX OR MT IA DE NJ NH TN MN MD IN KY RI NE".split():
        assert f"US-{state}" in states
        group = jur.group(f"US-{state}")
        assert group.effective is not None and group.law and group.source
    assert jur.group("US-CA").effective.isoformat() == "2020-01-01"
    assert "CCPA" in jur.group("US-CA").law and "CPRA" in jur.group("US-CA").law


def test_every_group_cites_its_source(jur):
    for name in jur.names():
        group = jur.group(name)
        assert group.source, name
        assert jur.members(name), name
        assert all(member.split("-")[0] in ISO_COUNTRIES for member in jur.members(name))
    assert {"EU", "EEA", "EU_ADEQUATE", "UK", "UK_ADEQUATE", "CH", "BR", "US", "US-CA"} <= set(jur.names())


def test_describe(jur):
    text = jur.describe("EU")
    assert "Regulation (EU) 2016/679" in text and "IE" in text and "eur-lex" in text
    assert "US" in jur.describe("EU_ADEQUATE_CONDITIONAL")


def test_unknown_group_is_a_user_error(jur):
    with pytest.raises(UserError, match="unknown jurisdiction group 'EUROPE'"):
        jur.members("EUROPE")
    with pytest.raises(KeyError):
        jur.group("EUROPE")


def _jurisdictions_file(tmp_path: Path, groups: str, adequacy: str = "") -> Path:
    path = tmp_path / "jurisdictions.yaml"
    path.write_text("schema: 1\ngroups:\n" + groups + ("adequacy:\n" + adequacy if adequacy else ""), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("groups", "adequacy", "expected"),
    [
        ("  A: {title: a, source: s, members: [XX]}\n", "", "'XX' is not an ISO 3166-1"),
        ("  A: {title: a, source: s, includes: [B]}\n", "", "unknown group 'B'"),
        ("  A: {title: a, source: s, includes: [B]}\n  B: {title: b, source: s, includes: [A]}\n", "", "includes itself"),
        ("  a: {title: a, source: s, members: [DE]}\n", "", "must be upper-case"),
        ("  A: {title: a, members: [DE]}\n", "", "source: required field is missing"),
        ("  A: {title: a, source: s, members: [DE]}\n",
         "  - {by: EU, country: US, name: U, instrument: I, adopted: 2023-07-10, scope: s, conditional: true}\n",
         "needs its condition"),
        ("  A: {title: a, source: s, members: [DE]}\n",
         "  - {by: EU, country: CH, name: C, instrument: I, adopted: 2000-07-26, scope: s}\n"
         "  - {by: EU, country: CH, name: C, instrument: I, adopted: 2000-07-26, scope: s}\n",
         "a second EU decision for CH"),
    ],
)
def test_bad_jurisdiction_files_name_the_file_and_the_problem(tmp_path, groups, adequacy, expected):
    path = _jurisdictions_file(tmp_path, groups, adequacy)
    with pytest.raises(UserError) as caught:
        load_jurisdictions(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


# --------------------------------------------------------------------------- against the real files


def _shared_cloud_dir() -> Path | None:
    configured = os.environ.get("TRACECHECK_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    cloud = data / "cloud"
    return cloud if cloud.is_dir() else None


def _real_codes(cloud: Path) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {provider: set() for provider in PROVIDERS}
    aws = json.loads((cloud / "aws-ip-ranges.json").read_text(encoding="utf-8"))
    for prefix in aws["prefixes"] + aws["ipv6_prefixes"]:
        codes["aws"] |= {prefix["region"], prefix["network_border_group"]}
    codes["aws"].discard("GLOBAL")
    azure = json.loads((cloud / "azure-ServiceTags_Public.json").read_text(encoding="utf-8-sig"))
    codes["azure"] = {value["properties"].get("region", "") for value in azure["values"]} - {""}
    gcp = json.loads((cloud / "gcp-cloud.json").read_text(encoding="utf-8"))
    codes["gcp"] = {prefix["scope"] for prefix in gcp["prefixes"]} - {"global"}
    oracle = json.loads((cloud / "oracle-public_ip_ranges.json").read_text(encoding="utf-8"))
    codes["oracle"] = {region["region"] for region in oracle["regions"]}
    return codes


@pytest.mark.shared_data
def test_every_region_code_in_the_real_provider_files_is_in_the_catalog():
    cloud = _shared_cloud_dir()
    if cloud is None:
        pytest.skip("shared/data/cloud not present (set TRACECHECK_SHARED_DATA to check against the real files)")
    index = load_regions()
    codes = _real_codes(cloud)
    missing = {provider: sorted(code for code in found if (provider, code) not in index) for provider, found in codes.items()}
    assert missing == {provider: [] for provider in PROVIDERS}
    assert all(codes.values()), "every real file should name some regions"


@pytest.mark.shared_data
def test_aws_border_groups_hang_off_the_region_the_real_file_gives():
    cloud = _shared_cloud_dir()
    if cloud is None:
        pytest.skip("shared/data/cloud not present")
    aws = json.loads((cloud / "aws-ip-ranges.json").read_text(encoding="utf-8"))
    index = load_regions()
    for prefix in aws["prefixes"] + aws["ipv6_prefixes"]:
        region, group = prefix["region"], prefix["network_border_group"]
        if region != group and region != "GLOBAL":
            assert index[("aws", group)].parent == region, group
