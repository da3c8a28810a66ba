"""Server-Sent Events: the live updates services publish, handed to the streams of this gateway
process. Two hubs: the tracking views of ``tracking.live`` (by order: the tracking service only
publishes orders someone watches, and each stream renews its watch while it lasts), and the
in-app notifications of ``notify.live`` (by user).

One consumer per hub and process (not per stream): an exclusive queue bound to ``order.#`` (or
``user.#``); each message goes to the streams of its order (or user).

The gateway runs gevent workers, so a stream is a greenlet waiting on its queue, not a thread:
the number of watchers is bounded by ``GATEWAY_CONNECTIONS`` per worker, not by threads."""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from typing import Callable, Iterator

from kombu import Exchange, Queue

from gateway.per_process import PerProcess
from services.common.broker import consume_forever
from services.common.config import env, env_int

log = logging.getLogger(__name__)

FINAL = ("delivered", "failed", "cancelled")
SUBSCRIBER_BACKLOG = 64


class Hub:
    def __init__(self, exchange: str, binding: str, key: str, amqp_uri: str | None = None):
        self.exchange, self.binding, self.key = exchange, binding, key
        self.amqp_uri = amqp_uri or env("AMQP_URI")
        self._subscribers: dict[str, set[queue.Queue]] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._consume, name="live-updates", daemon=True)
        self._thread.start()

    def subscribe(self, key: str) -> queue.Queue:
        inbox: queue.Queue = queue.Queue(maxsize=SUBSCRIBER_BACKLOG)
        with self._lock:
            self._subscribers.setdefault(key, set()).add(inbox)
        return inbox

    def unsubscribe(self, key: str, inbox: queue.Queue) -> None:
        with self._lock:
            found = self._subscribers.get(key)
            if found is not None:
                found.discard(inbox)
                if not found:
                    del self._subscribers[key]

    def watchers(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subscribers.values())

    def _deliver(self, body, message) -> None:
        try:
            update = json.loads(body) if isinstance(body, (bytes, str)) else body
            key = update[self.key]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            inboxes = list(self._subscribers.get(key, ()))
        for inbox in inboxes:
            try:
                inbox.put_nowait(update)
            except queue.Full:
                # A stream that cannot keep up only needs the newest view: drop the oldest.
                try:
                    inbox.get_nowait()
                    inbox.put_nowait(update)
                except (queue.Empty, queue.Full):
                    pass

    def _consume(self) -> None:
        name = f"gateway.{self.exchange}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

        def subscribe(channel) -> None:
            exchange = Exchange(self.exchange, type="topic", durable=True)
            exchange(channel).declare()
            inbox = Queue(name, exchange=exchange, routing_key=self.binding, exclusive=True, auto_delete=True,
                          durable=False)(channel)
            inbox.declare()
            channel.basic_consume(inbox.name, no_ack=True, callback=lambda m: self._deliver(m.body, m))

        consume_forever(self.amqp_uri, subscribe, ready=self.ready, stopping=lambda: self._stopping,
                        what=f"live updates of {self.exchange}")


def _ready(exchange: str, binding: str, key: str):
    def make() -> Hub:
        made = Hub(exchange, binding, key)
        made.ready.wait(5)
        return made
    return make


_hub: PerProcess[Hub] = PerProcess(_ready("tracking.live", "order.#", "order_id"))
_feed_hub: PerProcess[Hub] = PerProcess(_ready("notify.live", "user.#", "user_id"))


def hub() -> Hub:
    """The process's tracking hub, made on first use (after gunicorn forked the worker)."""
    return _hub.get()


def feed_hub() -> Hub:
    """The process's hub of in-app notifications."""
    return _feed_hub.get()


def _event(view: dict) -> str:
    return f"id: {view['version']}\nevent: tracking\ndata: {json.dumps(view, separators=(',', ':'))}\n\n"


def last_event_id(header: str | None) -> int:
    try:
        return int(header) if header else -1
    except ValueError:
        return -1


def events(order_id: str, first: dict, renew: Callable[[], dict], pick: str, last_seen: int) -> Iterator[str]:
    """The stream of one order: its view now (unless the client has it: ``Last-Event-ID``),
    then each newer view, keep-alive comments while idle, and an ``end`` event after the order
    was delivered, failed or cancelled. ``renew`` re-reads the view and renews the watch;
    ``pick`` is the form of the live update this stream shows (``view`` or ``public``)."""
    inbox = hub().subscribe(order_id)
    keepalive = env_int("STREAM_KEEPALIVE_SECONDS")
    renew_every = env_int("TRACKING_WATCH_SECONDS") / 2
    sent = last_seen
    try:
        yield "retry: 2000\n\n"
        view = first
        next_renew = time.monotonic() + renew_every
        while True:
            if view is not None and view["version"] > sent:
                yield _event(view)
                sent = view["version"]
            if view is not None and view["status"] in FINAL:
                yield "event: end\ndata: {}\n\n"
                return
            view = None
            try:
                view = inbox.get(timeout=max(0.1, min(keepalive, next_renew - time.monotonic())))[pick]
            except queue.Empty:
                pass
            if time.monotonic() >= next_renew:      # also while updates flow: the watch must not lapse
                fresh = renew()
                next_renew = time.monotonic() + renew_every
                if view is None or fresh["version"] > view["version"]:
                    view = fresh
            elif view is None:
                yield ": keep-alive\n\n"
    finally:
        hub().unsubscribe(order_id, inbox)


def feed_events(user_id: str, unread: int) -> Iterator[str]:
    """A user's notifications as they arrive: ``unread`` (the count when the stream opens), then
    a ``notification`` event for each new one, keep-alive comments while idle. A client that
    reconnects re-reads its feed (GET /notifications): nothing is lost, the stream only hurries."""
    inbox = feed_hub().subscribe(user_id)
    keepalive = env_int("STREAM_KEEPALIVE_SECONDS")
    try:
        yield "retry: 2000\n\n"
        yield f"event: unread\ndata: {json.dumps({'unread': unread})}\n\n"
        while True:
            try:
                update = inbox.get(timeout=keepalive)
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            note = update["notification"]
            yield f"id: {note['id']}\nevent: notification\ndata: {json.dumps(note, separators=(',', ':'))}\n\n"
    finally:
        feed_hub().unsubscribe(user_id, inbox)
