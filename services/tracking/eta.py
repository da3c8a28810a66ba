"""ETAs of the stops still ahead of a driver, as plain Python (no broker, no database).

Travel times come from a ``TravelModel``: by default the great-circle distance stretched by a road
factor and divided by the speed this driver has actually been making (``SpeedLearner``), or a
routing engine (OSRM) when one is configured, which knows road speeds itself. The model is asked
once per estimate, for all legs together, so a routing engine costs one HTTP call per update.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Protocol
from urllib.parse import urlparse

import requests

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8        # mean radius (IUGG): haversine's best single value
LatLng = tuple[float, float]
Leg = tuple[LatLng, LatLng]


@dataclass(frozen=True)
class Point:
    """A driver's reported position."""
    lat: float
    lng: float
    recorded_at: datetime            # tz-aware UTC


@dataclass(frozen=True)
class PlannedStop:
    """A stop still ahead of the driver, in route order."""
    stop_id: str
    lat: float | None                # None: no coordinates, no ETA; later stops skip it
    lng: float | None
    window_start: datetime | None
    window_end: datetime | None
    service_s: float                 # time spent at the stop
    arrived_at: datetime | None = None   # arrival reported, not completed yet


@dataclass(frozen=True)
class StopEta:
    stop_id: str
    eta: datetime | None             # predicted arrival (an arrived stop: its arrived_at)
    late: bool                       # arrival predicted after window_end


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))   # min: rounding past 1


class TravelModel(Protocol):
    def leg_seconds(self, legs: list[Leg], speed_mps: float) -> list[float]: ...


class GreatCircle:
    """Straight-line distance times a road factor (roads are not straight), at the given speed."""

    def __init__(self, road_factor: float = 1.3) -> None:
        if not road_factor >= 1:
            raise ValueError(f"road_factor must be >= 1, not {road_factor!r}")
        self.road_factor = road_factor

    def leg_seconds(self, legs: list[Leg], speed_mps: float) -> list[float]:
        if not speed_mps > 0:
            raise ValueError(f"speed_mps must be > 0, not {speed_mps!r}")
        return [distance_m(*a, *b) * self.road_factor / speed_mps for a, b in legs]


class Osrm:
    """OSRM's table service (``/table/v1/driving``): one request for all legs. Its durations are
    used as they are, since OSRM knows road speeds; the learned speed only feeds the fallback,
    which answers whenever OSRM does not (timeout, bad status, bad JSON) so an ETA never waits
    on a routing engine that is down."""

    WARN_EVERY_S = 60.0              # a dead OSRM must not flood the log at every position

    def __init__(self, base_url: str, timeout: float = 2.0, fallback: TravelModel | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.fallback: TravelModel = fallback or GreatCircle()
        self.session = requests.Session()       # keeps the connection between calls
        self._warned_at: float | None = None

    def leg_seconds(self, legs: list[Leg], speed_mps: float) -> list[float]:
        if not legs:
            return []
        try:
            return self._ask(legs)
        except Exception as exc:                # any failure: the fallback answers this call
            now = monotonic()
            if self._warned_at is None or now - self._warned_at >= self.WARN_EVERY_S:
                self._warned_at = now
                log.warning("OSRM at %s failed (%s); using %s for travel times",
                            self.base_url, exc, type(self.fallback).__name__)
            return self.fallback.leg_seconds(legs, speed_mps)

    def _ask(self, legs: list[Leg]) -> list[float]:
        # Each distinct point once; sources = leg starts, destinations = leg ends.
        points: list[LatLng] = list(dict.fromkeys(p for leg in legs for p in leg))
        index = {p: i for i, p in enumerate(points)}
        sources = list(dict.fromkeys(index[a] for a, _ in legs))
        destinations = list(dict.fromkeys(index[b] for _, b in legs))
        coords = ";".join(f"{lng:.6f},{lat:.6f}" for lat, lng in points)   # OSRM wants lng,lat
        response = self.session.get(
            f"{self.base_url}/table/v1/driving/{coords}",
            params={"sources": ";".join(map(str, sources)),
                    "destinations": ";".join(map(str, destinations)), "annotations": "duration"},
            timeout=self.timeout)
        response.raise_for_status()
        body = response.json()
        if body.get("code") != "Ok":
            raise ValueError(f"OSRM answered code {body.get('code')!r}")
        durations = body["durations"]
        out = []
        for a, b in legs:
            seconds = durations[sources.index(index[a])][destinations.index(index[b])]
            if seconds is None or not math.isfinite(float(seconds)) or seconds < 0:
                raise ValueError(f"OSRM has no route for leg {a} -> {b}")   # unreachable pair
            out.append(float(seconds))
        return out


def travel_model(spec: str | None, *, road_factor: float = 1.3, timeout: float = 2.0) -> TravelModel:
    """The model a setting names: ""/None/"great-circle", or "osrm:<http(s) base URL>"."""
    spec = (spec or "").strip()
    if spec in ("", "great-circle"):
        return GreatCircle(road_factor)
    if spec.startswith("osrm:"):
        url = spec[len("osrm:"):]
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https") and parsed.netloc:
            return Osrm(url, timeout=timeout, fallback=GreatCircle(road_factor))
    raise ValueError(f"unknown travel model {spec!r}: use 'great-circle' or 'osrm:http://host:port'")


class SpeedLearner:
    """The speed a driver actually makes: an exponential moving average of observed speeds, so
    one reading moves it a little and a steady change moves it all the way."""

    STOPPED_MPS = 1.0                # below: waiting at lights or a stop, says nothing about travel
    IMPLAUSIBLE_MPS = 50.0           # 180 km/h: a GPS jump, not driving
    MAX_MPS = 40.0
    FLOOR_MPS = 2.0                  # a crawl in traffic must not make ETAs hours away

    @staticmethod
    def update(previous_mps: float | None, observed_mps: float | None, *, alpha: float = 0.2,
               default_mps: float = 11.11, floor_mps: float = FLOOR_MPS) -> float:
        speed = default_mps if previous_mps is None else previous_mps
        if (observed_mps is not None and math.isfinite(observed_mps)
                and SpeedLearner.STOPPED_MPS <= observed_mps <= SpeedLearner.IMPLAUSIBLE_MPS):
            speed += alpha * (observed_mps - speed)
        return min(SpeedLearner.MAX_MPS, max(floor_mps, speed))

    @staticmethod
    def observed(prev: Point | None, now: Point, reported_speed_mps: float | None) -> float | None:
        """The speed this report shows, or None when it shows none. A stopped reading (< 1 m/s)
        is returned as it is and ``update`` ignores it."""
        if prev is not None and now.recorded_at <= prev.recorded_at:
            return None              # duplicate or out-of-order report: counting it would skew
        if (reported_speed_mps is not None and math.isfinite(reported_speed_mps)
                and 0 <= reported_speed_mps <= SpeedLearner.IMPLAUSIBLE_MPS):
            return float(reported_speed_mps)
        if prev is None:
            return None
        seconds = (now.recorded_at - prev.recorded_at).total_seconds()
        speed = distance_m(prev.lat, prev.lng, now.lat, now.lng) / seconds
        return speed if speed <= SpeedLearner.IMPLAUSIBLE_MPS else None


def estimate(position: Point, stops: list[PlannedStop], speed_mps: float, model: TravelModel,
             now: datetime) -> list[StopEta]:
    """ETAs of ``stops`` (in route order) for a driver at ``position``.

    Arrival = clock + travel; the driver waits for a window_start; late = arrival after
    window_end; the clock moves on by service_s from the start of service. An arrived stop keeps
    its arrived_at and is left at max(now, arrived_at + service_s). A stop without coordinates
    gets no ETA and is skipped (the next leg starts from the previous known point)."""
    # Legs first, so the model is asked once for all of them.
    legs: list[Leg] = []
    here: LatLng = (position.lat, position.lng)
    for stop in stops:
        if stop.lat is None or stop.lng is None:
            continue
        there = (stop.lat, stop.lng)
        if stop.arrived_at is None:
            legs.append((here, there))
        here = there
    durations = model.leg_seconds(legs, speed_mps) if legs else []
    if len(durations) != len(legs):
        raise ValueError(f"travel model gave {len(durations)} durations for {len(legs)} legs")
    seconds = iter(durations)

    clock = max(now, position.recorded_at)
    out: list[StopEta] = []
    for stop in stops:
        if stop.arrived_at is not None:
            arrival = stop.arrived_at
            clock = max(clock, arrival + timedelta(seconds=stop.service_s))
        elif stop.lat is None or stop.lng is None:
            out.append(StopEta(stop.stop_id, None, False))
            continue
        else:
            arrival = clock + timedelta(seconds=max(0.0, next(seconds)))
            start = max(arrival, stop.window_start) if stop.window_start is not None else arrival
            clock = start + timedelta(seconds=stop.service_s)
        late = stop.window_end is not None and arrival > stop.window_end
        out.append(StopEta(stop.stop_id, arrival, late))
    return out


def eta_moved(old: datetime | None, new: datetime | None, threshold_s: float) -> bool:
    """Whether an ETA changed enough to tell anyone (so small jitter sends no event)."""
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs((new - old).total_seconds()) > threshold_s
