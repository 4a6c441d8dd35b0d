"""The look-up engine: unique addresses (and the names seen for them) in, ``Place`` out.

Every range source is compiled once into ``RangeTable``s; a batch of addresses is then answered
with one ``searchsorted`` per table, and the answers of all sources for an address form a row of
integers (names' hints and point sources such as RDAP add columns).  Addresses with the same
row (the same prefixes in every source) are one *combination*.  Each source then says, for every
combination at once, what it claims as a small number (``said.Said.classes``); combinations whose
sources claim the same things share one ``authority.decide`` call, and get their own evidence
lines (made once per prefix row, joined per group with C-level ``map``).  Each Place is a copy of
its decision's instance dict (a few thousand, kept), with its combination's evidence and its
address set, made without a Python-level loop.  The Python work is per distinct decision and per
new prefix row, not per address or per combination.

    resolver = Resolver.from_settings(settings.db)
    places = resolver.resolve(["3.248.0.1", "104.16.0.1"], names={"3.248.0.1": ["api.mypurecloud.ie"]})
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections import deque
from dataclasses import replace
from itertools import repeat
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tracecheck.collector import collector_paused
from tracecheck.geo import store
from tracecheck.geo.authority import (
    Decision, FindRegion, JurisdictionsLike, decide, decision_key, place_fields, semantic_key,
)
from tracecheck.geo.hostnames import HostnameHint, hints_for
from tracecheck.geo.ranges import AddressKeys
from tracecheck.geo.said import (
    AnswersSaid, EmbeddedSaid, RangeSource, Said, as_objects, distinct_rows, located_region,
)
from tracecheck.geo.sources import embedded as embedded_source
from tracecheck.geo.sources import read_source
from tracecheck.geo.sources.interface import Answer, RangeFile
from tracecheck.geo.special import LOCAL_NETWORKS
from tracecheck.geo.special import SOURCE as LOCAL_SOURCE
from tracecheck.geo.special import local_table
from tracecheck.vocabulary import Evidence, Place, SourceInfo, SourceKind


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
        for source in self.range_sources:  # their evidence places regions as this resolver does
            source.find_region = find_region
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
        self._answer_classes: dict[tuple, int] = {}
        self._plans: dict[tuple, tuple[dict[str, Any], list[Any], int | None]] = {}
        self._labelled_bases: dict[tuple[int, str], dict[str, Any]] = {}
        self._label_ids: dict[str, int] = {}
        self._label_count = itertools.count()
        self._local_templates: dict[int, dict[str, Any]] = {}
        self._embedded_lines: list[dict[int, Evidence]] = []
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
        for loaded in store.load_sources(Path(db_dir), compiled=True):
            (range_sources if isinstance(loaded, RangeSource) else points).append(loaded)
        if rdap:
            from tracecheck.geo.sources.rdap import RdapClient

            points.append(RdapClient(Path(db_dir)))
        return cls(range_sources, embedded_source.load(), points, **options)

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
        sources = [*self._table_sources(), *self.point_sources]
        return [store.with_age(source.info, self.today, getattr(getattr(source, "parsed", None), "date_basis", "content"))
                for source in sources]

    # ------------------------------------------------------------------ look-ups

    def resolve(self, ips: Iterable[str], names: dict[str, list[str]] | None = None,
                vendor_hints: dict[str, Sequence[HostnameHint]] | None = None) -> dict[str, Place]:
        """A ``Place`` for every distinct address in ``ips``; ``names`` maps an address to the
        names seen for it (SNI, DNS ...), which add hostname evidence; ``vendor_hints`` adds the
        regions a service catalog knows for those names (``HostnameHint``, as geo's own)."""
        hints: dict[str, list[HostnameHint]] = {}
        for ip in dict.fromkeys([*(names or {}), *(vendor_hints or {})]):
            found = self._address_hints((names or {}).get(ip, ()), (vendor_hints or {}).get(ip, ()))
            if found:
                hints[ip] = found
        with collector_paused():
            return self._resolve(ips, hints)

    def _address_hints(self, names: Sequence[str], vendor: Sequence[HostnameHint]) -> list[HostnameHint]:
        """The hints in an address's names, then a catalog's hints for regions they do not name."""
        hints = [hint for name in names for hint in hints_for(name, self._known_region)]
        named = {hint.region for hint in hints if hint.region}
        return hints + [hint for hint in dict.fromkeys(vendor) if not (hint.region and hint.region in named)]

    def _resolve(self, ips: Iterable[str], hints: dict[str, list[HostnameHint]]) -> dict[str, Place]:
        places: dict[str, Any] = dict.fromkeys(ips)
        unique = list(places)
        if not unique:
            return {}
        count = len(unique)
        keys = AddressKeys.parse(unique)
        # Everything per address is in the keys' order (sorted, as the tables answer) until the end.
        by_key = keys.order  # the caller's position of each
        local_rows = local_table().find_sorted(keys)
        public = local_rows < 0
        columns = [table.find_sorted(keys) for source in self._table_sources() for table in source.tables]
        point_answers: list[list[Answer]] = []
        if self.point_sources or hints:  # asked in the caller's order
            public_here, asked = np.empty(count, dtype=bool), []
            public_here[by_key] = public
            point_answers = [self._point_column(source, unique, public_here, asked) for source in self.point_sources]
            point_answers += self._hint_columns(hints, unique, public_here, asked) if hints else []
            columns += [column[by_key] for column in asked]
        local = np.flatnonzero(~public)
        for column in columns:  # a local address is placed as local, whatever the sources say
            column[local] = -1
        first, combo_of, _ = distinct_rows(columns, count)
        combos = np.stack([column[first] for column in columns], axis=1) if columns else np.zeros((len(first), 0), np.int32)
        saids = self._saids(combos, point_answers)
        # By combination, then one more for each local network.
        bases, evidence = (np.concatenate([column, np.empty(len(LOCAL_NETWORKS), dtype=object)])
                           for column in self._combination_templates(saids, len(combos)))
        for row in np.unique(local_rows[~public]).tolist():
            bases[len(combos) + row] = template = self._local_template(row)
            evidence[len(combos) + row] = template["evidence"]
        which = np.empty(count, dtype=np.int64)
        which[by_key] = np.where(public, combo_of, len(combos) + local_rows.astype(np.int64))
        # One Place per address without a Python-level loop: a copy of its decision's dict (a few
        # thousand, so they stay in the cache), with its evidence and address set.
        dicts = list(map(dict.copy, bases[which].tolist()))
        deque(map(dict.__setitem__, dicts, repeat("evidence"), evidence[which].tolist()), 0)
        deque(map(dict.__setitem__, dicts, repeat("ip"), unique), 0)
        made = list(map(object.__new__, repeat(Place, count)))
        deque(map(object.__setattr__, made, repeat("__dict__"), dicts), 0)
        places.update(zip(unique, made))  # the keys are there already: no resizing
        for ip, found in hints.items():  # a local address: the hints' lines follow its own
            if ip in places and places[ip].local:
                place = places[ip]
                extra = tuple(dict.fromkeys(hint.evidence() for hint in found))
                places[ip] = replace(place, evidence=place.evidence + extra)
        return places

    def _point_column(self, source: Any, unique: list[str], public: np.ndarray, columns: list[np.ndarray]) -> list[Answer]:
        """Ask a point source about the public addresses; their answers become a column of
        the match matrix (the index of each distinct answer: they share one per network)."""
        positions = np.flatnonzero(public).tolist()
        column = np.full(len(unique), -1, dtype=np.int32)
        distinct: dict[int, int] = {}
        answers: list[Answer] = []
        for position, answer in zip(positions, source.lookup_many([unique[i] for i in positions])):
            if answer is not None:
                index = distinct.get(id(answer))
                if index is None:
                    index = distinct[id(answer)] = len(answers)
                    answers.append(answer)
                column[position] = index
        columns.append(column)
        return answers

    def _saids(self, combos: np.ndarray, point_answers: list[list[Answer]]) -> list[Said]:
        """What every source says about each combination, in the order answers are listed."""
        saids: list[Said] = []
        for (source, start, stop), cache in zip(self._columns, self._answer_caches):
            block = combos[:, start:stop]
            if isinstance(source, RangeSource):
                said: Said = source.said(block)
            elif source is self.embedded and hasattr(source, "row_claims"):
                said = EmbeddedSaid(source, block, self._embedded_lines, self._cached_answer(source, cache))
            else:
                said = AnswersSaid(block, self._cached_answer(source, cache), self._class_of)
            kind = source.kind if isinstance(source, RangeSource) else getattr(source, "kind", None)
            said.provider = (said.classes > 0) & (kind is SourceKind.PROVIDER)
            saids.append(said)
        start = self._columns[-1][2] if self._columns else 0
        for offset, answers in enumerate(point_answers):
            said = AnswersSaid(combos[:, start + offset:start + offset + 1], lambda rows, a=answers: a[rows[0]],
                                self._class_of)
            by_answer = np.array([a is not None and a.kind is SourceKind.PROVIDER for a in said.answers.tolist()])
            said.provider = by_answer[said.pick]
            saids.append(said)
        return saids

    @staticmethod
    def _cached_answer(source: Any, cache: dict[tuple, Answer | None]):
        def answer_of(rows: tuple[int, ...]) -> Answer | None:
            if rows not in cache:
                cache[rows] = source.answer(rows)
            return cache[rows]

        return answer_of

    def _class_of(self, answer: Answer) -> int:
        """A number for what an answer says (``semantic_key``), the same in every batch."""
        return self._answer_classes.setdefault(semantic_key(answer), len(self._answer_classes) + 1)

    def _combination_templates(self, saids: list[Said], count: int) -> tuple[np.ndarray, np.ndarray]:
        """For each combination: the instance dict its Place starts from (shared by all that
        decide the same with the same service label; ``ip`` and ``evidence`` left to set), and
        its evidence lines.

        Combinations whose sources say the same things (and, where two provider files answer,
        whose prefixes compare the same) share one decision: it is made once, for one of them,
        and every combination of the group gets it with its own evidence lines and service label.
        """
        several = sum(said.provider.astype(np.int64) for said in saids) >= 2 if saids else np.zeros(count, dtype=bool)
        key = [said.classes for said in saids]
        key += [np.where(said.provider & several, said.prefixlens, 0) for said in saids]  # 0s unless 2 providers
        first, decision_of, order = distinct_rows(key, count)
        bounds = np.concatenate([[0], np.cumsum(np.bincount(decision_of, minlength=len(first)))]).tolist()
        plans = []
        plan_keys = np.stack([column[first] for column in key], axis=1).tolist() if key else [[]] * len(first)
        for representative, plan_key in zip(first.tolist(), map(tuple, plan_keys)):
            plan = self._plans.get(plan_key)
            if plan is None:
                plan = self._plans[plan_key] = self._plan(saids, representative)
            plans.append(plan)
        bases = np.empty(len(plans), dtype=object)
        bases[:] = [base for base, _, _ in plans]
        # Each source's evidence lines (and, where a decision shows it, service label) for every
        # combination it answers for, asked once per batch.
        evidence_of = []
        for said in saids:
            answered = np.flatnonzero(said.classes > 0)
            lines = np.empty(count, dtype=object)
            lines[answered] = said.evidence(answered)
            evidence_of.append(lines)
        starts_from = bases[decision_of]
        service_from = np.array([-1 if plan[2] is None else plan[2] for plan in plans], dtype=np.int64)[decision_of]
        shown = np.flatnonzero(service_from >= 0)
        if len(shown):  # a service label of its own: its group's dict with that label, one per (group, label)
            labels = np.empty(len(shown), dtype=object)
            for column in np.unique(service_from[shown]).tolist():
                these = service_from[shown] == column
                labels[these] = saids[column].services(shown[these])
            # a number for each label (unique, if not dense: the counter runs on in every call)
            label_ids = np.fromiter(map(self._label_ids.setdefault, labels.tolist(), self._label_count),
                                    dtype=np.int64, count=len(shown))
            first, kind, _ = distinct_rows([decision_of[shown], label_ids], len(shown))
            labelled = map(self._labelled, bases[decision_of[shown][first]].tolist(), labels[first].tolist())
            starts_from[shown] = as_objects(list(labelled))[kind]
        evidence: list[tuple[Evidence, ...]] = []  # listed group by group
        for group, (_, parts, _) in enumerate(plans):
            members = order[bounds[group]:bounds[group + 1]]
            size = len(members)
            lines: Any = None
            for part in parts:
                more = evidence_of[part][members].tolist() if isinstance(part, int) else repeat(part, size)
                lines = more if lines is None else list(map(operator.add, lines, more))
            evidence.extend(lines if lines is not None else repeat((), size))
        by_combination = np.empty(count, dtype=object)
        by_combination[order] = np.fromiter(evidence, dtype=object, count=count)
        return starts_from, by_combination

    def _labelled(self, base: dict[str, Any], label: str) -> dict[str, Any]:
        """A decision's dict with a service label (kept: the decisions' dicts live as long)."""
        key = (id(base), label)
        found = self._labelled_bases.get(key)
        if found is None:
            found = self._labelled_bases[key] = base.copy()  # a copy keeps the split dict's shared keys
            found["service"] = label
        return found

    def _plan(self, saids: list[Said], representative: int) -> tuple[dict[str, Any], list[Any], int | None]:
        """One decision, as (Place fields, the evidence parts in order, the source of the service label).

        Parts: a source (its own lines for each combination) or fixed lines (the region catalog's
        placement, ``sources disagree``)."""
        present = [i for i, said in enumerate(saids) if said.classes[representative] > 0]
        answers = [saids[i].answer(representative) for i in present]
        decision = decide(answers, self.find_region, self.jurisdictions)
        base = vars(Place(ip="", **decision.fields))  # a split dict: its copies share its keys
        parts: list[Any] = []
        for position in decision.order:
            parts.append(present[position])
            if decision.after.get(position):
                parts.append(tuple(decision.after[position]))
        if decision.tail:
            parts.append(tuple(decision.tail))
        service_from = present[decision.service_from] if decision.service_from is not None else None
        return base, parts, service_from

    def _local_template(self, row: int) -> dict[str, Any]:
        if row not in self._local_templates:
            network, why = LOCAL_NETWORKS[row]
            place = Place(ip="", local=True, evidence=(Evidence(LOCAL_SOURCE, "local", f"{network} {why}"),))
            self._local_templates[row] = vars(place)
        return self._local_templates[row]

    def _hint_columns(self, hints: dict[str, list[HostnameHint]], unique: list[str], public: np.ndarray,
                      columns: list[np.ndarray]) -> list[list[Answer]]:
        """The hints of public addresses, as further columns of the match matrix: the k-th
        column holds each address's k-th hint (the index of its answer), -1 if none.  They are
        listed after every source's answer."""
        found = list(map(hints.get, unique))
        hinted: list[tuple[int, list[HostnameHint]]] = [
            (position, found[position])
            for position in np.flatnonzero(np.fromiter(map(bool, found), dtype=bool, count=len(found)) & public).tolist()]
        if not hinted:
            return []
        width = max(len(hints) for _, hints in hinted)
        made: list[list[Answer]] = [[] for _ in range(width)]
        seen_hints: list[dict[Any, int]] = [{} for _ in range(width)]
        added = [np.full(len(unique), -1, dtype=np.int32) for _ in range(width)]
        for position, hints in hinted:
            for k, hint in enumerate(hints):
                row = seen_hints[k].get(hint)
                if row is None:
                    row = seen_hints[k][hint] = len(made[k])
                    made[k].append(_hint_answer(hint, self.find_region))
                added[k][position] = row
        columns.extend(added)
        return made

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

    def place_for_names(self, names: Sequence[str]) -> Place:
        """Where names alone point (a hostname looked up without resolving it)."""
        hints = [hint for name in names for hint in hints_for(name, self._known_region)]
        fields = place_fields([_hint_answer(hint, self.find_region) for hint in hints], self.find_region,
                              self.jurisdictions)
        first = next((hint for hint in hints if hint.region or hint.anycast), None)
        if first is not None:
            fields.update(provider=first.provider, region=first.region)
        return Place(ip="", **fields)


def _hint_answer(hint: HostnameHint, find_region) -> Answer:
    where = located_region(hint.provider, hint.region, "", find_region) if hint.region else None
    return Answer(source="hostname", kind=SourceKind.HOSTNAME, provider=hint.provider, region=hint.region,
                  anycast=hint.anycast, evidence=(hint.evidence(where),))
