"""Who can be told: notify's copies of identity's customers and users, fed by their events,
and the operator staff who follow customers."""
from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.common import brand
from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ROLES, CallerContext
from services.common.db import upsert_insert
from services.common.errors import NotFound
from services.notify.models import BrandCopy, Customer, Follow, OrderFacts, Recipient

ALL_CUSTOMERS = "*"     # a follow of every customer


def apply(session: Session, event: dict) -> None:
    """Keep the copies: ``customer.*``, ``user.*`` and ``branding.updated`` events (replays and reorders are harmless:
    each event carries the whole current record)."""
    data, kind = event["data"], event["type"]
    if kind.startswith("customer."):
        _upsert(session, Customer, "id", {"id": data["customer_id"], "name": data["name"],
                                          "location_sharing": data["location_sharing"],
                                          "is_active": data["is_active"]})
    elif kind == "branding.updated":
        brand.apply_event(session, BrandCopy, event)
    elif kind.startswith("user."):
        reachable = data.get("reachable", True) and kind != "user.removed"
        _upsert(session, Recipient, "user_id", {
            "user_id": data["user_id"], "customer_id": data.get("customer_id"), "email": data["email"],
            "name": data.get("name"), "role": data["role"], "reachable": reachable, "sites": data.get("sites")})


def within_sites(session: Session, people: list[Recipient], event: dict) -> list[Recipient]:
    """``people`` less those limited to sites other than the one of the order the event is
    about (an event on no order is the whole customer's). An order notify knows no site of is
    kept from limited users, as orders keeps it from them."""
    data = event.get("data") or {}
    order_id = data.get("order_id")
    if not order_id or all(person.sites is None for person in people):
        return people
    site = data["site"] if "site" in data else session.scalar(select(OrderFacts.site).where(OrderFacts.order_id == order_id))
    return [person for person in people if person.sites is None or site in person.sites]


def _upsert(session: Session, model, key: str, values: dict) -> None:
    stmt = upsert_insert(session)(model).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=[key],
                                               set_={k: v for k, v in values.items() if k != key}))


def customer(session: Session, customer_id: str | None) -> Customer | None:
    return session.get(Customer, customer_id) if customer_id else None


def recipient(session: Session, user_id: str | None) -> Recipient | None:
    return session.get(Recipient, user_id) if user_id else None


def user_by_email(session: Session, customer_id: str | None, email: str | None) -> str | None:
    """The id of one of ``customer_id``'s users with this email (a mailed import's sender)."""
    if not customer_id or not email:
        return None
    return session.scalar(select(Recipient.user_id).where(
        Recipient.customer_id == customer_id, func.lower(Recipient.email) == email.strip().lower()).limit(1))


def customer_users(session: Session, customer_id: str) -> list[Recipient]:
    """The reachable portal users of one customer, never anyone else's."""
    return list(session.scalars(select(Recipient).where(
        Recipient.customer_id == customer_id, Recipient.reachable.is_(True))))


def every_customer_admin(session: Session) -> list[Recipient]:
    """The reachable admins of every customer (told of what concerns every customer)."""
    return list(session.scalars(select(Recipient).where(
        Recipient.customer_id.is_not(None), Recipient.role == CUSTOMER_ADMIN, Recipient.reachable.is_(True))))


def followers(session: Session, customer_id: str | None) -> list[Recipient]:
    """Operator staff following this customer (or every customer)."""
    wanted = [ALL_CUSTOMERS] + ([customer_id] if customer_id else [])
    # IN, not JOIN ... DISTINCT: PostgreSQL has no equality for a json column (recipients.sites).
    return list(session.scalars(
        select(Recipient).where(Recipient.user_id.in_(select(Follow.user_id).where(Follow.customer_id.in_(wanted))),
                                Recipient.customer_id.is_(None), Recipient.reachable.is_(True))))


# --- staff following customers ---------------------------------------------------------------
def following(session: Session, caller: CallerContext) -> dict:
    caller.require_operator()
    ids = sorted(session.scalars(select(Follow.customer_id).where(Follow.user_id == caller.user_id)))
    return {"all_customers": ALL_CUSTOMERS in ids, "customer_ids": [i for i in ids if i != ALL_CUSTOMERS]}


def follow(session: Session, caller: CallerContext, customer_id: str) -> dict:
    caller.require_operator()
    if customer_id != ALL_CUSTOMERS and session.get(Customer, customer_id) is None:
        raise NotFound("No such customer.")
    stmt = upsert_insert(session)(Follow).values(user_id=caller.user_id, customer_id=customer_id)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "customer_id"]))
    return following(session, caller)


def unfollow(session: Session, caller: CallerContext, customer_id: str) -> dict:
    caller.require_operator()
    session.execute(delete(Follow).where(Follow.user_id == caller.user_id, Follow.customer_id == customer_id))
    return following(session, caller)


def is_staff(role: str) -> bool:
    return role in OPERATOR_ROLES

