"""Book again and recurring orders: repeat a past order in one call, and schedules that book an
order's content every weekday, on some days of the week or every N days, as drafts or submitted,
paused and edited by the customer (services/orders/repeat.py, services/orders/recurring.py)."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import requires
from gateway.blueprints.orders import CUSTOMERS, IDEMPOTENCY, orders
from gateway.inputs import query_args
from gateway.rpc import answer
from services.common.schemas import PageArgs, page_of
from services.orders.schemas import OrderOut, RecurringIn, RecurringOut, RecurringPatch, RepeatIn

blp = Blueprint("recurring", __name__, url_prefix="/api/v1",
                description="Book an order again, and recurring orders.")


@blp.route("/orders/<string:order_id>/repeat", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(RepeatIn)
@blp.response(201, OrderOut)
@blp.doc(parameters=IDEMPOTENCY)
def repeat(_payload, order_id):
    """Book one of your orders again: same stops, contacts, items and notes, a new reference
    (or `reference`). Its times move to the day `on` (same times of day), or take the new
    `windows` (per stop, in order) and `pickup_at`; neither: the next working day. A draft, or
    submitted at once with `"submit": true`."""
    return answer(orders("repeat_order", order_id, request.get_json(silent=True) or {},
                         idempotency_key=request.headers.get("Idempotency-Key")), 201)


@blp.route("/recurring-orders", methods=["GET"])
@requires(*CUSTOMERS)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(RecurringOut))
def list_recurring(_args):
    """Your recurring orders, newest first, with the next day each will book (`next_on`, null
    once a schedule has ended) and the last day it could not book (`last_error`)."""
    return answer(orders("list_recurring", query_args()))


@blp.route("/recurring-orders", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(RecurringIn)
@blp.response(201, RecurringOut)
def create_recurring(_payload):
    """Book one of your orders on a schedule: `frequency` `weekdays` (Monday to Friday),
    `weekly` (on `weekdays`, 0 = Monday) or `every_n_days` (`interval_days` from `starts_on`),
    until `ends_on` if given, its first time at `time_of_day` (HH:MM, the portal's time zone;
    default the order's own). Each day is booked once, ahead of time, as a draft or submitted
    (`submit`)."""
    return answer(orders("create_recurring", request.get_json()), 201)


@blp.route("/recurring-orders/<string:recurring_id>", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, RecurringOut)
def get_recurring(recurring_id):
    """One recurring order."""
    return answer(orders("get_recurring", recurring_id))


@blp.route("/recurring-orders/<string:recurring_id>", methods=["PATCH"])
@requires(*CUSTOMERS)
@blp.arguments(RecurringPatch)
@blp.response(200, RecurringOut)
def update_recurring(_payload, recurring_id):
    """Change the schedule, its name or draft/submitted; `"paused": true` stops it and
    `false` resumes it from today (days missed while paused are not booked)."""
    return answer(orders("update_recurring", recurring_id, request.get_json()))


@blp.route("/recurring-orders/<string:recurring_id>", methods=["DELETE"])
@requires(*CUSTOMERS)
@blp.response(204)
def delete_recurring(recurring_id):
    """Stop and remove a recurring order (the orders it booked stay)."""
    orders("delete_recurring", recurring_id)
    return answer(None, 204)
