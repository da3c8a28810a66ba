"""The reliability tables (outbox, inbox, idempotency) are pruned by age, never of a row that
still matters: an unpublished outbox row stays however old."""
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from services.common import bookkeeping
from services.common.db import UnitOfWork, service_base, utcnow

Base = service_base()


@pytest.fixture
def uow(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/bookkeeping.db")
    Base.metadata.create_all(engine)
    yield UnitOfWork(sessionmaker(engine, expire_on_commit=False), Base)
    engine.dispose()


def outbox(n: int, age: timedelta, published: bool) -> list:
    at = utcnow() - age
    return [Base.OutboxMessage(event_id=f"{age.days}-{published}-{i}", type="order.created", body="{}",
                               created_at=at, published_at=at if published else None) for i in range(n)]


def count(uow, model, *where) -> int:
    with uow.separate_session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_old_bookkeeping_goes_in_chunks_and_what_still_matters_stays(uow, monkeypatch):
    monkeypatch.setattr(bookkeeping, "CHUNK", 7)         # several chunks
    now = utcnow()
    with uow.separate_session() as session:
        session.add_all(outbox(20, timedelta(days=8), published=True)     # gone
                        + outbox(3, timedelta(days=1), published=True)     # kept: recent
                        + outbox(2, timedelta(days=40), published=False))  # kept: never published
        session.add_all(Base.InboxMessage(consumer=f"orders.h{i % 2}", event_id=f"old-{i}",
                                          received_at=now - timedelta(days=31)) for i in range(9))
        session.add(Base.InboxMessage(consumer="orders.h0", event_id="new", received_at=now))
        session.add_all(Base.IdempotencyRecord(scope="c-1", key=f"k{i}", request_hash="h", response="{}",
                                               created_at=now - timedelta(hours=h))
                        for i, h in enumerate((100, 73, 1)))
        session.commit()
    assert bookkeeping.prune(uow) == {"outbox": 20, "inbox": 9, "idempotency": 2}
    assert count(uow, Base.OutboxMessage) == 5
    assert count(uow, Base.OutboxMessage, Base.OutboxMessage.published_at.is_(None)) == 2
    assert count(uow, Base.InboxMessage) == 1 and count(uow, Base.IdempotencyRecord) == 1
    assert bookkeeping.prune(uow) == {"outbox": 0, "inbox": 0, "idempotency": 0}
