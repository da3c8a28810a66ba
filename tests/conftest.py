"""Test set-up shared by every suite.

eventlet is patched first, as nameko requires for containers started inside the test process
(except in the browser suite's own process, PORTAL_TEST_GREEN=0: see tests/browser/).
Integration and end-to-end tests get their own RabbitMQ vhost and their own databases per run
(PostgreSQL when TEST_DATABASE_URL names a server, as ``bin/portal test`` does when one is
reachable; SQLite files otherwise), so they never touch a platform running on this machine.
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
import os  # noqa: E402

import eventlet  # noqa: E402

GREEN = os.environ.get("PORTAL_TEST_GREEN", "1") == "1"
if GREEN:
    eventlet.monkey_patch()

import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote, urlparse  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

RUN_ID = uuid.uuid4().hex[:8]
TMP = tempfile.mkdtemp(prefix=f"portal-test-{RUN_ID}-")
os.environ.update({
    "SECRET_KEY": f"test-secret-{RUN_ID}",
    "VAR_DIR": TMP,
    "LOG_FORMAT": "text",
    "EVENT_DELIVERY_LIMIT": "3",
    "OUTBOX_POLL_SECONDS": "0.2",
})
os.environ.pop("DATABASE_URL", None)

import pytest  # noqa: E402
from sqlalchemy import create_engine, pool  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services.common.db import make_green  # noqa: E402

make_green()

BROKER = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
PG_SERVER = os.environ.get("TEST_DATABASE_URL")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("PORTAL_KEEP_TMP") == "1":     # the stacks' logs, to read after a failure
        print(f"\nkept {TMP}")
        return
    shutil.rmtree(TMP, ignore_errors=True)


# --- RabbitMQ: one vhost per run -------------------------------------------------------------
def _rabbitmqctl(*args: str) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60).returncode == 0


def _vhost_uri(vhost: str) -> str:
    parsed = urlparse(BROKER)
    return parsed._replace(path="/" + quote(vhost, safe="")).geturl()


@pytest.fixture(scope="session")
def amqp_uri():
    """A fresh vhost for this run (rabbitmqctl), with the platform's topology declared."""
    from services.common.topology import declare_all

    vhost = f"portal-test-{RUN_ID}"
    user = urlparse(BROKER).username or "guest"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*"):
        uri = _vhost_uri(vhost)
    else:
        pytest.fail("cannot create a RabbitMQ vhost for the tests (rabbitmqctl add_vhost failed); "
                    "run the tests as a user who may use rabbitmqctl")
    declare_all(uri)
    yield uri
    _rabbitmqctl("delete_vhost", vhost)


# --- databases: one per service per run ----------------------------------------------------
def _database_url(name: str) -> str:
    if PG_SERVER:
        return make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    return f"sqlite:///{TMP}/{name}.db"


def _drop(url: str) -> None:
    from services.common.migrations import drop_database

    drop_database(url)


@pytest.fixture(scope="session")
def service_db():
    """``service_db("identity")``: the migrated database URL of one service for this run."""
    from services.common.migrations import upgrade

    made: dict[str, str] = {}

    def get(service: str) -> str:
        if service not in made:
            url = _database_url(f"portal_test_{RUN_ID}_{service}")
            upgrade(service, url)
            made[service] = url
        return made[service]

    yield get
    for url in made.values():
        _drop(url)


@pytest.fixture
def needs_postgres():
    if not PG_SERVER:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL); bin/portal test sets it when one is reachable")


@pytest.fixture(scope="session")
def rpc(amqp_uri):
    """The gateway's RPC client, on the test vhost."""
    from gateway.rpc import RpcClient

    client = RpcClient(amqp_uri=amqp_uri, timeout=10)
    yield client
    client.close()


@pytest.fixture
def service_config(amqp_uri, service_db):
    """nameko config for a service container on the test vhost and database."""

    def make(service: str, **extra) -> dict:
        return {"AMQP_URI": amqp_uri, "DATABASE_URL": service_db(service), "max_workers": 10,
                "serializer": "json", **extra}

    return make


@pytest.fixture(scope="session")
def scratch_db():
    """``scratch_db(name, metadata)``: a fresh database with ``metadata`` created (for the test
    services of the integration suite, which have no migrations)."""
    from services.common.migrations import ensure_database

    made = []

    def make(name: str, metadata) -> str:
        url = _database_url(f"portal_test_{RUN_ID}_{name}")
        ensure_database(url)
        engine = create_engine(url, poolclass=pool.NullPool)
        metadata.create_all(engine)
        engine.dispose()
        made.append(url)
        return url

    yield make
    for url in made:
        _drop(url)


@pytest.fixture(scope="session")
def make_vhost():
    """A further empty vhost (no topology), for tests about what happens before it exists."""
    made = []

    def make(suffix: str) -> str:
        vhost = f"portal-test-{RUN_ID}-{suffix}"
        user = urlparse(BROKER).username or "guest"
        assert _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
            "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        made.append(vhost)
        return _vhost_uri(vhost)

    yield make
    for vhost in made:
        _rabbitmqctl("delete_vhost", vhost)


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts. Taken below Linux's
    ephemeral range (32768-60999): a port the kernel hands out there may, between this check and
    the server's bind, become the local end of one of the many client connections a suite makes,
    and a server that cannot bind (gunicorn, a metrics endpoint) takes its process down with it.
    Never the same port twice in a run, so two servers started together cannot pick the same."""
    import random
    import socket

    while True:
        port = random.randint(20000, 32000)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(interval)
