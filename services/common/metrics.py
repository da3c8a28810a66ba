"""Prometheus metrics of every process, served on ``METRICS_PORT`` (unset: not served).

One module names every metric of the platform, so the dashboard and the alert rules in
``deploy/monitoring/`` and the code cannot drift apart (tests/unit/test_metrics.py reads the
rules and checks each metric they use is defined here):

- ``portal_http_requests_total`` / ``portal_http_request_seconds``: the gateway, per route
  template (``/api/v1/orders/<order_id>``, never the raw path) and status.
- ``portal_rpc_seconds``: each RPC method's handling time in its service, per outcome.
- ``portal_events_total``: events consumed per handler queue, ``ok`` or ``failed`` (a failed
  one is redelivered, then parked in the dead-letter queue).
- ``portal_outbox_lag_seconds`` / ``portal_outbox_published_total``: how old the oldest event
  waiting in a service's outbox is, and how many left.
- ``portal_emails_total`` / ``portal_webhook_deliveries_total``: delivery results.
- ``portal_import_rows_total``: spreadsheet rows the import worker turned into orders or errors.

Queue depth, dead-letter growth and consumer counts come from RabbitMQ's own
``rabbitmq_prometheus`` plugin (``rabbitmq_queue_messages_ready{queue=...}``), not from here.

The gateway runs several gunicorn workers: there prometheus_client's multiprocess mode adds
their figures up (``PROMETHEUS_MULTIPROC_DIR``, set up by gateway/gunicorn_conf.py) and the
gunicorn master serves them.
"""
from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram

from services.common.config import env, env_int

log = logging.getLogger(__name__)

# Latency buckets from 2.5 ms to 10 s: the gateway answers most reads in a few milliseconds,
# and RPC_TIMEOUT (5 s) is the most a call may take.
BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("portal_http_requests", "Requests answered by the gateway.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("portal_http_request_seconds", "Time the gateway took to answer.",
                         ["method", "route"], buckets=BUCKETS)
RPC_SECONDS = Histogram("portal_rpc_seconds", "Time a service took to handle an RPC call.",
                        ["service", "method", "outcome"], buckets=BUCKETS)
EVENTS = Counter("portal_events", "Events consumed by a handler.", ["queue", "outcome"])
OUTBOX_LAG = Gauge("portal_outbox_lag_seconds", "Age of the oldest event waiting in the outbox.",
                   ["service"], multiprocess_mode="max")
OUTBOX_PUBLISHED = Counter("portal_outbox_published", "Events the outbox relay published.", ["service"])
EMAILS = Counter("portal_emails", "Emails by result (sent, retry, failed).", ["result"])
WEBHOOKS = Counter("portal_webhook_deliveries", "Webhook delivery attempts by result.", ["result"])
IMPORT_ROWS = Counter("portal_import_rows", "Spreadsheet rows imported, by result (order, error).", ["result"])

_served_on: int | None = None


def serve(registry=None) -> int | None:
    """Serve this process's metrics on METRICS_PORT once; the port, or None when unset."""
    global _served_on
    port = env_int("METRICS_PORT")
    if port and _served_on is None:
        from prometheus_client import REGISTRY, start_http_server

        start_http_server(port, addr=env("METRICS_BIND"), registry=registry or REGISTRY)
        _served_on = port
        log.info("metrics on %s:%d/metrics", env("METRICS_BIND"), port)
    return _served_on
