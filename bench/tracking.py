"""Tracking benchmark: how fast driver positions are stored, how soon they reach a watching
screen, and how many live streams one gateway worker holds.

    python -m bench.tracking [--drivers 200] [--messages 60000] [--rate 5000] [--seconds 20]
                             [--watchers 20] [--streams 3000]

Needs PostgreSQL (``TEST_DATABASE_URL`` or ``DATABASE_URL``) and ``rabbitmqctl``: it starts a
platform of its own (bench/platform.py: the five services and one gateway worker on a
fresh vhost and fresh databases), gives a bench customer (location sharing ``exact``) one order
in transit per driver through the public API, and then measures, in one run:

1. **bare**: the rate at which this broker moves the same messages (same body, headers and
   queue type) to a pika consumer that does nothing but ack, in batches;
2. **stored, 1 and 2 ingest workers**: the rate at which ``tracking-ingest`` stores them
   (history, latest position, ETAs), counted in the database, against the bare rate.
   Both ways: "drain" fills the queue first and then consumes it (the consumer's own ceiling);
   "flow" runs a publisher process sending as fast as it can while the consumer works (what the
   broker moves end to end, the ~11-13k/s of DESIGN.md); the goals are read on "flow";
3. **publish to screen**: with one ingest worker, a publisher process sends ``--rate``
   positions/s for ``--seconds`` while ``--watchers`` SSE clients follow orders of the moving
   drivers; p50/p99 from each position's ``recorded_at`` (set as it is published) to the SSE
   event showing it, and whether the queue kept up;
4. **streams per gateway worker**: ``--streams`` SSE connections held open on the one gateway
   worker, then one position: how many streams got it and how long that took, and what a plain
   request costs meanwhile.

Goals (issue 5): >= 5,000 positions/s stored and >= 40% of the bare rate; publish-to-screen
p99 under 500 ms at that load; 2,000/s is the floor. Printed as MET / NOT MET, never asserted."""
from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import statistics
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pika
import requests
from sqlalchemy import create_engine, func, select

from bench.platform import ADMIN, Platform, PlatformError, raise_file_limit
from services.common.config import SERVICES
from services.common.topology import DRIVER_EXCHANGE, INGEST_QUEUE, ingest_queue_arguments
from services.tracking.models import PositionRecord

GOAL_RATE, GOAL_SHARE, GOAL_P99_MS, FLOOR_RATE = 5000.0, 0.40, 500.0, 2000.0
START = (51.45, -0.20)


# --- seeding through the public API ---------------------------------------------------------------
class Api:
    def __init__(self, base: str):
        self.base, self.session = base + "/api/v1", requests.Session()

    def call(self, method: str, path: str, body=None, expect=(200, 201)):
        for _ in range(60):     # 503: a service has not heard of something new yet (its event)
            response = self.session.request(method, self.base + path, json=body, timeout=30)
            if response.status_code != 503:
                break
            time.sleep(0.5)
        if response.status_code not in expect:
            raise PlatformError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def login(self, email: str, password: str) -> str:
        token = self.call("POST", "/auth/login", {"email": email, "password": password})["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token


def seed(api: Api, drivers: int) -> list[dict]:
    """One bench customer sharing exact locations; per driver a credential and one order in
    transit on a started route. Returns [{driver_id, credential, order_id}]."""
    customer = api.call("POST", "/admin/customers", {"name": "Bench Haulage", "location_sharing": "exact"})
    depot = api.call("POST", "/admin/depots", {"name": "Bench depot", "address": {"line1": "1 Bench Road"},
                                               "lat": START[0], "lng": START[1]})
    fleet = []
    for n in range(drivers):
        driver = api.call("POST", "/admin/drivers", {"name": f"Bench driver {n}", "depot_id": depot["id"]})
        order = api.call("POST", "/admin/orders", {
            "customer_id": customer["id"], "reference": f"BENCH-{n:05d}", "submit": True,
            "stops": [{"type": "dropoff", "address": {"line1": f"{n} Far Lane", "city": "Leeds", "country": "GB"},
                       "lat": 53.8 + n * 1e-4, "lng": -1.55}]})
        fleet.append({"driver_id": driver["id"], "credential": driver["credential"], "order_id": order["id"]})
    for n, member in enumerate(fleet):
        for _ in range(60):    # orders learns each new driver from identity's event
            try:
                route = api.call("POST", "/admin/routes", {"name": f"Bench run {n}", "day": date.today().isoformat(),
                                                           "depot_id": depot["id"], "driver_id": member["driver_id"]})
                break
            except PlatformError:
                time.sleep(0.5)
        else:
            raise PlatformError("orders never learnt the bench drivers")
        api.call("POST", f"/admin/routes/{route['id']}/orders", {"order_ids": [member["order_id"]]})
        api.call("POST", f"/admin/routes/{route['id']}/start")
    deadline = time.monotonic() + 60
    for member in fleet:    # tracking learns the routes from orders' events
        while api.session.get(f"{api.base}/orders/{member['order_id']}/tracking", timeout=10).json().get(
                "status") != "in_transit":
            if time.monotonic() > deadline:
                raise PlatformError("tracking never learnt the bench routes")
            time.sleep(0.2)
    return fleet


# --- messages: all sent through the driver SDK (publisher confirms) ---------------------------------------
def send_positions(amqp_uri: str, fleet: list[dict], count: int, start_iso: str) -> None:
    """``count`` positions round the fleet on one SDK link, each driver's a second apart and
    moving north-east; returns once the broker confirmed every one."""
    from services.tracking.driver import DriverClient, DriverLink

    link = DriverLink(amqp_uri, connection_name="bench-positions")
    clients = [DriverClient(link, m["driver_id"], m["credential"]) for m in fleet]
    start = datetime.fromisoformat(start_iso)
    for i in range(count):
        step = i // len(clients)
        clients[i % len(clients)].position(START[0] + step * 1e-4, START[1] + step * 1e-4, speed_mps=11.0,
                                           heading=45.0, accuracy_m=8.0, recorded_at=start + timedelta(seconds=step))
    if not link.flush(300):
        raise PlatformError(f"{link.pending} positions were never confirmed")
    link.close()


def spawn_sender(amqp_uri: str, fleet: list[dict], count: int, start: datetime):
    """The sender in a process of its own, so its CPU is not the consumer's."""
    process = multiprocessing.get_context("spawn").Process(
        target=send_positions, args=(amqp_uri, fleet, count, start.isoformat()))
    process.start()
    return process


def channel_of(amqp_uri: str):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    return connection, connection.channel()


def depth(amqp_uri: str, queue: str) -> int:
    connection, channel = channel_of(amqp_uri)
    try:
        return channel.queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def fill(amqp_uri: str, fleet: list[dict], count: int, start: datetime, queue: str) -> None:
    send_positions(amqp_uri, fleet, count, start.isoformat())
    if depth(amqp_uri, queue) < count:
        raise PlatformError(f"{queue} holds fewer than the {count} messages confirmed to it")


# --- 1 and 2: bare consumer against the ingest workers, two ways -------------------------------------
# "drain": the queue is filled first, then consumed (the consumer's own ceiling).
# "flow": a sender process sends as fast as it can while the consumer runs (what the broker moves
# end to end; the figure DESIGN.md's ~11-13k/s refers to).
def bare_rate(amqp_uri: str, fleet: list[dict], count: int, flow: bool, batch: int = 1000) -> float:
    """The same messages, through the same exchange, into a queue of the same kind, consumed by
    pika doing nothing but ack. The ingest queue is unbound meanwhile, so it gets none of them."""
    queue = f"bench.bare.{uuid.uuid4().hex[:8]}"
    connection, channel = channel_of(amqp_uri)
    channel.queue_declare(queue, durable=True, arguments=ingest_queue_arguments())
    channel.queue_bind(queue, DRIVER_EXCHANGE, routing_key="driver.*.location")
    channel.queue_unbind(INGEST_QUEUE, DRIVER_EXCHANGE, routing_key="driver.*.location")
    connection.close()
    start = datetime.now(timezone.utc) - timedelta(hours=20)
    try:
        if not flow:
            fill(amqp_uri, fleet, count, start, queue)
        connection, channel = channel_of(amqp_uri)
        channel.basic_qos(prefetch_count=batch * 2)
        seen, first = [0], [None]

        def on_message(ch, method, _props, _body):
            if first[0] is None:
                first[0] = time.perf_counter()
            seen[0] += 1
            if seen[0] % batch == 0 or seen[0] == count:
                ch.basic_ack(method.delivery_tag, multiple=True)

        channel.basic_consume(queue, on_message)
        sender = spawn_sender(amqp_uri, fleet, count, start) if flow else None
        while seen[0] < count:
            connection.process_data_events(time_limit=1)
        took = time.perf_counter() - first[0]
        if sender:
            sender.join()
        channel.queue_delete(queue)
        connection.close()
    finally:
        connection, channel = channel_of(amqp_uri)
        channel.queue_bind(INGEST_QUEUE, DRIVER_EXCHANGE, routing_key="driver.*.location")
        connection.close()
    return count / took


def stored_count(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(PositionRecord))


def stored_rate(platform: Platform, engine, fleet: list[dict], count: int, workers: int, start: datetime,
                flow: bool) -> float:
    """Positions stored per second, counted in the database, from the first stored to the last."""
    if not flow:
        fill(platform.amqp_uri, fleet, count, start, INGEST_QUEUE)
    before = stored_count(engine)
    target = before + count
    for n in range(workers):
        platform.run(f"ingest-{n}", "-m", "services.tracking.ingest")
    publisher = None
    if flow:
        time.sleep(3)                       # the workers are up and consuming
        publisher = spawn_sender(platform.amqp_uri, fleet, count, start)
    # Drain: from the moment the workers start taking messages off the queue. Flow: from the
    # first position stored (the sender's start-up is not the workers' time).
    first = None
    deadline = time.monotonic() + 600
    while True:
        now, stored = time.perf_counter(), stored_count(engine)
        if first is None:
            if not flow and depth(platform.amqp_uri, INGEST_QUEUE) < count:
                first = (now, before)
            elif flow and stored > before:
                first = (now, stored)
        if stored >= target:
            break
        if time.monotonic() > deadline:
            raise PlatformError(f"only {stored - before} of {count} positions were stored in 10 minutes")
        time.sleep(0.01)
    if publisher:
        publisher.join()
    for n in range(workers):
        platform.stop_process(f"ingest-{n}")
    return (target - first[1]) / max(1e-3, now - first[0])


# --- 3. publish to screen -------------------------------------------------------------------------------
def paced_publisher(amqp_uri: str, fleet: list[dict], rate: int, seconds: float) -> None:
    """A process of its own (its CPU is not the watchers'): the simulator's ``Fleet`` on one
    driver-SDK link (publisher confirms), each driver heading for its stop, stepped so that the
    fleet sends ``rate`` positions/s; each position is stamped as it is sent."""
    from services.tracking.driver import DriverLink
    from services.tracking.driver.fleet import Fleet, SimDriver

    link = DriverLink(amqp_uri, connection_name="bench-fleet")
    drivers = [SimDriver(m["driver_id"], m["credential"], [(*START, None), (53.8, -1.55, None)]) for m in fleet]
    sim = Fleet(link, drivers, speed_kmh=60, dwell=0)
    per_step = len(drivers)
    steps, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        due = int((time.monotonic() - started) * rate / per_step)
        while steps < due:
            sim.step(per_step / rate)
            steps += 1
        time.sleep(0.002)
    link.close(timeout=30)


def watch(base: str, token: str, order_id: str, latencies: list[float], stop: threading.Event) -> None:
    with requests.get(f"{base}/api/v1/orders/{order_id}/stream", headers={"Authorization": f"Bearer {token}"},
                      stream=True, timeout=(5, 30)) as response:
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith(b"data:"):
                view = json.loads(line[5:])
                if view.get("location"):
                    now = time.time()
                    recorded = datetime.fromisoformat(view["location"]["recorded_at"]).timestamp()
                    # A view's version is the microsecond its batch was taken in hand: it splits
                    # the whole into "until the ingest worker had it" and "from there to here".
                    latencies.append(((now - recorded) * 1000, (view["version"] / 1e6 - recorded) * 1000,
                                      (now - view["version"] / 1e6) * 1000))


def publish_to_screen(platform: Platform, engine, token: str, fleet: list[dict], rate: int, seconds: float,
                      watchers: int) -> dict:
    platform.run("ingest-live", "-m", "services.tracking.ingest")
    latencies: list[float] = []
    stop = threading.Event()
    threads = [threading.Thread(target=watch, args=(platform.base, token, m["order_id"], latencies, stop), daemon=True)
               for m in fleet[:watchers]]
    for thread in threads:
        thread.start()
    time.sleep(2)                        # the streams are open and watching
    latencies.clear()
    before = stored_count(engine)
    publisher = multiprocessing.get_context("spawn").Process(
        target=paced_publisher, args=(platform.amqp_uri, fleet, rate, seconds))
    started = time.perf_counter()
    publisher.start()
    publisher.join()
    sent_for = time.perf_counter() - started
    backlog = depth(platform.amqp_uri, INGEST_QUEUE)
    stored_during = stored_count(engine) - before
    time.sleep(2)
    stop.set()
    platform.stop_process("ingest-live")
    def pct(part: int, p: float) -> float | None:
        ordered = sorted(sample[part] for sample in latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else None

    return {"events": len(latencies), "p50": pct(0, 0.50), "p99": pct(0, 0.99), "sent_rate": rate,
            "to_ingest": (pct(1, 0.50), pct(1, 0.99)), "to_screen": (pct(2, 0.50), pct(2, 0.99)),
            "stored_rate": stored_during / sent_for, "backlog": backlog}


# --- 4. streams held by one gateway worker ----------------------------------------------------------------
def hold_streams(platform: Platform, token: str, fleet: list[dict], count: int) -> dict:
    """``count`` raw SSE connections, spread over the first drivers' orders; then one position
    for each of those drivers and how many streams show it."""
    host, port = "127.0.0.1", platform.port
    targets = fleet[:10]
    sockets, refused = [], 0
    opened = time.perf_counter()
    for wave in range(0, count, 200):   # as watchers arrive: a few hundred at a time, not all at once
        batch = []
        for n in range(wave, min(count, wave + 200)):
            s = socket.create_connection((host, port), timeout=30)
            order_id = targets[n % len(targets)]["order_id"]
            s.sendall(f"GET /api/v1/orders/{order_id}/stream HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
            batch.append(s)
        for s in batch:                     # each answered 200 and sent its first view
            s.settimeout(30)
            head = s.recv(65536)
            if b" 200 " in head.split(b"\r\n", 1)[0]:
                sockets.append(s)
            else:
                refused += 1
                s.close()
    open_seconds = time.perf_counter() - opened
    probe = []
    for _ in range(20):
        t = time.perf_counter()
        requests.get(platform.base + "/healthz", timeout=10)
        probe.append((time.perf_counter() - t) * 1000)
    platform.run("ingest-streams", "-m", "services.tracking.ingest")
    deadline = time.monotonic() + 120
    while depth(platform.amqp_uri, INGEST_QUEUE) and time.monotonic() < deadline:
        time.sleep(0.2)                     # what an earlier run left queued is stored first
    time.sleep(1)
    from services.tracking.driver import DriverClient, DriverLink

    link = DriverLink(platform.amqp_uri, connection_name="bench-marker")
    link.wait_connected(10)
    published = time.perf_counter()
    for member in targets:
        DriverClient(link, member["driver_id"], member["credential"]).position(52.0, -1.0, accuracy_m=5)
    link.close()
    reached, needle, deadline, all_in = 0, b'"lat":52.0', time.monotonic() + 20, published
    pending = list(sockets)
    while pending and time.monotonic() < deadline:
        still = []
        for s in pending:
            s.settimeout(0.01)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                still.append(s)
                continue
            if needle in chunk:
                reached += 1
                all_in = time.perf_counter()
            else:
                still.append(s)
        pending = still
    for s in sockets:
        s.close()
    platform.stop_process("ingest-streams")
    return {"streams": len(sockets), "refused": refused, "open_seconds": open_seconds, "reached": reached,
            "fanout_ms": (all_in - published) * 1000, "healthz_p50": statistics.median(probe),
            "healthz_max": max(probe)}


# --- report ---------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def tracking_figures(drivers: int = 200, messages: int = 60000, rate: int = 5000, seconds: float = 20,
                     watchers: int = 20, streams: int = 3000) -> dict:
    """Runs the four measures on a platform of its own, prints them and returns
    {"messages", "drivers", "rates": {"drain"|"flow": {"bare", "1", "2"}}, "live": {...},
    "streams": {...} or None, "goals": [{"goal", "met"}]}."""
    limit = raise_file_limit()
    streams = min(streams, max(0, limit - 200))
    platform = Platform("tracking", GATEWAY_WORKERS="1", GATEWAY_CONNECTIONS=str(streams + 200))
    try:
        print(f"starting a bench platform (the services, 1 gateway worker, no ingest worker yet) on {platform.vhost}")
        platform.start(SERVICES)
        api = Api(platform.base)
        token = api.login(*ADMIN)
        fleet = seed(api, drivers)
        print(f"seeded {len(fleet)} drivers, each with an order in transit (sharing: exact)")
        engine = create_engine(platform.url("tracking"))
        rates, start = {}, datetime.now(timezone.utc) - timedelta(hours=3)
        for method in ("drain", "flow"):
            flow = method == "flow"
            rates[method] = {"bare": bare_rate(platform.amqp_uri, fleet, messages, flow)}
            for workers in (1, 2):
                start += timedelta(minutes=30)      # each run's positions newer than the last
                # keys as strings: they are the JSON's
                rates[method][str(workers)] = stored_rate(platform, engine, fleet, messages, workers, start, flow)
        print(f"\nmessages per run: {messages:,}; drivers: {drivers}; msgs/s (ratio to the bare consumer)")
        print(f"{'':<38}{'drain (queue filled first)':>28}{'flow (publisher running)':>28}")
        for label, key in (("bare pika consumer, acks per 1,000", "bare"), ("stored by 1 ingest worker", "1"),
                           ("stored by 2 ingest workers", "2")):
            cells = "".join(f"{rates[m][key]:>18,.0f} ({rates[m][key] / rates[m]['bare']:.2f})" for m in rates)
            print(f"{label:<38}{cells}", flush=True)
        live = publish_to_screen(platform, engine, token, fleet, rate, seconds, watchers)
        print(f"\npublish to screen at {live['sent_rate']:,}/s for {seconds:.0f} s, {watchers} watchers: "
              f"{live['events']} events, p50 {live['p50'] or 0:.0f} ms, p99 {live['p99'] or 0:.0f} ms; "
              f"stored {live['stored_rate']:,.0f}/s, {live['backlog']:,} left queued at the end\n"
              f"  of which: sent -> taken by the ingest worker p50 {live['to_ingest'][0] or 0:.0f} / p99 "
              f"{live['to_ingest'][1] or 0:.0f} ms; taken -> on screen p50 {live['to_screen'][0] or 0:.0f} / p99 "
              f"{live['to_screen'][1] or 0:.0f} ms", flush=True)
        held = hold_streams(platform, token, fleet, streams) if streams else None
        if held:
            print(f"streams held by one gateway worker: {held['streams']:,} open ({held['refused']} refused while "
                  f"opening, {held['open_seconds']:.1f} s); {held['reached']:,} showed the next position, the last "
                  f"{held['fanout_ms']:.0f} ms after it was published; /healthz meanwhile p50 "
                  f"{held['healthz_p50']:.1f} ms, max {held['healthz_max']:.1f} ms")
        engine.dispose()
    finally:
        platform.stop()

    one, best = rates["flow"]["1"], max(rates["flow"]["1"], rates["flow"]["2"])
    goals = [(f"goal >= {GOAL_RATE:,.0f} stored/s (1 worker, flow)", one >= GOAL_RATE),
             (f"goal >= {GOAL_SHARE:.0%} of the bare rate (1 worker, flow)", one / rates["flow"]["bare"] >= GOAL_SHARE),
             (f"goal publish-to-screen p99 < {GOAL_P99_MS:.0f} ms",
              live["p99"] is not None and live["p99"] < GOAL_P99_MS and live["backlog"] < rate),
             (f"floor >= {FLOOR_RATE:,.0f} stored/s", best >= FLOOR_RATE)]
    print()
    for text, ok in goals:
        print(f"{text + ':':<60} {verdict(ok)}")
    return {"messages": messages, "drivers": drivers, "rates": rates, "live": live, "streams": held,
            "streams_asked": streams, "goals": [{"goal": text, "met": ok} for text, ok in goals]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=60000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--streams", type=int, default=3000)
    args = parser.parse_args(argv)
    tracking_figures(args.drivers, args.messages, args.rate, args.seconds, args.watchers, args.streams)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
