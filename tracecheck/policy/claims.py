"""Where each source says a destination is, how much each source counts, and whether a place is
authorized.

Geo gives one ``Place`` (the most authoritative answer) and keeps every source's answer as
``Evidence``.  To judge disagreement we turn that evidence back into comparable claims (country,
subdivision, region) and rank the sources: a provider's own range file or the name the vendor
gave its endpoint outranks a geofeed, which outranks a GeoIP database.  Registry data (RDAP
registrant country, ASN owner) says who holds an address, not where it is used, so it never
counts as a location claim -- every AWS address is "registered in the US".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracecheck.policy import geo_facts
from tracecheck.policy.model import Authorized
from tracecheck.vocabulary import Evidence, Place, Service

RANK_PROVIDER = 3
RANK_GEOFEED = 2
RANK_GEOIP = 1
RANK_NOT_A_LOCATION = 0

_NOT_LOCATION = ("rdap", "whois", "registry", "rtt", "asn")
_PROVIDER = ("aws", "amazon", "azure", "microsoft", "gcp", "google", "oracle", "oci", "cloudflare", "fastly",
             "genesys", "hostname", "ip-ranges", "service-tags", "servicetags", "catalog")
_GEOFEED = ("geofeed", "rfc8805", "rfc-8805", "digitalocean")

# Which geo provider a catalog vendor's region codes belong to, for region look-ups.
_VENDOR_PROVIDER = {"aws": "aws", "microsoft": "azure", "google": "gcp", "oracle": "oracle", "genesys": "aws",
                    "mulesoft": "aws", "twilio": "aws"}


def source_rank(source: str) -> int:
    name = source.lower()
    if any(word in name for word in _NOT_LOCATION):
        return RANK_NOT_A_LOCATION
    if any(word in name for word in _PROVIDER):
        return RANK_PROVIDER
    if any(word in name for word in _GEOFEED):
        return RANK_GEOFEED
    return RANK_GEOIP


@dataclass(frozen=True)
class Claim:
    """One source's answer, reduced to what the policy compares."""

    source: str
    rank: int
    country: str | None
    subdivision: str = ""
    region: str = ""
    provider: str = ""
    jurisdictions: tuple[str, ...] = ()
    city: str = ""

    def label(self) -> str:
        """``eu-west-1 (IE)`` or ``US``: how a reason names the claim."""
        where = self.subdivision or self.country or "unknown country"
        return f"{self.region} ({where})" if self.region else where

    def same_place(self, other: Claim) -> bool:
        if self.country != other.country:
            return False
        if self.subdivision and other.subdivision and self.subdivision != other.subdivision:
            return False
        return not (self.region and other.region and self.region != other.region)


# Geo's claims read "region eu-west-1 (EC2)", "region us-east-1, border group ...", "country IE
# (Dublin)"; its catalog lines ("aws eu-west-1 is in IE") and "sources disagree" repeat those.
_COUNTRY_CLAIM = re.compile(r"^country\s+([A-Za-z]{2})\b")
_REGION_CLAIM = re.compile(r"^region\s+([A-Za-z0-9_-]+)")


def claim_from_region(source: str, rank: int, region: str, provider: str = "") -> Claim | None:
    """A claim for a region code, placed through the region catalog; None if it is not known."""
    record = geo_facts.find_region(region, provider or None)
    if record is None or not getattr(record, "country", None):
        return None
    return Claim(source=source, rank=rank, country=record.country, subdivision=getattr(record, "subdivision", "") or "",
                 region=region, provider=getattr(record, "provider", provider) or provider,
                 city=getattr(record, "city", "") or "")


def claims_from_evidence(evidence: tuple[Evidence, ...]) -> list[Claim]:
    """Every location claim in geo's evidence (country or region), registry data left out."""
    claims = []
    for item in evidence:
        rank = source_rank(item.source)
        if rank == RANK_NOT_A_LOCATION:
            continue
        region_match = _REGION_CLAIM.match(item.claim)
        country_match = _COUNTRY_CLAIM.match(item.claim)
        if region_match:
            claim = claim_from_region(item.source, rank, region_match.group(1), _provider_of(item.source))
            if claim:
                claims.append(claim)
        elif country_match:
            claims.append(Claim(source=item.source, rank=rank, country=country_match.group(1).upper()))
    return claims


def claim_from_hostname(service: Service | None) -> Claim | None:
    """What the hostname's implied region says, if the region catalog can place it."""
    if service is None or not service.region:
        return None
    provider = _VENDOR_PROVIDER.get(service.vendor.lower(), "")
    return claim_from_region("hostname", RANK_PROVIDER, service.region, provider)


def claim_from_place(place: Place, supporting: list[Claim]) -> Claim:
    """The place geo settled on, ranked as the strongest source that agrees with it."""
    claim = Claim(source="place", rank=RANK_GEOIP, country=place.country, subdivision=place.subdivision,
                  region=place.region, provider=place.provider, jurisdictions=place.jurisdictions, city=place.city)
    agreeing = sorted((other for other in supporting if other.country == place.country
                       and (not other.region or not place.region or other.region == place.region)),
                      key=lambda other: -other.rank)
    if agreeing:  # named after the strongest source that says so, for the reasons' sake
        return Claim(**{**claim.__dict__, "rank": agreeing[0].rank, "source": agreeing[0].source})
    return Claim(**{**claim.__dict__, "rank": RANK_PROVIDER if place.provider and place.region else RANK_GEOIP})


def _provider_of(source: str) -> str:
    name = source.lower()
    for word, provider in (("aws", "aws"), ("azure", "azure"), ("gcp", "gcp"), ("google", "gcp"), ("oracle", "oracle")):
        if word in name:
            return provider
    return ""


@dataclass(frozen=True)
class Authorization:
    """Whether a claim is inside the authorized set: True, False, or None (cannot tell)."""

    allowed: bool | None
    because: str


def authorize(claim: Claim, authorized: Authorized) -> Authorization:
    """Match a claim against the authorized regions, countries and jurisdiction groups."""
    for entry in authorized.regions:
        provider, _, code = entry.rpartition(":")
        if claim.region and claim.region.lower() == code and (not provider or provider == claim.provider.lower()):
            return Authorization(True, f"region {claim.region} is authorized")
    # Name the state only where the authorized set speaks of states ("US-TX is not in {US-CA}").
    where = claim.subdivision if claim.subdivision and _authorized_in_part(claim.country or "", authorized) \
        else claim.country
    if claim.country and claim.country in authorized.countries:
        return Authorization(True, f"{claim.country} is authorized")
    if claim.subdivision and claim.subdivision in authorized.countries:
        return Authorization(True, f"{claim.subdivision} is authorized")
    if claim.country:
        areas = set(claim.jurisdictions) | set(geo_facts.jurisdictions_for(claim.country, claim.subdivision))
        for group in authorized.jurisdictions:
            members = geo_facts.group_members(group) or frozenset()
            if group in areas or claim.country in members or (claim.subdivision and claim.subdivision in members):
                return Authorization(True, f"{where} is in {group}")
        if not claim.subdivision and _authorized_in_part(claim.country, authorized):
            return Authorization(None, f"{claim.country} is authorized only in part ({authorized.describe()}) "
                                       f"and no source names the {claim.country} subdivision")
    return Authorization(False, f"{where or 'the destination'} is not in {authorized.describe()}")


def _authorized_in_part(country: str, authorized: Authorized) -> bool:
    prefix = f"{country}-"
    if any(code.startswith(prefix) for code in authorized.countries):
        return True
    for group in authorized.jurisdictions:
        members = geo_facts.group_members(group) or frozenset()
        if group.startswith(prefix) or any(member.startswith(prefix) for member in members):
            return True
    return False
