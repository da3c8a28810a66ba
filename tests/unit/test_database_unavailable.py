"""A database that is away (restarting, refusing connections) is "retry shortly", never a bug or
a dead service: found by tests/attack/test_database_faults.py, pinned here without a server."""
from types import SimpleNamespace

import psycopg2
import pytest
from sqlalchemy import exc as sa
from sqlalchemy.orm import sessionmaker

from services.common.database import Database
from services.common.db import make_engine, service_base
from services.common.entrypoints import _unavailable_if_database_away
from services.common.errors import ServiceUnavailable


def _raised(error):
    try:
        raise error
    except Exception:
        import sys

        return sys.exc_info()


@pytest.mark.parametrize("error", [
    sa.OperationalError("SELECT 1", {}, psycopg2.OperationalError("server closed the connection unexpectedly")),
    sa.InterfaceError("SELECT 1", {}, psycopg2.InterfaceError("connection already closed")),
    psycopg2.OperationalError("server closed the connection unexpectedly"),   # raised on a pool check-in
])
def test_a_database_that_is_away_is_service_unavailable(error):
    kind, value, _ = _unavailable_if_database_away(_raised(error))
    assert kind is ServiceUnavailable and value.status == 503


def test_other_errors_pass_through():
    assert _unavailable_if_database_away(None) is None
    info = _raised(ValueError("a bug"))
    assert _unavailable_if_database_away(info) is info
    info = _raised(sa.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert _unavailable_if_database_away(info) is info


def test_a_timer_whose_commit_fails_does_not_kill_the_container(tmp_path):
    """nameko treats an exception from a dependency's worker_result as fatal to the container."""
    db = Database(service_base())
    db.factory = sessionmaker(make_engine(f"sqlite:///{tmp_path}/x.db"))
    worker = type("Worker", (), {"entrypoint": SimpleNamespace(method_name="pump"), "data": {}})()
    unit = db.get_dependency(worker)

    def commit():
        raise sa.OperationalError("COMMIT", {}, psycopg2.OperationalError("Connection refused"))
    unit.commit = commit
    db.worker_result(worker)          # logged, not raised
