"""Delivery exceptions (services.orders.exceptions): a late or failed stop opens one, the customer
and the link's recipient act on it with a change request, the operator answers it."""
from __future__ import annotations

import uuid

import pytest

from services.common.caller import CallerContext
from services.common.errors import Conflict, Forbidden, NotFound, Throttled, ValidationFailed
from tests.unit import test_orders
from tests.unit.test_orders import DISPATCH, OPERATOR, _driver, call, customer, delivery, events

SERVICE = CallerContext(role="service")
factory = test_orders.factory          # the orders service on SQLite, as test_orders has it


def _on_the_road(factory, alice, driver_id):
    order = call(factory, alice, "create_order", delivery(submit=True))
    _driver(factory, driver_id)
    route = call(factory, OPERATOR, "create_route", {"name": "R", "day": "2026-12-01", "driver_id": driver_id})
    call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    call(factory, DISPATCH, "start_route", route["id"])
    return call(factory, alice, "get_order", order["id"])


def _stop_event(factory, order, stop, status, driver_id):
    call(factory, SERVICE, "complete_stop", {
        "id": str(uuid.uuid4()), "type": "stop.completed", "customer_id": order["customer_id"],
        "data": {"order_id": order["id"], "stop_id": stop["id"], "driver_id": driver_id, "status": status,
                 "completed_at": "2026-12-01T10:00:00+00:00", "reason": "nobody home"}})


def _late(factory, order, stop, customer_id):
    call(factory, SERVICE, "keep_stop_eta", {
        "id": str(uuid.uuid4()), "type": "stop.eta_changed", "customer_id": customer_id,
        "occurred_at": "2026-12-01T09:00:00+00:00",
        "data": {"order_id": order["id"], "stop_id": stop["id"], "eta": "2026-12-01T13:00:00+00:00", "late": True}})


def test_a_late_stop_opens_one_exception_the_customer_answers_with_new_instructions(factory):
    alice, bob = customer(factory), customer(factory)
    order = _on_the_road(factory, alice, "drv-x")
    drop = order["stops"][1]
    _late(factory, order, drop, bob.customer_id)                 # another customer's event: nothing
    assert call(factory, alice, "list_exceptions", {"status": "open"})["total"] == 0
    _late(factory, order, drop, alice.customer_id)
    _late(factory, order, drop, alice.customer_id)               # again (redelivered): still one
    [exc] = call(factory, alice, "list_exceptions", {"status": "open"})["items"]
    assert exc["kind"] == "late" and exc["stop_id"] == drop["id"] and exc["actions"] == ["window", "instructions", "address"]
    assert call(factory, bob, "list_exceptions", {})["total"] == 0
    with pytest.raises(NotFound):
        call(factory, bob, "request_delivery_change", exc["id"], {"kind": "instructions", "instructions": "porch"})
    with pytest.raises(ValidationFailed):
        call(factory, alice, "request_delivery_change", exc["id"], {"kind": "instructions", "instructions": "x" * 501})
    with pytest.raises(ValidationFailed):                          # an address as the web booker wants it
        call(factory, alice, "request_delivery_change", exc["id"], {"kind": "address", "address": {"city": "York"}})
    req = call(factory, alice, "request_delivery_change", exc["id"], {"kind": "instructions", "instructions": "Porch"})
    assert req["kind"] == "instructions" and req["exception_id"] == exc["id"] and req["requested_via"] == "portal"
    assert call(factory, alice, "list_exceptions", {"order_id": order["id"]})["items"][0]["actions"] == []
    with pytest.raises(Conflict):                                  # one request per stop at a time
        call(factory, alice, "request_delivery_change", exc["id"], {
            "kind": "window", "window_start": "2026-12-02T09:00:00+00:00", "window_end": "2026-12-02T10:00:00+00:00"})
    assert events(factory, "reschedule.requested")[-1]["data"]["kind"] == "instructions"
    call(factory, DISPATCH, "decide_reschedule", req["id"], {"accept": True})
    assert call(factory, alice, "get_order", order["id"])["stops"][1]["notes"] == "Leave at: Porch"
    assert call(factory, alice, "list_exceptions", {"status": "open"})["total"] == 0
    assert events(factory, "reschedule.decided")[-1]["data"] == {
        "request_id": req["id"], "order_id": order["id"], "status": "accepted", "kind": "instructions"}


def test_a_failed_attempt_lets_the_links_recipient_ask_for_another_address(factory):
    alice = customer(factory)
    order = _on_the_road(factory, alice, "drv-y")
    pickup, drop = order["stops"]
    _stop_event(factory, order, pickup, "completed", "drv-y")
    with pytest.raises(Forbidden):                                  # only tracking asks for a recipient
        call(factory, alice, "recipient_exception", order["id"])
    assert call(factory, SERVICE, "recipient_exception", order["id"]) == {"exception": None, "request": None}
    with pytest.raises(Conflict):
        call(factory, SERVICE, "recipient_delivery_change", order["id"], {"kind": "instructions", "instructions": "x"})
    _stop_event(factory, order, drop, "failed", "drv-y")
    seen = call(factory, SERVICE, "recipient_exception", order["id"])
    assert seen["exception"]["kind"] == "failed_attempt" and "customer_id" not in seen["exception"]
    address = {"line1": "3 New Street", "city": "York", "country": "gb"}
    seen = call(factory, SERVICE, "recipient_delivery_change", order["id"], {"kind": "address", "address": address})
    assert seen["request"]["kind"] == "address" and seen["exception"]["actions"] == []
    [req] = call(factory, OPERATOR, "list_reschedules", {"status": "requested"})["items"]
    assert req["requested_via"] == "tracking_link" and req["stop_id"] == drop["id"]
    call(factory, DISPATCH, "decide_reschedule", req["id"], {"accept": True})   # the order failed: still changeable
    stop = call(factory, alice, "get_order", order["id"])["stops"][1]
    assert stop["address"]["line1"] == "3 New Street" and stop["address"]["country"] == "GB"
    assert call(factory, SERVICE, "recipient_exception", order["id"])["request"]["status"] == "accepted"


def test_a_links_recipient_asks_at_most_three_changes_a_day_for_its_stop(factory):
    alice = customer(factory)
    order = _on_the_road(factory, alice, "drv-z")
    _late(factory, order, order["stops"][0], alice.customer_id)        # the pickup: not the recipient's
    assert call(factory, SERVICE, "recipient_exception", order["id"])["exception"] is None
    _late(factory, order, order["stops"][1], alice.customer_id)
    for n in range(3):
        call(factory, SERVICE, "recipient_delivery_change", order["id"], {"kind": "instructions", "instructions": f"Try {n}"})
        [req] = call(factory, OPERATOR, "list_reschedules", {"status": "requested"})["items"]
        call(factory, DISPATCH, "decide_reschedule", req["id"], {"accept": False, "reason": "No"})
    with pytest.raises(Throttled):
        call(factory, SERVICE, "recipient_delivery_change", order["id"], {"kind": "instructions", "instructions": "4"})
    assert call(factory, alice, "list_exceptions", {"status": "open"})["total"] == 2    # both stops still late
