"""ETAs from tracking (``stop.eta_changed``): kept on each stop, and the next open stop's ETA
on the order's summary, so the orders list can show and the home screen can read an ETA
without asking tracking order by order.

Each handler has its own queue, so a stop's events can arrive out of order: an ETA older than
the one kept (by ``occurred_at``) is dropped."""
from __future__ import annotations

import logging

from services.common.db import UnitOfWork
from services.common.events import typed_data
from services.orders.models import Order
from services.orders.pricing import occurred_at

log = logging.getLogger(__name__)


def apply_eta(uow: UnitOfWork, event: dict) -> None:
    data = typed_data(event)
    order = uow.session.get(Order, data["order_id"], with_for_update=True)
    if order is None or order.customer_id != event.get("customer_id"):
        log.warning("stop.eta_changed %s: order %s is not an order of customer %s; ignored",
                    event.get("id"), data["order_id"], event.get("customer_id"))
        return
    stop = next((s for s in order.stops if s.id == data["stop_id"]), None)
    if stop is None:
        log.warning("stop.eta_changed %s: no stop %s on order %s; ignored", event.get("id"), data["stop_id"], order.id)
        return
    at = occurred_at(event)
    if stop.eta_at is not None and at <= stop.eta_at:
        return                                   # older news than the ETA kept
    stop.eta, stop.eta_late, stop.eta_at = data.get("eta"), bool(data.get("late")), at
    refresh_summary(order)


def refresh_summary(order: Order) -> None:
    """The order's ETA for lists: the first pending stop's (none once every stop is done)."""
    upcoming = next((s for s in order.stops if s.status == "pending"), None)
    summary = dict(order.summary or {})
    summary["eta"] = upcoming.eta.isoformat() if upcoming is not None and upcoming.eta else None
    summary["late"] = bool(upcoming is not None and upcoming.eta_late)
    order.summary = summary                      # a new dict: the JSON column sees the change
