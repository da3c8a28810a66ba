"""The address book: a customer's saved pickup sites and recipients."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, requires
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES
from services.common.schemas import page_of
from services.orders.schemas import PlaceIn, PlaceListArgs, PlaceOut

blp = Blueprint("places", __name__, url_prefix="/api/v1/places",
                description="Your address book: pickup sites and frequent recipients.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))


def places(method: str, *args):
    return client().call("orders", method, *args, caller=caller())


@blp.route("", methods=["GET"])
@requires(*CUSTOMERS)
@blp.arguments(PlaceListArgs, location="query")
@blp.response(200, page_of(PlaceOut))
def list_places(_args):
    """Saved places by name; `q` searches the name, `kind` is `pickup` or `recipient`."""
    return answer(places("list_places", query_args()))


@blp.route("", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(PlaceIn)
@blp.response(201, PlaceOut)
def create_place(_payload):
    """Save a place; orders and imports refer to it by `place_id` (or the `place` column by name)."""
    return answer(places("create_place", request.get_json()), 201)


@blp.route("/<string:place_id>", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, PlaceOut)
def get_place(place_id):
    """One saved place."""
    return answer(places("get_place", place_id))


@blp.route("/<string:place_id>", methods=["PATCH"])
@requires(*CUSTOMERS)
@blp.arguments(PlaceIn(partial=True))
@blp.response(200, PlaceOut)
def update_place(_payload, place_id):
    """Change a saved place (orders already made keep their own copy of the address)."""
    return answer(places("update_place", place_id, request.get_json()))


@blp.route("/<string:place_id>", methods=["DELETE"])
@requires(*CUSTOMERS)
@blp.response(204)
def delete_place(place_id):
    """Remove a saved place."""
    places("delete_place", place_id)
    return answer(None, 204)
