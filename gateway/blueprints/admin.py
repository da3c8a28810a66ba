"""Operator staff routes (``/api/v1/admin``): customers users never reach these (403)."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import fields

from gateway.auth import caller, client_address, operator
from gateway.rpc import answer, client
from services.common.caller import OPERATOR_ADMIN
from services.common.schemas import PageArgs, page_of
from services.identity.schemas import (AuditArgs, AuditEntryOut, CustomerIn, CustomerOut, DriverIn,
                                       DriverOut, DriverPatch, DriverWithCredential, OperatorSettings,
                                       CustomerPatch, InviteOut, InvitesIn, NewUserIn, UserAccessPatch,
                                       UserOut)

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin",
                description="Operator staff: customers and their settings.")


class CustomerListArgs(PageArgs):
    q = fields.String(load_default=None, metadata={"description": "Part of the name or client_id."})


@blp.route("/customers", methods=["GET"])
@operator()
@blp.arguments(CustomerListArgs, location="query", as_kwargs=True)
@blp.response(200, page_of(CustomerOut))
def list_customers(**args):
    """All customers, newest first (sort by `name`, `client_id`, `created_at`, `-` for descending)."""
    return answer(client().call("identity", "list_customers", args, caller=caller()))


@blp.route("/customers", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(CustomerIn)
@blp.response(201, CustomerOut)
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"},
                      "description": "Repeat the request safely: the same key returns the first answer."}])
def create_customer(payload):
    """Create a customer account; its `client_id` is generated and shown to the customer."""
    return answer(client().call("identity", "create_customer", request.get_json(),
                                 idempotency_key=request.headers.get("Idempotency-Key"),
                                 caller=caller()), 201)


@blp.route("/customers/<string:customer_id>", methods=["GET"])
@operator()
@blp.response(200, CustomerOut)
def get_customer(customer_id):
    """One customer and its settings."""
    return answer(client().call("identity", "get_customer", customer_id, caller=caller()))


@blp.route("/customers/<string:customer_id>", methods=["PATCH"])
@operator(OPERATOR_ADMIN)
@blp.arguments(CustomerPatch(partial=True))
@blp.response(200, CustomerOut)
def update_customer(payload, customer_id):
    """Change a customer's details or settings (portal access, dimensions rule, location sharing ...)."""
    return answer(client().call("identity", "update_customer", customer_id, request.get_json(),
                         caller=caller()))


@blp.route("/customers/<string:customer_id>/invites", methods=["POST"])
@operator()
@blp.arguments(InvitesIn)
@blp.response(201, InviteOut(many=True))
def invite(_payload, customer_id):
    """Invite people to a customer's portal by email (at most 20 users per customer)."""
    return answer(client().call("identity", "invite", customer_id, request.get_json(),
                                address=client_address(), caller=caller()), 201)


@blp.route("/customers/<string:customer_id>/invites", methods=["GET"])
@operator()
@blp.response(200, InviteOut(many=True))
def list_invites(customer_id):
    """A customer's invitations and their status."""
    return answer(client().call("identity", "list_invites", customer_id, caller=caller()))


@blp.route("/invites/<string:invite_id>/resend", methods=["POST"])
@operator()
@blp.response(200, InviteOut)
def resend_invite(invite_id):
    """Send an invitation again with a new link (the old link stops working)."""
    return answer(client().call("identity", "resend_invite", invite_id, caller=caller()))


@blp.route("/invites/<string:invite_id>", methods=["DELETE"])
@operator()
@blp.response(200, InviteOut)
def revoke_invite(invite_id):
    """Revoke an invitation that was not accepted yet."""
    return answer(client().call("identity", "revoke_invite", invite_id, caller=caller()))


@blp.route("/customers/<string:customer_id>/users", methods=["GET"])
@operator()
@blp.response(200, UserOut(many=True))
def list_users(customer_id):
    """A customer's portal users."""
    return answer(client().call("identity", "list_users", customer_id, caller=caller()))


@blp.route("/users/<string:user_id>", methods=["PATCH"])
@operator(OPERATOR_ADMIN)
@blp.arguments(UserAccessPatch)
@blp.response(200, UserOut)
def set_user_access(_payload, user_id):
    """Switch a user's portal access (or activity) on or off."""
    return answer(client().call("identity", "set_user_access", user_id, request.get_json(),
                                caller=caller()))


@blp.route("/audit-log", methods=["GET"])
@operator()
@blp.arguments(AuditArgs, location="query", as_kwargs=True)
@blp.response(200, page_of(AuditEntryOut))
def audit_log(**args):
    """Who did what: sign-ins, invitations, API keys, access changes; newest first."""
    return answer(client().call("identity", "audit_log",
                                {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                 for k, v in args.items() if v is not None}, caller=caller()))


@blp.route("/settings", methods=["GET"])
@operator()
@blp.response(200, OperatorSettings)
def get_settings():
    """Operator-wide settings (self-service sign-up ...)."""
    return answer(client().call("identity", "get_settings", caller=caller()))


@blp.route("/settings", methods=["PATCH"])
@operator(OPERATOR_ADMIN)
@blp.arguments(OperatorSettings)
@blp.response(200, OperatorSettings)
def update_settings(_payload):
    """Change operator-wide settings."""
    return answer(client().call("identity", "update_settings", request.get_json(), caller=caller()))


@blp.route("/staff", methods=["GET"])
@operator()
@blp.response(200, UserOut(many=True))
def list_staff():
    """The operator's own staff (roles `operator_admin` and `dispatcher`)."""
    return answer(client().call("identity", "list_staff", caller=caller()))


@blp.route("/staff", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(NewUserIn)
@blp.response(201, UserOut)
def create_staff(_payload):
    """Open a staff account; an email brings a temporary password to change at first sign-in."""
    return answer(client().call("identity", "create_user", request.get_json(),
                                address=client_address(), caller=caller()), 201)


@blp.route("/customers/<string:customer_id>/users", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(NewUserIn)
@blp.response(201, UserOut)
def create_customer_user(_payload, customer_id):
    """Open a customer's user directly (instead of inviting): an activation email with a
    temporary password to change at first sign-in."""
    return answer(client().call("identity", "create_user", request.get_json(), customer_id,
                                address=client_address(), caller=caller()), 201)


@blp.route("/drivers", methods=["GET"])
@operator()
@blp.response(200, DriverOut(many=True))
def list_drivers():
    """Drivers, with the prefix of their app credential."""
    return answer(client().call("identity", "list_drivers", caller=caller()))


@blp.route("/drivers", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(DriverIn)
@blp.response(201, DriverWithCredential)
def create_driver(_payload):
    """Add a driver; the answer holds the credential for its app, shown this once."""
    return answer(client().call("identity", "create_driver", request.get_json(), caller=caller()), 201)


@blp.route("/drivers/<string:driver_id>", methods=["PATCH"])
@operator(OPERATOR_ADMIN)
@blp.arguments(DriverPatch(partial=True))
@blp.response(200, DriverOut)
def update_driver(_payload, driver_id):
    """Change a driver's details, or deactivate it (its credential stops working)."""
    return answer(client().call("identity", "update_driver", driver_id, request.get_json(), caller=caller()))


@blp.route("/drivers/<string:driver_id>/credential", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.response(201, DriverWithCredential)
def rotate_driver_credential(driver_id):
    """Issue a new credential for a driver's app; the old one stops working at once."""
    return answer(client().call("identity", "rotate_driver_credential", driver_id, caller=caller()), 201)
