"""Location privacy under attack (issue 9, last bullet), against the running stack with real
driver apps (the SDK's ``DriverClient`` over RabbitMQ), customers, orders and routes.

- ``approximate``: a stationary driver read 1,000 times (the order's tracking and the public
  tracking link, between stationary re-publishes): the answers must not average to better than
  the promised precision. The guarantee: a stationary driver gets ONE answer, whatever the read
  or the re-publish (any variation is noise, and noise averages out towards the driver), and
  that answer stays a fair fraction of ``precision_m`` away from the driver. The driver's other
  customer (served first on the route) never appears.
- ``none``: the driver drives the customer's order to delivery while every customer-visible GET
  route, both SSE streams, the public page, the feed, the emails, a webhook of the customer's
  own (all event types) and every event on ``portal.events`` are searched for its coordinates.
- retention: history older than ``TRACKING_RETENTION_DAYS`` is gone from every store (every
  table of every service database, the blob store, the logs) after the retention job.

    bin/portal test tests/attack/test_location_privacy.py
"""
from __future__ import annotations

import json
import math
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pika
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from services.common.config import SERVICES, env_int
from services.common.db import UnitOfWork
from services.notify.payloads import CUSTOMER_EVENTS
from services.tracking import privacy, retention
from services.tracking.driver import DriverClient
from services.tracking.models import Base as TrackingBase
from tests.attack.privacy_scan import Scanner, metres
from tests.attack.report import Report
from tests.conftest import PG_SERVER, wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post
from tests.e2e.conftest import Receiver
from tests.e2e.test_tracking_flows import Stream, customer, order, route_with, tracking

pytestmark = pytest.mark.e2e

READS = 1000                 # the number of repeated reads
REPUBLISHES = 5              # stationary re-publishes: a fresh offset per publish would average out
FAIR_FRACTION = 0.25         # the mean must stay at least this fraction of precision_m away
FIGURES: dict[str, str] = {}
# Test coordinates have a latitude of 60 or more and a negative longitude, so no timestamp
# ("...:51.752134") nor positive decimal can be mistaken for one of them by the scanner.
THEIR_DROPOFF = (60.391731, -1.352117)     # the other customer's stop (Shetland)


def summary() -> str:
    return "; ".join(FIGURES.get(k, f"{k}: not run") for k in ("approximate", "none", "retention"))


REPORT = Report("location privacy", summary)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _admin_customer(stack, mailbox, admin_token, sharing):
    """A customer with ``sharing`` and a customer admin (who may register webhooks)."""
    made = post(stack, "/api/v1/admin/customers", {"name": f"Privacy {sharing} {uuid.uuid4().hex[:6]}",
                                                    "location_sharing": sharing}, admin_token).json()
    email = f"p.{uuid.uuid4().hex[:8]}@{sharing}.example"
    token = invite_and_accept(stack, mailbox, admin_token, made["id"], email, role="customer_admin")
    return {"id": made["id"], "token": token, "email": email}


def _complete_all(app, stack, token, order_id):
    for stop in get(stack, f"/api/v1/orders/{order_id}", token).json()["stops"]:
        app.arrived(order_id, stop["id"])
        app.completed(order_id, stop["id"], recipient_name="Front desk")
    wait_for(lambda: get(stack, f"/api/v1/orders/{order_id}", token).json()["status"] == "delivered",
             timeout=30, what=f"order {order_id} delivered")


# --- approximate ---------------------------------------------------------------------------------
def _off_centre(lat: float, lng: float) -> tuple[float, float]:
    """A point 400 m north and 300 m east of the centre of the privacy cell holding (lat, lng):
    500 m from the answer a fixed cell gives, inside the cell. A per-read (or per-publish)
    random offset would average back towards this point over 1,000 reads (to ~30 m)."""
    centre_lat, centre_lng = privacy.snap(lat, lng)
    return (round(centre_lat + 400 / privacy.M_PER_DEG_LAT, 6),
            round(centre_lng + 300 / (privacy.M_PER_DEG_LAT * math.cos(math.radians(centre_lat))), 6))


def _read_many(urls: list[tuple[str, dict]], n: int) -> list[dict]:
    """``n`` reads spread over ``urls`` by 4 threads, each with its own keep-alive session."""
    def worker(share: int, offset: int) -> list[dict]:
        with requests.Session() as session:
            out = []
            for i in range(share):
                url, headers = urls[(offset + i) % len(urls)]
                answer = session.get(url, headers=headers, timeout=30)
                assert answer.status_code == 200, answer.text
                out.append(answer.json())
            return out
    shares = [n // 4 + (1 if i < n % 4 else 0) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        return [v for part in pool.map(worker, shares, range(4)) for v in part]


@pytest.mark.parametrize("n_reads", [READS, pytest.param(10 * READS, marks=pytest.mark.slow)])
def test_approximate_location_does_not_average_out_and_hides_the_other_customer(stack, mailbox, admin_token,
                                                                                amqp_uri, n_reads):
    near = customer(stack, mailbox, admin_token, "approximate")
    other = customer(stack, mailbox, admin_token, "exact")
    # The other customer's order is first on the route: while the driver serves it, the
    # approximate customer must see no driver at all (it would show the other's address).
    theirs, ours = order(stack, other["token"], *THEIR_DROPOFF), order(stack, near["token"], 53.74, -0.33)
    driver = route_with(stack, admin_token, [theirs, ours])
    truth = _off_centre(52.2053 + uuid.uuid4().int % 1000 / 1e5, 0.1218)      # Cambridge: > 50 km from any stop
    wait_for(lambda: tracking(stack, near["token"], ours["id"]).get("status") == "in_transit", timeout=30,
             what="tracking to learn the route")
    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)
    bodies: list[str] = []
    try:
        app.position(*truth, speed_mps=0, accuracy_m=5)
        wait_for(lambda: (tracking(stack, other["token"], theirs["id"])["location"] or {}).get("lat") == truth[0],
                 timeout=30, what="the exact customer to see the driver")
        first = tracking(stack, near["token"], ours["id"])
        bodies.append(json.dumps(first))
        assert first["location"] is None, "the driver's position shown while it serves another customer"
        _complete_all(app, stack, other["token"], theirs["id"])
        link = post(stack, f"/api/v1/orders/{ours['id']}/tracking-links", {"label": "privacy"}, near["token"]).json()
        urls = [(f"{stack.base}/api/v1/orders/{ours['id']}/tracking", auth(near["token"])),
                (f"{stack.base}/api/v1/public/track/{link['token']}", {})]
        reads: list[dict] = []
        for round_ in range(REPUBLISHES):
            before = tracking(stack, near["token"], ours["id"])["version"]
            # Stationary, as a parked phone reports it: the same point give or take ~5 m of GPS noise.
            app.position(truth[0] + random.uniform(-4e-5, 4e-5), truth[1] + random.uniform(-6e-5, 6e-5),
                         speed_mps=0, accuracy_m=5)
            wait_for(lambda: (lambda v: v["version"] > before and v["location"])(
                tracking(stack, near["token"], ours["id"])), timeout=30, what="the re-published position")
            reads += _read_many(urls, n_reads // REPUBLISHES + (n_reads % REPUBLISHES if round_ == 0 else 0))
        order_view = get(stack, f"/api/v1/orders/{ours['id']}", near["token"]).json()
    finally:
        app.close()
    locations = [r["location"] for r in reads]
    assert len(reads) == n_reads and all(locations), "a read without a location while the driver serves this order"
    answers = {(loc["lat"], loc["lng"]) for loc in locations}
    precision = min(loc["precision_m"] for loc in locations)
    mean = (sum(loc["lat"] for loc in locations) / n_reads, sum(loc["lng"] for loc in locations) / n_reads)
    away = metres(mean, truth)
    REPORT.line(f"approximate: {n_reads} reads after {REPUBLISHES} stationary re-publishes: {len(answers)} distinct "
                f"answer(s), precision_m {precision}, their mean {away:,.0f} m from the driver")
    FIGURES["approximate"] = (f"approximate: mean of {n_reads:,} reads {away:,.0f} m from the driver "
                              f"(precision {precision} m)")
    assert precision >= 1000, "API.md promises precision_m >= 1000 for approximate sharing"
    assert len(answers) == 1, f"a stationary driver read {len(answers)} different ways: noise averages out"
    assert away >= FAIR_FRACTION * precision, f"the mean of {n_reads} reads is {away:.0f} m from the driver"
    assert away <= precision, "the approximate position is not near the driver any more"
    # Nothing of the other customer, nor the driver, reaches the approximate customer's views.
    bodies += [json.dumps(r) for r in reads[:50]] + [json.dumps(order_view)]
    foreign = [theirs["id"], theirs["reference"], driver["id"], *map(str, THEIR_DROPOFF)]
    foreign += [s["id"] for s in get(stack, f"/api/v1/orders/{theirs['id']}", other["token"]).json()["stops"]]
    seen = sorted({f for f in foreign if f and any(f in b for b in bodies)})
    assert not seen, f"the approximate customer sees the driver's other customer: {seen}"


# --- none ------------------------------------------------------------------------------------------
def _bus_tap(amqp_uri: str):
    """A queue of our own on ``portal.events`` taking every event (what partners can bind to)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    channel.queue_bind(queue, "portal.events", routing_key="#")
    return connection, channel, queue


def _drain(channel, queue) -> list[bytes]:
    bodies = []
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def _get_routes(stack, known: dict[str, str]) -> list[str]:
    """Every customer-visible GET route of the API document, with its path parameters filled
    from ``known`` (the routes whose parameters we have no object for are left out); streams
    are read separately."""
    document = requests.get(f"{stack.base}/api/v1/openapi.json", timeout=15).json()
    prefix = document.get("servers", [{}])[0].get("url", "") if document.get("servers") else ""
    found = []
    for path, methods in document["paths"].items():
        full = (prefix.rstrip("/") + path) if not path.startswith("/api/") else path
        if "get" not in methods or "/admin/" in full or full.endswith("/stream") or "/auth/" in full:
            continue
        names = [p.strip("{}") for p in full.split("/") if p.startswith("{")]
        if all(n in known for n in names):
            for n in names:
                full = full.replace("{" + n + "}", known[n])
            found.append(full)
    return found


def test_no_coordinate_leaks_under_none_through_any_route_stream_email_webhook_or_event(
        stack, mailbox, admin_token, amqp_uri):
    hidden = _admin_customer(stack, mailbox, admin_token, "none")
    # Every notification on, by email too where the type has an email at all.
    prefs = {kind: {channel: True for channel in channels} for kind, channels in get(
        stack, "/api/v1/me/notification-preferences", hidden["token"]).json().items()}
    assert requests.put(f"{stack.base}/api/v1/me/notification-preferences", json=prefs,
                        headers=auth(hidden["token"]), timeout=15).status_code == 200
    partner = Receiver()
    hook = post(stack, "/api/v1/webhooks", {"url": partner.url + "/hook", "events": list(CUSTOMER_EVENTS)},
                hidden["token"])
    assert hook.status_code == 201, hook.text
    connection, channel, tap = _bus_tap(amqp_uri)
    ours = order(stack, hidden["token"], 53.74, -0.33)
    driver = route_with(stack, admin_token, [ours])
    wait_for(lambda: tracking(stack, hidden["token"], ours["id"]).get("status") == "in_transit", timeout=30,
             what="tracking to learn the route")
    link = post(stack, f"/api/v1/orders/{ours['id']}/tracking-links", {"label": "none"}, hidden["token"]).json()
    streams = [Stream(f"{stack.base}/api/v1/orders/{ours['id']}/stream", auth(hidden["token"])),
               Stream(f"{stack.base}/api/v1/public/track/{link['token']}/stream", {}),
               Stream(f"{stack.base}/api/v1/notifications/stream", auth(hidden["token"]))]
    # The driver's path: Shetland, > 50 km from the order's stops; six decimals each, all distinct.
    path = [(round(60.1530 + 0.0013 * i + uuid.uuid4().int % 97 / 1e6, 6),
             round(-1.1493 - 0.0011 * i - uuid.uuid4().int % 89 / 1e6, 6)) for i in range(12)]
    scanner = Scanner(path)
    answers = 0
    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)
    try:
        for i, point in enumerate(path):
            app.position(*point, speed_mps=9, heading=45, accuracy_m=4)
            scanner.scan("tracking", get(stack, f"/api/v1/orders/{ours['id']}/tracking", hidden["token"]).text)
            scanner.scan("public", requests.get(f"{stack.base}/api/v1/public/track/{link['token']}", timeout=15).text)
            answers += 2
            if i == len(path) // 2:
                # Positions flow while the customer's stops change status (events, emails, webhooks).
                stops = get(stack, f"/api/v1/orders/{ours['id']}", hidden["token"]).json()["stops"]
                app.arrived(ours["id"], stops[0]["id"])
                app.completed(ours["id"], stops[0]["id"], recipient_name="Dock")
            time.sleep(0.3)
        # The control: the operator's exact view has the last point, so the positions did reach the
        # platform and the scanner does see a coordinate where there is one.
        control = Scanner(path[-1:])
        wait_for(lambda: control.leaks(get(stack, "/api/v1/admin/drivers/positions", admin_token).text),
                 timeout=30, what="the driver's last position to reach the operator's view")
        # Every customer-visible GET route, while the driver is on the way.
        documents = get(stack, f"/api/v1/orders/{ours['id']}/documents", hidden["token"]).json()
        known = {"order_id": ours["id"], "token": link["token"], "endpoint_id": hook.json()["id"]}
        if documents:
            known["document_id"] = documents[0]["id"]
        routes = _get_routes(stack, known) + [f"/t/{link['token']}"]
        for route in routes:
            answer = requests.get(f"{stack.base}{route}", headers=auth(hidden["token"]), timeout=30)
            assert answer.status_code < 500, f"{route}: {answer.status_code}"
            scanner.scan(route, answer.content)
            answers += 1
        _complete_all(app, stack, hidden["token"], ours["id"])
    finally:
        app.close()
    wait_for(lambda: any(json.loads(r["body"])["data"].get("status") == "delivered" for r in partner.requests),
             timeout=60, what="the delivered webhook")
    wait_for(lambda: any(e.get("event") == "end" for e in streams[0].events), timeout=30, what="the stream's end")
    emails = wait_for(lambda: [m for m in mailbox.messages if m["To"] == hidden["email"]
                               and "invit" not in m["Subject"].lower()] or None, timeout=60,
                      what="an order email to the customer")
    for stream in streams:
        stream.close()
    events = _drain(channel, tap)
    connection.close()
    sse = [e for s in streams for e in s.events]
    scanner.scan_all("sse", [json.dumps(e) for e in sse])
    scanner.scan_all("email", [m.as_string() for m in emails])
    scanner.scan_all("webhook", [r["body"] for r in partner.requests])
    scanner.scan_all("event", events)
    partner.server.shutdown()
    views = [e["data"] for e in sse if e.get("event") == "tracking"]
    REPORT.line(f"none: {answers} HTTP answers over {len(routes) + 2} routes, {len(sse)} SSE events "
                f"({len(views)} views), {len(emails)} emails, {len(partner.requests)} webhooks, {len(events)} bus "
                f"events searched for {len(path)} positions: {len(scanner.hits)} hits")
    FIGURES["none"] = (f"none: 0 coordinates in {answers:,} answers, {len(sse)} SSE events, {len(emails)} emails, "
                       f"{len(partner.requests)} webhooks, {len(events)} events") if not scanner.hits else \
        f"none: {len(scanner.hits)} coordinates leaked"
    assert views and all(v["location"] is None for v in views), "a live view with a location under none"
    assert not scanner.hits, "\n".join(scanner.hits[:20])


# --- retention -------------------------------------------------------------------------------------
def _databases(stack) -> dict[str, str]:
    shared = make_url(stack.env["DATABASE_URL"])
    return {s: shared.set(database=f"{shared.database}_{s}").render_as_string(hide_password=False) for s in SERVICES}


def _every_row(url: str) -> dict[str, list[str]]:
    """Each table of a database, as the text of its rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            tables = db.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            return {t: db.execute(text(f'SELECT t::text FROM "{t}" AS t')).scalars().all() for t in tables}
    finally:
        engine.dispose()


@pytest.mark.skipif(not PG_SERVER, reason="the retention scan reads the stack's PostgreSQL databases")
def test_history_older_than_the_retention_is_gone_from_every_store(stack, admin_token, amqp_uri):
    """The API refuses reports older than TRACKING_MAX_AGE_HOURS, so 30-day-old history can only
    come from time passing: the drivers report now, then the rows the platform wrote are moved
    back 31 days (what a month's wait would do to them), and the retention job runs as the
    tracking service's timer runs it (``retention.purge`` on the tracking database)."""
    days = env_int("TRACKING_RETENTION_DAYS")
    keeps, leaves = (post(stack, "/api/v1/admin/drivers", {"name": f"Ret {uuid.uuid4().hex[:4]}"}, admin_token).json()
                     for _ in range(2))
    # Positions in Torshavn (keeps: old history, then a fresh report) and Reykjavik (leaves: only old).
    old = [(round(62.010713 + 0.0007 * i, 6), round(-6.774113 - 0.0009 * i, 6)) for i in range(6)]
    gone = [(round(64.146613 + 0.0008 * i, 6), round(-21.942613 + 0.0006 * i, 6)) for i in range(4)]
    fresh = (62.101234, -6.901234)
    start = _now() - timedelta(hours=2)
    for who, points in ((keeps, old), (leaves, gone)):
        with DriverClient.connect(who["id"], who["credential"], amqp_uri) as app:
            for i, point in enumerate(points):
                app.position(*point, accuracy_m=5, recorded_at=start + timedelta(minutes=i))
    tracking_db = _databases(stack)["tracking"]
    engine = create_engine(tracking_db)
    count = text("SELECT count(*) FROM positions WHERE driver_id = :d")
    try:
        with engine.connect() as db:
            for who, points in ((keeps, old), (leaves, gone)):
                wait_for(lambda: db.execute(count, {"d": who["id"]}).scalar() == len(points), timeout=30,
                         what="the history stored")
        with engine.begin() as db:
            for table in ("positions", "latest_positions"):
                db.execute(text(f"UPDATE {table} SET recorded_at = recorded_at - interval '31 days' "
                                "WHERE driver_id IN (:a, :b)"), {"a": keeps["id"], "b": leaves["id"]})
        with DriverClient.connect(keeps["id"], keeps["credential"], amqp_uri) as app:
            app.position(*fresh, accuracy_m=5)
        with engine.connect() as db:
            wait_for(lambda: db.execute(count, {"d": keeps["id"]}).scalar() == len(old) + 1, timeout=30,
                     what="the fresh report stored")
        deleted = retention.purge(UnitOfWork(sessionmaker(engine), TrackingBase))
        with engine.connect() as db:
            left = db.execute(text("SELECT driver_id, recorded_at FROM positions WHERE driver_id IN (:a, :b)"),
                              {"a": keeps["id"], "b": leaves["id"]}).all()
            latest = db.execute(text("SELECT driver_id FROM latest_positions WHERE driver_id IN (:a, :b)"),
                                {"a": keeps["id"], "b": leaves["id"]}).scalars().all()
            older = db.execute(text("SELECT count(*) FROM positions WHERE recorded_at < now() - make_interval("
                                    "days => :d)"), {"d": days}).scalar()
    finally:
        engine.dispose()
    # Every store: every table of every service database, the blob store, the logs.
    scanner, stores = Scanner(old + gone), 0
    for service, url in _databases(stack).items():
        for table, rows in _every_row(url).items():
            scanner.scan_all(f"{service}.{table}", rows)
            stores += 1
    var = Path(stack.env["VAR_DIR"])
    for blob in (p for p in var.rglob("*") if p.is_file()) if var.exists() else ():
        scanner.scan(f"blob {blob.name}", blob.read_bytes())
    stores += 1
    for log in stack.logs.glob("*.log"):
        scanner.scan(f"log {log.name}", log.read_bytes())
    stores += 1
    REPORT.line(f"retention ({days} d): the job deleted {deleted} positions; kept {len(left)} of the drivers' rows, "
                f"latest positions of {len(latest)}; {older} rows older than {days} d left; scanned {stores} stores "
                f"for {len(old) + len(gone)} old positions: {len(scanner.hits)} hits")
    for hit in scanner.hits[:10]:
        REPORT.line(f"  still kept: {hit[:200]}")
    FIGURES["retention"] = (f"retention: {older + len(scanner.hits)} rows older than {days} d in {stores} stores")
    assert [(d, when > _now() - timedelta(days=days)) for d, when in left] == [(keeps["id"], True)], \
        f"what is left of the two drivers' history: {left}"
    assert latest == [keeps["id"]], "a latest position older than the retention is still kept"
    assert older == 0
    assert not scanner.hits, "\n".join(scanner.hits[:20])
