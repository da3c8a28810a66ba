"""Drive the platform's started routes with simulated drivers: ``python -m services.tracking.driver.simulator``.

It works as the operator would, through the public HTTP API: signs in, lists the started
routes, reads each order's stops, issues each driver a fresh credential (credentials are shown
only once; rotating one ends any earlier simulator's), then moves the drivers (fleet.py) and
reports positions and stop events on the bus like driver apps, all over one ``DriverLink``.

``--demo`` keeps the demo alive: when no started route is left it starts another run for the
demo driver (``services.common.demo.start_another_run``). A benchmark that wants N drivers at a
fixed message rate without HTTP uses ``Fleet`` and ``SimDriver`` directly.
"""
from __future__ import annotations

import argparse
import logging
import random
import signal
import threading
import time

from services.common.config import env
from services.common.demo import Api, start_another_run
from services.tracking.driver.fleet import Fleet, SimDriver, SimStop, Waypoint
from services.tracking.driver.link import DriverLink

__all__ = ["Fleet", "RouteSource", "SimDriver", "SimStop", "Simulator", "main"]

log = logging.getLogger("driver-simulator")
SCAN_SECONDS = 10.0
LOG_SECONDS = 30.0


class RouteSource:
    """The work to do, as the operator sees it through the API."""

    def __init__(self, api: Api):
        self.api = api
        self._credentials: dict[str, str] = {}   # driver id -> credential issued by this run

    def started_routes(self) -> list[dict]:
        routes, page = [], 1
        while True:
            body = self.api.call("GET", f"/admin/routes?status=started&per_page=100&page={page}")
            routes += body["items"]
            if not body["items"] or page * body["per_page"] >= body.get("total", 0):
                return routes
            page += 1

    def depots(self) -> dict[str, dict]:
        return {d["id"]: d for d in self.api.call("GET", "/admin/depots")}

    def credential(self, driver_id: str) -> str:
        if driver_id not in self._credentials:
            answer = self.api.call("POST", f"/admin/drivers/{driver_id}/credential")
            self._credentials[driver_id] = answer["credential"]
        return self._credentials[driver_id]

    def path(self, route: dict, depots: dict[str, dict]) -> list[Waypoint]:
        """The route's pending stops in driving order, after its depot when that has a place."""
        path: list[Waypoint] = []
        for summary in route.get("orders") or []:
            if summary.get("status") != "in_transit":   # orders take stop reports only then
                continue
            order = self.api.call("GET", f"/orders/{summary['id']}")
            for stop in sorted(order.get("stops") or [], key=lambda s: s.get("position") or 0):
                if stop.get("status") != "pending":
                    continue
                if stop.get("lat") is None or stop.get("lng") is None:
                    log.warning("stop %s of order %s has no coordinates; not driven", stop["id"], order["id"])
                    continue
                path.append((stop["lat"], stop["lng"], SimStop(
                    order["id"], stop["id"], stop.get("type") or "dropoff",
                    (stop.get("contact") or {}).get("name"))))
        depot = depots.get(route.get("depot_id") or "")
        if path and depot and depot.get("lat") is not None and depot.get("lng") is not None:
            path.insert(0, (depot["lat"], depot["lng"], None))
        return path


class Simulator:
    """Keeps the fleet fed with the platform's started routes and steps it in real time."""

    def __init__(self, source: RouteSource, fleet: Fleet, *, interval: float = 2.0,
                 max_drivers: int | None = None, once: bool = False, demo: bool = False):
        self.source, self.fleet, self.interval = source, fleet, interval
        self.max_drivers, self.once, self.demo = max_drivers, once, demo
        self.finished: set[str] = set()   # routes driven to the end (or with nothing to drive)

    def scan(self) -> int:
        """Pick up started routes not driven yet; returns how many drivers joined."""
        routes = self._new_routes()
        if not routes and not self.fleet.drivers and self.demo:
            if start_another_run(self.source.api):
                routes = self._new_routes()
        depots = self.source.depots() if routes else {}
        added = 0
        for route in routes:
            if self.max_drivers is not None and len(self.fleet.drivers) >= self.max_drivers:
                break
            busy = {d.driver_id for d in self.fleet.drivers}
            if route["driver_id"] in busy:
                continue   # one route at a time per driver; this one waits for the next scan
            path = self.source.path(route, depots)
            if not path:
                self.finished.add(route["id"])
                continue
            self.fleet.add(SimDriver(route["driver_id"], self.source.credential(route["driver_id"]), path,
                                     route_id=route["id"]))
            log.info("driving route %s (%s) for driver %s: %d stops", route.get("name"), route["id"],
                     route["driver_id"], sum(1 for w in path if w[2]))
            added += 1
        return added

    def _new_routes(self) -> list[dict]:
        driving = {d.route_id for d in self.fleet.drivers}
        return [r for r in self.source.started_routes()
                if r.get("driver_id") and r["id"] not in driving and r["id"] not in self.finished]

    def run(self, stop: threading.Event) -> None:
        link = self.fleet.link
        last = time.monotonic()
        next_scan, next_log, scanned = last, last + LOG_SECONDS, False
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_scan and not (self.once and scanned):
                try:
                    self.scan()
                    scanned = True
                except (OSError, RuntimeError, KeyError) as exc:   # the platform is down or restarting
                    log.warning("cannot read the started routes (%s); trying again in %.0fs", exc, SCAN_SECONDS)
                next_scan = now + SCAN_SECONDS
            if self.fleet.drivers:
                self.fleet.step(now - last)
            last = now
            for driver in self.fleet.drivers:
                if driver.done:
                    self.fleet.remove(driver.driver_id)
                    self.finished.add(driver.route_id)
                    log.info("route %s driven to its end", driver.route_id)
            if self.once and scanned and not self.fleet.drivers:
                break
            if now >= next_log:
                log.info("drivers %d, positions sent %d, confirmed %d, resent %d", len(self.fleet.drivers),
                         self.fleet.positions, getattr(link, "confirmed", 0), getattr(link, "resent", 0))
                next_log = now + LOG_SECONDS
            stop.wait(max(0.0, self.interval - (time.monotonic() - now)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.tracking.driver.simulator",
                                     description="Drive the started routes with simulated drivers.")
    parser.add_argument("--api", default=env("PORTAL_URL"), help="the portal's base URL (PORTAL_URL)")
    parser.add_argument("--email", default=env("PORTAL_ADMIN_EMAIL"), help="operator email (PORTAL_ADMIN_EMAIL)")
    parser.add_argument("--password", default=env("PORTAL_ADMIN_PASSWORD"), help="its password (PORTAL_ADMIN_PASSWORD)")
    parser.add_argument("--amqp", default=env("AMQP_URI"), help="RabbitMQ (AMQP_URI)")
    parser.add_argument("--drivers", type=int, default=None, help="drive at most this many routes at once")
    parser.add_argument("--speed-kmh", type=float, default=40.0)
    parser.add_argument("--time-scale", type=float, default=1.0, help="move this many times faster (demo: 20)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between positions")
    parser.add_argument("--dwell", type=float, default=3.0, help="seconds at each stop")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of drop-offs that fail, 0..1")
    parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable noise)")
    parser.add_argument("--once", action="store_true", help="exit when the routes found at start are done")
    parser.add_argument("--demo", action="store_true", help="start another demo run when none is left")
    args = parser.parse_args(argv)
    if args.interval <= 0 or (args.drivers is not None and args.drivers < 1):
        parser.error("--interval must be positive and --drivers at least 1")
    return args


def _signed_in(api: Api, email: str, password: str, stop: threading.Event) -> Api | None:
    """Started with the platform (``bin/portal up``), the simulator waits for the gateway to
    answer rather than dying, which would stop every process honcho runs."""
    while not stop.is_set():
        try:
            return api.sign_in(email, password)
        except (OSError, RuntimeError) as exc:
            log.info("waiting for the portal at %s (%s)", api.base, exc)
            stop.wait(2)
    return None


def main(argv: list[str] | None = None) -> int:
    from services.common.logs import configure_logging

    configure_logging("driver-simulator")
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    api = _signed_in(Api(args.api), args.email, args.password, stop)
    if api is None:
        return 0
    link = DriverLink(args.amqp, connection_name="driver-simulator")
    try:
        fleet = Fleet(link, speed_kmh=args.speed_kmh, time_scale=args.time_scale, dwell=args.dwell,
                      fail_rate=args.fail_rate, rng=random.Random(args.seed))
        log.info("driver simulator: %s, %g km/h x%g, a position every %gs", args.api, args.speed_kmh,
                 args.time_scale, args.interval)
        Simulator(RouteSource(api), fleet, interval=args.interval, max_drivers=args.drivers,
                  once=args.once, demo=args.demo).run(stop)
        log.info("stopping: positions sent %d, stop events %d", fleet.positions, fleet.stop_events)
    finally:
        link.close(timeout=10)
        log.info("confirmed %d of %d messages, resent %d", link.confirmed, link.published, link.resent)
    return 0


if __name__ == "__main__":   # pragma: no cover
    raise SystemExit(main())
