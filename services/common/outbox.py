"""The outbox relay: moves committed events from a service's ``outbox`` table to RabbitMQ.

Publishes to ``portal.events`` with publisher confirms and ``mandatory=True`` (PITFALLS 4, 5):
a row is marked published only after the broker confirmed it *and* routed it to a queue. A
returned (unroutable) event stays pending and is retried with backoff, so an event sent before
its subscribers' queues exist is delivered once they do. If the relay dies between publishing
and marking, the row is published again under the same id; consumers dedupe on it.

Several instances of a service share the table: on PostgreSQL each batch is claimed with
``FOR UPDATE SKIP LOCKED``. The relay is woken right after a commit that wrote events, and
polls every OUTBOX_POLL_SECONDS for what it was not woken for (other instances, restarts).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import amqp
from kombu import Connection
from sqlalchemy import or_, select, update

from services.common import metrics
from services.common.broker import release_quietly
from services.common.events import EXCHANGE

log = logging.getLogger(__name__)

BATCH = 200


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
MAX_BACKOFF = timedelta(minutes=5)


class OutboxPublisher:
    """Plain relay logic, with no nameko in it: ``relay_once`` publishes one batch.

    Confirms are collected per batch: every row is published, then the relay waits once for the
    broker's acks (and any returns). Waiting for each message's confirm in turn, as kombu's
    ``confirm_publish`` does, capped the relay at ~250 events/s here; a bulk import emits
    thousands. A row counts as published only when acked and not returned."""

    CONFIRM_TIMEOUT = 10.0

    def __init__(self, factory, base, amqp_uri: str, service: str = ""):
        self.factory = factory
        self.service = service
        self.model = base.OutboxMessage
        self.amqp_uri = amqp_uri
        self._conn: Connection | None = None
        self._channel = None
        self._next_tag = 1
        self._acked: set[int] = set()
        self._acked_upto = 0
        self._nacked: set[int] = set()
        self._returned: set[str] = set()

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._acked_upto = max(self._acked_upto, delivery_tag)
        else:
            self._acked.add(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked.update(range(self._acked_upto + 1, delivery_tag + 1) if multiple else (delivery_tag,))

    def _on_return(self, exception, exchange, routing_key, message) -> None:
        self._returned.add(message.properties.get("message_id"))

    def _connect(self):
        if self._channel is None:
            self._conn = Connection(self.amqp_uri, connect_timeout=10)
            self._conn.connect()
            channel = self._conn.connection.channel()      # py-amqp's own channel
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
            self._channel, self._next_tag = channel, 1
            self._acked, self._acked_upto, self._nacked = set(), 0, set()
        return self._channel

    def close(self) -> None:
        release_quietly(self._conn)
        self._conn = self._channel = None

    def _confirmed(self, tag: int) -> bool:
        return tag <= self._acked_upto or tag in self._acked

    def _wait_for_confirms(self, tags: list[int]) -> None:
        deadline = time.monotonic() + self.CONFIRM_TIMEOUT
        while not all(self._confirmed(t) or t in self._nacked for t in tags):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the broker did not confirm the batch in time")
            self._conn.connection.drain_events(timeout=remaining)

    def relay_once(self, limit: int = BATCH) -> int:
        """Publish up to ``limit`` due events; returns how many were confirmed and routed.
        Rows are read and marked with one statement each way, not one ORM object per event."""
        m = self.model
        now = utcnow()
        with self.factory() as session, session.begin():
            query = (select(m.seq, m.event_id, m.type, m.body, m.correlation_id, m.attempts, m.created_at)
                     .where(m.published_at.is_(None),
                            or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now))
                     .order_by(m.seq).limit(limit))
            if session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            # The oldest event due is the lag (rows come in order): it grows while the broker is
            # away, and an alert watches it (deploy/monitoring).
            metrics.OUTBOX_LAG.labels(self.service).set(
                max(0.0, (now - rows[0].created_at).total_seconds()) if rows else 0.0)
            if not rows:
                return 0
            sent: list[tuple[object, int]] = []
            try:
                channel = self._connect()
                for row in rows:
                    self._returned.discard(row.event_id)
                    headers = {"nameko.correlation_id": row.correlation_id} if row.correlation_id else {}
                    channel.basic_publish(
                        amqp.Message(row.body, content_type="application/json", content_encoding="utf-8",
                                     delivery_mode=2, message_id=row.event_id, application_headers=headers),
                        exchange=EXCHANGE, routing_key=row.type, mandatory=True)
                    sent.append((row, self._next_tag))
                    self._next_tag += 1
                self._wait_for_confirms([tag for _, tag in sent])
            except Exception as exc:  # broker gone or slow: what was not confirmed goes next round
                log.warning("outbox publish failed, will retry: %s", exc)
                self.close()
            else:
                if any(tag in self._nacked for _, tag in sent):
                    # A nack comes from a queue that could not take the message, as when a quorum
                    # queue's leader node died. The channel that saw it keeps being refused after
                    # a new leader is elected (RabbitMQ 3.10, tests/attack/test_broker_cluster.py),
                    # so the next round starts on a fresh connection.
                    log.warning("the broker refused %d events; reconnecting to send them again",
                                sum(tag in self._nacked for _, tag in sent))
                    self.close()
            published, unconfirmed = [], []
            for row, tag in sent:
                if not self._confirmed(tag) or tag in self._nacked:
                    unconfirmed.append(row.seq)
                elif row.event_id in self._returned:
                    attempts = row.attempts + 1
                    retry_at = now + min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 9)))
                    session.execute(update(m).where(m.seq == row.seq).values(
                        attempts=attempts, next_attempt_at=retry_at,
                        last_error=f"unroutable: no queue is bound for {row.type}"))
                    log.error("event %s (%s) was returned unroutable; retrying at %s",
                              row.event_id, row.type, retry_at)
                else:
                    published.append(row.seq)
            if published:
                session.execute(update(m).where(m.seq.in_(published))
                                .values(published_at=utcnow(), attempts=m.attempts + 1))
                metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(published))
            if unconfirmed:
                session.execute(update(m).where(m.seq.in_(unconfirmed))
                                .values(attempts=m.attempts + 1, last_error="not confirmed by the broker"))
        return len(published)
