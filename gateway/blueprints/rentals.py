"""Rentals: the items a customer has out on rent, and asking for them to be called off."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, requires
from gateway.blueprints.terms import PDF_TIMEOUT
from gateway.files import NO_STORE, send_rpc_file, send_stored, signer_origin
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_ROLES, OPERATOR_ROLES
from services.common.esign import SignatureIn
from services.billing.schemas import FileArgs
from services.common.schemas import page_of
from services.orders.schemas import (CallOffIn, CallOffListArgs, CallOffOut, RentalContractOut,
                                     RentalListArgs, RentalSignatureOut)

blp = Blueprint("rentals", __name__, url_prefix="/api/v1/rentals",
                description="Rental contracts, items out on rent, call-off requests.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))      # operator staff read the signed contract too
SIGNERS = (CUSTOMER_ADMIN, CUSTOMER_BOOKER)


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


# --- signing the contract's document (services/orders/rental_signing.py) ------------------------
@blp.route("/<string:contract_id>/document.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="The contract document to sign: exactly the bytes whose `sha256` the "
                               "contract's `document` gives.")
@blp.alt_response(404, description="No such contract, or no document attached.")
def rental_document(args, contract_id):
    """The contract document as a PDF (`download=1`: as an attachment)."""
    return send_stored(rentals("rental_document", contract_id), inline=args.get("download") != "1", cache=NO_STORE)


@blp.route("/<string:contract_id>/sign", methods=["POST"])
@requires(*SIGNERS)
@blp.arguments(SignatureIn)
@blp.response(200, RentalSignatureOut)
@blp.doc(responses={"409": {"description": "Another document was attached since the one shown "
                                          "(`details.version`, `details.document_sha256`), or it is signed already."}})
def sign_rental(_payload, contract_id):
    """Sign the contract document: your full name, your drawn signature (PNG) and the `sha256` of
    the document you were shown. Kept with who signed, when, your IP network (/24, /48) and
    browser family."""
    return answer(rentals("sign_rental", contract_id, request.get_json(), signer_origin()))


@blp.route("/<string:contract_id>/signature", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, RentalSignatureOut)
def rental_signature(contract_id):
    """The signature of the contract's current document (404 while it is unsigned)."""
    return answer(rentals("rental_signature", contract_id))


@blp.route("/<string:contract_id>/signed.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="The contract document as signed, with the signature page.")
def signed_rental_pdf(args, contract_id):
    """The contract document as signed: its pages unchanged, then a page with the signature, the
    signer, when, from where and the SHA-256 of the document signed. 404 while unsigned."""
    found = client().call("orders", "signed_rental_pdf", contract_id, caller=caller(), timeout=PDF_TIMEOUT)
    return send_rpc_file(found, inline=args.get("download") != "1")
