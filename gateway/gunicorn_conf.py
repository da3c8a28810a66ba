"""gunicorn settings of the gateway, from the environment (services/common/config.py).

gthread workers: each process keeps one RPC client shared by its threads, so a request costs
one AMQP publish and one reply, never a new connection."""
from services.common.config import env, env_int

bind = env("GATEWAY_BIND")
workers = env_int("GATEWAY_WORKERS")
worker_class = "gthread"
threads = env_int("GATEWAY_THREADS")
timeout = 60
graceful_timeout = 20
keepalive = 30
accesslog = None            # the app logs each request as JSON, with its request id
errorlog = "-"
loglevel = env("LOG_LEVEL").lower()
proc_name = "portal-gateway"


def post_fork(server, worker):
    # Each worker makes its own RPC client on first use; nothing AMQP crosses a fork.
    from gateway.rpc import reset_client

    reset_client()
