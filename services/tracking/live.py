"""Live updates for the SSE streams: the tracking view of a watched order, published on the
topic exchange ``tracking.live`` with routing key ``order.<order_id>``.

These are transient by nature (a stream that misses one re-reads the order when it resumes),
so they are published without confirms, and only for orders someone is watching (``watches``).
Both forms are built here, by ``views``: the customer's and the public (tracking-link) one, so
the gateway never decides what to show."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.config import env_int
from services.common.db import upsert_insert, utcnow
from services.tracking import views
from services.tracking.models import Watch

log = logging.getLogger(__name__)

EXCHANGE = "tracking.live"


def routing_key(order_id: str) -> str:
    return f"order.{order_id}"


def message(seen: views.Seen) -> bytes:
    view = views.customer_view(seen)
    return json.dumps({"order_id": view["order_id"], "version": view["version"], "view": view,
                       "public": views.public_view(seen)}).encode()


def watch(session: Session, order_id: str) -> None:
    """Someone streams this order: keep it watched for TRACKING_WATCH_SECONDS (streams renew)."""
    expires_at = utcnow() + timedelta(seconds=env_int("TRACKING_WATCH_SECONDS"))
    stmt = upsert_insert(session)(Watch).values(order_id=order_id, expires_at=expires_at)
    session.execute(stmt.on_conflict_do_update(index_elements=["order_id"], set_={"expires_at": expires_at}))


def watched(session: Session, order_ids=None) -> set[str]:
    query = select(Watch.order_id).where(Watch.expires_at > utcnow())
    if order_ids is not None:
        query = query.where(Watch.order_id.in_(list(order_ids)))
    return set(session.scalars(query))
