"""The signed-in user's own profile."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from services.common.caller import personal
from gateway.auth import allowed_when_limited, caller, requires
from gateway.rpc import answer, client
from services.common.caller import PEOPLE     # two-factor sign-in is a person's, not an API key's
from services.common.tokens import LIMITED_TWO_FACTOR
from services.identity.schemas import (MePatch, TwoFactorCodeIn, TwoFactorDisableIn, TwoFactorSetupOut,
                                       TwoFactorStatus, UserOut)

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="Your own profile.")


@blp.route("", methods=["GET"])
@requires()
@blp.response(200, UserOut)
@allowed_when_limited()
def get_me():
    """Who you are signed in as."""
    return answer(client().call("identity", "get_me", caller=caller()))


@blp.route("", methods=["PATCH"])
@requires()
@blp.arguments(MePatch)
@blp.response(200, UserOut)
@allowed_when_limited()
@personal
def update_me(_payload):
    """Change your name, or your password (send `current_password` and `new_password`)."""
    return answer(client().call("identity", "update_me", request.get_json(), caller=caller()))


@blp.route("/2fa/setup", methods=["POST"])
@requires(*PEOPLE)
@blp.response(200, TwoFactorSetupOut)
@allowed_when_limited(LIMITED_TWO_FACTOR)
@personal
def setup_two_factor():
    """Start two-factor sign-in: add the secret to an authenticator app, then confirm a code."""
    return answer(client().call("identity", "setup_two_factor", caller=caller()))


@blp.route("/2fa/confirm", methods=["POST"])
@requires(*PEOPLE)
@blp.arguments(TwoFactorCodeIn)
@blp.response(200, TwoFactorStatus)
@allowed_when_limited(LIMITED_TWO_FACTOR)
@personal
def confirm_two_factor(_payload):
    """Turn two-factor sign-in on with a code from the app; answers the recovery codes, once.
    Other sessions end: sign in again with a code."""
    return answer(client().call("identity", "confirm_two_factor", request.get_json(), caller=caller()))


@blp.route("/2fa/disable", methods=["POST"])
@requires(*PEOPLE)
@blp.arguments(TwoFactorDisableIn)
@blp.response(200, TwoFactorStatus)
@personal
def disable_two_factor(_payload):
    """Turn two-factor sign-in off (needs the password and a current or recovery code)."""
    return answer(client().call("identity", "disable_two_factor", request.get_json(), caller=caller()))
