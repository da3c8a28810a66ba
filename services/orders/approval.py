"""Orders above the customer's approval limit wait for one of its admins (issue 11).

The customer's admin sets a limit (``CustomerSettings.approval_limit``, ``{amount, currency}``,
kept from identity's ``customer.*`` events). An order that a booker or an API key would submit
is priced first; above the limit, in another currency, or with no price at all it goes to
``pending_approval`` instead of ``submitted``. An admin approves it (submitted, exactly as a
submission: the same events, so billing prices it and dispatch sees it) or declines it (back to
draft, the reason kept in the status history); the booker may withdraw it. Imports and
recurring runs count as whoever created them (``imports.acting_as``, the schedule's creator).

Billing owns rate cards and prices, so the price comes from billing's ``price_preview`` by RPC
(a ``Pricer``) at the moment of submitting. When billing does not answer the submission is
refused with 503 and the order stays a draft: nothing is submitted unchecked, nothing is lost.

Accepted quotes (``quotes.book``) do not come through here: their price was agreed by the
customer when the quote was accepted, so there is nothing left to approve."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session

from services.common.caller import API_KEY, CUSTOMER_ADMIN, CUSTOMER_BOOKER, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, PortalError, ServiceUnavailable
from services.orders import status
from services.orders.models import CustomerSettings, Order

# (customer_id, order as billing's ``OrderFields`` payload) -> billing's price, or None.
Pricer = Callable[[str, dict], "dict | None"]

# The callers whose orders an admin approves; an admin's own orders (and operator staff's, who
# book on the customer's behalf when asked to) go straight through.
NEEDS_APPROVAL = frozenset({CUSTOMER_BOOKER, API_KEY})
PRICE_TIMEOUT = 5.0       # seconds for billing's price_preview, while the order row is locked
PRICES_UNAVAILABLE = "prices_unavailable"


def prices_unavailable(exc: Exception) -> bool:
    """Billing did not answer a price check: the submission was refused (503), nothing changed.
    (A marker in the details, not a subclass: the gateway rebuilds errors by class name.)"""
    return isinstance(exc, ServiceUnavailable) and exc.details.get("reason") == PRICES_UNAVAILABLE


def billing_pricer(call: Callable[..., Any]) -> Pricer:
    """A Pricer over an RPC callable to billing (``ServiceRpc("billing")`` in the service, the
    standalone RPC client in the import worker)."""
    def price(customer_id: str, order: dict) -> dict | None:
        return (call("price_preview", {"customer_id": customer_id, "order": order}) or {}).get("price")
    return price


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def _json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def preview_payload(order: Any, stops: Iterable[Any], items: Iterable[Any]) -> dict:
    """The order as ``price_preview`` reads it (``OrderFields``, JSON-safe), from ORM objects or
    the rows of a new order (``booking.NewOrder``), like ``pricing.content_of``."""
    stops = sorted(stops, key=lambda s: _get(s, "position"))
    items = sorted(items, key=lambda i: _get(i, "position"))
    body = {name: _json(_get(order, name)) for name in
            ("kind", "pickup_at", "passengers", "vehicle_type", "rental_start", "rental_end")}
    body["stops"] = [{name: _json(_get(s, name)) for name in
                      ("type", "address", "lat", "lng", "window_start", "window_end")} for s in stops]
    body["items"] = [{name: _json(_get(i, name)) for name in
                      ("description", "quantity", "weight_kg", "length_cm", "width_cm", "height_cm")}
                     for i in items]
    return body


def above(price: dict | None, limit: dict) -> bool:
    """Whether a price needs approval under ``limit``: above it, in another currency, or none."""
    total = (price or {}).get("total") or {}
    if not total.get("amount") or str(total.get("currency", "")).upper() != str(limit.get("currency", "")).upper():
        return True
    try:
        return Decimal(str(total["amount"])) > Decimal(str(limit["amount"]))
    except (InvalidOperation, KeyError):
        return True


def check(session: Session, caller: CallerContext, order: Any, stops: Iterable[Any], items: Iterable[Any],
          pricer: Pricer | None, settings: CustomerSettings | None = None) -> dict | None:
    """None when this submission may go ahead; else what ``order.approval_requested`` says
    (``total``, ``limit``, ``created_by``). The one rule every way of submitting asks."""
    if caller.role not in NEEDS_APPROVAL:
        return None
    customer_id = _get(order, "customer_id")
    settings = settings or session.get(CustomerSettings, customer_id)
    limit = settings.approval_limit if settings is not None else None
    if not limit:
        return None
    price = None
    if pricer is not None:       # no way to price (a wiring gap) fails safe: it waits for an admin
        try:
            price = pricer(customer_id, preview_payload(order, stops, items))
        except ServiceUnavailable:
            raise ServiceUnavailable("Prices cannot be checked against your approval limit right now "
                                     "(billing does not answer); the order stays a draft. Try again shortly.",
                                     {"reason": PRICES_UNAVAILABLE}) from None
        except PortalError:
            price = None         # billing cannot price it: an admin decides
    if not above(price, limit):
        return None
    return {"customer_id": customer_id, "total": (price or {}).get("total"), "limit": limit,
            "created_by": _get(order, "created_by")}


def submit(uow: UnitOfWork, caller: CallerContext, order: Order, pricer: Pricer | None,
           action: str = "submitted") -> None:
    """Submit a draft, or send it for approval when the rule says so."""
    if order.status != status.DRAFT:      # before pricing: a 409 needs no call to billing
        raise Conflict(f"The order is {order.status.replace('_', ' ')}: it cannot be {action} now.",
                       {"status": order.status, "order_id": order.id})
    held = check(uow.session, caller, order, order.stops, order.items, pricer)
    if held is None:
        status.move(uow, order, status.SUBMITTED, caller, action=action)
    else:
        status.move(uow, order, status.PENDING_APPROVAL, caller, action=action,
                    note="waits for approval: above the approval limit", event_extra=held)


def _pending(uow: UnitOfWork, caller: CallerContext, order_id: str, action: str) -> Order:
    from services.orders.booking import get_scoped      # booking asks this module: import here

    caller.require(CUSTOMER_ADMIN)
    order = get_scoped(uow.session, caller, order_id, lock=True)
    if order.status != status.PENDING_APPROVAL:
        raise Conflict(f"The order is {order.status.replace('_', ' ')}: only an order waiting for "
                       f"approval can be {action}.", {"status": order.status, "order_id": order.id})
    return order


def approve(uow: UnitOfWork, caller: CallerContext, order_id: str) -> Order:
    """The admin's yes: submitted as any submission is (``order.submitted`` with its content)."""
    order = _pending(uow, caller, order_id, "approved")
    status.move(uow, order, status.SUBMITTED, caller, action="approved", note="approved",
                change_extra={"decided_by": caller.user_id, "created_by": order.created_by})
    return order


def decline(uow: UnitOfWork, caller: CallerContext, order_id: str, reason: str) -> Order:
    """The admin's no: back to draft for the booker to change or drop; the reason is kept."""
    order = _pending(uow, caller, order_id, "declined")
    status.move(uow, order, status.DRAFT, caller, action="declined", note=f"declined: {reason}",
                change_extra={"decided_by": caller.user_id, "created_by": order.created_by,
                              "reason": reason})
    return order
