"""The ingest worker: a process of its own (``python -m services.common.run tracking-ingest``)
that consumes the driver apps' messages from ``tracking.driver.ingest`` in batches.

Why not a nameko ``consume`` handler: one worker and one transaction per message tops out near
4.6k messages/s here before any database work. This one takes up to ``TRACKING_INGEST_BATCH``
messages (or what arrived within ``TRACKING_INGEST_WAIT_MS``), stores them in one transaction
(``batch.py``), and only then acks: the rejected ones one by one with ``requeue=False`` (the
queue dead-letters them to ``tracking.driver.dead``), the rest with one ``multiple`` ack. A
crash before the commit redelivers the batch; the writes are idempotent, so a crash after it
changes nothing either. A database outage is retried in place with the messages held (the
connection's heartbeats go on), so it parks nothing in the dead-letter queue. Several workers
share the queue; each batch's events leave through the tracking service's outbox relay."""
from __future__ import annotations

import logging
import os
import time

import pika
from sqlalchemy.orm import sessionmaker

from services.common.config import database_url, env, env_int
from services.common.db import UnitOfWork, make_engine, utcnow
from services.common.topology import (DEAD_LETTER_EXCHANGE, DRIVER_EXCHANGE, INGEST_DEAD_QUEUE, INGEST_QUEUE,
                                      LIVE_EXCHANGE, ingest_queue_arguments)
from services.common.worker import PlainWorker, serve
from services.tracking import live
from services.tracking.batch import Batcher, Incoming
from services.tracking.driver_auth import CredentialCache, identity_lookup
from services.tracking.models import Base

log = logging.getLogger("tracking.ingest")

WATCH_REFRESH_SECONDS = 0.5
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 10.0   # seconds between attempts to reach the broker


def declare(channel) -> None:
    """Exactly the topology step's declarations (services.common.topology), in pika."""
    channel.exchange_declare(DRIVER_EXCHANGE, "topic", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, "direct", durable=True)
    channel.exchange_declare(LIVE_EXCHANGE, "topic", durable=True)
    channel.queue_declare(INGEST_DEAD_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(INGEST_DEAD_QUEUE, DEAD_LETTER_EXCHANGE, routing_key=INGEST_DEAD_QUEUE)
    channel.queue_declare(INGEST_QUEUE, durable=True, arguments=ingest_queue_arguments())
    for key in ("driver.*.location", "driver.*.stop"):
        channel.queue_bind(INGEST_QUEUE, DRIVER_EXCHANGE, routing_key=key)


class Worker(PlainWorker):
    def __init__(self, url: str | None = None, amqp_uri: str | None = None, batcher: Batcher | None = None):
        super().__init__()
        self.engine = make_engine(url or database_url("tracking"))
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        self.amqp_uri = amqp_uri or env("AMQP_URI")
        self.batcher = batcher or Batcher(CredentialCache(identity_lookup(self.amqp_uri)))
        self.batch_size = env_int("TRACKING_INGEST_BATCH")
        self.wait = env_int("TRACKING_INGEST_WAIT_MS") / 1000
        self._watched: set[str] = set()
        self._watched_at = 0.0
        self.stored = self.rejected = 0

    def watched(self) -> set[str]:
        if time.monotonic() - self._watched_at > WATCH_REFRESH_SECONDS:
            unit = UnitOfWork(self.factory, Base)
            try:
                self._watched = live.watched(unit.session)
            finally:
                unit.close()
            self._watched_at = time.monotonic()
        return self._watched

    def store(self, batch: list[Incoming]):
        """One transaction for the batch; retried (messages held) while the database is away."""
        backoff = 0.2
        while True:
            unit = UnitOfWork(self.factory, Base)
            try:
                outcome = self.batcher.process(unit, batch, utcnow(), self.watched())
                unit.commit()
                return outcome
            except Exception:
                unit.rollback()
                # The plans in memory may hold this batch's uncommitted changes: start afresh.
                self.batcher.plans.clear()
                if self.stopping:
                    raise
                log.exception("storing a batch of %d driver messages failed; retrying in %.1fs", len(batch), backoff)
                yield_to = getattr(self, "_connection", None)
                if yield_to is not None:
                    yield_to.sleep(backoff)    # keeps the AMQP heartbeat going
                else:
                    self.pause(backoff)
                backoff = min(backoff * 2, 10)
                self.beat()
            finally:
                unit.close()

    def settle(self, channel, batch: list[Incoming], outcome) -> None:
        rejected = {tag for tag, _, _ in outcome.rejected}
        for tag in sorted(rejected):
            channel.basic_nack(tag, multiple=False, requeue=False)
        good = [m.tag for m in batch if m.tag not in rejected]
        if good:
            channel.basic_ack(max(good), multiple=True)
        for order_id, seen in outcome.live:
            channel.basic_publish(LIVE_EXCHANGE, live.routing_key(order_id), live.message(seen),
                                  pika.BasicProperties(content_type="application/json", delivery_mode=1))
        self.stored += outcome.stored
        self.rejected += len(rejected)

    def consume(self) -> None:
        params = pika.URLParameters(self.amqp_uri)
        params.heartbeat, params.client_properties = 30, {"connection_name": f"tracking-ingest-{os.getpid()}"}
        connection = self._connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            declare(channel)
            channel.basic_qos(prefetch_count=self.batch_size * 2)
            buffer: list[Incoming] = []

            def on_message(_channel, method, properties, body):
                buffer.append(Incoming(method.delivery_tag, method.routing_key, properties.headers, body))

            channel.basic_consume(INGEST_QUEUE, on_message)
            log.info("ingest worker consuming %s", INGEST_QUEUE)
            self.backoff = FIRST_BACKOFF     # connected: the next loss waits little again
            while not self.stopping:
                self.beat()
                connection.process_data_events(time_limit=1 if not buffer else 0)
                if not buffer:
                    continue
                deadline = time.monotonic() + self.wait
                while len(buffer) < self.batch_size and time.monotonic() < deadline:
                    connection.process_data_events(time_limit=max(0.0, min(0.01, deadline - time.monotonic())))
                batch, buffer[:] = buffer[:self.batch_size], buffer[self.batch_size:]
                self.settle(channel, batch, self.store(batch))
        finally:
            self._connection = None
            if connection.is_open:
                connection.close()

    def run_forever(self) -> None:
        self.backoff = FIRST_BACKOFF
        while not self.stopping:
            try:
                self.consume()
            except (pika.exceptions.AMQPError, OSError) as exc:
                # Unacked messages go back to the queue with the connection: nothing is lost.
                # The wait doubles only while connecting keeps failing (a broker that is down),
                # not over the worker's life: after two broker restarts it was 8 s, and positions
                # waited that long (tests/attack/test_bus_faults.py).
                log.warning("ingest lost the broker (%s); reconnecting in %.1fs", exc, self.backoff)
                self.pause(self.backoff)
                self.backoff = min(self.backoff * 2, MAX_BACKOFF)
                self.beat()


def main() -> None:
    serve("tracking-ingest", Worker)

if __name__ == "__main__":
    main()
