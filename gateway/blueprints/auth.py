"""Signing in."""
from __future__ import annotations

from flask_smorest import Blueprint

from gateway.auth import client_address
from gateway.rpc import answer, client
from services.identity.schemas import LoginIn, LoginOut

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign in and out.")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginIn)
@blp.response(200, LoginOut)
def login(credentials):
    """Exchange email and password for an access token.

    The same answer (401) for an unknown email and a wrong password; repeated failures for an
    account or from an address are refused for a while (429 with Retry-After)."""
    return answer(client().call("identity", "login", credentials, address=client_address()))
