"""The driver simulator without a broker or a clock: a fake link records what would be published,
time moves only when ``Fleet.step`` says so."""
import base64
import random
from datetime import datetime, timezone

import pytest

from services.common import demo
from services.tracking.driver.client import DriverClient
from services.tracking.driver.fleet import (FAILED_REASON, Fleet, SimDriver, SimStop,
                                            bearing_deg, destination, distance_m, photo_jpeg, signature_png)
from services.tracking.driver.simulator import RouteSource, Simulator

CREDENTIAL = "drv_abcd1234_secret"
DEPOT = (51.5000, -0.1000)
EAST_1KM = destination(DEPOT, 90.0, 1000.0)
T0 = 1_900_000_000.0


class FakeLink:
    def __init__(self):
        self.sent: list[tuple[str, dict, str]] = []

    def publish(self, routing_key: str, payload: dict, *, credential: str) -> str:
        self.sent.append((routing_key, payload, credential))
        return f"m{len(self.sent)}"

    def kind(self, suffix: str) -> list[dict]:
        return [p for k, p, _ in self.sent if k.endswith(suffix)]


class FakeClock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def fleet_of(*drivers, clock=None, **options) -> tuple[Fleet, FakeLink]:
    link = FakeLink()
    options = {"speed_kmh": 36.0, "dwell": 3.0, "rng": random.Random(7), **options}
    return Fleet(link, drivers, clock=clock or FakeClock(), **options), link


def one_drop(kind: str = "dropoff", meters: float = 1000.0) -> SimDriver:
    there = destination(DEPOT, 90.0, meters)
    return SimDriver("d1", CREDENTIAL, [(*DEPOT, None), (*there, SimStop("o1", "s1", kind, "Ann Bell"))])


# --- geometry --------------------------------------------------------------------------------------
def test_geometry_on_the_sphere():
    assert distance_m((0, 0), (1, 0)) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(DEPOT, EAST_1KM) == pytest.approx(1000, abs=0.01)
    assert bearing_deg(DEPOT, EAST_1KM) == pytest.approx(90, abs=0.01)
    assert bearing_deg(EAST_1KM, DEPOT) == pytest.approx(270, abs=0.05)   # a great circle, not a rhumb line
    assert bearing_deg((0, 0), (-1, 0)) == pytest.approx(180)
    assert destination((0, 179.9), 90, 50_000)[1] < -179   # across the date line, still in range


# --- movement --------------------------------------------------------------------------------------
def test_a_driver_reaches_its_stop_reports_it_and_completes_it_after_the_dwell():
    clock = FakeClock()
    fleet, link = fleet_of(one_drop(meters=1005), clock=clock)
    driver = fleet.drivers[0]
    steps = 0
    while not link.kind(".stop"):
        fleet.step(1.0)
        clock.now += 1
        steps += 1
        assert steps < 200
    # 10 m/s over 1005 m, there once within 30 m by the end of a step: 970 m after 97 steps
    # is not yet (35 m short), the 98th step ends within reach; the driver parks at the stop.
    assert steps == 98
    assert (driver.lat, driver.lng) == driver.path[1][:2] and driver.speed_mps == 0
    arrived = link.kind(".stop")[0]
    assert arrived["status"] == "arrived" and (arrived["order_id"], arrived["stop_id"]) == ("o1", "s1")
    assert arrived["at"] == datetime.fromtimestamp(T0 + 97, timezone.utc).isoformat()
    for _ in range(3):   # the dwell: 3 s of step time, standing still
        fleet.step(1.0)
    stops = link.kind(".stop")
    assert [s["status"] for s in stops] == ["arrived", "completed"] and driver.done
    pod = stops[1]["pod"]
    assert pod["recipient_name"] == "Ann Bell"
    assert base64.b64decode(pod["photos"][0]["data"])[:3] == b"\xff\xd8\xff"
    assert base64.b64decode(pod["signature"]["data"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(p["speed_mps"] == 0 for p in link.kind(".location")[-4:])
    assert all(c == CREDENTIAL for _, _, c in link.sent)
    assert all(k.startswith("driver.d1.") for k, _, _ in link.sent)


def test_heading_speed_accuracy_and_noise_are_sane():
    fleet, link = fleet_of(one_drop())
    for _ in range(50):
        fleet.step(1.0)
    positions = link.kind(".location")
    assert len(positions) == 50
    for p in positions:
        assert 87 <= p["heading"] <= 93                       # due east, a little noise
        assert 10 * 0.95 <= p["speed_mps"] <= 10 * 1.05       # 36 km/h
        assert 5 <= p["accuracy_m"] <= 15
        assert datetime.fromisoformat(p["recorded_at"]).utcoffset().total_seconds() == 0
    # Each reported position lies within its accuracy of the true track, which gains 10 m a second.
    for n, p in enumerate(positions, start=1):
        true = destination(DEPOT, 90, 10.0 * n)
        assert distance_m(true, (p["lat"], p["lng"])) <= p["accuracy_m"]


def test_time_scale_moves_faster_but_reports_the_real_speed():
    slow, _ = fleet_of(one_drop())
    fast, link = fleet_of(one_drop(), time_scale=20)
    slow.step(2.0)
    fast.step(2.0)
    assert distance_m(DEPOT, (slow.drivers[0].lat, slow.drivers[0].lng)) == pytest.approx(20, abs=0.01)
    assert distance_m(DEPOT, (fast.drivers[0].lat, fast.drivers[0].lng)) == pytest.approx(400, abs=0.01)
    assert link.kind(".location")[0]["speed_mps"] == pytest.approx(10, rel=0.05)
    steps = 1
    while not link.kind(".stop"):
        fast.step(2.0)
        steps += 1
    assert steps == 3   # 1000 m at 200 m/s: within 30 m after the third 2-second step


def test_waypoints_without_stops_are_driven_through_and_leftover_time_is_used():
    corner = destination(DEPOT, 0, 100)
    far = destination(corner, 90, 100)
    driver = SimDriver("d1", CREDENTIAL, [(*DEPOT, None), (*corner, None), (*far, SimStop("o", "s"))])
    fleet, link = fleet_of(driver, dwell=0)
    fleet.step(5.0)                   # 50 m north
    fleet.step(10.0)                  # 50 m to the corner, 50 m east
    assert distance_m(corner, (driver.lat, driver.lng)) == pytest.approx(50, abs=0.01)
    assert driver.heading == pytest.approx(90, abs=0.1)
    fleet.step(10.0)                  # arrives; no dwell: completed at once
    assert [s["status"] for s in link.kind(".stop")] == ["arrived", "completed"] and driver.done


def test_failures_only_on_drop_offs_and_pickups_carry_no_proof():
    driver = SimDriver("d1", CREDENTIAL, [(*DEPOT, SimStop("o1", "p1", "pickup")),
                                          (*EAST_1KM, SimStop("o1", "s1", "dropoff"))])
    fleet, link = fleet_of(driver, fail_rate=1.0, dwell=0, time_scale=100)
    fleet.step(1.0)
    stops = link.kind(".stop")
    assert [(s["stop_id"], s["status"]) for s in stops] == [
        ("p1", "arrived"), ("p1", "completed"), ("s1", "arrived"), ("s1", "failed")]
    assert stops[1]["pod"] is None and stops[3]["reason"] == FAILED_REASON


def test_step_publishes_one_position_per_driver_at_a_fixed_rate():
    drivers = [SimDriver(f"d{n}", CREDENTIAL, [(*DEPOT, None), (*EAST_1KM, None)]) for n in range(250)]
    fleet, link = fleet_of(*drivers, time_scale=1000)
    for _ in range(4):
        assert fleet.step(0.5) == 250
    assert len(link.sent) == 1000 and fleet.positions == 1000
    assert all(d.done for d in fleet.drivers)        # parked at the end, still reporting
    assert {k for k, _, _ in link.sent} == {f"driver.d{n}.location" for n in range(250)}
    with pytest.raises(ValueError):
        fleet.add(SimDriver("d0", CREDENTIAL, [(*DEPOT, None)]))


def test_pod_images_are_small_and_of_their_type():
    rng = random.Random(3)
    photo, signature = photo_jpeg(rng, "stop 1"), signature_png(rng)
    assert photo[:3] == b"\xff\xd8\xff" and len(photo) < 20_000
    assert signature[:8] == b"\x89PNG\r\n\x1a\n" and len(signature) < 10_000


# --- the SDK's checks ----------------------------------------------------------
def test_client_refuses_bad_input_and_shapes_the_body():
    link = FakeLink()
    client = DriverClient(link, "d1", CREDENTIAL)
    with pytest.raises(ValueError):
        client.position(90.01, 0)
    with pytest.raises(ValueError):
        client.position(0, 181)
    with pytest.raises(ValueError):
        client.position(0, 0, speed_mps=151)
    with pytest.raises(ValueError):
        client.completed("o", "s", photos=[b"not an image"])
    with pytest.raises(ValueError):
        client.completed("o", "s", photos=[photo_jpeg(random.Random(1), "x")] * 6)
    for bad_id in ("", "a.b", "a#", "x" * 37):
        with pytest.raises(ValueError):
            DriverClient(link, bad_id, CREDENTIAL)
    with pytest.raises(ValueError):
        DriverClient(link, "d1", "not-a-credential")
    assert link.sent == []
    client.position(-90, 180, heading=360)
    assert link.sent[0][1]["heading"] == 0
    png = signature_png(random.Random(1))
    client.completed("o", "s", photos=[png])   # a PNG photo is labelled as one
    assert link.sent[1][1]["pod"]["photos"][0]["content_type"] == "image/png"


# --- the HTTP side, on a fake API ---------------------------------------------------------------------
class FakeApi:
    def __init__(self, answers: dict):
        self.answers, self.calls = answers, []

    def call(self, method: str, path: str, body: dict | None = None):
        self.calls.append((method, path, body))
        answer = self.answers.get((method, path.split("?")[0]))
        return answer(body) if callable(answer) else answer


def _order(order_id: str, *stops) -> dict:
    return {"id": order_id, "status": "in_transit", "stops": [
        {"id": sid, "position": pos, "type": kind, "status": status, "lat": lat, "lng": lng,
         "contact": {"name": "Ann"}} for sid, pos, kind, status, lat, lng in stops]}


def test_the_simulator_drives_pending_stops_of_started_routes_from_the_depot():
    route = {"id": "r1", "driver_id": "drv1", "depot_id": "dep1", "name": "City run",
             "orders": [{"id": "o1", "status": "in_transit"}, {"id": "o2", "status": "delivered"},
                        {"id": "o3", "status": "in_transit"}]}
    api = FakeApi({
        ("GET", "/admin/routes"): {"items": [route], "page": 1, "per_page": 100, "total": 1},
        ("GET", "/admin/depots"): [{"id": "dep1", "lat": DEPOT[0], "lng": DEPOT[1]}],
        ("GET", "/orders/o1"): _order("o1", ("p1", 1, "pickup", "completed", 51.5, -0.1),
                                      ("s1", 2, "dropoff", "pending", 51.51, -0.11)),
        ("GET", "/orders/o3"): _order("o3", ("s3", 2, "dropoff", "pending", 51.52, -0.12),
                                      ("p3", 1, "pickup", "pending", 51.5, -0.1),
                                      ("x3", 3, "dropoff", "pending", None, None)),
        ("POST", "/admin/drivers/drv1/credential"): {"credential": CREDENTIAL},
    })
    fleet, _ = fleet_of()
    simulator = Simulator(RouteSource(api), fleet, max_drivers=5)
    assert simulator.scan() == 1
    driver = fleet.drivers[0]
    assert (driver.driver_id, driver.credential, driver.route_id) == ("drv1", CREDENTIAL, "r1")
    assert driver.path[0] == (*DEPOT, None)
    assert [(w[2].order_id, w[2].stop_id, w[2].kind) for w in driver.path[1:]] == [
        ("o1", "s1", "dropoff"), ("o3", "p3", "pickup"), ("o3", "s3", "dropoff")]
    assert ("GET", "/orders/o2", None) not in api.calls
    assert simulator.scan() == 0   # already driven: not picked up twice
    assert sum(1 for c in api.calls if c[1].endswith("/credential")) == 1


def test_start_another_run_makes_three_fresh_orders_and_starts_a_route():
    made = []

    def create_order(body):
        made.append(body)
        return {"id": f"o{len(made)}", **body}

    api = FakeApi({
        ("GET", "/admin/depots"): [{"id": "dep1", "name": demo.DEPOT}],
        ("GET", "/admin/drivers"): [{"id": "drv1", "name": demo.DRIVER, "is_active": True}],
        ("GET", "/admin/customers"): {"items": [{"id": "c1", "name": "Acme Freight"}]},
        ("POST", "/admin/orders"): create_order,
        ("POST", "/admin/routes"): lambda body: {"id": "r9", **body},
        ("POST", "/admin/routes/r9/orders"): {"id": "r9"},
        ("POST", "/admin/routes/r9/start"): {"id": "r9", "name": "City run", "status": "started"},
    })
    route = demo.start_another_run(api)
    assert route["status"] == "started"
    assert len(made) == 3 and all(o["submit"] and o["customer_id"] == "c1" for o in made)
    assert len({o["reference"] for o in made}) == 3 and all(o["reference"].startswith("ACME-") for o in made)
    created = next(b for m, p, b in api.calls if (m, p) == ("POST", "/admin/routes"))
    assert created["name"].startswith("City run ") and created["driver_id"] == "drv1"
    assert ("POST", "/admin/routes/r9/orders", {"order_ids": ["o1", "o2", "o3"]}) in api.calls


def test_a_demo_run_waits_planned_when_the_demo_driver_is_already_driving():
    def busy(body):
        raise demo.ApiError("POST /admin/routes/r9/start: 409 still driving route City run 10:00", 409)

    api = FakeApi({
        ("GET", "/admin/depots"): [{"id": "dep1", "name": demo.DEPOT}],
        ("GET", "/admin/drivers"): [{"id": "drv1", "name": demo.DRIVER, "is_active": True}],
        ("GET", "/admin/customers"): {"items": [{"id": "c1", "name": "Acme Freight"}]},
        ("POST", "/admin/orders"): lambda body: {"id": "o1", **body},
        ("POST", "/admin/routes"): lambda body: {"id": "r9", "status": "planned", **body},
        ("POST", "/admin/routes/r9/orders"): {"id": "r9"},
        ("POST", "/admin/routes/r9/start"): busy,
    })
    assert demo.start_another_run(api)["status"] == "planned"
