"""Signing in."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import allowed_when_limited, caller, client_address, forget, requires
from gateway.rpc import answer, client
from services.common import tokens
from services.identity.schemas import (ClaimIn, LoginIn, LoginOut, PasswordResetConfirmIn,
                                       PasswordResetIn, SignupIn)

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
def logout():
    """End this session: its token stops working here at once, everywhere within a minute."""
    token = request.headers["Authorization"].partition(" ")[2].strip()
    if token.startswith("pk_"):
        return answer(None, 204)          # an API key is revoked, not signed out
    _ctx, claims = tokens.read(token)
    client().call("identity", "logout", claims["jti"], claims["exp"], address=client_address(),
                  caller=caller())
    forget(token, claims["jti"], claims["exp"])
    return answer(None, 204)


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
