"""Transient live updates for the gateway's Server-Sent Events streams, published from nameko
services on a topic exchange (``tracking.live``: order views; ``notify.live``: in-app feeds).

They are transient by nature (a stream that misses one re-reads when it resumes), so they go
without confirms on one connection per process, under an eventlet lock; a failure drops the
update (and the connection, made again on the next one)."""
from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider

from services.common.broker import release_quietly

log = logging.getLogger(__name__)


class LivePublisher:
    def __init__(self, amqp_uri: str, exchange: str):
        from eventlet.semaphore import Semaphore

        self.amqp_uri, self.exchange = amqp_uri, exchange
        self._lock = Semaphore(1)
        self._conn = self._channel = None

    def publish(self, routing_key: str, body: bytes) -> None:
        import amqp
        from kombu import Connection

        with self._lock:
            try:
                if self._channel is None:
                    self._conn = Connection(self.amqp_uri, connect_timeout=5)
                    self._channel = self._conn.default_channel
                    self._channel.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
                self._channel.basic_publish(amqp.Message(body, content_type="application/json", delivery_mode=1),
                                            exchange=self.exchange, routing_key=routing_key)
            except Exception as exc:
                log.warning("live update %s on %s dropped: %s", routing_key, self.exchange, exc)
                release_quietly(self._conn)
                self._conn = self._channel = None

    def close(self) -> None:
        release_quietly(self._conn)
        self._conn = self._channel = None


class LiveUpdates(DependencyProvider):
    """Gives the service's workers the process's ``LivePublisher`` of one exchange."""

    def __init__(self, exchange: str):
        self.exchange = exchange

    def setup(self):
        self.live = LivePublisher(self.container.config["AMQP_URI"], self.exchange)

    def stop(self):
        self.live.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.live
