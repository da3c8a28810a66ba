"""A service's metrics without its entrypoints knowing (services/common/service_metrics.py):
RPC time per method and outcome, events per handler queue and outcome, the outbox's lag and
what it published, on the probe service over the real broker."""
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Connection
from prometheus_client import REGISTRY

from services.common.errors import Conflict
from services.common.replay import expire
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_rpc_calls_events_and_the_outbox_are_measured(probe, rpc, amqp_uri):
    probe()
    ok = value("portal_rpc_seconds_count", service="probe", method="emit", outcome="ok")
    failed = value("portal_rpc_seconds_count", service="probe", method="emit", outcome="failed")
    applied = value("portal_events_total", queue="evt--probe.apply", outcome="ok")
    refused = value("portal_events_total", queue="evt--probe.apply", outcome="failed")
    published = value("portal_outbox_published_total", service="probe")

    rpc.call("probe", "emit", "measured-1")
    with pytest.raises(Conflict):
        rpc.call("probe", "emit", "measured-2", True)        # fails after emitting: rolled back
    rpc.call("probe", "emit", "poison")                      # its handler fails every time

    assert value("portal_rpc_seconds_count", service="probe", method="emit", outcome="ok") == ok + 2
    assert value("portal_rpc_seconds_count", service="probe", method="emit", outcome="failed") == failed + 1
    wait_for(lambda: value("portal_events_total", queue="evt--probe.apply", outcome="ok") == applied + 1,
             20, what="the good event counted as applied")
    wait_for(lambda: value("portal_events_total", queue="evt--probe.apply", outcome="failed") >= refused + 1,
             20, what="the poison event counted as failed")
    assert value("portal_outbox_published_total", service="probe") == published + 2
    assert REGISTRY.get_sample_value("portal_outbox_lag_seconds", {"service": "probe"}) is not None
    with Connection(amqp_uri) as conn:        # the poison event, parked: leave the queue empty
        wait_for(lambda: expire(conn, "evt--probe.apply.dlq", datetime.now(timezone.utc) + timedelta(days=1)),
                 30, what="the poison event parked")
