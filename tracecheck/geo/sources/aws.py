"""AWS ``ip-ranges.json`` (https://ip-ranges.amazonaws.com/ip-ranges.json).

Schema: ``{syncToken, createDate: "YYYY-MM-DD-hh-mm-ss", prefixes: [{ip_prefix, region,
service, network_border_group}], ipv6_prefixes: [{ipv6_prefix, ...}]}``.  Region ``GLOBAL``
(CloudFront, Route 53, Global Accelerator edges) is served from every edge location: anycast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, load_json, read_bytes, require, schema_error,
    sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "aws"
NAME = "aws-ip-ranges"
LABEL = "AWS ip-ranges.json"
WHAT = "an AWS ip-ranges.json"
OFFICIAL_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"


def _create_date(text: str) -> str:
    """``2026-08-22-21-17-05`` (UTC) -> ``2026-08-22T21:17:05Z``."""
    stamp = dt.datetime.strptime(text, "%Y-%m-%d-%H-%M-%S")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    doc = load_json(path, data, WHAT)
    require(isinstance(doc, dict) and "prefixes" in doc and "createDate" in doc, path, WHAT,
            "no 'prefixes' or 'createDate'")
    try:
        date = _create_date(str(doc["createDate"]))
        records = []
        for key, items in (("ip_prefix", doc["prefixes"]), ("ipv6_prefix", doc.get("ipv6_prefixes", []))):
            for item in items:
                region = item["region"]
                records.append(PrefixRecord(
                    network=item[key], provider="aws", service=item.get("service", ""), region=region,
                    anycast=region == "GLOBAL", border_group=item.get("network_border_group", ""),
                ))
    except (KeyError, TypeError, ValueError) as err:
        raise schema_error(path, WHAT, err) from None
    info = SourceInfo(name=NAME, kind=KIND, version=str(doc.get("syncToken", "")), date=date,
                      sha256=sha256_hex(data), prefixes=len(records))
    return RangeFile(info=info, label=LABEL, kind=SourceKind.PROVIDER, prefixes=records, date_basis="content")

