"""Which source's answer places an address, and how the others are kept.

One ranking, ``vocabulary.SOURCE_RANK``, read here and by the policy: the provider's own range
file > the vendor's regional hostname > an RFC 8805 geofeed > an imported GeoIP database > the
embedded GeoIP default; RDAP never places (it says who registered an address, not where it is
used).  The most authoritative answer that says *where* (a region, a country, or "no single
place") decides; every other answer stays in the evidence, and when they name different places
a ``sources disagree`` line says so and who won.

"No single place" is one rule, whoever says it: an anycast prefix, a provider's global or
regionless range (AWS ``GLOBAL``, GCP ``global``, Azure's ``AzureFrontDoor``), a name or CNAME
that leads to a known anycast edge.  A GeoIP country for such an address is shown, never decides.

A provider region becomes a country, city and coordinates only through the region catalog
(``geo_db/regions.yaml``); a region the catalog does not know is said so, and the next source's
country is used instead of a guess.  Anycast answers never get a country.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from tracecheck.geo.sources.interface import Answer
from tracecheck.vocabulary import SOURCE_RANK, Evidence, SourceKind

CATALOG = "region-catalog"
TRACECHECK = "tracecheck"

_ADDRESS_FILES = frozenset({SourceKind.PROVIDER, SourceKind.GEOFEED})

# Ties between provider files covering the same prefix: the cloud's own file before a tenant's.
PROVIDER_ORDER = ("aws", "azure", "gcp", "google", "oracle", "cloudflare", "fastly", "genesys")


class RegionLike(Protocol):
    country: str
    subdivision: str
    city: str
    latitude: float
    longitude: float
    source: str


FindRegion = Callable[[str, str], "RegionLike | None"]


class JurisdictionsLike(Protocol):
    def jurisdictions_for(self, country: str | None, subdivision: str = "") -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Decision:
    """What a set of answers decides, apart from the answers' own evidence lines.

    It depends only on what each source *says* (``semantic_key``), not on which prefix it
    matched, so one decision serves every address whose sources say the same things.
    """

    fields: dict[str, Any]
    """``Place`` fields except ``ip`` and ``evidence``."""
    order: tuple[int, ...]
    """Answer positions, in the order their evidence is listed (most authoritative first)."""
    after: dict[int, tuple[Evidence, ...]]
    """Lines to list right after an answer's own (the region catalog's placement of it)."""
    tail: tuple[Evidence, ...]
    """Closing lines (``sources disagree``)."""
    service_from: int | None = None
    """The answer whose service label the place shows (it never changes the decision)."""

    def evidence(self, answers: list[Answer]) -> tuple[Evidence, ...]:
        out: list[Evidence] = []
        for position in self.order:
            out.extend(answers[position].evidence)
            out.extend(self.after.get(position, ()))
        out.extend(self.tail)
        return tuple(out)


def semantic_key(answer: Answer) -> tuple:
    """What an answer says that can change a decision: not its service label (copied as is),
    its prefix, or its evidence text.

    (Among several provider answers the more specific prefix comes first: ``decision_key``.)
    """
    return (answer[:3], answer[4:12])


def decision_key(answers: list[Answer], semantic: tuple) -> tuple:
    """``semantic`` plus, where two provider files answer, which prefix is more specific."""
    providers = [a.prefixlen for a in answers if a.kind is SourceKind.PROVIDER]
    return semantic if len(providers) < 2 else (*semantic, tuple(providers))


def decide(answers: list[Answer], find_region: FindRegion, jurisdictions: JurisdictionsLike | None) -> Decision:
    order = _by_authority(answers)
    fields: dict[str, Any] = {"provider": "", "service": "", "region": "", "country": None, "subdivision": "",
                              "city": "", "latitude": None, "longitude": None, "jurisdictions": (),
                              "anycast": False, "local": False, "basis": None}
    # The service label and region shown come from an address's own file, not from a name.
    service_from = next((i for i in order if answers[i].provider and answers[i].kind in _ADDRESS_FILES), None)
    if service_from is not None:
        named = answers[service_from]
        fields.update(provider=named.provider, service=named.service, region=named.region)

    claims: list[tuple[str, str]] = []  # (place claimed, by which source) for the disagreement line
    after: dict[int, tuple[Evidence, ...]] = {}
    listed: set[Evidence] = set()
    decided: Answer | None = None
    for position in order:
        answer = answers[position]
        catalog_lines: list[Evidence] = []
        place = _claimed_place(answer, find_region, catalog_lines)
        fresh = tuple(line for line in catalog_lines if line not in listed)  # two names, one region: one line
        listed.update(fresh)
        if fresh:
            after[position] = fresh
        if place is None or SOURCE_RANK[answer.kind] is None:
            continue
        claims.append((place["claim"], answer.source))
        if decided is None:
            decided = answer
            fields.update({k: v for k, v in place.items() if k not in ("claim", "region")})
            fields["basis"] = answer.kind
            if not fields["region"] and answer.region and answer.provider and not fields["anycast"]:
                fields.update(provider=answer.provider, region=answer.region)  # a vendor's regional name
    if decided is not None and fields["anycast"]:
        fields["country"] = None
    if fields["country"] and jurisdictions is not None:
        fields["jurisdictions"] = _jurisdictions(jurisdictions, fields["country"], fields["subdivision"])
    tail: tuple[Evidence, ...] = ()
    distinct = sorted({claim for claim, _ in claims})
    if len(distinct) > 1 and decided is not None:
        said = "; ".join(f"{claim} ({source})" for claim, source in claims)
        tail = (Evidence(TRACECHECK, f"sources disagree: {', '.join(distinct)}",
                         f"{said}; the most authoritative, {decided.source}, decides", SourceKind.NOTE),)
    return Decision(fields=fields, order=tuple(order), after=after, tail=tail, service_from=service_from)


def place_fields(answers: list[Answer], find_region: FindRegion, jurisdictions: JurisdictionsLike | None) -> dict[str, Any]:
    """The fields of a ``Place`` (all but ``ip``) that these answers support."""
    decision = decide(answers, find_region, jurisdictions)
    return {**decision.fields, "evidence": decision.evidence(answers)}


def _by_authority(answers: list[Answer]) -> list[int]:
    """Positions by ``SOURCE_RANK`` (those that never place last); among provider files, the one
    that says where and most specifically first."""
    def key(position: int) -> tuple:
        answer = answers[position]
        rank = SOURCE_RANK[answer.kind]
        if rank is None:
            return (len(SOURCE_RANK), 0, 0, position)
        if answer.kind is SourceKind.PROVIDER:
            return (rank, not answer.located, -answer.prefixlen, position)
        return (rank, 0, 0, position)

    return sorted(range(len(answers)), key=key)


def _claimed_place(answer: Answer, find_region: FindRegion, evidence: list[Evidence]) -> dict[str, Any] | None:
    """Where this one answer says the address is, or None if it does not say."""
    if answer.anycast:
        return {"claim": "anycast", "anycast": True, "country": None}
    if answer.region and answer.provider:
        region = _catalog_region(answer, find_region)
        if region is not None:
            precise = getattr(region, "precision", "city") != "country"
            evidence.append(Evidence(CATALOG, _catalog_claim(answer, region), _catalog_detail(region),
                                     SourceKind.CATALOG))
            return {"claim": f"country {region.country}", "country": region.country,
                    "subdivision": region.subdivision or "", "city": region.city or "",
                    "latitude": region.latitude if precise else None,
                    "longitude": region.longitude if precise else None}
        evidence.append(Evidence(CATALOG, f"unknown region {answer.provider} {answer.region}",
                                 "not in geo_db/regions.yaml; the next source's country is used", SourceKind.CATALOG))
    if answer.country:
        return {"claim": f"country {answer.country}", "country": answer.country,
                "subdivision": answer.subdivision, "city": answer.city,
                "latitude": answer.latitude, "longitude": answer.longitude}
    return None


def _catalog_region(answer: Answer, find_region: FindRegion) -> RegionLike | None:
    # An AWS Local Zone (network border group us-east-1-lim-1) can sit in another country
    # than its parent region, so the border group is asked first.
    catalog_provider = "gcp" if answer.provider == "google" else answer.provider
    for code in dict.fromkeys((answer.border_group, answer.region)):
        if code:
            region = find_region(code, catalog_provider)
            if region is not None:
                return region
    return None


def _catalog_claim(answer: Answer, region: RegionLike) -> str:
    code = getattr(region, "code", answer.region)
    where = ", ".join(part for part in (region.city, region.subdivision) if part)
    return f"{answer.provider} {code} is in {region.country}" + (f" ({where})" if where else "")


def _catalog_detail(region: RegionLike) -> str:
    detail = f"geo_db/regions.yaml, source {region.source}"
    if getattr(region, "inferred", False):
        detail += f"; inferred: {getattr(region, 'note', '')}"
    return detail


def _jurisdictions(jurisdictions: JurisdictionsLike, country: str, subdivision: str) -> tuple[str, ...]:
    try:
        return tuple(jurisdictions.jurisdictions_for(country, subdivision))
    except ValueError:  # a subdivision of another country: trust the country alone
        return tuple(jurisdictions.jurisdictions_for(country))
