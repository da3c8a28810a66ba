"""Faults on the bus (issue 9): a soak in the style of Jepsen's RabbitMQ checker.

Drivers publish positions (the driver SDK, with publisher confirms) and a customer creates and
submits orders through the gateway at a steady rate, while the test kills the platform's RabbitMQ
with kill -9 and starts it again K times, kill -9s a random service process and SIGTERMs another
mid-work. Every operation acknowledged to a client (a 201 with an id; a confirmed position) is
recorded; afterwards each has exactly one effect: the order once, one "submitted" step in its
timeline, one in-app notification, one email to the subscribed user, one webhook event id at a
real local receiver, every position stored. Orders the client was not told about are retried with
their Idempotency-Key and are not duplicated. Every service is back under its supervisor (new
pids, answering), and no queue is left with messages and no consumer (dead-letter queues are
reported).

The broker and PostgreSQL are PRIVATE to this suite (tests/attack/private_broker.py,
private_postgres.py): the machine's own are never touched.

Short form (default, CI): K=2, about a minute of load. Long form (K=10, several minutes):
    PORTAL_SLOW=1 TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m pytest -q -p no:cacheprovider tests/attack/test_bus_faults.py -k long
Last line: ``K broker kills, S service kills, R msg/s, T min: 0 lost, 0 duplicate effects`` (R:
positions and order requests the clients sent per second of load)."""
from __future__ import annotations

import pytest

from services.common.topology import declare_all
from tests.attack.private_broker import PrivateBroker
from tests.attack.private_postgres import PrivatePostgres
from tests.attack.report import Report
from tests.attack.soak_bus import Soak, run_soak
from tests.attack.soak_stack import private_stack

RUNS: list[Soak] = []
REPORT = Report("Faults on the bus", lambda: RUNS[-1].figure() if RUNS else "the soak did not run")


@pytest.fixture(scope="module")
def broker():
    node = PrivateBroker("soak")
    node.start()
    # The whole topology before any service or client (PITFALLS 4): an event published before
    # its queue exists would vanish.
    declare_all(node.uri)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def cluster():
    pg = PrivatePostgres("soak")
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def platform(broker, cluster, mailbox, oidc_provider):
    stack = private_stack(broker.uri, mailbox, oidc_provider, cluster.url, "soak")
    try:
        yield stack
    finally:
        stack.stop()


def soak_of(platform, broker, cluster, mailbox, receiver, kills: int, gap: float) -> Soak:
    soak = run_soak(platform, broker, cluster, mailbox, receiver, kills=kills, gap=gap, report=REPORT.line)
    RUNS.append(soak)
    for effect in soak.lost:
        REPORT.line(f"{effect}: {len(soak.lost[effect])} lost, {len(soak.duplicated[effect])} duplicated")
    REPORT.line(f"emails sent again with their Message-ID (at-least-once SMTP): {soak.resent_emails}")
    REPORT.line(f"services killed: {', '.join(soak.service_kills)}; dead-lettered: "
                f"{', '.join(f'{q[0]} ({q[1]})' for q in soak.parked) or 'none'}")
    return soak


@pytest.fixture(scope="module")
def short(platform, broker, cluster, mailbox, receiver):
    return soak_of(platform, broker, cluster, mailbox, receiver, kills=2, gap=6)


def check_services_back(soak: Soak) -> None:
    """PITFALLS 3: a broker restart (and kill -9/SIGTERM) takes service processes down; the
    supervisor starts them again and they answer."""
    assert soak.ready_after, "not every service answers after the faults"
    for victim in soak.service_kills:
        name = victim.split()[0]
        assert soak.children_after.get(name) not in (None, soak.children_before.get(name)), (
            f"{name} was not restarted by its supervisor")
    assert set(soak.children_after) == set(soak.children_before), "a supervisor lost its child"
    assert not soak.unconsumed, f"queues nobody consumes after the faults: {soak.unconsumed}"


def check_exactly_once(soak: Soak) -> None:
    """PITFALLS 1 (redelivered messages change nothing), 5 (no commit without its event: the
    outbox relays through broker kills): every acknowledged order and status event has exactly one
    effect; every confirmed position is stored."""
    assert soak.ready_after, "the platform did not come back: its effects were not counted"
    assert soak.orders, "no order was acknowledged"
    missing = {effect: items[:5] for effect, items in soak.lost.items() if items}
    twice = {effect: items[:5] for effect, items in soak.duplicated.items() if items}
    assert not missing, f"acknowledged but lost: {missing}"
    assert not twice, f"duplicate effects: {twice}"


def check_queues(soak: Soak) -> None:
    """PITFALLS 2 and 4: nothing waits in a queue nobody reads (a message that failed for good is
    parked in a dead-letter queue, reported above, not dropped or looping)."""
    assert soak.ready_after, "the platform did not come back: its queues were not counted"
    assert not soak.stranded, f"queues left with messages and no consumer: {soak.stranded}"


def test_pitfall_3_every_service_is_back_under_its_supervisor(short):
    check_services_back(short)


def test_pitfalls_1_5_every_acknowledged_operation_has_exactly_one_effect(short):
    check_exactly_once(short)


def test_pitfall_7_an_unacknowledged_order_retried_with_its_key_is_not_duplicated(short):
    # The retried keys are part of soak.orders: check_exactly_once counts each once by reference.
    retried = {short.orders[key] for key in short.retried}
    assert not [k for k in short.retried if k in short.duplicated.get("order", [])]
    assert len(retried) == len(short.retried)
    check_exactly_once(short)


def test_pitfalls_2_4_no_queue_is_left_with_messages_and_no_consumer(short):
    check_queues(short)


@pytest.mark.slow
def test_long_soak_ten_broker_kills(platform, broker, cluster, mailbox, receiver):
    soak = soak_of(platform, broker, cluster, mailbox, receiver, kills=10, gap=20)
    check_services_back(soak)
    check_exactly_once(soak)
    check_queues(soak)
