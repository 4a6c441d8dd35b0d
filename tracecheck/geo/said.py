"""What each source says about a batch, as arrays: range files compiled for look-ups, and for
every *combination* of a batch (addresses matched by the same prefixes in every source) the class
of its claim, its evidence lines and service label, made once per prefix row where possible.
``lookup.Resolver`` decides from these.
"""

from __future__ import annotations

import operator
from collections import deque
from itertools import repeat
from typing import Any, Callable, Sequence

import numpy as np

from tracecheck.errors import UserError
from tracecheck.geo.ranges import AddressKeys, RangeTable
from tracecheck.geo.sources.interface import Answer, PrefixRecord, RangeFile, evidence_detail
from tracecheck.vocabulary import Evidence, Located, SourceKind, date_label

FindRegion = Callable[[str, str], Any]
"""``find_region(code, provider)``: the region catalog's record for a code, or None."""

# Catch-all service labels: when the same prefix is also published under a named service, the
# named one is the better description.
_GENERIC_SERVICES = frozenset({"AMAZON", "AzureCloud"})


class RangeSource:
    """A range file compiled for look-ups.

    Two tables: prefixes that say where (a region, a country, anycast) and prefixes that only say
    whose (Azure's ``AzureCloud``, ``AzureFrontDoor.Frontend``).  A bare prefix nested in a
    regional one must not hide the region, so the bare table is only a fallback.  In a provider's
    own file, a prefix that is only in bare entries is a global service (Azure Front Door, Entra
    ID): no single place can be claimed for it, whatever a GeoIP database says.
    """

    def __init__(self, parsed: RangeFile, find_region: FindRegion | None = None):
        self.parsed = parsed
        self.info = parsed.info
        self.kind = parsed.kind
        self.find_region = find_region
        """How a region code becomes a place (the resolver sets its own); None: the region catalog."""
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
        self._beside: dict[int, Evidence] = {}
        when = date_label(self.info.date, parsed.date_basis)  # a file time is not the source's own date
        self._detail_head = evidence_detail(parsed.label, when, self.info.sha256, "") + " prefix "
        self._rows = _RowFacts(records)  # with the tables: a first batch should not pay for it

    def find(self, keys: AddressKeys) -> list[np.ndarray]:
        return [table.find(keys) for table in self.tables]

    def answer(self, rows: tuple[int, ...]) -> Answer | None:
        if rows not in self._answers:
            self._answers[rows] = self._build_answer(*rows)
        return self._answers[rows]

    @property
    def _global_when_bare(self) -> bool:
        return self.kind is SourceKind.PROVIDER

    def _build_answer(self, located_row: int, bare_row: int) -> Answer | None:
        row = located_row if located_row >= 0 else bare_row
        if row < 0:
            return None
        record = self.parsed.prefixes[row]
        evidence = [self._evidence(record)]
        if located_row >= 0 and bare_row >= 0:
            bare = self.parsed.prefixes[bare_row]
            if _prefixlen(bare.network) > _prefixlen(record.network):  # a more specific, provider-only prefix
                evidence.append(self.beside_line(bare_row))
        anycast = record.anycast or (located_row < 0 and self._global_when_bare)
        return Answer(source=self.info.name, kind=self.kind, provider=record.provider,
                      service=record.service, region=record.region, border_group=record.border_group,
                      country=record.country, subdivision=record.subdivision, city=record.city,
                      anycast=anycast, network=record.network, evidence=tuple(evidence))

    def _evidence(self, record: PrefixRecord) -> Evidence:
        claim, where = self._claim(record)
        return Evidence(self.info.name, claim, self._detail_head + record.network, self.kind, where)

    def _claim(self, record: PrefixRecord) -> tuple[str, Located | None]:
        """What a record says, as prose and as data (one per kind of record, kept per row)."""
        service = f" ({record.service})" if record.service else ""
        if record.anycast:
            return (f"anycast{service}" + (f", region {record.region}" if record.region else ""),
                    Located(provider=record.provider, anycast=True))
        if record.region:
            group = record.border_group
            claim = f"region {record.region}" + (f", border group {group}" if group and group != record.region else "")
            return claim + service, located_region(record.provider, record.region, group, self._find_region())
        if record.country:
            where = ", ".join(part for part in (record.city, record.subdivision) if part)
            return (f"country {record.country}" + (f" ({where})" if where else ""),
                    Located(country=record.country, subdivision=record.subdivision, city=record.city))
        if self._global_when_bare:
            return f"no region{service}: a global range, no single place published", Located(provider=record.provider, anycast=True)
        return f"provider {record.provider}{service}, no region", None

    def beside_line(self, row: int) -> Evidence:
        """A provider-only prefix listed beside the one that places the address: shown, and not
        a location claim (it says whose the prefix is, not where)."""
        line = self._beside.get(row)
        if line is None:
            record = self.parsed.prefixes[row]
            service = f" ({record.service})" if record.service else ""
            line = self._beside[row] = Evidence(self.info.name, f"provider {record.provider}{service}, no region",
                                                self._detail_head + record.network, self.kind)
        return line

    def _find_region(self) -> FindRegion:
        if self.find_region is None:
            from tracecheck.geo.catalog import find_region

            self.find_region = find_region
        return self.find_region

    # ------------------------------------------------------------------ whole batches

    def said(self, block: np.ndarray) -> "Said":
        """What this source says for each row of ``block`` (its columns of the match matrix)."""
        return RangeSaid(self, block)

    def row_evidence(self, rows: np.ndarray) -> np.ndarray:
        """``(evidence line,)`` of each row (made once per row, then kept)."""
        facts = self._rows
        missing = np.unique(rows[~facts.has_evidence[rows]])
        if len(missing):
            records, claims, claim_key = self.parsed.prefixes, facts.claims, facts.claim_key
            wanted = missing.tolist()
            for row in wanted:
                if claim_key[row] not in claims:
                    claims[claim_key[row]] = self._claim(records[row])
            head = self._detail_head
            said = [claims[claim_key[row]] for row in wanted]
            lines = evidence_lines(self.info.name, [claim for claim, _ in said],
                                   [head + records[row].network for row in wanted], self.kind,
                                   [where for _, where in said])
            facts.evidence[missing] = np.fromiter(zip(lines), dtype=object, count=len(lines))
            facts.has_evidence[missing] = True
        return facts.evidence[rows]


def located_region(provider: str, region: str, border_group: str, find_region: FindRegion) -> Located:
    """A provider region as a place, through the region catalog.  An AWS Local Zone (network
    border group ``us-east-1-lim-1``) can sit in another country than its parent region, so the
    border group is asked first: the file then claims one place (the zone, in its country), not
    two that disagree."""
    catalog_provider = "gcp" if provider == "google" else provider
    for code in dict.fromkeys((border_group, region)):
        found = find_region(code, catalog_provider) if code else None
        if found is not None and getattr(found, "country", None):
            return Located(country=found.country, subdivision=getattr(found, "subdivision", "") or "",
                           region=getattr(found, "code", "") or code, provider=provider,
                           city=getattr(found, "city", "") or "")
    return Located(region=region, provider=provider)  # a region the catalog does not know: no country


def as_objects(items: Sequence[Any]) -> np.ndarray:
    """``items`` as a 1-d object array.  ``np.array`` would ask every item whether it is an
    array or a sequence (failed attribute look-ups, slow); tuples would become rows."""
    return np.fromiter(items, dtype=object, count=len(items))


def evidence_lines(source: str, claims: Sequence[str], details: Sequence[str], kind: SourceKind,
                   places: Sequence[Located | None]) -> list[Evidence]:
    """``[Evidence(source, claim, detail, kind, where) ...]`` made in C loops: the frozen
    dataclass's ``__init__`` (an ``object.__setattr__`` call in Python per field) is most of a
    batch's evidence cost."""
    made = list(map(object.__new__, repeat(Evidence, len(claims))))
    set_field = object.__setattr__
    deque(map(set_field, made, repeat("source"), repeat(source)), 0)
    deque(map(set_field, made, repeat("claim"), claims), 0)
    deque(map(set_field, made, repeat("detail"), details), 0)
    deque(map(set_field, made, repeat("kind"), repeat(kind)), 0)
    deque(map(set_field, made, repeat("where"), places), 0)
    return made


class _RowFacts:
    """A range file's records as arrays: what each says (a small number), its prefix length,
    its service; and, filled as batches need them, each row's evidence line."""

    def __init__(self, records: list[PrefixRecord]):
        semantic: dict[tuple, int] = {}
        services: dict[str, int] = {}
        claim_keys: dict[tuple, int] = {}
        count = len(records)
        self.semantic = np.fromiter(
            (semantic.setdefault((r.provider, r.region, r.border_group, r.country, r.subdivision, r.city, r.anycast),
                                 len(semantic) + 1) for r in records), dtype=np.int64, count=count)
        self.service = np.fromiter((services.setdefault(r.service, len(services)) for r in records),
                                   dtype=np.int64, count=count)
        self.service_names = np.empty(len(services), dtype=object)
        self.service_names[:] = list(services)
        # Its claim depends on what a record says and its service, not on its prefix.
        self.claim_key = np.fromiter((claim_keys.setdefault((r.provider, r.service, r.region, r.border_group, r.country,
                                                               r.subdivision, r.city, r.anycast), len(claim_keys))
                                      for r in records), dtype=np.int64, count=count).tolist()
        self.claims: dict[int, str] = {}
        self.prefixlen = np.fromiter((_prefixlen(r.network) for r in records), dtype=np.int64, count=count)
        """As ``_build_answer`` compares them (no ``/``: a host, 128)."""
        self.answer_prefixlen = np.fromiter((_answer_prefixlen(r.network) for r in records), dtype=np.int64,
                                            count=count)
        """As ``Answer.prefixlen`` reads them (no ``/``: 0)."""
        self.evidence = np.empty(count, dtype=object)
        self.has_evidence = np.zeros(count, dtype=bool)


class Said:
    """What one source says about every combination of a batch (a row of the match matrix).

    ``classes``: a small number per combination for what the answer says (``semantic_key``),
    equal numbers meaning equal claims; 0 where the source has no answer.  ``prefixlens``: the
    answer's ``Answer.prefixlen`` (0 where none).  Evidence and service labels are asked only
    for the combinations that show them.
    """

    classes: np.ndarray
    prefixlens: np.ndarray

    def evidence(self, combos: np.ndarray) -> np.ndarray:
        """The evidence lines (a tuple) for each of ``combos``, all of which it answers for."""
        raise NotImplementedError

    def services(self, combos: np.ndarray) -> np.ndarray:
        """The service label of its answer for each of ``combos``."""
        raise NotImplementedError

    def answer(self, combo: int) -> Answer | None:
        """The source's full ``Answer`` for one combination (to decide, and for names)."""
        raise NotImplementedError


class RangeSaid(Said):
    def __init__(self, source: RangeSource, block: np.ndarray):
        self.source, self.block = source, block
        facts = source._rows
        self.located, self.bare = block[:, 0], block[:, 1]
        self.row = np.where(self.located >= 0, self.located, self.bare)
        answered = self.row >= 0
        self.classes = np.where(answered, facts.semantic[self.row], 0)
        self.prefixlens = np.where(answered, facts.answer_prefixlen[self.row], 0)

    def evidence(self, combos: np.ndarray) -> np.ndarray:
        source, facts = self.source, self.source._rows
        rows, located, bare = self.row[combos], self.located[combos], self.bare[combos]
        out = source.row_evidence(rows)
        # a more specific, provider-only prefix inside a located one: its line too
        both = np.flatnonzero((located >= 0) & (bare >= 0))
        more_specific = both[facts.prefixlen[bare[both]] > facts.prefixlen[located[both]]]
        if len(more_specific):
            for position, row in zip(more_specific.tolist(), bare[more_specific].tolist()):
                out[position] = out[position] + (source.beside_line(row),)
        return out

    def services(self, combos: np.ndarray) -> np.ndarray:
        facts = self.source._rows
        return facts.service_names[facts.service[self.row[combos]]]

    def answer(self, combo: int) -> Answer | None:
        return self.source.answer(tuple(self.block[combo].tolist()))


class EmbeddedSaid(Said):
    """The embedded default: a country table and an ASN table, one evidence line per row."""

    def __init__(self, source: Any, block: np.ndarray, kept: list[dict[int, Evidence]], answer_of):
        self.source, self.block, self.answer_of = source, block, answer_of
        country_ids, anycast = source.row_claims
        if not kept:  # per table: each row's evidence line once made (a dict: a run reads few of its rows)
            kept.extend({} for _ in range(block.shape[1]))
        self.kept = kept
        country = block[:, 0]
        found = country >= 0
        classes = np.where(found, country_ids[country] + 1, 0) * 2  # 0: no country
        if anycast is not None:
            asn = block[:, 1]
            found |= asn >= 0
            classes += np.where(asn >= 0, anycast[asn], False)
        self.classes = np.where(found, classes + 1, 0)
        self.prefixlens = np.zeros(len(block), dtype=np.int64)  # not a provider file: never compared

    def _lines(self, table: int, rows: np.ndarray) -> np.ndarray:
        """The evidence line of each of ``rows`` (none -1)."""
        lines, wanted = self.kept[table], rows.tolist()
        missing = sorted(row for row in set(wanted) if row not in lines)
        if missing:
            lines.update(zip(missing, evidence_lines(*self.source.evidence_parts(table, missing))))
        return as_objects(list(map(lines.__getitem__, wanted)))

    def evidence(self, combos: np.ndarray) -> np.ndarray:
        # a tuple per combination: its country line then its AS line, of those it has (zip makes them)
        block = self.block[combos]
        found = block >= 0
        lines = []
        for table in range(block.shape[1]):
            these = np.empty(len(combos), dtype=object)
            these[found[:, table]] = self._lines(table, block[found[:, table], table])
            lines.append(these)
        out = np.empty(len(combos), dtype=object)
        for tables in [(0,)] if block.shape[1] == 1 else [(0, 1), (0,), (1,)]:
            at = np.flatnonzero((found == [table in tables for table in range(block.shape[1])]).all(axis=1))
            if len(at):
                out[at] = np.fromiter(zip(*(lines[table][at].tolist() for table in tables)), dtype=object, count=len(at))
        return out

    def services(self, combos: np.ndarray) -> np.ndarray:
        return np.full(len(combos), "", dtype=object)

    def answer(self, combo: int) -> Answer | None:
        return self.answer_of(tuple(self.block[combo].tolist()))


class AnswersSaid(Said):
    """Any other source: one ``Answer`` per distinct row of its columns, made by ``answer_of``."""

    def __init__(self, block: np.ndarray, answer_of, class_of):
        self.block = block
        matched = np.flatnonzero((block >= 0).any(axis=1))
        rows = block[matched]
        first, inverse, _ = distinct_rows(list(rows.T), len(rows))
        answers = [answer_of(tuple(row)) for row in rows[first].tolist()]
        self.answers = np.empty(len(answers) + 1, dtype=object)  # the last one: no answer
        self.answers[:-1] = answers
        self.pick = np.full(len(block), len(answers), dtype=np.int64)
        self.pick[matched] = inverse
        classes = np.array([0 if a is None else class_of(a) for a in answers] + [0], dtype=np.int64)
        prefixlens = np.array([0 if a is None else a.prefixlen for a in answers] + [0], dtype=np.int64)
        self.classes, self.prefixlens = classes[self.pick], prefixlens[self.pick]

    def evidence(self, combos: np.ndarray) -> np.ndarray:
        return as_objects(list(map(operator.attrgetter("evidence"), self.answers[self.pick[combos]].tolist())))

    def services(self, combos: np.ndarray) -> np.ndarray:
        return as_objects(list(map(operator.attrgetter("service"), self.answers[self.pick[combos]].tolist())))

    def answer(self, combo: int) -> Answer | None:
        return self.answers[self.pick[combo]]


def distinct_rows(columns: Sequence[np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of ``count`` rows given as integer columns: the index of one row of each distinct kind,
    each row's kind, and the rows ordered by kind.

    The columns are folded into one int64 code (each column shifted to start at 0, times the
    product of the earlier widths), re-numbered densely whenever the next column would overflow
    it: a few flat integer sorts instead of one sort of wide rows.
    """
    code = np.zeros(count, dtype=np.int64)
    span = 1
    for column in columns:
        if count == 0:
            break
        low, high = int(column.min()), int(column.max())
        if low == high:
            continue
        width = high - low + 1
        if span * width >= 2**62:
            first, code, _ = _dense(code)
            span = len(first)
        code *= width
        code += column
        if low:
            code -= low
        span *= width
    return _dense(code)


def _dense(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(code, return_index=True, return_inverse=True)`` without its stable sort: the
    index of *some* element of each distinct value (not necessarily the first), and each
    element's value numbered 0, 1, ... in ascending order; and the elements in that order."""
    if len(code) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(code)
    ordered = code[order]
    starts = np.empty(len(code), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    kind = np.empty(len(code), dtype=np.int64)
    kind[order] = np.cumsum(starts) - 1
    return order[starts], kind, order


def _prefixlen(network: str) -> int:
    return int(network.rpartition("/")[2] or 128)


def _answer_prefixlen(network: str) -> int:
    return int(network.rpartition("/")[2] or 0) if network else 0
