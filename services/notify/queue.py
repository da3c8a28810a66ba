"""Claiming due rows of notify's outgoing queues (emails, webhook deliveries).

A pump run takes up to ``limit`` rows that are due and not held by another run, marks them held
for ``lease`` seconds and commits at once, so the claim is visible before anything is sent.
SKIP LOCKED lets runs of several instances pass each other's rows instead of waiting on them;
the lease hands a row to a later run when the one holding it died mid-send (at-least-once: the
receiver may see it twice, with the same Message-ID or webhook-id, never lose it)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.db import utcnow


def claim(session: Session, model, waiting: str, limit: int, lease_seconds: float) -> list:
    now = utcnow()
    query = (select(model).where(model.status == waiting, model.next_attempt_at <= now,
                                 or_(model.lease_until.is_(None), model.lease_until < now))
             .order_by(model.next_attempt_at).limit(limit))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    for row in rows:
        row.lease_until = now + timedelta(seconds=lease_seconds)
        row.attempts += 1
    session.commit()
    return rows


def pool_map(fn, items: list, size: int) -> list:
    """``fn`` over ``items`` in green threads, ``size`` at a time, results in order."""
    import eventlet

    pool = eventlet.GreenPool(max(1, size))
    return list(pool.imap(fn, items))
