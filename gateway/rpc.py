"""One RPC client per gateway process, shared by all its threads (no AMQP connection per
request, no proxy per thread).

It speaks nameko's RPC protocol directly over kombu: requests go to the ``nameko-rpc``
exchange with routing key ``<service>.<method>``, replies come back on one exclusive reply
queue per process, matched by correlation id. Publishing happens under a lock on one
connection; one background thread drains the replies on another and hands each to the thread
waiting for it.

The hot path talks py-amqp (kombu's own transport) directly: kombu's Producer.publish costs
~0.4 ms a message here against ~0.12 ms for the channel's basic_publish, and the reply needs no
kombu Message wrapper.

Every call carries a deadline (``nameko.deadline``; services skip calls their caller has
given up on, PITFALLS 7), the signed caller context and the correlation id.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import amqp
from kombu import Connection, Exchange, Queue

from gateway.per_process import PerProcess
from services.common import caller as caller_ctx
from services.common.caller import CallerContext
from services.common.broker import consume_forever, release_quietly
from services.common.config import env, env_float
from services.common.errors import DeadlineExceeded, PortalError, ServiceUnavailable, from_remote
from services.common.logs import correlation_id

log = logging.getLogger(__name__)

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)


class RemoteError(Exception):
    """A service failed with an error that is not one of ours: a bug, logged and shown as 500."""


class PendingReply:
    __slots__ = ("service", "method", "deadline", "_event", "_body")

    def __init__(self, service: str, method: str, deadline: float):
        self.service, self.method, self.deadline = service, method, deadline
        self._event = threading.Event()
        self._body: dict | None = None

    def _resolve(self, body: dict) -> None:
        self._body = body
        self._event.set()

    def result(self) -> Any:
        if not self._event.wait(max(0.0, self.deadline - time.time())):
            raise DeadlineExceeded(f"The {self.service} service did not answer in time.",
                                   {"service": self.service})
        body = self._body
        error = body.get("error")
        if error:
            known = from_remote(error.get("exc_type", ""), error.get("exc_args") or ())
            if known is not None:
                raise known
            raise RemoteError(f"{self.service}.{self.method} failed: {error.get('exc_type')}: "
                              f"{error.get('value')}")
        return body.get("result")


class RpcClient:
    def __init__(self, amqp_uri: str | None = None, timeout: float | None = None):
        self.amqp_uri = amqp_uri or env("AMQP_URI")
        self.timeout = timeout or env_float("RPC_TIMEOUT")
        self.reply_key = uuid.uuid4().hex
        self._pending: dict[str, PendingReply] = {}
        self._publish_lock = threading.Lock()
        self._publisher: tuple[Connection, amqp.Channel] | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._consume_replies, name="rpc-replies", daemon=True)
        self._thread.start()
        # Give the first connection a moment, but never fail or block here: while the broker
        # is away, calls fail fast (send) and this one thread keeps reconnecting.
        self._ready.wait(2)

    # --- replies -----------------------------------------------------------------------
    def _reply_queue(self) -> Queue:
        return Queue(f"rpc.reply-gateway-{self.reply_key}", exchange=RPC_EXCHANGE,
                     routing_key=self.reply_key, exclusive=True, auto_delete=True,
                     queue_arguments={"x-expires": 300_000})

    def _on_reply(self, message: amqp.Message) -> None:
        pending = self._pending.pop(message.properties.get("correlation_id"), None)
        if pending is None:
            return      # a reply to a call that has already timed out
        try:
            pending._resolve(json.loads(message.body))
        except (ValueError, TypeError):
            pending._resolve({"error": {"exc_type": "MalformedReply", "value": "unreadable reply"}})

    def _consume_replies(self) -> None:
        def subscribe(channel) -> None:
            queue = self._reply_queue()(channel)
            queue.declare()
            channel.basic_consume(queue.name, callback=self._on_reply, no_ack=True)

        consume_forever(self.amqp_uri, subscribe, ready=self._ready, stopping=lambda: self._stopping,
                        what="the RPC reply consumer", on_lost=self._fail_pending)

    def _fail_pending(self) -> None:
        """The exclusive reply queue died with the connection: no reply in flight can arrive."""
        lost = {"exc_type": "ServiceUnavailable",
                "exc_args": ["The connection to the message broker was lost; retry.", {}]}
        for cid in list(self._pending):
            pending = self._pending.pop(cid, None)
            if pending is not None:
                pending._resolve({"error": lost})

    # --- requests ----------------------------------------------------------------------
    def _channel(self) -> amqp.Channel:
        if self._publisher is None:
            conn = Connection(self.amqp_uri, connect_timeout=5, heartbeat=0)
            self._publisher = (conn, conn.default_channel)
        return self._publisher[1]

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            release_quietly(self._publisher[0])
            self._publisher = None

    def send(self, service: str, method: str, *args: Any, caller: CallerContext | None = None,
             timeout: float | None = None, **kwargs: Any) -> PendingReply:
        deadline = time.time() + (timeout or self.timeout)
        if not self._ready.is_set() and not self._ready.wait(min(2.0, timeout or self.timeout)):
            raise ServiceUnavailable("The message broker is not reachable.")
        cid = uuid.uuid4().hex
        pending = self._pending[cid] = PendingReply(service, method, deadline)
        headers = {"nameko.deadline": deadline,
                   "nameko.call_id_stack": [f"gateway.{method}.{cid}"],
                   "nameko.correlation_id": correlation_id.get() or cid}
        if caller is not None and caller.role != caller_ctx.ANONYMOUS:
            headers["nameko.caller"] = caller_ctx.sign(caller, deadline)
        message = amqp.Message(json.dumps({"args": list(args), "kwargs": kwargs}, default=str),
                               content_type="application/json", content_encoding="utf-8",
                               application_headers=headers, delivery_mode=1,
                               reply_to=self.reply_key, correlation_id=cid)
        for attempt in (1, 2):
            try:
                with self._publish_lock:
                    self._channel().basic_publish(message, exchange=RPC_EXCHANGE.name,
                                                  routing_key=f"{service}.{method}")
                return pending
            except Exception as exc:
                with self._publish_lock:
                    self._drop_publisher()
                if attempt == 2:
                    self._pending.pop(cid, None)
                    log.error("cannot publish an RPC to %s: %s", service, exc)
                    raise ServiceUnavailable("The message broker is not reachable.") from exc
        raise AssertionError("unreachable")

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.send(service, method, *args, **kwargs).result()

    def close(self) -> None:
        self._stopping = True
        with self._publish_lock:
            self._drop_publisher()


_client: PerProcess[RpcClient] = PerProcess(RpcClient)


def client() -> RpcClient:
    """The process's client, made on first use (after gunicorn forked the worker)."""
    return _client.get()


def reset_client() -> None:
    old = _client.forget()
    if old is not None:
        old.close()


__all__ = ["RpcClient", "PendingReply", "RemoteError", "client", "reset_client", "PortalError"]


def answer(result: Any, status: int = 200):
    """A service's answer as the HTTP response, as it is. Services dump their own output with
    their schemas; the view's ``@blp.response`` schema documents it without dumping it again."""
    from flask import current_app

    if status == 204:
        return current_app.response_class(status=204)
    response = current_app.json.response(result)
    response.status_code = status
    return response
