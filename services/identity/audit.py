"""The audit log: written in the transaction of the change it records."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.identity.models import AuditEntry


def record(session: Session, caller: CallerContext | None, action: str, *,
           customer_id: str | None = None, target_id: str | None = None,
           address: str | None = None, details: dict | None = None) -> None:
    session.add(AuditEntry(action=action, actor_id=caller.user_id if caller else None,
                           actor_role=caller.role if caller else None, customer_id=customer_id,
                           target_id=target_id, address=address, details=details))


def listing(session: Session, caller: CallerContext, filters: dict, page: int, per_page: int) -> dict:
    from sqlalchemy import func

    caller.require_operator()
    query = select(AuditEntry)
    for name in ("customer_id", "action", "actor_id"):
        if filters.get(name):
            query = query.where(getattr(AuditEntry, name) == filters[name])
    if filters.get("since"):
        query = query.where(AuditEntry.at >= filters["since"])
    if filters.get("until"):
        query = query.where(AuditEntry.at < filters["until"])
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(AuditEntry.seq.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return {"items": [{"at": r.at.isoformat(), "action": r.action, "actor_id": r.actor_id,
                       "actor_role": r.actor_role, "customer_id": r.customer_id,
                       "target_id": r.target_id, "address": r.address, "details": r.details or {}}
                      for r in rows], "page": page, "per_page": per_page, "total": total}
