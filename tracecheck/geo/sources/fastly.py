"""Fastly's ``public-ip-list`` (https://api.fastly.com/public-ip-list).

Schema: ``{addresses: [CIDR], ipv6_addresses: [CIDR]}``.  Fastly's edge is anycast: no country.
"""

from __future__ import annotations

from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, load_json, mtime_date, read_bytes, require,
    sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "fastly"
NAME = "fastly-public-ip-list"
LABEL = "Fastly public-ip-list"
WHAT = "a Fastly public-ip-list JSON"
OFFICIAL_URL = "https://api.fastly.com/public-ip-list"


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    doc = load_json(path, data, WHAT)
    require(isinstance(doc, dict) and isinstance(doc.get("addresses"), list), path, WHAT, "no 'addresses' list")
    networks = list(doc["addresses"]) + list(doc.get("ipv6_addresses") or [])
    require(all(isinstance(n, str) for n in networks), path, WHAT, "an address that is not a string")
    records = [PrefixRecord(network=n, provider="fastly", service="Fastly", anycast=True) for n in networks]
    info = SourceInfo(name=NAME, kind=KIND, version="", date=mtime_date(path), sha256=sha256_hex(data),
                      prefixes=len(records))
    return RangeFile(info=info, label=LABEL, kind=SourceKind.PROVIDER, prefixes=records, date_basis="mtime")
