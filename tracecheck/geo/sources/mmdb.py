"""MaxMind DB format files: GeoIP2/GeoLite2 City, Country, ASN, ISP; DB-IP and IPinfo mmdb.

Read with ``maxminddb`` (the C extension when installed).  Records differ by vendor, so the
fields we need are picked from each known shape:
GeoIP2/DB-IP ``country.iso_code``, ``subdivisions[0].iso_code``, ``city.names.en``,
``location.{latitude,longitude}``, ``traits.is_anycast``, ``autonomous_system_number``;
IPinfo ``country``/``country_code`` (a string) and ``asn`` (``"AS15169"``).
The database's own date is ``metadata.build_epoch``.

Its search tree is read into range tables (``mmdb_tree``), like every published prefix list, so
a batch of addresses is matched with ``searchsorted``; the reader decodes one record per
network that a batch actually hits.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np

from tracecheck.errors import UserError
from tracecheck.geo.ranges import AddressKeys, RangeTable, network_text, v6_keys, v6_last
from tracecheck.geo.sources.interface import (
    Answer, evidence_detail, iso_from_epoch, read_bytes, sha256_hex,
)
from tracecheck.geo.sources.mmdb_tree import read_tree
from tracecheck.vocabulary import Evidence, Located, SourceInfo, SourceKind

KIND = "mmdb"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _broken(path: Path, err: Exception) -> UserError:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    reason = reason.replace(f" ({path})", "")  # the reader repeats the path we already name
    return UserError(f"{path} is not a usable MaxMind DB (.mmdb) file ({reason}); "
                     "download it again or import another file")


class MmdbDatabase:
    """One opened .mmdb file, checked from end to end when opened."""

    kind = SourceKind.GEOIP

    def __init__(self, path: Path, verify: bool = True, name: str = ""):
        # ``verify`` is accepted for symmetry with the other readers: reading the tree into
        # tables checks all of it, and that is needed for look-ups anyway.
        self.path = Path(path)
        raw = read_bytes(self.path)
        self._sha256 = sha256_hex(raw)
        try:
            self.reader = maxminddb.open_database(str(self.path))
            meta = self.reader.metadata()
            self.database_type = str(meta.database_type)
            self.build_epoch = int(meta.build_epoch)
            self.ip_version = int(meta.ip_version)
            self.name = name or re.sub(r"[^a-z0-9]+", "-", self.database_type.lower()).strip("-") or "mmdb"
            # The reader only notices a bad tree when a look-up walks into it; reading the whole
            # tree here refuses a broken file on import, not half-way through an analysis.
            self.tree = read_tree(raw, int(meta.node_count), int(meta.record_size), self.ip_version)
        except (maxminddb.InvalidDatabaseError, ValueError, TypeError, OSError, RuntimeError,
                UnicodeDecodeError, IndexError) as err:
            raise _broken(self.path, err) from None

    @cached_property
    def info(self) -> SourceInfo:
        return SourceInfo(name=self.name, kind=KIND, version=str(self.build_epoch),
                          date=iso_from_epoch(self.build_epoch), sha256=self._sha256, prefixes=self.tree.count)

    @cached_property
    def _detail_head(self) -> str:
        return evidence_detail(self.label, self.info.date, self._sha256, "") + " prefix "

    @property
    def label(self) -> str:
        return f"{self.database_type} {self.path.name}"

    @cached_property
    def tables(self) -> list[RangeTable]:
        """One table; its rows index the tree's IPv4 networks, then its IPv6 networks."""
        tree = self.tree
        v4_first = tree.v4_first
        v4_last = (v4_first.astype(np.uint64) | ((np.uint64(1) << (32 - tree.v4_length).astype(np.uint64))
                                                 - np.uint64(1))).astype(np.uint32)
        v4 = (v4_first, v4_last, np.arange(len(v4_first), dtype=np.int32))
        last_hi, last_lo = v6_last(tree.v6_hi, tree.v6_lo, tree.v6_length)
        v6 = (v6_keys(tree.v6_hi, tree.v6_lo), v6_keys(last_hi, last_lo),
              np.arange(len(v4_first), tree.count, dtype=np.int32))
        return [RangeTable(v4, v6)]

    def _row_network(self, row: int) -> str:
        tree, v4_count = self.tree, len(self.tree.v4_first)
        if row < v4_count:
            return network_text(32, int(tree.v4_first[row]), int(tree.v4_length[row]))
        i = row - v4_count
        return network_text(128, (int(tree.v6_hi[i]) << 64) | int(tree.v6_lo[i]), int(tree.v6_length[i]))

    def answer(self, rows: tuple[int, ...]) -> Answer | None:
        """The answer for an address that fell in network ``rows[0]`` (-1: none)."""
        row = rows[0]
        if row < 0:
            return None
        network = self._row_network(row)
        try:
            record, _ = self.reader.get_with_prefix_len(network.partition("/")[0])
        except (maxminddb.InvalidDatabaseError, ValueError) as err:
            raise _broken(self.path, err) from None
        return self._answer(network, record)

    def lookup_many(self, addresses: list[str]) -> list[Answer | None]:
        """One answer per address (each network's answer is made once)."""
        rows = self.tables[0].find(AddressKeys.parse(addresses)).tolist()
        made: dict[int, Answer | None] = {}
        for row in set(rows):
            made[row] = self.answer((row,))
        return [made[row] for row in rows]

    def _answer(self, network: str, record: Any) -> Answer | None:
        if not isinstance(record, dict):
            return None
        fields = _fields(record)
        detail = self._detail_head + network
        evidence = []
        if fields["anycast"]:
            evidence.append(Evidence(self.name, "anycast", detail, self.kind, Located(anycast=True)))
        if fields["country"]:
            where = ", ".join(x for x in (fields["city"], fields["subdivision"]) if x)
            claim = f"country {fields['country']}" + (f" ({where})" if where else "")
            located = Located(country=fields["country"], subdivision=fields["subdivision"], city=fields["city"])
            evidence.append(Evidence(self.name, claim, detail, self.kind, located))
        if fields["asn"]:
            org = f" {fields['org']}" if fields["org"] else ""
            evidence.append(Evidence(self.name, f"AS{fields['asn']}{org}", detail, self.kind))
        if not evidence:
            return None
        return Answer(source=self.name, kind=self.kind, country=fields["country"],
                      subdivision=fields["subdivision"], city=fields["city"], latitude=fields["latitude"],
                      longitude=fields["longitude"], anycast=fields["anycast"], network=network,
                      evidence=tuple(evidence))

    def close(self) -> None:
        self.reader.close()


def _fields(record: dict) -> dict[str, Any]:
    """The few facts we use, from whichever vendor's record shape this is."""
    country_field = record.get("country")
    if isinstance(country_field, dict):
        country = country_field.get("iso_code")
    else:
        country = country_field if isinstance(country_field, str) else record.get("country_code")
    country = country.upper() if isinstance(country, str) and _COUNTRY.match(country.upper()) else None

    subdivisions = record.get("subdivisions") or []
    subdivision = ""
    if country and subdivisions and isinstance(subdivisions[0], dict) and subdivisions[0].get("iso_code"):
        subdivision = f"{country}-{subdivisions[0]['iso_code']}"

    city_field = record.get("city")
    if isinstance(city_field, dict):
        city = (city_field.get("names") or {}).get("en", "")
    else:
        city = city_field if isinstance(city_field, str) else ""

    location = record.get("location") if isinstance(record.get("location"), dict) else {}
    traits = record.get("traits") if isinstance(record.get("traits"), dict) else {}

    asn: Any = record.get("autonomous_system_number") or record.get("asn") or ""
    if isinstance(asn, str):
        asn = asn.upper().removeprefix("AS")
    org = (record.get("autonomous_system_organization") or record.get("as_name")
           or record.get("organization") or record.get("isp") or "")
    return {
        "country": country, "subdivision": subdivision, "city": city,
        "latitude": location.get("latitude"), "longitude": location.get("longitude"),
        "anycast": bool(traits.get("is_anycast") or record.get("is_anycast")),
        "asn": str(asn) if asn else "", "org": str(org),
    }
