"""The in-app feed: each user's notifications, unread counts, marking read, and the live
update a user's open portal gets (``notify.live``, routing key ``user.<id>``)."""
from __future__ import annotations

import json

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.db import utcnow
from services.common.errors import NotFound
from services.common.schemas import dump
from services.common.scoping import paged
from services.notify.models import Notification
from services.notify.schemas import NotificationOut

EXCHANGE = "notify.live"


def routing_key(user_id: str) -> str:
    return f"user.{user_id}"


def _mine(caller: CallerContext):
    """A feed belongs to a person: API keys and services have none."""
    caller.require()
    if not caller.user_id:
        raise NotFound("There is no notification feed for this caller.")
    query = select(Notification).where(Notification.user_id == caller.user_id)
    if caller.is_customer:      # defence in depth: never a row of another customer
        query = query.where(Notification.customer_id == caller.customer_id)
    return query


def unread(session: Session, caller: CallerContext) -> int:
    query = _mine(caller).where(Notification.read_at.is_(None))
    return session.scalar(select(func.count()).select_from(query.subquery()))


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = _mine(caller).order_by(Notification.seq.desc())
    if args.get("unread") is True:
        query = query.where(Notification.read_at.is_(None))
    elif args.get("unread") is False:
        query = query.where(Notification.read_at.is_not(None))
    page = paged(session, query, args, NotificationOut)
    return {**page, "unread": unread(session, caller)}


def mark_read(session: Session, caller: CallerContext, notification_id: str) -> dict:
    found = session.scalar(_mine(caller).where(Notification.id == notification_id)) \
        if len(notification_id) <= 36 else None
    if found is None:
        raise NotFound("No such notification.")
    if found.read_at is None:
        found.read_at = utcnow()
    return dump(NotificationOut, found)


def mark_all_read(session: Session, caller: CallerContext, before=None) -> dict:
    ids = _mine(caller).where(Notification.read_at.is_(None))
    if before is not None:
        ids = ids.where(Notification.created_at <= before)
    session.execute(update(Notification).where(Notification.seq.in_(ids.with_only_columns(Notification.seq)))
                    .values(read_at=utcnow()).execution_options(synchronize_session=False))
    return {"unread": unread(session, caller)}


def add(session: Session, user_ids, event: dict, notice, owners: dict[str, str | None]) -> list[Notification]:
    """``owners``: each user's customer (the feed row's, which a customer's reads filter by)."""
    rows = [Notification(user_id=user_id, customer_id=owners.get(user_id), event_id=event["id"],
                         event_type=event["type"], kind=notice.kind, title=notice.title[:300], link=notice.link,
                         subject_id=notice.subject_id) for user_id in sorted(user_ids)]
    session.add_all(rows)
    return rows


def live_message(row: Notification) -> bytes:
    return json.dumps({"user_id": row.user_id, "notification": dump(NotificationOut, row)}).encode()
