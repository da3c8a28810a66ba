"""Accepted quotes become bookings: billing publishes ``quote.accepted`` and orders makes the
booking, once per quote (``Order.quote_id`` is unique, and the inbox drops redeliveries).

The quote request is either a draft the customer made (``order_id``: it is submitted as the
booking, with the quoted content ``order`` when the event carries it, so the booking is exactly
what was priced) or the order's content itself (``order``: an ``OrderIn`` payload, created
submitted). A booked quote's price is the quoted total. A draft the customer submitted in the
meantime is only linked to the quote: what it says and costs is the customer's own submission."""
from __future__ import annotations

import logging

from sqlalchemy import select

from services.common.caller import SERVICE, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import ValidationFailed
from services.common.schemas import load
from services.orders import booking, pricing, sites, status
from services.orders.models import Order
from services.orders.schemas import OrderIn

log = logging.getLogger(__name__)


def quoted_content(session, customer_id: str, order: dict) -> dict:
    """The quote's order content, checked as the API checks an order (``OrderIn``). A site the
    customer no longer has (removed since the quote was asked for) is left off, not a booking
    refused: the customer agreed to the quote, and its admin sees the order unsited."""
    content = load(OrderIn, {k: v for k, v in order.items() if k not in ("submit", "customer_id")})
    content.pop("submit", None)
    if content.get("site"):
        try:
            content["site"] = sites.check_site(booking.customer_settings(session, customer_id),
                                               CallerContext(role=SERVICE), content["site"])
        except ValidationFailed:
            log.warning("quoted site %r is not one of customer %s's sites any more; booked without it",
                        content["site"], customer_id)
            content["site"] = None
    return content


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
    accepted_at = pricing.occurred_at(event) if event.get("occurred_at") else utcnow()
    if data.get("order_id"):
        order = session.scalar(select(Order).where(Order.id == data["order_id"],
                                                   Order.customer_id == customer_id).with_for_update())
        if order is None:
            raise ValidationFailed(f"quote {quote_id} refers to order {data['order_id']}, not of its customer")
        order.quote_id = quote_id
        if order.status != status.DRAFT:
            log.info("quote %s accepted for order %s, already %s: linked only", quote_id, order.id, order.status)
            return order
        if data.get("order"):
            # Every priced part as quoted; notes only when the quote says something.
            content = quoted_content(session, customer_id, data["order"])
            priced = {name: None for name in booking.CONTENT if name != "notes"}
            booking.replace_content(uow, caller, order, {**priced, **content})
        # Not through approval.submit: the customer agreed this price when accepting the quote,
        # so the approval limit has nothing left to check (as for the created booking below).
        status.move(uow, order, status.SUBMITTED, caller, action="booked", note=note)
        pricing.quoted_price(order, data, accepted_at)
        return order
    if data.get("order"):
        content = quoted_content(session, customer_id, data["order"])
        content["submit"] = True
        order = booking.create(uow, caller, customer_id, content, source="quote", quote_id=quote_id)
        pricing.quoted_price(order, data, accepted_at)
        return order
    log.warning("quote.accepted %s carries neither order_id nor order; nothing to book", quote_id)
    return None
