"""RabbitMQ's HTTP auth backend for driver apps: a driver connects to the broker with its id as
user name and its credential as password, and may then publish to ``tracking.driver`` with the
routing keys ``driver.<its id>.location|stop`` and nothing else (RabbitMQ topic permissions).

The broker asks this small web app (rabbitmq_auth_backend_http; the lines of rabbitmq.conf
come from broker_access.auth_http_config, as in deploy/k8s/rabbitmq.yaml) after its internal
users, which are the services' (services/common/broker_access.py): a service user never reaches it, and a driver is never a
broker user to create, rotate or delete: revoking its credential in identity is enough (at the
latest after ``TRACKING_CREDENTIAL_CACHE_SECONDS``; a connection already open is refused at
its next reconnect, and its messages by the ingest worker, which checks each one's credential). Credentials are asked of identity by RPC and remembered the way the ingest worker
remembers them (driver_auth.CredentialCache).

Run it where only the broker can reach it:
    gunicorn -w 2 -b 0.0.0.0:8010 'services.tracking.broker_auth:create_app()'
Each answer is ``allow`` or ``deny`` as text; the broker sends form fields (``http_method = post``,
so no password lands in an access log as a query string).
"""
from __future__ import annotations

import logging
import threading
from urllib.parse import unquote, urlparse

from flask import Flask, request

from services.common import broker_access
from services.common.config import env
from services.tracking.driver_auth import CredentialCache, identity_lookup

log = logging.getLogger(__name__)


class DriverGate:
    """The four questions of the HTTP backend, answered for driver apps only."""

    def __init__(self, cache: CredentialCache, vhost: str):
        self.cache, self.vhost = cache, vhost
        # The cache and nameko's standalone proxy are not thread-safe; a miss costs one RPC.
        self._lock = threading.Lock()

    def user(self, username: str, password: str) -> bool:
        if not username or not password.startswith("drv_"):
            return False
        with self._lock:
            driver_id = self.cache.drivers({password}).get(password)
        return driver_id is not None and driver_id == username

    def vhost_allowed(self, vhost: str) -> bool:
        return vhost == self.vhost

    def resource(self, vhost: str, kind: str, name: str, permission: str) -> bool:
        return vhost == self.vhost and broker_access.driver_may_use(name, kind, permission)

    def topic(self, username: str, vhost: str, exchange: str, permission: str, routing_key: str) -> bool:
        return (vhost == self.vhost and permission == "write"
                and broker_access.driver_may_publish(username, exchange, routing_key))


def create_app(gate: DriverGate | None = None) -> Flask:
    app = Flask(__name__)
    if gate is None:
        uri = env("AMQP_URI")
        gate = DriverGate(CredentialCache(identity_lookup(uri)), unquote(urlparse(uri).path[1:]) or "/")
    app.extensions["driver_gate"] = gate

    def answer(allowed: bool) -> tuple[str, int, dict]:
        return ("allow" if allowed else "deny"), 200, {"Content-Type": "text/plain"}

    def field(name: str) -> str:
        return request.values.get(name, "")

    @app.post("/user")
    def user():
        try:
            allowed = gate.user(field("username"), field("password"))
        except Exception:           # identity unreachable: deny now, the app reconnects later
            log.exception("driver credential check failed")
            allowed = False
        if not allowed:
            log.info("driver %r refused at the broker", field("username")[:64])
        return answer(allowed)

    @app.post("/vhost")
    def vhost():
        return answer(gate.vhost_allowed(field("vhost")))

    @app.post("/resource")
    def resource():
        return answer(gate.resource(field("vhost"), field("resource"), field("name"), field("permission")))

    @app.post("/topic")
    def topic():
        allowed = gate.topic(field("username"), field("vhost"), field("name"), field("permission"),
                             field("routing_key"))
        if not allowed:
            log.warning("driver %r may not %s %r on %r", field("username")[:64], field("permission"),
                        field("routing_key")[:128], field("name")[:64])
        return answer(allowed)

    @app.get("/healthz")
    def healthz():
        return answer(True)

    return app
