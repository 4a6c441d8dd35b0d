"""The look-up engine: unique addresses (and the names seen for them) in, ``Place`` out.

Every range source is compiled once into ``RangeTable``s; a batch of addresses is then answered
with one ``searchsorted`` per table, and the answers of all sources for an address form a row of
integers.  Addresses with the same row (the same prefixes in every source) share one decision,
so the Python work is per distinct combination of prefixes, not per address.

    resolver = Resolver.from_settings(settings.db)
    places = resolver.resolve(["3.248.0.1", "104.16.0.1"], names={"3.248.0.1": ["api.mypurecloud.ie"]})
"""

from __future__ import annotations

import datetime as dt
import gc
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tracecheck.errors import UserError
from tracecheck.geo import store
from tracecheck.geo.authority import (
    Decision, FindRegion, JurisdictionsLike, decide, decision_key, place_fields, semantic_key,
)
from tracecheck.geo.hostnames import hints_for
from tracecheck.geo.ranges import AddressKeys, RangeTable
from tracecheck.geo.sources import embedded as embedded_source
from tracecheck.geo.sources import read_source
from tracecheck.geo.sources.interface import Answer, Authority, PrefixRecord, RangeFile, evidence_detail
from tracecheck.geo.special import LOCAL_NETWORKS
from tracecheck.geo.special import SOURCE as LOCAL_SOURCE
from tracecheck.geo.special import local_table
from tracecheck.vocabulary import Evidence, Place, SourceInfo

# Catch-all service labels: when the same prefix is also published under a named service, the
# named one is the better description.
_GENERIC_SERVICES = frozenset({"AMAZON", "AzureCloud"})


class RangeSource:
    """A range file compiled for look-ups.

    Two tables: prefixes that say where (a region, a country, anycast) and prefixes that only say
    whose (Azure's ``AzureCloud``, ``AzureFrontDoor.Frontend``).  A bare prefix nested in a
    regional one must not hide the region, so the bare table is only a fallback.
    """

    def __init__(self, parsed: RangeFile):
        self.parsed = parsed
        self.info = parsed.info
        records = parsed.prefixes
        order = sorted(range(len(records)), key=lambda i: records[i].service in _GENERIC_SERVICES)
        says_where = [bool(r.region or r.country or r.anycast) for r in records]
        try:
            self.tables = [
                RangeTable.from_networks((records[i].network, i) for i in order if says_where[i]),
                RangeTable.from_networks((records[i].network, i) for i in order if not says_where[i]),
            ]
        except ValueError as err:
            raise UserError(f"{parsed.label} ({self.info.name}): {err}; the file is damaged or not "
                            f"a {self.info.kind} file") from None
        self._answers: dict[tuple[int, ...], Answer | None] = {}
        self._detail_head = evidence_detail(parsed.label, self.info.date, self.info.sha256, "") + " prefix "

    def find(self, keys: AddressKeys) -> list[np.ndarray]:
        return [table.find(keys) for table in self.tables]

    def answer(self, rows: tuple[int, ...]) -> Answer | None:
        if rows not in self._answers:
            self._answers[rows] = self._build_answer(*rows)
        return self._answers[rows]

    def _build_answer(self, located_row: int, bare_row: int) -> Answer | None:
        row = located_row if located_row >= 0 else bare_row
        if row < 0:
            return None
        record = self.parsed.prefixes[row]
        evidence = [self._evidence(record)]
        if located_row >= 0 and bare_row >= 0:
            bare = self.parsed.prefixes[bare_row]
            if _prefixlen(bare.network) > _prefixlen(record.network):  # a more specific, provider-only prefix
                evidence.append(self._evidence(bare))
        return Answer(source=self.info.name, authority=self.parsed.authority, provider=record.provider,
                      service=record.service, region=record.region, border_group=record.border_group,
                      country=record.country, subdivision=record.subdivision, city=record.city,
                      anycast=record.anycast, network=record.network, evidence=tuple(evidence))

    def _evidence(self, record: PrefixRecord) -> Evidence:
        service = f" ({record.service})" if record.service else ""
        if record.anycast:
            claim = f"anycast{service}" + (f", region {record.region}" if record.region else "")
        elif record.region:
            group = record.border_group
            claim = f"region {record.region}" + (f", border group {group}" if group and group != record.region else "") + service
        elif record.country:
            where = ", ".join(part for part in (record.city, record.subdivision) if part)
            claim = f"country {record.country}" + (f" ({where})" if where else "")
        else:
            claim = f"provider {record.provider}{service}, no region"
        return Evidence(self.info.name, claim, self._detail_head + record.network)


def _prefixlen(network: str) -> int:
    return int(network.rpartition("/")[2] or 128)


def _clone_with_ip(template: Place, ip: str) -> Place:
    """A copy of a frozen ``Place`` with another ``ip``.

    Copying the instance dict is ~4x faster than ``Place(**fields)`` (frozen dataclasses set
    every field through ``object.__setattr__``) and look-ups make one Place per address.
    """
    place = object.__new__(Place)
    place.__dict__.update(template.__dict__)
    place.__dict__["ip"] = ip
    return place


def _memoized(find_region: FindRegion) -> FindRegion:
    found: dict[tuple[str, str], Any] = {}

    def cached(code: str, provider: str):
        if (code, provider) not in found:
            found[(code, provider)] = find_region(code, provider)
        return found[(code, provider)]

    return cached


class _MemoizedJurisdictions:
    """The catalog's answer per (country, subdivision), asked once per resolver."""

    def __init__(self, jurisdictions: JurisdictionsLike):
        self._jurisdictions = jurisdictions
        self._found: dict[tuple, tuple[str, ...]] = {}

    def jurisdictions_for(self, country: str | None, subdivision: str = "") -> tuple[str, ...]:
        key = (country, subdivision)
        if key not in self._found:
            self._found[key] = self._jurisdictions.jurisdictions_for(country, subdivision)
        return self._found[key]


@contextmanager
def _collector_paused():
    """Pause the cyclic garbage collector while a batch allocates its places.

    A batch makes hundreds of thousands of small acyclic objects; each allocation burst
    triggers collections that walk every object the loaded sources hold, which doubled the
    time of a 200k-address batch.  Nothing here creates reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Resolver:
    """Places addresses using every loaded source, most authoritative first."""

    def __init__(self, range_sources: Sequence[RangeSource] = (), embedded: Any = None,
                 point_sources: Sequence[Any] = (), *, find_region: FindRegion | None = None,
                 jurisdictions: JurisdictionsLike | None = None, today: dt.date | None = None):
        """``point_sources``: GeoIP databases (searched through their ``tables``) and sources
        asked one address at a time (RDAP)."""
        if find_region is None or jurisdictions is None:
            from tracecheck.geo import catalog

            find_region = find_region or catalog.find_region
            jurisdictions = jurisdictions or catalog.load_jurisdictions()
        self.range_sources = list(range_sources)
        self.embedded = embedded
        self.databases = [source for source in point_sources if hasattr(source, "tables")]
        self.point_sources = [source for source in point_sources if not hasattr(source, "tables")]
        self.find_region = _memoized(find_region)
        self.jurisdictions = _MemoizedJurisdictions(jurisdictions)
        self.today = today or store.today()
        if embedded is not None and embedded.uses_fallback:  # no tables: ask it one address at a time
            self.point_sources.append(embedded)
            self.embedded = None
        self._known_region = lambda code, provider: find_region(code, provider) is not None
        self._decisions: dict[tuple, Decision] = {}
        self._decision_templates: dict[tuple, Place] = {}
        self._class_of_answer: dict[int, int] = {}
        self._class_of_semantic: dict[tuple, int] = {}
        self._kept: list[Answer] = []
        self._columns: list[tuple[Any, int, int]] = []  # (source, first column, past its last) in the match matrix
        for source in self._table_sources():
            start = self._columns[-1][2] if self._columns else 0
            self._columns.append((source, start, start + len(source.tables)))
        self._answer_caches: list[dict[tuple, Answer | None]] = [{} for _ in self._columns]

    def _table_sources(self) -> list[Any]:
        """Sources searched through range tables, in the order of the match matrix's columns."""
        return [*self.range_sources, *self.databases, *([self.embedded] if self.embedded is not None else [])]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_settings(cls, db_dir: Path, rdap: bool = False, **options: Any) -> "Resolver":
        """Every source imported into ``db_dir``, the embedded default, and RDAP if asked."""
        range_sources, points = [], []
        for loaded in store.load_sources(Path(db_dir)):
            (range_sources if isinstance(loaded, RangeFile) else points).append(loaded)
        if rdap:
            from tracecheck.geo.sources.rdap import RdapClient

            points.append(RdapClient(Path(db_dir)))
        return cls([RangeSource(parsed) for parsed in range_sources], embedded_source.load(), points, **options)

    @classmethod
    def from_files(cls, files: Iterable[tuple[Path | str, str]], *, embedded: bool = True, **options: Any) -> "Resolver":
        """Sources read straight from files (``(path, kind)``), as ``db import`` would check them."""
        range_sources, points = [], []
        for path, kind in files:
            loaded = read_source(Path(path), kind)
            if isinstance(loaded, RangeFile):
                range_sources.append(RangeSource(loaded))
            else:
                points.append(loaded)
        return cls(range_sources, embedded_source.load() if embedded else None, points, **options)

    def sources(self) -> list[SourceInfo]:
        """Every source consulted, with its age and staleness as of ``today``."""
        infos = [source.info for source in self._table_sources()]
        infos += [source.info for source in self.point_sources]
        return [store.with_age(info, self.today) for info in infos]

    # ------------------------------------------------------------------ look-ups

    def resolve(self, ips: Iterable[str], names: dict[str, list[str]] | None = None) -> dict[str, Place]:
        """A ``Place`` for every distinct address in ``ips``; ``names`` maps an address to the
        names seen for it (SNI, DNS ...), which add hostname evidence."""
        with _collector_paused():
            return self._resolve(ips, names)

    def _resolve(self, ips: Iterable[str], names: dict[str, list[str]] | None) -> dict[str, Place]:
        unique = list(dict.fromkeys(ips))
        if not unique:
            return {}
        keys = AddressKeys.parse(unique)
        local_rows = local_table().find(keys)
        combos, combo_of = self._combinations(keys, local_rows)
        range_answers = self._answers_by_combination(combos)
        combo_of, local_rows = combo_of.tolist(), local_rows.tolist()  # fast scalar access
        public = [i for i in range(len(unique)) if local_rows[i] < 0]
        point_answers = [self._point_answers(source, [unique[i] for i in public], public, len(unique))
                         for source in self.point_sources]
        names = names or {}
        decided: dict[Any, tuple[Place, list[Answer]]] = {}
        places: dict[str, Place] = {}
        if point_answers:  # they share one Answer per network, so its id stands for it (cheap to hash)
            keys: list[Any] = list(zip(combo_of, *([id(answer) for answer in answers] for answers in point_answers)))
        else:
            keys = combo_of
        for i, ip in enumerate(unique):
            key = ("local", local_rows[i]) if local_rows[i] >= 0 else keys[i]
            entry = decided.get(key)
            seen = names.get(ip)
            if entry is None:
                points = [answers[i] for answers in point_answers if answers[i] is not None]
                entry = decided[key] = self._decide(key, range_answers, points)
                if not seen:  # a fresh Place: the first address of its kind takes it without a copy
                    entry[0].__dict__["ip"] = ip
                    places[ip] = entry[0]
                    continue
            template, answers = entry
            places[ip] = self._with_names(template, answers, ip, tuple(seen)) if seen else _clone_with_ip(template, ip)
        return places

    def _combinations(self, keys: AddressKeys, local_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct rows of per-table matches, and each address's row among them."""
        columns = [table.find(keys) for source in self._table_sources() for table in source.tables]
        if not columns:
            return np.zeros((1, 0), dtype=np.int32), np.zeros(keys.count, dtype=np.int64)
        matrix = np.ascontiguousarray(np.stack(columns, axis=1))
        matrix[local_rows >= 0] = -1
        # One opaque bytes value per row: np.unique over them is a flat sort, not a lexsort.
        as_bytes = matrix.view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1]))).reshape(-1)
        _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
        return matrix[first], inverse.reshape(-1)

    @staticmethod
    def _point_answers(source: Any, addresses: list[str], positions: list[int], count: int) -> list[Answer | None]:
        answers: list[Answer | None] = [None] * count
        for position, answer in zip(positions, source.lookup_many(addresses)):
            answers[position] = answer
        return answers

    def _semantic_class(self, answer: Answer) -> int:
        """A small number for what the answer says (``semantic_key``): cheap to hash in bulk.

        Answers from the sources' caches live as long as the resolver, so their id can stand
        for them; any other answer is kept alive here so that its id is never reused.
        """
        known = self._class_of_answer.get(id(answer))
        if known is None:
            semantic = semantic_key(answer)
            known = self._class_of_semantic.setdefault(semantic, len(self._class_of_semantic))
            self._class_of_answer[id(answer)] = known
            self._kept.append(answer)
        return known

    def _answers_by_combination(self, combos: np.ndarray) -> list[list[Answer]]:
        """Every range source's answer for each combination, asking each source only where it matched."""
        answers: list[list[Answer]] = [[] for _ in range(len(combos))]
        for (source, start, stop), cache in zip(self._columns, self._answer_caches):
            block = combos[:, start:stop]
            matched = np.flatnonzero((block >= 0).any(axis=1)).tolist()
            wanted = [tuple(rows) for rows in block[matched].tolist()]
            missing = list({rows for rows in wanted if rows not in cache})
            if missing:  # a source that can answer in bulk (the embedded default) is asked once
                made = source.answer_many(missing) if hasattr(source, "answer_many") else map(source.answer, missing)
                cache.update(zip(missing, made))
            for combination, rows in zip(matched, wanted):
                answer = cache[rows]
                if answer is not None:
                    answers[combination].append(answer)
        return answers

    def _decide(self, key: Any, range_answers: list[list[Answer]], points: list[Answer]) -> tuple[Place, list[Answer]]:
        if isinstance(key, tuple) and key[0] == "local":
            network, why = LOCAL_NETWORKS[key[1]]
            return Place(ip="", local=True, evidence=(Evidence(LOCAL_SOURCE, "local", f"{network} {why}"),)), []
        answers = range_answers[key[0] if isinstance(key, tuple) else key] + points
        return self._place(answers), answers

    def _place(self, answers: list[Answer]) -> Place:
        """The place these answers make; the decision is shared by every answer set that says the same."""
        semantic = decision_key(answers, tuple(map(self._semantic_class, answers)))
        decision = self._decisions.get(semantic)
        if decision is None:
            decision = self._decisions[semantic] = decide(answers, self.find_region, self.jurisdictions)
            self._decision_templates[semantic] = Place(ip="", **decision.fields)
        place = _clone_with_ip(self._decision_templates[semantic], "")
        place.__dict__["evidence"] = decision.evidence(answers)
        if decision.service_from is not None:
            place.__dict__["service"] = answers[decision.service_from].service
        return place

    def _with_names(self, template: Place, answers: list[Answer], ip: str, names: tuple[str, ...]) -> Place:
        hints = [hint for name in names for hint in hints_for(name, self._known_region)]
        if not hints:
            return _clone_with_ip(template, ip)
        if template.local:
            extra = tuple(dict.fromkeys(hint.evidence() for hint in hints))
            return replace(template, ip=ip, evidence=template.evidence + extra)
        place = self._place(answers + [_hint_answer(hint) for hint in hints])  # a fresh copy: ours to finish
        place.__dict__["ip"] = ip
        return place

    def place_for_names(self, names: Sequence[str]) -> Place:
        """Where names alone point (a hostname looked up without resolving it)."""
        hints = [hint for name in names for hint in hints_for(name, self._known_region)]
        fields = place_fields([_hint_answer(hint) for hint in hints], self.find_region, self.jurisdictions)
        first = next((hint for hint in hints if hint.region or hint.anycast), None)
        if first is not None:
            fields.update(provider=first.provider, region=first.region)
        return Place(ip="", **fields)


def _hint_answer(hint) -> Answer:
    return Answer(source="hostname", authority=Authority.HOSTNAME, provider=hint.provider, region=hint.region,
                  anycast=hint.anycast, evidence=(hint.evidence(),))
