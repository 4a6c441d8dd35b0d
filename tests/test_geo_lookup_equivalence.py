"""``Resolver.resolve`` gives exactly the places it gave before its fast path was rewritten.

Two checks:

* synthetic files in the official schemas (``geo_samples``), a stand-in region catalog and
  jurisdictions, two MaxMind-format databases and a registry-like point source; a representative
  set of addresses (nested prefixes, IPv4 and IPv6, mapped/NAT64, anycast, local, disagreements,
  provider-only prefixes, hostname evidence) against every ``Place`` field and every evidence
  line captured from the engine before the rewrite (``EXPECTED``, hard-coded);
* when ../shared/data (or $TRACECHECK_SHARED_DATA) is present, the resolver against a slow,
  obviously-correct reference (one address at a time, each source asked directly, then
  ``authority.place_fields``) on 2,000 addresses of the real provider files, MaxMind test
  databases and the embedded default.
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import FrozenInstanceError, astuple, dataclass, fields
from pathlib import Path

import pytest

from geo_samples import city_database, write_sample_files
from mmdb_writer import write_mmdb
from tracecheck.geo.authority import place_fields
from tracecheck.geo.hostnames import hints_for
from tracecheck.geo.lookup import Resolver, _hint_answer
from tracecheck.geo.ranges import AddressKeys
from tracecheck.geo.sources.interface import Answer
from tracecheck.geo.special import LOCAL_NETWORKS
from tracecheck.geo.special import SOURCE as LOCAL_SOURCE
from tracecheck.geo.special import local_table
from tracecheck.vocabulary import Evidence, Place, SourceInfo, SourceKind


@dataclass(frozen=True)
class Region:
    code: str
    country: str
    subdivision: str
    city: str
    latitude: float = 0.0
    longitude: float = 0.0
    source: str = "https://example.test/regions"
    precision: str = "city"
    inferred: bool = False
    note: str = ""


REGIONS = {
    ("aws", "eu-west-1"): Region("eu-west-1", "IE", "", "Dublin", 53.35, -6.26),
    ("aws", "eu-central-1"): Region("eu-central-1", "DE", "", "Frankfurt", 50.11, 8.68),
    ("aws", "us-east-1"): Region("us-east-1", "US", "US-VA", "Ashburn", 39.04, -77.49),
    ("aws", "us-east-1-lim-1"): Region("us-east-1-lim-1", "PE", "", "Lima", -12.05, -77.04, inferred=True,
                                       note="Local Zone in Lima"),
    ("azure", "westeurope"): Region("westeurope", "NL", "", "Amsterdam", 52.37, 4.9),
    ("gcp", "africa-south1"): Region("africa-south1", "ZA", "", "Johannesburg", precision="country"),
    ("gcp", "europe-west1"): Region("europe-west1", "BE", "", "St. Ghislain", 50.45, 3.82),
    ("oracle", "eu-frankfurt-1"): Region("eu-frankfurt-1", "DE", "", "Frankfurt", 50.11, 8.68),
    # ("azure", "northeurope") and ("oracle", "us-ashburn-1") are deliberately unknown
}


def find_region(code: str, provider: str | None = None):
    return REGIONS.get((provider, code))


class Jurisdictions:
    EU = {"IE", "DE", "NL", "BE", "FR"}

    def jurisdictions_for(self, country, subdivision=""):
        if subdivision and not subdivision.startswith(f"{country}-"):
            raise ValueError(f"{subdivision} is not in {country}")
        groups = {"EU", "EEA"} if country in self.EU else {country} if country else set()
        if subdivision:
            groups.add(subdivision)
        return tuple(sorted(groups))


FACTS = {"find_region": find_region, "jurisdictions": Jurisdictions()}


class Registry:
    """A point source asked one address at a time (as RDAP is): one Answer per network."""

    def __init__(self):
        self.info = SourceInfo(name="registry", kind="rdap", version="1", date="2026-01-01", sha256="0" * 64,
                               prefixes=0)
        networks = {"1.1.0.0/16": "AU", "3.248.0.0/14": "US", "20.60.0.0/16": "IE", "2a04:4e42::/32": "US"}
        self._answers = {ipaddress.ip_network(network): Answer(
            source="registry", kind=SourceKind.REGISTRY, country=country, network=network,
            evidence=(Evidence("registry", f"registrant country {country}", f"rdap {network}"),))
            for network, country in networks.items()}

    def lookup_many(self, addresses):
        out = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            out.append(next((a for n, a in self._answers.items() if ip.version == n.version and ip in n), None))
        return out


def sample_resolver(folder: Path) -> Resolver:
    files = write_sample_files(folder)
    city = city_database(folder / "city.mmdb")
    asn = write_mmdb(folder / "asn.mmdb", {
        "3.248.0.0/16": {"autonomous_system_number": 16509, "autonomous_system_organization": "AMAZON-02"},
        "104.16.0.0/13": {"autonomous_system_number": 13335, "autonomous_system_organization": "CLOUDFLARENET"},
        "5.101.96.0/21": {"autonomous_system_number": 14061, "autonomous_system_organization": "DIGITALOCEAN-ASN"},
        "2001:218::/32": {"autonomous_system_number": 2914},
    }, database_type="GeoLite2-ASN")
    kinds = ["aws", "azure", "gcp", "google", "oracle", "cloudflare", "fastly", "geofeed", "genesys"]
    resolver = Resolver.from_files([(files[k], k) for k in kinds] + [(city, "mmdb"), (asn, "mmdb")],
                                   embedded=False, **FACTS)
    resolver.point_sources.append(Registry())
    return resolver


ADDRESSES = [
    # AWS: a /14 published twice (AMAZON, EC2), a nested /22, past the /22, GLOBAL, a Local Zone
    "3.248.0.1", "3.248.0.2", "3.250.1.1", "3.251.0.1", "13.32.0.5", "15.181.232.10",
    "2a05:d018::1", "2a05:d018:400::1", "2a05:d018:400::2", "2600:9000::1",
    # IPv4-mapped and NAT64 forms of AWS addresses
    "::ffff:3.248.0.9", "64:ff9b::3.250.1.7",
    # Azure: regional + bare AzureCloud, a more specific provider-only prefix, unknown region, bare only
    "20.50.1.1", "20.50.8.5", "20.50.64.5", "20.60.1.1", "2603:1020:200::1",
    # GCP (a region with country precision, "global" scope) and Google's goog.json
    "34.1.208.9", "34.8.0.1", "2600:1900:4000::5", "8.8.4.4", "2001:4860::8888",
    # Oracle (an unknown region too)
    "130.61.2.3", "134.70.24.1", "129.80.0.1",
    # anycast: Cloudflare (a GeoIP database claims US, with anycast), Fastly (registry claims US)
    "104.16.0.1", "104.16.0.2", "172.64.0.1", "151.101.1.1", "2a04:4e42::1",
    # geofeed
    "5.101.96.1", "24.144.68.1", "2a03:b0c0:3::1",
    # Genesys Cloud's ranges
    "52.50.3.4", "54.216.0.1",
    # GeoIP databases only, registry only, nothing at all
    "81.2.69.1", "81.2.69.200", "2001:218::1", "1.1.1.1", "9.9.9.9", "2a00::1",
    # local
    "10.0.0.1", "127.0.0.1", "169.254.1.1", "192.168.1.1", "192.0.2.5", "100.64.0.1",
    "fe80::1%eth0", "::1", "fc00::1", "2001:db8::1", "ff02::1",
]

NAMES = {
    "3.248.0.1": ["s3.eu-west-1.amazonaws.com"],
    "3.250.1.1": ["s3.eu-west-1.amazonaws.com", "s3.eu-central-1.amazonaws.com"],
    "13.32.0.5": ["d111111abcdef8.cloudfront.net"],
    "20.60.1.1": ["myapp.westeurope.cloudapp.azure.com"],
    "1.1.1.1": ["api.mypurecloud.ie"],
    "9.9.9.9": ["nothing.example.com"],
    "10.0.0.1": ["api.mypurecloud.de"],
    "104.16.0.1": ["api.mypurecloud.ie"],
    "2a05:d018::1": ["ec2.eu-central-1.amazonaws.com"],
}


def snapshot(place: Place) -> tuple:
    """Every field of a place, evidence as plain tuples (kinds as their values, places as tuples)."""
    values = [getattr(place, f.name) for f in fields(Place) if f.name != "evidence"]
    values = [value.value if isinstance(value, SourceKind) else value for value in values]
    return (*values, tuple((e.source, e.claim, e.detail, e.kind.value, e.where and astuple(e.where))
                           for e in place.evidence))


# Captured from the engine before the rewrite (commit ede2905), ``snapshot`` of each place; re-captured
# when evidence became data (issue 11: kinds, places, one ranking; RDAP no longer places).
EXPECTED = {
    '3.248.0.1': ('3.248.0.1', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.248.0.0/14', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS16509 AMAZON-02', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 3.248.0.0/16', 'geoip', None),
            ('registry', 'registrant country US', 'rdap 3.248.0.0/14', 'note', None),
            ('tracecheck', 'sources disagree: country IE, country US', 'country IE (aws-ip-ranges); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '3.248.0.2': ('3.248.0.2', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.248.0.0/14', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS16509 AMAZON-02', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 3.248.0.0/16', 'geoip', None),
            ('registry', 'registrant country US', 'rdap 3.248.0.0/14', 'note', None),
            ('tracecheck', 'sources disagree: country IE, country US', 'country IE (aws-ip-ranges); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '3.250.1.1': ('3.250.1.1', 'aws', 'S3', 'eu-central-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-central-1 (S3)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.250.0.0/22', 'provider', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('region-catalog', 'aws eu-central-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('registry', 'registrant country US', 'rdap 3.248.0.0/14', 'note', None),
            ('tracecheck', 'sources disagree: country DE, country US', 'country DE (aws-ip-ranges); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '3.251.0.1': ('3.251.0.1', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.248.0.0/14', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('registry', 'registrant country US', 'rdap 3.248.0.0/14', 'note', None),
            ('tracecheck', 'sources disagree: country IE, country US', 'country IE (aws-ip-ranges); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '13.32.0.5': ('13.32.0.5', 'aws', 'CLOUDFRONT', 'GLOBAL', None, '', '', None, None, (), True, False, 'provider',
        (
            ('aws-ip-ranges', 'anycast (CLOUDFRONT), region GLOBAL', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 13.32.0.0/15', 'provider', (None, '', '', 'aws', '', True)),
        )),
    '15.181.232.10': ('15.181.232.10', 'aws', 'EC2', 'us-east-1', 'PE', '', 'Lima', -12.05, -77.04, ('PE',), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region us-east-1, border group us-east-1-lim-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 15.181.232.0/21', 'provider', ('PE', '', 'us-east-1-lim-1', 'aws', 'Lima', False)),
            ('region-catalog', 'aws us-east-1-lim-1 is in PE (Lima)', 'geo_db/regions.yaml, source https://example.test/regions; inferred: Local Zone in Lima', 'catalog', None),
        )),
    '2a05:d018::1': ('2a05:d018::1', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 2a05:d018::/36', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '2a05:d018:400::1': ('2a05:d018:400::1', 'aws', 'EC2', 'eu-central-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-central-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 2a05:d018:400::/40', 'provider', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('region-catalog', 'aws eu-central-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '2a05:d018:400::2': ('2a05:d018:400::2', 'aws', 'EC2', 'eu-central-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-central-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 2a05:d018:400::/40', 'provider', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('region-catalog', 'aws eu-central-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '2600:9000::1': ('2600:9000::1', 'aws', 'CLOUDFRONT', 'GLOBAL', None, '', '', None, None, (), True, False, 'provider',
        (
            ('aws-ip-ranges', 'anycast (CLOUDFRONT), region GLOBAL', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 2600:9000::/28', 'provider', (None, '', '', 'aws', '', True)),
        )),
    '::ffff:3.248.0.9': ('::ffff:3.248.0.9', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.248.0.0/14', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS16509 AMAZON-02', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 3.248.0.0/16', 'geoip', None),
            ('tracecheck', 'sources disagree: country IE, country US', 'country IE (aws-ip-ranges); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '64:ff9b::3.250.1.7': ('64:ff9b::3.250.1.7', 'aws', 'S3', 'eu-central-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-central-1 (S3)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.250.0.0/22', 'provider', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('region-catalog', 'aws eu-central-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('tracecheck', 'sources disagree: country DE, country US', 'country DE (aws-ip-ranges); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '20.50.1.1': ('20.50.1.1', 'azure', 'AzureCloud', 'westeurope', 'NL', '', 'Amsterdam', 52.37, 4.9, ('EEA', 'EU'), False, False, 'provider',
        (
            ('azure-service-tags', 'region westeurope (AzureCloud)', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 20.50.0.0/16', 'provider', ('NL', '', 'westeurope', 'azure', 'Amsterdam', False)),
            ('region-catalog', 'azure westeurope is in NL (Amsterdam)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '20.50.8.5': ('20.50.8.5', 'azure', 'AzureCloud', 'westeurope', 'NL', '', 'Amsterdam', 52.37, 4.9, ('EEA', 'EU'), False, False, 'provider',
        (
            ('azure-service-tags', 'region westeurope (AzureCloud)', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 20.50.0.0/16', 'provider', ('NL', '', 'westeurope', 'azure', 'Amsterdam', False)),
            ('azure-service-tags', 'provider azure (AzureFrontDoor), no region', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 20.50.8.0/24', 'provider', None),
            ('region-catalog', 'azure westeurope is in NL (Amsterdam)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '20.50.64.5': ('20.50.64.5', 'azure', 'AzureStorage', 'northeurope', None, '', '', None, None, (), False, False, None,
        (
            ('azure-service-tags', 'region northeurope (AzureStorage)', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 20.50.64.0/20', 'provider', (None, '', 'northeurope', 'azure', '', False)),
            ('region-catalog', 'unknown region azure northeurope', "not in geo_db/regions.yaml; the next source's country is used", 'catalog', None),
        )),
    '20.60.1.1': ('20.60.1.1', 'azure', 'AzureCloud', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('azure-service-tags', 'no region (AzureCloud): a global range, no single place published', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 20.60.0.0/16', 'provider', (None, '', '', 'azure', '', True)),
            ('registry', 'registrant country IE', 'rdap 20.60.0.0/16', 'note', None),
        )),
    '2603:1020:200::1': ('2603:1020:200::1', 'azure', 'AzureCloud', 'westeurope', 'NL', '', 'Amsterdam', 52.37, 4.9, ('EEA', 'EU'), False, False, 'provider',
        (
            ('azure-service-tags', 'region westeurope (AzureCloud)', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 2603:1020:200::/46', 'provider', ('NL', '', 'westeurope', 'azure', 'Amsterdam', False)),
            ('region-catalog', 'azure westeurope is in NL (Amsterdam)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '34.1.208.9': ('34.1.208.9', 'gcp', 'Google Cloud', 'africa-south1', 'ZA', '', 'Johannesburg', None, None, ('ZA',), False, False, 'provider',
        (
            ('gcp-cloud', 'region africa-south1 (Google Cloud)', 'GCP cloud.json 2025-07-24 sha256:5872edb5678b prefix 34.1.208.0/20', 'provider', ('ZA', '', 'africa-south1', 'gcp', 'Johannesburg', False)),
            ('region-catalog', 'gcp africa-south1 is in ZA (Johannesburg)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '34.8.0.1': ('34.8.0.1', 'gcp', 'Google Cloud', 'global', None, '', '', None, None, (), True, False, 'provider',
        (
            ('gcp-cloud', 'anycast (Google Cloud), region global', 'GCP cloud.json 2025-07-24 sha256:5872edb5678b prefix 34.8.0.0/16', 'provider', (None, '', '', 'gcp', '', True)),
        )),
    '2600:1900:4000::5': ('2600:1900:4000::5', 'gcp', 'Google Cloud', 'europe-west1', 'BE', '', 'St. Ghislain', 50.45, 3.82, ('EEA', 'EU'), False, False, 'provider',
        (
            ('gcp-cloud', 'region europe-west1 (Google Cloud)', 'GCP cloud.json 2025-07-24 sha256:5872edb5678b prefix 2600:1900:4000::/44', 'provider', ('BE', '', 'europe-west1', 'gcp', 'St. Ghislain', False)),
            ('region-catalog', 'gcp europe-west1 is in BE (St. Ghislain)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '8.8.4.4': ('8.8.4.4', 'google', 'Google', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('google-goog', 'anycast (Google)', 'Google goog.json 2025-07-24 sha256:df9618c3d0d0 prefix 8.8.4.0/24', 'provider', (None, '', '', 'google', '', True)),
        )),
    '2001:4860::8888': ('2001:4860::8888', 'google', 'Google', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('google-goog', 'anycast (Google)', 'Google goog.json 2025-07-24 sha256:df9618c3d0d0 prefix 2001:4860::/32', 'provider', (None, '', '', 'google', '', True)),
        )),
    '130.61.2.3': ('130.61.2.3', 'oracle', 'OCI', 'eu-frankfurt-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('oracle-public-ip-ranges', 'region eu-frankfurt-1 (OCI)', 'Oracle public_ip_ranges.json 2025-07-21 sha256:34ab6ff1a6ae prefix 130.61.0.0/16', 'provider', ('DE', '', 'eu-frankfurt-1', 'oracle', 'Frankfurt', False)),
            ('region-catalog', 'oracle eu-frankfurt-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '134.70.24.1': ('134.70.24.1', 'oracle', 'OBJECT_STORAGE', 'eu-frankfurt-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('oracle-public-ip-ranges', 'region eu-frankfurt-1 (OBJECT_STORAGE)', 'Oracle public_ip_ranges.json 2025-07-21 sha256:34ab6ff1a6ae prefix 134.70.24.0/21', 'provider', ('DE', '', 'eu-frankfurt-1', 'oracle', 'Frankfurt', False)),
            ('region-catalog', 'oracle eu-frankfurt-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '129.80.0.1': ('129.80.0.1', 'oracle', 'OCI', 'us-ashburn-1', None, '', '', None, None, (), False, False, None,
        (
            ('oracle-public-ip-ranges', 'region us-ashburn-1 (OCI)', 'Oracle public_ip_ranges.json 2025-07-21 sha256:34ab6ff1a6ae prefix 129.80.0.0/16', 'provider', (None, '', 'us-ashburn-1', 'oracle', '', False)),
            ('region-catalog', 'unknown region oracle us-ashburn-1', "not in geo_db/regions.yaml; the next source's country is used", 'catalog', None),
        )),
    '104.16.0.1': ('104.16.0.1', 'cloudflare', 'Cloudflare', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('cloudflare-ips-v4', 'anycast (Cloudflare)', 'Cloudflare cloudflare-ips-v4 date unknown (file time 2026-01-01) sha256:3ac24f3f88c3 prefix 104.16.0.0/13', 'provider', (None, '', '', 'cloudflare', '', True)),
            ('geoip2-city', 'anycast', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 104.16.0.0/13', 'geoip', (None, '', '', '', '', True)),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 104.16.0.0/13', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS13335 CLOUDFLARENET', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 104.16.0.0/13', 'geoip', None),
        )),
    '104.16.0.2': ('104.16.0.2', 'cloudflare', 'Cloudflare', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('cloudflare-ips-v4', 'anycast (Cloudflare)', 'Cloudflare cloudflare-ips-v4 date unknown (file time 2026-01-01) sha256:3ac24f3f88c3 prefix 104.16.0.0/13', 'provider', (None, '', '', 'cloudflare', '', True)),
            ('geoip2-city', 'anycast', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 104.16.0.0/13', 'geoip', (None, '', '', '', '', True)),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 104.16.0.0/13', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS13335 CLOUDFLARENET', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 104.16.0.0/13', 'geoip', None),
        )),
    '172.64.0.1': ('172.64.0.1', 'cloudflare', 'Cloudflare', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('cloudflare-ips-v4', 'anycast (Cloudflare)', 'Cloudflare cloudflare-ips-v4 date unknown (file time 2026-01-01) sha256:3ac24f3f88c3 prefix 172.64.0.0/13', 'provider', (None, '', '', 'cloudflare', '', True)),
        )),
    '151.101.1.1': ('151.101.1.1', 'fastly', 'Fastly', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('fastly-public-ip-list', 'anycast (Fastly)', 'Fastly public-ip-list date unknown (file time 2026-01-01) sha256:e2cab95e8bb5 prefix 151.101.0.0/16', 'provider', (None, '', '', 'fastly', '', True)),
        )),
    '2a04:4e42::1': ('2a04:4e42::1', 'fastly', 'Fastly', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('fastly-public-ip-list', 'anycast (Fastly)', 'Fastly public-ip-list date unknown (file time 2026-01-01) sha256:e2cab95e8bb5 prefix 2a04:4e42::/32', 'provider', (None, '', '', 'fastly', '', True)),
            ('registry', 'registrant country US', 'rdap 2a04:4e42::/32', 'note', None),
        )),
    '5.101.96.1': ('5.101.96.1', 'digitalocean', 'geofeed', '', 'NL', 'NL-NH', 'Amsterdam', None, None, ('EEA', 'EU', 'NL-NH'), False, False, 'geofeed',
        (
            ('geofeed-digitalocean', 'country NL (Amsterdam, NL-NH)', 'digitalocean geofeed (RFC 8805) date unknown (file time 2026-01-01) sha256:1a15ed615c42 prefix 5.101.96.0/21', 'geofeed', ('NL', 'NL-NH', '', '', 'Amsterdam', False)),
            ('geolite2-asn', 'AS14061 DIGITALOCEAN-ASN', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 5.101.96.0/21', 'geoip', None),
        )),
    '24.144.68.1': ('24.144.68.1', 'digitalocean', 'geofeed', '', 'US', 'US-CA', 'Santa Clara', None, None, ('US', 'US-CA'), False, False, 'geofeed',
        (
            ('geofeed-digitalocean', 'country US (Santa Clara, US-CA)', 'digitalocean geofeed (RFC 8805) date unknown (file time 2026-01-01) sha256:1a15ed615c42 prefix 24.144.68.0/22', 'geofeed', ('US', 'US-CA', '', '', 'Santa Clara', False)),
        )),
    '2a03:b0c0:3::1': ('2a03:b0c0:3::1', 'digitalocean', 'geofeed', '', 'DE', 'DE-HE', 'Frankfurt', None, None, ('DE-HE', 'EEA', 'EU'), False, False, 'geofeed',
        (
            ('geofeed-digitalocean', 'country DE (Frankfurt, DE-HE)', 'digitalocean geofeed (RFC 8805) date unknown (file time 2026-01-01) sha256:1a15ed615c42 prefix 2a03:b0c0:3::/48', 'geofeed', ('DE', 'DE-HE', '', '', 'Frankfurt', False)),
        )),
    '52.50.3.4': ('52.50.3.4', 'aws', 'Genesys Cloud api', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('genesys-ipranges', 'region eu-west-1 (Genesys Cloud api)', 'Genesys Cloud /api/v2/ipranges date unknown (file time 2026-01-01) sha256:5e75e488be58 prefix 52.50.0.0/16', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '54.216.0.1': ('54.216.0.1', 'aws', 'Genesys Cloud media', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('genesys-ipranges', 'region eu-west-1 (Genesys Cloud media)', 'Genesys Cloud /api/v2/ipranges date unknown (file time 2026-01-01) sha256:5e75e488be58 prefix 54.216.0.0/15', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
        )),
    '81.2.69.1': ('81.2.69.1', '', '', '', 'GB', 'GB-ENG', 'London', 51.51, -0.09, ('GB', 'GB-ENG'), False, False, 'geoip',
        (
            ('geoip2-city', 'country GB (London, GB-ENG)', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 81.2.69.0/24', 'geoip', ('GB', 'GB-ENG', '', '', 'London', False)),
        )),
    '81.2.69.200': ('81.2.69.200', '', '', '', 'GB', 'GB-ENG', 'London', 51.51, -0.09, ('GB', 'GB-ENG'), False, False, 'geoip',
        (
            ('geoip2-city', 'country GB (London, GB-ENG)', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 81.2.69.0/24', 'geoip', ('GB', 'GB-ENG', '', '', 'London', False)),
        )),
    '2001:218::1': ('2001:218::1', '', '', '', 'JP', '', '', None, None, ('JP',), False, False, 'geoip',
        (
            ('geoip2-city', 'country JP', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 2001:218::/32', 'geoip', ('JP', '', '', '', '', False)),
            ('geolite2-asn', 'AS2914', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 2001:218::/32', 'geoip', None),
        )),
    '1.1.1.1': ('1.1.1.1', '', '', '', None, '', '', None, None, (), False, False, None,
        (
            ('registry', 'registrant country AU', 'rdap 1.1.0.0/16', 'note', None),
        )),
    '9.9.9.9': ('9.9.9.9', '', '', '', None, '', '', None, None, (), False, False, None,
        (
        )),
    '2a00::1': ('2a00::1', '', '', '', None, '', '', None, None, (), False, False, None,
        (
        )),
    '10.0.0.1': ('10.0.0.1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '10.0.0.0/8 private (RFC 1918)', 'note', None),
        )),
    '127.0.0.1': ('127.0.0.1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '127.0.0.0/8 loopback (RFC 1122)', 'note', None),
        )),
    '169.254.1.1': ('169.254.1.1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '169.254.0.0/16 link-local (RFC 3927)', 'note', None),
        )),
    '192.168.1.1': ('192.168.1.1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '192.168.0.0/16 private (RFC 1918)', 'note', None),
        )),
    '192.0.2.5': ('192.0.2.5', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '192.0.2.0/24 documentation TEST-NET-1 (RFC 5737)', 'note', None),
        )),
    '100.64.0.1': ('100.64.0.1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '100.64.0.0/10 carrier-grade NAT shared space (RFC 6598)', 'note', None),
        )),
    'fe80::1%eth0': ('fe80::1%eth0', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', 'fe80::/10 link-local (RFC 4291)', 'note', None),
        )),
    '::1': ('::1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '::1/128 loopback (RFC 4291)', 'note', None),
        )),
    'fc00::1': ('fc00::1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', 'fc00::/7 unique local (RFC 4193)', 'note', None),
        )),
    '2001:db8::1': ('2001:db8::1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '2001:db8::/32 documentation (RFC 3849)', 'note', None),
        )),
    'ff02::1': ('ff02::1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', 'ff00::/8 multicast (RFC 4291)', 'note', None),
        )),
}

# The same resolver, with ``NAMES`` given (only the named addresses are listed).
EXPECTED_NAMED = {
    '3.248.0.1': ('3.248.0.1', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.248.0.0/14', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('hostname', 'region eu-west-1', 's3.eu-west-1.amazonaws.com matches *.REGION.amazonaws.com (aws)', 'hostname', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS16509 AMAZON-02', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 3.248.0.0/16', 'geoip', None),
            ('registry', 'registrant country US', 'rdap 3.248.0.0/14', 'note', None),
            ('tracecheck', 'sources disagree: country IE, country US', 'country IE (aws-ip-ranges); country IE (hostname); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '3.250.1.1': ('3.250.1.1', 'aws', 'S3', 'eu-central-1', 'DE', '', 'Frankfurt', 50.11, 8.68, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-central-1 (S3)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 3.250.0.0/22', 'provider', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('region-catalog', 'aws eu-central-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('hostname', 'region eu-west-1', 's3.eu-west-1.amazonaws.com matches *.REGION.amazonaws.com (aws)', 'hostname', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('hostname', 'region eu-central-1', 's3.eu-central-1.amazonaws.com matches *.REGION.amazonaws.com (aws)', 'hostname', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 3.248.0.0/14', 'geoip', ('US', '', '', '', '', False)),
            ('registry', 'registrant country US', 'rdap 3.248.0.0/14', 'note', None),
            ('tracecheck', 'sources disagree: country DE, country IE, country US', 'country DE (aws-ip-ranges); country IE (hostname); country DE (hostname); country US (geoip2-city); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
    '13.32.0.5': ('13.32.0.5', 'aws', 'CLOUDFRONT', 'GLOBAL', None, '', '', None, None, (), True, False, 'provider',
        (
            ('aws-ip-ranges', 'anycast (CLOUDFRONT), region GLOBAL', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 13.32.0.0/15', 'provider', (None, '', '', 'aws', '', True)),
            ('hostname', 'anycast', 'd111111abcdef8.cloudfront.net matches *.cloudfront.net (CloudFront) (aws)', 'hostname', (None, '', '', 'aws', '', True)),
        )),
    '20.60.1.1': ('20.60.1.1', 'azure', 'AzureCloud', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('azure-service-tags', 'no region (AzureCloud): a global range, no single place published', 'Azure Service Tags (Public) changeNumber 376 2025-11-03 sha256:efb3385bc0f1 prefix 20.60.0.0/16', 'provider', (None, '', '', 'azure', '', True)),
            ('hostname', 'region westeurope', 'myapp.westeurope.cloudapp.azure.com matches *.REGION.cloudapp.azure.com (azure)', 'hostname', ('NL', '', 'westeurope', 'azure', 'Amsterdam', False)),
            ('region-catalog', 'azure westeurope is in NL (Amsterdam)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('registry', 'registrant country IE', 'rdap 20.60.0.0/16', 'note', None),
            ('tracecheck', 'sources disagree: anycast, country NL', 'anycast (azure-service-tags); country NL (hostname); the most authoritative, azure-service-tags, decides', 'note', None),
        )),
    '1.1.1.1': ('1.1.1.1', 'aws', '', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'hostname',
        (
            ('hostname', 'region eu-west-1', 'api.mypurecloud.ie matches Genesys Cloud region domain mypurecloud.ie (aws)', 'hostname', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('registry', 'registrant country AU', 'rdap 1.1.0.0/16', 'note', None),
        )),
    '9.9.9.9': ('9.9.9.9', '', '', '', None, '', '', None, None, (), False, False, None,
        (
        )),
    '10.0.0.1': ('10.0.0.1', '', '', '', None, '', '', None, None, (), False, True, None,
        (
            ('special-ranges', 'local', '10.0.0.0/8 private (RFC 1918)', 'note', None),
            ('hostname', 'region eu-central-1', 'api.mypurecloud.de matches Genesys Cloud region domain mypurecloud.de (aws)', 'hostname', None),
        )),
    '104.16.0.1': ('104.16.0.1', 'cloudflare', 'Cloudflare', '', None, '', '', None, None, (), True, False, 'provider',
        (
            ('cloudflare-ips-v4', 'anycast (Cloudflare)', 'Cloudflare cloudflare-ips-v4 date unknown (file time 2026-01-01) sha256:3ac24f3f88c3 prefix 104.16.0.0/13', 'provider', (None, '', '', 'cloudflare', '', True)),
            ('hostname', 'region eu-west-1', 'api.mypurecloud.ie matches Genesys Cloud region domain mypurecloud.ie (aws)', 'hostname', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('geoip2-city', 'anycast', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 104.16.0.0/13', 'geoip', (None, '', '', '', '', True)),
            ('geoip2-city', 'country US', 'GeoIP2-City city.mmdb 2026-02-02 sha256:0c1936df6ddb prefix 104.16.0.0/13', 'geoip', ('US', '', '', '', '', False)),
            ('geolite2-asn', 'AS13335 CLOUDFLARENET', 'GeoLite2-ASN asn.mmdb 2026-02-02 sha256:e19d2864e13d prefix 104.16.0.0/13', 'geoip', None),
            ('tracecheck', 'sources disagree: anycast, country IE', 'anycast (cloudflare-ips-v4); country IE (hostname); anycast (geoip2-city); the most authoritative, cloudflare-ips-v4, decides', 'note', None),
        )),
    '2a05:d018::1': ('2a05:d018::1', 'aws', 'EC2', 'eu-west-1', 'IE', '', 'Dublin', 53.35, -6.26, ('EEA', 'EU'), False, False, 'provider',
        (
            ('aws-ip-ranges', 'region eu-west-1 (EC2)', 'AWS ip-ranges.json 2026-08-22 sha256:9c4c9eca1293 prefix 2a05:d018::/36', 'provider', ('IE', '', 'eu-west-1', 'aws', 'Dublin', False)),
            ('region-catalog', 'aws eu-west-1 is in IE (Dublin)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('hostname', 'region eu-central-1', 'ec2.eu-central-1.amazonaws.com matches *.REGION.amazonaws.com (aws)', 'hostname', ('DE', '', 'eu-central-1', 'aws', 'Frankfurt', False)),
            ('region-catalog', 'aws eu-central-1 is in DE (Frankfurt)', 'geo_db/regions.yaml, source https://example.test/regions', 'catalog', None),
            ('tracecheck', 'sources disagree: country DE, country IE', 'country IE (aws-ip-ranges); country DE (hostname); the most authoritative, aws-ip-ranges, decides', 'note', None),
        )),
}


# --------------------------------------------------------------------------- synthetic files, pinned values


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Resolver:
    return sample_resolver(tmp_path_factory.mktemp("equivalence"))


def test_every_place_is_as_captured(sample):
    places = sample.resolve(ADDRESSES)
    assert list(places) == ADDRESSES
    assert {ip: snapshot(place) for ip, place in places.items()} == EXPECTED
    assert all(type(place) is Place and place.ip == ip for ip, place in places.items())


def test_names_add_the_same_evidence_as_before(sample):
    places = sample.resolve(ADDRESSES, NAMES)
    assert {ip: snapshot(places[ip]) for ip in NAMES} == EXPECTED_NAMED
    unnamed = [ip for ip in ADDRESSES if ip not in NAMES]
    assert {ip: snapshot(places[ip]) for ip in unnamed} == {ip: EXPECTED[ip] for ip in unnamed}


def test_order_duplicates_and_earlier_batches_change_nothing(sample):
    shuffled = ADDRESSES * 2
    random.Random(4).shuffle(shuffled)
    for batch in (shuffled, list(reversed(ADDRESSES)), ADDRESSES[::3], ADDRESSES[1::3]):
        places = sample.resolve(batch)
        assert list(places) == list(dict.fromkeys(batch))
        assert {ip: snapshot(place) for ip, place in places.items()} == {ip: EXPECTED[ip] for ip in places}


def test_each_address_gets_its_own_place(sample):
    places = sample.resolve(["3.248.0.1", "3.248.0.2"])
    first, second = places["3.248.0.1"], places["3.248.0.2"]
    assert first is not second and (first.ip, second.ip) == ("3.248.0.1", "3.248.0.2")
    assert first == Place(**{**first.__dict__}) and hash(first) == hash(Place(**{**first.__dict__}))


def test_places_that_decide_alike_share_no_mutable_state(sample):
    """Places of one decision (and one combination) are copies of dicts the resolver keeps: none
    is theirs to change, and changing a Place's own dict reaches no other Place, now or later."""
    batch = ["3.248.0.1", "3.248.0.2", "3.250.1.1", "10.0.0.1", "10.0.0.2"]
    places = sample.resolve(batch)
    before = {ip: snapshot(place) for ip, place in places.items()}
    first, second = places["3.248.0.1"], places["3.248.0.2"]
    assert before["3.248.0.1"][1:] == before["3.248.0.2"][1:]  # the same answers: only the address differs
    assert len({id(vars(place)) for place in places.values()}) == len(batch)
    with pytest.raises(FrozenInstanceError):
        first.region = "elsewhere"  # type: ignore[misc]
    for place in (first, places["10.0.0.1"]):  # even by the back door: only that Place changes
        vars(place).update(region="elsewhere", service="changed", evidence=(), jurisdictions=("XX",))
    assert snapshot(second) == before["3.248.0.2"] and snapshot(places["10.0.0.2"]) == before["10.0.0.2"]
    assert {ip: snapshot(place) for ip, place in sample.resolve(batch).items()} == before


def test_the_reference_agrees_on_the_synthetic_files(sample):
    assert resolved(sample, ADDRESSES, NAMES) == resolved(sample, ADDRESSES, NAMES, reference=True)


# --------------------------------------------------------------------------- the real files, against a reference


def reference_places(resolver: Resolver, ips, names=None, *, find_region=None, jurisdictions=None) -> dict[str, Place]:
    """One address at a time: each source asked for its own answer, then ``authority.place_fields``."""
    find_region = find_region or resolver.find_region
    jurisdictions = jurisdictions or resolver.jurisdictions
    known = lambda code, provider: find_region(code, provider) is not None  # noqa: E731
    out: dict[str, Place] = {}
    for ip in dict.fromkeys(ips):
        keys = AddressKeys.parse([ip])
        hints = [hint for name in (names or {}).get(ip, ()) for hint in hints_for(name, known)]
        local = int(local_table().find(keys)[0])
        if local >= 0:
            network, why = LOCAL_NETWORKS[local]
            evidence = (Evidence(LOCAL_SOURCE, "local", f"{network} {why}"),)
            evidence += tuple(dict.fromkeys(hint.evidence() for hint in hints))
            out[ip] = Place(ip=ip, local=True, evidence=evidence)
            continue
        answers = []
        for source in resolver._table_sources():
            rows = tuple(int(table.find(keys)[0]) for table in source.tables)
            answer = source.answer(rows) if max(rows) >= 0 else None
            if answer is not None:
                answers.append(answer)
        for source in resolver.point_sources:
            answer = source.lookup_many([ip])[0]
            if answer is not None:
                answers.append(answer)
        answers += [_hint_answer(hint, find_region) for hint in hints]
        out[ip] = Place(ip=ip, **place_fields(answers, find_region, jurisdictions))
    return out


def resolved(resolver, ips, names=None, reference=False, **facts) -> dict[str, tuple]:
    places = reference_places(resolver, ips, names, **facts) if reference else resolver.resolve(ips, names)
    return {ip: snapshot(place) for ip, place in places.items()}


def shared_data() -> Path | None:
    configured = os.environ.get("TRACECHECK_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data if (data / "cloud").is_dir() else None


DATA = shared_data()


def real_addresses(resolver: Resolver, count: int, rng: random.Random) -> list[str]:
    """Inside published prefixes (most), in GeoIP test networks, random public, local, mapped."""
    prefixes = [record.network for source in resolver.range_sources for record in source.parsed.prefixes]
    out: set[str] = set()
    while len(out) < count * 6 // 10:
        network = ipaddress.ip_network(rng.choice(prefixes), strict=False)
        out.add(str(network.network_address + rng.randrange(min(network.num_addresses, 2**63))))
    for network in ("81.2.69.0/24", "2001:218::/32", "89.160.20.112/28", "216.160.83.56/29", "1.128.0.0/11"):
        network = ipaddress.ip_network(network)
        for _ in range(20):
            out.add(str(network.network_address + rng.randrange(network.num_addresses)))
    for network in ("10.0.0.0/8", "192.168.0.0/16", "fe80::/10", "2001:db8::/32", "100.64.0.0/10"):
        network = ipaddress.ip_network(network)
        for _ in range(10):
            out.add(str(network.network_address + rng.randrange(network.num_addresses)))
    mapped = [f"::ffff:{ip}" for ip in list(out)[:20] if ":" not in ip]
    out.update(mapped)
    while len(out) < count:
        if rng.random() < 0.2:
            out.add(str(ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(124))))
        else:
            out.add(str(ipaddress.IPv4Address(rng.randint(1 << 24, 223 << 24))))
    addresses = sorted(out)
    rng.shuffle(addresses)
    return addresses


@pytest.mark.skipif(DATA is None, reason="../shared/data is not present")
def test_the_real_files_resolve_as_the_reference_does():
    from tracecheck.geo import catalog

    cloud, geoip = DATA / "cloud", DATA / "geoip"
    wanted = [("aws-ip-ranges.json", "aws"), ("azure-ServiceTags_Public.json", "azure"), ("gcp-cloud.json", "gcp"),
              ("oracle-public_ip_ranges.json", "oracle"), ("cloudflare-ips-v4.txt", "cloudflare"),
              ("cloudflare-ips-v6.txt", "cloudflare"), ("fastly-public-ip-list.json", "fastly"),
              ("digitalocean-geo.csv", "geofeed")]
    files = [(cloud / name, kind) for name, kind in wanted if (cloud / name).is_file()]
    files += [(geoip / name, "mmdb") for name in ("GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb")
              if (geoip / name).is_file()]
    resolver = Resolver.from_files(files)
    rng = random.Random(20260822)
    addresses = real_addresses(resolver, 2000, rng)
    hostnames = ["api.mypurecloud.ie", "s3.eu-central-1.amazonaws.com", "x.westeurope.cloudapp.azure.com",
                 "europe-west1-run.googleapis.com", "d1.cloudfront.net", "www.example.com"]
    names = {ip: rng.sample(hostnames, rng.randint(1, 2)) for ip in addresses[::15]}
    facts = {"find_region": catalog.find_region, "jurisdictions": catalog.load_jurisdictions()}
    expected = resolved(resolver, addresses, names, reference=True, **facts)
    assert resolved(resolver, addresses[:700]) == {ip: resolved(resolver, [ip], reference=True, **facts)[ip]
                                                   for ip in addresses[:700]}
    assert resolved(resolver, addresses, names) == expected
    assert resolved(resolver, list(reversed(addresses)), names) == expected
