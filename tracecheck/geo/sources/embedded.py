"""The offline default: the country + ASN data file shipped inside the ``geoip2fast`` package.

geoip2fast ships ``geoip2fast-asn-ipv6.dat.gz`` (MaxMind GeoLite2 Country + ASN, IPv4 and IPv6)
beside its module.  Its own ``GeoIP2Fast.lookup`` answers one address at a time from module-level
lists; we read the same file (a gzip'd pickle written by geoip2fast, format 120/121:
``(version, source_info, total, lists)``) and turn its sorted first-address lists into range
tables so that every address is answered in one vectorized pass.  If a future geoip2fast changes
that layout we fall back to its public ``lookup``: slower, same answers.

Its ``source_info['info']`` names the build (``MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618``);
that date is the data's date and goes into every report as this source's age.

Unpickling millions of Python ints and turning them into arrays costs about half a second and
a few hundred MB at every run, for data that never changes.  So the arrays are written once, at
first use, to the user's cache folder (``$TRACECHECK_CACHE``, else ``$XDG_CACHE_HOME/tracecheck``,
else ``~/.cache/tracecheck``), in a folder named by the data file's SHA-256 and ``CACHE_FORMAT``,
and later runs memory-map them.  The file's hash is computed at every run (it goes into the
evidence anyway), so a changed file can never be served from an old cache; a cache that cannot
be written or read is rebuilt in memory, as before.
"""

from __future__ import annotations

import bisect
import gzip
import importlib.util
import itertools
import json
import mmap
import operator
import os
import pickle
import re
import shutil
import socket
import tempfile
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from tracecheck.geo.ranges import AddressKeys, RangeTable, network_text, v6_keys, v6_last
from tracecheck.geo.sources.interface import Answer, evidence_detail, sha256_hex
from tracecheck.usercache import cache_dir
from tracecheck.vocabulary import Evidence, Located, SourceInfo, SourceKind

KIND = "embedded"
NAME = "geoip2fast"
DATA_FILES = ("geoip2fast-asn-ipv6.dat.gz", "geoip2fast-ipv6.dat.gz", "geoip2fast.dat.gz")
_PRIVATE_IDS = 16  # geoip2fast's first 16 country entries are reserved/private/not-found markers
_MAX_V4 = 2**32 - 1
_OCTET = np.array([str(i) for i in range(256)], dtype=object)
_OCTET_DOT = _OCTET + "."
_SLASH_LENGTH = np.array([f"/{i}" for i in range(129)], dtype=object)
_LOW64 = 2**64 - 1
ANYCAST_AS_NAMES = frozenset({"CLOUDFLARENET", "FASTLY", "GOOGLE", "QUAD9-AS-1", "OPENDNS"})
"""Networks whose addresses are announced from many points of presence: Cloudflare AS13335, Fastly
AS54113, Google's front ends and public DNS AS15169 (Google Cloud's regional addresses are
AS396982, GOOGLE-CLOUD-PLATFORM, and keep their country), Quad9 AS19281, OpenDNS AS36692.
GeoIP gives them the registrant's country, which is not where traffic lands: without the
providers' own lists imported, the AS name is the only offline sign of anycast."""
ANYCAST = Located(anycast=True)
CACHE_FORMAT = 1
"""Bump when what the cache holds, or how it is built from the file, changes."""


def data_file() -> Path | None:
    """The richest data file the installed geoip2fast ships (country + ASN + IPv6 first)."""
    # Found, not imported: importing geoip2fast loads urllib and ssl, which a look-up never needs.
    try:
        spec = importlib.util.find_spec("geoip2fast")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).resolve().parent
    return next((folder / name for name in DATA_FILES if (folder / name).is_file()), None)


class EmbeddedGeoIP:
    """Country (and ASN name) for any public address, from the installed package alone."""

    kind = SourceKind.EMBEDDED

    def __init__(self, path: Path, cache_dir: Path | None = None):
        self.path = path
        raw = path.read_bytes()
        self._sha256 = sha256_hex(raw)
        self._fallback = None
        cache = cache_dir / f"{NAME}-{self._sha256}-v{CACHE_FORMAT}" if cache_dir else None
        if cache is not None and self._read_cache(cache):
            return
        version, source_info, _total, lists = pickle.loads(gzip.decompress(raw))
        self.build = str(source_info.get("info", ""))
        if version in (120, 121) and source_info.get("country") and isinstance(lists, (list, tuple)):
            self._load_country_lists(lists, bool(source_info.get("asn")))
            if cache is not None:
                self._write_cache(cache)
        else:  # a layout we do not know: use the package's own look-up
            from geoip2fast import GeoIP2Fast

            self._fallback = GeoIP2Fast(geoip2fast_data_file=str(path))
            self.tables = []

    def _load_country_lists(self, lists, with_asn: bool) -> None:
        if with_asn:
            (_, _, country_names, asn_names, firsts, asn_firsts,
             country_ids, asn_ids, lengths, asn_lengths) = lists
        else:
            _, country_names, firsts, country_ids, lengths = lists
            asn_names = asn_firsts = asn_ids = asn_lengths = None
        self._use(country_codes=[entry.split(":")[0] for entry in country_names], asn_names=asn_names or [],
                  country=_Ranges(firsts, lengths, country_ids, skip_below=_PRIVATE_IDS),
                  asn=_Ranges(asn_firsts, asn_lengths, asn_ids, skip_below=1) if with_asn else None)

    def _use(self, country_codes: list[str], asn_names: list[str], country: _Ranges, asn: _Ranges | None) -> None:
        self.country_codes, self.asn_names = country_codes, asn_names
        self._country, self._asn = country, asn
        self.tables = [country.table] + ([asn.table] if asn else [])

    def _write_cache(self, folder: Path) -> None:
        """The arrays as .npy files and the names as JSON, in a folder renamed into place whole,
        so that a reader never sees half of it.  A cache that cannot be written is no error."""
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            for part, ranges in (("country", self._country), ("asn", self._asn)):
                for name, array in (ranges.arrays() if ranges else {}).items():
                    np.save(work / f"{part}.{name}.npy", array, allow_pickle=False)
            meta = {"sha256": self._sha256, "format": CACHE_FORMAT, "build": self.build,
                    "country_codes": self.country_codes, "asn_names": self.asn_names, "asn": self._asn is not None}
            (work / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            os.replace(work, folder)
        except OSError:
            shutil.rmtree(work, ignore_errors=True) if "work" in locals() else None

    def _read_cache(self, folder: Path) -> bool:
        """Map the cached arrays; False (and nothing changed) if they are missing or damaged."""
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if meta.get("sha256") != self._sha256 or meta.get("format") != CACHE_FORMAT:
                return False

            mapped: list[np.ndarray] = []

            def ranges(part: str) -> _Ranges:
                arrays = {name: np.load(folder / f"{part}.{name}.npy", mmap_mode="r", allow_pickle=False)
                          for name in _Ranges.ARRAYS}
                mapped.extend(arrays.values())
                return _Ranges.from_arrays(arrays)
            country, asn = ranges("country"), ranges("asn") if meta["asn"] else None
            codes, names = list(meta["country_codes"]), list(meta["asn_names"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not (country.consistent(len(codes)) and (asn is None or asn.consistent(len(names)))):
            return False
        _drop_resident(mapped)
        self.build = str(meta.get("build", ""))
        self._use(codes, names, country, asn)
        return True

    @cached_property
    def info(self) -> SourceInfo:
        match = re.search(r"(20\d\d)(\d\d)(\d\d)", self.build)
        date = f"{match[1]}-{match[2]}-{match[3]}" if match else ""
        prefixes = len(self._country.table) if self._fallback is None else 0
        return SourceInfo(name=NAME, kind=KIND, version=self.build or self.path.name, date=date,
                          sha256=self._sha256, prefixes=prefixes)

    @cached_property
    def label(self) -> str:
        try:
            from importlib.metadata import version

            package = f"geoip2fast {version('geoip2fast')}"
        except Exception:  # noqa: BLE001 - the version is a courtesy
            package = "geoip2fast"
        return f"{package} {self.path.name} ({self.build.removeprefix('MAXMIND:')})"

    def answer(self, rows: tuple[int, ...]) -> Answer | None:
        """The answer for one address, given its row in each of ``tables`` (-1: not found)."""
        return self.answer_many([rows])[0]

    def answer_many(self, rows_list: list[tuple[int, ...]]) -> list[Answer | None]:
        """``answer`` for many row pairs: the prefixes are written out in one vectorized pass."""
        country_rows = [rows[0] for rows in rows_list]
        asn_rows = [rows[1] if len(rows) > 1 else -1 for rows in rows_list]
        country_networks = self._country.networks(country_rows)
        asn_networks = self._asn.networks(asn_rows) if self._asn is not None else [""] * len(rows_list)
        out: list[Answer | None] = []
        for country_row, asn_row, network, asn_network in zip(country_rows, asn_rows, country_networks, asn_networks):
            if country_row < 0 and asn_row < 0:
                out.append(None)
                continue
            evidence, country, anycast = [], None, False
            if country_row >= 0:
                country = self.country_codes[self._country.ids.item(country_row)]
                evidence.append(Evidence(NAME, f"country {country}", self._detail(network), self.kind,
                                         self._country_located(country)))
            if asn_row >= 0:
                asn = self.asn_names[self._asn.ids.item(asn_row)]
                anycast = asn in ANYCAST_AS_NAMES
                claim = f"AS name {asn}" + (", an anycast network: no single country" if anycast else "")
                evidence.append(Evidence(NAME, claim, self._detail(asn_network), self.kind,
                                         ANYCAST if anycast else None))
            out.append(Answer(source=NAME, kind=self.kind, country=country, network=network,
                              anycast=anycast, evidence=tuple(evidence)))
        return out

    @cached_property
    def row_claims(self) -> tuple[np.ndarray, np.ndarray | None]:
        """What each row of ``tables`` says, as numbers: the country table's country id, and
        for the ASN table whether the network is an anycast one (``ANYCAST_AS_NAMES``)."""
        if self._asn is None:
            return self._country.ids, None
        anycast_names = np.array([name in ANYCAST_AS_NAMES for name in self.asn_names], dtype=bool)
        return self._country.ids, anycast_names[self._asn.ids]

    def evidence_parts(self, table: int, rows: list[int]) -> tuple[str, list[str], list[str], SourceKind, list]:
        """The evidence line ``answer`` writes for each of ``rows`` of ``tables[table]`` (0: country,
        1: ASN), as (source, claims, details, kind, places): ``Evidence(source, claim, detail,
        kind, where)`` for each."""
        ranges = self._country if table == 0 else self._asn
        ids = ranges.ids[rows]
        claims, places = self._claims[table], self._places[table]
        missing = np.unique(ids[claims[ids] == None])  # elementwise: the claims not written yet
        if len(missing):
            if table == 0:
                codes = [self.country_codes[i] for i in missing.tolist()]
                claims[missing] = [f"country {code}" for code in codes]
                places[missing] = [self._country_located(code) for code in codes]
            else:
                names = list(map(self.asn_names.__getitem__, missing.tolist()))
                claims[missing] = [f"AS name {name}" + (", an anycast network: no single country"
                                                        if name in ANYCAST_AS_NAMES else "") for name in names]
                places[missing] = [ANYCAST if name in ANYCAST_AS_NAMES else None for name in names]
        return (NAME, claims[ids].tolist(), list(map(self._detail_head.__add__, ranges.networks(rows))), self.kind,
                places[ids].tolist())

    def _country_located(self, code: str) -> Located:
        """One ``Located`` per country, shared by every line that claims it."""
        return self._located.setdefault(code, Located(country=code))

    @cached_property
    def _located(self) -> dict[str, Located]:
        return {}

    @cached_property
    def _places(self) -> tuple[np.ndarray, np.ndarray]:
        """Each country's and each AS name's ``Located`` (None: not a location claim), as the claims."""
        return np.full(len(self.country_codes), None, dtype=object), np.full(len(self.asn_names), None, dtype=object)

    @cached_property
    def _claims(self) -> tuple[np.ndarray, np.ndarray]:
        """Each country's and each AS name's claim, written when first asked for."""
        return np.full(len(self.country_codes), None, dtype=object), np.full(len(self.asn_names), None, dtype=object)

    def lookup_many(self, addresses: list[str]) -> list[Answer | None]:
        """Per-address answers through geoip2fast's own API (used only when its layout is unknown)."""
        out = []
        for address in addresses:
            result = self._fallback.lookup(address)
            code = result.country_code
            if result.is_private or not re.fullmatch(r"[A-Z]{2}", code or ""):
                out.append(None)
                continue
            out.append(Answer(source=NAME, kind=self.kind, country=code, network=result.cidr,
                              evidence=(Evidence(NAME, f"country {code}", self._detail(result.cidr), self.kind,
                                                 self._country_located(code)),)))
        return out

    def _detail(self, network: str) -> str:
        return self._detail_head + network

    @cached_property
    def _detail_head(self) -> str:
        """Everything of an evidence detail but the prefix: the same for every answer."""
        return evidence_detail(self.label, self.info.date, self._sha256, "") + " prefix "

    @property
    def uses_fallback(self) -> bool:
        return self._fallback is not None

    def find(self, keys: AddressKeys) -> list[np.ndarray]:
        return [table.find(keys) for table in self.tables]


def _drop_resident(arrays: list[np.ndarray]) -> None:
    """Unmap the pages of memory-mapped ``arrays`` that the consistency check read whole: they stay
    in the page cache, but no longer count in this process's resident set (about 17 MB, a sixth of
    a small capture's peak).  A look-up maps back only the pages its binary searches touch."""
    for array in arrays:
        pages = getattr(array, "_mmap", None)  # numpy.memmap's mmap object; absent, nothing to drop
        if pages is not None and hasattr(pages, "madvise"):
            pages.madvise(mmap.MADV_DONTNEED)


class _Ranges:
    """One of geoip2fast's chunked (first address, prefix length, id) lists as a range table.

    Rows are positions in the flattened lists; ids below ``skip_below`` (private/unknown markers)
    are left out so that they answer "not found".  IPv6 firsts are Python ints: they are split
    into two uint64 halves once, and everything after that is numpy.
    """

    def __init__(self, chunked_firsts, chunked_lengths, chunked_ids, skip_below: int):
        firsts = list(itertools.chain.from_iterable(chunked_firsts))
        self.lengths = np.concatenate([np.asarray(chunk, dtype=np.int64) for chunk in chunked_lengths])
        self.ids = np.concatenate([np.asarray(chunk, dtype=np.int64) for chunk in chunked_ids])
        self.v4_count = v4_count = bisect.bisect_right(firsts, _MAX_V4)
        keep = self.ids >= skip_below
        rows = np.arange(len(firsts), dtype=np.int32)

        self.v4_first = np.array(firsts[:v4_count], dtype=np.uint32)
        host = (32 - self.lengths[:v4_count]).astype(np.uint64)
        v4_last = (self.v4_first.astype(np.uint64) + (np.uint64(1) << host) - np.uint64(1)).astype(np.uint32)
        k4, k6 = keep[:v4_count], keep[v4_count:]
        v4 = (self.v4_first[k4], v4_last[k4], rows[:v4_count][k4])

        self.v6_hi = np.array([value >> 64 for value in firsts[v4_count:]], dtype=np.uint64)
        self.v6_lo = np.array([value & _LOW64 for value in firsts[v4_count:]], dtype=np.uint64)
        hi, lo, lengths = self.v6_hi[k6], self.v6_lo[k6], self.lengths[v4_count:][k6]
        v6 = (v6_keys(hi, lo), v6_keys(*v6_last(hi, lo, lengths)), rows[v4_count:][k6])
        self.table = RangeTable(v4, v6)

    ARRAYS = ("lengths", "ids", "v4_count", "v4_first", "v6_hi", "v6_lo",
              "v4_bounds", "v4_rows", "v6_bounds", "v6_rows", "ranges")

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything a look-up reads, as arrays by name (``ARRAYS``): what the cache holds."""
        return {"lengths": self.lengths, "ids": self.ids, "v4_count": np.asarray(self.v4_count, dtype=np.int64),
                "v4_first": self.v4_first, "v6_hi": self.v6_hi, "v6_lo": self.v6_lo, **self.table.arrays()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "_Ranges":
        ranges = cls.__new__(cls)
        ranges.lengths, ranges.ids = arrays["lengths"], arrays["ids"]
        ranges.v4_count = int(arrays["v4_count"])
        ranges.v4_first, ranges.v6_hi, ranges.v6_lo = arrays["v4_first"], arrays["v6_hi"], arrays["v6_lo"]
        ranges.table = RangeTable.from_bounds(arrays["v4_bounds"], arrays["v4_rows"], arrays["v6_bounds"],
                                              arrays["v6_rows"], int(arrays["ranges"]))
        return ranges

    def consistent(self, names: int) -> bool:
        """Whether arrays read back fit together: a damaged cache must not answer wrongly."""
        rows = len(self.lengths)
        t = self.table
        return (len(self.ids) == rows and len(self.v4_first) == self.v4_count <= rows
                and len(self.v6_hi) == len(self.v6_lo) == rows - self.v4_count
                and len(t.v4_bounds) == len(t.v4_rows) and len(t.v6_bounds) == len(t.v6_rows)
                and (rows == 0 or (0 <= int(self.ids.min()) and int(self.ids.max()) < names))
                and all(len(r) == 0 or int(r.max()) < rows for r in (t.v4_rows, t.v6_rows)))

    def networks(self, rows: list[int]) -> list[str]:
        """``network`` of each row (``""`` for -1), in C loops: IPv4 ones joined from per-octet
        strings (numpy object arrays add elementwise), IPv6 ones through ``inet_ntop``."""
        wanted = np.asarray(rows, dtype=np.int64)
        out = np.full(len(wanted), "", dtype=object)
        v4 = np.flatnonzero((wanted >= 0) & (wanted < self.v4_count))
        if len(v4):
            first, length = self.v4_first[wanted[v4]], self.lengths[wanted[v4]]
            out[v4] = (_OCTET_DOT[first >> 24] + _OCTET_DOT[(first >> 16) & 255] + _OCTET_DOT[(first >> 8) & 255]
                       + _OCTET[first & 255] + _SLASH_LENGTH[length])
        v6 = np.flatnonzero(wanted >= self.v4_count)
        if len(v6):
            i = wanted[v6] - self.v4_count
            packed = v6_keys(self.v6_hi[i], self.v6_lo[i]).view("V16").tolist()  # void keeps trailing zero bytes
            out[v6] = list(map(operator.add, map(socket.inet_ntop, itertools.repeat(socket.AF_INET6), packed),
                               _SLASH_LENGTH[self.lengths[wanted[v6]]].tolist()))
        return out.tolist()

    def network(self, row: int) -> str:
        # ``.item()`` reads a Python int straight out: no numpy scalar in between.
        if row < self.v4_count:
            return network_text(32, self.v4_first.item(row), self.lengths.item(row))
        i = row - self.v4_count
        return network_text(128, (self.v6_hi.item(i) << 64) | self.v6_lo.item(i), self.lengths.item(row))


@cache
def load() -> EmbeddedGeoIP | None:
    """The embedded default, read once per process (from the cache after the first run)."""
    path = data_file()
    return EmbeddedGeoIP(path, cache_dir()) if path else None
