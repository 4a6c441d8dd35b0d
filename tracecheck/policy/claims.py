"""Where each source says a destination is, how much each source counts, and whether a place is
authorized.

Geo gives one ``Place``, decided by the most authoritative source (``Place.basis``), and keeps
every source's answer as ``Evidence`` whose kind and claimed place are data (``Evidence.kind``,
``Evidence.where``).  The policy compares those claims by the same ranking geo used,
``vocabulary.SOURCE_RANK``: nothing here reads a source's name or its prose.  Registry data
(RDAP registrant country), names seen and catalog lines never count as location claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracecheck.policy import geo_facts
from tracecheck.policy.model import Authorized
from tracecheck.vocabulary import SOURCE_RANK, Evidence, Located, Place, SourceKind

WEAKEST_PLACING = SourceKind.EMBEDDED
"""The kind a place is taken to rest on when nothing says which source decided it."""


@dataclass(frozen=True)
class Claim:
    """One source's answer, reduced to what the policy compares."""

    source: str
    kind: SourceKind
    where: Located
    jurisdictions: tuple[str, ...] = ()
    """The decided place's legal areas, as geo found them (claims from evidence leave it empty)."""

    @classmethod
    def of(cls, evidence: Evidence) -> Claim:
        assert evidence.where is not None
        return cls(source=evidence.source, kind=evidence.kind, where=evidence.where)

    @property
    def rank(self) -> int:
        """``SOURCE_RANK`` of the claim's kind: 0 is strongest."""
        rank = SOURCE_RANK[self.kind]
        return len(SOURCE_RANK) if rank is None else rank

    def label(self) -> str:
        """``eu-west-1 (IE)``, ``US``, ``anycast``: how a reason names the claim."""
        return self.where.label()

    def same_place(self, other: Claim) -> bool:
        return self.where.same_place(other.where)


def claims_from_evidence(evidence: tuple[Evidence, ...]) -> list[Claim]:
    """Every location claim in geo's evidence, from sources that may place an address."""
    return [Claim.of(item) for item in evidence
            if item.where is not None and SOURCE_RANK.get(item.kind) is not None
            and (item.where.country or item.where.anycast)]


def claim_from_place(place: Place) -> Claim | None:
    """The place geo settled on, as a claim of the source that decided it; None when nothing
    placed the address."""
    if not (place.country or place.anycast):
        return None
    kind = place.basis if place.basis is not None and SOURCE_RANK.get(place.basis) is not None else WEAKEST_PLACING
    for item in place.evidence:  # the deciding line says it best (an AWS Local Zone, not its parent region)
        if item.kind is kind and item.where is not None and (item.where.anycast, item.where.country) == \
                (place.anycast, place.country):
            return Claim(source=item.source, kind=kind, where=item.where, jurisdictions=place.jurisdictions)
    where = Located(country=place.country, subdivision=place.subdivision, region=place.region,
                    provider=place.provider, city=place.city, anycast=place.anycast)
    return Claim(source=kind.value, kind=kind, where=where, jurisdictions=place.jurisdictions)


@dataclass(frozen=True)
class Authorization:
    """Whether a claim is inside the authorized set: True, False, or None (cannot tell)."""

    allowed: bool | None
    because: str


def authorize(claim: Claim, authorized: Authorized) -> Authorization:
    """Match a claim against the authorized regions, countries and jurisdiction groups.

    Asked once per destination, of a few hundred distinct places: each answer is remembered for
    the place, the authorized set and the catalog it was worked out with."""
    catalog = geo_facts.catalog_module()
    key = (claim.where, tuple(claim.jurisdictions), tuple(authorized.regions), tuple(authorized.countries),
           tuple(authorized.jurisdictions), id(catalog))
    found = _ANSWERS.get(key)
    if found is not None and found[0] is catalog:
        return found[1]
    answer = _authorize(claim, authorized)
    if len(_ANSWERS) >= _ANSWERS_KEPT:
        _ANSWERS.clear()
    _ANSWERS[key] = (catalog, answer)
    return answer


_ANSWERS: dict[tuple, tuple[object, Authorization]] = {}
_ANSWERS_KEPT = 4096


def _authorize(claim: Claim, authorized: Authorized) -> Authorization:
    if claim.where.anycast or not claim.where.country:
        return Authorization(None, "no single country can be claimed")
    for entry in authorized.regions:
        provider, _, code = entry.rpartition(":")
        if claim.where.region and claim.where.region.lower() == code and (not provider or provider == claim.where.provider.lower()):
            return Authorization(True, f"region {claim.where.region} is authorized")
    # Name the state only where the authorized set speaks of states ("US-TX is not in {US-CA}").
    where = claim.where.subdivision if claim.where.subdivision and _authorized_in_part(claim.where.country, authorized) \
        else claim.where.country
    if claim.where.country in authorized.countries:
        return Authorization(True, f"{claim.where.country} is authorized")
    if claim.where.subdivision and claim.where.subdivision in authorized.countries:
        return Authorization(True, f"{claim.where.subdivision} is authorized")
    areas = set(claim.jurisdictions) | set(geo_facts.jurisdictions_for(claim.where.country, claim.where.subdivision))
    for group in authorized.jurisdictions:
        members = geo_facts.group_members(group) or frozenset()
        if group in areas or claim.where.country in members or (claim.where.subdivision and claim.where.subdivision in members):
            return Authorization(True, f"{where} is in {group}")
    if not claim.where.subdivision and _authorized_in_part(claim.where.country, authorized):
        return Authorization(None, f"{claim.where.country} is authorized only in part ({authorized.describe()}) "
                                   f"and no source names the {claim.where.country} subdivision")
    return Authorization(False, f"{where} is not in {authorized.describe()}")


def in_places(claim: Claim | None, regions: list[str], countries: list[str], jurisdictions: list[str]) -> bool:
    """Whether ``claim`` lies in any of the places an exception is bounded to (an unplaced or
    anycast destination lies in none of them)."""
    if claim is None:
        return False
    bounded = Authorized.model_construct(regions=regions, countries=countries, jurisdictions=jurisdictions)
    return authorize(claim, bounded).allowed is True


def _authorized_in_part(country: str, authorized: Authorized) -> bool:
    """Whether the authorized set names a subdivision of ``country`` (``US-CA`` for ``US``), itself
    or through a group's members."""
    return country in _partly_authorized(tuple(authorized.countries), tuple(authorized.jurisdictions),
                                         geo_facts.catalog_module())


_PARTLY_KEPT = 64  # distinct authorized sets remembered: a policy has a few (its own, its rules')


def _partly_authorized(countries: tuple[str, ...], jurisdictions: tuple[str, ...], catalog) -> frozenset[str]:
    """Every ``X`` such that an authorized code or group member starts with ``X-``: asked once per
    destination, it is worked out once per authorized set (and catalog)."""
    key = (countries, jurisdictions, id(catalog))
    found = _PARTLY.get(key)
    if found is None or found[0] is not catalog:
        codes = list(countries)
        for group in jurisdictions:
            codes += [group, *(geo_facts.group_members(group) or ())]
        prefixes = frozenset(code[:at] for code in codes for at, ch in enumerate(code) if ch == "-")
        if len(_PARTLY) >= _PARTLY_KEPT:
            _PARTLY.clear()
        found = _PARTLY[key] = (catalog, prefixes)
    return found[1]


_PARTLY: dict[tuple, tuple[object, frozenset[str]]] = {}
