"""Rentals: the items a customer has out on rent, and asking for them to be called off."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, requires
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES
from services.common.schemas import page_of
from services.orders.schemas import (CallOffIn, CallOffListArgs, CallOffOut, RentalContractOut,
                                     RentalListArgs)

blp = Blueprint("rentals", __name__, url_prefix="/api/v1/rentals",
                description="Rental contracts, items out on rent, call-off requests.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))


def rentals(method: str, *args):
    return client().call("orders", method, *args, caller=caller())


@blp.route("", methods=["GET"])
@requires(*CUSTOMERS)
@blp.arguments(RentalListArgs, location="query")
@blp.response(200, page_of(RentalContractOut))
def list_rentals(_args):
    """Your rental contracts with the items out (contract number, item, quantity, since) and the
    call-offs asked for."""
    return answer(rentals("list_rentals", query_args()))


@blp.route("/call-offs", methods=["GET"])
@requires(*CUSTOMERS)
@blp.arguments(CallOffListArgs, location="query")
@blp.response(200, page_of(CallOffOut))
def list_call_offs(_args):
    """Your call-off requests and their status (requested, confirmed, declined)."""
    return answer(rentals("list_call_offs", query_args()))


@blp.route("/<string:contract_id>", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, RentalContractOut)
def get_rental(contract_id):
    """One rental contract."""
    return answer(rentals("get_rental", contract_id))


@blp.route("/<string:contract_id>/call-off", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(CallOffIn)
@blp.response(201, CallOffOut)
def call_off(_payload, contract_id):
    """Ask for items to go off rent on a day (the operator confirms; then they stop counting)."""
    return answer(rentals("request_call_off", contract_id, request.get_json()), 201)
