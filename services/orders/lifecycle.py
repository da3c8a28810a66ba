"""What customers do with an order after creating it: look at it, submit, withdraw, cancel, ask
to reschedule; and what the operator answers to a reschedule request."""
from __future__ import annotations

from sqlalchemy import select

from services.common.caller import CUSTOMER_ADMIN, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, NotFound, PortalError, ValidationFailed
from services.common.schemas import dump
from services.orders import approval, dispatch, exceptions, sites, status
from services.orders.booking import get_scoped, summarise
from services.orders.listing import summary_row
from services.common.scoping import owned, paged
from services.orders.models import Order, RescheduleRequest, Route, StatusChange
from services.orders.schemas import OrderOut, RescheduleOut


def allowed_actions(order: Order, caller: CallerContext) -> list[str]:
    """What this caller may do to the order now. Editing, submitting, withdrawing and asking
    for another time are the customer's (the gateway lets only customers call them); staff
    may cancel."""
    if caller.read_only:            # a viewer: the screens offer nothing to press
        return []
    customer = caller.is_customer
    actions = []
    if customer and order.status == status.DRAFT:
        actions += ["edit", "submit"]
    if customer and order.status in (status.SUBMITTED, status.PENDING_APPROVAL):
        actions.append("withdraw")
    if caller.role == CUSTOMER_ADMIN and order.status == status.PENDING_APPROVAL:
        actions += ["approve", "decline"]
    if status.can_move(order, status.CANCELLED):
        actions.append("cancel")
    if customer and order.status in (status.SUBMITTED, status.SCHEDULED):
        actions.append("reschedule")
    return actions


def view(uow: UnitOfWork, caller: CallerContext, order: Order) -> dict:
    history = uow.session.scalars(select(StatusChange).where(StatusChange.order_id == order.id)
                                  .order_by(StatusChange.id)).all()
    body = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
    body.update(stops=order.stops, items=order.items, history=history,
                allowed_actions=allowed_actions(order, caller))
    return dump(OrderOut, body)


def get(uow: UnitOfWork, caller: CallerContext, order_id: str) -> dict:
    return view(uow, caller, get_scoped(uow.session, caller, order_id))


def submit(uow: UnitOfWork, caller: CallerContext, order_id: str, pricer: approval.Pricer | None = None) -> dict:
    order = get_scoped(uow.session, caller, order_id, lock=True)
    approval.submit(uow, caller, order, pricer)
    return view(uow, caller, order)


def submit_many(uow: UnitOfWork, caller: CallerContext, ids: list[str],
                pricer: approval.Pricer | None = None) -> dict:
    """Submit the chosen drafts in one call; the ones that cannot be submitted are reported
    one by one and the rest go ahead (a customer ticking 300 imported rows should not have to
    find the one that was already submitted). Those waiting for approval are among
    ``submitted``, with their status. Billing not answering fails the whole call (503, nothing
    changed) rather than waiting out its timeout once per order."""
    submitted, errors = [], []
    for order_id in dict.fromkeys(ids):
        try:
            order = get_scoped(uow.session, caller, order_id, lock=True)
            approval.submit(uow, caller, order, pricer)
            submitted.append(order)
        except PortalError as exc:
            if approval.prices_unavailable(exc):
                raise
            errors.append({"id": order_id, "code": exc.code, "message": exc.message,
                           **({"status": exc.details["status"]} if "status" in exc.details else {})})
    return {"submitted": [summary_row(o) for o in submitted], "errors": errors}


def withdraw(uow: UnitOfWork, caller: CallerContext, order_id: str) -> dict:
    order = get_scoped(uow.session, caller, order_id, lock=True)
    status.move(uow, order, status.DRAFT, caller, action="withdrawn (it is already on a route)"
                if order.status == status.SCHEDULED else "withdrawn")
    return view(uow, caller, order)


def cancel(uow: UnitOfWork, caller: CallerContext, order_id: str, reason: str | None) -> dict:
    order = get_scoped(uow.session, caller, order_id, lock=True)
    route_id = order.route_id
    status.move(uow, order, status.CANCELLED, caller, action="cancelled", note=reason,
                event_extra={"route_id": route_id, "reason": reason})
    order.route_id = order.route_position = None
    return view(uow, caller, order)


# --- reschedule requests ----------------------------------------------------------------------
def request_reschedule(uow: UnitOfWork, caller: CallerContext, order_id: str, data: dict) -> dict:
    order = get_scoped(uow.session, caller, order_id, lock=True)
    if order.status not in (status.SUBMITTED, status.SCHEDULED):
        raise Conflict(f"The order is {order.status.replace('_', ' ')}: only submitted or scheduled "
                       "orders can be rescheduled (edit a draft instead).", {"status": order.status})
    if data.get("stop_id") and data["stop_id"] not in {s.id for s in order.stops}:
        raise ValidationFailed.of({"stop_id": ["Not a stop of this order."]})
    req = exceptions.create_request(uow, order, data.get("stop_id"), {**data, "kind": "window"}, caller.user_id)
    return dump(RescheduleOut, req)


def list_reschedules(uow: UnitOfWork, caller: CallerContext, args: dict, order_id: str | None = None) -> dict:
    query = sites.of_visible_orders(caller, owned(caller, RescheduleRequest, args.get("customer_id")),
                                    RescheduleRequest.order_id)
    if order_id:
        query = query.where(RescheduleRequest.order_id == get_scoped(uow.session, caller, order_id).id)
    if args.get("status"):
        query = query.where(RescheduleRequest.status == args["status"])
    return paged(uow.session, query.order_by(RescheduleRequest.created_at.desc()), args, RescheduleOut)


def decide_reschedule(uow: UnitOfWork, caller: CallerContext, request_id: str, accept: bool,
                      reason: str | None) -> dict:
    caller.require_operator()
    req = uow.session.get(RescheduleRequest, request_id)
    if req is None:
        raise NotFound("No such reschedule request.")
    if req.status != "requested":
        raise Conflict(f"This request was already {req.status}.", {"status": req.status})
    order = uow.session.get(Order, req.order_id, with_for_update=True)
    if accept:
        if order.status not in (exceptions.CHANGEABLE if req.exception_id else (status.SUBMITTED, status.SCHEDULED)):
            raise Conflict(f"The order is now {order.status}: it cannot be rescheduled.",
                           {"status": order.status})
        exceptions.apply_accepted(order, req)
        exceptions.resolve_for(uow.session, req)
        summarise(order)
        order.updated_at = utcnow()
        if order.route_id:      # tracking's ETAs and lateness follow the new window
            dispatch.announce(uow, order, uow.session.get(Route, order.route_id))
    req.status = "accepted" if accept else "declined"
    req.decided_at, req.decided_by, req.reason = utcnow(), caller.user_id, reason
    uow.emit("reschedule.decided", {"request_id": req.id, "order_id": order.id, "status": req.status,
                                    "kind": req.kind}, customer_id=order.customer_id)
    return dump(RescheduleOut, req)
