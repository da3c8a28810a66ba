"""Access tokens: issued by the identity service, verified by the gateway without an RPC.

A JWT (HS256, key derived from SECRET_KEY for this purpose only) carrying the caller context
and a ``jti``. Short-lived (ACCESS_TOKEN_TTL) so that a token outlives a change of rights by
minutes at most.
"""
from __future__ import annotations

import math
import time
import uuid
from typing import Any

import jwt

from services.common.caller import CallerContext, validate
from services.common.config import env_int
from services.common.errors import Unauthenticated
from services.common.keys import accepted_keys, derive_key

ALGORITHM = "HS256"
ISSUER = "portal-identity"


LIMITED_PASSWORD = "password_change"        # signed in with a temporary password
LIMITED_TWO_FACTOR = "two_factor_setup"     # staff who must turn two-factor sign-in on first


def to_millisecond(seconds: float) -> float:
    return math.floor(seconds * 1000) / 1000


def issue(ctx: CallerContext, ttl: int | None = None, now: float | None = None,
          limited: str | None = None, session_id: str | None = None,
          signed_in_at: int | None = None) -> tuple[str, int]:
    """``limited``: the token may only do what fixes that (LIMITED_*); the gateway enforces it.

    ``sid`` names the sign-in a token belongs to and ``auth`` its time: a browser session renews
    its token (sessions.renew) under the same sid, so signing out ends all of them at once and
    the session's CSRF token (derived from the sid) stays the same."""
    validate(ctx)
    ttl = ttl or env_int("ACCESS_TOKEN_TTL")
    now = time.time() if now is None else now
    jti = uuid.uuid4().hex
    # iat to the millisecond: a session ended (sessions.end_all) and a sign-in in the same second
    # must still be told apart, or the new sign-in's token is refused as if issued before.
    claims: dict[str, Any] = {"iss": ISSUER, "sub": ctx.user_id, "role": ctx.role,
                              "jti": jti, "iat": to_millisecond(now), "exp": int(now) + ttl,
                              "sid": session_id or jti, "auth": int(signed_in_at or now)}
    if ctx.customer_id:
        claims["cid"] = ctx.customer_id
    if ctx.sites is not None:
        claims["sites"] = list(ctx.sites)
    if limited:
        claims["lim"] = limited
    return jwt.encode(claims, derive_key("access-token"), algorithm=ALGORITHM), ttl


def _decode(token: str) -> dict[str, Any]:
    keys = accepted_keys("access-token")          # the current key, then those of a rotation
    for index, key in enumerate(keys):
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], issuer=ISSUER,
                              options={"require": ["exp", "sub", "role", "jti"]})
        except jwt.InvalidSignatureError:
            if index == len(keys) - 1:
                raise
    raise AssertionError("unreachable")


def read(token: str) -> tuple[CallerContext, dict[str, Any]]:
    """The caller a token stands for; Unauthenticated when it is not a valid, live token."""
    try:
        claims = _decode(token)
        ctx = CallerContext(role=claims["role"], user_id=claims["sub"], customer_id=claims.get("cid"),
                             sites=claims.get("sites"))
        validate(ctx)
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The access token has expired; sign in again.") from None
    except (jwt.InvalidTokenError, ValueError, KeyError):
        raise Unauthenticated("The access token is not valid.") from None
    return ctx, claims
