"""What location a customer sees of a driver, and when they see the driver at all."""
import math

import pytest

from services.tracking.eta import distance_m
from services.tracking.privacy import (
    APPROXIMATE, EXACT, MIN_CELL_M, NONE, location, snap, visible)

RECORDED = "2024-05-01T10:31:59.900000+00:00"
# A spread of places: the equator, mid latitudes both sides, far north and south.
PLACES = [(lat, lng) for lat in (-71.3, -33.87, -0.004, 0.0, 12.5, 48.8566, 51.5074, 60.17, 69.6)
          for lng in (-179.99, -122.42, -0.1278, 0.0, 2.3522, 151.2, 179.99)]


def metres_north(lat, lng, m):
    return lat + m / 111_320, lng


def test_two_points_100_m_apart_in_one_cell_look_the_same():
    centre = snap(51.5074, -0.1278)
    one, other = metres_north(*centre, -50), metres_north(*centre, 50)
    assert distance_m(*one, *other) == pytest.approx(100, abs=1)
    shown = [location(APPROXIMATE, lat=p[0], lng=p[1], recorded_at=RECORDED, accuracy_m=5)
             for p in (one, other)]
    assert shown[0] == shown[1]
    assert (shown[0]["lat"], shown[0]["lng"]) == centre


def test_repeated_reads_are_identical_so_nothing_averages_out():
    reads = {snap(48.858370, 2.294481) for _ in range(50)}
    assert len(reads) == 1
    assert reads != {(48.858370, 2.294481)}


@pytest.mark.parametrize("cell_m", [MIN_CELL_M, 2500])
def test_the_snapped_point_stays_near_the_true_one_but_not_on_it(cell_m):
    for lat, lng in PLACES:
        for dlat, dlng in ((0, 0), (0.0031, -0.0047), (-0.0062, 0.0093)):
            p = (lat + dlat, lng + dlng)
            centre = snap(*p, cell_m)
            assert distance_m(*p, *centre) <= cell_m * 0.75, (p, centre)
            assert all(round(v, 6) == v for v in centre)
    # Points spread over 10 km show only a handful of distinct centres.
    spread = {snap(51.5 + i * 0.0009, -0.12, cell_m) for i in range(100)}
    assert len(spread) <= 10_000 // cell_m + 1


@pytest.mark.parametrize("lat", [0.0, 45.0, 60.0, 70.0])
def test_cells_are_about_a_kilometre_wide_at_any_latitude(lat):
    centre = snap(lat, 10.0)
    east = snap(centre[0], centre[1] + 1000 / (111_320 * math.cos(math.radians(centre[0]))))
    north = snap(*metres_north(*centre, 1000))
    assert east != centre and north != centre
    # The grid counts 111,320 m a degree, haversine's mean Earth 111,195: 0.1% apart.
    assert 995 <= distance_m(*centre, *east) < 1050
    # Rows do not line up their columns (each has its own step): measure the row height alone.
    assert 995 <= distance_m(centre[0], 0, north[0], 0) < 1005


def test_cells_smaller_than_the_minimum_are_refused():
    with pytest.raises(ValueError):
        snap(51.5, -0.12, 999)
    with pytest.raises(ValueError):
        location(APPROXIMATE, lat=51.5, lng=-0.12, recorded_at=RECORDED, accuracy_m=5, cell_m=100)


def test_poles_and_the_antimeridian():
    for lat, lng in ((90, 0), (90, 123), (-90, -45), (89.9999, 179.9999), (0, 180), (0, -180),
                     (10, 540), (10, -539.5)):
        c_lat, c_lng = snap(lat, lng)
        assert -90 <= c_lat <= 90 and -180 <= c_lng <= 180, (lat, lng)
    assert snap(0, 180) == snap(0, -180)
    assert snap(10, 540) == snap(10, 180)
    assert snap(90, 0) == snap(90, 90)                 # at the pole every longitude is one point
    with pytest.raises(ValueError):
        snap(91, 0)
    with pytest.raises(ValueError):
        snap(float("nan"), 0)


def test_exact_sharing_shows_the_position():
    assert location(EXACT, lat=51.5074, lng=-0.1278, recorded_at=RECORDED, accuracy_m=7.6) == {
        "lat": 51.5074, "lng": -0.1278, "precision_m": 8, "recorded_at": RECORDED}
    assert location(EXACT, lat=51.5, lng=-0.1, recorded_at=RECORDED, accuracy_m=None)["precision_m"] is None


def test_approximate_sharing_coarsens_place_precision_and_time():
    shown = location(APPROXIMATE, lat=51.5074, lng=-0.1278, recorded_at=RECORDED, accuracy_m=5)
    assert (shown["lat"], shown["lng"]) == snap(51.5074, -0.1278)
    assert shown["precision_m"] >= 1000
    assert shown["recorded_at"] == "2024-05-01T10:31:00+00:00"
    later = location(APPROXIMATE, lat=51.5074, lng=-0.1278, recorded_at="2024-05-01T12:31:07+02:00",
                     accuracy_m=5, cell_m=1500.4)
    assert later["recorded_at"] == "2024-05-01T10:31:00+00:00"
    assert later["precision_m"] == 1501


@pytest.mark.parametrize("sharing", [NONE, "", "EXACT", "full", "precise", None])
def test_no_sharing_or_an_unknown_value_shows_nothing(sharing):
    assert location(sharing, lat=51.5, lng=-0.1, recorded_at=RECORDED, accuracy_m=5) is None


def test_visible_only_while_in_transit_sharing_and_serving_this_customer():
    def can_see(sharing=EXACT, status="in_transit", mine="cust-1", serving="cust-1"):
        return visible(sharing, order_status=status, order_customer_id=mine, serving_customer_id=serving)

    assert can_see() and can_see(sharing=APPROXIMATE)
    assert not can_see(sharing=NONE)
    assert not can_see(sharing="everything")
    for status in ("draft", "submitted", "scheduled", "delivered", "failed", "cancelled"):
        assert not can_see(status=status)
    assert not can_see(serving="cust-2")          # on the way to another customer first
    assert not can_see(serving=None)              # no pending stop: nothing to follow
    assert not can_see(mine="", serving="")
