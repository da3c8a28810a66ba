"""Routes about the platform itself: the event catalogue and a bare RPC round trip."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint

from gateway.rpc import client
from services.common.events import asyncapi_document

blp = Blueprint("meta", __name__, url_prefix="/api/v1", description="The platform itself.")


@blp.route("/asyncapi.json", methods=["GET"])
@blp.doc(responses={"200": {"description": "AsyncAPI 2.6 document of `portal.events`."}})
def asyncapi():
    """The catalogue of domain events partners can subscribe to, generated from their schemas."""
    return jsonify(asyncapi_document())


@blp.route("/ping", methods=["GET"])
@blp.doc(responses={"200": {"description": "The identity service answered."}})
def ping():
    """One bare RPC round trip to the identity service (no credentials, no database)."""
    return jsonify(client().call("identity", "ping"))
