"""Password reset by email: a single-use link valid for an hour.

Asking always answers the same (no account enumeration). Like invitations, the token is derived
from the reset's id and a nonce only services can combine, so the event that drives the email
does not carry the link. A completed reset ends every session of the user."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from services.common.db import UnitOfWork, utcnow
from services.common.errors import NotFound
from services.identity import audit, one_time, sessions
from services.identity.accounts import normalise_email
from services.identity.models import PasswordReset, User
from services.identity.passwords import hash_password
from services.identity.policy import check_new_password

VALID_FOR = timedelta(hours=1)
PURPOSE = "password-reset"


def request(uow: UnitOfWork, email: str, address: str | None = None) -> None:
    session = uow.session
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    audit.record(session, None, "auth.password_reset_requested", target_id=normalise_email(email),
                 address=address, details={"known": user is not None})
    if user is None or not user.is_active or not user.has_portal_access:
        return
    reset = PasswordReset(user_id=user.id, token_hash="", expires_at=utcnow() + VALID_FOR)
    session.add(reset)
    session.flush()
    nonce = one_time.new_nonce()
    reset.token_hash = one_time.digest(one_time.derive(PURPOSE, reset.id, nonce))
    # Not customer-scoped on purpose: partner subscriptions of the customer never see it.
    uow.emit("password_reset.requested", {"reset_id": reset.id, "user_id": user.id, "nonce": nonce})


def confirm(uow: UnitOfWork, token: str, password: str, address: str | None = None) -> None:
    session = uow.session
    reset = session.scalar(select(PasswordReset).where(
        PasswordReset.token_hash == one_time.digest(token)).with_for_update())
    if reset is None or reset.used_at or reset.expires_at <= utcnow():
        raise NotFound("This reset link is not valid any more; ask for a new one.")
    user = session.get(User, reset.user_id)
    check_new_password(password, user.email)
    user.password_hash = hash_password(password)
    user.must_change_password = False
    reset.used_at = sessions.end_all(user)
    audit.record(session, None, "auth.password_reset", customer_id=user.customer_id,
                 target_id=user.id, address=address)
