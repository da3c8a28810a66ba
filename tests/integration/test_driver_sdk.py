"""The driver SDK on the real RabbitMQ: the exact wire format the tracking service consumes,
many messages confirmed over one link, nothing lost when the broker drops the connection, and
back-pressure when the broker stops confirming. Consumers are plain pika BlockingConnections on
queues of our own, bound to ``driver.<random id>.#`` and deleted afterwards."""
import base64
import json
import random
import re
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import pika
import pytest

from services.tracking.driver import EXCHANGE, DriverClient, DriverLink, DriverLinkError
from services.tracking.driver.fleet import photo_jpeg, signature_png
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
CREDENTIAL = "drv_abcd1234_" + "s" * 43


@pytest.fixture
def broker(amqp_uri):
    """A BlockingConnection channel and a factory of test queues bound to one driver's keys."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    made: list[str] = []

    def queue_for(driver_id: str, **arguments) -> str:
        name = f"test-driver-{uuid.uuid4().hex[:10]}"
        channel.queue_declare(name, durable=True, arguments=arguments or None)
        channel.queue_bind(name, EXCHANGE, routing_key=f"driver.{driver_id}.#")
        made.append(name)
        return name

    queue_for.channel = channel
    yield queue_for
    for name in made:
        channel.queue_delete(name)
    connection.close()


@pytest.fixture
def links(amqp_uri):
    made: list[DriverLink] = []

    def make(**options) -> DriverLink:
        link = DriverLink(amqp_uri, connection_name=f"test-driver-link-{uuid.uuid4().hex[:8]}", **options)
        made.append(link)
        assert link.wait_connected(15), "the link never connected"
        return link

    yield make
    for link in made:
        link.close(timeout=2)


def take(channel, queue: str, count: int, timeout: float = 30.0, ids: set[str] | None = None) -> list:
    """Consume until ``count`` messages (or every one of ``ids``) arrived, or fail at ``timeout``."""
    got, seen = [], set()
    deadline = time.monotonic() + timeout
    for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.2):
        if method is not None:
            got.append((method, properties, body))
            seen.add(properties.message_id)
        if (ids is not None and ids <= seen) or (ids is None and len(got) >= count):
            break
        if time.monotonic() > deadline:
            break
    channel.cancel()
    return got


def driver_id() -> str:
    return uuid.uuid4().hex[:12]


def test_positions_and_stop_reports_have_the_wire_format(broker, links):
    me = driver_id()
    queue = broker(me)
    client = DriverClient(links(), me, CREDENTIAL)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    photo, signature = photo_jpeg(random.Random(1), "door"), signature_png(random.Random(2))
    before = time.time()
    ids = [client.position(51.5, -0.12, speed_mps=11.2, heading=90, accuracy_m=8, recorded_at=at),
           client.position(51.6, -0.13),
           client.arrived("order-1", "stop-1", at=at),
           client.completed("order-1", "stop-1", recipient_name="A. Patel", comments="At the door",
                            photos=[photo], signature=signature, at=at),
           client.failed("order-2", "stop-2", "Recipient not available", at=at),
           client.completed("order-3", "stop-3", at=at)]
    assert client.link.flush(15)
    got = take(broker.channel, queue, len(ids))

    assert [p.message_id for _, p, _ in got] == ids          # in order, one channel
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == len(ids)
    for method, properties, _ in got:
        assert properties.delivery_mode == 2 and properties.content_type == "application/json"
        assert properties.headers["credential"] == CREDENTIAL
        assert before - 1 <= properties.timestamp <= time.time() + 1
        assert method.exchange == EXCHANGE
    keys = [m.routing_key for m, _, _ in got]
    assert keys == [f"driver.{me}.location"] * 2 + [f"driver.{me}.stop"] * 4
    bodies = [json.loads(b) for _, _, b in got]
    assert bodies[0] == {"lat": 51.5, "lng": -0.12, "speed_mps": 11.2, "heading": 90.0, "accuracy_m": 8.0,
                         "recorded_at": "2030-01-02T03:04:05+00:00"}
    assert bodies[1]["speed_mps"] is None and bodies[1]["heading"] is None and bodies[1]["accuracy_m"] is None
    assert datetime.fromisoformat(bodies[1]["recorded_at"]).utcoffset().total_seconds() == 0
    assert bodies[2] == {"order_id": "order-1", "stop_id": "stop-1", "status": "arrived",
                         "at": "2030-01-02T03:04:05+00:00", "reason": None, "pod": None}
    pod = bodies[3]["pod"]
    assert bodies[3]["status"] == "completed" and bodies[3]["reason"] is None
    assert pod["recipient_name"] == "A. Patel" and pod["comments"] == "At the door"
    assert [p["content_type"] for p in pod["photos"]] == ["image/jpeg"]
    assert base64.b64decode(pod["photos"][0]["data"]) == photo
    assert pod["signature"]["content_type"] == "image/png"
    assert base64.b64decode(pod["signature"]["data"]) == signature
    assert bodies[4] == {"order_id": "order-2", "stop_id": "stop-2", "status": "failed",
                         "at": "2030-01-02T03:04:05+00:00", "reason": "Recipient not available", "pod": None}
    assert bodies[5]["pod"] is None


def test_bad_input_is_refused_before_anything_is_sent(broker, links):
    me = driver_id()
    queue = broker(me)
    link = links()
    client = DriverClient(link, me, CREDENTIAL)
    for bad in ({"lat": 91, "lng": 0}, {"lat": 0, "lng": -180.5}, {"lat": float("nan"), "lng": 0},
                {"lat": True, "lng": 0}, {"lat": 0, "lng": 0, "speed_mps": -1}):
        with pytest.raises(ValueError):
            client.position(**bad)
    with pytest.raises(ValueError, match="timezone"):
        client.arrived("o", "s", at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="neither JPEG nor PNG"):
        client.completed("o", "s", photos=[b"GIF89a..."])
    with pytest.raises(ValueError, match="reason"):
        client.failed("o", "s", "  ")
    assert link.published == 0
    assert take(broker.channel, queue, 1, timeout=1) == []


def test_two_thousand_positions_through_one_link_are_all_confirmed(broker, links):
    drivers = [driver_id() for _ in range(4)]
    queues = {d: broker(d) for d in drivers}
    link = links()
    clients = [DriverClient(link, d, CREDENTIAL) for d in drivers]
    sent: dict[str, list[str]] = {d: [] for d in drivers}
    for n in range(2000):
        client = clients[n % 4]
        sent[client.driver_id].append(client.position(51.5 + n * 1e-5, -0.1, speed_mps=10.0))
    assert link.flush(60), f"{link.pending} messages never confirmed"
    assert (link.published, link.confirmed, link.pending, link.resent) == (2000, 2000, 0, 0)
    for d in drivers:
        got = take(broker.channel, queues[d], 500)
        assert [p.message_id for _, p, _ in got] == sent[d]


def _close_connection(name: str) -> None:
    """What an operator (or a broker restart) does to us: close our connection from the broker."""
    listing = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties",
                              "--no-table-headers"], capture_output=True, text=True, timeout=60).stdout
    pids = [line.split("\t", 1)[0] for line in listing.splitlines() if f'"connection_name","{name}"' in line]
    assert pids, f"no connection named {name}"
    subprocess.run(["rabbitmqctl", "-q", "close_connection", pids[0], "closed by test_driver_sdk"],
                   check=True, capture_output=True, timeout=60)


def test_a_dropped_connection_loses_nothing(broker, links):
    me = driver_id()
    queue = broker(me)
    link = links()
    client = DriverClient(link, me, CREDENTIAL)
    sent: list[str] = []
    streaming = threading.Event()
    streaming.set()

    def stream():
        n = 0
        while streaming.is_set():
            for _ in range(100):
                sent.append(client.position(51.5, -0.1 + n * 1e-6, speed_mps=5.0))
                n += 1
            time.sleep(0.001)   # let the link's I/O thread (and the test) run between bursts

    publisher = threading.Thread(target=stream, daemon=True)
    publisher.start()
    try:
        wait_for(lambda: link.confirmed >= 1000, 30, what="a stream under way")
        # The connection goes while messages are in flight; should none happen to be
        # unconfirmed at that instant, drop it again (at most three times).
        for _attempt in range(3):
            reconnects = link.reconnects
            _close_connection(link.connection_name)
            wait_for(lambda: link.reconnects > reconnects and link.connected, 30, what="the link back")
            confirmed = link.confirmed
            wait_for(lambda: link.confirmed >= confirmed + 1000, 30, what="the stream flowing again")
            if link.resent:
                break
    finally:
        streaming.clear()
        publisher.join(10)
    assert link.flush(60), f"{link.pending} messages never confirmed"
    assert link.resent > 0 and link.reconnects >= 1
    assert link.confirmed == link.published == len(sent)
    got = take(broker.channel, queue, 0, timeout=60, ids=set(sent))
    arrived = {p.message_id for _, p, _ in got}
    assert set(sent) <= arrived, f"{len(set(sent) - arrived)} messages lost"
    # Re-sent messages keep their id, so duplicates are recognisable as such.
    assert len(got) >= len(sent)


def test_publish_blocks_then_raises_when_the_broker_does_not_confirm(broker, links):
    me = driver_id()
    # A queue that refuses every message: the broker nacks, the link keeps re-sending, and
    # nothing is ever confirmed.
    refusing = broker(me, **{"x-max-length": 0, "x-overflow": "reject-publish"})
    link = links(max_pending=5, confirm_timeout=1.0)
    client = DriverClient(link, me, CREDENTIAL)
    for n in range(5):
        client.position(51.5, -0.1 + n * 1e-4)
    started = time.monotonic()
    with pytest.raises(DriverLinkError, match="unconfirmed"):
        client.position(51.5, -0.2)
    assert time.monotonic() - started >= 0.9
    assert link.published == 5 and link.pending == 5 and link.confirmed == 0
    wait_for(lambda: link.resent >= 5, 10, what="nack'd messages sent again")
    # Once the broker takes them again (the refusing queue is gone), they are confirmed.
    broker.channel.queue_delete(refusing)
    assert link.flush(15)
    assert link.confirmed == 5
    client.position(51.5, -0.3)
    assert link.flush(15) and link.confirmed == 6


def test_on_a_broker_without_the_topology_the_link_keeps_its_messages_until_the_exchange_exists(make_vhost):
    """The link only checks that the driver exchange is there (a passive declare: a driver may
    publish and nothing else, services/common/broker_access.py); on a broker the topology step
    has not reached yet it keeps what it was given and sends it once the exchange exists."""
    from kombu import Connection

    from services.common.topology import declare_tracking

    uri = make_vhost(f"driver-{uuid.uuid4().hex[:6]}")
    client = DriverClient.connect(driver_id(), CREDENTIAL, uri)
    try:
        client.position(1.0, 2.0)
        assert not client.link.flush(2) and client.link.confirmed == 0
        with Connection(uri) as connection:
            declare_tracking(connection.channel())
        assert client.link.flush(20) and client.link.confirmed == 1
    finally:
        client.close()
    assert not client.link._thread.is_alive()
    with pytest.raises(DriverLinkError, match="closed"):
        client.position(1.0, 2.0)
