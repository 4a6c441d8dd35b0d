"""Genesys Cloud's published ranges (``GET https://api.{region domain}/api/v2/ipranges``).

Schema: ``{entities: [{cidr, service, region}]}``, ``region`` an AWS region code: Genesys Cloud
runs in AWS, so these are AWS addresses that Genesys says it uses (API, media, TURN, SMTP ...).
The API needs an OAuth token, so this source is imported from a saved response, never fetched.
"""

from __future__ import annotations

from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, load_json, mtime_date, read_bytes, require,
    schema_error, sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "genesys"
NAME = "genesys-ipranges"
LABEL = "Genesys Cloud /api/v2/ipranges"
WHAT = "a Genesys Cloud /api/v2/ipranges response"


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    doc = load_json(path, data, WHAT)
    require(isinstance(doc, dict) and isinstance(doc.get("entities"), list), path, WHAT, "no 'entities' list")
    try:
        records = [
            PrefixRecord(network=item["cidr"], provider="aws",
                         service=f"Genesys Cloud {item.get('service') or ''}".strip(), region=item.get("region") or "")
            for item in doc["entities"]
        ]
    except (KeyError, TypeError) as err:
        raise schema_error(path, WHAT, err) from None
    info = SourceInfo(name=NAME, kind=KIND, version="", date=mtime_date(path), sha256=sha256_hex(data),
                      prefixes=len(records))
    return RangeFile(info=info, label=LABEL, kind=SourceKind.PROVIDER, prefixes=records, date_basis="mtime")
