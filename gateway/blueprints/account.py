"""A customer's own account: its details, its colleagues and invitations, its API keys, and
accepting an invitation."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, client_address, requires
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES
from services.identity.schemas import (AcceptInviteIn, ApiKeyCreated, ApiKeyIn, ApiKeyOut,
                                       CustomerSelfOut, CustomerSelfPatch, InviteOut, InvitesIn,
                                       UserOut, UserPatch)

blp = Blueprint("account", __name__, url_prefix="/api/v1",
                description="Your company's account: details, colleagues, invitations, API keys.")
ADMIN = (CUSTOMER_ADMIN,)


@blp.route("/customer", methods=["GET"])
@requires(*sorted(CUSTOMER_ROLES))
@blp.response(200, CustomerSelfOut)
def get_customer():
    """Your company's account as the operator keeps it (client_id is what imports use)."""
    return answer(client().call("identity", "get_own_customer", caller=caller()))


@blp.route("/customer", methods=["PATCH"])
@requires(*ADMIN)
@blp.arguments(CustomerSelfPatch)
@blp.response(200, CustomerSelfOut)
def update_customer(_payload):
    """Change your company's billing address, email or phone, its sites or cost centres, and
    the order amount above which a booker's order waits for an admin's approval (customer admins)."""
    return answer(client().call("identity", "update_own_customer", request.get_json(), caller=caller()))


@blp.route("/users", methods=["GET"])
@requires(*ADMIN)
@blp.response(200, UserOut(many=True))
def list_users():
    """Your company's portal users (customer admins)."""
    return answer(client().call("identity", "list_users", caller=caller()))


@blp.route("/users/<string:user_id>", methods=["DELETE"])
@requires(*ADMIN)
@blp.response(204)
def remove_user(user_id):
    """Remove a colleague: they can no longer sign in."""
    client().call("identity", "remove_user", user_id, caller=caller())
    return answer(None, 204)


@blp.route("/users/<string:user_id>", methods=["PATCH"])
@requires(*ADMIN)
@blp.arguments(UserPatch)
@blp.response(200, UserOut)
def update_user(_payload, user_id):
    """Change a colleague's role (customer_admin, customer_booker, customer_viewer) or the sites
    it is limited to (null: all). Its sessions end, so it signs in again with the new rights."""
    return answer(client().call("identity", "update_user", user_id, request.get_json(), caller=caller()))


@blp.route("/invites", methods=["GET"])
@requires(*ADMIN)
@blp.response(200, InviteOut(many=True))
def list_invites():
    """Invitations sent for your company, with their status."""
    return answer(client().call("identity", "list_invites", caller=caller()))


@blp.route("/invites", methods=["POST"])
@requires(*ADMIN)
@blp.arguments(InvitesIn)
@blp.response(201, InviteOut(many=True))
def invite(_payload):
    """Invite colleagues by email (at most 20 portal users per company, invitations included)."""
    return answer(client().call("identity", "invite", None, request.get_json(),
                                address=client_address(), caller=caller()), 201)


@blp.route("/invites/<string:invite_id>/resend", methods=["POST"])
@requires(*ADMIN)
@blp.response(200, InviteOut)
def resend_invite(invite_id):
    """Send one of your company's invitations again with a new link (the old link stops working)."""
    return answer(client().call("identity", "resend_invite", invite_id, caller=caller()))


@blp.route("/invites/<string:invite_id>", methods=["DELETE"])
@requires(*ADMIN)
@blp.response(200, InviteOut)
def revoke_invite(invite_id):
    """Revoke one of your company's invitations that was not accepted yet."""
    return answer(client().call("identity", "revoke_invite", invite_id, caller=caller()))


@blp.route("/invites/accept", methods=["POST"])
@blp.arguments(AcceptInviteIn)
@blp.response(201, UserOut)
def accept_invite(_payload):
    """Accept an invitation with the token from its email, and choose your password."""
    return answer(client().call("identity", "accept_invite", request.get_json(),
                                address=client_address()), 201)


@blp.route("/api-keys", methods=["GET"])
@requires(*ADMIN)
@blp.response(200, ApiKeyOut(many=True))
def list_api_keys():
    """Your company's API keys, by prefix (the secrets are never shown again)."""
    return answer(client().call("identity", "list_api_keys", caller=caller()))


@blp.route("/api-keys", methods=["POST"])
@requires(*ADMIN)
@blp.arguments(ApiKeyIn)
@blp.response(201, ApiKeyCreated)
def create_api_key(_payload):
    """Create an API key; its `secret` is in this answer only. Send it as `Authorization: Bearer <secret>`."""
    return answer(client().call("identity", "create_api_key", request.get_json(), caller=caller()), 201)


@blp.route("/api-keys/<string:key_id>", methods=["DELETE"])
@requires(*ADMIN)
@blp.response(204)
def revoke_api_key(key_id):
    """Revoke an API key; it stops working within a minute."""
    client().call("identity", "revoke_api_key", key_id, caller=caller())
    return answer(None, 204)
