"""Who may do what on RabbitMQ: one broker user per process kind, each with only the
configure / write / read permissions its code uses, and driver apps limited to their own
routing keys.

RabbitMQ checks a permission as a regular expression on the name of the exchange or queue
(https://www.rabbitmq.com/docs/access-control): ``configure`` to declare or delete it,
``write`` to publish to an exchange or bind a queue, ``read`` to consume from a queue or bind
from an exchange. The names come from the topology (topology.py) and from the code's own
entrypoints (every event handler's queue), so a new handler is granted exactly its queue the
next time the definitions are generated, and no user can consume another's queue, publish as
another service, or delete what it does not own.

Service users live in RabbitMQ's internal database, loaded from a definitions file this module
writes (``python -m services.common.broker_access definitions``). Driver apps are not broker
users: RabbitMQ asks the HTTP auth backend (services/tracking/broker_auth.py), which accepts
a driver's id as user name and its credential as password, and allows it to publish to
``tracking.driver`` with the routing keys ``driver.<its id>.location|stop`` only (topic
permissions) and nothing else.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from services.common.config import SERVICES, WORKERS, env
from services.common.topology import (DEAD_LETTER_EXCHANGE, DRIVER_EXCHANGE, INGEST_DEAD_QUEUE, INGEST_QUEUE,
                                      LIVE_EXCHANGE, RPC_EXCHANGE, handler_queues, rpc_queue)

EVENTS_EXCHANGE = "portal.events"
NOTIFY_LIVE_EXCHANGE = "notify.live"
# The user that declares the topology and replays dead letters (prepare, the runbook's
# commands): the broker's administrator, not one of the users below.
ADMIN = "admin"
# Process kinds that never connect to the broker: the import worker's events wait in the orders
# outbox for the orders service to relay.
WITHOUT_BROKER = {"orders-imports", "orders-mail-imports"}
# What a driver may publish: its own id in the routing key, and only these kinds.
DRIVER_ROUTING_KEY = r"^driver\.{driver_id}\.(location|stop)$"


@dataclass
class Grant:
    """Names a user may configure, write and read; each becomes one anchored alternation."""

    configure: set[str] = field(default_factory=set)
    write: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)

    def add(self, other: "Grant") -> "Grant":
        self.configure |= other.configure
        self.write |= other.write
        self.read |= other.read
        return self

    @staticmethod
    def regex(names: set[str]) -> str:
        # Names are regular expressions already (escaped literals or a pattern's tail); empty
        # matches nothing: RabbitMQ treats "" as "no resource".
        return f"^({'|'.join(sorted(names))})$" if names else ""

    def permissions(self) -> dict[str, str]:
        return {"configure": self.regex(self.configure), "write": self.regex(self.write),
                "read": self.regex(self.read)}


def _names(*names: str) -> set[str]:
    return {re.escape(name) for name in names}


def rpc_client(caller: str) -> Grant:
    """Calls others by RPC: its reply queues (``rpc.reply-<caller>-<id>``, declared, bound to the
    RPC exchange and consumed) and publishing requests to the RPC exchange."""
    reply = re.escape(f"rpc.reply-{caller}-") + r"[0-9a-f-]+"
    return Grant(configure=_names(RPC_EXCHANGE) | {reply}, write=_names(RPC_EXCHANGE) | {reply},
                 read=_names(RPC_EXCHANGE) | {reply})


def rpc_server(service: str) -> Grant:
    """Answers RPC: its own request queue, and replies published to the RPC exchange."""
    queue = rpc_queue(service).name
    return Grant(configure=_names(RPC_EXCHANGE, queue), write=_names(RPC_EXCHANGE, queue),
                 read=_names(RPC_EXCHANGE, queue))


def event_publisher() -> Grant:
    """The outbox relay: publishes domain events (declaring the exchange first)."""
    return Grant(configure=_names(EVENTS_EXCHANGE), write=_names(EVENTS_EXCHANGE))


def event_consumer(service: str) -> Grant:
    """Each of the service's handler queues and its dead-letter queue, exactly."""
    queues = set()
    for spec in handler_queues(service):
        queues |= _names(spec.name, f"{spec.name}.dlq")
    exchanges = _names(EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE)
    # Declaring a queue with a dead-letter exchange takes write on that exchange.
    return Grant(configure=queues | exchanges, write=queues | _names(DEAD_LETTER_EXCHANGE),
                 read=queues | exchanges)


def live_publisher(exchange: str) -> Grant:
    return Grant(configure=_names(exchange), write=_names(exchange))


def live_subscriber(exchange: str) -> Grant:
    """The gateway's live streams: a private, auto-deleted queue per process bound to the
    exchange (gateway/live.py names it ``gateway.<exchange>-<pid>-<hex>``)."""
    queue = re.escape(f"gateway.{exchange}-") + r"[0-9]+-[0-9a-f]+"
    return Grant(configure=_names(exchange) | {queue}, write={queue}, read=_names(exchange) | {queue})


def driver_ingest() -> Grant:
    """tracking-ingest: consumes what drivers publish, parks what it refuses, publishes views."""
    queues = _names(INGEST_QUEUE, INGEST_DEAD_QUEUE)
    exchanges = _names(DRIVER_EXCHANGE, DEAD_LETTER_EXCHANGE, LIVE_EXCHANGE)
    return Grant(configure=queues | exchanges, write=queues | _names(LIVE_EXCHANGE, DEAD_LETTER_EXCHANGE),
                 read=_names(INGEST_QUEUE, DRIVER_EXCHANGE, DEAD_LETTER_EXCHANGE))


def grants() -> dict[str, Grant]:
    """Broker user name -> what it may do. One user per process kind (all instances of a
    service share it), named as the process is."""
    found: dict[str, Grant] = {}
    for service in SERVICES:
        found[service] = (Grant().add(rpc_server(service)).add(event_publisher())
                          .add(event_consumer(service)).add(rpc_client(service))
                          # the healthcheck asks the service's ping with the gateway's client
                          .add(rpc_client("gateway")))
    found["tracking"].add(live_publisher(LIVE_EXCHANGE))
    # the retention job drops refused driver messages older than the history it keeps
    found["tracking"].add(Grant(read=_names(INGEST_DEAD_QUEUE)))
    found["notify"].add(live_publisher(NOTIFY_LIVE_EXCHANGE))
    # nameko's standalone proxy: the ingest worker asks identity about driver credentials
    found["tracking-ingest"] = driver_ingest().add(rpc_client("standalone_rpc_proxy"))
    # services/tracking/broker_auth.py asks identity about the credentials drivers sign in with
    found["tracking-broker-auth"] = rpc_client("standalone_rpc_proxy")
    found["gateway"] = (Grant().add(rpc_client("gateway")).add(live_subscriber(LIVE_EXCHANGE))
                        .add(live_subscriber(NOTIFY_LIVE_EXCHANGE)))
    assert set(found) | WITHOUT_BROKER == set(SERVICES) | set(WORKERS) | {"gateway", "tracking-broker-auth"}, \
        "a process kind not placed"
    return found


def driver_may_publish(driver_id: str, exchange: str, routing_key: str) -> bool:
    """The topic permission of a driver app (asked by broker_auth for each new routing key)."""
    pattern = DRIVER_ROUTING_KEY.replace("{driver_id}", re.escape(driver_id))
    return exchange == DRIVER_EXCHANGE and re.fullmatch(pattern, routing_key) is not None


def driver_may_use(exchange_or_queue: str, kind: str, permission: str) -> bool:
    """A driver app's resource permission: publishing to the driver exchange, nothing else (it
    declares the exchange passively, which needs no permission)."""
    return kind == "exchange" and exchange_or_queue == DRIVER_EXCHANGE and permission == "write"


def auth_http_config(base_url: str) -> str:
    """rabbitmq.conf lines: the services' users from the internal database first, then driver
    apps asked of broker_auth at ``base_url`` (the rabbitmq_auth_backend_http plugin)."""
    lines = ["auth_backends.1 = internal", "auth_backends.2 = http", "auth_http.http_method = post"]
    lines += [f"auth_http.{kind}_path = {base_url.rstrip('/')}/{kind}" for kind in ("user", "vhost", "resource", "topic")]
    return "\n".join(lines) + "\n"


# --- definitions: what the broker loads ------------------------------------------------------
def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(vhost: str, passwords: dict[str, str]) -> dict:
    """A RabbitMQ definitions document (``rabbitmqctl import_definitions``, or
    ``load_definitions`` at boot): the vhost, one user per process kind with its permissions."""
    users, permissions = [], []
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    for user, grant in sorted(grants().items()):
        users.append({"name": user, "password_hash": password_hash(passwords[user]),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []})
        permissions.append({"user": user, "vhost": vhost, **grant.permissions()})
    if ADMIN in passwords:      # loaded at boot, the definitions replace the default user
        users.append({"name": ADMIN, "password_hash": password_hash(passwords[ADMIN]),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]})
        permissions.append({"user": ADMIN, "vhost": vhost, **everything})
    return {"vhosts": [{"name": vhost}], "users": users, "permissions": permissions}


def uri_for(base_uri: str, user: str, password: str) -> str:
    """``base_uri`` (host, port, vhost) with this user's credentials."""
    parts = urlparse(base_uri)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.broker_access",
        description="Write the broker users of every process kind (a RabbitMQ definitions file) and "
                    "the AMQP_URI each process kind is to be given (a secrets file).")
    sub = parser.add_subparsers(dest="command", required=True)
    made = sub.add_parser("definitions", help="write definitions.json and the per-process AMQP URIs")
    made.add_argument("--uri", default=env("AMQP_URI"), help="host, port and vhost of the broker (AMQP_URI)")
    made.add_argument("--out", type=Path, required=True, help="the definitions file to write")
    made.add_argument("--uris", type=Path, required=True,
                      help="where to write one 'process=AMQP_URI' line per process kind and one for "
                           "'admin' (prepare, the runbook's commands): a secret")
    made.add_argument("--rotate", nargs="*", default=(), metavar="USER",
                      help="give these users new passwords; every other user keeps the one in --uris "
                           "(a user not there yet gets a new one)")
    sub.add_parser("show", help="print every user's permissions")
    args = parser.parse_args(argv)
    if args.command == "show":
        for user, grant in sorted(grants().items()):
            print(json.dumps({"user": user, **grant.permissions()}))
        return 0
    kept = {} if not args.uris.exists() else {
        user: unquote(urlparse(uri).password or "")
        for user, _, uri in (line.partition("=") for line in args.uris.read_text().splitlines() if "=" in line)}
    passwords = {user: (kept.get(user) if user not in args.rotate else None) or secrets.token_urlsafe(24)
                 for user in [*grants(), ADMIN]}
    vhost = unquote(urlparse(args.uri).path[1:]) or "/"
    args.out.write_text(json.dumps(definitions(vhost, passwords), indent=2) + "\n")
    args.uris.touch(mode=0o600)
    args.uris.write_text("".join(f"{user}={uri_for(args.uri, user, password)}\n"
                                 for user, password in sorted(passwords.items())))
    print(f"wrote {args.out} ({len(passwords)} users) and {args.uris}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
