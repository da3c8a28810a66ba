"""Whether a signed-in session still stands, and ending one.

The gateway trusts an access token on its signature alone for its first minute, then asks
here once a minute (SESSION_RECHECK_SECONDS): so signing out, a password reset, or the operator
switching a user or a customer off ends that user's tokens within a minute, everywhere."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from services.common import tokens
from services.common.caller import CallerContext
from services.common.config import env_int
from services.common.db import utcnow
from services.common.errors import Unauthenticated
from services.identity import audit
from services.identity.models import Customer, RevokedToken, User

ENDED = "This session has ended; sign in again."


def check(session: Session, caller: CallerContext, jti: str, issued_at: float,
          session_id: str | None = None) -> dict:
    caller.require()
    user = session.get(User, caller.user_id)
    if user is None or not user.is_active or not user.has_portal_access or user.customer_id != caller.customer_id:
        raise Unauthenticated(ENDED)
    if user.customer_id is not None:
        customer = session.get(Customer, user.customer_id)
        if customer is None or not customer.is_active or not customer.has_portal_access:
            raise Unauthenticated(ENDED)
    if user.tokens_valid_after and issued_at < tokens.to_millisecond(user.tokens_valid_after.timestamp()):
        raise Unauthenticated(ENDED)
    if session.get(RevokedToken, jti) is not None:
        raise Unauthenticated(ENDED)
    if session_id and session_id != jti and session.get(RevokedToken, session_id) is not None:
        raise Unauthenticated(ENDED)
    return {"ok": True}


def end_all(user: User) -> datetime:
    """Every token the user holds now stops working (at the next recheck); a sign-in from this
    moment on gets a token that does. Both sides are compared to the millisecond, as tokens carry."""
    user.tokens_valid_after = utcnow()
    return user.tokens_valid_after


def renew(session: Session, caller: CallerContext, claims: dict) -> dict:
    """A new access token for a browser session that still stands (same sid, same sign-in time,
    the same limitation), refused once the sign-in is BROWSER_SESSION_MAX_SECONDS old."""
    if not isinstance(claims, dict) or not {"jti", "iat"} <= set(claims):
        # The gateway passes a verified token's claims; anything else is no session (was a 500).
        raise Unauthenticated("This session has ended; sign in again.")
    check(session, caller, claims["jti"], claims["iat"], claims.get("sid"))
    signed_in_at = int(claims.get("auth") or claims["iat"])
    if time.time() - signed_in_at >= env_int("BROWSER_SESSION_MAX_SECONDS"):
        raise Unauthenticated("This session is too old; sign in again.")
    token, ttl = tokens.issue(caller, limited=claims.get("lim"), session_id=claims.get("sid") or claims["jti"],
                              signed_in_at=signed_in_at)
    return {"access_token": token, "expires_in": ttl}


def _session_end(expires_at: float, session_id: str | None) -> datetime:
    """How long a revocation must be kept: the token's expiry, or for a browser session (whose
    tokens are renewed) as long as any of its tokens may live."""
    if session_id:
        expires_at = max(expires_at, time.time() + env_int("BROWSER_SESSION_MAX_SECONDS"))
    return datetime.fromtimestamp(expires_at, timezone.utc)


def logout(session: Session, caller: CallerContext, jti: str, expires_at: float,
           address: str | None = None, session_id: str | None = None) -> None:
    caller.require()
    for ended in {jti, session_id or jti}:     # the sid: every token renewed from this sign-in
        if session.get(RevokedToken, ended) is None:
            session.add(RevokedToken(jti=ended, expires_at=_session_end(expires_at, session_id)))
    audit.record(session, caller, "auth.logout", customer_id=caller.customer_id,
                 target_id=caller.user_id, address=address)
