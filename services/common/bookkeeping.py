"""The rows every service keeps for the reliability rules, deleted once they cannot matter:

- outbox rows already published (OUTBOX_KEEP_DAYS): kept a while to trace an event back to the
  change that made it; an unpublished row is never deleted.
- inbox rows (INBOX_KEEP_DAYS): they stop a redelivered event from being applied twice; a
  redelivery comes within minutes (PITFALLS 1), a replay from a dead-letter queue is of an
  event that was never applied, so a month is ample.
- idempotency records (IDEMPOTENCY_KEEP_HOURS): a client retries a write within minutes; a key
  sent again after that is a new request.

Each runs in chunks, each chunk its own short transaction, so a large backlog never holds a
long lock; every instance of a service runs it and they share the work (SKIP LOCKED).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select, tuple_

from services.common.config import env_int
from services.common.db import UnitOfWork, utcnow

log = logging.getLogger(__name__)

CHUNK = 5000


def _prune(uow: UnitOfWork, model, key: tuple, condition, max_chunks: int) -> int:
    deleted = 0
    for _ in range(max_chunks):
        session = uow.separate_session()
        try:
            ids = select(*key).where(condition).limit(CHUNK)
            if session.get_bind().dialect.name == "postgresql":
                ids = ids.with_for_update(skip_locked=True)
            found = [tuple(row) for row in session.execute(ids)]
            if found:
                session.execute(delete(model).where(tuple_(*key).in_(found)))
                session.commit()
        finally:
            session.close()
        deleted += len(found)
        if len(found) < CHUNK:
            break
    return deleted


def prune(uow: UnitOfWork, max_chunks: int = 100) -> dict[str, int]:
    """Delete what is past its keeping; returns the counts per table."""
    base, now = uow.base, utcnow()
    outbox, inbox, idempotency = base.OutboxMessage, base.InboxMessage, base.IdempotencyRecord
    counts = {
        "outbox": _prune(uow, outbox, (outbox.seq,), outbox.published_at < now - timedelta(days=env_int("OUTBOX_KEEP_DAYS")),
                         max_chunks),
        "inbox": _prune(uow, inbox, (inbox.consumer, inbox.event_id),
                        inbox.received_at < now - timedelta(days=env_int("INBOX_KEEP_DAYS")), max_chunks),
        "idempotency": _prune(uow, idempotency, (idempotency.scope, idempotency.key),
                              idempotency.created_at < now - timedelta(hours=env_int("IDEMPOTENCY_KEEP_HOURS")),
                              max_chunks),
    }
    if any(counts.values()):
        log.info("bookkeeping pruned", extra=counts)
    return counts
