"""Simulated drivers: straight-line (great-circle) movement toward each stop, and their reports.

``Fleet(link, drivers).step(dt)`` advances every driver ``dt`` seconds and publishes one position
for each, plus the stop events of the stops reached. Nothing here talks HTTP or reads a clock
for movement, so a benchmark can drive N drivers at a fixed message rate and unit tests can step
time by hand; the simulator (simulator.py) adds the platform's routes around it.
"""
from __future__ import annotations

import io
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

from PIL import Image, ImageDraw

from services.tracking.driver.client import DriverClient, Publisher

EARTH_RADIUS_M = 6_371_008.8
ARRIVE_WITHIN_M = 30.0
FAILED_REASON = "Recipient not available"
NAMES = ("A. Patel", "J. Smith", "M. Nowak", "L. Rossi", "S. Okafor", "K. Tanaka", "R. Silva")


@dataclass(frozen=True)
class SimStop:
    """A stop of the platform a waypoint stands for."""
    order_id: str
    stop_id: str
    kind: str = "dropoff"          # pickup | dropoff: only drop-offs fail or carry a proof of delivery
    recipient: str | None = None


Waypoint = tuple[float, float, SimStop | None]


# --- geometry on a sphere -------------------------------------------------------------------------
def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial great-circle bearing from a to b, degrees clockwise from north in [0, 360)."""
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    y = math.sin(lng2 - lng1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lng2 - lng1)
    return math.degrees(math.atan2(y, x)) % 360


def destination(a: tuple[float, float], bearing: float, meters: float) -> tuple[float, float]:
    lat1, lng1, theta = math.radians(a[0]), math.radians(a[1]), math.radians(bearing)
    d = meters / EARTH_RADIUS_M
    lat2 = math.asin(math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(theta))
    lng2 = lng1 + math.atan2(math.sin(theta) * math.sin(d) * math.cos(lat1),
                             math.cos(d) - math.sin(lat1) * math.sin(lat2))
    return math.degrees(lat2), (math.degrees(lng2) + 540) % 360 - 180


# --- proof of delivery images ----------------------------------------------------------------------
def photo_jpeg(rng: random.Random, label: str) -> bytes:
    """A small photo of a parcel at a door (~3 KB), labelled with the stop."""
    image = Image.new("RGB", (160, 120), tuple(rng.randint(90, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    x, y = rng.randint(30, 70), rng.randint(40, 60)
    draw.rectangle((x, y, x + 60, y + 45), fill=(166, 123, 77), outline=(90, 60, 30))
    draw.line((x, y + 20, x + 60, y + 20), fill=(200, 180, 120), width=3)
    draw.text((4, 4), label[:26], fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def signature_png(rng: random.Random) -> bytes:
    """A squiggle that passes for a signature (~1 KB)."""
    image = Image.new("L", (240, 80), 255)
    amplitude, period, phase = rng.uniform(10, 25), rng.uniform(6, 14), rng.uniform(0, math.tau)
    points = [(x, 40 + amplitude * math.sin(x / period + phase) * math.cos(x / (3 * period)))
              for x in range(12, 228, 3)]
    ImageDraw.Draw(image).line(points, fill=0, width=2)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


# --- drivers ----------------------------------------------------------------------------------------
@dataclass(eq=False)
class SimDriver:
    """``SimDriver(driver_id, credential, path)``: starts at ``path[0]`` and drives to each
    waypoint in turn; a waypoint with a ``SimStop`` is reported (arrived, then completed or
    failed after the dwell)."""
    driver_id: str
    credential: str
    path: list[Waypoint]
    route_id: str | None = None
    lat: float = field(init=False)
    lng: float = field(init=False)
    target: int = field(init=False, default=0)          # index of the waypoint driven to
    heading: float = field(init=False, default=0.0)
    speed_mps: float = field(init=False, default=0.0)
    dwell_until: float | None = field(init=False, default=None)
    client: DriverClient | None = field(init=False, default=None, repr=False)

    def __post_init__(self):
        if not self.path:
            raise ValueError("a simulated driver needs at least one waypoint")
        self.lat, self.lng = self.path[0][0], self.path[0][1]

    @property
    def done(self) -> bool:
        return self.target >= len(self.path)

    @property
    def stops_left(self) -> int:
        return sum(1 for w in self.path[self.target:] if w[2] is not None)


class Fleet:
    """Drivers on one link. ``speed_kmh * time_scale`` is how fast they move; the speed they
    report is the unscaled one (what a real driver would show, and within the tracking
    service's limits). ``dwell`` is in seconds of ``step`` time, not scaled."""

    def __init__(self, link: Publisher, drivers: Iterable[SimDriver] = (), *, speed_kmh: float = 40.0,
                 time_scale: float = 1.0, dwell: float = 3.0, fail_rate: float = 0.0,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time):
        if speed_kmh <= 0 or time_scale <= 0 or dwell < 0 or not 0 <= fail_rate <= 1:
            raise ValueError("speed and time scale must be positive, dwell >= 0, fail rate in [0, 1]")
        self.link, self.speed_kmh, self.time_scale = link, speed_kmh, time_scale
        self.dwell, self.fail_rate = dwell, fail_rate
        self.rng, self.clock = rng or random.Random(), clock
        self.now = 0.0                       # seconds of step time since the fleet began
        self.positions = self.stop_events = 0
        self._drivers: dict[str, SimDriver] = {}
        for driver in drivers:
            self.add(driver)

    @property
    def drivers(self) -> list[SimDriver]:
        return list(self._drivers.values())

    def add(self, driver: SimDriver) -> None:
        if driver.driver_id in self._drivers:
            raise ValueError(f"driver {driver.driver_id} is driven already")
        driver.client = DriverClient(self.link, driver.driver_id, driver.credential)
        self._drivers[driver.driver_id] = driver

    def remove(self, driver_id: str) -> SimDriver | None:
        return self._drivers.pop(driver_id, None)

    def step(self, dt: float) -> int:
        """Advance every driver ``dt`` seconds and publish one position each (a finished driver
        reports where it stands); returns the number of positions published."""
        self.now += dt
        for driver in list(self._drivers.values()):
            self._advance(driver, dt)
            self._report_position(driver)
        return len(self._drivers)

    # --- one driver --------------------------------------------------------------------------------
    def _advance(self, driver: SimDriver, dt: float) -> None:
        moving = dt
        if driver.dwell_until is not None:
            if self.now < driver.dwell_until:
                driver.speed_mps = 0.0
                return
            moving = self.now - driver.dwell_until     # what is left of dt after the dwell
            self._finish_stop(driver)
        travel = self.speed_kmh / 3.6 * self.time_scale * moving
        driver.speed_mps = 0.0
        while not driver.done:
            lat, lng, stop = driver.path[driver.target]
            here, there = (driver.lat, driver.lng), (lat, lng)
            gap = distance_m(here, there)
            if gap > travel + ARRIVE_WITHIN_M:
                driver.heading = bearing_deg(here, there)
                driver.lat, driver.lng = destination(here, driver.heading, travel)
                driver.speed_mps = self.speed_kmh / 3.6
                return
            if gap > 0.5:
                driver.heading = bearing_deg(here, there)
                driver.speed_mps = self.speed_kmh / 3.6
            # Within 30 m of it by the end of this step: there. Parked at the stop itself.
            travel = max(0.0, travel - gap)
            driver.lat, driver.lng = lat, lng
            if stop is None:
                driver.target += 1
                continue
            driver.client.arrived(stop.order_id, stop.stop_id, at=self._when())
            self.stop_events += 1
            driver.speed_mps, driver.dwell_until = 0.0, self.now + self.dwell
            if self.dwell > 0:
                return
            self._finish_stop(driver)

    def _finish_stop(self, driver: SimDriver) -> None:
        stop = driver.path[driver.target][2]
        driver.dwell_until = None
        driver.target += 1
        at = self._when()
        if stop.kind == "dropoff" and self.rng.random() < self.fail_rate:
            driver.client.failed(stop.order_id, stop.stop_id, FAILED_REASON, at=at)
        elif stop.kind == "dropoff":
            driver.client.completed(
                stop.order_id, stop.stop_id, at=at, recipient_name=stop.recipient or self.rng.choice(NAMES),
                comments="Left with the recipient", photos=[photo_jpeg(self.rng, f"stop {stop.stop_id[:8]}")],
                signature=signature_png(self.rng))
        else:
            driver.client.completed(stop.order_id, stop.stop_id, at=at)
        self.stop_events += 1

    def _report_position(self, driver: SimDriver) -> None:
        rng = self.rng
        accuracy = rng.uniform(5, 15)
        # GPS noise: a few metres in a random direction, well within the accuracy reported.
        lat, lng = destination((driver.lat, driver.lng), rng.uniform(0, 360), rng.uniform(0, accuracy / 3))
        moving = driver.speed_mps > 0
        driver.client.position(
            lat, lng, accuracy_m=round(accuracy, 1), recorded_at=self._when(),
            speed_mps=round(driver.speed_mps * rng.uniform(0.95, 1.05), 2) if moving else 0.0,
            heading=round((driver.heading + rng.uniform(-3, 3)) % 360, 1))
        self.positions += 1

    def _when(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)
