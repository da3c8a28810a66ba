"""Orders: the webbooker and the API's way to create, list, open, submit, withdraw, cancel and
reschedule orders; their documents and their conversation with the operator's team.

Customers see their own orders only. Operator staff may open any order here too (to answer its
conversation, add documents, cancel); their all-customers list is ``/admin/orders``."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from services.common.caller import personal
from gateway.auth import caller, requires
from gateway.files import send_stored
from gateway.inputs import FileField, form_fields, query_args, upload
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, OPERATOR_ROLES
from services.common.schemas import page_of
from services.orders.schemas import DeliveryChangeIn, ExceptionListArgs, ExceptionOut
from services.orders.schemas import (BulkResultOut, DeclineIn, DocumentFormIn, DocumentOut, IdsIn,
                                     ListViewIn, ListViewOut, MessageIn, MessageOut, OrderIn,
                                     OrderListArgs, OrderOut, OrderPatch, OrderPage,
                                     ReasonIn, RequestListArgs, RescheduleIn, RescheduleOut)

blp = Blueprint("orders", __name__, url_prefix="/api/v1",
                description="Orders: create, import, follow, documents and messages.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
IDEMPOTENCY = [{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"},
                "description": "Repeat the request safely: the same key returns the first answer."}]


def orders(method: str, *args, **kwargs):
    return client().call("orders", method, *args, caller=caller(), **kwargs)


@blp.route("/orders", methods=["GET"])
@requires(*CUSTOMERS)
@blp.arguments(OrderListArgs, location="query")
@blp.response(200, OrderPage)
def list_orders(_args):
    """Your orders, newest first: filter by `status` (several allowed), `kind`, text `q`
    (reference, address, recipient), `site` and creation date (a user limited to some sites
    sees only their orders); sort by `created_at`, `updated_at`,
    `reference`, `status` or `window_start` (`-` for descending)."""
    return answer(orders("list_orders", query_args()))


@blp.route("/orders", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
@blp.doc(parameters=IDEMPOTENCY)
def create_order(_payload):
    """Create an order: a draft, or submitted at once with `"submit": true`. Items need weight and
    dimensions when your account requires them (422 names the missing fields)."""
    return answer(orders("create_order", request.get_json(),
                         idempotency_key=request.headers.get("Idempotency-Key")), 201)


@blp.route("/orders/view", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, ListViewOut)
def get_view():
    """Your choice of columns, sort and page size for the orders list."""
    return answer(orders("get_list_view"))


@blp.route("/orders/view", methods=["PUT"])
@requires(*ANYONE)
@blp.arguments(ListViewIn)
@blp.response(200, ListViewOut)
@personal
def save_view(_payload):
    """Keep your choice of columns (in order), sort and page size for the orders list."""
    return answer(orders("save_list_view", request.get_json()))


@blp.route("/orders/submit", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(IdsIn)
@blp.response(200, BulkResultOut)
def submit_many(_payload):
    """Submit the chosen drafts for delivery; each one that cannot be is listed in `errors`."""
    return answer(orders("submit_orders", request.get_json()))


@blp.route("/orders/<string:order_id>", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, OrderOut)
def get_order(order_id):
    """One order with its stops, items, status history, ETAs and what you may do with it now."""
    return answer(orders("get_order", order_id))


@blp.route("/orders/<string:order_id>", methods=["PATCH"])
@requires(*CUSTOMERS)
@blp.arguments(OrderPatch(partial=True))
@blp.response(200, OrderOut)
def update_order(_payload, order_id):
    """Edit a draft (409 once submitted); `stops` and `items`, when sent, replace the lists."""
    return answer(orders("update_order", order_id, request.get_json()))


@blp.route("/orders/<string:order_id>/submit", methods=["POST"])
@requires(*CUSTOMERS)
@blp.response(200, OrderOut)
def submit(order_id):
    """Submit a draft for delivery."""
    return answer(orders("submit_order", order_id))


@blp.route("/orders/<string:order_id>/withdraw", methods=["POST"])
@requires(*CUSTOMERS)
@blp.response(200, OrderOut)
def withdraw(order_id):
    """Take a submitted order (or one waiting for approval) back to draft, until it is
    scheduled on a route (then 409)."""
    return answer(orders("withdraw_order", order_id))


@blp.route("/orders/<string:order_id>/approve", methods=["POST"])
@requires(CUSTOMER_ADMIN)
@blp.response(200, OrderOut)
def approve(order_id):
    """Approve an order waiting for approval (above your company's approval limit): it is
    submitted. Customer admins only; 409 unless it is `pending_approval`."""
    return answer(orders("approve_order", order_id))


@blp.route("/orders/<string:order_id>/decline", methods=["POST"])
@requires(CUSTOMER_ADMIN)
@blp.arguments(DeclineIn)
@blp.response(200, OrderOut)
def decline(_payload, order_id):
    """Decline an order waiting for approval: it goes back to draft for its booker, with your
    `reason` (1-500 characters) in its history. Customer admins only."""
    return answer(orders("decline_order", order_id, request.get_json()))


@blp.route("/orders/<string:order_id>/cancel", methods=["POST"])
@requires(*ANYONE)
@blp.arguments(ReasonIn)
@blp.response(200, OrderOut)
def cancel(_payload, order_id):
    """Cancel an order that is not yet in transit (409 once it is moving)."""
    return answer(orders("cancel_order", order_id, request.get_json(silent=True) or {}))


@blp.route("/orders/<string:order_id>/reschedule", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(RescheduleIn)
@blp.response(201, RescheduleOut)
def reschedule(_payload, order_id):
    """Ask to move a submitted or scheduled order to another time window; the operator accepts
    or declines."""
    return answer(orders("request_reschedule", order_id, request.get_json()), 201)


@blp.route("/orders/<string:order_id>/reschedule", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(RequestListArgs, location="query")
@blp.response(200, page_of(RescheduleOut))
def reschedules(_args, order_id):
    """The reschedule requests of an order and their answers."""
    return answer(orders("list_reschedules", query_args(), order_id))


# --- delivery exceptions: a late or failed stop, and the change asked for it -------------------
@blp.route("/delivery-exceptions", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(ExceptionListArgs, location="query")
@blp.response(200, page_of(ExceptionOut))
def delivery_exceptions(_args):
    """Stops that will be late (the ETA is past the window) or whose delivery attempt failed,
    newest first; filter by `status` (`open`, `resolved`) and `order_id`. `actions` says what
    you may ask now (none while a request waits for the operator's answer)."""
    return answer(orders("list_exceptions", query_args()))


@blp.route("/delivery-exceptions/<string:exception_id>/requests", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(DeliveryChangeIn)
@blp.response(201, RescheduleOut)
def request_delivery_change(_payload, exception_id):
    """Act on an open exception: ask for a new time window (`kind: window`), leave-at
    instructions (`instructions`, plain text up to 500 characters) or a changed address
    (`address`: line1, city and country at least). The operator accepts or declines it like a
    reschedule request; 409 while another request for the stop waits or once it is resolved."""
    return answer(orders("request_delivery_change", exception_id, request.get_json()), 201)


# --- documents --------------------------------------------------------------------------------
@blp.route("/orders/<string:order_id>/documents", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, DocumentOut(many=True))
def list_documents(order_id):
    """The order's documents, photos and proof of delivery."""
    return answer(orders("list_documents", order_id))


@blp.route("/orders/<string:order_id>/documents", methods=["POST"])
@requires(*ANYONE)
@blp.arguments(FileField, location="files")
@blp.arguments(DocumentFormIn, location="form")
@blp.response(201, DocumentOut)
def add_document(_file, _form, order_id):
    """Attach a document (multipart `file`; PDF, images, text, CSV, Office files). Its type is
    read from its content, not its name; images get a thumbnail."""
    return answer(orders("add_document", order_id, upload(prefix="documents"), form_fields("kind")), 201)




@blp.route("/documents/<string:document_id>/content", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, description="The file, with its content type.")
def document_content(document_id):
    """Download a document (`?download=1` forces a download; images and PDFs open inline)."""
    found = orders("document_content", document_id)
    inline = request.args.get("download") != "1" and (
        found["content_type"].startswith("image/") or found["content_type"] == "application/pdf")
    return send_stored(found, inline)


@blp.route("/documents/<string:document_id>/thumbnail", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, description="A small JPEG of an image document.")
def document_thumbnail(document_id):
    """A thumbnail of an image document (404 for other documents)."""
    return send_stored(orders("document_content", document_id, thumbnail=True), True)


# --- the order's conversation -----------------------------------------------------------------
@blp.route("/orders/<string:order_id>/messages", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, MessageOut(many=True))
def messages(order_id):
    """The conversation about this order between your team and the operator's."""
    return answer(orders("order_messages", order_id))


@blp.route("/orders/<string:order_id>/messages", methods=["POST"])
@requires(*ANYONE)
@blp.arguments(MessageIn)
@blp.response(201, MessageOut)
def post_message(_payload, order_id):
    """Write to the operator's team about this order (they are told at once)."""
    return answer(orders("post_order_message", order_id, request.get_json()), 201)
