"""The look-up engine: longest-prefix match, authority order, anycast, local ranges, hostnames.

Unit tests use synthetic files and a small stand-in region catalog whose facts they state;
the tests at the end check the real provider files and MaxMind test databases in
../shared/data (or $TRACECHECK_SHARED_DATA) and are skipped when those are absent.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_samples import city_database, write_sample_files
from tracecheck.errors import UserError
from tracecheck.geo.hostnames import hints_for
from tracecheck.geo.lookup import Resolver
from tracecheck.geo.ranges import AddressKeys, RangeTable
from tracecheck.geo.sources.rdap import RdapClient


@dataclass(frozen=True)
class Region:
    code: str
    country: str
    subdivision: str
    city: str
    latitude: float = 0.0
    longitude: float = 0.0
    source: str = "https://example.test/regions"


REGIONS = {
    ("aws", "eu-west-1"): Region("eu-west-1", "IE", "", "Dublin", 53.35, -6.26),
    ("aws", "eu-central-1"): Region("eu-central-1", "DE", "", "Frankfurt", 50.11, 8.68),
    ("aws", "us-east-1"): Region("us-east-1", "US", "US-VA", "Ashburn", 39.04, -77.49),
    ("aws", "us-east-1-lim-1"): Region("us-east-1-lim-1", "PE", "", "Lima", -12.05, -77.04),
    ("azure", "westeurope"): Region("westeurope", "NL", "", "Amsterdam", 52.37, 4.9),
    ("azure", "northeurope"): Region("northeurope", "IE", "", "Dublin", 53.35, -6.26),
    ("gcp", "africa-south1"): Region("africa-south1", "ZA", "", "Johannesburg"),
    ("gcp", "europe-west1"): Region("europe-west1", "BE", "", "St. Ghislain"),
    ("oracle", "eu-frankfurt-1"): Region("eu-frankfurt-1", "DE", "", "Frankfurt"),
    ("oracle", "us-ashburn-1"): Region("us-ashburn-1", "US", "US-VA", "Ashburn"),
}


def find_region(code: str, provider: str | None = None):
    return REGIONS.get((provider, code))


class Jurisdictions:
    EU = {"IE", "DE", "NL", "BE", "FR"}

    def jurisdictions_for(self, country, subdivision=""):
        groups = {"EU", "EEA"} if country in self.EU else {country} if country else set()
        if subdivision:
            groups.add(subdivision)
        return tuple(sorted(groups))


FACTS = {"find_region": find_region, "jurisdictions": Jurisdictions()}


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    return write_sample_files(tmp_path)


@pytest.fixture
def resolver(files, tmp_path) -> Resolver:
    kinds = ["aws", "azure", "gcp", "oracle", "cloudflare", "fastly", "geofeed", "genesys"]
    city = city_database(tmp_path / "city.mmdb")
    return Resolver.from_files([(files[k], k) for k in kinds] + [(city, "mmdb")], embedded=False, **FACTS)


def claims(place) -> list[tuple[str, str]]:
    return [(e.source, e.claim) for e in place.evidence]


# --------------------------------------------------------------------------- longest prefix, both families


def test_nested_prefixes_resolve_to_the_most_specific(resolver):
    places = resolver.resolve(["3.248.0.1", "3.250.1.1", "3.251.0.1", "2a05:d018::1", "2a05:d018:400::1"])
    assert places["3.248.0.1"].region == "eu-west-1" and places["3.248.0.1"].country == "IE"
    assert places["3.250.1.1"].region == "eu-central-1" and places["3.250.1.1"].country == "DE"  # the /22 in the /14
    assert places["3.251.0.1"].region == "eu-west-1"  # past the /22, back in the /14
    assert places["2a05:d018::1"].region == "eu-west-1"
    assert places["2a05:d018:400::1"].region == "eu-central-1" and places["2a05:d018:400::1"].city == "Frankfurt"


def test_a_prefix_published_twice_is_described_by_its_named_service(resolver):
    place = resolver.resolve(["3.248.0.1"])["3.248.0.1"]
    assert (place.provider, place.service) == ("aws", "EC2")
    assert ("aws-ip-ranges", "region eu-west-1 (EC2)") in claims(place)
    detail = next(e.detail for e in place.evidence if e.source == "aws-ip-ranges")
    assert detail.startswith("AWS ip-ranges.json 2026-08-22 sha256:") and detail.endswith("prefix 3.248.0.0/14")


def test_every_provider_file_places_its_addresses(resolver):
    places = resolver.resolve(["20.50.1.1", "34.1.208.9", "130.61.2.3", "2600:1900:4000::5", "52.50.3.4"])
    assert (places["20.50.1.1"].provider, places["20.50.1.1"].region, places["20.50.1.1"].country) == ("azure", "westeurope", "NL")
    assert (places["34.1.208.9"].provider, places["34.1.208.9"].region, places["34.1.208.9"].country) == ("gcp", "africa-south1", "ZA")
    assert (places["130.61.2.3"].region, places["130.61.2.3"].country) == ("eu-frankfurt-1", "DE")
    assert places["2600:1900:4000::5"].region == "europe-west1"
    assert (places["52.50.3.4"].provider, places["52.50.3.4"].service, places["52.50.3.4"].country) == ("aws", "Genesys Cloud api", "IE")
    assert places["20.50.1.1"].jurisdictions == ("EEA", "EU")


def test_a_local_zone_is_placed_by_its_border_group(resolver):
    place = resolver.resolve(["15.181.232.10"])["15.181.232.10"]
    assert place.region == "us-east-1" and place.country == "PE" and place.city == "Lima"


def test_a_provider_only_prefix_does_not_hide_the_region_around_it(resolver):
    places = resolver.resolve(["20.50.8.1", "20.60.0.1", "20.50.64.1"])
    front_door = places["20.50.8.1"]
    assert front_door.region == "westeurope" and front_door.country == "NL"
    assert ("azure-service-tags", "provider azure (AzureFrontDoor), no region") in claims(front_door)
    bare = places["20.60.0.1"]  # only in the non-regional AzureCloud tag
    assert (bare.provider, bare.region, bare.country) == ("azure", "", None)
    assert places["20.50.64.1"].region == "northeurope" and places["20.50.64.1"].service == "AzureStorage"


# --------------------------------------------------------------------------- anycast, local, authority


@pytest.mark.parametrize("address, source", [
    ("104.16.0.1", "cloudflare-ips-v4"), ("151.101.1.1", "fastly-public-ip-list"), ("2a04:4e42::1", "fastly-public-ip-list"),
    ("13.32.0.1", "aws-ip-ranges"), ("2600:9000::1", "aws-ip-ranges"), ("34.8.0.1", "gcp-cloud"),
])
def test_anycast_gets_no_country(resolver, address, source):
    place = resolver.resolve([address])[address]
    assert place.anycast and place.country is None and place.jurisdictions == ()
    assert any(e.source == source and e.claim.startswith("anycast") for e in place.evidence)


def test_anycast_keeps_the_geoip_country_claim_as_evidence_only(tmp_path, files):
    from mmdb_writer import write_mmdb

    claiming = write_mmdb(tmp_path / "claims.mmdb", {"104.16.0.0/13": {"country": {"iso_code": "US"}}})
    resolver = Resolver.from_files([(files["cloudflare"], "cloudflare"), (claiming, "mmdb")], embedded=False, **FACTS)
    place = resolver.resolve(["104.16.0.1"])["104.16.0.1"]
    assert place.anycast and place.country is None
    assert ("test-city", "country US") in claims(place)
    disagreement = next(e for e in place.evidence if e.claim.startswith("sources disagree"))
    assert "anycast" in disagreement.claim and "country US" in disagreement.claim
    assert "cloudflare-ips-v4, decides" in disagreement.detail


@pytest.mark.parametrize("address", [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1", "192.0.2.1",
    "198.51.100.1", "203.0.113.9", "224.0.0.251", "255.255.255.255", "0.0.0.0", "::1", "::", "fe80::1",
    "fe80::1%eth0", "fd00::1", "2001:db8::1", "ff02::fb", "::ffff:10.0.0.1",
])
def test_local_addresses_never_leave_the_site(resolver, address):
    place = resolver.resolve([address])[address]
    assert place.local and place.country is None and place.provider == ""
    assert place.evidence[0].source == "special-ranges" and place.evidence[0].claim == "local"


def test_disagreements_are_kept_and_the_provider_file_wins(resolver):
    place = resolver.resolve(["3.248.0.1"])["3.248.0.1"]  # the test City database says US
    assert place.country == "IE"
    assert ("geoip2-city", "country US") in claims(place)
    assert ("region-catalog", "aws eu-west-1 is in IE (Dublin)") in claims(place)
    disagreement = next(e for e in place.evidence if e.source == "tracecheck")
    assert disagreement.claim == "sources disagree: country IE, country US"


def test_authority_order_geofeed_then_geoip_then_embedded(files, tmp_path):
    city = city_database(tmp_path / "city.mmdb")
    resolver = Resolver.from_files([(files["geofeed"], "geofeed"), (city, "mmdb")], **FACTS)
    places = resolver.resolve(["24.144.68.1", "81.2.69.160", "8.8.8.8"])
    geofeed = places["24.144.68.1"]
    assert (geofeed.provider, geofeed.country, geofeed.subdivision, geofeed.city) == ("digitalocean", "US", "US-CA", "Santa Clara")
    assert geofeed.jurisdictions == ("US", "US-CA")
    assert places["81.2.69.160"].country == "GB" and places["81.2.69.160"].city == "London"
    embedded_only = places["8.8.8.8"]
    # Google's AS15169 is anycast: the embedded source answers, but claims no country for it.
    assert embedded_only.anycast and embedded_only.country is None and embedded_only.evidence[0].source == "geoip2fast"


def test_rdap_is_evidence_and_never_places_an_address(files, tmp_path):
    # The registrant's country says who holds the address, not where it is used (SOURCE_RANK).
    def fetch(address):
        return {"cidr": "0.0.0.0/0" if "." in address else "::/0", "country": "SE", "asn": "1", "registry": "ripencc"}

    resolver = Resolver([], None, [RdapClient(tmp_path, fetch=fetch)], **FACTS)
    alone = resolver.resolve(["9.9.9.9"])["9.9.9.9"]
    assert alone.country is None and alone.basis is None
    assert ("rdap", "registrant country SE") in claims(alone)
    with_provider = Resolver.from_files([(files["aws"], "aws")], embedded=False, **FACTS)
    with_provider.point_sources.append(RdapClient(tmp_path, fetch=fetch))
    place = with_provider.resolve(["3.248.0.1"])["3.248.0.1"]
    assert place.country == "IE" and ("rdap", "registrant country SE") in claims(place)


def test_a_region_the_catalog_does_not_know_is_said_and_the_next_source_decides(files, tmp_path):
    resolver = Resolver.from_files([(files["aws"], "aws")], find_region=lambda code, provider: None,
                                   jurisdictions=Jurisdictions())
    place = resolver.resolve(["3.248.0.1"])["3.248.0.1"]
    assert place.region == "eu-west-1" and place.country == "IE"  # geoip2fast's answer
    assert ("region-catalog", "unknown region aws eu-west-1") in claims(place)


# --------------------------------------------------------------------------- batches, hostnames, sources


def test_resolve_answers_each_distinct_address_once(resolver):
    places = resolver.resolve(["3.248.0.1", "3.248.0.1", "::ffff:3.248.0.2", "10.0.0.1"])
    assert list(places) == ["3.248.0.1", "::ffff:3.248.0.2", "10.0.0.1"]
    assert places["::ffff:3.248.0.2"].region == "eu-west-1" and places["::ffff:3.248.0.2"].ip == "::ffff:3.248.0.2"
    assert resolver.resolve([]) == {}


def test_not_an_address_is_a_user_error(resolver):
    with pytest.raises(UserError, match="'example.com' is not an IP address"):
        resolver.resolve(["3.248.0.1", "example.com"])


def test_names_add_hostname_evidence_and_show_disagreement(resolver):
    places = resolver.resolve(["52.50.3.4", "3.248.0.9", "10.9.9.9"], names={
        "52.50.3.4": ["api.mypurecloud.ie"], "3.248.0.9": ["api.mypurecloud.de"], "10.9.9.9": ["s3.eu-west-1.amazonaws.com"]})
    agreeing = places["52.50.3.4"]
    assert ("hostname", "region eu-west-1") in claims(agreeing) and agreeing.country == "IE"
    assert not any(e.claim.startswith("sources disagree") for e in agreeing.evidence)
    disagreeing = places["3.248.0.9"]
    assert disagreeing.country == "IE" and ("hostname", "region eu-central-1") in claims(disagreeing)
    assert any("country DE" in e.claim for e in disagreeing.evidence if e.source == "tracecheck")
    local = places["10.9.9.9"]
    assert local.local and ("hostname", "region eu-west-1") in claims(local)


def test_place_for_names_alone(resolver):
    place = resolver.place_for_names(["apps.euw2.pure.cloud"])
    assert (place.ip, place.provider, place.region) == ("", "aws", "eu-west-2")
    assert place.country is None  # the stand-in catalog does not know eu-west-2
    place = resolver.place_for_names(["api.mypurecloud.de"])
    assert place.country == "DE" and place.jurisdictions == ("EEA", "EU")
    assert resolver.place_for_names(["d1.cloudfront.net"]).anycast


@pytest.mark.parametrize("name, expected", [
    ("s3.eu-west-1.amazonaws.com", ("aws", "eu-west-1", "")),
    ("bucket.s3-eu-central-1.amazonaws.com", ("aws", "eu-central-1", "")),
    ("abc.lambda-url.eu-west-1.on.aws", ("aws", "eu-west-1", "")),
    ("s3.cn-north-1.amazonaws.com.cn", ("aws", "cn-north-1", "")),
    ("westeurope.stt.speech.microsoft.com", ("azure", "westeurope", "")),
    ("vm1.northeurope.cloudapp.azure.com", ("azure", "northeurope", "")),
    ("app.westeurope.azurecontainer.io", ("azure", "westeurope", "")),
    ("europe-west1-aiplatform.googleapis.com", ("gcp", "europe-west1", "")),
    ("eu-speech.googleapis.com", ("gcp", "", "EU")),
    ("api.mypurecloud.com.au", ("aws", "ap-southeast-2", "")),
    ("login.use2.us-gov-pure.cloud", ("aws", "us-east-2", "")),
    ("eu.api.vendor.example", ("", "", "EU")),
    ("api.us.vendor.example", ("", "", "US")),
])
def test_hostname_hints(name, expected):
    (hint,) = hints_for(name, known_region=lambda code, provider: (provider, code) in REGIONS)
    assert (hint.provider, hint.region, hint.area) == expected


@pytest.mark.parametrize("name", ["www.microsoft.com", "speech.googleapis.com", "example.us", "sts.amazonaws.com"])
def test_names_without_a_region_give_no_hint(name):
    assert hints_for(name, known_region=lambda code, provider: (provider, code) in REGIONS) == ()


def test_sources_list_provenance_age_and_staleness(files):
    import datetime as dt

    resolver = Resolver.from_files([(files["aws"], "aws"), (files["cloudflare"], "cloudflare")], **FACTS,
                                   today=dt.date(2026, 9, 1))
    infos = {info.name: info for info in resolver.sources()}
    assert infos["aws-ip-ranges"].age_days == 10 and not infos["aws-ip-ranges"].stale
    assert infos["cloudflare-ips-v4"].date == "2026-01-01" and infos["cloudflare-ips-v4"].stale
    assert infos["geoip2fast"].kind == "embedded" and infos["geoip2fast"].age_days > 0


# --------------------------------------------------------------------------- the match itself, by property

prefixes = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)),
        st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)),
    ),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(networks=prefixes, seed=st.integers(0, 2**32))
def test_range_table_matches_brute_force_longest_prefix(networks, seed):
    chooser = random.Random(seed)
    nested = []
    for network in networks:  # add more specific prefixes inside some of them
        if network.prefixlen < network.max_prefixlen and chooser.random() < 0.5:
            nested.append(ipaddress.ip_network((int(network.network_address) + chooser.randrange(network.num_addresses),
                                                chooser.randint(network.prefixlen + 1, network.max_prefixlen)), strict=False))
    networks = networks + nested
    table = RangeTable.from_networks((str(network), row) for row, network in enumerate(networks))
    probes = set()
    for network in networks:
        probes |= {network.network_address, network.broadcast_address,
                   network.network_address + chooser.randrange(network.num_addresses)}
        if int(network.broadcast_address) < 2 ** network.max_prefixlen - 1:
            probes.add(network.broadcast_address + 1)
    probes = [p for p in probes if not (p.version == 6 and (p.ipv4_mapped or str(p).startswith("64:ff9b::")))]
    rows = table.find(AddressKeys.parse([str(p) for p in probes]))
    first_row = {}
    for row, network in enumerate(networks):
        first_row.setdefault(network, row)
    for probe, row in zip(probes, rows):
        covering = [n for n in first_row if n.version == probe.version and probe in n]
        expected = first_row[max(covering, key=lambda n: n.prefixlen)] if covering else -1
        assert row == expected, probe


addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.integers(0, 2**128 - 1).map(lambda v: str(ipaddress.IPv6Address(v))),
    st.integers(0, 2**32 - 1).map(lambda v: f"::ffff:{ipaddress.IPv4Address(v)}"),
    st.sampled_from(["0.0.0.0", "255.255.255.255", "10.0.0.1", "fe80::1%eth0", "64:ff9b::1.2.3.4"]),
)
_octets = st.sampled_from(["0", "00", "01", "7", "10", "25", "99", "100", "199", "249", "255", "256", "260", "300",
                           "099", "1000", "", " 1", "1a"])
near_addresses = st.one_of(  # what a dotted-quad reader could get wrong
    st.lists(_octets, min_size=4, max_size=4).map(".".join),
    st.lists(_octets, min_size=1, max_size=6).map(".".join),
    st.text(alphabet="0123456789.:/ %xf", max_size=18),
)


def _parsed(parse, texts):
    try:
        keys = parse(texts)
    except UserError as err:
        return str(err)
    return keys.count, keys.v4.tolist(), keys.v4_index.tolist(), keys.v6.tolist(), keys.v6_index.tolist()


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(addresses, min_size=1, max_size=40))
def test_addresses_parse_in_bulk_as_one_at_a_time(texts):
    assert _parsed(AddressKeys.parse, texts) == _parsed(AddressKeys._parse_one_by_one, texts)


@settings(max_examples=300, deadline=None)
@given(text=near_addresses, others=st.lists(addresses, max_size=3))
def test_the_bulk_reader_takes_exactly_what_inet_pton_takes(text, others):
    """Dotted quads are read by numpy, not ``inet_pton``: the same ones accepted, the same values,
    and anything else refused naming it."""
    texts = others + [text]
    assert _parsed(AddressKeys.parse, texts) == _parsed(AddressKeys._parse_one_by_one, texts)


@pytest.mark.parametrize("text", [
    "0.0.0.0", "255.255.255.255", "1.22.133.4", "01.2.3.4", "1.2.3.04", "00.1.1.1", "256.1.2.3", "1.2.3.256",
    "1.2.3.1000", "1000.1.2.3", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3", "1.2.3.4.5", " 1.2.3.4", "1.2.3.4 ",
    "1.2.3.4/8", "1.2.3.4:80", "1.2.3.4\n", "1.2.3.4\x00", "1.2.3.٤", "", "123.123.123.1234",
])
def test_the_bulk_reader_on_edge_cases(text):
    texts = ["10.0.0.1", text, "::1"]
    try:
        expected = _parsed(AddressKeys._parse_one_by_one, texts)
    except ValueError as err:  # an embedded NUL: refused, if not as a UserError
        with pytest.raises(ValueError, match=str(err)):
            AddressKeys.parse(texts)
    else:
        assert _parsed(AddressKeys.parse, texts) == expected


# --------------------------------------------------------------------------- against the real files


def shared_data() -> Path | None:
    configured = os.environ.get("TRACECHECK_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data if data.is_dir() else None


def real_file(*parts: str) -> Path:
    data = shared_data()
    path = data.joinpath(*parts) if data else None
    if path is None or not path.exists():
        pytest.skip(f"{'/'.join(parts)} not in shared data (set TRACECHECK_SHARED_DATA to check against real files)")
    return path


def _published(kind: str, path: Path) -> list[tuple[str, str]]:
    """(prefix, region) exactly as the file publishes them; Azure: its regional tags only."""
    doc = json.loads(path.read_text(encoding="utf-8-sig"))
    if kind == "aws":
        return [(p.get("ip_prefix") or p["ipv6_prefix"], p["region"]) for p in doc["prefixes"] + doc["ipv6_prefixes"]]
    if kind == "azure":
        return [(n, v["properties"]["region"]) for v in doc["values"] if v["properties"]["region"]
                for n in v["properties"]["addressPrefixes"]]
    if kind == "gcp":
        return [(p.get("ipv4Prefix") or p["ipv6Prefix"], p["scope"]) for p in doc["prefixes"]]
    return [(c["cidr"], r["region"]) for r in doc["regions"] for c in r["cidrs"]]


def _address_only_in(network, more_specific) -> ipaddress._BaseAddress | None:
    """An address of ``network`` that none of the ``more_specific`` prefixes covers."""
    cursor = int(network.network_address)
    for inner in sorted(more_specific, key=lambda n: int(n.network_address)):
        if cursor < int(inner.network_address):
            break
        cursor = max(cursor, int(inner.broadcast_address) + 1)
    return ipaddress.ip_address(cursor) if cursor <= int(network.broadcast_address) else None


@pytest.mark.shared_data
@pytest.mark.parametrize("kind, filename", [
    ("aws", "aws-ip-ranges.json"), ("azure", "azure-ServiceTags_Public.json"),
    ("gcp", "gcp-cloud.json"), ("oracle", "oracle-public_ip_ranges.json"),
])
def test_sampled_real_prefixes_resolve_to_exactly_their_region(kind, filename):
    path = real_file("cloud", filename)
    published = _published(kind, path)
    networks = [(ipaddress.ip_network(text, strict=False), region) for text, region in published]
    by_family = {4: [n for n, _ in networks if n.version == 4], 6: [n for n, _ in networks if n.version == 6]}
    sample = random.Random(20260822).sample(networks, min(200, len(networks)))
    resolver = Resolver.from_files([(path, kind)], embedded=False, **FACTS)
    expected, skipped = {}, 0
    for network, region in sample:
        inside = [n for n in by_family[network.version] if n != network and n.subnet_of(network)]
        address = _address_only_in(network, inside)
        if address is None:
            skipped += 1  # every address of it is overridden by more specific prefixes
            continue
        expected[str(address)] = region
    places = resolver.resolve(list(expected))
    wrong = {address: (region, places[address].region) for address, region in expected.items()
             if places[address].region != region}
    assert not wrong, f"{len(wrong)} of {len(expected)} sampled addresses placed in another region: {list(wrong.items())[:5]}"
    assert len(expected) >= 150, f"only {len(expected)} checkable ({skipped} skipped)"
    for address, region in expected.items():
        assert places[address].anycast == (region.lower() == "global"), address


@pytest.mark.shared_data
def test_real_cloudflare_addresses_are_anycast_without_country():
    v4, v6 = real_file("cloud", "cloudflare-ips-v4.txt"), real_file("cloud", "cloudflare-ips-v6.txt")
    resolver = Resolver.from_files([(v4, "cloudflare"), (v6, "cloudflare")], **FACTS)
    networks = [ipaddress.ip_network(line) for path in (v4, v6) for line in path.read_text().split()]
    addresses = [str(n.network_address + 1) for n in networks] + [str(n.broadcast_address) for n in networks]
    places = resolver.resolve(addresses)
    assert all(places[a].anycast and places[a].country is None and places[a].provider == "cloudflare" for a in addresses)
    assert all(any(e.source == "geoip2fast" for e in places[a].evidence) for a in addresses[:5])


@pytest.mark.shared_data
def test_real_maxmind_test_databases():
    city, asn = real_file("geoip", "GeoIP2-City-Test.mmdb"), real_file("geoip", "GeoLite2-ASN-Test.mmdb")
    resolver = Resolver.from_files([(city, "mmdb"), (asn, "mmdb")], embedded=False, **FACTS)
    places = resolver.resolve(["81.2.69.160", "2001:218::1", "1.128.0.1", "89.160.20.112"])
    assert places["81.2.69.160"].country == "GB" and places["81.2.69.160"].city == "London"
    assert places["2001:218::1"].country == "JP"
    assert ("geolite2-asn", "AS1221 Telstra Pty Ltd") in claims(places["1.128.0.1"])
    assert places["89.160.20.112"].country == "SE"
    assert {info.name: info.date[:10] for info in resolver.sources()} == {"geoip2-city": "2026-02-04", "geolite2-asn": "2026-02-04"}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["GeoIP2-City-Test-Invalid-Node-Count.mmdb", "bad-data/libmaxminddb-corrupt-search-tree.mmdb",
                                  "bad-data/libmaxminddb-metadata-marker-only.mmdb"])
def test_real_broken_maxmind_databases_are_refused(name):
    with pytest.raises(UserError, match="not a usable MaxMind DB"):
        Resolver.from_files([(real_file("geoip", *name.split("/")), "mmdb")], embedded=False, **FACTS)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb", "GeoIP2-ISP-Test.mmdb",
                                  "MaxMind-DB-test-ipv4-24.mmdb", "MaxMind-DB-test-mixed-24.mmdb"])
def test_real_mmdb_networks_read_from_the_tree_match_the_reader(name):
    import maxminddb

    from tracecheck.geo.sources.mmdb import MmdbDatabase

    path = real_file("geoip", name)
    database, reader = MmdbDatabase(path), maxminddb.open_database(str(path))
    probes = []
    for network, _ in reader:
        if network.version == 6 and database.ip_version == 6 and network.subnet_of(ipaddress.ip_network("::/96")):
            continue  # the IPv4 subtree: probed as IPv4 below
        probes += [str(network.network_address), str(network.broadcast_address)]
    probes += [str(n.network_address) for n, _ in reader if n.version == 4]
    assert database.info.prefixes == sum(1 for _ in reader)
    for address, answer in zip(probes, database.lookup_many(probes)):
        record, prefixlen = reader.get_with_prefix_len(address)
        if record is None:
            assert answer is None, address
        elif isinstance(record.get("country"), dict):
            assert answer.country == record["country"]["iso_code"], address
        if answer is not None:
            assert answer.network == str(ipaddress.ip_network(f"{address}/{prefixlen}", strict=False)), address
