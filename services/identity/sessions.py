"""Whether a signed-in session still stands, and ending one.

The gateway trusts an access token on its signature alone for its first minute, then asks
here once a minute (SESSION_RECHECK_SECONDS): so signing out, a password reset, or the operator
switching a user or a customer off ends that user's tokens within a minute, everywhere."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.errors import Unauthenticated
from services.identity import audit
from services.identity.models import Customer, RevokedToken, User

ENDED = "This session has ended; sign in again."


def check(session: Session, caller: CallerContext, jti: str, issued_at: float) -> dict:
    caller.require()
    user = session.get(User, caller.user_id)
    if user is None or not user.is_active or not user.has_portal_access or user.customer_id != caller.customer_id:
        raise Unauthenticated(ENDED)
    if user.customer_id is not None:
        customer = session.get(Customer, user.customer_id)
        if customer is None or not customer.is_active or not customer.has_portal_access:
            raise Unauthenticated(ENDED)
    if user.tokens_valid_after and issued_at < user.tokens_valid_after.timestamp():
        raise Unauthenticated(ENDED)
    if session.get(RevokedToken, jti) is not None:
        raise Unauthenticated(ENDED)
    return {"ok": True}


def logout(session: Session, caller: CallerContext, jti: str, expires_at: float,
           address: str | None = None) -> None:
    caller.require()
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(expires_at, timezone.utc)))
    audit.record(session, caller, "auth.logout", customer_id=caller.customer_id,
                 target_id=caller.user_id, address=address)
