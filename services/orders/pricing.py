"""What billing prices an order from, and the price it announces back.

Billing owns rate cards and prices; orders tells it what to price (the ``content`` of
``order.submitted``, built here by ``content_of`` for every way an order gets submitted) and
shows the price billing announces (``order.priced``) on the order, or the quoted total of an
accepted quote (``quote.accepted``)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from services.common.db import UnitOfWork, utcnow
from services.common.errors import ValidationFailed
from services.common.events import typed_data
from services.common.schemas import instance
from services.orders.models import Order
from services.orders.schemas import OrderPriceOut

log = logging.getLogger(__name__)

ORDER_FIELDS = ("kind", "pickup_at", "rental_start", "rental_end", "passengers", "vehicle_type")
WEIGHT = Decimal("0.001")      # the items table keeps weights to the gram (Numeric(12, 3))
QUOTE = "quote"


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def _iso(value: Any) -> str | None:
    """A date as is; a time in UTC, as it is stored, so every path says the same instant alike."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value.isoformat() if value is not None else None


def _weight(value: Any) -> str | None:
    return None if value is None else str(Decimal(value).quantize(WEIGHT))


def content_of(order: Any, stops: Iterable[Any], items: Iterable[Any]) -> dict:
    """``order.submitted``'s ``content`` (``events.OrderContentData``) in its wire form: ISO
    dates, weights as decimal strings, stops in route order. ``order``, ``stops`` and ``items``
    are ORM objects (``content_of(order, order.stops, order.items)``) or the rows of a new order
    (``booking.NewOrder``), so a bulk import builds it with no query."""
    stops = sorted(stops, key=lambda s: _get(s, "position"))
    items = sorted(items, key=lambda i: _get(i, "position"))
    return {
        "kind": _get(order, "kind"),
        "pickup_at": _iso(_get(order, "pickup_at")),
        "rental_start": _iso(_get(order, "rental_start")),
        "rental_end": _iso(_get(order, "rental_end")),
        "passengers": _get(order, "passengers"),
        "vehicle_type": _get(order, "vehicle_type"),
        "stops": [{"type": _get(s, "type"), "lat": _get(s, "lat"), "lng": _get(s, "lng"),
                   "window_start": _iso(_get(s, "window_start")), "window_end": _iso(_get(s, "window_end"))}
                  for s in stops],
        "items": [{"quantity": _get(i, "quantity"), "weight_kg": _weight(_get(i, "weight_kg"))} for i in items],
    }


def price_total(price: dict | None) -> dict | None:
    """The list's ``price_total``: the price's total as money, or None."""
    return (price or {}).get("total") or None


def set_price(order: Order, price: dict | None, at: datetime) -> None:
    """Keep ``price`` as the order's price as of ``at`` (its total also on the list's row)."""
    order.price, order.priced_at = price, at
    order.summary = {**(order.summary or {}), "price_total": price_total(price)}


def clear_price(order: Order) -> None:
    """The content changed: the price no longer says what it costs until it is priced again.
    ``priced_at`` stays, so a late event about the old content still loses to a newer one."""
    if order.price is not None:
        order.price = None
        order.summary = {**(order.summary or {}), "price_total": None}


def occurred_at(event: dict) -> datetime:
    raw = event.get("occurred_at")
    if not raw:
        raise ValidationFailed(f"{event.get('type')} {event.get('id')} has no occurred_at")
    when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def apply_priced(uow: UnitOfWork, event: dict) -> Order | None:
    """``order.priced``: keep billing's price on the order, when the order is the event's
    customer's and the event is newer than the price the order has. What does not fit is
    logged and dropped (a redelivery cannot make it fit)."""
    data = typed_data(event)
    price, customer_id = data.get("price"), event.get("customer_id")
    if price is not None:
        errors = instance(OrderPriceOut).validate(price)
        if errors:
            raise ValidationFailed.of(errors, f"order.priced {event.get('id')} has a malformed price")
    order = uow.session.get(Order, data["order_id"], with_for_update=True)
    if order is None or not customer_id or order.customer_id != customer_id:
        log.warning("order.priced %s: order %s is not an order of customer %s; ignored",
                    event.get("id"), data["order_id"], customer_id)
        return None
    at = occurred_at(event)
    if order.priced_at is not None and at <= order.priced_at:
        log.info("order.priced %s for %s is not newer than its price (%s); ignored",
                 event.get("id"), order.id, order.priced_at.isoformat())
        return order
    set_price(order, price, at)
    order.updated_at = utcnow()
    return order


def quoted_price(order: Order, data: dict, at: datetime) -> None:
    """A booked quote's price is the quoted price: its total, marked as coming from the quote,
    shown at once. Billing's ``order.priced`` for the booking (``order.submitted`` names the
    quote) comes later with the quote's full price, lines and all, and replaces it."""
    total = data.get("total")
    if not total:
        return
    set_price(order, {"currency": total.get("currency"), "total": total, "source": QUOTE,
                      "quote_number": data.get("number")}, at)
