"""Which driver serves which order, and the order's stops: tracking's copy of the orders
service's facts, kept from its events (and each customer's sharing level from identity's).

All order events arrive on one queue, so they are applied in the order orders wrote them.
Every change bumps the order's ``version`` (what SSE streams resume from) and the plan version
of each driver concerned (what tells the ingest workers to reload that driver's stops)."""
from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from services.common.db import upsert_insert
from services.common.events import typed_data
from services.tracking.models import FINISHED, CustomerSharing, DriverPlan, TrackedOrder, TrackedStop


def now_us() -> int:
    return time.time_ns() // 1000


def next_version(current: int | None) -> int:
    """Strictly increasing per order, and close to the wall clock so that versions written by
    different processes still sort by time."""
    return max((current or 0) + 1, now_us())


def bump_plans(session: Session, *driver_ids: str | None) -> None:
    """Tell the ingest workers these drivers' stops changed. An upsert, because several
    handlers and workers may bump one driver at once."""
    drivers = sorted({d for d in driver_ids if d})
    if not drivers:
        return
    stmt = upsert_insert(session)(DriverPlan)
    version = now_us()
    session.execute(stmt.on_conflict_do_update(
        index_elements=["driver_id"],
        set_={"version": case((DriverPlan.version >= version, DriverPlan.version + 1), else_=version)}),
        [{"driver_id": d, "version": version} for d in drivers])


def apply_customer_event(session: Session, event: dict) -> None:
    data = event["data"]
    row = session.get(CustomerSharing, data["customer_id"]) or CustomerSharing(customer_id=data["customer_id"])
    row.location_sharing = data["location_sharing"]
    session.add(row)


def sharing_of(session: Session, customer_id: str) -> str:
    # A customer tracking has not heard of yet sees nothing: fail closed.
    return session.scalar(select(CustomerSharing.location_sharing)
                          .where(CustomerSharing.customer_id == customer_id)) or "none"


def apply_order_event(session: Session, event: dict) -> TrackedOrder:
    data = typed_data(event)
    occurred_at = datetime.fromisoformat(event["occurred_at"])
    # Create-if-missing without a race between concurrent handlers, then lock the row: the
    # events of one order are applied one at a time.
    session.execute(upsert_insert(session)(TrackedOrder).values(
        order_id=data["order_id"], customer_id=event["customer_id"], status=data["status"],
        version=0).on_conflict_do_nothing())
    order = session.scalar(select(TrackedOrder).where(TrackedOrder.order_id == data["order_id"])
                           .with_for_update().execution_options(populate_existing=True))
    order.reference = data.get("reference") or order.reference
    if "site" in event["data"]:          # events before sites (issue 11) do not say it
        order.site = data["site"]
    previous_driver = order.driver_id
    if event["type"] == "order.scheduled":
        if order.scheduled_at is None or occurred_at >= order.scheduled_at:
            order.scheduled_at = occurred_at
            _schedule(session, order, data)
    elif event["type"] == "order.status_changed" and (order.status_at is None or occurred_at >= order.status_at):
        order.status, order.status_at = data["status"], occurred_at
        if data["status"] in ("draft", "submitted"):          # taken off its route
            order.route_id = order.driver_id = order.route_position = None
            order.scheduled_at = occurred_at     # an older order.scheduled must not put it back
            session.execute(update(TrackedStop).where(TrackedStop.order_id == order.order_id)
                            .values(driver_id=None, eta=None, late=False))
        if data["status"] in FINISHED:
            order.finished_at = order.finished_at or occurred_at
    order.version = next_version(order.version)
    session.flush()
    bump_plans(session, previous_driver, order.driver_id)
    return order


def _schedule(session: Session, order: TrackedOrder, data: dict) -> None:
    order.route_id, order.driver_id = data["route_id"], data.get("driver_id")
    order.route_position = data["route_position"]
    if order.status in ("draft", "submitted"):
        order.status = "scheduled"
    known = {s.stop_id: s for s in session.scalars(select(TrackedStop).where(TrackedStop.order_id == order.order_id))}
    for stop_data in data["stops"]:
        stop = known.pop(stop_data["stop_id"], None) or TrackedStop(
            stop_id=stop_data["stop_id"], order_id=order.order_id, status="pending")
        stop.customer_id, stop.driver_id = order.customer_id, order.driver_id
        stop.route_position, stop.position, stop.type = order.route_position, stop_data["position"], stop_data["type"]
        stop.lat, stop.lng = stop_data.get("lat"), stop_data.get("lng")
        stop.window_start, stop.window_end = stop_data.get("window_start"), stop_data.get("window_end")
        session.add(stop)
    for gone in known.values():
        session.delete(gone)
