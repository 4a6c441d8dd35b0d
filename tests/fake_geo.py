"""A small stand-in for ``tracecheck.geo.catalog`` so policy tests do not depend on geo's data files.

Use ``install(monkeypatch)``; it answers the same questions (find_region, load_jurisdictions,
all_regions) with a handful of regions and groups whose facts the tests state explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracecheck.policy import geo_facts


@dataclass(frozen=True)
class FakeRegion:
    provider: str
    code: str
    country: str
    subdivision: str
    city: str
    latitude: float
    longitude: float
    precision: str = "city"


REGIONS = (
    FakeRegion("aws", "eu-west-1", "IE", "", "Dublin", 53.35, -6.26),
    FakeRegion("aws", "eu-west-2", "GB", "", "London", 51.51, -0.13),
    FakeRegion("aws", "eu-central-1", "DE", "", "Frankfurt", 50.11, 8.68),
    FakeRegion("aws", "eu-north-1", "SE", "", "Stockholm", 59.33, 18.07),
    FakeRegion("aws", "us-east-1", "US", "US-VA", "Ashburn", 39.04, -77.49),
    FakeRegion("aws", "us-east-2", "US", "US-OH", "Columbus", 39.96, -83.0),
    FakeRegion("aws", "us-west-1", "US", "US-CA", "San Francisco", 37.77, -122.42),
    FakeRegion("aws", "sa-east-1", "BR", "", "Sao Paulo", -23.55, -46.63),
    FakeRegion("azure", "westeurope", "NL", "", "Amsterdam", 52.37, 4.9),
    FakeRegion("azure", "norwayeast", "NO", "", "Oslo", 59.91, 10.75),
    FakeRegion("gcp", "us-central1", "US", "US-IA", "Council Bluffs", 41.26, -95.86, precision="region"),
)

EU = frozenset({"AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "PT", "SE"})
GROUPS = {
    "EU": EU,
    "EEA": EU | {"IS", "LI", "NO"},
    "EU_ADEQUATE": EU | {"IS", "LI", "NO", "CH", "GB", "JP"},
    "UK": frozenset({"GB"}),
    "CH": frozenset({"CH"}),
    "BR": frozenset({"BR"}),
    "US": frozenset({"US"}),
    "US-CA": frozenset({"US-CA"}),
}


class FakeJurisdictions:
    def members(self, group: str) -> frozenset[str]:
        return GROUPS[group]  # KeyError for an unknown group, as geo raises UnknownGroup(KeyError)

    def jurisdictions_for(self, country: str | None, subdivision: str = "") -> tuple[str, ...]:
        if not country:
            return ()
        return tuple(sorted(name for name, places in GROUPS.items()
                            if country in places or (subdivision and subdivision in places)))


class FakeCatalog:
    """Hashable (geo_facts caches the loaded jurisdictions per catalog module)."""

    def find_region(self, code: str, provider: str | None = None):
        found = [r for r in REGIONS if r.code == code.lower() and (provider is None or r.provider == provider)]
        return found[0] if len(found) == 1 else None

    def load_jurisdictions(self) -> FakeJurisdictions:
        return FakeJurisdictions()

    def all_regions(self) -> tuple[FakeRegion, ...]:
        return REGIONS


def install(monkeypatch) -> FakeCatalog:
    fake = FakeCatalog()
    monkeypatch.setattr(geo_facts, "catalog_module", lambda: fake)
    return fake
