"""The nameko side of a service's database (db.py) and of its outbox (outbox.py): the ``Database``
dependency that gives each worker its unit of work and commits it, and the relay that runs the
outbox publisher in a managed greenthread. Kept apart so that the rules (every module that uses
``UnitOfWork``) import neither nameko nor eventlet (PITFALLS 11, tests/unit/test_layering.py).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from nameko.extensions import DependencyProvider, SharedExtension
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from services.common.caller import CONTEXT_KEY, verify as verify_caller
from services.common.config import database_url, env, env_float
from services.common.db import UnitOfWork, make_engine
from services.common.outbox import OutboxPublisher

log = logging.getLogger(__name__)


class OutboxRelay(SharedExtension):
    """Runs the OutboxPublisher of a service's Database in a managed greenthread."""

    def __init__(self):
        super().__init__()
        self.database = None
        self.publisher: OutboxPublisher | None = None
        self._wake = None
        self._running = False
        self._gt = None

    def attach(self, database) -> None:
        self.database = database
        database.on_commit = self.wake

    def start(self):
        from eventlet.event import Event

        if self.database is None or not self.container.config.get("OUTBOX_RELAY", True):
            return
        self.publisher = OutboxPublisher(self.database.factory, self.database.base,
                                         self.container.config.get("AMQP_URI") or env("AMQP_URI"),
                                         self.container.service_name)
        self._wake = Event()
        self._running = True
        self._gt = self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def wake(self) -> None:
        if self._wake is not None and not self._wake.ready():
            self._wake.send(True)

    def _run(self) -> None:
        import eventlet
        from eventlet.event import Event

        poll = env_float("OUTBOX_POLL_SECONDS")
        failures = 0
        while self._running:
            try:
                sent = self.publisher.relay_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("outbox relay round failed (%d in a row)", failures)
                self.publisher.close()
                sent = 0
            if sent:
                continue            # there may be more: go on at once
            if self._wake.ready():
                self._wake = Event()
                continue
            with eventlet.Timeout(min(poll * (2 ** failures), 30), False):
                self._wake.wait()
            if self._wake.ready():
                self._wake = Event()

    def stop(self):
        self._running = False
        self.wake()
        if self._gt is not None:
            self._gt.wait()
        if self.publisher is not None:
            self.publisher.close()

    def kill(self):
        self._running = False
        if self._gt is not None:
            self._gt.kill()
        if self.publisher is not None:
            self.publisher.close()


class Database(DependencyProvider):
    """Injects a UnitOfWork per worker. Our entrypoints call ``finish`` before replying/acking;
    for other entrypoints (timers) ``worker_result`` finishes it."""

    relay = OutboxRelay()

    def __init__(self, base: type[DeclarativeBase]):
        self.base = base
        self.engine: Engine | None = None
        self.factory: sessionmaker | None = None
        self.units: dict[Any, UnitOfWork] = {}
        self.on_commit: Callable[[], None] | None = None

    def setup(self) -> None:
        url = self.container.config.get("DATABASE_URL") or database_url(self.container.service_name)
        self.engine = make_engine(url)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        self.relay.attach(self)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def kill(self) -> None:
        self.stop()

    def new_unit(self) -> UnitOfWork:
        return UnitOfWork(self.factory, self.base, self.on_commit)

    def get_dependency(self, worker_ctx) -> UnitOfWork:
        unit = self.units[worker_ctx] = self.new_unit()
        unit.read_only = self._read_only(worker_ctx)
        return unit

    def _read_only(self, worker_ctx) -> bool:
        """A read-only caller's work may not write, unless the method only touches the caller's
        own profile or preferences (marked ``services.common.caller.personal``)."""
        presented = worker_ctx.data.get(CONTEXT_KEY)
        if not presented:
            return False
        method = getattr(self.container.service_cls, worker_ctx.entrypoint.method_name, None)
        return verify_caller(presented).read_only and not getattr(method, "personal", False)

    def finish(self, worker_ctx, exc_info, inbox: tuple[str, str] | None = None):
        """Commit (or roll back) the worker's transaction; returns the exc_info to report.

        With ``inbox`` the (consumer, event id) is recorded in the same transaction; if another
        delivery of that event committed first, the effect is rolled back and the duplicate is
        reported as done (``"duplicate"``)."""
        unit = self.units.get(worker_ctx)
        if unit is None or unit.finished:
            return exc_info
        if exc_info is not None:
            unit.rollback()
            return exc_info
        try:
            if inbox is not None:
                unit.mark_applied(*inbox)
            unit.commit()
        except IntegrityError:
            unit.rollback()
            if inbox is not None and self.inbox_contains(*inbox):
                log.info("event %s already applied by %s; duplicate dropped", inbox[1], inbox[0])
                return None
            raise
        return None

    def inbox_contains(self, consumer: str, event_id: str) -> bool:
        """Asked before every event is handled: one autocommit round trip (not BEGIN, SELECT,
        ROLLBACK), since a consumer asks it once per message."""
        model = self.base.InboxMessage
        rows = self.new_unit().read(select(model.event_id).where(model.consumer == consumer,
                                                                  model.event_id == event_id))
        return bool(rows)

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        unit = self.units.get(worker_ctx)
        if unit is not None and not unit.finished:
            # An exception raised here kills the whole container (nameko treats a dependency's
            # failure as fatal): a timer's commit while PostgreSQL restarts took notify down
            # (tests/attack/test_database_faults.py). The work is rolled back and the timer
            # runs again on its next tick, so log it and carry on.
            try:
                if exc_info is None:
                    unit.commit()
                else:
                    unit.rollback()
            except Exception as exc:
                log.warning("%s: transaction not committed (%s)", worker_ctx.entrypoint.method_name,
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                try:
                    unit.rollback()
                except Exception:
                    pass        # the connection is gone; the pool replaces it

    def worker_teardown(self, worker_ctx) -> None:
        unit = self.units.pop(worker_ctx, None)
        if unit is not None:
            unit.close()
