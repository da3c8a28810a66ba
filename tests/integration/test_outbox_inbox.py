"""The reliability rules of DESIGN.md on the real RabbitMQ (and PostgreSQL when present):
no event without its commit, no commit without its event, handlers applied once, failures
parked, not looped. Each test names the trap of PITFALLS.md it covers."""
import json
import uuid

import pytest
from kombu import Connection, Queue, binding
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import sessionmaker

from services.common.events import make_envelope
from services.common.outbox import OutboxPublisher
from services.common.topology import events_exchange
from tests.conftest import wait_for
from tests.integration.probe_service import Base

pytestmark = pytest.mark.integration


@pytest.fixture
def tap(amqp_uri):
    """A queue of our own bound to every ``order.created`` on portal.events."""
    conn = Connection(amqp_uri)
    channel = conn.channel()
    queue = Queue(f"tap-{uuid.uuid4().hex[:8]}", exchange=events_exchange(),
                  bindings=[binding(events_exchange(), routing_key="order.created")],
                  exclusive=True, auto_delete=True)(channel)
    queue.declare()

    def take(timeout: float = 15.0):
        def get():
            message = queue.get(no_ack=True)
            return message and json.loads(message.body)
        return wait_for(get, timeout, what="an event on the tap queue")

    take.queue = queue
    yield take
    conn.release()


def outbox_rows(url):
    engine = create_engine(url)
    with sessionmaker(engine)() as session:
        rows = session.scalars(select(Base.OutboxMessage).order_by(Base.OutboxMessage.seq)).all()
    engine.dispose()
    return rows


def test_pitfall_05_a_rolled_back_transaction_publishes_nothing(probe, rpc, tap):
    probe()
    with pytest.raises(Exception, match="asked to fail"):
        rpc.call("probe", "emit", "rolled-back", True)
    kept = rpc.call("probe", "emit", "kept")
    first = tap()
    # The relay publishes in commit order: had the failed call left an event, it would come first.
    assert first["id"] == kept and first["data"]["reference"] == "kept"
    assert [r.event_id for r in outbox_rows(probe.url)] == [kept]


def test_pitfall_05_a_relay_killed_between_commit_and_publish_publishes_after_restart(probe, rpc, tap):
    down = probe(OUTBOX_RELAY=False)          # the relay is dead: commits happen, publishing does not
    event_id = rpc.call("probe", "emit", "waiting")
    [row] = outbox_rows(probe.url)
    assert row.event_id == event_id and row.published_at is None
    assert tap.queue.get(no_ack=True) is None  # nothing can have left: no relay ran
    down.kill()
    probe()                                    # restarted with its relay
    event = tap()
    assert event["id"] == event_id             # same id, so consumers can dedupe a repeat
    wait_for(lambda: outbox_rows(probe.url)[0].published_at, what="the row marked published")


def test_pitfall_01_an_event_delivered_twice_is_applied_once(probe, rpc, amqp_uri):
    container = probe()
    envelope = make_envelope("order.created", {"order_id": "o", "reference": "dup", "status": "draft"},
                             customer_id="cust-probe")
    with Connection(amqp_uri) as conn:
        producer = conn.Producer(exchange=events_exchange())
        for _ in range(3):                     # a redelivery, and one more for luck
            producer.publish(json.dumps(envelope), routing_key="order.created",
                             content_type="application/json", message_id=envelope["id"])
    wait_for(lambda: rpc.call("probe", "count", envelope["id"]), what="the event applied")
    container.stop()                           # drains in-flight workers before we count
    probe()
    assert rpc.call("probe", "count", envelope["id"]) == 1


def _dead_letters(amqp_uri, queue_name, timeout=30.0):
    with Connection(amqp_uri) as conn:
        dlq = Queue(f"{queue_name}.dlq", no_declare=True)(conn.channel())
        message = wait_for(lambda: dlq.get(no_ack=True), timeout, what=f"a message in {queue_name}.dlq")
        return json.loads(message.body), message.headers


def test_pitfall_02_a_handler_that_keeps_failing_parks_the_event_instead_of_looping(probe, rpc):
    probe()
    rpc.call("probe", "emit", "poison")
    body, headers = _dead_letters(probe_amqp(rpc), "evt--probe.apply")
    assert body["data"]["reference"] == "poison"
    death = headers["x-death"][0]
    assert death["reason"] == "delivery_limit" and death["queue"] == "evt--probe.apply"
    # each failed attempt rolled back: nothing of it was applied
    assert rpc.call("probe", "count", body["id"]) == 0


def test_pitfall_02_a_parked_event_is_replayed_to_its_own_queue_once_the_cause_is_fixed(probe, rpc, amqp_uri, tap):
    """The replay command (services/common/replay.py) sends a dead-lettered event back to the
    one handler that failed on it: applied once there, not heard again by other subscribers."""
    from services.common.replay import main, replay

    probe()
    event_id = rpc.call("probe", "emit", "sick-1")
    assert tap()["id"] == event_id                         # the other subscriber had it once
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        wait_for(lambda: channel.queue_declare("evt--probe.apply.dlq", passive=True).message_count == 1,
                 30, what="the event parked")
        looked = replay(conn, "evt--probe.apply.dlq", dry_run=True)
        assert (looked.moved, looked.remaining) == (0, 1)
        assert looked.samples == [{"id": event_id, "type": "order.created", "reason": "delivery_limit", "replays": 0}]
        assert rpc.call("probe", "count", event_id) == 0
        # what a dry run looked at is back once its channel's close has reached the broker
        wait_for(lambda: channel.queue_declare("evt--probe.apply.dlq", passive=True).message_count == 1,
                 10, what="the looked-at message back in its queue")
        rpc.call("probe", "record", "cure:sick-1")         # the cause is fixed
        done = replay(conn, "evt--probe.apply.dlq")
        assert (done.moved, done.remaining, done.target) == (1, 0, "evt--probe.apply")
    wait_for(lambda: rpc.call("probe", "count", event_id) == 1, 30, what="the replayed event applied")
    assert tap.queue.get(no_ack=True) is None              # nobody else heard it again
    with pytest.raises(ValueError):
        replay(Connection(amqp_uri), "rpc-orders")             # not a dead-letter queue
    assert main(["rpc-orders"]) == 2


def test_dead_letters_older_than_a_retention_are_deleted_and_younger_ones_kept(probe, rpc, amqp_uri):
    from datetime import datetime, timedelta, timezone

    from services.common.replay import expire

    probe()
    rpc.call("probe", "emit", "poison")
    queue = "evt--probe.apply.dlq"
    with Connection(amqp_uri) as conn:
        depth = lambda: conn.channel().queue_declare(queue, passive=True).message_count  # noqa: E731
        try:
            wait_for(lambda: depth() == 1, 30, what="the event parked")
            now = datetime.now(timezone.utc)
            assert expire(conn, queue, before=now - timedelta(hours=1)) == 0     # younger: kept
            # put back with a reject, which the broker applies a moment later
            wait_for(lambda: depth() == 1, 10, what="the younger message back in its queue")
            assert expire(conn, queue, before=now + timedelta(minutes=1)) == 1
            assert depth() == 0
        finally:
            conn.channel().queue_purge(queue)        # the next test reads this queue


def test_a_malformed_event_is_dead_lettered_at_once(probe, rpc, amqp_uri):
    probe()
    with Connection(amqp_uri) as conn:
        conn.Producer(exchange=events_exchange()).publish(
            json.dumps({"hello": "world"}), routing_key="order.created", content_type="application/json")
    body, headers = _dead_letters(amqp_uri, "evt--probe.apply")
    assert body == {"hello": "world"} and headers["x-death"][0]["reason"] == "rejected"


def test_pitfall_04_an_event_with_no_queue_yet_waits_in_the_outbox(scratch_db, make_vhost):
    """mandatory=True: an unroutable event is returned, stays pending, and goes out once a queue
    is bound, instead of vanishing."""
    url = scratch_db("outbox_unroutable", Base.metadata)
    bare = make_vhost("bare")                  # no topology at all
    factory = sessionmaker(create_engine(url), expire_on_commit=False)
    envelope = make_envelope("order.created", {"order_id": "o", "reference": "early", "status": "draft"},
                             customer_id="c")
    with factory() as session, session.begin():
        session.add(Base.OutboxMessage(event_id=envelope["id"], type="order.created",
                                       body=json.dumps(envelope)))
    publisher = OutboxPublisher(factory, Base, bare)
    assert publisher.relay_once() == 0
    with factory() as session:
        row = session.scalars(select(Base.OutboxMessage)).one()
    assert row.published_at is None and row.last_error.startswith("unroutable")
    with Connection(bare) as conn:             # the subscriber's queue appears
        late = Queue("late-subscriber", exchange=events_exchange(), routing_key="order.created")(conn.channel())
        late.declare()
        with factory() as session, session.begin():   # skip the backoff
            session.execute(update(Base.OutboxMessage).values(next_attempt_at=None))
        assert publisher.relay_once() == 1
        assert json.loads(late.get(no_ack=True).body)["id"] == envelope["id"]
    publisher.close()


def probe_amqp(rpc):
    return rpc.amqp_uri


def test_pitfall_08_the_topology_check_finds_orphaned_and_unconsumed_queues(amqp_uri):
    """A handler renamed in code leaves its old queue behind; the check names it."""
    from services.common.topology import check

    with Connection(amqp_uri) as conn:
        Queue("evt--orders.a_renamed_handler", exchange=events_exchange(), routing_key="order.created",
              durable=True)(conn.channel()).declare()
    findings = check(amqp_uri)
    assert "evt--orders.a_renamed_handler" in findings["orphaned"]
    # no service runs in this vhost outside the tests' containers: the declared queues are idle
    assert "evt--orders.keep_customer_settings" in findings["without_consumer"]
    assert "rpc-identity" in findings["without_consumer"]
