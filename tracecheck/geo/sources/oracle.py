"""Oracle Cloud ``public_ip_ranges.json`` (https://docs.oracle.com/iaas/tools/public_ip_ranges.json).

Schema: ``{last_updated_timestamp, regions: [{region, cidrs: [{cidr, tags: [OCI|OSN|OBJECT_STORAGE]}]}]}``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, load_json, read_bytes, require, schema_error,
    sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "oracle"
NAME = "oracle-public-ip-ranges"
LABEL = "Oracle public_ip_ranges.json"
WHAT = "an Oracle public_ip_ranges.json"
OFFICIAL_URL = "https://docs.oracle.com/iaas/tools/public_ip_ranges.json"


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    doc = load_json(path, data, WHAT)
    require(isinstance(doc, dict) and isinstance(doc.get("regions"), list), path, WHAT, "no 'regions' list")
    try:
        stamp = dt.datetime.fromisoformat(str(doc["last_updated_timestamp"]).rstrip("Z"))
        records = [
            PrefixRecord(network=cidr["cidr"], provider="oracle", service="/".join(cidr.get("tags") or []),
                         region=region["region"])
            for region in doc["regions"]
            for cidr in region["cidrs"]
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise schema_error(path, WHAT, err) from None
    info = SourceInfo(name=NAME, kind=KIND, version=str(doc["last_updated_timestamp"]),
                      date=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), sha256=sha256_hex(data), prefixes=len(records))
    return RangeFile(info=info, label=LABEL, kind=SourceKind.PROVIDER, prefixes=records, date_basis="content")
