"""Small things every holder of a RabbitMQ connection needs."""
from __future__ import annotations

from contextlib import suppress


def release_quietly(conn) -> None:
    """Close a connection that may already be broken: there is nothing left to save on it, and
    the caller is dropping it to reconnect."""
    if conn is not None:
        with suppress(Exception):
            conn.release()
