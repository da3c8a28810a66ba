"""JSON logs carrying the correlation id of the request they belong to.

The gateway takes ``X-Request-ID`` (or makes one), passes it on every RPC and every event it
causes; services put it back in this context variable for each worker, so one id follows a
request from the HTTP edge through RPC, the outbox and the consumers of its events.
greenlet gives every greenthread its own context, so this works under eventlet and under
gunicorn's threads alike.
"""
from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from services.common.config import env

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class CorrelationFilter(logging.Filter):
    def __init__(self, process_name: str):
        super().__init__()
        self.process_name = process_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        record.process_name = self.process_name
        return True


def configure_logging(process_name: str) -> None:
    """One handler on the root logger, JSON unless LOG_FORMAT=text."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(CorrelationFilter(process_name))
    if env("LOG_FORMAT") == "text":
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(process_name)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(process_name)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger",
                           "process_name": "process"},
        ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(env("LOG_LEVEL").upper())
    # nameko and kombu are chatty at INFO about every connection; keep their warnings.
    for noisy in ("kombu", "amqp", "nameko.containers", "pika"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
