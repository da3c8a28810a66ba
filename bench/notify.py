"""Notify benchmark: from an order's status change to the customer's inbox and to the partner's
webhook receiver, end to end, and whether anything was lost or delivered twice.

    python -m bench.notify [--rate 100] [--seconds 60] [--drain 120] [--settle 5] [--threads 32]
                           [--quick] [--json PATH] [--logs DIR]

Needs PostgreSQL (``TEST_DATABASE_URL`` or ``DATABASE_URL``) and ``rabbitmqctl``: it starts a
platform of its own (bench/platform.py: the five services and two gateway workers on a fresh
vhost and fresh databases) whose ``SMTP_URL`` points at an aiosmtpd server in this process and
whose webhooks may reach loopback over plain http. Through the public API an operator creates a
customer and invites a customer admin (the invite's link is read from the captured email and
accepted); that user turns on emails for submitted orders and registers a webhook for
``order.status_changed`` on a ThreadingHTTPServer in this process, which answers 200.

Then, for ``--seconds`` at ``--rate`` per second (paced by a scheduler thread, sent by a pool of
``--threads`` threads with a session each), the user creates orders already submitted: each one is
a status change (draft -> submitted) that must produce one email ("Order B000123 was submitted")
and one webhook (``order.status_changed``, ``data.status == "submitted"``).

t0 of a status change is the moment its ``POST /orders`` answered 201: that is when the change is
committed and known to the client, and what the platform promises from there on (an event in
the outbox, notify's decision, the queued email and delivery, the sends) is what is measured;
the time the API took to answer is reported apart. Latency = arrival at the SMTP server (end of
DATA) or at the receiver (request read) minus t0, both on this process's monotonic clock.

After the load it waits up to ``--drain`` seconds for every email and webhook, then ``--settle``
seconds more for late duplicates, and reports per channel: received, p50/p95/p99/max, lost (never
arrived), duplicate effects (one status change under two Message-IDs, or two webhook-ids) and
retries (the same Message-ID or webhook-id again: what at-least-once delivery allows, and what
Standard Webhooks receivers de-duplicate on). Baseline of the same run, measured before the load
from this process: 200 emails sent with smtplib straight to the same aiosmtpd (a connection
each, as notify sends them) and 200 POSTs with requests to the same receiver (a connection each,
as notify delivers them); the end-to-end p50 is printed beside these with the ratio.

To say where the time went it also prints, from notify's own records (``GET /admin/emails``,
``GET /webhooks/{id}/deliveries``: each row's ``created_at``), the split "201 -> row queued by
notify" (the event's way through the outbox and notify's handler) and "queued -> arrival" (the
send); the depth of notify's event queue sampled every second; what is still queued and what was
dead-lettered at the end; the CPU seconds each process used during load and drain; and any log
lines with ERROR or a traceback (``--logs DIR`` keeps the process logs).

Goals (the issue): 0 lost; duplicates only as Standard Webhooks retries with the same
webhook-id. Printed as MET / NOT MET, never asserted."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import smtplib
import statistics
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from bench.platform import ADMIN, Platform, PlatformError, raise_file_limit
from bench.tracking import Api
from services.common.config import SERVICES

PASSWORD = "copper-lantern-88-meadow"
BASELINE_SENDS = 200
REFERENCE = re.compile(r"\b([BW]\d{6})\b")
STOPS = [{"type": "pickup", "address": {"line1": "Quay 1", "city": "Rotterdam"}, "lat": 51.92, "lng": 4.47},
         {"type": "dropoff", "address": {"line1": "Dam 1", "city": "Amsterdam"}, "lat": 52.37, "lng": 4.89}]
ITEMS = [{"description": "Box", "quantity": 1, "weight_kg": "5"}]


# --- the two receivers, in this process ---------------------------------------------------------------
class Inbox:
    """aiosmtpd handler: every message with the moment its DATA ended; headers parsed at once,
    the whole message kept for the few that must be read (the invite)."""

    def __init__(self):
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self._headers = BytesHeaderParser(policy=default_policy)

    async def handle_DATA(self, server, session, envelope):
        mono, wall = time.monotonic(), time.time()
        head = self._headers.parsebytes(envelope.content)
        with self.lock:
            self.messages.append({"mono": mono, "wall": wall, "to": str(head["To"] or ""),
                                  "subject": str(head["Subject"] or ""), "message_id": str(head["Message-ID"] or ""),
                                  "event_id": head["X-Portal-Event-ID"], "raw": envelope.content})
        return "250 OK"

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.messages)

    def text_of(self, to: str, timeout: float = 60) -> str:
        """The plain text of the first email to ``to``, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.snapshot():
                if message["to"] == to:
                    parsed = BytesParser(policy=default_policy).parsebytes(message["raw"])
                    return parsed.get_body(preferencelist=("plain",)).get_content()
            time.sleep(0.2)
        raise PlatformError(f"no email to {to} within {timeout:.0f} s")


class Receiver:
    """A partner's endpoint on loopback: every POST with its arrival, ``webhook-id`` and JSON body;
    answers 200. HTTP/1.1, so a sender that keeps its connection may."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mono, wall = time.monotonic(), time.time()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with receiver.lock:
                    receiver.requests.append({"mono": mono, "wall": wall, "path": self.path,
                                              "webhook_id": self.headers.get("webhook-id"), "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256         # a listen backlog a real receiver would have
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- figures ------------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else None


def spread(values: list[float]) -> dict:
    return {"p50": pct(values, 0.50), "p95": pct(values, 0.95), "p99": pct(values, 0.99),
            "max": max(values) if values else None}


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def baseline(inbox: Inbox, smtp_port: int, receiver: Receiver) -> dict:
    """The same transports from this process with nothing of the platform in between."""
    smtp_times, http_times = [], []
    for n in range(BASELINE_SENDS):
        message = EmailMessage()
        message["From"], message["To"] = "bench@portal.example", "baseline@bench.example"
        message["Subject"] = f"Baseline {n}"
        message.set_content("A baseline message of about the size of a short notification.\n" * 8)
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        smtp_times.append((time.perf_counter() - started) * 1000)
    body = {"type": "baseline", "data": {"n": 0, "status": "submitted"}}
    for n in range(BASELINE_SENDS):
        started = time.perf_counter()
        requests.post(receiver.url + "/baseline", json=body, timeout=10,
                      headers={"webhook-id": f"baseline_{n}"}).raise_for_status()
        http_times.append((time.perf_counter() - started) * 1000)
    return {"smtp_p50": statistics.median(smtp_times), "http_p50": statistics.median(http_times)}


# --- set-up through the public API -------------------------------------------------------------------
def order_body(reference: str) -> dict:
    return {"kind": "delivery", "reference": reference, "submit": True, "stops": STOPS, "items": ITEMS}


def set_up(platform: Platform, inbox: Inbox, receiver: Receiver) -> tuple[Api, Api, str, str]:
    """An operator, a customer, its admin (invited, accepted, signed in) with emails about
    submissions on and a webhook for status changes. Returns (admin api, user api, user's email,
    webhook id)."""
    admin = Api(platform.base)
    admin.login(*ADMIN)
    customer = admin.call("POST", "/admin/customers", {"name": "Bench Notify Freight"})
    email = f"bench.{uuid.uuid4().hex[:8]}@customer.example"
    admin.call("POST", f"/admin/customers/{customer['id']}/invites", {"emails": [email], "role": "customer_admin"})
    link = re.search(r"accept-invite#token=(\S+)", inbox.text_of(email))
    if not link:
        raise PlatformError("the invite email holds no accept-invite link")
    Api(platform.base).call("POST", "/invites/accept", {"token": link[1], "name": "Bench Robin", "password": PASSWORD})
    user = Api(platform.base)
    user.login(email, PASSWORD)
    prefs = user.call("PUT", "/me/notification-preferences", {"order.submitted": {"email": True}})
    if prefs.get("order.submitted", {}).get("email") is not True:
        raise PlatformError(f"the email preference did not stick: {prefs}")
    hook = user.call("POST", "/webhooks", {"url": receiver.url + "/hook", "events": ["order.status_changed"]})
    return admin, user, email, hook["id"]


def warm_up(user: Api, inbox: Inbox, receiver: Receiver, email: str, timeout: float = 60) -> float:
    """One order (W000000) through the whole path before the load: every service has heard of the
    customer and the user, and the path works. Returns its seconds to both arrivals."""
    order = user.call("POST", "/orders", order_body("W000000"))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        mailed = any(m["to"] == email and "W000000" in m["subject"] for m in inbox.snapshot())
        hooked = any(r["path"] == "/hook" and (r["body"] or {}).get("data", {}).get("order_id") == order["id"]
                     for r in receiver.snapshot())
        if mailed and hooked:
            return time.monotonic() - started
        time.sleep(0.2)
    raise PlatformError(f"the warm-up order's email ({'in' if mailed else 'missing'}) and webhook "
                        f"({'in' if hooked else 'missing'}) did not both arrive within {timeout:.0f} s")


# --- the load -----------------------------------------------------------------------------------------
def load(base: str, token: str, rate: float, seconds: float, threads: int) -> dict:
    """``rate`` submitted orders a second for ``seconds``: a scheduler thread hands each its due
    moment to a pool of ``threads`` threads; t0 of each is when its 201 came back."""
    local = threading.local()
    sent: dict[str, dict] = {}
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def submit(n: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
        reference = f"B{n:06d}"
        started = time.monotonic()
        try:
            response = session.post(base + "/api/v1/orders", json=order_body(reference), timeout=30)
        except requests.RequestException as exc:
            with lock:
                errors[type(exc).__name__] += 1
            return
        mono, wall = time.monotonic(), time.time()
        with lock:
            if response.status_code == 201:
                sent[reference] = {"order_id": response.json()["id"], "t0": mono, "t0_wall": wall,
                                   "api_ms": (mono - started) * 1000, "started": started}
            else:
                errors[str(response.status_code)] += 1

    count = int(rate * seconds)
    behind = 0.0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        begun = time.monotonic()
        for n in range(count):
            due = begun + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                behind = max(behind, -wait)
            pool.submit(submit, n)
        scheduled = time.monotonic() - begun
    finished = time.monotonic()
    answered = [s["t0"] for s in sent.values()]
    window = (max(answered) - begun) if answered else finished - begun
    return {"attempted": count, "sent": sent, "errors": dict(errors), "begun": begun,
            "scheduled_seconds": scheduled, "achieved_rate": len(sent) / window if window > 0 else 0.0,
            "scheduler_behind_ms": behind * 1000}


def tally(inbox: Inbox, receiver: Receiver, email: str, sent: dict[str, dict]) -> dict:
    """Per channel: the first arrival of each status change, lost ones, duplicate effects, retries."""
    by_order = {s["order_id"]: ref for ref, s in sent.items()}
    mails: dict[str, list[dict]] = defaultdict(list)
    for m in inbox.snapshot():
        found = REFERENCE.search(m["subject"])
        if m["to"] == email and found and found[1] in sent:
            mails[found[1]].append(m)
    hooks: dict[str, list[dict]] = defaultdict(list)
    other_hooks = 0
    for r in receiver.snapshot():
        if r["path"] != "/hook":
            continue
        body = r["body"] or {}
        data = body.get("data") or {}
        ref = by_order.get(data.get("order_id"))
        if body.get("type") == "order.status_changed" and data.get("status") == "submitted" and ref:
            hooks[ref].append(r)
        elif ref or data.get("order_id") is None:
            other_hooks += 1

    def channel(arrivals: dict[str, list[dict]], key: str) -> dict:
        latencies, lost, dup_effects, retries, extra_ids, last = [], [], 0, 0, 0, None
        for ref, s in sent.items():
            got = arrivals.get(ref)
            if not got:
                lost.append(ref)
                continue
            first = min(a["mono"] for a in got)
            last = first if last is None else max(last, first)
            latencies.append((first - s["t0"]) * 1000)
            ids = [a[key] for a in got]
            distinct = set(ids)
            if len(distinct) > 1:
                dup_effects += 1
                extra_ids += len(distinct) - 1
            retries += len(ids) - len(distinct)
        # Delivered per second, from the first change made to the last arrival: what the whole
        # path sustained (notify's rate when its queue grew, the asked rate when it kept up).
        span = last - min(s["t0"] for s in sent.values()) if last is not None else 0.0
        return {"received": len(sent) - len(lost), "messages": sum(len(v) for v in arrivals.values()),
                "delivered_per_s": (len(sent) - len(lost)) / span if span > 0 else None,
                "lost": len(lost), "lost_refs": lost[:20], "duplicate_effects": dup_effects,
                "extra_ids": extra_ids, "retries": retries, "latency_ms": spread(latencies), "_latencies": latencies}

    return {"email": channel(mails, "message_id"), "webhook": channel(hooks, "webhook_id"),
            "other_webhooks": other_hooks}


def drain(inbox: Inbox, receiver: Receiver, email: str, sent: dict[str, dict], seconds: float,
          settle: float) -> tuple[dict, float]:
    """Polls every 0.5 s until every status change has its email and its webhook (or ``seconds``
    passed), then waits ``settle`` seconds more for late duplicates."""
    started = time.monotonic()
    while True:
        figures = tally(inbox, receiver, email, sent)
        if (figures["email"]["lost"] == 0 and figures["webhook"]["lost"] == 0) or \
                time.monotonic() - started > seconds:
            break
        time.sleep(0.5)
    waited = time.monotonic() - started
    time.sleep(settle)
    return tally(inbox, receiver, email, sent), waited


# --- the platform's own view --------------------------------------------------------------------------
def notify_queues(amqp_uri: str) -> dict[str, int | None]:
    """Messages waiting in notify's event queue and parked in its dead-letter queue (events that
    failed ``EVENT_DELIVERY_LIMIT`` times: what notify never did)."""
    import pika

    from services.common.topology import HandlerQueue

    spec = HandlerQueue("notify", "log_event", ())
    found: dict[str, int | None] = {}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        for label, name in (("waiting", spec.name), ("dead_lettered", spec.name + ".dlq")):
            channel = connection.channel()
            try:
                found[label] = channel.queue_declare(name, passive=True).method.message_count
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                found[label] = None
    finally:
        connection.close()
    return found


def all_pages(api: Api, path: str) -> list[dict]:
    items, page = [], 1
    while True:
        got = api.call("GET", f"{path}{'&' if '?' in path else '?'}per_page=200&page={page}")
        items += got["items"]
        if not got["items"] or len(items) >= got["total"]:
            return items
        page += 1


def stages(admin: Api, user: Api, email: str, hook_id: str, sent: dict[str, dict], inbox: Inbox,
           receiver: Receiver) -> dict:
    """Where the time went, from notify's own records: the 201 answer -> the email / delivery row
    written by notify's event handler (``created_at``: the event reached notify and was decided)
    -> its arrival here. Wall clocks of the same machine."""
    from datetime import datetime

    def at(iso: str) -> float:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

    first_mail: dict[str, float] = {}
    for m in inbox.snapshot():
        found = REFERENCE.search(m["subject"])
        if m["to"] == email and found and found[1] in sent:
            first_mail[found[1]] = min(first_mail.get(found[1], m["wall"]), m["wall"])
    mail_decided, mail_sent = [], []
    for row in all_pages(admin, f"/admin/emails?to={email}"):
        found = REFERENCE.search(row["subject"])
        if found and found[1] in sent and found[1] in first_mail:
            mail_decided.append((at(row["created_at"]) - sent[found[1]]["t0_wall"]) * 1000)
            mail_sent.append((first_mail[found[1]] - at(row["created_at"])) * 1000)
    by_order = {s["order_id"]: ref for ref, s in sent.items()}
    first_hook: dict[str, tuple[float, str]] = {}
    for r in receiver.snapshot():
        ref = by_order.get(((r["body"] or {}).get("data") or {}).get("order_id"))
        if r["path"] == "/hook" and ref and r["webhook_id"] not in first_hook:
            first_hook[r["webhook_id"]] = (r["wall"], ref)
    hook_decided, hook_sent = [], []
    for row in all_pages(user, f"/webhooks/{hook_id}/deliveries"):
        if row["msg_id"] in first_hook:
            wall, ref = first_hook[row["msg_id"]]
            hook_decided.append((at(row["created_at"]) - sent[ref]["t0_wall"]) * 1000)
            hook_sent.append((wall - at(row["created_at"])) * 1000)
    return {"email": {"to_queued_ms": spread(mail_decided), "queued_to_arrival_ms": spread(mail_sent)},
            "webhook": {"to_queued_ms": spread(hook_decided), "queued_to_arrival_ms": spread(hook_sent)}}


def cpu_seconds(platform: Platform) -> dict[str, float]:
    """CPU seconds used so far per platform process (with its children: the supervised service),
    PostgreSQL, RabbitMQ and this bench process, from /proc (Linux); {} elsewhere."""
    tick = os.sysconf("SC_CLK_TCK")
    roots = {proc.pid: name for name, proc in platform.procs.items()}
    stats: dict[int, tuple[int, str, float]] = {}
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        stats[pid] = (int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / tick)
    used: dict[str, float] = defaultdict(float)
    for pid, (ppid, comm, seconds) in stats.items():
        owner, seen = pid, 0
        while owner not in roots and owner in stats and seen < 20:
            owner, seen = stats[owner][0], seen + 1
        if owner in roots:
            used[roots[owner]] += seconds
        elif comm.startswith("postgres"):
            used["postgres"] += seconds
        elif comm.startswith("beam"):
            used["rabbitmq"] += seconds
        elif pid == os.getpid():
            used["bench (client, SMTP server, receiver)"] += seconds
    return dict(used)


class QueueWatch:
    """Samples the depth of notify's event queue every second while it runs: a backlog there
    means notify is behind; none, with late arrivals, means the events came late."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri, self.samples, self.stop_event = amqp_uri, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import pika

        from services.common.topology import HandlerQueue

        name = HandlerQueue("notify", "log_event", ()).name
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
            channel = connection.channel()
            while not self.stop_event.is_set():
                self.samples.append(channel.queue_declare(name, passive=True).method.message_count)
                self.stop_event.wait(1)
            connection.close()
        except Exception as exc:           # a figure for information: say so, go on
            print(f"(the queue watch stopped: {exc})")

    def stop(self) -> dict:
        self.stop_event.set()
        self.thread.join(10)
        return {"max": max(self.samples) if self.samples else None,
                "mean": statistics.fmean(self.samples) if self.samples else None}


def postgres_room(server: str) -> str:
    """PostgreSQL's connection limit and what others use of it now: at the default DB_POOL_SIZE
    each service process may open 2 x DB_POOL_SIZE connections."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    engine = create_engine(make_url(server).set(database="postgres"), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            limit = int(conn.scalar(text("SHOW max_connections")))
            used = conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
    finally:
        engine.dispose()
    return f"PostgreSQL max_connections {limit}, {used} client connections open before the start"


# --- logs when something went wrong ------------------------------------------------------------------
def tail_logs(platform: Platform, names=("notify", "gateway", "orders"), lines: int = 60) -> None:
    for name in names:
        path = platform.tmp / f"{name}.log"
        if path.exists():
            text = path.read_text(errors="replace").splitlines()
            print(f"\n--- last {min(lines, len(text))} lines of {name}.log ---")
            print("\n".join(text[-lines:]))


def keep_logs(platform: Platform, where: str) -> None:
    target = Path(where)
    target.mkdir(parents=True, exist_ok=True)
    for path in platform.tmp.glob("*.log"):
        shutil.copy(path, target / path.name)
    print(f"process logs copied to {target}")


def log_trouble(platform: Platform) -> dict[str, int]:
    """Lines that say something went wrong, per process log (the platform logs at WARNING)."""
    found = {}
    for path in sorted(platform.tmp.glob("*.log")):
        text = path.read_text(errors="replace")
        count = sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line
                    or '"level": "ERROR"' in line or "CRITICAL" in line)
        if count:
            found[path.stem] = count
    return found


# --- report -------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report(args, run: dict, figures: dict, split: dict, base: dict, queued: int | None, queues: dict,
           waited: float, warm: float) -> None:
    sent = run["sent"]
    api = [s["api_ms"] for s in sent.values()]
    errors = sum(run["errors"].values())
    print(f"\nstatus changes (orders created submitted): {len(sent):,} of {run['attempted']:,} attempted at "
          f"{args.rate:g}/s for {args.seconds:g} s; achieved {run['achieved_rate']:.1f}/s; HTTP errors {errors}"
          + (f" {run['errors']}" if errors else ""))
    print(f"  POST /orders answered in p50 {ms(pct(api, 0.5))} / p99 {ms(pct(api, 0.99))} / max "
          f"{ms(max(api) if api else None)} ms"
          f"; scheduler at most {run['scheduler_behind_ms']:.0f} ms behind; warm-up order arrived in {warm:.1f} s")
    print(f"  drained {waited:.1f} s after the last answer (+{args.settle:g} s settle); notify's view then: "
          f"emails still queued {'-' if queued is None else queued}, events waiting {queues.get('waiting', '-')}, "
          f"events dead-lettered {queues.get('dead_lettered', '-')}")
    print(f"\n{'latency from the 201 answer':<28}{'received':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'lost':>6}{'dup effects':>13}{'retries':>9}")
    for label, key in (("(a) email at the SMTP server", "email"), ("(b) webhook at the receiver", "webhook")):
        c = figures[key]
        lat = c["latency_ms"]
        print(f"{label:<28}{c['received']:>10,}{ms(lat['p50']):>9}{ms(lat['p95']):>9}{ms(lat['p99']):>9}"
              f"{ms(lat['max']):>9}{c['lost']:>6}{c['duplicate_effects']:>13}{c['retries']:>9}")
        if c["lost"]:
            print(f"    lost, first ones: {', '.join(c['lost_refs'])}")
    for key in ("email", "webhook"):
        a, b = split[key]["to_queued_ms"], split[key]["queued_to_arrival_ms"]
        print(f"  {key:<8} of which: 201 -> row queued by notify p50 {ms(a['p50'])} / p99 {ms(a['p99'])} ms; "
              f"queued -> arrival p50 {ms(b['p50'])} / p99 {ms(b['p99'])} ms")
    print("  dup effects: status changes that arrived under more than one Message-ID / webhook-id; "
          "retries: the same Message-ID / webhook-id again")
    if figures["other_webhooks"]:
        print(f"  other webhook requests at /hook (not a submitted status change of a bench order): "
              f"{figures['other_webhooks']}")
    e50, w50 = figures["email"]["latency_ms"]["p50"], figures["webhook"]["latency_ms"]["p50"]
    print(f"\nbaseline, the bare transports from this process ({BASELINE_SENDS} each, a connection each):")
    print(f"  smtplib send to the same aiosmtpd   p50 {base['smtp_p50']:.1f} ms; end-to-end email p50 "
          f"{ms(e50)} ms" + (f" = {e50 / base['smtp_p50']:.0f}x" if e50 else ""))
    print(f"  requests.post to the same receiver  p50 {base['http_p50']:.1f} ms; end-to-end webhook p50 "
          f"{ms(w50)} ms" + (f" = {w50 / base['http_p50']:.0f}x" if w50 else ""))
    lost = figures["email"]["lost"] + figures["webhook"]["lost"]
    dups = figures["email"]["duplicate_effects"] + figures["webhook"]["duplicate_effects"]
    busy = (queued or 0) + (queues.get("waiting") or 0)
    notes = ([f"of the {len(sent):,} changes made; {errors} requests failed and are not counted"] if errors else []) + \
        ([f"notify still had {busy:,} emails/events queued after the {args.drain:g} s drain: some are late, "
          f"not necessarily lost"] if lost and busy else []) + \
        ([f"{queues['dead_lettered']:,} events dead-lettered by notify"] if queues.get("dead_lettered") else [])
    print(f"\ngoal 0 lost: {verdict(lost == 0 and len(sent) > 0)}" + (f" ({'; '.join(notes)})" if notes else ""))
    print(f"goal no duplicate effects: {verdict(dups == 0)}")


def notify_figures(rate: float = 100, seconds: float = 60, drain_seconds: float = 120, settle: float = 5,
                   threads: int = 32, logs: str | None = None) -> dict:
    """Runs the whole measure on a platform of its own, prints the report and returns the figures
    (what ``--json`` writes)."""
    from types import SimpleNamespace

    args = SimpleNamespace(rate=rate, seconds=seconds, drain=drain_seconds, settle=settle, threads=threads,
                           logs=logs)
    raise_file_limit()

    from aiosmtpd.controller import Controller

    from bench.platform import _free_port

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port(), ready_timeout=10)
    smtp.start()
    receiver = Receiver()
    platform = Platform("notify", WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8", WEBHOOK_ALLOW_HTTP="1",
                        GATEWAY_WORKERS="2")
    platform.env["SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}"     # Platform drops any inherited one
    print(f"bench.notify: {args.rate:g} status changes/s for {args.seconds:g} s; SMTP server 127.0.0.1:{smtp.port}, "
          f"webhook receiver {receiver.url}; platform on {platform.vhost}", flush=True)
    try:
        print(postgres_room(platform.database), flush=True)
        platform.start(SERVICES)
        admin, user, email, hook_id = set_up(platform, inbox, receiver)
        warm = warm_up(user, inbox, receiver, email)
        print(f"set up: customer admin {email} (emails on order.submitted), webhook {hook_id}; warm-up order "
              f"through in {warm:.1f} s", flush=True)
        base = baseline(inbox, smtp.port, receiver)
        print(f"baseline: smtplib p50 {base['smtp_p50']:.1f} ms, requests.post p50 {base['http_p50']:.1f} ms; "
              f"loading ...", flush=True)
        token = user.session.headers["Authorization"].split(" ", 1)[1]
        cpu_before, cpu_started = cpu_seconds(platform), time.monotonic()
        watch = QueueWatch(platform.amqp_uri)
        run = load(platform.base, token, args.rate, args.seconds, args.threads)
        print(f"load done: {len(run['sent']):,} answered 201, {sum(run['errors'].values())} errors; draining ...",
              flush=True)
        figures, waited = drain(inbox, receiver, email, run["sent"], args.drain, args.settle)
        cpu_after, cpu_window = cpu_seconds(platform), time.monotonic() - cpu_started
        backlog = watch.stop()
        cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
        queued = admin.call("GET", "/admin/emails?status=queued&per_page=1").get("total")
        queues = notify_queues(platform.amqp_uri)
        split = stages(admin, user, email, hook_id, run["sent"], inbox, receiver)
        trouble = log_trouble(platform)
        report(args, run, figures, split, base, queued, queues, waited, warm)
        print(f"notify's event queue during the load and drain: at most {backlog['max']} messages waiting "
              f"(mean {backlog['mean'] or 0:.0f}, sampled every second)")
        if cpu:
            print(f"\nCPU seconds used from the load's start to the end of the drain ({cpu_window:.0f} s, "
                  f"{os.cpu_count()} CPUs): " + ", ".join(f"{k} {v:.0f}" for k, v in
                                                         sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= 0.5))
        if trouble:
            print(f"\nlog lines with ERROR/Traceback, per process: {trouble}")
            tail_logs(platform, names=tuple(trouble), lines=40)
        out = {"rate": args.rate, "seconds": args.seconds, "attempted": run["attempted"],
               "submitted": len(run["sent"]), "achieved_rate": run["achieved_rate"], "http_errors": run["errors"],
               "api_ms": spread([s["api_ms"] for s in run["sent"].values()]), "drain_seconds": waited,
               "emails_queued_after": queued, "notify_queues_after": queues, "stages": split, "cpu_seconds": cpu,
               "cpu_window_seconds": cpu_window,
               "notify_event_backlog": backlog, "baseline": base, "log_trouble": trouble,
               **{k: {f: v for f, v in figures[k].items() if not f.startswith("_")} for k in ("email", "webhook")}}
    except BaseException:
        tail_logs(platform)
        raise
    finally:
        if args.logs:
            keep_logs(platform, args.logs)
        platform.stop()
        smtp.stop()
        receiver.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notify",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--rate", type=float, default=100, help="status changes per second")
    parser.add_argument("--seconds", type=float, default=60, help="how long the load runs")
    parser.add_argument("--drain", type=float, default=120, help="seconds to wait for the last arrivals")
    parser.add_argument("--settle", type=float, default=5, help="seconds more, for late duplicates")
    parser.add_argument("--threads", type=int, default=32, help="client threads sending the orders")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 s at 50/s")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    parser.add_argument("--logs", metavar="DIR", help="copy the platform's process logs here before it is torn down")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate, args.seconds = 50, 20
    if args.rate <= 0 or args.seconds <= 0 or args.threads < 1:
        parser.error("--rate, --seconds and --threads must be positive")
    out = notify_figures(args.rate, args.seconds, args.drain, args.settle, args.threads, args.logs)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
