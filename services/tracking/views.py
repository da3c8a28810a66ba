"""What a customer, an operator or a holder of a tracking link sees of an order: the one
builder behind every output (the API, the SSE streams, the public page). Location goes through
``privacy`` here and nowhere else.

The customer's view is ``{order_id, status, version, stops: [...], location}``; the public one
drops everything but status, ETAs and location (no ids, names, references or windows)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.tracking import privacy
from services.tracking.models import IN_TRANSIT, OPEN_STOP, LatestPosition, TrackedOrder, TrackedStop
from services.tracking.assignments import sharing_of


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


@dataclass
class Seen:
    """Everything one view is made of, however it was read."""

    order: Any                      # TrackedOrder or a row with the same attributes
    stops: list                     # TrackedStop-like, in order
    sharing: str
    position: Any | None            # LatestPosition-like
    serving_customer_id: str | None


def location_of(seen: Seen) -> dict | None:
    order, position = seen.order, seen.position
    if position is None or not privacy.visible(seen.sharing, order_status=order.status,
                                               order_customer_id=order.customer_id,
                                               serving_customer_id=seen.serving_customer_id):
        return None
    return privacy.location(seen.sharing, lat=position.lat, lng=position.lng,
                            recorded_at=iso(position.recorded_at), accuracy_m=position.accuracy_m)


def _stop(stop, etas: Mapping | None) -> dict:
    # The ETAs of the driver's latest position when there are some; else the last announced.
    eta, late = (etas or {}).get(stop.stop_id) or (iso(stop.eta), stop.late)
    open_ = stop.status in OPEN_STOP
    return {"id": stop.stop_id, "type": stop.type, "status": stop.status,
            "eta": eta if open_ else None, "late": bool(late) if open_ else False,
            "arrived_at": iso(stop.arrived_at), "completed_at": iso(stop.completed_at),
            "window_start": iso(stop.window_start), "window_end": iso(stop.window_end)}


def version_of(seen: Seen) -> int:
    """Moves with every change a watcher sees: the order's own changes and each new position."""
    position = seen.position
    moved = int(position.received_at.timestamp() * 1_000_000) if position is not None and position.received_at else 0
    return max(seen.order.version or 0, moved)


def customer_view(seen: Seen) -> dict:
    return {"order_id": seen.order.order_id, "status": seen.order.status, "version": version_of(seen),
            "stops": [_stop(s, seen.position.etas if seen.position is not None else None) for s in seen.stops],
            "location": location_of(seen)}


def public_view(seen: Seen) -> dict:
    full = customer_view(seen)
    return {"status": full["status"], "version": full["version"], "location": full["location"],
            "stops": [{k: s[k] for k in ("type", "status", "eta", "late", "arrived_at", "completed_at")}
                      for s in full["stops"]]}


# --- reading ------------------------------------------------------------------------------------
def stops_of(session: Session, order_ids: Iterable[str]) -> dict[str, list]:
    found: dict[str, list] = {}
    ids = list(order_ids)
    if ids:
        for stop in session.scalars(select(TrackedStop).where(TrackedStop.order_id.in_(ids))
                                    .order_by(TrackedStop.order_id, TrackedStop.position)):
            found.setdefault(stop.order_id, []).append(stop)
    return found


def serving_customer(session: Session, driver_id: str | None) -> str | None:
    """The customer of the driver's next open stop: the one whose goods it is carrying now."""
    if not driver_id:
        return None
    return session.scalar(
        select(TrackedStop.customer_id).join(TrackedOrder, TrackedOrder.order_id == TrackedStop.order_id)
        .where(TrackedStop.driver_id == driver_id, TrackedStop.status.in_(OPEN_STOP),
               TrackedOrder.driver_id == driver_id, TrackedOrder.status == IN_TRANSIT)
        .order_by(TrackedStop.route_position, TrackedStop.position).limit(1))


def seen_from_db(session: Session, order: TrackedOrder) -> Seen:
    position = None
    if order.driver_id and order.status == IN_TRANSIT:
        position = session.get(LatestPosition, order.driver_id)
    return Seen(order=order, stops=stops_of(session, [order.order_id]).get(order.order_id, []),
                sharing=sharing_of(session, order.customer_id), position=position,
                serving_customer_id=serving_customer(session, order.driver_id) if position else None)
