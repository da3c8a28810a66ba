"""Tracking links: an order's status, ETAs and location for anyone holding the link, no sign-in.

A token is 256 random bits (``secrets.token_urlsafe(32)``), shown once when the link is made;
only its SHA-256 is kept, so a copy of the database opens no link. A link stops working when it
is revoked, or ``TRACKING_LINK_HOURS`` after the order was delivered, failed or was cancelled.
An unknown, revoked and expired token all answer the same NotFound, so probing tells nothing.
Each opening is logged with a coarse origin (``link_access``)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.config import env, env_int
from services.common.db import utcnow
from services.common.errors import NotFound
from services.tracking import link_access
from services.tracking.models import TrackedOrder, TrackingLink

MAX_ID = 36
TOKEN_BYTES = 32
PAGE_PATH = "/t/"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_order(session: Session, caller: CallerContext, order_id: str, lock: bool = False) -> TrackedOrder:
    """The scoped read of an order: another customer's order is NotFound, like a missing one."""
    scope = caller.scope()
    query = select(TrackedOrder).where(TrackedOrder.order_id == order_id)
    if scope is not None:
        query = query.where(TrackedOrder.customer_id == scope)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query) if isinstance(order_id, str) and len(order_id) <= MAX_ID else None
    if found is None or not caller.sees_site(found.site):      # a user limited to other sites
        raise NotFound("No such order.")
    return found


def expires_at(order: TrackedOrder):
    if order.finished_at is None:
        return None
    return order.finished_at + timedelta(hours=env_int("TRACKING_LINK_HOURS"))


def public(link: TrackingLink, order: TrackedOrder, opened_count: int = 0) -> dict:
    expiry = expires_at(order)
    return {"id": link.id, "order_id": link.order_id, "label": link.label,
            "created_at": link.created_at.isoformat(), "created_by_role": link.created_by_role,
            "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
            "expires_at": expiry.isoformat() if expiry else None,
            "last_opened_at": link.last_opened_at.isoformat() if link.last_opened_at else None,
            "opened_count": opened_count,
            "active": link.revoked_at is None and (expiry is None or expiry > utcnow())}


def create(session: Session, caller: CallerContext, order_id: str, data: dict) -> dict:
    order = get_order(session, caller, order_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = TrackingLink(order_id=order.order_id, customer_id=order.customer_id, token_hash=digest(token),
                        label=data.get("label"), created_by=caller.user_id, created_by_role=caller.role,
                        created_at=utcnow())
    session.add(link)
    session.flush()
    return {**public(link, order), "token": token,
            "url": env("PORTAL_URL").rstrip("/") + PAGE_PATH + token}


def listing(session: Session, caller: CallerContext, order_id: str) -> list[dict]:
    order = get_order(session, caller, order_id)
    links = session.scalars(select(TrackingLink).where(TrackingLink.order_id == order.order_id)
                            .order_by(TrackingLink.created_at.desc())).all()
    counts = link_access.counts(session, [link.id for link in links])
    return [public(link, order, counts.get(link.id, 0)) for link in links]


def get_link(session: Session, caller: CallerContext, link_id: str) -> TrackingLink:
    """The scoped read of a link: another customer's link is NotFound, like a missing one."""
    scope = caller.scope()
    query = select(TrackingLink).where(TrackingLink.id == link_id)
    if scope is not None:
        query = query.where(TrackingLink.customer_id == scope)
    link = session.scalar(query) if isinstance(link_id, str) and len(link_id) <= MAX_ID else None
    if link is not None and caller.sites is not None:     # a link of an order of another site
        order = session.get(TrackedOrder, link.order_id)
        link = link if order is not None and caller.sees_site(order.site) else None
    if link is None:
        raise NotFound("No such tracking link.")
    return link


def revoke(session: Session, caller: CallerContext, link_id: str) -> None:
    link = get_link(session, caller, link_id)
    link.revoked_at = link.revoked_at or utcnow()


def opened(session: Session, token: str, lock: bool = False) -> tuple[TrackingLink, TrackedOrder]:
    """The link a token is and the order it opens, or NotFound; ``lock`` holds the link's row
    until the transaction ends (its access log and its order's feedback are written under it)."""
    gone = NotFound("This tracking link is not valid (it may have expired or been revoked).")
    if not isinstance(token, str) or not 20 <= len(token) <= 64:
        raise gone
    query = select(TrackingLink).where(TrackingLink.token_hash == digest(token))
    link = session.scalar(query.with_for_update() if lock else query)
    if link is None or link.revoked_at is not None:
        raise gone
    order = session.get(TrackedOrder, link.order_id)
    expiry = expires_at(order) if order else None
    if order is None or (expiry is not None and expiry <= utcnow()):
        raise gone
    return link, order


def resolve(session: Session, token: str, visitor: dict | None = None) -> TrackedOrder:
    """The order a token opens, or NotFound; with a ``visitor`` (a page or a script opening the
    link, not a stream renewing its watch) the opening is logged."""
    link, order = opened(session, token, lock=visitor is not None)
    if visitor is not None:
        link_access.record(session, link, visitor)
    return order
