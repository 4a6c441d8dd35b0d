"""Small files in each publisher's official schema, written by tests (no shared data needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mmdb_writer import write_mmdb

AWS_SAMPLE = {
    "syncToken": "1787433425",
    "createDate": "2026-08-22-21-17-05",
    "prefixes": [
        {"ip_prefix": "3.248.0.0/14", "region": "eu-west-1", "service": "AMAZON", "network_border_group": "eu-west-1"},
        {"ip_prefix": "3.248.0.0/14", "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"},
        {"ip_prefix": "3.250.0.0/22", "region": "eu-central-1", "service": "S3", "network_border_group": "eu-central-1"},
        {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"},
        {"ip_prefix": "15.181.232.0/21", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1-lim-1"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2a05:d018::/36", "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"},
        {"ipv6_prefix": "2a05:d018:400::/40", "region": "eu-central-1", "service": "EC2", "network_border_group": "eu-central-1"},
        {"ipv6_prefix": "2600:9000::/28", "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"},
    ],
}

AZURE_SAMPLE = {
    "changeNumber": 376,
    "cloud": "Public",
    "values": [
        {"name": "AzureCloud", "id": "AzureCloud", "properties": {
            "changeNumber": 9, "region": "", "regionId": 0, "platform": "Azure", "systemService": "",
            "addressPrefixes": ["20.50.0.0/16", "20.60.0.0/16"], "networkFeatures": ["API", "NSG"]}},
        {"name": "AzureCloud.westeurope", "id": "AzureCloud.westeurope", "properties": {
            "changeNumber": 5, "region": "westeurope", "regionId": 18, "platform": "Azure", "systemService": "",
            "addressPrefixes": ["20.50.0.0/16", "2603:1020:200::/46"], "networkFeatures": None}},
        {"name": "AzureFrontDoor.Frontend", "id": "AzureFrontDoor.Frontend", "properties": {
            "changeNumber": 3, "region": "", "regionId": 0, "platform": "Azure", "systemService": "AzureFrontDoor",
            "addressPrefixes": ["20.50.8.0/24"], "networkFeatures": ["API"]}},
        {"name": "Storage.NorthEurope", "id": "Storage.NorthEurope", "properties": {
            "changeNumber": 2, "region": "northeurope", "regionId": 17, "platform": "Azure", "systemService": "AzureStorage",
            "addressPrefixes": ["20.50.64.0/20"], "networkFeatures": None}},
    ],
}

GCP_SAMPLE = {
    "syncToken": "1753409788780",
    "creationTime": "2025-07-24T19:16:28.780563",
    "prefixes": [
        {"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", "scope": "africa-south1"},
        {"ipv4Prefix": "34.8.0.0/16", "service": "Google Cloud", "scope": "global"},
        {"ipv6Prefix": "2600:1900:4000::/44", "service": "Google Cloud", "scope": "europe-west1"},
    ],
}

GOOG_SAMPLE = {"syncToken": "1", "creationTime": "2025-07-24T19:16:28.780563",
               "prefixes": [{"ipv4Prefix": "8.8.4.0/24"}, {"ipv6Prefix": "2001:4860::/32"}]}

ORACLE_SAMPLE = {
    "last_updated_timestamp": "2025-07-21T07:13:25.457838",
    "regions": [
        {"region": "eu-frankfurt-1", "cidrs": [{"cidr": "130.61.0.0/16", "tags": ["OCI"]},
                                              {"cidr": "134.70.24.0/21", "tags": ["OBJECT_STORAGE"]}]},
        {"region": "us-ashburn-1", "cidrs": [{"cidr": "129.80.0.0/16", "tags": ["OCI"]}]},
    ],
}

GEOFEED_SAMPLE = """\
# DigitalOcean-style RFC 8805 geofeed
5.101.96.0/21,NL,NL-NH,Amsterdam,1098 XH
24.144.68.0/22,US,US-CA,Santa Clara,95054

2a03:b0c0:3::/48,DE,DE-HE,Frankfurt,
"192.0.2.0/24",,,,
"""

GENESYS_SAMPLE = {"entities": [
    {"cidr": "52.50.0.0/16", "service": "api", "region": "eu-west-1"},
    {"cidr": "54.216.0.0/15", "service": "media", "region": "eu-west-1"},
]}

FASTLY_SAMPLE = {"addresses": ["151.101.0.0/16", "199.232.0.0/16"], "ipv6_addresses": ["2a04:4e42::/32"]}


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def write_sample_files(tmp_path: Path) -> dict[str, Path]:
    """One file per kind, in its publisher's schema, each dated 2026-01-01 by its mtime."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = {
        "aws": write_json(tmp_path / "ip-ranges.json", AWS_SAMPLE),
        "azure": write_json(tmp_path / "ServiceTags_Public_20251103.json", AZURE_SAMPLE),
        "gcp": write_json(tmp_path / "cloud.json", GCP_SAMPLE),
        "google": write_json(tmp_path / "goog.json", GOOG_SAMPLE),
        "oracle": write_json(tmp_path / "public_ip_ranges.json", ORACLE_SAMPLE),
        "fastly": write_json(tmp_path / "public-ip-list.json", FASTLY_SAMPLE),
        "genesys": write_json(tmp_path / "genesys-ipranges.json", GENESYS_SAMPLE),
    }
    files["cloudflare"] = tmp_path / "ips-v4"
    files["cloudflare"].write_text("104.16.0.0/13\n172.64.0.0/13\n")
    files["geofeed"] = tmp_path / "digitalocean-geo.csv"
    files["geofeed"].write_text(GEOFEED_SAMPLE)
    for path in files.values():  # a fixed mtime: the date of formats that carry none
        os.utime(path, (1_767_225_600, 1_767_225_600))  # 2026-01-01
    return files



def city_database(path: Path, **options) -> Path:
    return write_mmdb(path, {
        "81.2.69.0/24": {"country": {"iso_code": "GB"}, "city": {"names": {"en": "London"}},
                         "subdivisions": [{"iso_code": "ENG"}], "location": {"latitude": 51.51, "longitude": -0.09}},
        "2001:218::/32": {"country": {"iso_code": "JP"}},
        "104.16.0.0/13": {"country": {"iso_code": "US"}, "traits": {"is_anycast": True}},
        "3.248.0.0/14": {"country": {"iso_code": "US"}},
    }, database_type="GeoIP2-City", **options)
