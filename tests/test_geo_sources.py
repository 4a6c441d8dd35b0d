"""Each data source's reader, on small files written here in the publisher's own schema.

Every test runs on a fresh machine; the real files in ../shared/data are checked in
test_geo_lookup.py when they are present.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from geo_samples import AZURE_SAMPLE, city_database, write_json, write_sample_files
from mmdb_writer import write_mmdb
from tracecheck.errors import UserError
from tracecheck.geo.sources import aws, azure, cloudflare, embedded, fastly, gcp, genesys, geofeed, oracle, read_source
from tracecheck.geo.sources.mmdb import MmdbDatabase
from tracecheck.geo.sources.rdap import RdapClient
from tracecheck.vocabulary import SourceKind

# --------------------------------------------------------------------------- range files


@pytest.fixture
def sample_files(tmp_path) -> dict[str, Path]:
    return write_sample_files(tmp_path)


def test_aws_reads_regions_services_border_groups_and_global(sample_files):
    parsed = aws.parse(sample_files["aws"])
    info = parsed.info
    assert (info.name, info.kind, info.version, info.date) == ("aws-ip-ranges", "aws", "1787433425", "2026-08-22T21:17:05Z")
    assert info.prefixes == 8 and info.sha256 == hashlib.sha256(sample_files["aws"].read_bytes()).hexdigest()
    assert parsed.kind is SourceKind.PROVIDER and parsed.date_basis == "content"
    by_network = {(r.network, r.service): r for r in parsed.prefixes}
    assert by_network[("13.32.0.0/15", "CLOUDFRONT")].anycast and by_network[("2600:9000::/28", "CLOUDFRONT")].anycast
    assert not by_network[("3.248.0.0/14", "EC2")].anycast
    assert by_network[("15.181.232.0/21", "EC2")].border_group == "us-east-1-lim-1"
    assert by_network[("2a05:d018:400::/40", "EC2")].region == "eu-central-1"


def test_azure_keeps_regional_and_provider_only_tags_and_dates_from_the_file_name(sample_files):
    parsed = azure.parse(sample_files["azure"])
    assert parsed.info.version == "376" and parsed.info.date == "2025-11-03" and parsed.date_basis == "filename"
    assert parsed.info.prefixes == 6
    regions = {(r.network, r.region, r.service) for r in parsed.prefixes}
    assert ("20.50.0.0/16", "", "AzureCloud") in regions
    assert ("20.50.0.0/16", "westeurope", "AzureCloud") in regions
    assert ("20.50.64.0/20", "northeurope", "AzureStorage") in regions
    assert ("20.50.8.0/24", "", "AzureFrontDoor") in regions


def test_azure_without_a_date_in_its_name_falls_back_to_the_mtime(sample_files, tmp_path):
    renamed = write_json(tmp_path / "azure-ServiceTags_Public.json", AZURE_SAMPLE)
    os.utime(renamed, (1_767_225_600, 1_767_225_600))
    parsed = azure.parse(renamed)
    assert parsed.info.date == "2026-01-01" and parsed.date_basis == "mtime"


def test_gcp_scope_global_is_anycast(sample_files):
    parsed = gcp.parse(sample_files["gcp"])
    assert (parsed.info.name, parsed.info.version, parsed.info.date) == ("gcp-cloud", "1753409788780", "2025-07-24T19:16:28Z")
    scopes = {r.network: (r.region, r.anycast) for r in parsed.prefixes}
    assert scopes == {"34.1.208.0/20": ("africa-south1", False), "34.8.0.0/16": ("global", True),
                      "2600:1900:4000::/44": ("europe-west1", False)}


def test_goog_json_is_google_edge_anycast(sample_files):
    parsed = read_source(sample_files["google"], "google")
    assert parsed.info.name == "google-goog" and parsed.info.kind == "google"
    assert all(r.anycast and r.provider == "google" for r in parsed.prefixes)


def test_oracle_regions_and_tags(sample_files):
    parsed = oracle.parse(sample_files["oracle"])
    assert parsed.info.date == "2025-07-21T07:13:25Z" and parsed.info.prefixes == 3
    assert {(r.network, r.region, r.service) for r in parsed.prefixes} == {
        ("130.61.0.0/16", "eu-frankfurt-1", "OCI"), ("134.70.24.0/21", "eu-frankfurt-1", "OBJECT_STORAGE"),
        ("129.80.0.0/16", "us-ashburn-1", "OCI")}


def test_cloudflare_and_fastly_are_anycast_without_country(sample_files):
    for parsed in (cloudflare.parse(sample_files["cloudflare"]), fastly.parse(sample_files["fastly"])):
        assert parsed.prefixes and all(r.anycast and r.country is None and not r.region for r in parsed.prefixes)
        assert parsed.info.date == "2026-01-01" and parsed.date_basis == "mtime"
    assert cloudflare.parse(sample_files["cloudflare"]).info.name == "cloudflare-ips-v4"
    assert fastly.parse(sample_files["fastly"]).info.prefixes == 3


def test_geofeed_reads_country_subdivision_city_and_skips_comments(sample_files):
    parsed = geofeed.parse(sample_files["geofeed"])
    assert parsed.info.name == "geofeed-digitalocean" and parsed.kind is SourceKind.GEOFEED
    rows = {r.network: (r.provider, r.country, r.subdivision, r.city) for r in parsed.prefixes}
    assert rows["24.144.68.0/22"] == ("digitalocean", "US", "US-CA", "Santa Clara")
    assert rows["2a03:b0c0:3::/48"] == ("digitalocean", "DE", "DE-HE", "Frankfurt")
    assert rows["192.0.2.0/24"] == ("digitalocean", None, "", "")
    assert parsed.info.prefixes == 4


def test_genesys_ranges_are_aws_regions_named_for_genesys(sample_files):
    parsed = genesys.parse(sample_files["genesys"])
    assert {(r.network, r.provider, r.region, r.service) for r in parsed.prefixes} == {
        ("52.50.0.0/16", "aws", "eu-west-1", "Genesys Cloud api"), ("54.216.0.0/15", "aws", "eu-west-1", "Genesys Cloud media")}


@pytest.mark.parametrize("kind, content, expected", [
    ("aws", "{not json", "invalid JSON"),
    ("aws", json.dumps({"prefixes": []}), "no 'prefixes' or 'createDate'"),
    ("aws", json.dumps({"createDate": "2026-08-22-21-17-05", "prefixes": [{"ip_prefix": "1.2.3.0/24"}]}), "'region' missing"),
    ("azure", json.dumps({"values": [{"name": "x"}]}), "'properties' missing"),
    ("gcp", json.dumps({"prefixes": [{"ipv4Prefix": "1.0.0.0/8"}]}), "'creationTime' missing"),
    ("oracle", json.dumps({"regions": "x"}), "no 'regions' list"),
    ("fastly", json.dumps({"addresses": [1, 2]}), "not a string"),
    ("genesys", json.dumps({"entities": [{"region": "eu-west-1"}]}), "'cidr' missing"),
    ("geofeed", "hello,world\n", "is not an IP prefix"),
    ("geofeed", "1.2.3.0/24,Germany,,,\n", "not an ISO 3166-1"),
    ("cloudflare", "", "no prefixes"),
])
def test_malformed_files_are_one_line_user_errors(tmp_path, kind, content, expected):
    path = tmp_path / "bad-file"
    path.write_text(content)
    with pytest.raises(UserError) as caught:
        read_source(path, kind)
    assert expected in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_kind_and_missing_file():
    with pytest.raises(UserError, match="unknown source kind 'maxmind'"):
        read_source(Path("x"), "maxmind")
    with pytest.raises(UserError, match="no such file"):
        read_source(Path("/nonexistent/ip-ranges.json"), "aws")


# --------------------------------------------------------------------------- mmdb


def test_mmdb_city_answers_country_city_and_coordinates(tmp_path):
    database = MmdbDatabase(city_database(tmp_path / "city.mmdb", build_epoch=1_770_245_369))
    assert (database.info.name, database.info.kind) == ("geoip2-city", "mmdb")
    assert database.info.version == "1770245369" and database.info.date == "2026-02-04T22:49:29Z"
    assert database.info.prefixes == 4
    london, tokyo, nothing, anycast = database.lookup_many(["81.2.69.160", "2001:218::1", "8.8.8.8", "104.16.0.1"])
    assert (london.country, london.subdivision, london.city, london.latitude) == ("GB", "GB-ENG", "London", 51.51)
    assert london.network == "81.2.69.0/24" and "prefix 81.2.69.0/24" in london.evidence[0].detail
    assert tokyo.country == "JP" and nothing is None and anycast.anycast


def test_mmdb_asn_and_ipinfo_shapes(tmp_path):
    asn = MmdbDatabase(write_mmdb(tmp_path / "asn.mmdb", {
        "1.128.0.0/11": {"autonomous_system_number": 1221, "autonomous_system_organization": "Telstra Pty Ltd"}},
        database_type="GeoLite2-ASN"))
    (answer,) = asn.lookup_many(["1.128.0.1"])
    assert answer.country is None and answer.evidence[0].claim == "AS1221 Telstra Pty Ltd"
    ipinfo = MmdbDatabase(write_mmdb(tmp_path / "ipinfo.mmdb", {
        "8.8.8.0/24": {"country_code": "US", "asn": "AS15169", "as_name": "Google LLC"}},
        ip_version=4, database_type="ipinfo lite"))
    found, v6 = ipinfo.lookup_many(["8.8.8.8", "2001:db8::1"])  # an IPv4-only database knows no IPv6
    assert found.country == "US" and [e.claim for e in found.evidence] == ["country US", "AS15169 Google LLC"]
    assert v6 is None and ipinfo.info.name == "ipinfo-lite"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "unreachable_nodes"])
def test_corrupt_mmdb_is_a_user_error(tmp_path, damage):
    path = tmp_path / "broken.mmdb"
    if damage == "garbage":
        path.write_bytes(b"\xab\xcd\xefMaxMind.com")
    elif damage == "truncated":
        data = city_database(tmp_path / "good.mmdb").read_bytes()
        path.write_bytes(data[:40] + data[-200:])
    else:
        city_database(path, unreachable_nodes=4)
    with pytest.raises(UserError) as caught:
        MmdbDatabase(path)
    message = str(caught.value)
    assert str(path) in message and "not a usable MaxMind DB" in message and "\n" not in message


# --------------------------------------------------------------------------- embedded default


def test_embedded_default_names_its_data_file_and_date():
    default = embedded.load()
    assert default is not None, "geoip2fast is a dependency and ships its data file"
    assert default.info.kind == "embedded" and default.info.name == "geoip2fast"
    assert len(default.info.date) == 10 and default.info.date[:2] == "20"
    assert default.info.date.replace("-", "") in default.info.version
    assert default.info.prefixes > 100_000


def test_embedded_default_agrees_with_geoip2fast_itself():
    from geoip2fast import GeoIP2Fast

    from tracecheck.geo.ranges import AddressKeys

    default = embedded.load()
    reference = GeoIP2Fast(geoip2fast_data_file=str(default.path))
    addresses = ["8.8.8.8", "1.1.1.1", "81.2.69.160", "3.248.0.1", "2a00:1450:4001::1", "2001:218::1",
                 "200.160.2.3", "41.0.0.1", "10.1.2.3", "::1"]
    rows = default.find(AddressKeys.parse(addresses))
    for position, address in enumerate(addresses):
        answer = default.answer(tuple(int(r[position]) for r in rows))
        theirs = reference.lookup(address)
        expected = None if theirs.is_private or len(theirs.country_code) != 2 else theirs.country_code
        assert (answer.country if answer else None) == expected, address
        if expected:
            assert answer.network == theirs.cidr


# --------------------------------------------------------------------------- RDAP (never the network here)


def test_rdap_is_cached_by_network_and_only_weak(tmp_path):
    calls = []

    def fake_fetch(address):
        calls.append(address)
        return {"cidr": "192.0.2.0/24", "name": "EXAMPLE-NET", "country": "FR", "asn": "64500",
                "asn_country": "FR", "asn_description": "EXAMPLE, FR", "registry": "ripencc"}

    client = RdapClient(tmp_path, fetch=fake_fetch)
    first, second = client.lookup_many(["192.0.2.10", "192.0.2.99"])
    assert calls == ["192.0.2.10"]  # the second address is inside the cached network
    assert first.country == "FR" and first.kind is SourceKind.REGISTRY
    assert first.evidence[0].claim == "registrant country FR" and "EXAMPLE-NET" in first.evidence[0].detail
    again = RdapClient(tmp_path, fetch=lambda address: pytest.fail("must come from the disk cache"))
    assert again.lookup_many(["192.0.2.200"])[0].country == "FR"


def test_rdap_failure_is_evidence_not_a_crash(tmp_path):
    def failing(address):
        raise OSError("network is unreachable")

    (answer,) = RdapClient(tmp_path, fetch=failing).lookup_many(["198.51.100.7"])
    assert answer.country is None and "network is unreachable" in answer.evidence[0].detail


def test_mmdb_tables_answer_exactly_as_the_reader_does(tmp_path):
    import ipaddress
    import random

    import maxminddb

    path = city_database(tmp_path / "city.mmdb")
    database, reader = MmdbDatabase(path), maxminddb.open_database(str(path))
    chooser = random.Random(7)
    addresses = ["81.2.69.0", "81.2.69.255", "81.2.70.0", "2001:218::", "2001:218:ffff:ffff:ffff:ffff:ffff:ffff",
                 "104.23.255.255", "3.248.0.0", "3.251.255.255", "3.252.0.0"]
    addresses += [str(ipaddress.IPv4Address(chooser.getrandbits(32))) for _ in range(500)]
    # (IPv4-mapped IPv6 is looked up as IPv4 on purpose; this test file has no ::ffff:0:0/96 alias.)
    for address, answer in zip(addresses, database.lookup_many(addresses)):
        record, prefixlen = reader.get_with_prefix_len(address)
        expected = None if record is None else record["country"]["iso_code"]
        assert (answer.country if answer else None) == expected, address
        if answer is not None and "." in address and ":" not in address:
            assert answer.network == str(ipaddress.ip_network(f"{address}/{prefixlen}", strict=False))


def test_embedded_prefixes_in_bulk_match_one_at_a_time():
    default = embedded.load()
    ranges = default._country
    rows = [0, 1, ranges.v4_count - 1, ranges.v4_count, len(ranges.lengths) - 1, -1, 12345]
    assert ranges.networks(rows) == [ranges.network(row) if row >= 0 else "" for row in rows]


# --------------------------------------------------------------------------- the embedded default's cache


def _answers(default, addresses):
    from tracecheck.geo.ranges import AddressKeys

    rows = default.find(AddressKeys.parse(addresses))
    return [default.answer(tuple(int(r[i]) for r in rows)) for i in range(len(addresses))]


SAMPLE = ["8.8.8.8", "1.1.1.1", "81.2.69.160", "3.248.0.1", "2a00:1450:4001::1", "2001:218::1", "10.1.2.3",
          "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "200.160.2.3"]


def test_the_cache_is_written_once_then_mapped_with_the_same_answers(tmp_path, monkeypatch):
    path = embedded.data_file()
    built = embedded.EmbeddedGeoIP(path, tmp_path)
    (folder,) = tmp_path.iterdir()
    assert folder.name == f"geoip2fast-{built.info.sha256}-v{embedded.CACHE_FORMAT}"
    monkeypatch.setattr(embedded.pickle, "loads", lambda data: pytest.fail("a cached run must not unpickle"))
    mapped = embedded.EmbeddedGeoIP(path, tmp_path)
    assert isinstance(mapped._country.ids, np.memmap)
    assert _answers(mapped, SAMPLE) == _answers(built, SAMPLE)
    assert mapped.info == built.info and mapped.label == built.label
    assert mapped.row_claims[0].tolist()[:1000] == built.row_claims[0].tolist()[:1000]


def _resident_kib(folder) -> dict[str, int]:
    """Resident KiB of each mapping of a file in ``folder``, from /proc/self/smaps."""
    resident, current = {}, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):  # a mapping's header: range, perms, ..., path
            fields = line.split()
            current = fields[5] if len(fields) > 5 and fields[5].startswith(str(folder)) else None
        elif current and line.startswith("Rss:"):
            resident[current] = resident.get(current, 0) + int(line.split()[1])
    return resident


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's /proc/self/smaps")
def test_the_arrays_read_whole_by_the_check_do_not_stay_resident(tmp_path):
    path = embedded.data_file()
    embedded.EmbeddedGeoIP(path, tmp_path)
    mapped = embedded.EmbeddedGeoIP(path, tmp_path)  # its check reads every id and row array whole
    (folder,) = tmp_path.iterdir()
    resident = _resident_kib(folder)
    ids = folder / "country.ids.npy"
    assert str(ids) in resident and ids.stat().st_size > 1_000_000
    assert sum(resident.values()) < 1024  # KiB: only what the check left of the last pages, if any
    assert _answers(mapped, SAMPLE) == _answers(embedded.EmbeddedGeoIP(path, None), SAMPLE)


def test_a_damaged_or_foreign_cache_is_rebuilt_never_believed(tmp_path):
    path = embedded.data_file()
    reference = _answers(embedded.EmbeddedGeoIP(path, None), SAMPLE)
    embedded.EmbeddedGeoIP(path, tmp_path)
    (folder,) = tmp_path.iterdir()
    ids = folder / "country.ids.npy"
    ids.write_bytes(ids.read_bytes()[:200])  # cut short
    assert _answers(embedded.EmbeddedGeoIP(path, tmp_path), SAMPLE) == reference
    rows = folder / "country.v4_rows.npy"  # rows past the end of the table: inconsistent, not used
    np.save(rows, np.full(len(np.load(rows)), 10**9, dtype=np.int32))
    again = embedded.EmbeddedGeoIP(path, tmp_path)
    assert not isinstance(again._country.table.v4_rows, np.memmap)
    assert _answers(again, SAMPLE) == reference


def test_a_changed_data_file_gets_a_cache_of_its_own(tmp_path):
    import gzip
    import pickle

    original = embedded.data_file()
    version, info, total, lists = pickle.loads(gzip.decompress(original.read_bytes()))
    changed = tmp_path / "data" / original.name
    changed.parent.mkdir()
    changed.write_bytes(gzip.compress(pickle.dumps((version, dict(info, info="MAXMIND:edited-20250101"), total, lists))))
    cache = tmp_path / "cache"
    first, second = embedded.EmbeddedGeoIP(original, cache), embedded.EmbeddedGeoIP(changed, cache)
    assert len(list(cache.iterdir())) == 2
    assert embedded.EmbeddedGeoIP(changed, cache).info.date == "2025-01-01" != first.info.date
    assert second.info.sha256 != first.info.sha256


def test_an_unwritable_cache_folder_costs_speed_not_answers(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    default = embedded.EmbeddedGeoIP(embedded.data_file(), blocked / "cache")
    assert _answers(default, SAMPLE) == _answers(embedded.load(), SAMPLE)


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACECHECK_CACHE", str(tmp_path / "tc"))
    assert embedded.cache_dir() == tmp_path / "tc"
    monkeypatch.delenv("TRACECHECK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_dir() == tmp_path / "xdg" / "tracecheck"
