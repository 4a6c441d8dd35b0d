"""MaxMind DB format files: GeoIP2/GeoLite2 City, Country, ASN, ISP; DB-IP and IPinfo mmdb.

Read with ``maxminddb`` (the C extension when installed).  Records differ by vendor, so the
fields we need are picked from each known shape:
GeoIP2/DB-IP ``country.iso_code``, ``subdivisions[0].iso_code``, ``city.names.en``,
``location.{latitude,longitude}``, ``traits.is_anycast``, ``autonomous_system_number``;
IPinfo ``country``/``country_code`` (a string) and ``asn`` (``"AS15169"``).
The database's own date is ``metadata.build_epoch``.

An mmdb is asked one address at a time (the C reader does ~1M/s); that is still once per
unique address, never per packet.
"""

from __future__ import annotations

import ipaddress
import re

import numpy as np
from functools import cached_property
from pathlib import Path
from typing import Any

import maxminddb

from tracecheck.errors import UserError
from tracecheck.geo.sources.interface import Answer, Authority, evidence_detail, iso_from_epoch, read_bytes, sha256_hex
from tracecheck.vocabulary import Evidence, SourceInfo

KIND = "mmdb"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _broken(path: Path, err: Exception) -> UserError:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    reason = reason.replace(f" ({path})", "")  # the reader repeats the path we already name
    return UserError(f"{path} is not a usable MaxMind DB (.mmdb) file ({reason}); "
                     "download it again or import another file")


class MmdbDatabase:
    """One opened .mmdb file, checked from end to end when opened."""

    authority = Authority.GEOIP

    def __init__(self, path: Path, verify: bool = True, name: str = ""):
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
            # The reader only notices a bad tree when a look-up walks into it; we would rather
            # refuse the file on import than fail half-way through an analysis.
            self.networks = verify_search_tree(raw, int(meta.node_count), int(meta.record_size)) if verify else 0
        except (maxminddb.InvalidDatabaseError, ValueError, TypeError, OSError, RuntimeError,
                UnicodeDecodeError, IndexError) as err:
            raise _broken(self.path, err) from None

    @cached_property
    def info(self) -> SourceInfo:
        return SourceInfo(name=self.name, kind=KIND, version=str(self.build_epoch),
                          date=iso_from_epoch(self.build_epoch), sha256=self._sha256, prefixes=self.networks)

    @property
    def label(self) -> str:
        return f"{self.database_type} {self.path.name}"

    def lookup_many(self, addresses: list[str]) -> list[Answer | None]:
        get = self.reader.get_with_prefix_len
        out: list[Answer | None] = []
        try:
            for address in addresses:
                if self.ip_version == 4 and ":" in address:
                    out.append(None)  # an IPv4-only database knows nothing of IPv6
                    continue
                record, prefixlen = get(address)
                out.append(self._answer(address, record, prefixlen) if record else None)
        except (maxminddb.InvalidDatabaseError, ValueError) as err:
            if isinstance(err, ValueError) and "does not appear to be an IPv4 or IPv6" in str(err):
                raise UserError(f"{err}") from None
            raise _broken(self.path, err) from None
        return out

    def _answer(self, address: str, record: Any, prefixlen: int) -> Answer | None:
        if not isinstance(record, dict):
            return None
        network = str(ipaddress.ip_network(f"{address.partition('%')[0]}/{prefixlen}", strict=False))
        fields = _fields(record)
        detail = evidence_detail(self.label, self.info.date, self._sha256, network)
        evidence = []
        if fields["anycast"]:
            evidence.append(Evidence(self.name, "anycast", detail))
        if fields["country"]:
            where = ", ".join(x for x in (fields["city"], fields["subdivision"]) if x)
            claim = f"country {fields['country']}" + (f" ({where})" if where else "")
            evidence.append(Evidence(self.name, claim, detail))
        if fields["asn"]:
            org = f" {fields['org']}" if fields["org"] else ""
            evidence.append(Evidence(self.name, f"AS{fields['asn']}{org}", detail))
        if not evidence:
            return None
        return Answer(source=self.name, authority=self.authority, country=fields["country"],
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


_METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
_DATA_SEPARATOR = bytes(16)


def verify_search_tree(raw: bytes, node_count: int, record_size: int) -> int:
    """Check the search tree as a MaxMind DB writer leaves it; return the networks it maps.

    Every node must be reachable from the root without revisiting the root, no path may be
    longer than an IPv6 address, records must point at a node, "empty", or inside the data
    section, and the 16 zero bytes must separate tree and data.  Done with numpy, one tree level
    at a time, so a 100 MB City database is checked in well under a second.
    """
    if record_size not in (24, 28, 32) or node_count <= 0:
        raise ValueError(f"record size {record_size} / node count {node_count} is impossible")
    node_bytes = record_size // 4
    tree_size = node_count * node_bytes
    metadata_at = raw.rfind(_METADATA_MARKER)
    data_size = metadata_at - tree_size - len(_DATA_SEPARATOR)
    if metadata_at < 0 or data_size < 0:
        raise ValueError(f"the search tree of {node_count} nodes does not fit in the file")
    if raw[tree_size:tree_size + 16] != _DATA_SEPARATOR:
        raise ValueError("no data section separator after the search tree: the node count is wrong")
    nodes = np.frombuffer(raw, dtype=np.uint8, count=tree_size).reshape(node_count, node_bytes).astype(np.uint32)
    left, right = _records(nodes, record_size)

    seen = np.zeros(node_count, dtype=bool)
    frontier = np.array([0], dtype=np.int64)
    seen[0] = True
    networks = 0
    for _depth in range(129):
        if len(frontier) == 0:
            break
        children = np.concatenate([left[frontier], right[frontier]]).astype(np.int64)
        if (children == 0).any():
            raise ValueError("a search-tree record points back at the root: the search tree is corrupt")
        pointers = children[children > node_count]
        if len(pointers) and (pointers - node_count - 16).max() >= data_size:
            raise ValueError("a search-tree record points past the data section: the search tree is corrupt")
        networks += len(pointers)
        inner = np.unique(children[children < node_count])
        frontier = inner[~seen[inner]]  # an IPv6 tree reaches its IPv4 subtree by several paths
        seen[frontier] = True
    else:
        raise ValueError("a search-tree path is longer than 128 bits: the search tree is corrupt")
    unreachable = node_count - int(seen.sum())
    if unreachable:
        raise ValueError(f"{unreachable} of {node_count} search-tree nodes are unreachable: the search tree is corrupt")
    return networks


def _records(nodes: np.ndarray, record_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each node's left and right record (24/28/32-bit big-endian, 28 sharing a middle nibble)."""
    b = nodes
    if record_size == 24:
        return (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2], (b[:, 3] << 16) | (b[:, 4] << 8) | b[:, 5]
    if record_size == 28:
        left = ((b[:, 3] & 0xF0) << 20) | (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2]
        right = ((b[:, 3] & 0x0F) << 24) | (b[:, 4] << 16) | (b[:, 5] << 8) | b[:, 6]
        return left, right
    return ((b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3],
            (b[:, 4] << 24) | (b[:, 5] << 16) | (b[:, 6] << 8) | b[:, 7])
