"""The order status machine: the one place that knows which moves are legal.

``draft -> submitted -> scheduled -> in_transit -> delivered | failed``, and ``cancelled``;
``draft -> pending_approval -> submitted | draft`` when an order waits for the customer's admin
(``approval.py``).
Every move is a row of the status history (who, when, why) and an ``order.status_changed``
event, plus the move's own event where the catalogue has one (``order.submitted`` ...).
``order.submitted`` carries what billing prices the order from (``pricing.content_of``), on
every way an order is submitted: one, many, a booked quote, or created submitted (imports too)."""
from __future__ import annotations

from services.common.caller import CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict
from services.orders import counts, emissions, pricing
from services.orders.models import Order, StatusChange

DRAFT, SUBMITTED, SCHEDULED, IN_TRANSIT = "draft", "submitted", "scheduled", "in_transit"
DELIVERED, FAILED, CANCELLED = "delivered", "failed", "cancelled"
PENDING_APPROVAL = "pending_approval"      # above the customer's approval limit (approval.py)

# to-status -> the statuses it may be reached from.
MOVES: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({DRAFT, SCHEDULED, PENDING_APPROVAL}),  # scheduled: taken off a route; pending: approved
    DRAFT: frozenset({SUBMITTED, PENDING_APPROVAL}),  # withdrawn before it is on a route; declined
    PENDING_APPROVAL: frozenset({DRAFT}),
    SCHEDULED: frozenset({SUBMITTED}),
    IN_TRANSIT: frozenset({SCHEDULED}),
    DELIVERED: frozenset({IN_TRANSIT}),
    FAILED: frozenset({IN_TRANSIT}),
    CANCELLED: frozenset({DRAFT, PENDING_APPROVAL, SUBMITTED, SCHEDULED}),   # never once the goods are moving
}
EVENTS = {SUBMITTED: "order.submitted", DRAFT: "order.withdrawn", SCHEDULED: "order.scheduled",
          CANCELLED: "order.cancelled", PENDING_APPROVAL: "order.approval_requested"}
FINAL = frozenset({DELIVERED, FAILED, CANCELLED})


def can_move(order: Order, to: str) -> bool:
    return order.status in MOVES[to]


def check(order: Order, to: str, action: str | None = None) -> None:
    if not can_move(order, to):
        raise Conflict(f"The order is {order.status.replace('_', ' ')}: it cannot be "
                       f"{action or to.replace('_', ' ')} now.",
                       {"status": order.status, "order_id": order.id})


def record(uow: UnitOfWork, order: Order, previous: str | None, caller: CallerContext,
           note: str | None = None) -> None:
    counts.moved(uow, order.customer_id, previous, order.status)
    uow.session.add(StatusChange(order_id=order.id, from_status=previous, to_status=order.status,
                                 by_user_id=caller.user_id, by_role=caller.role, note=note))


def event_data(order: Order, **extra) -> dict:
    # ``site``: other services keep it to hold site-limited users to their sites' orders.
    return {"order_id": order.id, "reference": order.reference, "kind": order.kind,
            "status": order.status, "site": order.site, **extra}


def creation(order: dict, submit: bool, held: bool = False) -> list[tuple[str | None, str]]:
    """The moves of a new order: it is born a draft, and submitted at once when asked (or sent
    for approval, ``held``: approval.check); the order row's status and submitted_at are set to match."""
    moves: list[tuple[str | None, str]] = [(None, DRAFT)]
    if submit and held:
        moves.append((DRAFT, PENDING_APPROVAL))
        order["status"] = PENDING_APPROVAL
    elif submit:
        moves.append((DRAFT, SUBMITTED))
        order["status"], order["submitted_at"] = SUBMITTED, order["created_at"]
    return moves


def submitted_extra(order, stops, items) -> dict:
    """What ``order.submitted`` says beyond the order's id and status: the content billing
    prices, and the quote it was booked from (its price is the quoted one)."""
    extra = {"content": pricing.content_of(order, stops, items)}
    quote_id = order.get("quote_id") if isinstance(order, dict) else order.quote_id
    if quote_id:
        extra["quote_id"] = quote_id
    return extra


def creation_events(order: dict, moves: list[tuple[str | None, str]], stops: list[dict],
                    items: list[dict], held: dict | None = None) -> list[tuple[str, dict, str]]:
    """The events of a new order from its rows (``booking.NewOrder``): no query, so an import
    writes hundreds at once."""
    base = {"order_id": order["id"], "reference": order["reference"], "kind": order["kind"],
            "site": order.get("site")}
    events = [("order.created", {**base, "status": DRAFT}, order["customer_id"])]
    for before, after in moves[1:]:
        extra = submitted_extra(order, stops, items) if after == SUBMITTED else {}
        if after == PENDING_APPROVAL:
            extra = dict(held or {})
        events.append((EVENTS[after], {**base, "status": after, **extra}, order["customer_id"]))
        events.append(("order.status_changed", {**base, "status": after, "previous_status": before},
                       order["customer_id"]))
    return events


def move(uow: UnitOfWork, order: Order, to: str, caller: CallerContext, *, action: str | None = None,
         note: str | None = None, event_extra: dict | None = None, change_extra: dict | None = None) -> None:
    """Move ``order`` to ``to`` or answer 409 with its current status. ``event_extra`` goes on
    the move's own event, ``change_extra`` on ``order.status_changed`` (an approval's decision)."""
    check(order, to, action)
    previous = order.status
    order.status = to
    order.updated_at = utcnow()
    if to == SUBMITTED and previous in (DRAFT, PENDING_APPROVAL):
        order.submitted_at = order.updated_at
    record(uow, order, previous, caller, note)
    emissions.refresh(uow.session, order)          # CO2e follows the order's progress
    # Taken off a route is no new submission; a declined or withdrawn approval request was never
    # submitted, so nothing is "withdrawn" (its status_changed says what happened).
    own = None if (previous, to) in ((SCHEDULED, SUBMITTED), (PENDING_APPROVAL, DRAFT)) else EVENTS.get(to)
    if own:
        extra = dict(event_extra or {})
        if to == SUBMITTED:
            extra.update(submitted_extra(order, order.stops, order.items))
        uow.emit(own, event_data(order, **extra), customer_id=order.customer_id)
    uow.emit("order.status_changed", event_data(order, previous_status=previous, **(change_extra or {})),
             customer_id=order.customer_id)
