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
from datetime import datetime, timedelta, timezone

from kombu import Connection, Producer
from nameko.extensions import SharedExtension
from sqlalchemy import or_, select

from services.common.broker import release_quietly
from services.common.config import env, env_float
from services.common.topology import events_exchange

log = logging.getLogger(__name__)

BATCH = 200


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
MAX_BACKOFF = timedelta(minutes=5)


class OutboxPublisher:
    """Plain relay logic, with no nameko in it: ``relay_once`` publishes one batch."""

    def __init__(self, factory, base, amqp_uri: str):
        self.factory = factory
        self.model = base.OutboxMessage
        self.amqp_uri = amqp_uri
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self._returned: set[str] = set()

    def _on_return(self, exception, exchange, routing_key, message):
        self._returned.add(message.properties.get("message_id"))

    def _connect(self) -> Producer:
        if self._producer is None:
            self._conn = Connection(self.amqp_uri, connect_timeout=10,
                                    transport_options={"confirm_publish": True})
            channel = self._conn.channel()
            self._producer = Producer(channel, exchange=events_exchange(), on_return=self._on_return)
            events_exchange()(channel).declare()
        return self._producer

    def close(self) -> None:
        release_quietly(self._conn)
        self._conn = self._producer = None

    def relay_once(self, limit: int = BATCH) -> int:
        """Publish up to ``limit`` due events; returns how many were confirmed and routed."""
        m = self.model
        now = utcnow()
        done = 0
        with self.factory() as session, session.begin():
            query = (select(m).where(m.published_at.is_(None),
                                     or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now))
                     .order_by(m.seq).limit(limit))
            if session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            if not rows:
                return 0
            producer = self._connect()
            for row in rows:
                try:
                    self._returned.discard(row.event_id)
                    producer.publish(
                        row.body, routing_key=row.type, mandatory=True, delivery_mode=2,
                        content_type="application/json", content_encoding="utf-8",
                        message_id=row.event_id,
                        headers={"nameko.correlation_id": row.correlation_id} if row.correlation_id else {},
                        retry=False)
                except Exception as exc:  # broker gone: keep the rest for the next round
                    log.warning("outbox publish failed, will retry: %s", exc)
                    row.attempts += 1
                    row.last_error = f"publish failed: {exc}"[:500]
                    self.close()
                    break
                if row.event_id in self._returned:
                    row.attempts += 1
                    row.last_error = f"unroutable: no queue is bound for {row.type}"
                    row.next_attempt_at = now + min(MAX_BACKOFF, timedelta(seconds=2 ** min(row.attempts, 9)))
                    log.error("event %s (%s) was returned unroutable; retrying at %s",
                              row.event_id, row.type, row.next_attempt_at)
                    continue
                row.published_at = utcnow()
                row.attempts += 1
                done += 1
        return done


class OutboxRelay(SharedExtension):
    """Runs the OutboxPublisher of a service's Database in a managed greenthread."""

    def __init__(self):
        super().__init__()
        self.database = None
        self.publisher: OutboxPublisher | None = None
        self._wake = None
        self._running = False
        self._gt = None

    def attach(self, database) -> None:
        self.database = database
        database.on_commit = self.wake

    def start(self):
        from eventlet.event import Event

        if self.database is None or not self.container.config.get("OUTBOX_RELAY", True):
            return
        self.publisher = OutboxPublisher(self.database.factory, self.database.base,
                                         self.container.config.get("AMQP_URI") or env("AMQP_URI"))
        self._wake = Event()
        self._running = True
        self._gt = self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def wake(self) -> None:
        if self._wake is not None and not self._wake.ready():
            self._wake.send(True)

    def _run(self) -> None:
        import eventlet
        from eventlet.event import Event

        poll = env_float("OUTBOX_POLL_SECONDS")
        failures = 0
        while self._running:
            try:
                sent = self.publisher.relay_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("outbox relay round failed (%d in a row)", failures)
                self.publisher.close()
                sent = 0
            if sent:
                continue            # there may be more: go on at once
            if self._wake.ready():
                self._wake = Event()
                continue
            with eventlet.Timeout(min(poll * (2 ** failures), 30), False):
                self._wake.wait()
            if self._wake.ready():
                self._wake = Event()

    def stop(self):
        self._running = False
        self.wake()
        if self._gt is not None:
            self._gt.wait()
        if self.publisher is not None:
            self.publisher.close()

    def kill(self):
        self._running = False
        if self._gt is not None:
            self._gt.kill()
        if self.publisher is not None:
            self.publisher.close()
