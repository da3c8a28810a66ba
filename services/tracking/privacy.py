"""The one place that decides what location of a driver a customer sees, and whether at all.

Every path that shows a position to a customer (portal, tracking links, API, events) goes
through ``visible`` and ``location`` so one rule cannot drift between them. Approximate sharing
snaps to the centre of a fixed grid cell instead of adding random jitter: jitter averages out
over repeated reads and gives the true point back, while a fixed cell gives the same answer every
time and so never reveals more than the cell. The timestamp is coarsened too, so when a reading
changes cell it does not tell how fast the driver crossed the boundary.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

EXACT, APPROXIMATE, NONE = "exact", "approximate", "none"
MIN_CELL_M = 1000
M_PER_DEG_LAT = 111_320
IN_TRANSIT = "in_transit"            # the orders service's status; only then is a driver shown


def _row(lat: float, cell_m: float) -> tuple[float, float]:
    """The latitude row holding ``lat``: (south edge, north edge). Rows start at the south pole;
    the last row absorbs the remainder below the north pole, so no row is shorter than cell_m."""
    dlat = cell_m / M_PER_DEG_LAT
    rows = max(1, math.floor(180 / dlat))
    row = min(rows - 1, math.floor((lat + 90) / dlat))
    south = -90 + row * dlat
    return south, (90.0 if row == rows - 1 else south + dlat)


def snap(lat: float, lng: float, cell_m: float = MIN_CELL_M) -> tuple[float, float]:
    """The centre of the grid cell (about cell_m x cell_m, never smaller) holding the point."""
    if not cell_m >= MIN_CELL_M:
        raise ValueError(f"cell_m must be at least {MIN_CELL_M} m, not {cell_m!r}")
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90):
        raise ValueError(f"not a position: {lat!r}, {lng!r}")
    south, north = _row(lat, cell_m)
    centre_lat = (south + north) / 2
    # Whole columns per row (floor): cells are never narrower than cell_m and the last one
    # ends exactly at the antimeridian, with no sliver cell there. Near a pole: one column.
    row_width_m = 360 * M_PER_DEG_LAT * math.cos(math.radians(centre_lat))
    columns = max(1, math.floor(row_width_m / cell_m))
    step = 360 / columns
    lng = (lng + 180) % 360 - 180 if abs(lat) < 90 else 0.0   # into [-180, 180); a pole is one point
    column = min(columns - 1, math.floor((lng + 180) / step))
    centre_lng = -180 + (column + 0.5) * step
    return round(centre_lat, 6), round(centre_lng, 6)


def _minute(recorded_at: str) -> str:
    """The ISO timestamp rounded down to the minute, in UTC (naive input is taken as UTC)."""
    when = datetime.fromisoformat(recorded_at)
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    return when.replace(second=0, microsecond=0).isoformat()


def location(sharing: str, *, lat: float, lng: float, recorded_at: str, accuracy_m: float | None,
             cell_m: float = MIN_CELL_M) -> dict | None:
    """What a customer sees of a position under ``sharing``; None when nothing. Unknown sharing
    values show nothing (fail closed)."""
    if sharing == EXACT:
        return {"lat": lat, "lng": lng, "recorded_at": recorded_at,
                "precision_m": None if accuracy_m is None else round(accuracy_m)}
    if sharing == APPROXIMATE:
        centre_lat, centre_lng = snap(lat, lng, cell_m)
        return {"lat": centre_lat, "lng": centre_lng, "recorded_at": _minute(recorded_at),
                "precision_m": max(MIN_CELL_M, math.ceil(cell_m))}
    return None


def visible(sharing: str, *, order_status: str, order_customer_id: str,
            serving_customer_id: str | None) -> bool:
    """Whether a customer may see the driver at all: only while their order is in transit, the
    operator shares a location, and the driver's next pending stop is theirs (a driver on the
    way to another customer's stop must not reveal that customer's address)."""
    return (sharing in (EXACT, APPROXIMATE) and order_status == IN_TRANSIT
            and bool(order_customer_id) and serving_customer_id is not None
            and serving_customer_id == order_customer_id)
