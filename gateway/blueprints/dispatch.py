"""Operator staff: every customer's orders, imports for a customer, depots, routes, reschedule
requests and rental contracts (``/api/v1/admin``; 403 to customers)."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, operator
from gateway.blueprints.imports import start_import
from gateway.inputs import FileField, query_args, upload
from gateway.rpc import answer, client
from services.common.schemas import page_of
from services.orders.schemas import RentalDocumentOut
from services.orders.schemas import (AdminOrderListArgs, CallOffListArgs, CallOffOut, DecisionIn,
                                     DepotIn, DepotOut, ImportFormIn, ImportOut, OrderIn, OrderOut,
                                     OrderPage, RentalContractIn, RentalContractOut,
                                     RentalListArgs, RequestListArgs, RescheduleOut, RouteIn,
                                     RouteListArgs, RouteOrdersIn, RouteOut, RoutePatch)

blp = Blueprint("dispatch", __name__, url_prefix="/api/v1/admin",
                description="Operator staff: orders of every customer, dispatch, rentals.")


def orders(method: str, *args, **kwargs):
    return client().call("orders", method, *args, caller=caller(), **kwargs)


@blp.route("/orders", methods=["GET"])
@operator()
@blp.arguments(AdminOrderListArgs, location="query")
@blp.response(200, OrderPage)
def list_orders(_args):
    """Orders of every customer (or one, `customer_id`); `unassigned=true` lists submitted
    orders not yet on a route, oldest first when sorted by `created_at`."""
    return answer(orders("list_orders", query_args()))


@blp.route("/orders", methods=["POST"])
@operator()
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
def create_order(_payload):
    """Create an order for a customer (`customer_id` in the body), e.g. taken by phone."""
    return answer(orders("create_order", request.get_json(),
                         idempotency_key=request.headers.get("Idempotency-Key")), 201)


@blp.route("/imports", methods=["POST"])
@operator()
@blp.arguments(FileField, location="files")
@blp.arguments(ImportFormIn, location="form")
@blp.response(202, ImportOut)
def create_import(_file, _form):
    """Import for a customer: name it with `customer_id`, or let each row's `client_id` say."""
    return start_import()


@blp.route("/depots", methods=["GET"])
@operator()
@blp.response(200, DepotOut(many=True))
def list_depots():
    """Depots; a customer's imported orders land on its default depot."""
    return answer(orders("list_depots"))


@blp.route("/depots", methods=["POST"])
@operator()
@blp.arguments(DepotIn)
@blp.response(201, DepotOut)
def create_depot(_payload):
    """Add a depot."""
    return answer(orders("create_depot", request.get_json()), 201)


@blp.route("/routes", methods=["GET"])
@operator()
@blp.arguments(RouteListArgs, location="query")
@blp.response(200, page_of(RouteOut))
def list_routes(_args):
    """Routes by day, newest first, with their orders in driving order."""
    return answer(orders("list_routes", query_args()))


@blp.route("/routes", methods=["POST"])
@operator()
@blp.arguments(RouteIn)
@blp.response(201, RouteOut)
def create_route(_payload):
    """Plan a route for a day, with a driver (now or later)."""
    return answer(orders("create_route", request.get_json()), 201)


@blp.route("/routes/<string:route_id>", methods=["GET"])
@operator()
@blp.response(200, RouteOut)
def get_route(route_id):
    """A route with its orders in driving order."""
    return answer(orders("get_route", route_id))


@blp.route("/routes/<string:route_id>", methods=["PATCH"])
@operator()
@blp.arguments(RoutePatch)
@blp.response(200, RouteOut)
def update_route(_payload, route_id):
    """Rename a route, or give it another driver before it starts."""
    return answer(orders("update_route", route_id, request.get_json()))


@blp.route("/routes/<string:route_id>/orders", methods=["POST"])
@operator()
@blp.arguments(RouteOrdersIn)
@blp.response(200, RouteOut)
def schedule(_payload, route_id):
    """Schedule submitted orders onto the route, after those already on it, in the order given.
    All or nothing: 409 lists each order that cannot go."""
    return answer(orders("schedule_orders", route_id, request.get_json()))


@blp.route("/routes/<string:route_id>/orders/<string:order_id>", methods=["DELETE"])
@operator()
@blp.response(200, RouteOut)
def unschedule(route_id, order_id):
    """Take a scheduled order off the route (it goes back to the unassigned list)."""
    return answer(orders("unschedule_order", route_id, order_id))


@blp.route("/routes/<string:route_id>/start", methods=["POST"])
@operator()
@blp.response(200, RouteOut)
def start(route_id):
    """Start the route: its orders go in transit and their customers are told."""
    return answer(orders("start_route", route_id))


@blp.route("/reschedule-requests", methods=["GET"])
@operator()
@blp.arguments(RequestListArgs, location="query")
@blp.response(200, page_of(RescheduleOut))
def list_reschedules(_args):
    """Customers' requests to move orders, newest first (`status=requested` for the open ones)."""
    return answer(orders("list_reschedules", query_args()))


@blp.route("/reschedule-requests/<string:request_id>/decision", methods=["POST"])
@operator()
@blp.arguments(DecisionIn)
@blp.response(200, RescheduleOut)
def decide_reschedule(_payload, request_id):
    """Accept (the stop's time window changes) or decline, with a reason."""
    return answer(orders("decide_reschedule", request_id, request.get_json()))


@blp.route("/rentals", methods=["GET"])
@operator()
@blp.arguments(RentalListArgs, location="query")
@blp.response(200, page_of(RentalContractOut))
def list_rentals(_args):
    """Rental contracts of every customer (or one, `customer_id`)."""
    return answer(orders("list_rentals", query_args()))


@blp.route("/rentals", methods=["POST"])
@operator()
@blp.arguments(RentalContractIn)
@blp.response(201, RentalContractOut)
def create_rental(_payload):
    """Open a rental contract with the items going out (a delivered rental order opens one itself)."""
    return answer(orders("create_rental", request.get_json()), 201)


@blp.route("/rentals/<string:contract_id>/document", methods=["POST"])
@operator()
@blp.arguments(FileField, location="files")
@blp.response(201, RentalDocumentOut)
@blp.doc(responses={"409": {"description": "This file is the contract's document already."}})
def attach_rental_document(_file, contract_id):
    """Attach the contract PDF for the customer to sign (multipart `file`, a PDF of at most
    10 MB). Attaching another replaces it: a signature given against the earlier one is refused."""
    return answer(orders("attach_rental_document", contract_id, upload(prefix="rentals")), 201)


@blp.route("/rentals/call-offs", methods=["GET"])
@operator()
@blp.arguments(CallOffListArgs, location="query")
@blp.response(200, page_of(CallOffOut))
def list_call_offs(_args):
    """Call-off requests (`status=requested` for those waiting)."""
    return answer(orders("list_call_offs", query_args()))


@blp.route("/rentals/call-offs/<string:call_off_id>/confirm", methods=["POST"])
@operator()
@blp.response(200, CallOffOut)
def confirm_call_off(call_off_id):
    """Confirm a call-off: the items go off rent (a contract with nothing left out closes)."""
    return answer(orders("decide_call_off", call_off_id, {"accept": True}))


@blp.route("/rentals/call-offs/<string:call_off_id>/decline", methods=["POST"])
@operator()
@blp.arguments(DecisionIn(only=("reason",)))
@blp.response(200, CallOffOut)
def decline_call_off(_payload, call_off_id):
    """Decline a call-off, with a reason the customer sees."""
    body = request.get_json(silent=True) or {}
    return answer(orders("decide_call_off", call_off_id, {"accept": False, "reason": body.get("reason")}))
