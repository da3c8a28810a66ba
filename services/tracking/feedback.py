"""Recipient feedback: once an order is delivered, whoever holds one of its tracking links may
rate the delivery (1 to 5) and add a short plain-text comment; the operator reads them per
customer and per driver, the customer on its order.

- **One feedback per order.** The link that gave it may change it for ``EDIT_WINDOW`` after it
  was first given (a slip of the finger on the stars); after that, or from another link of the
  order, a second submit is a 409 (``details.reason``: ``given``). The unique order_id holds
  this against two submits at once too.
- **Only after delivery, only through a live link**: before delivery (or when the order failed
  or was cancelled) a submit is a 409 (``not_delivered``); a revoked or expired link is the same
  404 as an unknown one (``links.opened``).
- Stored with the order, its customer, the route's driver (tracking's copy of the route), the
  link it came through and when, and announced as ``feedback.received`` (partners' webhooks and
  the bus; notify tells no one). Another link of the order sees that feedback was given, not
  what it says.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict
from services.tracking import links
from services.tracking.models import OrderFeedback, TrackedOrder, TrackingLink

EDIT_WINDOW = timedelta(minutes=10)
COMMENT_MAX = 1000
DELIVERED = "delivered"


def clean_comment(text: str | None) -> str | None:
    """Plain text: control characters other than line breaks and tabs go, blank is no comment."""
    if text is None:
        return None
    kept = "".join(c for c in text.replace("\r\n", "\n") if c in "\n\t" or c.isprintable()).strip()
    return kept[:COMMENT_MAX] or None


def _given(session: Session, order_id: str) -> OrderFeedback | None:
    return session.scalar(select(OrderFeedback).where(OrderFeedback.order_id == order_id))


def _editable_until(given: OrderFeedback, link: TrackingLink):
    if given.link_id != link.id:
        return None
    until = given.created_at + EDIT_WINDOW
    return until if until > utcnow() else None


def _public_state(order: TrackedOrder, link: TrackingLink, given: OrderFeedback | None) -> dict:
    if given is None:
        return {"state": "open" if order.status == DELIVERED else "not_delivered", "feedback": None}
    until = _editable_until(given, link)
    mine = given.link_id == link.id
    return {"state": "editable" if until else "given",
            "feedback": {"rating": given.rating, "comment": given.comment, "created_at": given.created_at.isoformat(),
                         "editable_until": until.isoformat() if until else None} if mine else None}


def public_state(session: Session, token: str) -> dict:
    """What the tracking page shows: ``state`` is ``not_delivered``, ``open`` (the form),
    ``editable`` (given through this link, may still change) or ``given``."""
    link, order = links.opened(session, token)
    return _public_state(order, link, _given(session, order.order_id))


def give(uow: UnitOfWork, token: str, data: dict) -> tuple[dict, bool]:
    """Store the feedback given through the link ``token`` and announce it (``feedback.received``,
    again when changed); (the page's state, created?)."""
    session = uow.session
    link, order = links.opened(session, token, lock=True)
    # Every link of the order waits on the order's row: one feedback per order, decided in turn.
    order = session.scalar(select(TrackedOrder).where(TrackedOrder.order_id == order.order_id).with_for_update()
                           .execution_options(populate_existing=True))
    if order.status != DELIVERED:
        raise Conflict("Feedback can be given once the order is delivered.", {"reason": "not_delivered"})
    given, now = _given(session, order.order_id), utcnow()
    comment = clean_comment(data.get("comment"))
    if given is not None:
        if _editable_until(given, link) is None:
            raise Conflict("Feedback on this delivery was already given.", {"reason": "given"})
        given.rating, given.comment, given.updated_at = data["rating"], comment, now
    else:
        given = OrderFeedback(order_id=order.order_id, customer_id=order.customer_id, driver_id=order.driver_id,
                              link_id=link.id, rating=data["rating"], comment=comment, created_at=now, updated_at=now)
        session.add(given)
    session.flush()
    uow.emit("feedback.received", {"feedback_id": given.id, "order_id": order.order_id, "reference": order.reference,
                                   "driver_id": given.driver_id, "rating": given.rating, "comment": given.comment},
             order.customer_id)
    return _public_state(order, link, given), given.updated_at == given.created_at


def _out(given: OrderFeedback, reference: str | None, label: str | None) -> dict:
    return {"id": given.id, "order_id": given.order_id, "order_reference": reference,
            "customer_id": given.customer_id, "driver_id": given.driver_id, "link_id": given.link_id,
            "link_label": label, "rating": given.rating, "comment": given.comment,
            "created_at": given.created_at.isoformat(), "updated_at": given.updated_at.isoformat()}


def _with_names() -> Select:
    return (select(OrderFeedback, TrackedOrder.reference, TrackingLink.label)
            .join(TrackedOrder, TrackedOrder.order_id == OrderFeedback.order_id)
            .outerjoin(TrackingLink, TrackingLink.id == OrderFeedback.link_id))


def of_order(session: Session, caller: CallerContext, order_id: str) -> dict:
    """The feedback on one order, read-only, for its customer (and operator staff)."""
    order = links.get_order(session, caller, order_id)
    row = session.execute(_with_names().where(OrderFeedback.order_id == order.order_id)).first()
    if row is None:
        return {"feedback": None}
    out = _out(*row)
    return {"feedback": {k: out[k] for k in ("rating", "comment", "created_at", "updated_at", "link_id", "link_label")}}


def _filtered(query: Select, caller: CallerContext, args: dict) -> Select:
    caller.require_operator()
    if args.get("customer_id"):
        query = query.where(OrderFeedback.customer_id == args["customer_id"])
    if args.get("driver_id"):
        query = query.where(OrderFeedback.driver_id == args["driver_id"])
    if args.get("rating"):
        query = query.where(OrderFeedback.rating.in_(args["rating"]))
    return query


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    """Operator staff: every feedback, newest first, filtered by customer, driver and rating."""
    page, per_page = args.get("page", 1), args.get("per_page", 50)
    total = session.scalar(select(func.count()).select_from(
        _filtered(select(OrderFeedback.id), caller, args).subquery()))
    rows = session.execute(_filtered(_with_names(), caller, args)
                           .order_by(OrderFeedback.created_at.desc(), OrderFeedback.id)
                           .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [_out(*row) for row in rows], "page": page, "per_page": per_page, "total": total}


def _average(count: int, total) -> dict:
    return {"count": count, "average": round(float(total) / count, 2) if count else None}


def averages(session: Session, caller: CallerContext, args: dict) -> dict:
    """Operator staff: the average rating overall, per customer and per driver (best first),
    under the same filters as the list."""
    overall = session.execute(_filtered(select(func.count(), func.sum(OrderFeedback.rating)), caller, args)).one()
    out = {"overall": _average(overall[0], overall[1] or 0)}
    for key, column in (("by_customer", OrderFeedback.customer_id), ("by_driver", OrderFeedback.driver_id)):
        rows = session.execute(_filtered(select(column, func.count(), func.sum(OrderFeedback.rating)), caller, args)
                               .where(column.is_not(None)).group_by(column)).all()
        out[key] = sorted(({"id": r[0], **_average(r[1], r[2])} for r in rows),
                          key=lambda a: (-a["average"], -a["count"], a["id"]))
    return out
