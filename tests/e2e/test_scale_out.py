"""Past one instance (issue 10): two instances of every service and worker and two gateways on
this machine, on a vhost and databases of their own. Work is shared between the instances, an
event is handled once per service (not once per instance), a live stream on either gateway gets
the updates, and the timed jobs (overdue invoices, expired quotes) act once."""
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import create_engine, text

from services.common.config import SERVICES, WORKERS
from services.common.topology import declare_all
from tests.conftest import PG_SERVER, wait_for
from tests.e2e.conftest import Stack, auth, get, invite_and_accept, post
from tests.e2e.test_billing_flows import ORDER
from tests.e2e.conftest import Receiver
from tests.e2e.test_tracking_flows import Stream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scaled(make_vhost, mailbox, oidc_provider):
    if not PG_SERVER:
        pytest.skip("two instances of a service share its database: PostgreSQL (TEST_DATABASE_URL)")
    amqp = make_vhost("scale")
    declare_all(amqp)
    stack = Stack(amqp, mailbox.port, oidc_provider, name="scale")
    stack.env.update({"BILLING_DAILY_JOBS_SECONDS": "1", "NOTIFY_PUMP_SECONDS": "1",
                      "SESSION_RECHECK_SECONDS": "60"})
    try:
        stack.start()
        for name in SERVICES + tuple(WORKERS):
            stack.run(f"{name}-2", "-m", "services.common.run", name, env=stack._metrics_env(f"{name}-2"))
        stack.second = SimpleNamespace(base=stack.another_gateway("gateway-2"))
        wait_for(lambda: all(_served(stack, f"{n}-2") for n in SERVICES), timeout=90, interval=1,
                 what="the second instances to be up")
        yield stack
    finally:
        stack.stop()


def _served(stack, name: str) -> str:
    try:
        return requests.get(f"http://127.0.0.1:{stack.metrics_ports[name]}/metrics", timeout=3).text
    except requests.RequestException:
        return ""


def _rpc_calls(stack, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in _served(stack, name).splitlines()
               if line.startswith("portal_rpc_seconds_count{") and 'method="ping"' not in line)


@pytest.fixture(scope="module")
def customer(scaled, mailbox):
    admin = requests.post(f"{scaled.base}/api/v1/auth/login", timeout=10, json={
        "email": scaled.env["PORTAL_ADMIN_EMAIL"], "password": scaled.env["PORTAL_ADMIN_PASSWORD"]}).json()["access_token"]
    made = post(scaled, "/api/v1/admin/customers", {"name": f"Scaled {uuid.uuid4().hex[:6]}"}, admin).json()
    token = invite_and_accept(scaled, mailbox, admin, made["id"], f"scale.{uuid.uuid4().hex[:6]}@client.example",
                              "customer_admin")
    receiver = Receiver()
    hook = post(scaled, "/api/v1/webhooks", {"url": f"{receiver.url}/hook", "events": ["*"]}, token)
    assert hook.status_code == 201, hook.text
    yield SimpleNamespace(id=made["id"], token=token, admin=admin, receiver=receiver)
    receiver.server.shutdown()


def _deliveries(receiver) -> list[dict]:
    return [json.loads(r["body"]) for r in receiver.requests if r["path"] == "/hook"]


def test_two_instances_share_the_work_and_handle_each_event_once(scaled, customer):
    gateways = (scaled, scaled.second)
    made = []
    for i in range(12):                                    # both gateways, so both sets of instances
        answer = post(gateways[i % 2], "/api/v1/orders", {**ORDER, "reference": f"SCALE-{i}", "submit": True},
                      customer.token)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
        get(gateways[(i + 1) % 2], f"/api/v1/orders/{made[-1]}", customer.token)
    for name in ("identity", "orders"):
        calls = {instance: _rpc_calls(scaled, instance) for instance in (name, f"{name}-2")}
        assert all(calls.values()), f"{name}: one instance did all the work: {calls}"
    # order.created and order.submitted of each order reach the partner once, not once per
    # notify instance (both consume one queue) nor per outbox relay (both drain one table).
    wanted = {(t, o) for o in made for t in ("order.created", "order.submitted")}
    wait_for(lambda: wanted <= {(d["type"], d["data"].get("order_id")) for d in _deliveries(customer.receiver)},
             timeout=60, interval=0.5, what="every order event at the partner")
    time.sleep(3)                                          # time for a duplicate to arrive
    ids = [d["id"] for d in _deliveries(customer.receiver)]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    seen = [(d["type"], d["data"].get("order_id")) for d in _deliveries(customer.receiver)]
    assert all(seen.count(pair) == 1 for pair in wanted)


def test_a_live_stream_on_either_gateway_gets_the_update(scaled, customer):
    order = post(scaled, "/api/v1/orders", {**ORDER, "reference": "SCALE-LIVE"}, customer.token).json()
    wait_for(lambda: get(scaled, f"/api/v1/orders/{order['id']}/tracking", customer.token).status_code == 200,
             timeout=20, what="tracking to hear of the order")
    streams = [Stream(f"{g.base}/api/v1/orders/{order['id']}/stream", auth(customer.token))
               for g in (scaled, scaled.second)]
    try:
        wait_for(lambda: all(s.views() for s in streams), timeout=20, what="both streams' first view")
        submitted = post(scaled.second, f"/api/v1/orders/{order['id']}/submit", None, customer.token)
        assert submitted.status_code == 200, submitted.text
        for stream in streams:
            wait_for(lambda: any(v["status"] == "submitted" for v in stream.views()), timeout=20,
                     what="the submitted status on a stream")
    finally:
        for stream in streams:
            stream.close()


def test_timed_jobs_act_once_although_every_instance_runs_them(scaled, customer):
    """Both billing instances run daily_jobs every second: an invoice past its due date is
    announced once (SKIP LOCKED), a quote past its validity is marked expired once."""
    invoice = post(scaled, "/api/v1/admin/invoices", {"customer_id": customer.id, "lines": [
        {"description": "Storage", "quantity": "1", "unit_price": "40.00", "tax_rate": "0"}]}, customer.admin)
    assert invoice.status_code == 201, invoice.text
    engine = create_engine(f"{scaled.env['DATABASE_URL']}_billing")
    with engine.begin() as conn:     # as if its due date had passed (the API refuses a past one)
        conn.execute(text("UPDATE invoices SET due_date = due_date - 40, issued_at = issued_at - interval '40 days' "
                          "WHERE id = :id"), {"id": invoice.json()["id"]})
    engine.dispose()
    quote = post(scaled, "/api/v1/quotes", {"order": ORDER}, customer.token).json()
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    sent = post(scaled, f"/api/v1/admin/quotes/{quote['id']}/send", {"valid_until": soon, "lines": [
        {"description": "Run", "quantity": "1", "unit_price": "10.00", "tax_rate": "0"}]}, customer.admin)
    assert sent.status_code == 200, sent.text

    def overdue():
        return [d for d in _deliveries(customer.receiver)
                if d["type"] == "invoice.overdue" and d["data"].get("invoice_id") == invoice.json()["id"]]
    wait_for(overdue, timeout=30, interval=0.5, what="the overdue invoice announced")
    history = wait_for(lambda: (lambda q: q["history"] if q["status"] == "expired" else None)(
        get(scaled, f"/api/v1/quotes/{quote['id']}", customer.token).json()), timeout=30,
        what="the quote marked expired")
    time.sleep(4)                                          # several more rounds of both instances
    assert len(overdue()) == 1
    history = get(scaled, f"/api/v1/quotes/{quote['id']}", customer.token).json()["history"]
    assert [h["action"] for h in history].count("expired") == 1, history
