"""gunicorn settings of the gateway, from the environment (services/common/config.py).

gthread workers, each process keeping one RPC client shared by its threads, so a request costs
one AMQP publish and one reply, never a new connection. gevent workers were measured too: ~5%
more requests/s on the RPC routes, but under a saturated CPU their scheduling let some
keep-alive connections wait over a second (p99 of /healthz 1.1 s with timeouts, against 77 ms
here with gthread), so they were not kept."""
from services.common.config import env, env_int

bind = env("GATEWAY_BIND")
workers = env_int("GATEWAY_WORKERS")
worker_class = "gthread"
threads = env_int("GATEWAY_THREADS")
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

# The RPC client is made on first use in each worker (gateway.rpc.client checks the pid), so
# nothing AMQP crosses the fork.
