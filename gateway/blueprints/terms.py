"""The operator's terms: the operator's admin uploads them as a PDF (each upload a new version);
each customer's admin signs the current version with an electronic signature
(services/identity/terms.py). Customers read them here; operator staff under ``/admin/terms``."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, operator, requires
from gateway.files import NO_STORE, send_rpc_file, send_stored, signer_origin
from gateway.inputs import FileField, query_args, upload
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, OPERATOR_ADMIN, OPERATOR_ROLES
from services.common.esign import SignatureIn
from services.common.schemas import page_of
from services.billing.schemas import FileArgs
from services.identity.schemas import (SignedTermsArgs, TermsAdminOut, TermsOut, TermsSignatureListArgs,
                                       TermsSignatureOut)

blp = Blueprint("terms", __name__, url_prefix="/api/v1",
                description="The operator's terms: read, sign (customers' admins), publish (operator).")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
PDF_TIMEOUT = 60.0      # joining a long PDF and its signature page takes a moment


def identity(method: str, *args, **kwargs):
    return client().call("identity", method, *args, caller=caller(), **kwargs)


@blp.route("/terms", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, TermsOut)
def get_terms():
    """The operator's current terms (version, SHA-256 of the PDF), whether your company signed
    them, and by whom and when (`must_sign`: not yet)."""
    return answer(identity("get_terms"))


@blp.route("/terms/document.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="The current terms: exactly the bytes whose `sha256` `GET /terms` gives.")
@blp.alt_response(404, description="The operator has published no terms.")
def terms_document(args):
    """The current terms as a PDF (`download=1`: as an attachment)."""
    # Not cached: a new version under the same URL must be what the next signer is shown.
    return send_stored(identity("terms_document"), inline=args.get("download") != "1", cache=NO_STORE)


@blp.route("/terms/sign", methods=["POST"])
@requires(CUSTOMER_ADMIN)
@blp.arguments(SignatureIn)
@blp.response(200, TermsOut)
@blp.doc(responses={"409": {"description": "The terms were replaced since the document was shown "
                                          "(`details.version`, `details.document_sha256`), or your "
                                          "company signed this version already."}})
def sign_terms(_payload):
    """Sign the current terms for your company (its administrators): your full name, your drawn
    signature (PNG) and the `sha256` of the document you were shown. Kept with who signed, when,
    your IP network (/24, /48) and browser family, and written to the audit log."""
    return answer(identity("sign_terms", request.get_json(), signer_origin()))


@blp.route("/terms/signed.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(SignedTermsArgs, location="query")
@blp.response(200, description="The terms as your company signed them, with the signature page.")
@blp.alt_response(404, description="Not signed.")
def signed_terms_pdf(args):
    """The terms as your company signed them (the latest version signed, or `version`): the
    document's pages unchanged, then a page with the signature, the signer, when, from where and
    the SHA-256 of the document signed. Operator staff name the `customer_id`."""
    wanted = {k: v for k, v in query_args().items() if k != "download"}
    return send_rpc_file(identity("signed_terms_pdf", wanted, timeout=PDF_TIMEOUT), inline=args.get("download") != "1")


# --- the operator's side ------------------------------------------------------------------------
@blp.route("/admin/terms", methods=["GET"])
@operator()
@blp.response(200, TermsAdminOut)
def admin_terms():
    """Every version of the terms, newest first, with how many companies signed each."""
    return answer(identity("admin_terms"))


@blp.route("/admin/terms", methods=["PUT", "POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(FileField, location="files")
@blp.response(200, TermsAdminOut)
def upload_terms(_file):
    """Publish new terms (multipart `file`): a PDF of at most 10 MB, read by its content. It
    becomes the current version, which every customer's administrator is asked to sign."""
    return answer(identity("upload_terms", upload(prefix="terms")))


@blp.route("/admin/terms/signatures", methods=["GET"])
@operator()
@blp.arguments(TermsSignatureListArgs, location="query")
@blp.response(200, page_of(TermsSignatureOut))
def terms_signatures(_args):
    """Who signed which version of the terms, newest first (`version`, `customer_id` narrow it)."""
    return answer(identity("list_terms_signatures", query_args()))
