"""The log of every event notify has heard, readable per customer."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.notify.models import EventLogEntry


def record(session: Session, event: dict) -> None:
    session.add(EventLogEntry(
        event_id=event["id"], type=event["type"], customer_id=event.get("customer_id"),
        occurred_at=datetime.fromisoformat(event["occurred_at"]),
        correlation_id=event.get("correlation_id"), data=event["data"]))


def recent(session: Session, caller: CallerContext, customer_id: str | None = None,
           limit: int = 50) -> list[dict]:
    scope = caller.scope(customer_id)
    query = select(EventLogEntry).order_by(EventLogEntry.seq.desc()).limit(min(limit, 200))
    if scope is not None:
        query = query.where(EventLogEntry.customer_id == scope)
    return [{"id": e.event_id, "type": e.type, "customer_id": e.customer_id,
             "occurred_at": e.occurred_at.isoformat(), "correlation_id": e.correlation_id,
             "data": e.data} for e in session.scalars(query)]
