"""ETAs per stop, the learned speed, and the travel models (OSRM against a real HTTP server)."""
import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from services.tracking import eta as eta_module
from services.tracking.eta import (
    GreatCircle, Osrm, PlannedStop, Point, SpeedLearner, StopEta, distance_m, estimate, eta_moved,
    travel_model)

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
HERE = Point(51.5000, -0.1200, NOW)
# Stops going east along a parallel, about 1.4, 2.8 and 4.2 km from HERE.
A, B, C = (51.5000, -0.1000), (51.5000, -0.0800), (51.5000, -0.0600)


def stop(stop_id, at, *, window_start=None, window_end=None, service_s=300.0, arrived_at=None):
    lat, lng = at if at is not None else (None, None)
    return PlannedStop(stop_id, lat, lng, window_start, window_end, service_s, arrived_at)


def travel(a, b, speed=10.0):
    return timedelta(seconds=distance_m(*a, *b) * 1.3 / speed)


class Counting:
    """A travel model that counts calls: an estimate must ask once for all legs."""

    def __init__(self):
        self.calls = 0

    def leg_seconds(self, legs, speed_mps):
        self.calls += 1
        return GreatCircle().leg_seconds(legs, speed_mps)


def test_london_to_paris_is_about_343_km():
    assert distance_m(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343_500, abs=1000)
    assert distance_m(10, 20, 10, 20) == 0


def test_etas_increase_along_the_route_and_the_model_is_asked_once():
    model = Counting()
    etas = estimate(HERE, [stop("a", A), stop("b", B), stop("c", C)], 10.0, model, NOW)
    assert [e.stop_id for e in etas] == ["a", "b", "c"]
    assert etas[0].eta == NOW + travel((HERE.lat, HERE.lng), A)
    assert etas[1].eta == etas[0].eta + timedelta(seconds=300) + travel(A, B)
    assert etas[0].eta < etas[1].eta < etas[2].eta
    assert not any(e.late for e in etas)
    assert model.calls == 1


def test_a_faster_driver_arrives_sooner():
    slow = estimate(HERE, [stop("a", A)], 5.0, GreatCircle(), NOW)[0].eta
    fast = estimate(HERE, [stop("a", A)], 20.0, GreatCircle(), NOW)[0].eta
    assert fast < slow


def test_the_clock_starts_at_the_later_of_now_and_the_report():
    stale = Point(HERE.lat, HERE.lng, NOW - timedelta(minutes=10))      # old report: from now
    ahead = Point(HERE.lat, HERE.lng, NOW + timedelta(seconds=30))      # device clock ahead
    leg = travel((HERE.lat, HERE.lng), A)
    assert estimate(stale, [stop("a", A)], 10.0, GreatCircle(), NOW)[0].eta == NOW + leg
    assert estimate(ahead, [stop("a", A)], 10.0, GreatCircle(), NOW)[0].eta == ahead.recorded_at + leg


def test_a_window_start_makes_the_driver_wait():
    opens = NOW + timedelta(hours=1)
    etas = estimate(HERE, [stop("a", A, window_start=opens), stop("b", B)], 10.0, GreatCircle(), NOW)
    assert etas[0].eta < opens                                   # arrives early ...
    assert etas[1].eta == opens + timedelta(seconds=300) + travel(A, B)   # ... and waits


def test_lateness_is_flagged_per_stop():
    etas = estimate(HERE, [stop("a", A, window_end=NOW + timedelta(hours=1)),
                           stop("b", B, window_end=NOW + timedelta(minutes=5))],
                    10.0, GreatCircle(), NOW)
    assert [e.late for e in etas] == [False, True]


def test_an_arrived_stop_keeps_its_arrival_and_the_driver_leaves_after_service():
    arrived = NOW - timedelta(minutes=2)
    etas = estimate(HERE, [stop("a", A, arrived_at=arrived, service_s=600), stop("b", B)],
                    10.0, GreatCircle(), NOW)
    assert etas[0] == StopEta("a", arrived, False)
    # Still serving for 8 minutes, then the leg from the stop (not from the reported position).
    assert etas[1].eta == arrived + timedelta(seconds=600) + travel(A, B)


def test_an_overrunning_stop_leaves_now_and_an_arrival_after_the_window_is_late():
    arrived = NOW - timedelta(minutes=30)
    etas = estimate(HERE, [stop("a", A, arrived_at=arrived, service_s=600,
                                window_end=NOW - timedelta(minutes=40)), stop("b", B)],
                    10.0, GreatCircle(), NOW)
    assert etas[0].late
    assert etas[1].eta == NOW + travel(A, B)


def test_a_stop_without_coordinates_has_no_eta_and_is_skipped():
    with_gap = estimate(HERE, [stop("a", A), stop("x", None), stop("b", B)], 10.0, GreatCircle(), NOW)
    without = estimate(HERE, [stop("a", A), stop("b", B)], 10.0, GreatCircle(), NOW)
    assert with_gap[1] == StopEta("x", None, False)
    assert with_gap[2].eta == without[1].eta


def test_no_stops_no_etas():
    model = Counting()
    assert estimate(HERE, [], 10.0, model, NOW) == []
    assert model.calls == 0


def test_eta_moved():
    assert eta_moved(None, NOW, 60) and eta_moved(NOW, None, 60)
    assert not eta_moved(None, None, 60)
    assert not eta_moved(NOW, NOW + timedelta(seconds=60), 60)
    assert eta_moved(NOW, NOW - timedelta(seconds=61), 60)


def test_learned_speed_starts_at_the_default_and_moves_toward_observed_speeds():
    assert SpeedLearner.update(None, None) == pytest.approx(11.11)
    speeds = [SpeedLearner.update(None, 20.0)]
    for _ in range(30):
        speeds.append(SpeedLearner.update(speeds[-1], 20.0))
    assert 11.11 < speeds[0] < speeds[1] < speeds[-1] <= 20.0
    assert speeds[-1] == pytest.approx(20.0, abs=0.1)


def test_learned_speed_ignores_stops_at_lights_and_gps_jumps():
    assert SpeedLearner.update(12.0, 0.0) == 12.0          # waiting at traffic lights
    assert SpeedLearner.update(12.0, 0.5) == 12.0
    assert SpeedLearner.update(12.0, 90.0) == 12.0         # 324 km/h: a GPS jump
    assert SpeedLearner.update(12.0, float("nan")) == 12.0


def test_learned_speed_stays_between_the_floor_and_40_mps():
    speed = 11.11
    for _ in range(100):
        speed = SpeedLearner.update(speed, 1.2)            # crawling in a jam
    assert speed == 2.0
    for _ in range(100):
        speed = SpeedLearner.update(speed, 49.0)
    assert speed == 40.0
    assert SpeedLearner.update(3.0, 1.0, floor_mps=4.0) == 4.0


def test_observed_speed_prefers_a_plausible_reported_speed():
    prev = Point(51.5, -0.12, NOW)
    now = Point(51.5, -0.1, NOW + timedelta(seconds=100))   # ~1.39 km in 100 s
    assert SpeedLearner.observed(prev, now, 8.0) == 8.0
    assert SpeedLearner.observed(prev, now, 0.0) == 0.0      # stopped: update ignores it
    from_positions = distance_m(prev.lat, prev.lng, now.lat, now.lng) / 100
    assert SpeedLearner.observed(prev, now, None) == pytest.approx(from_positions)
    assert SpeedLearner.observed(prev, now, -1.0) == pytest.approx(from_positions)   # "unknown"
    assert SpeedLearner.observed(prev, now, 120.0) == pytest.approx(from_positions)


def test_observed_speed_is_none_when_the_reports_show_none():
    prev = Point(51.5, -0.12, NOW)
    assert SpeedLearner.observed(None, prev, None) is None                   # first report
    assert SpeedLearner.observed(prev, Point(51.5, -0.1, NOW), 8.0) is None   # same time
    assert SpeedLearner.observed(prev, Point(51.5, -0.1, NOW - timedelta(seconds=5)), None) is None
    jump = Point(51.6, -0.12, NOW + timedelta(seconds=10))                    # 11 km in 10 s
    assert SpeedLearner.observed(prev, jump, None) is None


def test_travel_model_from_its_setting():
    assert isinstance(travel_model(None), GreatCircle)
    assert isinstance(travel_model(""), GreatCircle)
    assert travel_model("great-circle", road_factor=1.5).road_factor == 1.5
    osrm = travel_model("osrm:http://osrm.local:5000/")
    assert isinstance(osrm, Osrm) and osrm.base_url == "http://osrm.local:5000"
    for bad in ("osrm:", "osrm:ftp://x", "osrm:localhost:5000", "google", "greatcircle"):
        with pytest.raises(ValueError):
            travel_model(bad)


# ---- OSRM against a real HTTP server ------------------------------------------------------

class FakeOsrm(BaseHTTPRequestHandler):
    """Answers /table/v1/driving in OSRM's format with durations[i][j] = 1000 * source + dest
    (indices into the coordinates), so a test can tell which pair each leg was read from;
    ``mode`` makes it fail instead."""
    mode = "ok"
    requests: list = []
    release = threading.Event()

    def do_GET(self):
        url = urlsplit(self.path)   # not urlparse: it cuts the path at ";"
        type(self).requests.append(url)
        if self.mode == "slow":
            self.release.wait(5)                 # well past the client's timeout
        if self.mode == "error":
            return self.reply(500, b"boom")
        if self.mode == "garbage":
            return self.reply(200, b"<html>not json")
        query = parse_qs(url.query)
        sources = [int(i) for i in query["sources"][0].split(";")]
        destinations = [int(i) for i in query["destinations"][0].split(";")]
        body = {"code": "Ok", "durations": [[1000.0 * s + d for d in destinations] for s in sources]}
        self.reply(200, json.dumps(body).encode())

    def reply(self, status, body):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass                                 # the client gave up (timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def osrm_server():
    FakeOsrm.mode, FakeOsrm.requests = "ok", []
    FakeOsrm.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsrm)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    FakeOsrm.release.set()
    server.shutdown()
    server.server_close()


def test_osrm_durations_are_used_as_they_are_in_one_request(osrm_server):
    model = Osrm(osrm_server, timeout=2.0)
    stops = [stop("a", A, service_s=0), stop("b", B, service_s=0)]
    slow = estimate(HERE, stops, 2.0, model, NOW)
    fast = estimate(HERE, stops, 40.0, model, NOW)
    # Points [HERE, A, B]: leg HERE->A is (source 0, dest 1), A->B is (source 1, dest 2).
    assert [e.eta for e in slow] == [NOW + timedelta(seconds=1), NOW + timedelta(seconds=1 + 1002)]
    assert slow == fast                                  # the learned speed is ignored
    assert len(FakeOsrm.requests) == 2                   # one request per estimate
    url = FakeOsrm.requests[0]
    assert url.path == "/table/v1/driving/-0.120000,51.500000;-0.100000,51.500000;-0.080000,51.500000"
    assert parse_qs(url.query)["sources"] == ["0;1"]


def test_osrm_legs_that_share_a_start(osrm_server):
    here = (HERE.lat, HERE.lng)
    assert Osrm(osrm_server).leg_seconds([(here, A), (here, B), (A, here)], 10.0) == [1, 2, 1000]


@pytest.mark.parametrize("mode", ["error", "slow", "garbage"])
def test_osrm_failing_falls_back_to_great_circle(osrm_server, mode):
    FakeOsrm.mode = mode
    legs = [((HERE.lat, HERE.lng), A), (A, B)]
    model = Osrm(osrm_server, timeout=0.3, fallback=GreatCircle(1.3))
    assert model.leg_seconds(legs, 10.0) == GreatCircle(1.3).leg_seconds(legs, 10.0)
    assert len(FakeOsrm.requests) == 1


def test_osrm_unreachable_warns_at_most_once_a_minute(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(eta_module, "monotonic", lambda: clock[0])
    model = Osrm("http://127.0.0.1:9", timeout=0.5)      # the discard port: connection refused
    legs = [((HERE.lat, HERE.lng), A)]
    with caplog.at_level(logging.WARNING, logger="services.tracking.eta"):
        for _ in range(3):
            assert model.leg_seconds(legs, 10.0) == GreatCircle().leg_seconds(legs, 10.0)
        clock[0] += 30
        model.leg_seconds(legs, 10.0)
        assert len(caplog.records) == 1
        clock[0] += 31
        model.leg_seconds(legs, 10.0)
        assert len(caplog.records) == 2
