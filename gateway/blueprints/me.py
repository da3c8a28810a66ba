"""The signed-in user's own profile."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import before_password_change, caller, requires
from gateway.rpc import answer, client
from services.identity.schemas import MePatch, UserOut

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="Your own profile.")


@blp.route("", methods=["GET"])
@requires()
@blp.response(200, UserOut)
@before_password_change
def get_me():
    """Who you are signed in as."""
    return answer(client().call("identity", "get_me", caller=caller()))


@blp.route("", methods=["PATCH"])
@requires()
@blp.arguments(MePatch)
@blp.response(200, UserOut)
@before_password_change
def update_me(_payload):
    """Change your name, or your password (send `current_password` and `new_password`)."""
    return answer(client().call("identity", "update_me", request.get_json(), caller=caller()))
