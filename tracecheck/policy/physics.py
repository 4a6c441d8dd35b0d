"""The physics check: a handshake round trip bounds how far away a server can be.

Light in optical fibre covers about 200 km per millisecond (c / 1.47).  A round trip of ``rtt`` ms
measured at the capture site therefore puts the server at most ``rtt / 2 * 200`` km away -- real
paths are longer than great circles and add queuing, so the true distance is smaller still.
A claimed place farther than that bound cannot be right: the address is anycast, the data is
stale, or a source lies.  A claim well inside a *small* bound is corroborated: the server must be
near, and the claim says it is.  Anything else is consistent but proves little.

Coordinates name a city, not a building: ``POSITION_SLACK_KM`` absorbs the distance from the
city a region is named after to its data centres; a country centroid carries the country's radius.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from tracecheck.errors import UserError
from tracecheck.policy import geo_facts
from tracecheck.vocabulary import Evidence, Place, SourceKind

FIBRE_KM_PER_MS = 200.0
EARTH_RADIUS_KM = 6371.0088
POSITION_SLACK_KM = 150.0
"""How far a region's data centres may sit from the coordinates the catalog gives for it."""
NEAR_KM = 1000.0
"""A bound this small or smaller lets a matching claim count as corroborated."""

# Geographic centre and a radius that covers the country's mainland, for sites and places known
# only by country.  Kept small on purpose: a site should be a region, a city or coordinates.
COUNTRY_CENTROIDS: dict[str, tuple[float, float, float]] = {
    "IE": (53.2, -8.0, 250), "GB": (54.0, -2.5, 600), "DE": (51.2, 10.4, 450), "FR": (46.6, 2.4, 600),
    "NL": (52.2, 5.5, 150), "BE": (50.6, 4.6, 150), "LU": (49.8, 6.1, 50), "ES": (40.2, -3.6, 600),
    "PT": (39.6, -8.0, 300), "IT": (42.8, 12.6, 650), "AT": (47.6, 14.1, 300), "CH": (46.8, 8.2, 200),
    "SE": (62.0, 15.0, 800), "NO": (64.5, 12.0, 900), "FI": (64.0, 26.0, 600), "DK": (56.0, 10.0, 200),
    "PL": (52.0, 19.4, 350), "CZ": (49.8, 15.5, 250), "IS": (64.9, -18.6, 250),
    "US": (39.8, -98.6, 2600), "CA": (56.1, -106.3, 2800), "MX": (23.6, -102.5, 1500),
    "BR": (-10.8, -52.9, 2300), "AR": (-38.4, -63.6, 1700), "CL": (-35.7, -71.5, 2100),
    "JP": (36.2, 138.3, 1200), "KR": (36.5, 127.9, 300), "CN": (35.9, 104.2, 2500), "TW": (23.7, 121.0, 250),
    "HK": (22.3, 114.2, 40), "SG": (1.35, 103.8, 30), "MY": (4.2, 101.9, 1000), "IN": (22.0, 79.0, 1600),
    "ID": (-2.5, 118.0, 2600), "AU": (-25.3, 133.8, 2300), "NZ": (-41.8, 172.8, 800),
    "ZA": (-29.0, 24.7, 900), "AE": (24.0, 54.0, 250), "SA": (23.9, 45.1, 1100), "IL": (31.4, 35.0, 250),
    "QA": (25.3, 51.2, 100), "BH": (26.0, 50.55, 30),
}


class SiteError(UserError, ValueError):
    """A site that cannot be placed. A UserError for the CLI, a ValueError for pydantic."""


@dataclass(frozen=True)
class Site:
    """Where the capture was taken."""

    latitude: float
    longitude: float
    label: str
    """How the user named it, and what that resolved to (``Dublin (aws eu-west-1)``)."""
    radius_km: float = 0.0
    """Uncertainty of the position (a country centroid's radius)."""


@dataclass(frozen=True)
class PhysicsCheck:
    """The RTT bound against one claimed place, with the figures an auditor re-computes."""

    outcome: Literal["implausible", "corroborated", "consistent"]
    rtt_ms: float
    max_distance_km: float
    distance_km: float
    slack_km: float
    site: str
    claimed: str

    def sentence(self) -> str:
        figures = (f"handshake RTT {self.rtt_ms:g} ms from {self.site} bounds the server to "
                   f"{self.max_distance_km:,.0f} km; {self.claimed} is {self.distance_km:,.0f} km away")
        if self.outcome == "implausible":
            return (f"{figures}, farther than light in fibre can go (allowing {self.slack_km:,.0f} km for "
                    f"position uncertainty): anycast, stale data or a false claim")
        if self.outcome == "corroborated":
            return f"{figures}: the server must be near, and the claim agrees"
        return f"{figures}: consistent"

    def evidence(self) -> Evidence:
        return Evidence(
            source="rtt-bound",
            kind=SourceKind.RTT_BOUND,
            claim=f"{self.outcome} {self.claimed}",
            detail=(f"rtt {self.rtt_ms:g} ms, bound {self.max_distance_km:.0f} km "
                    f"(rtt/2 x {FIBRE_KM_PER_MS:g} km/ms), distance {self.distance_km:.0f} km, "
                    f"slack {self.slack_km:.0f} km, site {self.site}"),
        )


def max_distance_km(rtt_ms: float) -> float:
    """The farthest a server can be from the capture site, given the handshake round trip."""
    return max(rtt_ms, 0.0) / 2.0 * FIBRE_KM_PER_MS


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a spherical Earth (error under 0.5%, far below our slack)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def check_distance(site: Site, rtt_ms: float, latitude: float, longitude: float, claimed: str,
                   claim_radius_km: float = 0.0) -> PhysicsCheck:
    """Compare the claimed coordinates with the bound ``rtt_ms`` sets around ``site``."""
    bound = max_distance_km(rtt_ms)
    distance = haversine_km(site.latitude, site.longitude, latitude, longitude)
    slack = POSITION_SLACK_KM + site.radius_km + claim_radius_km
    if distance - slack > bound:
        outcome = "implausible"
    elif bound <= NEAR_KM and distance <= bound + slack:
        outcome = "corroborated"
    else:
        outcome = "consistent"
    return PhysicsCheck(outcome, rtt_ms, bound, distance, slack, site.label, claimed)


def claimed_position(place: Place) -> tuple[float, float, float, str] | None:
    """(latitude, longitude, radius_km, label) of the place a destination is said to be in."""
    label = place.region or place.city or place.country or place.ip
    if place.latitude is not None and place.longitude is not None:
        return place.latitude, place.longitude, 0.0, label
    if place.region:
        region = geo_facts.find_region(place.region, place.provider or None)
        if _has_position(region):
            return region.latitude, region.longitude, _imprecision_km(region), \
                f"{place.region} ({region.city or region.country})"
    if place.country and place.country in COUNTRY_CENTROIDS:
        lat, lon, radius = COUNTRY_CENTROIDS[place.country]
        return lat, lon, radius, f"{place.country} (country centre, ±{radius:.0f} km)"
    return None


def check_place(site: Site, rtt_ms: float, place: Place) -> PhysicsCheck | None:
    """The physics check for a placed destination, or None when the place has no position."""
    position = claimed_position(place)
    if position is None or place.anycast or place.local:
        return None
    lat, lon, radius, label = position
    return check_distance(site, rtt_ms, lat, lon, label, claim_radius_km=radius)


_LAT_LON = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*$")


def parse_site(text: str) -> Site:
    """A site from a region code, a city in the region catalog, an ISO country, or ``lat,lon``."""
    given = str(text).strip()
    found = _LAT_LON.match(given)
    if found:
        lat, lon = float(found.group(1)), float(found.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SiteError(f"site '{given}': latitude must be within ±90 and longitude within ±180")
        return Site(lat, lon, f"{lat:g},{lon:g}")
    provider, _, code = given.rpartition(":")
    region = geo_facts.find_region(code.lower(), provider.lower() or None) if code else None
    if _has_position(region):
        return Site(region.latitude, region.longitude, f"{given} ({region.city or region.country})",
                    radius_km=_imprecision_km(region))
    city = _find_city(given)
    if city is not None:
        return Site(city.latitude, city.longitude, f"{given} ({getattr(city, 'provider', '')} {city.code})".replace("( ", "("))
    if given.upper() in COUNTRY_CENTROIDS:
        lat, lon, radius = COUNTRY_CENTROIDS[given.upper()]
        return Site(lat, lon, f"{given.upper()} (country centre)", radius_km=radius)
    raise SiteError(
        f"site '{given}' is not a region code, a city in the region catalog, an ISO country or "
        f"'lat,lon' (for example eu-west-1, Dublin, IE or 53.35,-6.26)")


def _has_position(region: Any) -> bool:
    """Coordinates good enough for a distance: the catalog marks country-level points as not."""
    return region is not None and getattr(region, "latitude", None) is not None \
        and getattr(region, "longitude", None) is not None and getattr(region, "precision", "city") != "country"


def _imprecision_km(region: Any) -> float:
    # A point somewhere in the state or province the provider names, not the city itself.
    return 400.0 if getattr(region, "precision", "city") == "region" else 0.0


def _find_city(name: str) -> Any | None:
    wanted = name.casefold()
    matches = [region for region in geo_facts.regions()
               if str(getattr(region, "city", "")).casefold() == wanted and _has_position(region)]
    # Several providers name the same city: any of them places the site well within our slack.
    return min(matches, key=lambda r: (str(getattr(r, "provider", "")), r.code)) if matches else None
