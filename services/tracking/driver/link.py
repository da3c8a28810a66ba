"""One AMQP connection that carries the bus messages of many drivers, with publisher confirms.

A driver app (or a fleet simulator running thousands of drivers) publishes through one
``DriverLink``. pika's ``SelectConnection`` runs its I/O loop in a daemon thread; callers hand
messages over through a lock-protected outbox and wake the loop with
``add_callback_threadsafe``. Many messages are in flight at once: the broker's confirms
(``multiple`` acks) retire them, so throughput is not bound by one round trip per message.

Nothing is dropped on purpose: every message stays in ``_pending`` until the broker confirms it.
A nack'd message is sent again after a short pause; when the connection goes (broker restart,
``rabbitmqctl close_connection``, socket error) the link reconnects with backoff and re-sends
every unconfirmed message with its same ``message_id``, so consumers de-duplicate on it
(at-least-once delivery).
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass

import pika
from pika.adapters.select_connection import IOLoop
from pika.exceptions import AMQPError
from pika.spec import Basic

EXCHANGE = "tracking.driver"
log = logging.getLogger(__name__)


class DriverLinkError(RuntimeError):
    """The link cannot take a message: closed, or the broker confirmed nothing for too long."""


@dataclass(eq=False)
class _Message:
    message_id: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties
    sends: int = 0


class DriverLink:
    """``DriverLink(amqp_uri, max_pending=50_000, confirm_timeout=30)``: thread-safe."""

    RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0
    # A nack means the broker refused (e.g. a full queue with reject-publish): wait a little
    # rather than hammer it in a tight loop.
    NACK_RETRY = 0.5
    # Messages written per turn of the I/O loop, so confirms are read between large batches.
    DRAIN_BATCH = 1000

    def __init__(self, amqp_uri: str, *, max_pending: int = 50_000, confirm_timeout: float = 30.0,
                 connection_name: str | None = None):
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending, self.confirm_timeout = max_pending, confirm_timeout
        self.connection_name = connection_name or f"driver-link-{uuid.uuid4().hex[:12]}"
        self._params = pika.URLParameters(amqp_uri)
        # Shown by the management UI and ``rabbitmqctl list_connections client_properties``.
        self._params.client_properties = {"connection_name": self.connection_name}
        self.published = self.confirmed = self.resent = self.reconnects = 0

        # Shared between callers and the I/O thread, under _lock.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: dict[str, _Message] = {}   # every message not yet confirmed
        self._outbox: deque[_Message] = deque()   # waiting to be written (first sends and re-sends)
        self._wake_scheduled = False                # a _drain is due: publishers need not wake the loop
        self._closed = False

        # Touched by the I/O thread only.
        self._inflight: OrderedDict[int, _Message] = OrderedDict()   # delivery tag -> message
        self._next_tag = 0
        self._connection: pika.SelectConnection | None = None
        self._channel = None
        self._ready = False
        self._closing = False
        self._delay = self.RECONNECT_FIRST
        self._reconnect_timer = None
        self._connected = threading.Event()

        self._ioloop = IOLoop()
        self._ioloop.add_callback_threadsafe(self._connect)
        self._thread = threading.Thread(target=self._run, name=self.connection_name, daemon=True)
        self._thread.start()

    # --- the caller's side ---------------------------------------------------------------------
    def publish(self, routing_key: str, payload: dict, *, credential: str) -> str:
        """Queue one message for ``tracking.driver``; returns its ``message_id``. Blocks while
        ``max_pending`` messages are unconfirmed, and raises ``DriverLinkError`` when that lasts
        ``confirm_timeout`` seconds."""
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()   # NaN is no JSON
        message_id = uuid.uuid4().hex
        with self._changed:
            self._wait_for_room()
            properties = pika.BasicProperties(
                content_type="application/json", delivery_mode=2, message_id=message_id,
                timestamp=int(time.time()), headers={"credential": credential})
            message = _Message(message_id, routing_key, body, properties)
            self._pending[message_id] = message
            self._outbox.append(message)
            self.published += 1
            wake, self._wake_scheduled = not self._wake_scheduled, True
        if wake:
            self._ioloop.add_callback_threadsafe(self._drain)
        return message_id

    def _wait_for_room(self) -> None:
        if self._closed:
            raise DriverLinkError("the driver link is closed")
        if len(self._pending) < self.max_pending:
            return
        deadline = time.monotonic() + self.confirm_timeout
        while len(self._pending) >= self.max_pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DriverLinkError(f"{len(self._pending)} messages unconfirmed for "
                                      f"{self.confirm_timeout:g}s; the broker is not confirming")
            self._changed.wait(left)
            if self._closed:
                raise DriverLinkError("the driver link is closed")

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every message is confirmed (True) or ``timeout`` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush for up to ``timeout`` seconds, then close the connection and stop the thread."""
        with self._lock:
            if self._closed:
                return
        flushed = self.flush(timeout)
        with self._changed:
            self._closed = True
            left = len(self._pending)
            self._changed.notify_all()
        if not flushed:
            log.warning("driver link %s closing with %d unconfirmed messages", self.connection_name, left)
        self._ioloop.add_callback_threadsafe(self._shutdown)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=max(timeout, 5.0))

    def __enter__(self) -> "DriverLink":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # --- the I/O thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                self._ioloop.start()
            except Exception:   # a bug in a callback must not silently end the link
                log.exception("driver link %s: I/O loop failed; restarting it", self.connection_name)
                if not self._closing:
                    time.sleep(0.5)
                    continue
            break
        self._ioloop.close()

    def _connect(self) -> None:
        self._reconnect_timer = None
        if self._closing:
            return
        self._connection = pika.SelectConnection(
            self._params, on_open_callback=self._on_open, on_open_error_callback=self._on_lost,
            on_close_callback=self._on_lost, custom_ioloop=self._ioloop)

    def _on_open(self, connection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm,
                                 # Passive: it only checks the exchange is there (the topology
                                 # step declares it), which a driver, allowed to publish and
                                 # nothing else (broker_access), may do.
                                 callback=lambda _frame: channel.exchange_declare(
                                     EXCHANGE, exchange_type="topic", passive=True,
                                     callback=self._on_ready))

    def _on_ready(self, _frame) -> None:
        self._ready, self._delay = True, self.RECONNECT_FIRST
        self._connected.set()
        log.info("driver link %s connected; %d messages to send", self.connection_name, len(self._outbox))
        self._drain()

    def _on_channel_closed(self, channel, reason) -> None:
        # Closed with its connection: _on_lost handles it. Closed alone (an exchange declared
        # with other arguments, a broker-side channel error): restart the whole connection.
        if channel is self._channel and self._connection is not None and self._connection.is_open:
            log.warning("driver link %s: channel closed (%s); reconnecting", self.connection_name, reason)
            self._connection.close()

    def _on_lost(self, connection, reason) -> None:
        if connection is not self._connection:
            return
        self._connection, self._channel, self._ready = None, None, False
        self._connected.clear()
        lost = list(self._inflight.values())
        self._inflight.clear()
        self._next_tag = 0
        with self._lock:
            # First in line, in their original order; publishers need not wake the loop until
            # the next connection is ready (_on_ready drains).
            self._outbox.extendleft(reversed(lost))
            self._wake_scheduled = True
        if self._closing:
            self._ioloop.stop()
            return
        delay, self._delay = self._delay, min(self._delay * 2, self.RECONNECT_MAX)
        log.warning("driver link %s lost (%r); %d unconfirmed to re-send; reconnecting in %.1fs",
                    self.connection_name, reason, len(lost), delay)
        self.reconnects += 1
        self._reconnect_timer = self._ioloop.call_later(delay, self._connect)

    def _drain(self) -> None:
        with self._lock:
            if not self._ready:
                return   # _wake_scheduled stays set: _on_ready drains
            batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), self.DRAIN_BATCH))]
            more = bool(self._outbox)
            self._wake_scheduled = more
        for index, message in enumerate(batch):
            self._next_tag += 1
            self._inflight[self._next_tag] = message
            try:
                self._channel.basic_publish(EXCHANGE, message.routing_key, message.body, message.properties)
            except AMQPError as exc:
                # The channel is going; its close callback follows and re-sends what is in flight.
                log.warning("driver link %s: publish failed (%s)", self.connection_name, exc)
                with self._lock:
                    self._outbox.extendleft(reversed(batch[index + 1:]))
                    self._wake_scheduled = True
                return
            if message.sends:
                self.resent += 1
            message.sends += 1
        if more:
            self._ioloop.call_later(0, self._drain)

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if method.multiple:
            done = []
            while self._inflight and (method.delivery_tag == 0 or next(iter(self._inflight)) <= method.delivery_tag):
                done.append(self._inflight.popitem(last=False)[1])
        else:
            one = self._inflight.pop(method.delivery_tag, None)
            done = [one] if one is not None else []
        if isinstance(method, Basic.Ack):
            with self._changed:
                for message in done:
                    if self._pending.pop(message.message_id, None) is not None:
                        self.confirmed += 1
                self._changed.notify_all()
        elif done:
            log.warning("driver link %s: broker refused %d messages; sending them again in %.1fs",
                        self.connection_name, len(done), self.NACK_RETRY)
            self._ioloop.call_later(self.NACK_RETRY, lambda: self._requeue(done))

    def _requeue(self, messages: list[_Message]) -> None:
        with self._lock:
            self._outbox.extend(messages)
        self._drain()

    def _shutdown(self) -> None:
        self._closing = True
        if self._reconnect_timer is not None:
            self._ioloop.remove_timeout(self._reconnect_timer)
            self._reconnect_timer = None
        connection = self._connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()
            # Should the broker never answer the close, stop anyway.
            self._ioloop.call_later(3.0, self._ioloop.stop)
        elif connection is None or connection.is_closed:
            self._ioloop.stop()
