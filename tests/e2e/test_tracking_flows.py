"""Tracking over the real bus and HTTP: a driver app (the SDK) drives a route with stops of two
customers; each sees what its sharing level allows, live over SSE; proof of delivery reaches
the order; tracking links; forged messages are dead-lettered; a crashed ingest worker loses
nothing."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pika
import pytest
import requests

from services.common.topology import INGEST_DEAD_QUEUE, INGEST_QUEUE
from services.tracking.driver import DriverClient
from tests.conftest import PG_SERVER, wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200


def customer(stack, mailbox, admin_token, sharing):
    made = post(stack, "/api/v1/admin/customers", {"name": f"Track {sharing} {uuid.uuid4().hex[:6]}",
                                                    "location_sharing": sharing}, admin_token).json()
    token = invite_and_accept(stack, mailbox, admin_token, made["id"], f"t.{uuid.uuid4().hex[:6]}@{sharing}.example")
    return {"id": made["id"], "token": token}


def order(stack, token, lat, lng):
    body = {"submit": True, "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}, "lat": 53.80, "lng": -1.55},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"}, "lat": lat, "lng": lng,
         "contact": {"name": "Mo Dock", "phone": "+44 1482 111222"}}]}
    made = post(stack, "/api/v1/orders", body, token)
    assert made.status_code == 201, made.text
    return made.json()


def tracking(stack, token, order_id):
    return get(stack, f"/api/v1/orders/{order_id}/tracking", token).json()


def route_with(stack, admin_token, orders):
    driver = post(stack, "/api/v1/admin/drivers", {"name": f"Tess {uuid.uuid4().hex[:4]}"}, admin_token).json()

    def made():
        answer = post(stack, "/api/v1/admin/routes", {"name": "Tracked run", "day": date.today().isoformat(),
                                                       "driver_id": driver["id"]}, admin_token)
        return answer.json() if answer.status_code == 201 else None
    route = wait_for(made, timeout=20, what="orders to learn the new driver")
    assert post(stack, f"/api/v1/admin/routes/{route['id']}/orders", {"order_ids": [o["id"] for o in orders]},
                admin_token).status_code == 200
    assert post(stack, f"/api/v1/admin/routes/{route['id']}/start", None, admin_token).status_code == 200
    return driver


class Stream:
    """An SSE client in a (green) thread, keeping every event it reads."""

    def __init__(self, url, headers):
        self.events, self.response = [], requests.get(url, headers=headers, stream=True, timeout=(5, 60))
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        event = {}
        try:
            for line in self.response.iter_lines():
                if not line:
                    if event:
                        self.events.append(event)
                    event = {}
                elif line.startswith(b"id:"):
                    event["id"] = int(line[3:])
                elif line.startswith(b"event:"):
                    event["event"] = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    event["data"] = json.loads(line[5:])
        except (requests.RequestException, ValueError, AttributeError):
            return

    def views(self):
        return [e["data"] for e in self.events if e.get("event") == "tracking"]

    def close(self):
        # Shut the socket under the reader (closing the response from here while the reader
        # is inside a read raises); the reader then sees the end of the stream and stops.
        connection = getattr(self.response.raw, "connection", None)
        if connection is not None and connection.sock is not None:
            connection.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        self.response.close()


def dead_letters(amqp_uri):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        return connection.channel().queue_declare(INGEST_DEAD_QUEUE, passive=True).method.message_count
    finally:
        connection.close()


def test_a_route_driven_live_under_each_customers_sharing_level(stack, mailbox, admin_token, amqp_uri):
    near, far = customer(stack, mailbox, admin_token, "approximate"), customer(stack, mailbox, admin_token, "exact")
    first, second = order(stack, near["token"], 53.74, -0.33), order(stack, far["token"], 53.75, -0.40)
    driver = route_with(stack, admin_token, [first, second])
    wait_for(lambda: tracking(stack, far["token"], second["id"]).get("status") == "in_transit", timeout=20,
             what="tracking to learn the route")
    stream = Stream(f"{stack.base}/api/v1/orders/{second['id']}/stream", auth(far["token"]))
    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)
    try:
        app.position(53.7952, -1.5491, speed_mps=12, heading=90, accuracy_m=6)
        seen_near = wait_for(lambda: tracking(stack, near["token"], first["id"])["location"], timeout=15,
                             what="the first customer to see the driver")
        assert seen_near["precision_m"] >= 1000 and (seen_near["lat"], seen_near["lng"]) != (53.7952, -1.5491)
        eta = tracking(stack, near["token"], first["id"])["stops"]
        assert eta[0]["eta"] and eta[0]["eta"] < eta[1]["eta"]
        # The driver serves the other customer's stops first: the second customer sees no driver.
        assert tracking(stack, far["token"], second["id"])["location"] is None
        other = get(stack, f"/api/v1/orders/{second['id']}/stream", near["token"], stream=True)
        assert other.status_code == 404        # nor does another customer see this order at all
        for stop in get(stack, f"/api/v1/orders/{first['id']}", near["token"]).json()["stops"]:
            app.arrived(first["id"], stop["id"])
            app.completed(first["id"], stop["id"], recipient_name="Mo Dock", photos=[JPEG] if stop["type"] == "dropoff" else [])
        wait_for(lambda: get(stack, f"/api/v1/orders/{first['id']}", near["token"]).json()["status"] == "delivered",
                 timeout=20, what="the first order to be delivered")
        kinds = [d["kind"] for d in get(stack, f"/api/v1/orders/{first['id']}/documents", near["token"]).json()]
        assert kinds == ["pod_photo"]
        # Now the second customer's goods are next: it sees the driver, exactly, live.
        sent = time.time()
        app.position(53.7001, -0.9001, speed_mps=20, heading=80, accuracy_m=5)
        live = wait_for(lambda: next((v for v in stream.views() if v["location"] and v["location"]["lat"] == 53.7001),
                                     None), timeout=10, what="the position on the live stream")
        assert time.time() - sent < 10 and live["location"]["precision_m"] == 5
        versions = [e["id"] for e in stream.events if "id" in e]
        assert versions == sorted(versions)
        # Resuming with the last event id sends only what is newer.
        resumed = Stream(f"{stack.base}/api/v1/orders/{second['id']}/stream",
                         {**auth(far["token"]), "Last-Event-ID": str(versions[-1])})
        app.position(53.7101, -0.8001, speed_mps=20, heading=80, accuracy_m=5)
        wait_for(lambda: resumed.views(), timeout=10, what="the resumed stream")
        assert all(v["version"] > versions[-1] for v in resumed.views())
        resumed.close()
        # A tracking link shows status, ETAs and location only; revoked, it is gone.
        link = post(stack, f"/api/v1/orders/{second['id']}/tracking-links", {"label": "reception"}, far["token"]).json()
        public = requests.get(f"{stack.base}/api/v1/public/track/{link['token']}", timeout=10).json()
        assert set(public) == {"status", "version", "stops", "location"} and public["location"]["lat"] == 53.7101
        assert "Mo Dock" not in json.dumps(public) and second["reference"] not in json.dumps(public)
        page = requests.get(link["url"], timeout=10)
        assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert requests.delete(f"{stack.base}/api/v1/tracking-links/{link['id']}", headers=auth(near["token"]),
                               timeout=10).status_code == 404
        assert requests.delete(f"{stack.base}/api/v1/tracking-links/{link['id']}", headers=auth(far["token"]),
                               timeout=10).status_code == 204
        assert requests.get(f"{stack.base}/api/v1/public/track/{link['token']}", timeout=10).status_code == 404
        # The operator turns the customer's sharing off: the location goes, everywhere.
        assert requests.patch(f"{stack.base}/api/v1/admin/customers/{far['id']}", json={"location_sharing": "none"},
                              headers=auth(admin_token), timeout=10).status_code == 200
        wait_for(lambda: tracking(stack, far["token"], second["id"])["location"] is None, timeout=15,
                 what="the sharing level to apply")
        for stop in get(stack, f"/api/v1/orders/{second['id']}", far["token"]).json()["stops"]:
            app.completed(second["id"], stop["id"], recipient_name="Front desk")
        wait_for(lambda: any(e.get("event") == "end" for e in stream.events), timeout=20,
                 what="the stream to end after delivery")
        assert stream.views()[-1]["status"] == "delivered" and stream.views()[-1]["location"] is None
    finally:
        stream.close()
        app.close()


def test_forged_and_malformed_driver_messages_are_dead_lettered_and_counted(stack, admin_token, amqp_uri):
    before = dead_letters(amqp_uri)
    counted = get(stack, "/api/v1/admin/tracking/stats", admin_token).json()["rejected_total"]
    driver = post(stack, "/api/v1/admin/drivers", {"name": "Mallory"}, admin_token).json()
    other = post(stack, "/api/v1/admin/drivers", {"name": "Victim"}, admin_token).json()
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    now = datetime.now(timezone.utc)

    def send(driver_id, body, credential=driver["credential"]):
        channel.basic_publish("tracking.driver", f"driver.{driver_id}.location",
                              body if isinstance(body, bytes) else json.dumps(body).encode(),
                              pika.BasicProperties(delivery_mode=2, headers={"credential": credential}))
    send(driver["id"], b"\x00not json")
    send(driver["id"], {"lat": 12, "lng": 500, "recorded_at": now.isoformat()})
    send(driver["id"], {"lat": 12, "lng": 5, "recorded_at": (now + timedelta(hours=2)).isoformat()})
    send(other["id"], {"lat": 12, "lng": 5, "recorded_at": now.isoformat()})                 # posing as another
    send(driver["id"], {"lat": 12, "lng": 5, "recorded_at": now.isoformat()}, credential="drv_0000_forged")
    send(driver["id"], {"lat": 12, "lng": 5, "recorded_at": now.isoformat()})                # the one good one
    connection.close()
    wait_for(lambda: dead_letters(amqp_uri) - before == 5, timeout=20, what="five dead letters")
    stats = get(stack, "/api/v1/admin/tracking/stats", admin_token).json()
    assert stats["rejected_total"] - counted == 5
    assert {"bad_json", "out_of_range", "future_timestamp", "wrong_driver", "bad_credential"} <= set(stats["rejected"])
    positions = get(stack, "/api/v1/admin/drivers/positions", admin_token).json()
    assert [p["lat"] for p in positions if p["driver_id"] == driver["id"]] == [12]
    assert stack.procs["tracking-ingest"].poll() is None          # the consumer never crashed


def test_a_killed_ingest_worker_loses_no_position(stack, admin_token, amqp_uri):
    """A batch held by a worker killed before its commit is redelivered to the next worker."""
    if not PG_SERVER:
        pytest.skip("needs PostgreSQL (a table lock holds the batch in flight)")
    import psycopg2

    driver = post(stack, "/api/v1/admin/drivers", {"name": "Crash Test"}, admin_token).json()
    lock = psycopg2.connect(stack.env["DATABASE_URL"] + "_tracking")
    cursor = lock.cursor()
    cursor.execute("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    try:
        for n in range(30):
            app.position(50 + n / 100, 1, recorded_at=start + timedelta(seconds=n))
        assert app.link.flush(20)

        def taken():   # delivered to the worker, which is stuck on the lock, unacked
            connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
            try:
                return connection.channel().queue_declare(INGEST_QUEUE, passive=True).method.message_count == 0
            finally:
                connection.close()
        wait_for(taken, timeout=20, what="the worker to take the batch")
        supervisor = stack.procs["tracking-ingest"].pid
        worker = int(subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout.split()[0])
        os.kill(worker, signal.SIGKILL)
    finally:
        lock.rollback()
        lock.close()
        app.close()
    wait_for(lambda: [p for p in get(stack, "/api/v1/admin/drivers/positions", admin_token).json()
                      if p["driver_id"] == driver["id"] and p["lat"] == 50.29], timeout=60,
             what="the restarted worker to store the batch")
    import psycopg2 as pg

    with pg.connect(stack.env["DATABASE_URL"] + "_tracking") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM positions WHERE driver_id = %s", (driver["id"],))
        assert cur.fetchone()[0] == 30


def test_the_ingest_worker_comes_back_when_the_broker_drops_its_connection(stack, admin_token, amqp_uri):
    from urllib.parse import unquote, urlparse

    vhost = unquote(urlparse(amqp_uri).path[1:])
    driver = post(stack, "/api/v1/admin/drivers", {"name": "Reconnect"}, admin_token).json()
    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)

    def latest():
        return [p["lat"] for p in get(stack, "/api/v1/admin/drivers/positions", admin_token).json()
                if p["driver_id"] == driver["id"]]
    try:
        app.position(10, 10)
        wait_for(lambda: latest() == [10], timeout=20, what="the first position")
        listing = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "vhost", "client_properties",
                                  "--no-table-headers"], capture_output=True, text=True, timeout=60).stdout
        pids = [line.split("\t", 1)[0] for line in listing.splitlines()
                if f"\t{vhost}\t" in line and '"connection_name","tracking-ingest-' in line]
        assert pids, "the ingest worker's connection was not found"
        for pid in pids:
            subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "closed by the e2e suite"],
                           check=True, capture_output=True, timeout=60)
        app.position(11, 11)
        wait_for(lambda: latest() == [11], timeout=30, what="the position sent after the drop")
        assert stack.procs["tracking-ingest"].poll() is None
    finally:
        app.close()
