"""Small things every holder of a RabbitMQ connection needs."""
from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import suppress
from typing import Callable

log = logging.getLogger(__name__)


def release_quietly(conn) -> None:
    """Close a connection that may already be broken: there is nothing left to save on it, and
    the caller is dropping it to reconnect."""
    if conn is not None:
        with suppress(Exception):
            conn.release()


def consume_forever(amqp_uri: str, subscribe: Callable, *, ready: threading.Event, stopping: Callable[[], bool],
                    what: str, on_lost: Callable[[], None] | None = None) -> None:
    """Keep one consumer going for the life of the process (run it in a thread): connect,
    ``subscribe(channel)`` (declare, basic_consume), deliver until ``stopping()``; when the broker
    goes away, clear ``ready``, call ``on_lost`` and reconnect with backoff (0.5 s doubling to 5)."""
    from kombu import Connection

    backoff = 0.5
    while not stopping():
        try:
            with Connection(amqp_uri, heartbeat=30, connect_timeout=10) as conn:
                subscribe(conn.channel())
                ready.set()
                backoff = 0.5
                beat = time.monotonic()
                while not stopping():
                    try:
                        conn.drain_events(timeout=1)
                    except socket.timeout:
                        pass
                    # Also while messages keep coming: a busy consumer that only beat when idle
                    # missed the broker's heartbeats and had its connection closed under load.
                    if time.monotonic() - beat >= 1:
                        conn.heartbeat_check()
                        beat = time.monotonic()
        except Exception as exc:
            ready.clear()
            if on_lost is not None:
                on_lost()
            if stopping():
                return
            log.warning("%s lost the broker (%s); reconnecting", what, exc)
            time.sleep(backoff)
            backoff = min(backoff * 2, 5)
