"""Cloudflare's address lists (https://www.cloudflare.com/ips-v4 and /ips-v6).

One CIDR per line, nothing else: every Cloudflare address is anycast, so no country.
The lists carry no date; the store records the download's Last-Modified or the file's mtime.
"""

from __future__ import annotations

from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, looks_like_prefix, mtime_date, read_bytes, require, sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "cloudflare"
WHAT = "a Cloudflare ips-v4/ips-v6 list"
OFFICIAL_URLS = {
    "cloudflare-ips-v4": "https://www.cloudflare.com/ips-v4",
    "cloudflare-ips-v6": "https://www.cloudflare.com/ips-v6",
}


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        text = ""
        require(False, path, WHAT, "not plain text")
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line and not line.startswith("#")]
    for number, line in lines:
        # Nothing but the prefix: a geofeed's country or a JSON file's braces mean another format.
        require(looks_like_prefix(line), f"{path}:{number}", f"{WHAT} line", f"{line[:60]!r} is not an IP prefix")
    records = [PrefixRecord(network=line, provider="cloudflare", service="Cloudflare", anycast=True)
               for _, line in lines]
    require(bool(records), path, WHAT, "no prefixes")
    families = {"v6" if ":" in record.network else "v4" for record in records}
    name = f"cloudflare-ips-{families.pop()}" if len(families) == 1 else "cloudflare-ips"
    info = SourceInfo(name=name, kind=KIND, version="", date=mtime_date(path), sha256=sha256_hex(data),
                      prefixes=len(records))
    return RangeFile(info=info, label=f"Cloudflare {name}", kind=SourceKind.PROVIDER, prefixes=records,
                     date_basis="mtime")
