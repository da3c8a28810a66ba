"""Delivery exceptions the customer (and the recipient, through a tracking link) can act on.

- **Opened from tracking's facts**: a stop whose ETA passes its window (``stop.eta_changed``
  with ``late``) gets an open ``late`` exception, a failed attempt (``stop.completed`` with
  status ``failed``) a ``failed_attempt`` one. One open exception per stop: a failed attempt
  turns an open ``late`` one into ``failed_attempt``. A stop completed resolves its exception.
- **Acted on by asking dispatch for a change**: a new time window, leave-at instructions (plain
  text, bounded) or a changed address (validated as the web booker validates one). The change is
  a delivery-change request (``RescheduleRequest`` with its ``kind``: the reschedule requests
  of before are the ``window`` kind), answered by the operator on the console's requests screen
  through ``lifecycle.decide_reschedule``; ``reschedule.requested`` / ``reschedule.decided``
  tell notify. An accepted change resolves the exception.
- **One request per stop at a time**: while one waits, no other is taken for the stop (409),
  whoever asks (the customer in the portal or the recipient through a link).
- **The recipient** may act only on its own stop: the order's last drop-off (the link is the
  order's, and a recipient is whom the goods go to). Tracking resolves the token and asks here
  by RPC as the ``service`` role; ``RECIPIENT_LIMIT`` requests per stop a day (429).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.caller import SERVICE, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, NotFound, Throttled
from services.common.events import typed_data
from services.common.schemas import dump
from services.common.scoping import owned, paged
from services.orders import sites, status
from services.orders.booking import get_scoped
from services.orders.models import DeliveryException, Order, RescheduleRequest, Stop
from services.orders.schemas import ExceptionOut, RecipientExceptionOut, RescheduleOut

LATE, FAILED_ATTEMPT = "late", "failed_attempt"
ACTIONS = ("window", "instructions", "address")
# Orders a change can still reach: before the route, on it, or failed and waiting for another try.
CHANGEABLE = (status.SUBMITTED, status.SCHEDULED, status.IN_TRANSIT, status.FAILED)
# A link's recipient may ask this many changes per stop in this window (the database counts, so
# the limit holds across workers); one waits at a time anyway.
RECIPIENT_LIMIT, RECIPIENT_WINDOW = 3, timedelta(hours=24)


def _open_of(session: Session, stop_id: str, lock: bool = False) -> DeliveryException | None:
    query = select(DeliveryException).where(DeliveryException.stop_id == stop_id,
                                            DeliveryException.status == "open")
    return session.scalar(query.with_for_update() if lock else query)


def _stop_of(session: Session, data: dict) -> Stop | None:
    stop = session.get(Stop, data.get("stop_id"))
    return stop if stop is not None and stop.order_id == data.get("order_id") else None


def note_eta(uow: UnitOfWork, event: dict) -> None:
    """After ``etas.apply_eta``: a pending stop now late opens its exception (idempotent)."""
    stop = _stop_of(uow.session, typed_data(event))
    if stop is not None and stop.order.customer_id == event.get("customer_id") and stop.status == "pending" \
            and stop.eta_late:
        _open(uow, stop, LATE)


def note_stop(uow: UnitOfWork, event: dict) -> None:
    """After ``dispatch.apply_stop_event``: a failed attempt opens (or turns) the stop's
    exception; a completed stop resolves it."""
    stop = _stop_of(uow.session, typed_data(event))
    if stop is None:
        return
    if stop.status == "failed":
        _open(uow, stop, FAILED_ATTEMPT)
    elif stop.status == "completed" and (found := _open_of(uow.session, stop.id, lock=True)) is not None:
        found.status, found.resolved_at = "resolved", utcnow()


def _open(uow: UnitOfWork, stop: Stop, kind: str) -> None:
    found = _open_of(uow.session, stop.id, lock=True)
    if found is not None:
        if kind == FAILED_ATTEMPT:
            found.kind = kind
        return
    if uow.session.scalar(select(DeliveryException.id).where(    # once per stop and kind
            DeliveryException.stop_id == stop.id, DeliveryException.kind == kind)) is not None:
        return
    uow.session.add(DeliveryException(customer_id=stop.order.customer_id, order_id=stop.order_id,
                                      stop_id=stop.id, kind=kind))
    uow.session.flush()


def _latest_request(session: Session, exception_id: str) -> RescheduleRequest | None:
    return session.scalar(select(RescheduleRequest).where(RescheduleRequest.exception_id == exception_id)
                          .order_by(RescheduleRequest.created_at.desc()).limit(1))


def _waiting(session: Session, stop_id: str) -> RescheduleRequest | None:
    return session.scalar(select(RescheduleRequest).where(RescheduleRequest.stop_id == stop_id,
                                                          RescheduleRequest.status == "requested"))


def _fields(session: Session, exc: DeliveryException, order: Order | None = None) -> dict:
    """The exception with its order's reference, what may be asked now and the latest request."""
    order = order or session.get(Order, exc.order_id)
    can_ask = exc.status == "open" and order.status in CHANGEABLE and _waiting(session, exc.stop_id) is None
    return {**{c.key: getattr(exc, c.key) for c in DeliveryException.__table__.columns},
            "reference": order.reference, "actions": list(ACTIONS) if can_ask else [],
            "request": _latest_request(session, exc.id)}


def listing(uow: UnitOfWork, caller: CallerContext, args: dict) -> dict:
    query = sites.of_visible_orders(caller, owned(caller, DeliveryException), DeliveryException.order_id)
    if args.get("order_id"):
        query = query.where(DeliveryException.order_id == get_scoped(uow.session, caller, args["order_id"]).id)
    if args.get("status"):
        query = query.where(DeliveryException.status == args["status"])
    return paged(uow.session, query.order_by(DeliveryException.created_at.desc()), args,
                 transform=lambda e: dump(ExceptionOut, _fields(uow.session, e)))


def ask(uow: UnitOfWork, order: Order, exc: DeliveryException, data: dict, requested_by: str | None,
        via: str) -> RescheduleRequest:
    """Turn an action on an open exception into a delivery-change request for dispatch."""
    if exc.status != "open":
        raise Conflict("This delivery problem is already resolved.", {"status": exc.status})
    if order.status not in CHANGEABLE:
        raise Conflict(f"The order is {order.status.replace('_', ' ')}: its delivery can no longer be changed.",
                       {"status": order.status})
    return create_request(uow, order, exc.stop_id, {**data, "exception_id": exc.id}, requested_by, via)


def create_request(uow: UnitOfWork, order: Order, stop_id: str | None, data: dict, requested_by: str | None,
                   via: str = "portal") -> RescheduleRequest:
    """The one way a change request is made (a reschedule from the order page is the window
    kind): one waiting per order's stop (or per order when it names no stop)."""
    same = RescheduleRequest.stop_id == stop_id if stop_id else RescheduleRequest.order_id == order.id
    open_one = uow.session.scalar(select(RescheduleRequest).where(same, RescheduleRequest.order_id == order.id,
                                                                  RescheduleRequest.status == "requested"))
    if open_one is not None:
        raise Conflict("A change request for this delivery is already waiting for an answer.",
                       {"request_id": open_one.id})
    text = (data.get("instructions") or "").strip() or None
    req = RescheduleRequest(customer_id=order.customer_id, order_id=order.id, stop_id=stop_id,
                            kind=data.get("kind", "window"), requested_by=requested_by, requested_via=via,
                            instructions=text, exception_id=data.get("exception_id"),
                            **{k: data.get(k) for k in ("window_start", "window_end", "address", "note")})
    uow.session.add(req)
    uow.session.flush()
    uow.emit("reschedule.requested", {"request_id": req.id, "order_id": order.id, "status": req.status,
                                      "kind": req.kind}, customer_id=order.customer_id)
    return req


def request_change(uow: UnitOfWork, caller: CallerContext, exception_id: str, data: dict) -> dict:
    """The customer acts on one of its exceptions from the portal."""
    caller.require()
    exc = uow.session.get(DeliveryException, exception_id)
    if exc is None or caller.scope(exc.customer_id) not in (None, exc.customer_id):
        raise NotFound("No such delivery problem.")
    order = get_scoped(uow.session, caller, exc.order_id, lock=True)
    return dump(RescheduleOut, ask(uow, order, exc, data, caller.user_id, "portal"))


def recipient_stop(order: Order) -> Stop | None:
    drops = [s for s in order.stops if s.type == "dropoff"]
    return drops[-1] if drops else None


def _recipient(uow: UnitOfWork, caller: CallerContext, order_id: str, lock: bool = False):
    caller.require(SERVICE)          # tracking, having resolved a link's token to this order
    order = uow.session.get(Order, order_id, with_for_update=lock)
    stop = recipient_stop(order) if order is not None else None
    if stop is None:
        raise NotFound("This tracking link is not valid (it may have expired or been revoked).")
    return order, stop, _open_of(uow.session, stop.id)


def recipient_view(uow: UnitOfWork, caller: CallerContext, order_id: str) -> dict:
    order, stop, exc = _recipient(uow, caller, order_id)
    latest = uow.session.scalar(select(RescheduleRequest).where(
        RescheduleRequest.stop_id == stop.id, RescheduleRequest.requested_via == "tracking_link")
        .order_by(RescheduleRequest.created_at.desc()).limit(1))
    return dump(RecipientExceptionOut, {"exception": _fields(uow.session, exc, order) if exc else None,
                                        "request": latest})


def recipient_request(uow: UnitOfWork, caller: CallerContext, order_id: str, data: dict) -> dict:
    order, stop, exc = _recipient(uow, caller, order_id, lock=True)
    if exc is None:
        raise Conflict("Nothing to change: this delivery has no problem open.", {"reason": "no_exception"})
    asked = uow.session.scalar(select(func.count()).select_from(RescheduleRequest).where(
        RescheduleRequest.stop_id == stop.id, RescheduleRequest.requested_via == "tracking_link",
        RescheduleRequest.created_at >= utcnow() - RECIPIENT_WINDOW))
    if asked >= RECIPIENT_LIMIT:
        raise Throttled("Too many change requests for this delivery today; please call the sender.",
                        {"retry_after": int(RECIPIENT_WINDOW.total_seconds())})
    ask(uow, order, exc, data, None, "tracking_link")
    return recipient_view(uow, caller, order_id)


def apply_accepted(order: Order, req: RescheduleRequest) -> list[Stop]:
    """What an accepted change does to the stops it names; the caller re-summarises."""
    targets = [s for s in order.stops if s.id == req.stop_id] if req.stop_id else \
        [s for s in order.stops if s.type == "dropoff"] or order.stops
    for stop in targets:
        if req.kind == "window":
            stop.window_start, stop.window_end = req.window_start, req.window_end
        elif req.kind == "instructions":
            stop.notes = f"Leave at: {req.instructions}"
        elif req.kind == "address":
            stop.address, stop.lat, stop.lng = dict(req.address or {}), None, None
    return targets


def resolve_for(session: Session, req: RescheduleRequest) -> None:
    if req.exception_id and (exc := session.get(DeliveryException, req.exception_id)) is not None \
            and exc.status == "open":
        exc.status, exc.resolved_at = "resolved", utcnow()
