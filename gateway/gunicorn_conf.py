"""gunicorn settings of the gateway, from the environment (services/common/config.py).

gevent workers, each process keeping one RPC client shared by its greenlets, so a request costs
one AMQP publish and one reply, never a new connection. gevent rather than gthread because of
the live streams (SSE): a gthread worker holds one of its few threads for the whole life of a
stream, so a handful of watchers would take a worker away from every other request; a gevent
worker holds a greenlet, and serves up to GATEWAY_CONNECTIONS at once. (gthread was measured
~5% slower on the RPC routes; under a saturated CPU gevent lets some keep-alive connections
wait longer, which the tracking bench's latency figures include.)"""
import os
import tempfile

from services.common.config import env, env_int

bind = env("GATEWAY_BIND")
workers = env_int("GATEWAY_WORKERS")
worker_class = "gevent"
worker_connections = env_int("GATEWAY_CONNECTIONS")
timeout = 60
graceful_timeout = 20
keepalive = 30
# Each worker gets its own listening socket and the kernel spreads connections evenly: with one
# shared socket, keep-alive clients pile onto whichever worker accepted first (measured here: one
# worker at 100% CPU while the other idled).
reuse_port = True
accesslog = None            # the app logs each request as JSON, with its request id
errorlog = "-"
loglevel = env("LOG_LEVEL").lower()
proc_name = "portal-gateway"

# The RPC client and the live-update hub are made on first use in each worker (they check the
# pid), so nothing AMQP crosses the fork.

# Metrics (services/common/metrics.py): each worker writes its figures to files in one directory
# (prometheus_client's multiprocess mode, chosen when it is first imported, so it is set here,
# before any worker loads the app) and the master serves their sum on METRICS_PORT.
if env_int("METRICS_PORT"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="portal-gateway-metrics-")

    def when_ready(server):
        from prometheus_client import CollectorRegistry, multiprocess

        from services.common import metrics

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        metrics.serve(registry)

    def child_exit(server, worker):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
