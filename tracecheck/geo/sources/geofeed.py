"""RFC 8805 self-published geofeeds (DigitalOcean's https://digitalocean.com/geo/google.csv, ...).

CSV lines ``ip_prefix,alpha2code,region,city,postal_code``; ``region`` is ISO 3166-2 (``US-CA``);
``#`` starts a comment; empty fields mean "not said".  The operator is the provider, named from
the file (``digitalocean-geo.csv`` or ``geofeed-digitalocean.csv`` -> ``digitalocean``).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tracecheck.errors import UserError
from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, looks_like_prefix, mtime_date, read_bytes, require, sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "geofeed"
WHAT = "an RFC 8805 geofeed CSV"
OFFICIAL_URLS = {"geofeed-digitalocean": "https://digitalocean.com/geo/google.csv"}
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def operator_from_filename(path: Path) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", Path(path).stem.lower()).strip("-")
    stem = stem.removeprefix("geofeed-")
    return stem.split("-")[0] or "geofeed"


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not {WHAT}: not UTF-8 text; check --source") from None
    operator = operator_from_filename(path)
    records = []
    has_columns = False
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        has_columns = has_columns or len(row) > 1
        fields = [field.strip() for field in row] + [""] * 5
        network, country, region, city = fields[0], fields[1].upper(), fields[2].upper(), fields[3]
        if not looks_like_prefix(network):
            raise UserError(f"{path}:{number} is not {WHAT} line: {network[:60]!r} is not an IP prefix; check --source")
        if country and not _COUNTRY.match(country):
            raise UserError(f"{path}:{number}: {country!r} is not an ISO 3166-1 alpha-2 country code")
        if region and "-" not in region and country:
            region = f"{country}-{region}"  # some feeds omit the country part of ISO 3166-2
        records.append(PrefixRecord(network=network, provider=operator, service="geofeed",
                                    country=country or None, subdivision=region, city=city))
    require(bool(records), path, WHAT, "no prefixes")
    if not has_columns:  # one prefix a line and nothing else says no place at all
        raise UserError(f"{path} is not {WHAT} (prefix,country,region,city,postal): no line has a country "
                        "column, it looks like a plain prefix list; if it is Cloudflare's, use --source cloudflare")
    info = SourceInfo(name=f"geofeed-{operator}", kind=KIND, version="", date=mtime_date(path),
                      sha256=sha256_hex(data), prefixes=len(records))
    return RangeFile(info=info, label=f"{operator} geofeed (RFC 8805)", kind=SourceKind.GEOFEED,
                     prefixes=records, date_basis="mtime")
