"""Orders as billing sees them: priced when submitted (``order.priced`` tells orders the price
to show), invoiced when delivered (when ``BILLING_AUTO_INVOICE`` is ``delivered``).

Events of one order can arrive in any order (each handler has its own queue): a delivery heard
before the submission is kept, and the invoice is issued when the price arrives."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from services.common.caller import SERVICE, CallerContext
from services.common.config import env
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.billing import invoices, pricing, rate_cards
from services.billing.models import Invoice, PricedOrder, Quote

log = logging.getLogger(__name__)
SYSTEM = CallerContext(role=SERVICE)


def _row(uow: UnitOfWork, event: dict) -> PricedOrder:
    data = event["data"]
    row = uow.session.get(PricedOrder, data["order_id"], with_for_update=True)
    if row is None:
        row = PricedOrder(order_id=data["order_id"], customer_id=event["customer_id"])
        uow.session.add(row)
    row.reference = data.get("reference") or row.reference
    row.kind = data.get("kind") or row.kind
    return row


def on_submitted(uow: UnitOfWork, event: dict) -> None:
    data = event["data"]
    if not event.get("customer_id"):
        raise ValidationFailed(f"order.submitted {data['order_id']} names no customer")
    row = _row(uow, event)
    occurred = datetime.fromisoformat(event["occurred_at"])
    if row.priced_at is not None and row.priced_at >= occurred:
        return                                   # a newer submission was priced already
    row.content = data.get("content")
    quote = uow.session.scalar(select(Quote).where(Quote.id == data["quote_id"])) if data.get("quote_id") else None
    if quote is not None and quote.price:
        row.quote_id, row.price = quote.id, quote.price          # a booked quote keeps its price
    elif row.content:
        price = rate_cards.price_content(uow.session, row.customer_id, row.content)
        row.price = price.wire() if price else None
    row.priced_at = occurred
    if row.status != "delivered":
        row.status = "submitted"
    uow.emit("order.priced", {"order_id": row.order_id, "price": row.price}, customer_id=row.customer_id)
    _invoice_if_due(uow, row)


def on_status_changed(uow: UnitOfWork, event: dict) -> None:
    data = event["data"]
    if data["status"] not in ("delivered", "cancelled", "failed") or not event.get("customer_id"):
        return
    row = _row(uow, event)
    row.status = data["status"]
    if data["status"] == "delivered":
        row.delivered_at = datetime.fromisoformat(event["occurred_at"])
        _invoice_if_due(uow, row)


def _invoice_if_due(uow: UnitOfWork, row: PricedOrder) -> None:
    if env("BILLING_AUTO_INVOICE") != "delivered" or row.status != "delivered" or row.invoice_id:
        return
    if not row.price:
        log.warning("order %s was delivered but has no price (no rate card applies): "
                    "not invoiced automatically", row.order_id)
        return
    row.invoice_id = invoice_order(uow, SYSTEM, row).id


def invoice_order(uow: UnitOfWork, caller: CallerContext, row: PricedOrder,
                  due_date=None, notes: str | None = None) -> Invoice:
    existing = uow.session.scalar(select(Invoice).where(Invoice.order_id == row.order_id))
    if existing is not None:
        raise Conflict(f"Order {row.reference or row.order_id} is already invoiced ({existing.number}).",
                       {"invoice_id": existing.id})
    price = pricing.Price.from_wire(row.price)
    lines = [{"code": line.code, "description": line.description, "quantity": line.quantity,
              "unit": line.unit, "unit_price": line.unit_price, "tax_rate": line.tax_rate}
             for line in price.lines]
    invoice = invoices.issue(uow, caller, row.customer_id, lines, order_id=row.order_id,
                             order_reference=row.reference, due_date=due_date, notes=notes,
                             currency=price.currency)
    row.invoice_id = invoice.id
    return invoice


def issue_for_order(uow: UnitOfWork, caller: CallerContext, order_id: str, customer_id: str | None,
                    due_date=None, notes: str | None = None) -> Invoice:
    """The operator invoices one order now, at its price (delivered or not)."""
    caller.require_operator()
    row = uow.session.get(PricedOrder, order_id, with_for_update=True)
    if row is None or (customer_id and row.customer_id != customer_id):
        raise NotFound("Billing knows no submitted order with this id.")
    if not row.price:
        raise ValidationFailed.of({"lines": ["This order has no price (no rate card applies): give the lines."]})
    return invoice_order(uow, caller, row, due_date, notes)

