"""What every data source hands the look-up engine, and the helpers their readers share.

A *range file* (AWS, Azure, GCP, Oracle, Cloudflare, Fastly, Genesys, geofeeds) becomes a
``RangeFile``: its provenance (``SourceInfo``) and a list of ``PrefixRecord``.  Sources that are
asked one address at a time (MaxMind-format databases, RDAP) answer with an ``Answer`` directly.
Either way, what reaches a report is an ``Answer``: one source's claim about one address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tracecheck.errors import UserError
from tracecheck.vocabulary import Evidence, SourceInfo, SourceKind


class PrefixRecord(NamedTuple):
    """One published prefix and what its publisher says about it.

    A NamedTuple, not a dataclass: Azure alone publishes ~100k of these per file.
    """

    network: str
    """The prefix exactly as published (``3.248.0.0/14``)."""
    provider: str
    """``aws``, ``azure``, ``gcp``, ``oracle``, ``cloudflare``, ``fastly``, or a geofeed's operator."""
    service: str = ""
    """The publisher's service label (``EC2``, ``AzureCloud``, ``Google Cloud``, ``OCI``)."""
    region: str = ""
    """The provider's own region code (``eu-west-1``, ``westeurope``, ``GLOBAL``)."""
    country: str | None = None
    """ISO 3166-1 alpha-2, when the source itself says (geofeeds)."""
    anycast: bool = False
    """Announced from many places: no country may be claimed."""
    subdivision: str = ""
    """ISO 3166-2 (``US-CA``), when the source itself says (geofeeds)."""
    city: str = ""
    border_group: str = ""
    """AWS ``network_border_group``: a Local Zone may sit in another country than its region."""


@dataclass(frozen=True)
class RangeFile:
    """A parsed range file: provenance plus every prefix it publishes."""

    info: SourceInfo
    label: str
    """How evidence names the file: ``AWS ip-ranges.json``."""
    kind: SourceKind
    """What the file can prove: ``PROVIDER`` for a provider's own ranges, ``GEOFEED``."""
    prefixes: list[PrefixRecord]
    date_basis: str
    """Where ``info.date`` came from: ``content``, ``filename`` or ``mtime`` (the file has no date;
    a download is dated ``http-last-modified`` or ``download-time`` instead, see ``FILE_TIME_BASES``)."""


class Answer(NamedTuple):
    """One source's answer for one address."""

    source: str
    """The ``SourceInfo.name`` of the source that answered."""
    kind: SourceKind
    """What kind of source answered: its rank is ``SOURCE_RANK[kind]``."""
    provider: str = ""
    service: str = ""
    region: str = ""
    border_group: str = ""
    country: str | None = None
    subdivision: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    anycast: bool = False
    network: str = ""
    """The matching prefix."""
    evidence: tuple[Evidence, ...] = ()

    @property
    def prefixlen(self) -> int:
        return int(self.network.rpartition("/")[2] or 0) if self.network else 0

    @property
    def located(self) -> bool:
        """Says where (a region, a country) or that no single place can be said."""
        return bool(self.region or self.country or self.anycast)


# --------------------------------------------------------------------------- helpers for readers


def read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_json(path: Path, data: bytes, what: str) -> Any:
    """Parse JSON; anything else is a UserError that names the file and what was expected."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is not {what} (invalid JSON: {err}); check --source") from None


def require(condition: bool, path: Path, what: str, problem: str) -> None:
    if not condition:
        raise UserError(f"{path} is not {what}: {problem}; check --source")


def schema_error(path: Path, what: str, err: Exception) -> UserError:
    """A field missing or of the wrong type, as one line: the file, the format, the field."""
    field = f"{type(err).__name__} {err}" if not isinstance(err, KeyError) else f"field {err} missing"
    return UserError(f"{path} is not {what}: {field}; check --source")


_PREFIX = re.compile(r"^(?=[^/]*[.:])[0-9A-Fa-f:.]+(?:/\d{1,3})?$")


def looks_like_prefix(text: str) -> bool:
    """Shaped like an address or a prefix (``104.16.0.0/13``, ``2a06:98c0::/29``): enough to tell
    a list of prefixes from other text; the range tables check each one exactly."""
    return bool(_PREFIX.match(text))


def mtime_date(path: Path) -> str:
    """The file's modification date, for formats that carry no date of their own."""
    stamp = Path(path).stat().st_mtime
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).date().isoformat()


def iso_from_epoch(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_FILENAME_DATE = re.compile(r"(20\d\d)(\d\d)(\d\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def filename_date(path: Path) -> str:
    """``ServiceTags_Public_20251103.json`` -> ``2025-11-03``; ``""`` when the name has none."""
    match = _FILENAME_DATE.search(Path(path).name)
    if not match:
        return ""
    try:
        return dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        return ""


def evidence_detail(label: str, date: str, sha256: str, network: str) -> str:
    """``AWS ip-ranges.json 2026-08-22 sha256:1a2b3c4d5e6f prefix 3.248.0.0/14``."""
    parts = [label, date[:10] if _ISO_DATE.match(date) else (date or "undated"), f"sha256:{sha256[:12]}"]
    if network:
        parts.append(f"prefix {network}")
    return " ".join(parts)
