"""RDAP registration data via ``ipwhois``: only when the user passes ``--rdap``.

Weak evidence: the registrant's country is where the address holder registered, not where the
host is (a US company's /16 may be announced from Frankfurt).  It is asked last and only fills
a country that no other source gave.  Every answer is cached on disk in the data directory,
by the registered network, so one query covers every address of that network and a re-run of
the same capture sends nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from tracecheck.geo.sources.interface import Answer
from tracecheck.vocabulary import Evidence, Located, SourceInfo, SourceKind

KIND = "rdap"
NAME = "rdap"
CACHE_FILE = "rdap-cache.json"
REFRESH_DAYS = 90

Fetch = Callable[[str], dict[str, Any]]


def fetch_with_ipwhois(address: str) -> dict[str, Any]:
    """One RDAP query (plus ipwhois's ASN look-up); the network leaves the machine here."""
    from ipwhois import IPWhois

    result = IPWhois(address, timeout=10).lookup_rdap(depth=0, retry_count=1)
    network = result.get("network") or {}
    return {
        "cidr": network.get("cidr") or result.get("asn_cidr") or "",
        "name": network.get("name") or "",
        "country": network.get("country") or "",
        "asn": result.get("asn") or "",
        "asn_country": result.get("asn_country_code") or "",
        "asn_description": result.get("asn_description") or "",
        "registry": result.get("asn_registry") or "",
    }


class RdapClient:
    """Registrant country and ASN per address, from the on-disk cache or one RDAP query."""

    kind = SourceKind.REGISTRY

    def __init__(self, cache_dir: Path, fetch: Fetch | None = None, today: dt.date | None = None):
        self.cache_path = Path(cache_dir) / CACHE_FILE
        self.fetch = fetch or fetch_with_ipwhois
        self.today = today or dt.date.today()
        self.entries: list[dict[str, Any]] = self._read_cache()

    @property
    def info(self) -> SourceInfo:
        try:
            from importlib.metadata import version

            tool = f"ipwhois {version('ipwhois')}"
        except Exception:  # noqa: BLE001 - the version is a courtesy
            tool = "ipwhois"
        return SourceInfo(name=NAME, kind=KIND, version=tool, date=self.today.isoformat(), sha256="",
                          prefixes=len(self.entries))

    def _read_cache(self) -> list[dict[str, Any]]:
        try:
            entries = json.loads(self.cache_path.read_text()).get("networks", [])
            return [e for e in entries if isinstance(e, dict) and e.get("cidr")]
        except (OSError, ValueError, AttributeError):
            return []

    def _write_cache(self) -> None:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"networks": sorted(self.entries, key=lambda e: e["cidr"])}, indent=1, sort_keys=True)
        with tempfile.NamedTemporaryFile("w", dir=self.cache_path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(body)
        os.replace(tmp.name, self.cache_path)

    def _cached(self, address: ipaddress._BaseAddress) -> dict[str, Any] | None:
        best = None
        for entry in self.entries:
            try:
                network = ipaddress.ip_network(entry["cidr"], strict=False)
            except ValueError:
                continue
            fresh = (self.today - dt.date.fromisoformat(entry.get("fetched", "1970-01-01"))).days <= REFRESH_DAYS
            covers = fresh and address.version == network.version and address in network
            if covers and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, entry)
        return best[1] if best else None

    def lookup_many(self, addresses: list[str]) -> list[Answer | None]:
        out: list[Answer | None] = []
        changed = False
        for text in addresses:
            address = ipaddress.ip_address(text.partition("%")[0])
            entry = self._cached(address)
            if entry is None:
                try:
                    entry = dict(self.fetch(text), fetched=self.today.isoformat())
                except Exception as err:  # noqa: BLE001 - RDAP failing is evidence, not a crash
                    out.append(Answer(source=NAME, kind=self.kind,
                                      evidence=(Evidence(NAME, "no answer", f"RDAP query failed: {err}", self.kind),)))
                    continue
                if not entry.get("cidr"):
                    entry["cidr"] = str(ipaddress.ip_network(address))
                self.entries.append(entry)
                changed = True
            out.append(self._answer(entry))
        if changed:
            self._write_cache()
        return out

    def _answer(self, entry: dict[str, Any]) -> Answer:
        country = (entry.get("country") or entry.get("asn_country") or "").upper() or None
        detail = (f"RDAP ({entry.get('registry') or 'registry'}) via ipwhois, fetched {entry.get('fetched')}, "
                  f"network {entry['cidr']} {entry.get('name', '')}".rstrip())
        evidence = []
        if country:
            # A location claim as data, but REGISTRY never places an address (SOURCE_RANK).
            evidence.append(Evidence(NAME, f"registrant country {country}", detail, self.kind, Located(country=country)))
        if entry.get("asn"):
            evidence.append(Evidence(NAME, f"AS{entry['asn']} {entry.get('asn_description', '')}".rstrip(), detail,
                                     self.kind))
        return Answer(source=NAME, kind=self.kind, country=country, network=entry["cidr"],
                      evidence=tuple(evidence))
