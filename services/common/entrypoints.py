"""nameko entrypoints with the platform's rules built in, so service methods stay plain.

``rpc``: skips calls whose deadline has passed (PITFALLS 7) and commits the worker's
transaction *before* the reply is sent (PITFALLS 6), so the caller only ever sees committed work.

``event_handler(*types)``: consumes ``portal.events`` from a quorum queue with a delivery limit
and a dead-letter queue; a malformed envelope is dead-lettered at once; an event already applied
is acked without running the handler again (inbox, PITFALLS 1); the inbox row and the effect
commit together, before the ack; a failure requeues (counted by the broker, parked at the limit).
"""
from __future__ import annotations

import logging
import sys
import time
from functools import partial

from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer
from nameko.rpc import Rpc

from services.common.db import Database
from services.common.errors import ValidationFailed
from services.common.events import read_envelope
from services.common.logs import correlation_id
from services.common.topology import HandlerQueue, declare_handler

log = logging.getLogger(__name__)

DEADLINE_KEY = "deadline"
CORRELATION_KEY = "correlation_id"


def _database(container) -> Database | None:
    for dep in container.dependencies:
        if isinstance(dep, Database):
            return dep
    return None


def _finish(container, worker_ctx, exc_info, inbox=None):
    db = _database(container)
    if db is None:
        return exc_info
    try:
        return db.finish(worker_ctx, exc_info, inbox=inbox)
    except Exception:
        log.exception("commit failed for %s", worker_ctx)
        return sys.exc_info()


class PortalRpc(Rpc):
    def handle_message(self, body, message):
        deadline = message.headers.get(f"nameko.{DEADLINE_KEY}")
        if deadline is not None and float(deadline) < time.time():
            log.warning("skipping %s: its caller gave up %.3fs ago", self.method_name,
                        time.time() - float(deadline))
            self.rpc_consumer.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = _finish(self.container, worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = PortalRpc.decorator


class DomainEventHandler(Consumer):
    def __init__(self, *event_types: str, **kwargs):
        if not event_types:
            raise ValueError("name at least one event type")
        self.event_types = tuple(event_types)
        super().__init__(queue=None, requeue_on_error=True, **kwargs)

    @property
    def spec(self) -> HandlerQueue:
        return HandlerQueue(self.container.service_name, self.method_name, self.event_types)

    def setup(self):
        spec = self.spec
        self.queue = spec.queue()
        # Declare the dead-letter side too, identically to the topology step, so the queue never
        # exists without somewhere to park what fails.
        with Connection(self.container.config["AMQP_URI"], connect_timeout=10) as conn:
            declare_handler(conn.channel(), spec)
        super().setup()

    def handle_message(self, body, message):
        try:
            envelope = read_envelope(body)
        except ValidationFailed as exc:
            log.error("dead-lettering a malformed event on %s: %s", self.spec.name, exc.details)
            message.reject(requeue=False)
            return
        db = _database(self.container)
        if db is not None and db.inbox_contains(self.spec.consumer, envelope["id"]):
            log.info("event %s already applied by %s; acked", envelope["id"], self.spec.consumer)
            self.queue_consumer.ack_message(message)
            return
        context_data = self.unpack_message_headers(message)
        context_data.setdefault(CORRELATION_KEY, envelope.get("correlation_id"))
        self.container.spawn_worker(self, (envelope,), {}, context_data=context_data,
                                    handle_result=partial(self.handle_result, message))

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        envelope = worker_ctx.args[0]
        exc_info = _finish(self.container, worker_ctx, exc_info,
                           inbox=(self.spec.consumer, envelope["id"]))
        self.handle_message_processed(message, result, exc_info)
        return result, exc_info


event_handler = DomainEventHandler.decorator


class Correlation(DependencyProvider):
    """Puts the request's correlation id into the logging context of each worker."""

    def worker_setup(self, worker_ctx):
        correlation_id.set(worker_ctx.data.get(CORRELATION_KEY) or worker_ctx.call_id)

    def get_dependency(self, worker_ctx):
        return worker_ctx.data.get(CORRELATION_KEY)
