"""Accepted quotes become bookings: billing publishes ``quote.accepted`` and orders makes the
booking, once per quote (``Order.quote_id`` is unique, and the inbox drops redeliveries).

The quote request is either a draft the customer made (``order_id``: it is submitted as the
booking) or the order's content itself (``order``: an ``OrderIn`` payload, created submitted)."""
from __future__ import annotations

import logging

from sqlalchemy import select

from services.common.caller import SERVICE, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import ValidationFailed
from services.common.schemas import load
from services.orders import booking, status
from services.orders.models import Order
from services.orders.schemas import OrderIn

log = logging.getLogger(__name__)


def book(uow: UnitOfWork, event: dict) -> Order | None:
    data, customer_id = event["data"], event.get("customer_id")
    quote_id = data["quote_id"]
    session = uow.session
    done = session.scalar(select(Order).where(Order.quote_id == quote_id))
    if done is not None:
        return done
    if not customer_id:
        raise ValidationFailed(f"quote.accepted {quote_id} names no customer")
    caller = CallerContext(role=SERVICE)
    note = f"quote {data.get('number') or quote_id} accepted"
    if data.get("order_id"):
        order = session.scalar(select(Order).where(Order.id == data["order_id"],
                                                   Order.customer_id == customer_id).with_for_update())
        if order is None:
            raise ValidationFailed(f"quote {quote_id} refers to order {data['order_id']}, not of its customer")
        order.quote_id = quote_id
        if order.status == status.DRAFT:
            status.move(uow, order, status.SUBMITTED, caller, action="booked", note=note)
        return order
    if data.get("order"):
        content = load(OrderIn, {k: v for k, v in data["order"].items() if k not in ("submit", "customer_id")})
        content["submit"] = True
        return booking.create(uow, caller, customer_id, content, source="quote", quote_id=quote_id)
    log.warning("quote.accepted %s carries neither order_id nor order; nothing to book", quote_id)
    return None
