"""Customers who come in on their own: self-signup (when the operator allows it) and claiming
an account the operator created, by proving the phone, email and postal code on record."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, Forbidden, NotFound
from services.identity import audit, customers, throttle, users
from services.identity.accounts import count_failure, normalise_email
from services.identity.models import Customer, OperatorSetting, User
from services.identity.passwords import hash_password
from services.identity.policy import check_new_password

SETTINGS = {"self_signup": False, "require_2fa_for_staff": False}     # every operator-wide setting, with its default
NO_MATCH = ("The phone, email and postal code do not match an account we hold; check them "
            "against your paperwork or contact us.")


def settings(session) -> dict:
    stored = {s.key: s.value for s in session.scalars(select(OperatorSetting))}
    return {key: stored.get(key, default) for key, default in SETTINGS.items()}


def update_settings(uow: UnitOfWork, caller: CallerContext, changes: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    for key, value in changes.items():
        row = uow.session.get(OperatorSetting, key) or OperatorSetting(key=key)
        row.value = value
        uow.session.add(row)
    audit.record(uow.session, caller, "settings.changed", details=changes)
    uow.session.flush()
    return settings(uow.session)


def _first_user(uow: UnitOfWork, customer: Customer, email: str, name: str, password: str) -> User:
    check_new_password(password, email)
    if uow.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("This address already belongs to a portal user; sign in or reset the password.")
    user = User(email=email, name=name, role=CUSTOMER_ADMIN, customer_id=customer.id,
                password_hash=hash_password(password))
    uow.session.add(user)
    uow.session.flush()
    users.announce(uow, "user.activated", user)
    return user


def signup(uow: UnitOfWork, data: dict, address: str | None = None) -> User:
    if not settings(uow.session)["self_signup"]:
        raise Forbidden("Self-service sign-up is not open; ask the operator for an invitation.")
    email = normalise_email(data["email"])
    fields = customers.validate_fields({"name": data["company_name"], "email": email,
                                        "phone": data.get("phone"), "postal_code": data.get("postal_code")})
    customer = Customer(client_id=customers.new_client_id(uow.session), **fields)
    uow.session.add(customer)
    uow.session.flush()
    user = _first_user(uow, customer, email, data["name"], data["password"])
    uow.emit("customer.created", customers.event_data(customer), customer_id=customer.id)
    audit.record(uow.session, None, "customer.signed_up", customer_id=customer.id, target_id=user.id,
                 address=address)
    return user


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


def _postal(code: str | None) -> str:
    return re.sub(r"\s", "", code or "").upper()


def claim(uow: UnitOfWork, data: dict, address: str | None = None) -> User:
    """The three facts must all match one customer without portal users yet. Failures count
    towards the sign-in throttle of that email and address: claiming is guessing too."""
    session = uow.session
    email = normalise_email(data["email"])
    throttle.reserve(uow.separate_session(), f"claim:{email}", address)
    candidates = session.scalars(select(Customer).where(func.lower(Customer.email) == email))
    customer = next((c for c in candidates if c.phone and _digits(c.phone) == _digits(data["phone"])
                     and _postal(c.postal_code) == _postal(data["postal_code"])), None)
    if customer is None or not customer.is_active or not customer.has_portal_access:
        count_failure(uow, f"claim:{email}", address)
        raise NotFound(NO_MATCH)
    if session.scalar(select(func.count()).select_from(User).where(User.customer_id == customer.id)):
        raise Conflict("This account was claimed already; sign in, or reset your password.")
    user = _first_user(uow, customer, email, data.get("name") or customer.name, data["password"])
    throttle.succeeded(session, f"claim:{email}", address)
    audit.record(session, None, "customer.claimed", customer_id=customer.id, target_id=user.id,
                 address=address)
    return user
