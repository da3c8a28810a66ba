"""Position history is kept ``TRACKING_RETENTION_DAYS`` (default 30), then deleted: in chunks,
so a large backlog never holds one long transaction or lock. A driver's latest position older
than that goes too, and so do tracking links' openings (their access log, ``link_access``)."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select

from services.common.config import env_int
from services.common.db import UnitOfWork, utcnow
from services.tracking import link_access
from services.tracking.models import LatestPosition, PositionRecord, Watch

log = logging.getLogger(__name__)

CHUNK = 5000


def purge(uow: UnitOfWork, max_chunks: int = 200) -> int:
    """Delete history older than the retention period, and lapsed watches; returns the number
    of positions deleted. Each chunk commits on its own."""
    cutoff = utcnow() - timedelta(days=env_int("TRACKING_RETENTION_DAYS"))
    deleted = 0
    for _ in range(max_chunks):
        session = uow.separate_session()
        try:
            oldest = select(PositionRecord.driver_id, PositionRecord.recorded_at).where(
                PositionRecord.recorded_at < cutoff).limit(CHUNK)
            keys = session.execute(oldest).all()
            if keys:
                session.execute(delete(PositionRecord).where(
                    PositionRecord.recorded_at < cutoff,
                    PositionRecord.recorded_at <= max(k.recorded_at for k in keys),
                    PositionRecord.driver_id.in_({k.driver_id for k in keys})))
            # A driver's latest position is a position too: one of a driver who stopped reporting
            # would otherwise be kept (and shown to operator staff) forever. The next report of
            # the driver writes the row again.
            session.execute(delete(LatestPosition).where(LatestPosition.recorded_at < cutoff))
            session.execute(delete(Watch).where(Watch.expires_at < utcnow() - timedelta(hours=1)))
            link_access.forget_before(session, cutoff)
            session.commit()
        finally:
            session.close()
        deleted += len(keys)
        if len(keys) < CHUNK:
            break
    if deleted:
        log.info("deleted %d positions older than %s", deleted, cutoff.isoformat())
    return deleted


def forget_rejected(amqp_uri: str) -> int:
    """Driver messages the ingest worker refused wait in their dead-letter queue for an operator
    to look at (and replay); they hold positions, so they are kept no longer than the history."""
    from kombu import Connection

    from services.common import replay
    from services.common.topology import INGEST_DEAD_QUEUE

    cutoff = utcnow() - timedelta(days=env_int("TRACKING_RETENTION_DAYS"))
    with Connection(amqp_uri, connect_timeout=10) as connection:
        dropped = replay.expire(connection, INGEST_DEAD_QUEUE, cutoff)
    if dropped:
        log.info("deleted %d rejected driver messages older than %s", dropped, cutoff.isoformat())
    return dropped
