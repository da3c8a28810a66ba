"""Alembic, once for every service: each service keeps its own ``migrations/`` folder and its own
database; this module points Alembic at them and creates a missing PostgreSQL database."""
from __future__ import annotations

import logging

from alembic import command, context
from alembic.config import Config
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from services.common.config import ROOT, SERVICES, database_url

log = logging.getLogger(__name__)


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.attributes["url"] = url or database_url(service)
    return cfg


def _server_admin(url: str):
    """An autocommit connection to the server's ``postgres`` database, or None for SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return None, parsed
    return create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT",
                         poolclass=pool.NullPool), parsed


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist yet."""
    admin, parsed = _server_admin(url)
    if admin is None:
        return
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
            log.info("created database %s", parsed.database)
    admin.dispose()


def drop_database(url: str) -> None:
    """Drop the PostgreSQL database named in ``url`` (tests clean up with it)."""
    admin, parsed = _server_admin(url)
    if admin is None:
        return
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def upgrade(service: str, url: str | None = None) -> None:
    cfg = alembic_config(service, url)
    ensure_database(cfg.attributes["url"])
    command.upgrade(cfg, "head")


def upgrade_all() -> None:
    for service in SERVICES:
        upgrade(service)


def run_env(target_metadata) -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.attributes.get("url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
