"""Per-process broker users and driver topic permissions (issue 10), on a RabbitMQ node of this
suite's own with the rabbitmq_auth_backend_http plugin:

- every process of a whole stack runs as its own broker user with the permissions
  services/common/broker_access.py grants it (loaded as definitions, the way a deployment loads
  them), and the platform works: an invite email (identity -> notify), an order through the
  event chain, a driver's positions stored and streamed live over SSE; every RPC and handler
  queue has its consumer and no process log holds an access refusal;
- a driver app signs in to the broker with its id and credential (answered by
  services/tracking/broker_auth.py, asking identity) and may publish under its own routing keys
  only: another driver's key, another exchange, a queue of its own, consuming, or a wrong
  credential are refused by the broker itself;
- a service's user cannot consume another's queue, publish another's live updates, or delete a
  queue it does not own.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ProbableAccessDeniedError, ProbableAuthenticationError

from services.common import broker_access
from services.common.config import SERVICES, WORKERS
from services.common.topology import DRIVER_EXCHANGE, INGEST_QUEUE
from services.tracking.driver import DriverClient
from tests.attack.private_broker import PrivateBroker
from tests.attack.report import Report
from tests.conftest import TMP, free_port, wait_for
from tests.e2e import conftest as e2e
from tests.e2e.conftest import auth, get, post
from tests.e2e.test_tracking_flows import Stream, customer, order, route_with, tracking

pytestmark = pytest.mark.e2e

FIGURES: dict[str, object] = {}


def summary() -> str:
    f = FIGURES
    return (f"{f.get('users', '?')} broker users, 0 access refusals in a working stack; "
            f"{f.get('refused', '?')} reaches past a user's grant refused by the broker")


REPORT = Report("Broker permissions", summary)
REFUSALS = ("ACCESS_REFUSED", "access_refused")


@pytest.fixture(scope="module")
def secured(mailbox, oidc_provider):
    """A broker node whose users are the platform's (definitions) and whose drivers are asked of
    broker_auth, and a whole stack on it with one broker user per process kind."""
    auth_port = free_port()
    node = PrivateBroker("perms", plugins=("rabbitmq_auth_backend_http",),
                         config=broker_access.auth_http_config(f"http://127.0.0.1:{auth_port}"))
    node.start()
    passwords = {user: uuid.uuid4().hex for user in broker_access.grants()}
    definitions = Path(TMP, "broker-definitions.json")
    definitions.write_text(json.dumps(broker_access.definitions("/", passwords)))
    imported = node.ctl("import_definitions", str(definitions))
    assert imported.returncode == 0, imported.stderr
    # The node's guest stays the administrator: it runs prepare (topology, as in a deployment).
    stack = e2e.Stack(node.uri, mailbox.port, oidc_provider, name="perms")
    for user, password in passwords.items():
        stack.process_env[user] = {"AMQP_URI": broker_access.uri_for(node.uri, user, password)}
    for process in broker_access.WITHOUT_BROKER:      # it never connects: a user it cannot use proves it
        stack.process_env[process] = {"AMQP_URI": broker_access.uri_for(node.uri, "nobody", "nothing")}
    try:
        stack.run("tracking-broker-auth", "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{auth_port}",
                  "services.tracking.broker_auth:create_app()")
        stack.start()
        stack.node, stack.passwords = node, passwords
        yield stack
    finally:
        stack.stop()
        node.stop()


@pytest.fixture(scope="module")
def operator(secured):
    return e2e.sign_in(secured, e2e.ADMIN[0], e2e.ADMIN[1])


def _uri(node, user, password):
    return broker_access.uri_for(node.uri, user, password)


def _refused(uri, act) -> str:
    """Run ``act(channel)`` as that user; the broker's refusal (403 closes the channel) as text."""
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            act(channel)
        except ChannelClosedByBroker as closed:
            assert closed.reply_code == 403, closed
            return closed.reply_text
        return ""
    finally:
        if connection.is_open:
            connection.close()


def test_every_process_runs_as_its_own_user_and_the_platform_works(secured, mailbox, operator):
    stack, node = secured, secured.node
    near = customer(stack, mailbox, operator, "exact")          # invite email: identity -> notify
    made = order(stack, near["token"], 53.74, -0.33)              # submitted: orders -> billing, notify
    driver = route_with(stack, operator, [made])
    wait_for(lambda: tracking(stack, near["token"], made["id"]).get("status") == "in_transit", timeout=20,
             what="tracking to learn the route")
    stream = Stream(f"{stack.base}/api/v1/orders/{made['id']}/stream", auth(near["token"]))
    app = DriverClient.connect(driver["id"], driver["credential"], _uri(node, driver["id"], driver["credential"]))
    try:
        app.position(53.7952, -1.5491, speed_mps=12, heading=90, accuracy_m=6)
        wait_for(lambda: next((v for v in stream.views() if v["location"] and v["location"]["lat"] == 53.7952), None),
                 timeout=20, what="the driver's position on the live stream")
        for stop in get(stack, f"/api/v1/orders/{made['id']}", near["token"]).json()["stops"]:
            app.completed(made["id"], stop["id"], recipient_name="Front desk")
        wait_for(lambda: get(stack, f"/api/v1/orders/{made['id']}", near["token"]).json()["status"] == "delivered",
                 timeout=20, what="the order to be delivered")
    finally:
        stream.close()
        app.close()
    logs = {name: stack.log(name) for name in stack.procs}
    refused = {name: [line for line in text.splitlines() if any(r in line for r in REFUSALS)][:3]
               for name, text in logs.items()}
    assert not any(refused.values()), refused
    def idle():
        queues = {name: consumers for name, _messages, consumers in node.queues()}
        return sorted(n for n, c in queues.items() if c == 0 and not n.endswith(".dlq")
                      and (n.startswith(("rpc-", "evt--")) or n == INGEST_QUEUE))
    # A quorum queue's consumer count is the broker's metrics, refreshed every few seconds.
    wait_for(lambda: not idle(), timeout=30, interval=1, what="a consumer on every RPC and handler queue")
    queues = node.queues()
    users = node.ctl("list_connections", "user", "--no-table-headers").stdout.split()
    assert set(users) >= set(SERVICES) | {"tracking-ingest", "gateway"} and "guest" not in users
    assert "orders-imports" in WORKERS and "nobody" not in users
    FIGURES["users"] = len(broker_access.grants())
    REPORT.line(f"{len(broker_access.grants())} broker users, {len(queues)} queues: a stack of them invited, "
                f"ordered, drove and streamed a delivery; 0 access refusals in {len(logs)} process logs")


def test_a_driver_publishes_under_its_own_routing_keys_and_nothing_else(secured, operator):
    stack, node = secured, secured.node
    me = post(stack, "/api/v1/admin/drivers", {"name": f"Dee {uuid.uuid4().hex[:4]}"}, operator).json()
    other = post(stack, "/api/v1/admin/drivers", {"name": f"Vic {uuid.uuid4().hex[:4]}"}, operator).json()
    mine = _uri(node, me["id"], me["credential"])
    body, props = b"{}", pika.BasicProperties(headers={"credential": me["credential"]})

    def publish(exchange, key):
        return lambda channel: channel.basic_publish(exchange, key, body, props)
    assert _refused(mine, publish(DRIVER_EXCHANGE, f"driver.{me['id']}.location")) == ""
    assert _refused(mine, publish(DRIVER_EXCHANGE, f"driver.{me['id']}.stop")) == ""
    refusals = {
        "another driver's key": _refused(mine, publish(DRIVER_EXCHANGE, f"driver.{other['id']}.location")),
        "a key of no kind": _refused(mine, publish(DRIVER_EXCHANGE, f"driver.{me['id']}.anything")),
        "the events exchange": _refused(mine, publish("portal.events", "order.status_changed")),
        "consuming the ingest queue": _refused(mine, lambda ch: ch.basic_consume(INGEST_QUEUE, lambda *a: None)),
        "a queue of its own": _refused(mine, lambda ch: ch.queue_declare(f"sniff-{uuid.uuid4().hex[:6]}")),
        "deleting the driver exchange": _refused(mine, lambda ch: ch.exchange_delete(DRIVER_EXCHANGE)),
    }
    assert all(refusals.values()), refusals
    # The topic permission, not the exchange's: the driver may write to that exchange.
    assert all("access to topic" in refusals[k] for k in ("another driver's key", "a key of no kind")), refusals
    wrong = [(me["id"], "drv_0000_forged"), (other["id"], me["credential"]), ("gateway", me["credential"])]
    for user, password in wrong:
        with pytest.raises((ProbableAuthenticationError, ProbableAccessDeniedError)):
            pika.BlockingConnection(pika.URLParameters(_uri(node, user, password))).close()
    FIGURES["refused"] = FIGURES.get("refused", 0) + len(refusals) + len(wrong)
    REPORT.line(f"a driver at the broker: its own keys accepted; {len(refusals)} other acts and "
                f"{len(wrong)} wrong sign-ins refused by the broker")


def test_a_service_user_cannot_use_what_another_owns(secured):
    node, passwords = secured.node, secured.passwords
    identity, gateway = _uri(node, "identity", passwords["identity"]), _uri(node, "gateway", passwords["gateway"])
    refusals = {
        "identity consumes billing's RPC queue": _refused(identity, lambda ch: ch.basic_consume("rpc-billing", lambda *a: None)),
        "identity publishes tracking's live updates": _refused(identity, lambda ch: ch.basic_publish("tracking.live", "order.x", b"{}")),
        "identity deletes a billing handler queue": _refused(identity, lambda ch: ch.queue_delete("evt--billing.price_order")),
        "identity publishes as a driver": _refused(identity, lambda ch: ch.basic_publish(DRIVER_EXCHANGE, "driver.x.location", b"{}")),
        "the gateway consumes identity's RPC queue": _refused(gateway, lambda ch: ch.basic_consume("rpc-identity", lambda *a: None)),
        "the gateway publishes domain events": _refused(gateway, lambda ch: ch.basic_publish("portal.events", "order.submitted", b"{}")),
    }
    assert all(refusals.values()), refusals
    FIGURES["refused"] = FIGURES.get("refused", 0) + len(refusals)
    REPORT.line(f"service users: {len(refusals)} reaches into what another owns, {len(refusals)} refused")
