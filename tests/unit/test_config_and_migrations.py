"""Configuration from the environment, and each service's migrations matching its models."""
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from services.common import config
from services.common.config import ROOT, SERVICES
from services.common.migrations import upgrade
from services.common.topology import service_class


def test_each_service_gets_its_own_database(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.internal:5432/portal")
    assert config.database_url("orders") == "postgresql://app:pw@db.internal:5432/portal_orders"
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://b@elsewhere/ledger")
    assert config.database_url("billing") == "postgresql://b@elsewhere/ledger"
    monkeypatch.delenv("DATABASE_URL")
    assert config.database_url("orders").startswith("sqlite:///")


def test_undeclared_settings_cannot_be_read():
    with pytest.raises(KeyError):
        config.env("SOME_UNDECLARED_THING")


def test_readme_configuration_table_is_the_one_the_code_declares():
    readme = (ROOT / "README.md").read_text()
    assert config.readme_table() in readme, (
        "README's configuration table differs from services/common/config.py; "
        "paste the output of python -m services.common.config")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_exactly_the_models(service, tmp_path):
    url = f"sqlite:///{tmp_path / service}.db"
    upgrade(service, url)
    models = __import__(f"services.{service}.models", fromlist=["Base"])
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    engine.dispose()
    assert diff == [], f"{service}: models and migrations differ; add a migration: {diff}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_laid_out_alike(service):
    folder = Path(ROOT, "services", service)
    for part in ("service.py", "models.py", "config.yaml", "migrations/env.py"):
        assert (folder / part).exists(), f"services/{service}/{part} is missing"
    cls = service_class(service)
    assert cls.name == service
    assert hasattr(cls, "ping") and hasattr(cls, "db") and hasattr(cls, "caller")


def test_pitfall_17_times_are_stored_timezone_aware_and_naive_ones_refused(tmp_path):
    from datetime import datetime, timezone

    from sqlalchemy import select
    from sqlalchemy.exc import StatementError
    from sqlalchemy.orm import Session

    from services.identity.models import Base, User

    engine = create_engine(f"sqlite:///{tmp_path}/t.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(email="a@b.example", role="operator_admin",
                         last_login_at=datetime(2026, 1, 1, 12, tzinfo=timezone.utc)))
        session.commit()
        stored = session.scalar(select(User.last_login_at))
        assert stored.tzinfo is not None and stored.utcoffset().total_seconds() == 0
        session.add(User(email="c@d.example", role="operator_admin", last_login_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()
