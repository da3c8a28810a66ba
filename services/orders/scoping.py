"""The one way the orders service reads a customer's object: filtered by the caller's customer
(DESIGN: every query on customer data filters by customer_id), so another customer's object is
NotFound, exactly like one that does not exist."""
from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.errors import NotFound

MAX_ID = 36


def owned(caller: CallerContext, model, customer_id: str | None = None) -> Select:
    """``SELECT model`` limited to what the caller may see (operator staff: all, or the
    customer they name)."""
    scope = caller.scope(customer_id)
    query = select(model)
    return query if scope is None else query.where(model.customer_id == scope)


def get_owned(session: Session, caller: CallerContext, model, object_id: str, what: str, *,
              lock: bool = False):
    """One object by id if the caller may see it, else NotFound("No such <what>.")."""
    query = owned(caller, model).where(model.id == object_id)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query) if isinstance(object_id, str) and len(object_id) <= MAX_ID else None
    if found is None:
        raise NotFound(f"No such {what}.")
    return found
