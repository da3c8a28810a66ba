"""Accounts the operator opens directly: its own staff, or a customer's user, activated by an
email carrying a temporary password that must be changed at the first sign-in.

As with invitation links, the temporary password is derived from the user's id and a nonce
with a key only services hold, so the ``user.created`` event that drives the email does not
carry it; the database keeps only its argon2 hash."""
from __future__ import annotations

from sqlalchemy import select

from services.common.caller import (CUSTOMER_PEOPLE, DISPATCHER, OPERATOR_ADMIN,
                                    CallerContext)
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.schemas import dump
from services.identity import audit, invites, one_time, users
from services.identity.accounts import normalise_email
from services.identity.models import Customer, User
from services.identity.passwords import hash_password
from services.identity.schemas import UserOut

PURPOSE = "temporary-password"
STAFF_ROLES = (OPERATOR_ADMIN, DISPATCHER)


def temporary_password(user_id: str, nonce: str) -> str:
    return one_time.derive(PURPOSE, user_id, nonce)[:20]      # 120 bits, easy enough to paste


def temporary_passwords(user_id: str, nonce: str) -> list[str]:
    """The temporary password under each accepted key (a key rotation under way)."""
    return [token[:20] for token in one_time.candidates(PURPOSE, user_id, nonce)]


def create(uow: UnitOfWork, caller: CallerContext, data: dict, customer_id: str | None = None,
           address: str | None = None) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    session = uow.session
    allowed = CUSTOMER_PEOPLE if customer_id else STAFF_ROLES
    if data["role"] not in allowed:
        raise ValidationFailed.of({"role": [f"Must be one of: {', '.join(allowed)}."]})
    if customer_id:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("No such customer.")
        if invites.seats_taken(session, customer_id) >= invites.MAX_USERS:
            raise Conflict(f"A customer can have at most {invites.MAX_USERS} portal users, "
                           "invitations included.", {"limit": invites.MAX_USERS})
    email = normalise_email(data["email"])
    if session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("This address already belongs to a portal user.", {"emails": [email]})
    user = User(email=email, name=data["name"].strip(), role=data["role"], customer_id=customer_id,
                must_change_password=True)
    session.add(user)
    session.flush()
    nonce = one_time.new_nonce()
    user.password_hash = hash_password(temporary_password(user.id, nonce))
    users.announce(uow, "user.created", user, nonce=nonce)
    audit.record(session, caller, "user.created", customer_id=customer_id, target_id=user.id,
                 address=address, details={"role": user.role})
    return dump(UserOut, user)


def staff(session, caller: CallerContext) -> list[dict]:
    caller.require_operator()
    rows = session.scalars(select(User).where(User.customer_id.is_(None)).order_by(User.email))
    return dump(UserOut, rows, many=True)
