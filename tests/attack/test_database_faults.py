"""Database faults (issue 9): a private PostgreSQL cluster restarted (``pg_ctl restart -m fast``)
while customers list and create orders through the gateway.

- requests in flight fail cleanly: 503 with ``Retry-After``, never a hang past the client's
  timeout, never a 500 (a database error inside a service is "retry shortly", not a bug);
- the pool recovers: the next requests succeed with no process restarted (same pids);
- the outbox relays what was committed: every order the client was told exists (201) reaches the
  customer's webhook receiver as ``order.submitted`` (PITFALLS 5: no commit without its event).

Short form (default): 2 restarts. Long form: ``PORTAL_SLOW=1 TEST_DATABASE_URL=... .venv/bin/python
-m pytest -q -p no:cacheprovider tests/attack/test_database_faults.py -k long`` (6 restarts).
The platform runs on this run's own vhost of the machine's broker and a PostgreSQL cluster of
its own; the machine's PostgreSQL is never restarted."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from services.common.topology import declare_all
from tests.attack.private_postgres import PrivatePostgres
from tests.attack.report import Report
from tests.attack.soak_stack import (Load, admin_token_of, call, customer_with_user, private_stack,
                                     service_children)
from tests.conftest import wait_for
from tests.e2e.conftest import auth
from tests.e2e.test_notify_flows import ORDER, _webhook

CLIENT_TIMEOUT = 30.0          # the gateway's RPC deadline is 5 s: an answer later than this is a hang
FIGURES = {"restarts": 0, "rate": 0.0, "503": 0, "hung": 0, "other_5xx": 0, "pool_back": 0.0, "lost": 0}


def _summary() -> str:
    f = FIGURES
    return (f"PostgreSQL restarted {f['restarts']}x under {f['rate']:.0f} req/s: {f['503']} requests 503 "
            f"with Retry-After, {f['hung']} hung, {f['other_5xx']} 5xx other than 503, "
            f"pool back in {f['pool_back']:.1f} s, {f['lost']} events lost")


REPORT = Report("Database faults", _summary)


@pytest.fixture(scope="module")
def cluster():
    pg = PrivatePostgres("dbfaults")
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def platform(cluster, make_vhost, mailbox, oidc_provider):
    """The platform on the private cluster, on a vhost of its own (its services must not answer
    the shared attack stack's calls)."""
    amqp_uri = make_vhost("dbfaults")
    declare_all(amqp_uri)
    stack = private_stack(amqp_uri, mailbox, oidc_provider, cluster.url, "dbfaults")
    try:
        yield stack
    finally:
        stack.stop()


def _run(platform, cluster, mailbox, receiver, restarts: int, threads: int):
    admin = admin_token_of(platform)
    acme = customer_with_user(platform, mailbox, admin, "Dbfault")
    token = acme["token"]
    _webhook(platform, token, f"{receiver.url}/dbfaults", ["order.submitted"])
    wait_for(lambda: call("list", "GET", f"{platform.base}/api/v1/orders", 10, headers=auth(token)).status == 200,
             timeout=30, what="orders to know the customer")
    before = service_children(platform)

    def step(n: int):
        if n % 2:       # half the clients read ...
            return call("list", "GET", f"{platform.base}/api/v1/orders?per_page=5", CLIENT_TIMEOUT,
                        headers=auth(token))
        key = uuid.uuid4().hex     # ... half write, each with its own key
        return call("create", "POST", f"{platform.base}/api/v1/orders", CLIENT_TIMEOUT, key=key,
                    json={**ORDER, "reference": f"DBF-{key[:8]}", "submit": True},
                    headers={**auth(token), "Idempotency-Key": key})

    load = Load(step, threads).start()
    recoveries, restart_times = [], []
    try:
        time.sleep(3)
        for _ in range(restarts):
            before_restart = time.monotonic()
            cluster.restart()
            done = time.monotonic()
            restart_times.append(before_restart)
            # The pool is back when a read started after the restart succeeds.
            wait_for(lambda: any(a.status == 200 and a.started > done for a in list(load.answers)),
                     timeout=60, interval=0.05, what="a request to succeed after the restart")
            recoveries.append(min(a.started + a.seconds for a in list(load.answers)
                                  if a.status == 200 and a.started > done) - done)
            time.sleep(3)
    finally:
        elapsed = load.stop()
    answers = load.answers
    unavailable = [a for a in answers if a.status == 503]
    hung = [a for a in answers if a.status is None]
    other = [a for a in answers if a.status is not None and a.status >= 500 and a.status != 503]
    FIGURES.update({"restarts": cluster.restarts, "rate": len(answers) / elapsed, "503": len(unavailable),
                    "hung": len(hung), "other_5xx": len(other), "pool_back": max(recoveries)})
    REPORT.line(f"{len(answers)} requests in {elapsed:.1f} s, {restarts} restarts: "
                f"{sum(a.status in (200, 201) for a in answers)} succeeded, {len(unavailable)} answered 503, "
                f"{len(hung)} without answer ({', '.join(sorted({a.error for a in hung})) or 'none'}), "
                f"{len(other)} other 5xx {sorted({a.status for a in other})}; slowest answer "
                f"{max(a.seconds for a in answers if a.status):.1f} s (the RPC deadline is 5 s)")
    REPORT.line(f"pool back after each restart in {', '.join(f'{s:.2f}' for s in recoveries)} s")

    assert not other, f"5xx other than 503 while the database restarted: {other[0].status} {other[0].body}"
    assert not hung, f"{len(hung)} requests got no answer within {CLIENT_TIMEOUT:g} s ({hung[0].error})"
    assert all(a.retry_after for a in unavailable), "a 503 without Retry-After"
    for a in unavailable:
        assert "Traceback" not in a.body and json.loads(a.body)["error"]["code"] in (
            "service_unavailable", "deadline_exceeded")
    # The pool recovered inside the same processes: no service was restarted to get there.
    assert service_children(platform) == before, "a service process was restarted"

    # The outbox: every order acknowledged to the client (201) has its order.submitted delivered,
    # once; committed just before a restart or not.
    created = {json.loads(a.body)["id"] for a in answers if a.kind == "create" and a.status == 201}
    assert created, "no order was created under load"

    def delivered() -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in list(receiver.requests):
            if r["path"] == "/dbfaults":
                order_id = json.loads(r["body"])["data"].get("order_id")
                counts[order_id] = counts.get(order_id, 0) + 1
        return counts
    try:
        wait_for(lambda: created <= set(delivered()), timeout=90, interval=0.5,
                 what="every acknowledged order's webhook")
    finally:
        lost = created - set(delivered())
        FIGURES["lost"] = len(lost)
        just_before = sum(1 for a in answers if a.kind == "create" and a.status == 201 and any(
            0 <= t - (a.started + a.seconds) < 1 for t in restart_times))
        REPORT.line(f"{len(created)} orders acknowledged ({just_before} in the second before a restart), "
                    f"{len(created) - len(lost)} webhooks delivered, {len(lost)} lost")
    # A webhook's retries keep one webhook-id: count distinct deliveries by it, not requests.
    ids = {}
    for r in list(receiver.requests):
        if r["path"] == "/dbfaults":
            ids.setdefault(json.loads(r["body"])["data"]["order_id"], set()).add(r["headers"].get("webhook-id"))
    assert all(len(v) == 1 for v in ids.values()), "an order.submitted was delivered under two event ids"


def test_postgres_restart_mid_load_fails_cleanly_and_recovers(platform, cluster, mailbox, receiver):
    _run(platform, cluster, mailbox, receiver, restarts=2, threads=6)


@pytest.mark.slow
def test_postgres_restart_mid_load_fails_cleanly_and_recovers_long(platform, cluster, mailbox, receiver):
    _run(platform, cluster, mailbox, receiver, restarts=6, threads=10)
