"""The one way a service reads a customer's objects: filtered by the caller's customer (DESIGN:
every query on customer data filters by customer_id), so another customer's object is NotFound,
exactly like one that does not exist; and a page of them in the API's list shape."""
from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.errors import NotFound
from services.common.schemas import dump

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


def paged(session: Session, query: Select, args: dict, schema=None, transform=None) -> dict:
    """A page of any ORM query in the API's list shape: ``{items, page, per_page, total}``;
    rows dumped with ``schema`` or turned into items by ``transform``."""
    page, per_page = args.get("page", 1), args.get("per_page", 50)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    items = [transform(r) for r in rows] if transform else dump(schema, rows, many=True)
    return {"items": items, "page": page, "per_page": per_page, "total": total}
