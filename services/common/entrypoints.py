"""nameko entrypoints with the platform's rules built in, so service methods stay plain.

``rpc``: skips calls whose deadline has passed (PITFALLS 7) and commits the worker's
transaction *before* the reply is sent (PITFALLS 6), so the caller only ever sees committed work.

``event_handler(*types)``: consumes ``portal.events`` from a quorum queue with a delivery limit
and a dead-letter queue; a malformed envelope is dead-lettered at once; an event already applied
is acked without running the handler again (inbox, PITFALLS 1); the inbox row and the effect
commit together, before the ack; a failure requeues (counted by the broker, parked at the limit).
"""
from __future__ import annotations

import inspect
import json
import logging
import sys
import time
from functools import partial

import amqp
from kombu import Connection, Exchange
from nameko.exceptions import ContainerBeingKilled, IncorrectSignature, UnserializableValueError, serialize
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.messaging import Consumer
from nameko.rpc import Rpc

from services.common.broker import release_quietly
from services.common.caller import verify as verify_caller
from services.common.caller import CONTEXT_KEY as CALLER_KEY
from services.common.database import Database
from services.common.db import READ_ONLY_MESSAGE
from services.common.errors import Forbidden, ServiceUnavailable, Unauthenticated, ValidationFailed
from services.common.events import read_envelope
from services.common.logs import correlation_id
from services.common.topology import HandlerQueue, declare_handler

log = logging.getLogger(__name__)

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)
DEADLINE_KEY = "deadline"
CORRELATION_KEY = "correlation_id"
READ_ONLY_SQLSTATE = "25006"      # read_only_sql_transaction


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


def _unavailable_if_database_away(exc_info):
    """A database that is restarting or out of connections is "retry shortly" (503 with
    Retry-After at the gateway), not a bug: nameko would carry SQLAlchemy's OperationalError over
    as an unknown type, which the gateway answers with a 500 (found by the database-faults suite,
    tests/attack/test_database_faults.py). A statement timeout is the same kind of failure."""
    if exc_info is None:
        return None
    from sqlalchemy import exc as sa

    error = exc_info[1]
    if getattr(getattr(error, "orig", None), "pgcode", None) == READ_ONLY_SQLSTATE:
        refused = Forbidden(READ_ONLY_MESSAGE, {"reason": "read_only_role"})      # db._forbid_writes
        return type(refused), refused, exc_info[2]
    away = isinstance(error, (sa.OperationalError, sa.InterfaceError, sa.TimeoutError)) or (
        isinstance(error, sa.DBAPIError) and error.connection_invalidated)
    try:    # unwrapped, too: a pooled connection reset on check-in raises psycopg2's own error
        import psycopg2

        away = away or isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError))
    except ImportError:     # SQLite only
        pass
    if not away:
        return exc_info
    log.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else type(error).__name__)
    unavailable = ServiceUnavailable("The database is not answering; retry shortly.")
    return type(unavailable), unavailable, exc_info[2]


class ReplySender(SharedExtension):
    """Sends RPC replies on one connection per service process, without publisher confirms.

    nameko's own Responder takes a producer from a pool and waits for a confirm on every reply:
    a broker round trip per call. A reply is transient by nature (its caller waits for it under
    a deadline, and a lost one shows as a timeout), so a plain publish on a kept connection is
    enough, and it more than doubles the calls one process answers per second."""

    def setup(self):
        from eventlet.semaphore import Semaphore

        self._lock = Semaphore(1)
        self._conn = None
        self._channel = None

    def _drop(self):
        release_quietly(self._conn)
        self._conn = self._channel = None

    def send(self, message, result, exc_info):
        error = serialize(exc_info[1]) if exc_info is not None else None
        try:
            body = json.dumps({"result": result, "error": error})
        except (TypeError, ValueError):
            exc_info = sys.exc_info()
            body = json.dumps({"result": None, "error": serialize(UnserializableValueError(result))})
            result = None
        reply = amqp.Message(body, content_type="application/json", content_encoding="utf-8",
                             delivery_mode=1, correlation_id=message.properties.get("correlation_id"))
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._channel is None:
                        self._conn = Connection(self.container.config["AMQP_URI"], connect_timeout=10)
                        self._channel = self._conn.default_channel
                    # py-amqp directly: kombu's Producer.publish costs ~3x more per message.
                    self._channel.basic_publish(reply, exchange=RPC_EXCHANGE.name,
                                                routing_key=message.properties["reply_to"])
                    break
                except Exception as exc:
                    self._drop()
                    if attempt == 2:
                        log.error("could not send an RPC reply: %s", exc)
        return result, exc_info

    def stop(self):
        self._drop()

    kill = stop


class PortalRpc(Rpc):
    replies = ReplySender()
    _signature = None

    def check_signature(self, args, kwargs):
        # nameko runs inspect.getcallargs on every call (~7% of a ping); a cached Signature
        # gives the same answer for a fraction of the cost.
        if self._signature is None:
            self._signature = inspect.signature(getattr(self.container.service_cls, self.method_name))
        try:
            self._signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None

    def handle_message(self, body, message):
        deadline = message.headers.get(f"nameko.{DEADLINE_KEY}")
        if deadline is not None and float(deadline) < time.time():
            log.warning("skipping %s: its caller gave up %.3fs ago", self.method_name,
                        time.time() - float(deadline))
            self.rpc_consumer.queue_consumer.ack_message(message)
            return
        # PITFALLS 9: a caller header that is present but not a valid signed context (forged,
        # altered, expired, not a string) is refused before any work, so it never even reaches
        # the method's validation (RpcConsumer replies with the error and acks).
        presented = message.headers.get(f"nameko.{CALLER_KEY}")
        if presented is not None:
            problem = verify_caller(presented).problem
            if problem:
                raise Unauthenticated(problem)
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = _unavailable_if_database_away(_finish(self.container, worker_ctx, exc_info))
        if exc_info is not None:
            result = None
        result, exc_info = self.replies.send(message, result, exc_info)
        self.rpc_consumer.queue_consumer.ack_message(message)
        return result, exc_info


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
        # The inbox check is a database round trip: made here, in the consumer's one green
        # thread, it would hand out messages one round trip at a time (and a database that
        # refuses connections would kill the container); in a thread of its own it does neither.
        self.container.spawn_managed_thread(partial(self._dispatch, envelope, message),
                                            identifier=f"dispatch {self.spec.consumer}")

    def _dispatch(self, envelope, message):
        db = _database(self.container)
        try:
            applied = db is not None and db.inbox_contains(self.spec.consumer, envelope["id"])
        except Exception as exc:
            log.warning("inbox of %s not readable (%s); event %s requeued", self.spec.consumer, exc, envelope["id"])
            import eventlet

            eventlet.sleep(1)       # not a hot loop while the database is away
            self.queue_consumer.requeue_message(message)
            return
        if applied:
            log.info("event %s already applied by %s; acked", envelope["id"], self.spec.consumer)
            self.queue_consumer.ack_message(message)
            return
        context_data = self.unpack_message_headers(message)
        context_data.setdefault(CORRELATION_KEY, envelope.get("correlation_id"))
        try:
            self.container.spawn_worker(self, (envelope,), {}, context_data=context_data,
                                        handle_result=partial(self.handle_result, message))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        envelope = worker_ctx.args[0]
        exc_info = _finish(self.container, worker_ctx, exc_info,
                           inbox=(self.spec.consumer, envelope["id"]))
        self.handle_message_processed(message, result, exc_info)
        return result, exc_info


event_handler = DomainEventHandler.decorator


class Correlation(DependencyProvider):
    """Puts the request's correlation id into the logging context of each worker, and logs
    one line per worker (entrypoint, outcome, duration) carrying it."""

    def worker_setup(self, worker_ctx):
        # At most 64 characters, the outbox's column: a call without a correlation header falls
        # back on nameko's call id ("<service>.<method>.<uuid>", 66+ characters for a long method
        # name), which made every event such a call emitted fail with a DataError.
        correlation_id.set(str(worker_ctx.data.get(CORRELATION_KEY) or worker_ctx.call_id)[:64])
        worker_ctx.started = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        ms = round((time.perf_counter() - getattr(worker_ctx, "started", time.perf_counter())) * 1000, 2)
        outcome = "ok" if exc_info is None else type(exc_info[1]).__name__
        log.info("%s %s %s", worker_ctx.entrypoint.method_name, outcome, ms,
                 extra={"entrypoint": worker_ctx.entrypoint.method_name, "outcome": outcome, "ms": ms})

    def get_dependency(self, worker_ctx):
        return worker_ctx.data.get(CORRELATION_KEY)


class Caller(DependencyProvider):
    """Injects the verified CallerContext of the worker (services.common.caller). Never raises
    here (a raise while injecting would leave the RPC unanswered); a bad context raises when the
    service uses it."""

    def get_dependency(self, worker_ctx):
        return verify_caller(worker_ctx.data.get(CALLER_KEY))
