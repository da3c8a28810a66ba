"""The orders service's copy of customer settings, kept from ``customer.*`` events."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.errors import NotFound
from services.orders.models import CustomerSettings

FIELDS = ("client_id", "name", "is_active", "require_dimensions", "allow_order_upload")
OPTIONAL = {"sites": list, "approval_limit": lambda: None}     # absent from events before issue 11


def apply_customer_event(session: Session, event: dict) -> None:
    data = event["data"]
    row = session.get(CustomerSettings, data["customer_id"])
    if row is None:
        row = CustomerSettings(customer_id=data["customer_id"])
        session.add(row)
    for name in FIELDS:
        setattr(row, name, data[name])
    for name, default in OPTIONAL.items():
        setattr(row, name, data.get(name, default()))


def settings_of(session: Session, caller: CallerContext, customer_id: str) -> dict:
    scope = caller.scope(customer_id)
    row = session.get(CustomerSettings, scope) if scope else None
    if row is None:
        raise NotFound("No such customer.")
    return {"customer_id": row.customer_id, **{name: getattr(row, name) for name in (*FIELDS, *OPTIONAL)}}
