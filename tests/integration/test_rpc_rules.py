"""RPC between the gateway and services on the real broker: deadlines, the signed caller
context, errors, committed-before-reply, and database calls that do not block the hub."""
import json
import time
import uuid
from datetime import datetime

import pytest
from kombu import Connection, Queue

from gateway.rpc import RPC_EXCHANGE
from services.common.caller import CUSTOMER_BOOKER, OPERATOR_ADMIN, CallerContext
from services.common.errors import DeadlineExceeded, Unauthenticated
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

STAFF = CallerContext(role=OPERATOR_ADMIN, user_id="staff-1")


def test_the_signed_caller_reaches_the_service(probe, rpc):
    probe()
    customer = CallerContext(role=CUSTOMER_BOOKER, user_id="u-1", customer_id="cust-1")
    assert rpc.call("probe", "whoami", caller=customer) == {
        "role": CUSTOMER_BOOKER, "user_id": "u-1", "customer_id": "cust-1"}
    with pytest.raises(Unauthenticated):
        rpc.call("probe", "whoami")        # no context at all


def test_pitfall_09_a_forged_context_header_is_not_trusted(probe, amqp_uri):
    """Anyone who can publish can set nameko headers; an unsigned or re-signed context is refused."""
    probe()
    forged = json.dumps({"role": OPERATOR_ADMIN, "user_id": "intruder"})
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        reply_key = uuid.uuid4().hex
        replies = Queue(f"forger-{reply_key}", exchange=RPC_EXCHANGE, routing_key=reply_key,
                        exclusive=True, auto_delete=True)(channel)
        replies.declare()
        conn.Producer(channel, exchange=RPC_EXCHANGE).publish(
            json.dumps({"args": [], "kwargs": {}}), routing_key="probe.whoami", reply_to=reply_key,
            correlation_id="c-1", content_type="application/json",
            headers={"nameko.caller": forged + ".AAAA", "nameko.deadline": time.time() + 10})
        reply = json.loads(wait_for(lambda: replies.get(no_ack=True), what="the reply").body)
    assert reply["result"] is None and reply["error"]["exc_type"] == "Unauthenticated"


def test_pitfall_07_a_call_past_its_deadline_is_not_run(probe, rpc):
    probe(max_workers=1)                   # one worker: the next call must wait in the queue
    napping = rpc.send("probe", "nap", 0.5, timeout=30)
    late_key = f"late-{uuid.uuid4().hex[:6]}"
    with pytest.raises(DeadlineExceeded):
        rpc.call("probe", "record", late_key, timeout=0.1)
    napping.result()
    after = f"after-{uuid.uuid4().hex[:6]}"
    rpc.call("probe", "record", after)     # FIFO with one worker: the late call was handled before
    assert rpc.call("probe", "count", after) == 1
    assert rpc.call("probe", "count", late_key) == 0, "the expired call ran anyway"


def test_pitfall_06_work_is_committed_before_the_reply(probe, rpc):
    from sqlalchemy import create_engine, func, select

    from tests.integration.probe_service import Applied

    probe()
    key = f"k-{uuid.uuid4().hex[:6]}"
    rpc.call("probe", "record", key)
    engine = create_engine(probe.url)      # another connection, right after the reply
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Applied).where(Applied.key == key)) == 1
    engine.dispose()


def test_pitfall_10_two_slow_queries_in_one_service_run_at_the_same_time(needs_postgres, probe, rpc):
    """psycopg2 made green: a slow query does not hold up the other workers of the process."""
    probe()
    first = rpc.send("probe", "slow", 1.0, timeout=30)
    second = rpc.send("probe", "slow", 1.0, timeout=30)
    (a_start, a_end), (b_start, b_end) = [[datetime.fromisoformat(t) for t in p.result()]
                                          for p in (first, second)]
    assert a_start < b_end and b_start < a_end, "the two queries ran one after the other"
