"""The RTT bound: light in fibre (200 km/ms) limits how far a server can be from the capture site."""

from __future__ import annotations

import fake_geo
import pytest

from tracecheck.errors import UserError
from tracecheck.policy.physics import (
    COUNTRY_CENTROIDS,
    SiteError,
    check_distance,
    check_place,
    haversine_km,
    max_distance_km,
    parse_site,
)
from tracecheck.vocabulary import Place

DUBLIN = (53.35, -6.26)
ASHBURN = (39.04, -77.49)


@pytest.fixture(autouse=True)
def geo(monkeypatch):
    return fake_geo.install(monkeypatch)


def test_bound_is_half_the_round_trip_at_200_km_per_ms():
    assert max_distance_km(2) == 200
    assert max_distance_km(80) == 8000
    assert max_distance_km(0) == 0
    assert max_distance_km(-3) == 0  # a clock glitch never yields a negative bound


def test_haversine_known_distances():
    assert haversine_km(*DUBLIN, *DUBLIN) == 0
    assert haversine_km(*DUBLIN, *ASHBURN) == pytest.approx(5470, abs=60)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015, abs=5)  # half the equator


def test_dublin_with_2_ms_cannot_reach_us_east_1():
    site = parse_site("Dublin")
    check = check_place(site, 2.0, Place(ip="3.230.1.1", provider="aws", region="us-east-1", country="US"))
    assert check.outcome == "implausible"
    assert check.max_distance_km == 200 and check.distance_km == pytest.approx(5470, abs=60)
    assert "farther than light in fibre can go" in check.sentence()
    evidence = check.evidence()
    assert evidence.source == "rtt-bound" and "bound 200 km" in evidence.detail and "rtt 2 ms" in evidence.detail


def test_dublin_with_80_ms_can_reach_us_east_1_but_proves_little():
    check = check_place(parse_site("Dublin"), 80.0, Place(ip="3.230.1.1", region="us-east-1", provider="aws", country="US"))
    assert check.outcome == "consistent"
    assert check.max_distance_km == 8000


def test_a_small_bound_that_matches_corroborates():
    check = check_place(parse_site("eu-west-1"), 1.0, Place(ip="52.16.1.1", region="eu-west-1", provider="aws", country="IE"))
    assert check.outcome == "corroborated"
    frankfurt = check_place(parse_site("Dublin"), 1.0, Place(ip="3.120.0.1", region="eu-central-1", provider="aws"))
    assert frankfurt.outcome == "implausible"  # ~1,090 km away, bound 100 km


def test_slack_absorbs_data_centres_outside_the_named_city():
    site = parse_site("53.35,-6.26")
    # 120 km away with a 1 ms bound (100 km): within the 150 km position slack, not a lie
    assert check_distance(site, 1.0, 53.35, -4.45, "near Dublin").outcome != "implausible"
    assert check_distance(site, 1.0, 53.35, -1.0, "Leeds-ish").outcome == "implausible"


def test_country_only_places_carry_their_radius():
    # GeoIP says only "US": the country centre is far from Dublin, but the US reaches the east coast.
    check = check_place(parse_site("Dublin"), 60.0, Place(ip="8.8.8.8", country="US"))
    assert check.outcome == "consistent"
    assert check.slack_km >= COUNTRY_CENTROIDS["US"][2]
    assert check_place(parse_site("Dublin"), 2.0, Place(ip="8.8.8.8", country="US")).outcome == "implausible"


def test_no_position_or_anycast_means_no_check():
    site = parse_site("Dublin")
    assert check_place(site, 2.0, Place(ip="192.0.2.1")) is None
    assert check_place(site, 2.0, Place(ip="104.16.0.1", anycast=True, latitude=37.0, longitude=-122.0)) is None


def test_region_precision_coordinates_widen_the_slack():
    coarse = check_place(parse_site("Dublin"), 60.0, Place(ip="34.1.1.1", provider="gcp", region="us-central1"))
    assert coarse.slack_km == pytest.approx(150 + 400)


@pytest.mark.parametrize("text,lat,lon", [
    ("53.35,-6.26", 53.35, -6.26),
    (" -33.87 , 151.21 ", -33.87, 151.21),
    ("eu-west-1", 53.35, -6.26),
    ("aws:us-east-1", 39.04, -77.49),
    ("westeurope", 52.37, 4.9),
    ("Frankfurt", 50.11, 8.68),
    ("dublin", 53.35, -6.26),
    ("IE", 53.2, -8.0),
    ("de", 51.2, 10.4),
])
def test_parse_site_accepts_regions_cities_countries_and_coordinates(text, lat, lon):
    site = parse_site(text)
    assert (site.latitude, site.longitude) == (lat, lon)


def test_country_sites_are_uncertain_by_their_radius():
    assert parse_site("IE").radius_km == COUNTRY_CENTROIDS["IE"][2]
    assert parse_site("eu-west-1").radius_km == 0


@pytest.mark.parametrize("text", ["Atlantis", "91,0", "0,181", "", "aws:nowhere-1"])
def test_parse_site_rejects_what_it_cannot_place(text):
    with pytest.raises(SiteError) as err:
        parse_site(text)
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)
