"""The RabbitMQ topology, declared before any service starts (PITFALLS 4) and again, identically,
by each consumer when it starts (so a queue is never declared with other arguments).

- ``portal.events``: topic exchange of every domain event, routing key = event type.
- one durable quorum queue per event handler, ``evt--<service>.<method>``, bound to the types it
  handles, with a delivery limit and a dead-letter exchange (PITFALLS 2): a message that keeps
  failing is parked in ``<queue>.dlq`` for an operator to inspect and replay, not redelivered
  in a hot loop and not dropped.
- nameko's RPC exchange and one durable queue per service, so calls made while a service
  restarts wait for it (and are skipped if their deadline passed).
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from kombu import Connection, Exchange, Queue, binding

from services.common.config import SERVICES, env, env_int
from services.common.events import EXCHANGE

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "portal.dead-letter"
RPC_EXCHANGE = "nameko-rpc"


def events_exchange() -> Exchange:
    return Exchange(EXCHANGE, type="topic", durable=True)


def dead_letter_exchange() -> Exchange:
    return Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)


@dataclass(frozen=True)
class HandlerQueue:
    """Where one event handler's messages wait."""

    service: str
    method: str
    event_types: tuple[str, ...]

    @property
    def name(self) -> str:
        # Stable: renaming a handler orphans its queue (PITFALLS 8); ``topology --check`` lists those.
        return f"evt--{self.service}.{self.method}"

    @property
    def consumer(self) -> str:
        return f"{self.service}.{self.method}"

    def queue(self) -> Queue:
        exchange = events_exchange()
        return Queue(
            self.name,
            exchange=exchange,
            bindings=[binding(exchange, routing_key=t) for t in self.event_types],
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": env_int("EVENT_DELIVERY_LIMIT"),
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": self.name,
            },
        )

    def dead_letter_queue(self) -> Queue:
        return Queue(f"{self.name}.dlq", exchange=dead_letter_exchange(), routing_key=self.name,
                     durable=True, queue_arguments={"x-queue-type": "quorum"})


# --- driver apps and live updates (tracking) --------------------------------------------------
DRIVER_EXCHANGE = "tracking.driver"          # topic; driver.<id>.location | driver.<id>.stop
INGEST_QUEUE = "tracking.driver.ingest"
INGEST_DEAD_QUEUE = "tracking.driver.dead"   # rejected driver messages, for an operator to inspect
LIVE_EXCHANGE = "tracking.live"              # topic; order.<id>: transient views for SSE streams


def ingest_queue_arguments() -> dict:
    # Quorum: a message that crashes the ingest worker is redelivered, but not forever.
    return {"x-queue-type": "quorum", "x-delivery-limit": env_int("EVENT_DELIVERY_LIMIT"),
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE, "x-dead-letter-routing-key": INGEST_DEAD_QUEUE}


def declare_tracking(channel) -> list[str]:
    """The driver exchange, the ingest queue (bound to both message kinds), its dead-letter
    queue, and the live-update exchange."""
    driver = Exchange(DRIVER_EXCHANGE, type="topic", durable=True)(channel)
    driver.declare()
    dead_letter_exchange()(channel).declare()
    Exchange(LIVE_EXCHANGE, type="topic", durable=True)(channel).declare()
    Queue(INGEST_DEAD_QUEUE, exchange=dead_letter_exchange(), routing_key=INGEST_DEAD_QUEUE, durable=True,
          queue_arguments={"x-queue-type": "quorum"})(channel).declare()
    Queue(INGEST_QUEUE, exchange=driver, durable=True, queue_arguments=ingest_queue_arguments(),
          bindings=[binding(driver, routing_key="driver.*.location"),
                    binding(driver, routing_key="driver.*.stop")])(channel).declare()
    return [INGEST_QUEUE, INGEST_DEAD_QUEUE]


def rpc_queue(service: str) -> Queue:
    # Exactly what nameko declares for its RpcConsumer, so the two declarations agree.
    return Queue(f"rpc-{service}", exchange=Exchange(RPC_EXCHANGE, type="topic", durable=True),
                 routing_key=f"{service}.*", durable=True)


def declare_handler(channel, spec: HandlerQueue) -> None:
    events_exchange()(channel).declare()
    dead_letter_exchange()(channel).declare()
    spec.dead_letter_queue()(channel).declare()
    spec.queue()(channel).declare()


def service_class(service: str):
    return getattr(importlib.import_module(f"services.{service}.service"), "Service")


def handler_queues(service: str) -> list[HandlerQueue]:
    """The event handlers a service class declares, read from its entrypoints."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from services.common.entrypoints import DomainEventHandler

    cls = service_class(service)
    found = []
    for attr in dir(cls):
        for ep in getattr(getattr(cls, attr), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(ep, DomainEventHandler):
                found.append(HandlerQueue(cls.name, attr, ep.event_types))
    return found


# Handlers that no longer exist (PITFALLS 8): their queues would fill with events nobody reads.
# Identity's three email handlers moved to notify, whose queue already hears those events.
RETIRED_QUEUES = ("evt--identity.email_invite", "evt--identity.email_password_reset",
                  "evt--identity.email_activation")


def retire(channel) -> None:
    for name in RETIRED_QUEUES:
        for queue in (name, f"{name}.dlq"):
            channel.queue_delete(queue)      # deleting a queue that does not exist is no error


def declare_all(amqp_uri: str | None = None) -> list[str]:
    """Declare everything; returns the names of the queues declared."""
    names = []
    with Connection(amqp_uri or env("AMQP_URI"), connect_timeout=10) as conn:
        channel = conn.channel()
        retire(channel)
        events_exchange()(channel).declare()
        dead_letter_exchange()(channel).declare()
        for service in SERVICES:
            queue = rpc_queue(service)(channel)
            queue.declare()
            names.append(queue.name)
            for spec in handler_queues(service):
                declare_handler(channel, spec)
                names += [spec.name, f"{spec.name}.dlq"]
        names += declare_tracking(channel)
    return names


def expected_queues() -> set[str]:
    names = set()
    for service in SERVICES:
        names.add(rpc_queue(service).name)
        for spec in handler_queues(service):
            names |= {spec.name, f"{spec.name}.dlq"}
    return names


def check(amqp_uri: str | None = None) -> dict[str, list[str]]:
    """PITFALLS 8: a renamed handler leaves its durable queue behind, filling with events nobody
    reads. Lists the platform's queues that no code declares (orphans), the handler and RPC
    queues with no consumer, and dead-letter queues holding messages. Reads the broker's queue
    list with ``rabbitmqctl`` (run where the broker runs, as a user allowed to use it)."""
    import json
    import subprocess
    from urllib.parse import unquote, urlparse

    vhost = unquote(urlparse(amqp_uri or env("AMQP_URI")).path[1:]) or "/"
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "consumers",
                          "messages", "--formatter", "json"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    queues = {q["name"]: q for q in json.loads(out)}
    expected = expected_queues()
    ours = {n: q for n, q in queues.items() if n.startswith(("evt--", "rpc-"))}
    return {
        "orphaned": sorted(n for n in ours if n not in expected),
        "without_consumer": sorted(n for n, q in ours.items()
                                   if n in expected and not n.endswith(".dlq") and q["consumers"] == 0),
        "dead_letters": sorted(f"{n} ({q['messages']})" for n, q in ours.items()
                               if n.endswith(".dlq") and q["messages"]),
    }


if __name__ == "__main__":  # pragma: no cover
    import sys

    from services.common.logs import configure_logging

    configure_logging("topology")
    if "--check" in sys.argv:
        findings = check()
        for kind, names in findings.items():
            print(f"{kind}: {', '.join(names) or 'none'}")
        sys.exit(1 if findings["orphaned"] or findings["dead_letters"] else 0)
    declared = declare_all()
    log.info("declared %d queues", len(declared), extra={"queues": declared})
