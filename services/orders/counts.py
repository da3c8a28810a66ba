"""How many orders each customer has in each status, kept as it changes, so the orders list
can say ``total`` without counting 100,000 rows on every page (that count, not the page, was
what made a large account's list slow).

Changes are gathered in the unit of work and written just before it commits, in a fixed order
of keys, so concurrent transactions take the counter rows' locks briefly and in the same order."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from services.common.db import UnitOfWork, upsert_insert
from services.orders.models import OrderCount

_PENDING = "_order_count_changes"


def change(uow: UnitOfWork, customer_id: str, status: str, delta: int) -> None:
    pending: Counter | None = getattr(uow, _PENDING, None)
    if pending is None:
        pending = Counter()
        setattr(uow, _PENDING, pending)
        uow.before_commit(lambda: _write(uow, pending))
    pending[(customer_id, status)] += delta


def moved(uow: UnitOfWork, customer_id: str, before: str | None, after: str) -> None:
    if before:
        change(uow, customer_id, before, -1)
    change(uow, customer_id, after, +1)


def _write(uow: UnitOfWork, pending: Counter) -> None:
    session = uow.session
    insert = upsert_insert(session)
    for (customer_id, status), delta in sorted(pending.items()):
        if delta:
            statement = insert(OrderCount).values(customer_id=customer_id, status=status, n=delta)
            session.execute(statement.on_conflict_do_update(
                index_elements=["customer_id", "status"], set_={"n": OrderCount.n + delta}))
    pending.clear()


def total(uow: UnitOfWork, customer_id: str | None, statuses: list[str] | None) -> int:
    query = select(func.coalesce(func.sum(OrderCount.n), 0).label("n"))
    if customer_id is not None:
        query = query.where(OrderCount.customer_id == customer_id)
    if statuses:
        query = query.where(OrderCount.status.in_(statuses))
    return int(uow.read(query)[0]["n"])
