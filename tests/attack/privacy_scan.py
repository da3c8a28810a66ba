"""Finding a driver's coordinates in whatever the platform hands out or keeps: HTTP bodies, SSE
events, emails, webhook bodies, bus messages, database rows, blobs and logs.

A coordinate leaks when the text holds the true latitude or longitude written at 3 or more
decimals (about 100 m; any way a program would print it), or a latitude-like and a
longitude-like number both within ``NEAR_DEG`` of the true point (a rounded or shifted copy).
The positions the tests use are chosen far (> 50 km) from every stop address, so a customer's
own stop coordinates never count as a hit."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable

NEAR_DEG = 0.02                      # about 2 km in latitude: "a lat/lng-like pair near it"
NUMBER = re.compile(r"-?\d{1,3}\.\d{2,}")
EARTH_M = 6_371_000


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine) between two (lat, lng) points."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(h))


def spellings(value: float) -> set[str]:
    """How a program may print ``value``: repr, and cut or rounded to 3..6 decimals."""
    found = {repr(value)}
    for places in range(3, 7):
        found.add(f"{value:.{places}f}")
        found.add(f"{math.trunc(value * 10 ** places) / 10 ** places:.{places}f}")
    return found


@dataclass
class Scanner:
    """Looks for any of ``points`` (the driver's true positions) in texts; keeps the hits."""

    points: list[tuple[float, float]]
    scanned: int = 0
    hits: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._words = {s for lat, lng in self.points for s in spellings(lat) | spellings(lng)}

    def leaks(self, text: str) -> list[str]:
        """What in ``text`` gives a position away (empty when nothing does)."""
        found = sorted(w for w in self._words if w in text)
        numbers = [float(n) for n in NUMBER.findall(text)]
        for lat, lng in self.points:
            near_lat = [n for n in numbers if abs(n - lat) <= NEAR_DEG]
            near_lng = [n for n in numbers if abs(n - lng) <= NEAR_DEG]
            if near_lat and near_lng:
                found.append(f"pair near ({lat}, {lng}): {near_lat[0]}, {near_lng[0]}")
        return found

    def scan(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self.scanned += 1
        self.hits += [f"{where}: {hit}" for hit in self.leaks(text)]

    def scan_all(self, where: str, texts: Iterable[str | bytes]) -> None:
        for text in texts:
            self.scan(where, text)
