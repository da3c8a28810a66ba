"""Who is calling: the bearer token checked here, in the gateway, without an RPC.

``caller()`` is the verified CallerContext of the request (anonymous when no credentials were
sent); ``requires(*roles)`` guards a view and documents its security in the OpenAPI document.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from functools import wraps

from flask import g, request

from services.common import tokens
from services.common.caller import ANONYMOUS, OPERATOR_ROLES, CallerContext
from services.common.config import env_float
from services.common.db import READ_ONLY_MESSAGE
from services.common.errors import Forbidden, Unauthenticated
from services.common.keys import derive_key, signed_by_any

BEARER = [{"bearerAuth": []}]


def caller() -> CallerContext:
    if "caller" not in g:
        g.caller = _from_request()
    return g.caller


def _from_request() -> CallerContext:
    header = request.headers.get("Authorization")
    if not header:
        return _from_cookie()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send credentials as 'Authorization: Bearer <token>'.")
    token = token.strip()
    if token.startswith(API_KEY_MARK):
        return _api_key(token)
    ctx, g.limited, _sid = _verified(token)
    return ctx


# The web portal's session: the same access token, in an HttpOnly cookie (JavaScript never sees
# it), renewed by GET /auth/session while a tab is open. Cookies ride along on cross-site
# requests too, so every write signed in by the cookie must carry the session's CSRF token.
SESSION_COOKIE = "portal_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _from_cookie() -> CallerContext:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return CallerContext(role=ANONYMOUS)
    ctx, g.limited, sid = _verified(token)
    g.session_token = token
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not _csrf_matches(sent, sid):
            raise Forbidden("This request lacks the session's CSRF token (header X-CSRF-Token).",
                            {"reason": "csrf"})
    return ctx


def csrf_token(session_id: str) -> str:
    """The CSRF token of a browser session: derived from its sid, so it outlives renewals and
    needs no storage; only a page of this origin can read it (GET /auth/session)."""
    digest = hmac.new(derive_key("csrf"), session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _csrf_matches(sent: str, session_id: str) -> bool:
    """The CSRF token a page read before a key rotation still counts (keys.accepted_keys)."""
    try:
        mac = base64.urlsafe_b64decode(sent + "=" * (-len(sent) % 4))
    except ValueError:
        return False
    return bool(sent) and signed_by_any("csrf", session_id.encode(), mac)


def client_address() -> str | None:
    """The address sign-in throttling counts by (set ProxyFix up when behind a proxy)."""
    return request.remote_addr


API_KEY_MARK = "pk_"
API_KEY_RECHECK_SECONDS = 60
_api_keys: dict[str, tuple[CallerContext, float]] = {}


def _api_key(secret: str) -> CallerContext:
    """An API key's caller, asked of the identity service at most once a minute per key and
    worker: a revoked key, or a customer switched off, stops working within that minute."""
    from gateway.rpc import client

    hit = _api_keys.get(secret)
    if hit is not None and hit[1] > time.time():
        return hit[0]
    ctx = CallerContext(**client().call("identity", "authenticate_api_key", secret))
    if len(_api_keys) >= _CACHE_SIZE:
        _api_keys.clear()
    _api_keys[secret] = (ctx, time.time() + API_KEY_RECHECK_SECONDS)
    return ctx


_CACHE_SIZE = 4096
# token -> (caller, jti, token expiry, when to ask identity again)
_verified_tokens: dict[str, tuple[CallerContext, str, float, float, str | None, str]] = {}


def _verified(token: str) -> tuple[CallerContext, str | None, str]:
    """The caller of an access token: its signature checked here, its session asked of the
    identity service once a minute (SESSION_RECHECK_SECONDS) after its first minute.

    Decoding a JWT was ~5% of the gateway's CPU on GET /me, so a verified token is remembered;
    its expiry is checked on every hit. A token signed out, or of a user or customer switched
    off, stops working within the recheck interval."""
    now = time.time()
    hit = _verified_tokens.get(token)
    if hit is not None and hit[2] > now and hit[3] > now:
        return hit[0], hit[4], hit[5]
    ctx, claims = tokens.read(token)
    sid = claims.get("sid") or claims["jti"]
    if claims["jti"] in _signed_out or sid in _signed_out:
        raise Unauthenticated("This session has ended; sign in again.")
    recheck = env_float("SESSION_RECHECK_SECONDS")
    if now - claims["iat"] >= recheck:
        from gateway.rpc import client

        client().call("identity", "check_session", claims["jti"], claims["iat"], sid, caller=ctx)
        next_check = now + recheck
    else:
        next_check = claims["iat"] + recheck
    if len(_verified_tokens) >= _CACHE_SIZE:
        _verified_tokens.clear()       # crude but bounded; a miss costs one verification
    limited = claims.get("lim")          # tokens.LIMITED_*: what the user must do first
    _verified_tokens[token] = (ctx, claims["jti"], float(claims["exp"]), next_check, limited, sid)
    return ctx, limited, sid


_signed_out: dict[str, float] = {}     # jti -> expiry, for tokens signed out through this worker


def forget(token: str, jti: str, expires_at: float, session_id: str | None = None) -> None:
    """A token was just signed out here: refuse it (and its session's other tokens) in this
    worker at once (the others learn it from identity within the recheck interval)."""
    _verified_tokens.pop(token, None)
    now = time.time()
    for old in [j for j, exp in _signed_out.items() if exp < now]:
        del _signed_out[old]
    _signed_out[jti] = expires_at
    if session_id:
        _signed_out[session_id] = now + env_float("BROWSER_SESSION_MAX_SECONDS")


def requires(*roles: str):
    """Let a view run only for an authenticated caller holding one of ``roles`` (any if none)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            who = caller().require(*roles)
            if who.read_only and request.method not in SAFE_METHODS and not getattr(view, "personal", False):
                raise Forbidden(READ_ONLY_MESSAGE, {"reason": "read_only_role"})
            limited = g.get("limited")
            if limited and limited not in getattr(view, "allowed_when_limited", ()):
                raise Forbidden(LIMITED_MESSAGES.get(limited, "Finish setting up your account first."),
                                {"reason": f"{limited}_required"})
            return view(*args, **kwargs)

        guarded._apidoc = dict(getattr(view, "_apidoc", {}))
        guarded._apidoc.setdefault("manual_doc", {})
        guarded._apidoc["manual_doc"] = {**guarded._apidoc["manual_doc"], "security": BEARER}
        guarded.required_roles = roles
        return guarded

    return decorate


LIMITED_MESSAGES = {
    tokens.LIMITED_PASSWORD: "Choose your own password first: PATCH /api/v1/me with current_password "
                             "and new_password, then sign in again.",
    tokens.LIMITED_TWO_FACTOR: "Turn on two-factor sign-in first (POST /api/v1/me/2fa/setup, then "
                               "/confirm), then sign in again.",
}


def allowed_when_limited(*reasons: str):
    """Let a limited token (tokens.LIMITED_*) call this view: what fixes the limitation, reading
    oneself, signing out."""

    def mark(view):
        view.allowed_when_limited = reasons or tuple(LIMITED_MESSAGES)
        return view

    return mark


def operator(*roles: str):
    return requires(*(roles or tuple(sorted(OPERATOR_ROLES))))
