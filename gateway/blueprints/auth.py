"""Signing in."""
from __future__ import annotations

import time

from flask import jsonify, make_response, request
from flask_smorest import Blueprint

from services.common.caller import personal
from gateway.auth import (SESSION_COOKIE, allowed_when_limited, caller, client_address, csrf_token,
                          forget, requires)
from gateway.rpc import answer, client
from services.common import tokens
from services.identity.schemas import (ClaimIn, LoginIn, LoginOut, PasswordResetConfirmIn,
                                       PasswordResetIn, SessionOut, SignupIn)

SessionIn = LoginIn

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign in and out.")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginIn)
@blp.response(200, LoginOut)
def login(credentials):
    """Exchange email and password for an access token.

    The same answer (401) for an unknown email and a wrong password; repeated failures for an
    account or from an address are refused for a while (429 with Retry-After)."""
    return answer(client().call("identity", "login", credentials, address=client_address()))


@blp.route("/logout", methods=["POST"])
@requires()
@blp.response(204)
@allowed_when_limited()
@personal
def logout():
    """End this session: its token stops working here at once, everywhere within a minute."""
    if not request.headers.get("Authorization"):
        return close_session()                  # a browser signed in by its cookie
    token = request.headers["Authorization"].partition(" ")[2].strip()
    if token.startswith("pk_"):
        return answer(None, 204)          # an API key is revoked, not signed out
    _ctx, claims = tokens.read(token)
    client().call("identity", "logout", claims["jti"], claims["exp"], address=client_address(),
                  caller=caller())
    forget(token, claims["jti"], claims["exp"])
    return answer(None, 204)


def set_session(response, signed_in: dict):
    """Put a sign-in's access token in the browser's session cookie (HttpOnly: scripts never
    see it; SameSite=Lax; Secure over TLS)."""
    response.set_cookie(SESSION_COOKIE, signed_in["access_token"], max_age=signed_in["expires_in"],
                        httponly=True, samesite="Lax", secure=request.is_secure, path="/")
    return response


def _session_state(token: str, claims: dict | None = None) -> dict:
    """What the page learns of its session (never the token); ``claims``: already read."""
    claims = claims or tokens.read(token)[1]
    return {"signed_in": True, "csrf_token": csrf_token(claims.get("sid") or claims["jti"]),
            "expires_in": max(0, int(claims["exp"] - time.time())), "limited": claims.get("lim"),
            "role": claims["role"], "user_id": claims["sub"], "customer_id": claims.get("cid")}


@blp.route("/session", methods=["POST"])
@blp.arguments(SessionIn)
@blp.response(201, SessionOut)
def open_session(payload):
    """Sign this browser in with a session cookie (the web portal's way in): the same
    credentials as `/login` (email, password, otp). The cookie is HttpOnly; writes signed in by
    it must send the answer's `csrf_token` in the `X-CSRF-Token` header."""
    signed_in = client().call("identity", "login", payload, address=client_address())
    response = make_response(jsonify(_session_state(signed_in["access_token"])), 201)
    return set_session(response, signed_in)


@blp.route("/session", methods=["GET"])
@blp.response(200, SessionOut)
@allowed_when_limited()
def read_session():
    """This browser's session: its CSRF token and how long it lasts. Renews the cookie when it
    is past half its life (while a tab is open, up to BROWSER_SESSION_MAX_SECONDS after
    signing in). `signed_in: false` when there is none (a page asks before it signs in; a
    session that has ended is 401)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or request.headers.get("Authorization"):
        return jsonify({"signed_in": False})
    ctx = caller()              # verifies the cookie's token (and asks identity once a minute)
    _ctx, claims = tokens.read(token)
    if claims["exp"] - time.time() >= (claims["exp"] - claims["iat"]) / 2:
        return jsonify(_session_state(token, claims))
    renewed = client().call("identity", "renew_session", claims, caller=ctx)
    return set_session(jsonify(_session_state(renewed["access_token"])), renewed)


@blp.route("/session", methods=["DELETE"])
@blp.response(204)
@allowed_when_limited()
def close_session():
    """Sign this browser out: its session (every token renewed from the same sign-in) ends."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and not request.headers.get("Authorization"):
        ctx = caller()                       # checks the CSRF token too
        _ctx, claims = tokens.read(token)
        sid = claims.get("sid") or claims["jti"]
        client().call("identity", "logout", claims["jti"], claims["exp"], address=client_address(),
                      session_id=sid, caller=ctx)
        forget(token, claims["jti"], claims["exp"], sid)
    response = make_response("", 204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=request.is_secure)
    return response


@blp.route("/password-reset", methods=["POST"])
@blp.arguments(PasswordResetIn)
@blp.response(202)
def password_reset(_payload):
    """Email a single-use reset link valid for an hour. Always 202: the answer never tells
    whether an account exists."""
    client().call("identity", "request_password_reset", request.get_json(), address=client_address())
    return answer({"status": "accepted"}, 202)


@blp.route("/password-reset/confirm", methods=["POST"])
@blp.arguments(PasswordResetConfirmIn)
@blp.response(204)
def password_reset_confirm(_payload):
    """Set a new password with the token from the reset email; every session of the account ends."""
    client().call("identity", "confirm_password_reset", request.get_json(), address=client_address())
    return answer(None, 204)


@blp.route("/signup", methods=["POST"])
@blp.arguments(SignupIn)
@blp.response(201, LoginOut)
def signup(_payload):
    """Open a customer account and its first user, when the operator allows self-service
    sign-up (403 otherwise); answers like a sign-in."""
    return answer(client().call("identity", "signup", request.get_json(), address=client_address()), 201)


@blp.route("/claim", methods=["POST"])
@blp.arguments(ClaimIn)
@blp.response(201, LoginOut)
def claim(_payload):
    """Claim the account the operator created for your company: the phone, email and postal code
    must match its record. Becomes its first user, an administrator; answers like a sign-in."""
    return answer(client().call("identity", "claim", request.get_json(), address=client_address()), 201)
