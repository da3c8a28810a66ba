"""Routes about the platform itself: the event catalogue and a bare RPC round trip."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint

from gateway.rpc import client
from services.common.events import asyncapi_document
from services.common.topology import DRIVER_EXCHANGE
from services.tracking.schemas import LocationIn, StopReportIn

DRIVER_MESSAGES = {
    "driver.{driver_id}.location": (DRIVER_EXCHANGE, LocationIn, "A driver app reports where the driver is."),
    "driver.{driver_id}.stop": (DRIVER_EXCHANGE, StopReportIn,
                                "A driver app reports arriving at, completing or failing a stop of its route."),
}

blp = Blueprint("meta", __name__, url_prefix="/api/v1", description="The platform itself.")


@blp.route("/asyncapi.json", methods=["GET"])
@blp.doc(responses={"200": {"description": "AsyncAPI 2.6 document of `portal.events` and `tracking.driver`."}})
def asyncapi():
    """The catalogue of domain events partners can subscribe to, and the messages driver apps
    publish, generated from their schemas."""
    return jsonify(asyncapi_document(DRIVER_MESSAGES))


@blp.route("/ping", methods=["GET"])
@blp.doc(responses={"200": {"description": "The identity service answered."}})
def ping():
    """One bare RPC round trip to the identity service (no credentials, no database)."""
    return jsonify(client().call("identity", "ping"))
