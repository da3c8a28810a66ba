"""The three-node RabbitMQ cluster of the deployments (docker-compose profile "cluster",
deploy/k8s/rabbitmq.yaml), here as three private nodes of the installed server that find each
other the way deploy/rabbitmq/cluster.conf says: the platform's topology declared on it puts
every event queue on all three nodes (quorum queues), and events the broker confirmed survive
the kill -9 of the node that leads their queues, are delivered by the others meanwhile, and the
killed node rejoins and serves again."""
from __future__ import annotations

import json
import uuid

import pytest
from kombu import Connection

from services.common.topology import INGEST_QUEUE, declare_all, handler_queues
from tests.attack.private_broker import PrivateBroker
from tests.attack.report import Report
from tests.conftest import wait_for
from tests.integration.probe_service import Base

pytestmark = pytest.mark.integration

FIGURES: dict[str, object] = {}
REPORT = Report("RabbitMQ cluster", lambda: (
    f"3 nodes, {FIGURES.get('queues', '?')} quorum queues on all 3; leader node killed -9 with "
    f"{FIGURES.get('sent', '?')} confirmed events: {FIGURES.get('lost', '?')} lost, "
    f"{FIGURES.get('duplicated', '?')} duplicated beyond a re-send after a nack"))
EVENT = "order.submitted"


@pytest.fixture
def outbox(scratch_db):
    return Outbox(scratch_db("cluster_outbox", Base.metadata))


@pytest.fixture(scope="module")
def nodes():
    cluster = PrivateBroker.cluster("cluster", 3)
    try:
        for node in cluster:
            node.start()
        wait_for(lambda: len(cluster[0].running_nodes()) == 3, timeout=60, interval=1,
                 what="the three nodes to form one cluster")
        yield cluster
    finally:
        for node in cluster:
            node.stop()


class Outbox:
    """The platform's outbox relay (services/common/outbox.py) over a database of its own: each
    event is a row committed first and published with publisher confirms; what the broker did
    not confirm (a nack while a queue elects a new leader) stays for the next round."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        self.factory = sessionmaker(create_engine(url), expire_on_commit=False)
        self.resent: set[str] = set()

    def send(self, uri: str, count: int) -> list[str]:
        from sqlalchemy import select

        from services.common.outbox import OutboxPublisher

        ids = [str(uuid.uuid4()) for _ in range(count)]
        with self.factory() as session, session.begin():
            for event_id in ids:
                session.add(Base.OutboxMessage(event_id=event_id, type=EVENT, body=json.dumps(
                    {"id": event_id, "type": EVENT, "version": 1, "customer_id": None, "data": {}})))
        publisher = OutboxPublisher(self.factory, Base, uri)
        m = Base.OutboxMessage
        try:
            def relayed():
                publisher.relay_once()
                with self.factory() as session:
                    return session.scalar(select(m.seq).where(m.published_at.is_(None)).limit(1)) is None
            wait_for(relayed, timeout=60, interval=0.2, what="the outbox to relay every event")
        finally:
            publisher.close()
        with self.factory() as session:
            self.resent |= set(session.scalars(select(m.event_id).where(m.event_id.in_(ids), m.attempts > 1)))
        return ids


def drive(link, count: int) -> list[str]:
    """``count`` positions through a driver app's link (services/tracking/driver/link.py), every
    one confirmed."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for position_id in ids:
        link.publish("driver.d-1.location", {"id": position_id, "lat": 53.8, "lng": -1.5}, credential="drv_cluster")
    assert link.flush(60), f"{link.confirmed} positions confirmed, {count} sent, in 60 s"
    return ids


def drain(uri: str, queue: str) -> list[str]:
    """Every message of the queue, acknowledged one by one."""
    got = []
    with Connection(uri) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue)) is not None:
            got.append(json.loads(message.body)["id"])
            channel.basic_ack(message.delivery_tag)
    return got


def test_confirmed_events_survive_the_loss_of_a_node_and_the_node_comes_back(nodes, outbox):
    first, second, third = nodes
    declare_all(first.uri)
    listing = json.loads(first.ctl("list_queues", "name", "type", "members", "leader", "--formatter", "json").stdout)
    quorum = [q for q in listing if q["type"] == "quorum"]
    assert quorum and all(len(q["members"]) == 3 for q in quorum), quorum
    # Every handler queue that hears the event must get each of them once.
    queues = [spec.name for svc in ("billing", "notify", "orders", "tracking", "identity")
              for spec in handler_queues(svc) if EVENT in spec.event_types]
    assert queues
    leader = {q["name"]: q["leader"] for q in quorum}[queues[0]]
    assert leader == first.node                       # declared there: it leads, and it is the one to die
    from services.tracking.driver.link import DriverLink

    link = DriverLink(third.uri)                          # a driver app, connected before the kill
    positions = drive(link, 10)
    sent = outbox.send(second.uri, 200)
    first.kill9()
    try:
        positions += drive(link, 100)                     # two of three: still a majority
    finally:
        link.close()
    during = outbox.send(third.uri, 100)
    got = {queue: drain(second.uri, queue) for queue in queues}
    first.start()
    wait_for(lambda: len(second.running_nodes()) == 3, timeout=90, interval=1, what="the killed node to rejoin")
    after = outbox.send(first.uri, 50)                    # and the node it rejoined as serves again
    for queue in queues:
        got[queue] += drain(first.uri, queue)
    stored = drain(second.uri, INGEST_QUEUE)
    assert sorted(stored) == sorted(positions), "driver positions lost or doubled"
    expected = sent + during + after
    lost = sum(len(set(expected) - set(ids)) for ids in got.values())
    twice = {i for ids in got.values() for i in ids if ids.count(i) > 1}
    # Only an event sent again after a nack may arrive twice (at least once, as from the outbox;
    # the consumers' inbox applies it once).
    duplicated = len(twice - outbox.resent)
    FIGURES.update(queues=len(quorum), sent=len(expected), lost=lost, duplicated=duplicated)
    REPORT.line(f"{len(quorum)} quorum queues, members on all 3 nodes; {len(sent)} events confirmed, then the "
                f"leader {first.node.split('@')[0]} killed -9; {len(during)} more events and {len(positions)} driver "
                f"positions confirmed by the two left, every position stored once; "
                f"it rejoined and took {len(after)}; {len(queues)} handler queues got "
                f"{sum(len(ids) for ids in got.values())} deliveries; {len(outbox.resent)} nacked during the "
                f"election and sent again, {len(twice)} of them delivered twice (the inbox skips those)")
    assert lost == 0 and duplicated == 0, (lost, duplicated)
