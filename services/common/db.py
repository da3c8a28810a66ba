"""Each service's database: engine, declarative base with the outbox/inbox tables, and the
unit of work every worker gets.

One transaction per worker. Our entrypoints (``services.common.entrypoints``) commit it *before*
they reply or ack (PITFALLS 6: nameko acks before a DependencyProvider's teardown runs), so a
crash after the commit redelivers at worst, and a crash before it loses nothing. Events are
rows in the same transaction (the outbox), relayed to RabbitMQ after the commit.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import (BigInteger, DateTime, Integer, MetaData, String, Text, create_engine,
                        event, select)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from services.common.config import env_int
from services.common.errors import Conflict, Forbidden, ValidationFailed
from services.common.events import make_envelope
from services.common.logs import correlation_id

log = logging.getLogger(__name__)


def make_green() -> None:
    """psycopg2 blocks eventlet's hub unless told to wait through it (PITFALLS 10).

    ``eventlet.monkey_patch()`` installs such a wait callback too; psycogreen's is set here
    explicitly so the rule does not hang on a default of another library. The integration test
    ``test_pitfall_10_...`` fails if queries stop overlapping."""
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover
        return
    if patcher.is_monkey_patched("socket"):
        import psycogreen.eventlet

        psycogreen.eventlet.patch_psycopg()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, on PostgreSQL and SQLite alike (PITFALLS 17)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; store timezone-aware UTC")
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


BigId = BigInteger().with_variant(Integer, "sqlite")   # SQLite autoincrements INTEGER only

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}


def service_base() -> type[DeclarativeBase]:
    """A declarative base of one service, already holding the outbox, inbox and idempotency
    tables every service needs (each service has its own metadata and migrations)."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING)
        type_annotation_map = {datetime: UTCDateTime}

    class OutboxMessage(Base):
        """An event written with the change that caused it, waiting to be relayed."""

        __tablename__ = "outbox"
        seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
        event_id: Mapped[str] = mapped_column(String(36), unique=True)
        type: Mapped[str] = mapped_column(String(64))
        body: Mapped[str] = mapped_column(Text)
        correlation_id: Mapped[str | None] = mapped_column(String(64))
        created_at: Mapped[datetime] = mapped_column(default=utcnow)
        published_at: Mapped[datetime | None] = mapped_column(index=True)
        attempts: Mapped[int] = mapped_column(default=0)
        next_attempt_at: Mapped[datetime | None]
        last_error: Mapped[str | None] = mapped_column(Text)

    class InboxMessage(Base):
        """An event a consumer has applied: written in the transaction of its effect."""

        __tablename__ = "inbox"
        consumer: Mapped[str] = mapped_column(String(128), primary_key=True)
        event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
        received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)   # pruned by age

    class IdempotencyRecord(Base):
        """The first answer to a write sent with an Idempotency-Key."""

        __tablename__ = "idempotency"
        scope: Mapped[str] = mapped_column(String(128), primary_key=True)
        key: Mapped[str] = mapped_column(String(128), primary_key=True)
        request_hash: Mapped[str] = mapped_column(String(64))
        response: Mapped[str] = mapped_column(Text)
        created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)     # pruned by age

    Base.OutboxMessage = OutboxMessage
    Base.InboxMessage = InboxMessage
    Base.IdempotencyRecord = IdempotencyRecord
    return Base


# How long a SQLite write waits for the database's lock. The wait is a C sleep that blocks the
# whole eventlet hub, so the greenthread holding the lock (say, hashing a password off the hub
# mid-transaction) cannot finish while another waits: a long timeout was a 30 s stall of the
# whole service (identity, at a demo start). Short, the waiter fails at once with "database is
# locked": a 503 to retry, an event redelivered, an outbox round tried again. PostgreSQL, as in
# production, has no such lock.
SQLITE_BUSY_SECONDS = 2


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cur.close()

        return engine
    make_green()
    return create_engine(
        url,
        pool_size=env_int("DB_POOL_SIZE"),
        max_overflow=env_int("DB_POOL_SIZE"),
        # No pre-ping: it costs a round trip on every checkout (~10% of a simple read here).
        # A connection PostgreSQL dropped fails one statement; SQLAlchemy then invalidates
        # the whole pool, and the caller's retry gets a fresh connection.
        pool_recycle=1800,
        # Several rows updated with one statement and many parameter sets go in pages
        # (psycopg2's execute_batch), not one round trip each.
        executemany_mode="values_plus_batch",
        connect_args={"options": f"-c statement_timeout={env_int('DB_STATEMENT_TIMEOUT_MS')}",
                      "connect_timeout": 10},
    )


def upsert_insert(session: Session):
    """The dialect's ``insert`` (PostgreSQL or SQLite), whose ``on_conflict_do_*`` make an
    upsert: for rows that concurrent workers may create at once."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


def _outbox_row(envelope: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": envelope["id"], "type": envelope["type"], "body": json.dumps(envelope),
            "correlation_id": envelope["correlation_id"]}


READ_ONLY_MESSAGE = "Your role can only read: ask one of your company's administrators."


def _refuse_flush(session, _context, _instances):
    if session.new or session.dirty or session.deleted:
        raise Forbidden(READ_ONLY_MESSAGE, {"reason": "read_only_role"})


def _read_only_transaction(_session, _transaction, connection):
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def _forbid_writes(session: Session) -> None:
    """A read-only caller's transaction cannot write, whatever the method it called does: the
    ORM refuses the flush with 403, and on PostgreSQL the transaction itself is READ ONLY, so a
    Core UPDATE that bypasses the ORM fails too (as 403: services.common.entrypoints). The gateway
    refuses such writes first; this is the services' own check behind it (DESIGN: defence in depth)."""
    event.listen(session, "before_flush", _refuse_flush)
    event.listen(session, "after_begin", _read_only_transaction)


class UnitOfWork:
    """One worker's transaction: the session, the events it emits, and its commit."""

    def __init__(self, factory: sessionmaker, base: type[DeclarativeBase],
                 on_commit: Callable[[], None] | None = None):
        self._factory = factory
        self._base = base
        self._session: Session | None = None
        self._on_commit = on_commit
        self._emitted = 0
        self._before_commit: list[Callable[[], None]] = []
        self.finished = False
        self.read_only = False      # set for a read-only caller (services.common.caller.READ_ONLY_ROLES)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._factory()
            if self.read_only:
                _forbid_writes(self._session)
        return self._session

    @property
    def engine(self) -> Engine:
        return self._factory.kw["bind"]

    @property
    def base(self) -> type[DeclarativeBase]:
        return self._base

    def separate_session(self) -> Session:
        """A session outside the worker's transaction, for bookkeeping that must be kept even
        when the work rolls back (a failed sign-in's count). Commit it yourself."""
        return self._factory()

    def read(self, statement, params: dict | None = None) -> list:
        """Run one read-only statement outside the worker's transaction, in autocommit: one
        round trip to the database instead of three (BEGIN, the query, COMMIT), and rows as
        plain mappings with no ORM identity map. For the reads behind screens and lookups
        (cosmicpython's "views"); anything that writes, or reads to decide a write, uses
        ``session`` so it shares the transaction."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(statement, params or {}).mappings().all()

    def emit(self, event_type: str, data: dict[str, Any], customer_id: str | None = None) -> dict:
        """Write an event to the outbox, in this transaction. It leaves after the commit."""
        envelope = make_envelope(event_type, data, customer_id, correlation_id.get())
        self.session.add(self._base.OutboxMessage(**_outbox_row(envelope)))
        self._emitted += 1
        return envelope

    def emit_many(self, events: list[tuple[str, dict[str, Any], str | None]]) -> None:
        """Several events to the outbox in one INSERT: ``(type, data, customer_id)`` each."""
        if not events:
            return
        cid, now = correlation_id.get(), utcnow()
        rows = [{**_outbox_row(make_envelope(event_type, data, customer_id, cid)), "created_at": now,
                 "attempts": 0} for event_type, data, customer_id in events]
        self.session.execute(self._base.OutboxMessage.__table__.insert(), rows)
        self._emitted += len(rows)

    def mark_applied(self, consumer: str, event_id: str) -> None:
        self.session.add(self._base.InboxMessage(consumer=consumer, event_id=event_id))

    def already_applied(self, consumer: str, event_id: str) -> bool:
        model = self._base.InboxMessage
        return self.session.scalar(select(model.event_id).where(
            model.consumer == consumer, model.event_id == event_id)) is not None

    def idempotent(self, operation: str, caller, key: str | None, request: Any,
                   produce: Callable[[], Any]) -> Any:
        """Run ``produce`` once per (operation, account, key): a repeat with the same request
        returns the first answer; a repeat with another request is a conflict. Keys belong to an
        account (a customer, or the operator's staff), so two customers cannot collide. The
        record commits with the work, so a failed attempt leaves the key free."""
        if not key:
            return produce()
        if len(key) > 128:
            raise ValidationFailed.of({"Idempotency-Key": ["Use at most 128 characters."]})
        scope = f"{operation}:{caller.customer_id or 'operator'}"
        model = self._base.IdempotencyRecord
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        found = self.session.get(model, (scope, key))
        if found is not None:
            if found.request_hash != digest:
                raise Conflict("This Idempotency-Key was used with another request.",
                               {"idempotency_key": key})
            return json.loads(found.response)
        result = produce()
        self.session.add(model(scope=scope, key=key, request_hash=digest,
                               response=json.dumps(result, default=str)))
        return result

    def before_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in this transaction just before it commits (once per registration):
        for writes best done last, such as shared counters (their row locks held briefly)."""
        self._before_commit.append(callback)

    def commit(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self._session is None:
            return
        try:
            for callback in self._before_commit:
                callback()
        except Exception:
            self._session.rollback()
            raise
        self._session.commit()
        if self._emitted and self._on_commit:
            self._on_commit()

    def rollback(self) -> None:
        self.finished = True
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
