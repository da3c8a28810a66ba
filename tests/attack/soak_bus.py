"""The bus soak's run and its tally, in the style of Jepsen's RabbitMQ checker: clients do work at
a steady rate and record every operation the platform ACKNOWLEDGED to them, while a nemesis kills
the broker and service processes; afterwards every acknowledged operation must have exactly one
effect. tests/attack/test_bus_faults.py runs it and asserts on the tally."""
from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg2
import requests

from services.common.config import SERVICES
from services.common.topology import INGEST_QUEUE, expected_queues
from services.tracking.driver import DriverClient
from tests.attack.soak_stack import admin_token_of, call, customer_with_user, service_children
from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, post
from tests.e2e.test_notify_flows import ORDER, _webhook

CLIENT_TIMEOUT = 30.0
ORDER_PAUSE = 0.25           # each order client's pace between orders (steady rate, not a flood)
POSITION_PAUSE = 0.05        # each driver's pace between positions
PARKED = (".dlq", ".parking", ".dead")     # dead-letter/parking queues: reported, not failures


@dataclass
class Soak:
    broker_kills: int = 0
    service_kills: list[str] = field(default_factory=list)    # "notify kill -9", "orders SIGTERM"
    seconds: float = 0.0
    orders: dict[str, str] = field(default_factory=dict)       # Idempotency-Key -> id, acknowledged
    retried: dict[str, str] = field(default_factory=dict)      # keys acknowledged only on the retry after
    attempts: int = 0
    positions: dict[str, int] = field(default_factory=dict)    # driver id -> positions confirmed
    children_before: dict[str, int] = field(default_factory=dict)
    children_after: dict[str, int] = field(default_factory=dict)
    ready_after: bool = False
    # the tally
    lost: dict[str, list] = field(default_factory=dict)        # effect -> what is missing
    duplicated: dict[str, list] = field(default_factory=dict)  # effect -> what is there twice
    stranded: list = field(default_factory=list)               # queues with messages and no consumer
    parked: list = field(default_factory=list)                 # dead-letter queues holding messages
    unconsumed: list = field(default_factory=list)             # the topology's queues nobody consumes
    resent_emails: int = 0                                     # same Message-ID again (at-least-once SMTP)

    @property
    def rate(self) -> float:
        return (sum(self.positions.values()) + self.attempts) / max(self.seconds, 1e-9)

    def figure(self) -> str:
        if not self.ready_after:
            return (f"{self.broker_kills} broker kills, {len(self.service_kills)} service kills: "
                    "the platform did not come back, nothing tallied")
        return (f"{self.broker_kills} broker kills, {len(self.service_kills)} service kills, "
                f"{self.rate:.0f} msg/s, {self.seconds / 60:.1f} min: "
                f"{sum(map(len, self.lost.values()))} lost, "
                f"{sum(map(len, self.duplicated.values()))} duplicate effects")


def _ref(key: str) -> str:
    return f"SOAK-{key[:12]}"


def run_soak(stack, broker, cluster, mailbox, receiver, kills: int, gap: float, order_clients: int = 3,
             drivers: int = 3, seed: int | None = None, report=print) -> Soak:
    if seed is None:    # PORTAL_SOAK_SEED=<the seed a report printed> replays its choice of victims
        seed = int(os.environ.get("PORTAL_SOAK_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    soak = Soak()
    admin = admin_token_of(stack)
    acme = customer_with_user(stack, mailbox, admin, "Soak")
    token = acme["token"]
    _webhook(stack, token, f"{receiver.url}/soak", ["order.submitted"])
    prefs = requests.put(f"{stack.base}/api/v1/me/notification-preferences",
                         json={"order.submitted": {"email": True}}, headers=auth(token), timeout=10)
    assert prefs.status_code == 200, prefs.text
    wait_for(lambda: get(stack, "/api/v1/orders", token).status_code == 200, timeout=30,
             what="orders to know the customer")
    apps = {}
    for n in range(drivers):
        made = post(stack, "/api/v1/admin/drivers", {"name": f"Soak {n} {uuid.uuid4().hex[:4]}"}, admin).json()
        apps[made["id"]] = DriverClient.connect(made["id"], made["credential"], broker.uri)
    stop = threading.Event()
    unacknowledged: list[str] = []
    unacknowledged_as: list = []       # their statuses (or the client's error), for the report

    def create(key: str):
        return call("create", "POST", f"{stack.base}/api/v1/orders", CLIENT_TIMEOUT, key=key,
                    json={**ORDER, "reference": _ref(key), "submit": True},
                    headers={**auth(token), "Idempotency-Key": key})

    def order_client():
        while not stop.is_set():
            key = uuid.uuid4().hex
            answer = create(key)
            soak.attempts += 1
            if answer.status == 201:
                soak.orders[key] = json.loads(answer.body)["id"]
            else:       # 503, no answer: the client does not know whether it happened
                unacknowledged.append(key)
                unacknowledged_as.append(answer.status or answer.error)
            time.sleep(ORDER_PAUSE)

    def driver_app(driver_id: str, app: DriverClient):
        n = 0
        while not stop.is_set():
            # Now, as an app reports (the ingest refuses times too far ahead); 50 ms apart, so each
            # position has its own primary key (driver, recorded_at).
            app.position(50 + (n % 1000) / 10000, 1.0, recorded_at=datetime.now(timezone.utc))
            n += 1
            time.sleep(POSITION_PAUSE)
        soak.positions[driver_id] = n

    workers = [threading.Thread(target=order_client, daemon=True) for _ in range(order_clients)]
    workers += [threading.Thread(target=driver_app, args=item, daemon=True) for item in apps.items()]
    soak.children_before = service_children(stack)
    # The nemesis' victims: one service killed outright, another told to stop mid-work.
    killed = rng.choice(SERVICES)
    stopped = rng.choice([s for s in ("orders", "notify", "tracking-ingest") if s != killed])
    report(f"seed {seed}: kill -9 {killed}, SIGTERM {stopped}, {kills} broker kills {gap:g} s apart")
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        time.sleep(gap)
        for k in range(kills):
            broker.restart_after_kill()
            soak.broker_kills += 1
            time.sleep(gap / 2)
            if k == 0:
                os.kill(_child(stack, killed), signal.SIGKILL)
                soak.service_kills.append(f"{killed} kill -9")
            if k == min(1, kills - 1):
                os.kill(_child(stack, stopped), signal.SIGTERM)
                soak.service_kills.append(f"{stopped} SIGTERM")
            time.sleep(gap / 2)
    finally:
        stop.set()
        for worker in workers:
            worker.join(CLIENT_TIMEOUT + 10)
        soak.seconds = time.monotonic() - started
    try:
        confirmed = all(app.link.flush(120) for app in apps.values())
    finally:
        for app in apps.values():
            app.close()
    assert confirmed, "the driver links did not get every position confirmed"

    # Every service comes back under its supervisor (PITFALLS 3), then the client retries what it
    # was not told about, with the same key (PITFALLS 7): it must not get a second order.
    try:
        soak.ready_after = bool(wait_for(stack.ready, timeout=120, interval=0.5, what="every service to answer"))
    except AssertionError:
        soak.ready_after = False
    soak.children_after = service_children(stack)
    report(f"unacknowledged answers: {_count(unacknowledged_as)}")
    if not soak.ready_after:       # nothing more can be asked of it; the checks fail on this
        report("the platform did not come back: no tally")
        return soak
    refused = []
    for key in unacknowledged:
        # Until the platform gives an answer that is not "retry later" (503, 429, no answer).
        answer = wait_for(lambda: (lambda a: a if a.status not in (None, 429, 503) else None)(create(key)),
                          timeout=60, interval=1, what="an answer to the retry of an unacknowledged order")
        if answer.status == 201:
            soak.retried[key] = soak.orders[key] = json.loads(answer.body)["id"]
        else:           # e.g. 409: the first attempt did happen, and its key was not honoured
            refused.append(f"{_ref(key)}: {answer.status} {answer.body[:200]}")
    report(f"{soak.attempts} order requests ({len(soak.orders) - len(soak.retried)} acknowledged, "
           f"{len(soak.retried)} retried with their key after), "
           f"{sum(soak.positions.values())} positions confirmed, in {soak.seconds:.0f} s")
    tally(soak, stack, broker, cluster, mailbox, receiver, acme)
    soak.lost["order retried with its key"] = refused
    soak.duplicated["order retried with its key"] = []
    return soak


def _child(stack, name: str) -> int:
    """The service's current process (it may be between two lives after a broker kill)."""
    return wait_for(lambda: service_children(stack).get(name), timeout=60, interval=0.2,
                    what=f"{name} to have a running process")


def _count(items) -> dict:
    """item -> how many times; None (an effect of no acknowledged operation, e.g. of an order
    the client was never told about) is not counted."""
    counts: dict = {}
    for item in items:
        if item is not None:
            counts[item] = counts.get(item, 0) + 1
    return counts


def _all_pages(stack, path: str, token: str) -> list[dict]:
    items, page = [], 1
    while True:
        got = get(stack, f"{path}{'&' if '?' in path else '?'}per_page=200&page={page}", token).json()["items"]
        items += got
        if len(got) < 200:
            return items
        page += 1


def _settled(effect, expected: set, timeout: float = 90):
    """Poll ``effect()`` (a dict: item -> count) until every expected item is there (or time
    runs out: what is still missing is then reported as lost)."""
    seen: dict = {}

    def complete():
        nonlocal seen
        seen = effect()
        return expected <= set(seen)
    try:
        wait_for(complete, timeout=timeout, interval=1, what="the effects")
    except AssertionError:
        pass
    return seen


def tally(soak: Soak, stack, broker, cluster, mailbox, receiver, acme) -> None:
    token, email = acme["token"], acme["email"]
    refs = {_ref(key): order_id for key, order_id in soak.orders.items()}

    def record(effect: str, counts: dict, expected) -> None:
        soak.lost[effect] = sorted(set(expected) - set(counts))
        soak.duplicated[effect] = sorted(item for item, n in counts.items() if n > 1)

    # Orders: each acknowledged one exists once (by its reference), under the id it was given.
    orders = _all_pages(stack, "/api/v1/orders", token)
    by_ref = _count(o["reference"] for o in orders)
    record("order", {r: n for r, n in by_ref.items() if r.startswith("SOAK-")}, refs)
    ids = {o["reference"]: o["id"] for o in orders}
    soak.lost["order"] += sorted(r for r, i in refs.items() if r in ids and ids[r] != i)
    # Status timeline: one "submitted" step per order.
    timelines = {}
    for ref, order_id in refs.items():
        history = get(stack, f"/api/v1/orders/{order_id}", token).json().get("history", [])
        timelines[ref] = sum(h["to_status"] == "submitted" for h in history)
    record("status timeline", {r: n for r, n in timelines.items() if n}, refs)
    # Webhooks: one event id per order (a retried delivery keeps its webhook-id).
    order_refs = {i: r for r, i in refs.items()}

    def webhooks():
        per = {}
        for r in list(receiver.requests):
            if r["path"] == "/soak":
                per.setdefault(order_refs.get(json.loads(r["body"])["data"].get("order_id")), set()).add(
                    r["headers"].get("webhook-id"))
        per.pop(None, None)
        return {ref: len(ids) for ref, ids in per.items()}
    record("webhook", _settled(webhooks, set(refs)), refs)
    # Emails to the subscribed user: one per order, counted by Message-ID. SMTP cannot be exactly
    # once (a crash between the server's 250 and our commit sends again), so a resend carries the
    # same Message-ID, by which mail systems drop the copy; a second Message-ID is a duplicate.
    def mails():
        return [(next((r for r in refs if r in (m["Subject"] or "")), None), m["Message-ID"])
                for m in list(mailbox.messages) if m["To"] == email and "SOAK-" in (m["Subject"] or "")]

    def emails():
        return _count(ref for ref, _ in set(mails()))
    record("email", _settled(emails, set(refs)), refs)
    soak.resent_emails = len(mails()) - len(set(mails()))

    # In-app notifications: one per order.
    def notices():
        return _count(next((r for r in refs if r in n["title"]), None)
                      for n in _all_pages(stack, "/api/v1/notifications", token) if "SOAK-" in n["title"])
    record("notification", _settled(notices, set(refs), timeout=30), refs)
    # Positions: every confirmed one stored (the primary key makes a second copy impossible).
    with psycopg2.connect(cluster.url + "_tracking") as conn, conn.cursor() as cur:
        cur.execute("SELECT driver_id, count(*) FROM positions WHERE driver_id = ANY(%s) GROUP BY driver_id",
                    (list(soak.positions),))
        stored = dict(cur.fetchall())
    conn.close()
    soak.lost["position"] = [f"{d}: {n - stored.get(d, 0)}" for d, n in soak.positions.items()
                             if stored.get(d, 0) < n]
    soak.duplicated["position"] = []

    # Queues: none left with messages and no consumer (PITFALLS 2, 4, 8); dead letters reported.
    def drained():
        rows = broker.queues()
        return rows if not [q for q in rows if q[1] and not q[0].endswith(PARKED)] else None
    try:
        rows = wait_for(drained, timeout=60, interval=1, what="the queues to drain")
    except AssertionError:
        rows = broker.queues()
    soak.stranded = [q for q in rows if q[1] and not q[2] and not q[0].endswith(PARKED)]
    # And every queue of the topology has its consumer again after the broker kills (PITFALLS 3).
    consumed = {INGEST_QUEUE} | {name for name in expected_queues() if not name.endswith(PARKED)}
    soak.unconsumed = sorted(q[0] for q in rows if q[0] in consumed and not q[2])
    soak.parked = [q for q in rows if q[1] and q[0].endswith(PARKED)]
