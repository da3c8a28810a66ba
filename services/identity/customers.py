"""Customer accounts, as the operator manages them."""
from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.schemas import dump, load
from services.identity.models import Customer, User
from services.identity import audit
from services.identity.schemas import CustomerIn, CustomerOut, CustomerSelfOut

# Crockford's base32 without I, L, O, U: easy to read aloud and type into a spreadsheet.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SORTABLE = {"created_at", "name", "client_id"}


def new_client_id(session: Session) -> str:
    for _ in range(20):
        candidate = "C" + "".join(secrets.choice(_ALPHABET) for _ in range(7))
        if session.scalar(select(func.count()).select_from(Customer)
                          .where(Customer.client_id == candidate)) == 0:
            return candidate
    raise RuntimeError("could not find a free client_id")   # 32^7 ids: practically unreachable


def event_data(customer: Customer) -> dict:
    return {"customer_id": customer.id, "name": customer.name, "client_id": customer.client_id,
            "is_active": customer.is_active, "has_portal_access": customer.has_portal_access,
            "require_dimensions": customer.require_dimensions,
            "location_sharing": customer.location_sharing,
            "allow_order_upload": customer.allow_order_upload,
            "default_depot_id": customer.default_depot_id,
            "billing_address": customer.billing_address,
            "sites": customer.sites or [], "approval_limit": customer.approval_limit}


def create(uow: UnitOfWork, caller: CallerContext, fields: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    session = uow.session
    customer = Customer(client_id=new_client_id(session), **fields)
    session.add(customer)
    session.flush()
    audit.record(session, caller, "customer.created", customer_id=customer.id, target_id=customer.id,
                 details={"name": customer.name})
    uow.emit("customer.created", event_data(customer), customer_id=customer.id)
    return dump(CustomerOut, customer)


def _get(session: Session, caller: CallerContext, customer_id: str) -> Customer:
    scope = caller.scope(customer_id)
    customer = session.get(Customer, customer_id) if scope else None
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def get(session: Session, caller: CallerContext, customer_id: str) -> dict:
    return dump(CustomerOut, _get(session, caller, customer_id))


def update(uow: UnitOfWork, caller: CallerContext, customer_id: str, fields: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    customer = _get(uow.session, caller, customer_id)
    changed = {name: value for name, value in fields.items() if getattr(customer, name) != value}
    for name, value in changed.items():
        setattr(customer, name, value)
    uow.session.flush()
    if changed:      # what changed, by whom: the console's audit log shows it
        audit.record(uow.session, caller, "customer.updated", customer_id=customer.id, target_id=customer.id,
                     details={"changed": sorted(changed)})
    uow.emit("customer.updated", event_data(customer), customer_id=customer.id)
    return dump(CustomerOut, customer)


def listing(session: Session, caller: CallerContext, page: int, per_page: int,
            sort: str | None, q: str | None = None) -> dict:
    caller.require_operator()
    query = select(Customer)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(func.lower(Customer.name).like(like) | func.lower(Customer.client_id).like(like))
    column = (sort or "-created_at").lstrip("-")
    if column not in SORTABLE:
        raise ValidationFailed.of({"sort": [f"Sort by one of {', '.join(sorted(SORTABLE))}."]})
    order = getattr(Customer, column)
    query_sorted = query.order_by(order.desc() if (sort or "-").startswith("-") else order.asc(), Customer.id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query_sorted.offset((page - 1) * per_page).limit(per_page)).all()
    return {"items": dump(CustomerOut, rows, many=True), "page": page, "per_page": per_page, "total": total}


def validate_fields(data: dict, partial: bool = False) -> dict:
    return load(CustomerIn, data, partial=partial)


def own(session: Session, caller: CallerContext) -> dict:
    caller.require()
    customer = session.get(Customer, caller.scope()) if caller.is_customer else None
    if customer is None:
        raise NotFound("You act for no customer account.")
    return dump(CustomerSelfOut, customer)


def _check_sites_in_use(session: Session, customer: Customer, kept: set[str]) -> None:
    """A site some colleague is limited to cannot go: that user would silently see nothing."""
    gone = {site["code"] for site in customer.sites or []} - kept
    holders = sorted(user.email for user in session.scalars(select(User).where(
        User.customer_id == customer.id, User.is_active.is_(True), User.sites.is_not(None)))
        if gone & set(user.sites or ()))
    if holders:
        raise Conflict("Some users are limited to a site you are removing; change their sites first.",
                       {"sites": sorted(gone), "users": holders})


def update_own(uow: UnitOfWork, caller: CallerContext, fields: dict) -> dict:
    caller.require(CUSTOMER_ADMIN)
    customer = uow.session.get(Customer, caller.scope())
    if fields.get("approval_limit") is not None:     # JSON keeps the decimal as the string it came as
        fields["approval_limit"] = {**fields["approval_limit"], "amount": str(fields["approval_limit"]["amount"])}
    if "sites" in fields:
        _check_sites_in_use(uow.session, customer, {site["code"] for site in fields["sites"]})
    for name, value in fields.items():
        setattr(customer, name, value)
    uow.session.flush()
    audit.record(uow.session, caller, "customer.self_updated", customer_id=customer.id,
                 target_id=customer.id, details={"fields": sorted(fields)})
    uow.emit("customer.updated", event_data(customer), customer_id=customer.id)
    return dump(CustomerSelfOut, customer)
