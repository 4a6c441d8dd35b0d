"""Google Cloud ``cloud.json`` and Google's ``goog.json`` (https://www.gstatic.com/ipranges/).

``cloud.json``: ``{syncToken, creationTime, prefixes: [{ipv4Prefix|ipv6Prefix, service, scope}]}``;
``scope`` is a region (``europe-west1``) or ``global`` (Google front ends: anycast).
``goog.json`` has the same shape without ``service``/``scope``: every Google-owned prefix,
mostly served from Google's edge, so anycast unless ``cloud.json`` (more specific) says a region.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, load_json, read_bytes, require, schema_error,
    sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "gcp"
GOOGLE_KIND = "google"
NAME = "gcp-cloud"
GOOGLE_NAME = "google-goog"
WHAT = "a Google cloud.json / goog.json file"
OFFICIAL_URL = "https://www.gstatic.com/ipranges/cloud.json"
GOOGLE_URL = "https://www.gstatic.com/ipranges/goog.json"


def _creation_time(text: str) -> str:
    """``2025-07-24T19:16:28.780563`` (UTC, no zone) -> ``2025-07-24T19:16:28Z``."""
    stamp = dt.datetime.fromisoformat(text.rstrip("Z"))
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    doc = load_json(path, data, WHAT)
    require(isinstance(doc, dict) and isinstance(doc.get("prefixes"), list), path, WHAT, "no 'prefixes' list")
    whole_google = not any("scope" in item for item in doc["prefixes"][:50])
    try:
        date = _creation_time(str(doc["creationTime"]))
        records = []
        for item in doc["prefixes"]:
            network = item.get("ipv4Prefix") or item["ipv6Prefix"]
            if whole_google:
                records.append(PrefixRecord(network=network, provider="google", service="Google", anycast=True))
                continue
            scope = item.get("scope", "")
            records.append(PrefixRecord(network=network, provider="gcp", service=item.get("service", ""),
                                        region=scope, anycast=scope == "global"))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise schema_error(path, WHAT, err) from None
    info = SourceInfo(name=GOOGLE_NAME if whole_google else NAME, kind=GOOGLE_KIND if whole_google else KIND, version=str(doc.get("syncToken", "")),
                      date=date, sha256=sha256_hex(data), prefixes=len(records))
    label = "Google goog.json" if whole_google else "GCP cloud.json"
    return RangeFile(info=info, label=label, kind=SourceKind.PROVIDER, prefixes=records, date_basis="content")
