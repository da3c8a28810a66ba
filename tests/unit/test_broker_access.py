"""The broker users' grants and the driver gate, without a broker (tests/attack/
test_broker_permissions.py proves them on a real node)."""
import re

from services.common import broker_access
from services.common.topology import handler_queues
from services.tracking.broker_auth import DriverGate, create_app


def allowed(pattern: str, name: str) -> bool:
    return bool(pattern) and re.fullmatch(pattern, name) is not None


def test_the_password_hash_is_rabbitmqs_sha256_scheme():
    # The worked example of https://www.rabbitmq.com/docs/passwords (salt 908DC60A, "test12").
    assert broker_access.password_hash("test12", bytes.fromhex("908DC60A")) == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"


def test_each_service_reads_exactly_its_own_handler_queues():
    grants = {user: grant.permissions() for user, grant in broker_access.grants().items()}
    for service in ("identity", "orders", "billing", "tracking", "notify"):
        for other in ("identity", "orders", "billing", "tracking", "notify"):
            for spec in handler_queues(other):
                assert allowed(grants[service]["read"], spec.name) == (service == other), (service, spec.name)
        assert allowed(grants[service]["read"], f"rpc-{service}")
        assert allowed(grants[service]["write"], "portal.events")
    assert not allowed(grants["gateway"]["write"], "portal.events")
    assert allowed(grants["gateway"]["read"], "gateway.tracking.live-123-ab12cd34")
    assert not allowed(grants["gateway"]["read"], "rpc-identity")
    assert "orders-imports" not in grants


def test_definitions_hold_one_user_per_process_kind_with_its_permissions():
    passwords = {user: f"pw-{user}" for user in broker_access.grants()}
    made = broker_access.definitions("portal", passwords)
    assert made["vhosts"] == [{"name": "portal"}]
    assert {u["name"] for u in made["users"]} == set(passwords)
    assert all(p["vhost"] == "portal" and p["read"].startswith("^(") for p in made["permissions"])
    assert "pw-" not in str(made)                      # hashes only


def test_uri_for_keeps_host_port_and_vhost_and_quotes_the_credentials():
    uri = broker_access.uri_for("amqp://guest:guest@rabbit:5673/portal%2Fa", "dr/iver", "p@ss:word")
    assert uri == "amqp://dr%2Fiver:p%40ss%3Aword@rabbit:5673/portal%2Fa"


def test_a_driver_may_publish_its_own_location_and_stops_only():
    may = broker_access.driver_may_publish
    assert may("d-1", "tracking.driver", "driver.d-1.location") and may("d-1", "tracking.driver", "driver.d-1.stop")
    assert not may("d-1", "tracking.driver", "driver.d-2.location")
    assert not may("d.1", "tracking.driver", "driver.dx1.location")       # its id is a literal, not a pattern
    assert not may("d-1", "tracking.driver", "driver.d-1.location.extra")
    assert not may("d-1", "portal.events", "driver.d-1.location")


class Cache:
    def __init__(self, known):
        self.known, self.asked = known, []

    def drivers(self, credentials):
        self.asked.append(set(credentials))
        return {c: self.known.get(c) for c in credentials}


def test_the_broker_auth_app_answers_the_http_backends_four_questions():
    cache = Cache({"drv_good": "d-1"})
    client = create_app(DriverGate(cache, "/")).test_client()

    def ask(path, **form):
        answer = client.post(path, data=form)
        assert answer.status_code == 200
        return answer.text

    assert ask("/user", username="d-1", password="drv_good") == "allow"
    assert ask("/user", username="d-2", password="drv_good") == "deny"      # another driver's credential
    assert ask("/user", username="d-1", password="drv_bad") == "deny"
    assert ask("/user", username="identity", password="not-a-driver-credential") == "deny"
    assert cache.asked == [{"drv_good"}, {"drv_good"}, {"drv_bad"}]           # non-driver passwords never asked
    assert ask("/vhost", username="d-1", vhost="/") == "allow" and ask("/vhost", username="d-1", vhost="x") == "deny"
    assert ask("/resource", username="d-1", vhost="/", resource="exchange", name="tracking.driver",
               permission="write") == "allow"
    for kind, name, permission in (("exchange", "tracking.driver", "configure"), ("queue", "tracking.driver.ingest", "read"),
                                   ("exchange", "portal.events", "write")):
        assert ask("/resource", username="d-1", vhost="/", resource=kind, name=name, permission=permission) == "deny"
    assert ask("/topic", username="d-1", vhost="/", resource="topic", name="tracking.driver", permission="write",
               routing_key="driver.d-1.location") == "allow"
    assert ask("/topic", username="d-1", vhost="/", resource="topic", name="tracking.driver", permission="write",
               routing_key="driver.d-2.location") == "deny"
