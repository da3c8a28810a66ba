"""Operator staff routes (``/api/v1/admin``): customers users never reach these (403)."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import fields

from gateway.auth import caller, operator
from gateway.rpc import answer, client
from services.common.caller import OPERATOR_ADMIN
from services.common.schemas import PageArgs, page_of
from services.identity.schemas import CustomerIn, CustomerOut, CustomerPatch

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
