"""Delivery exceptions over HTTP on the whole stack: the driver app fails the delivery attempt,
the order gets an open exception the customer sees; the recipient, through the tracking link
(no sign-in), asks dispatch to leave the parcel with a neighbour; the customer cannot ask a
second change while it waits; the operator accepts it on the requests screen's API and the
recipient's page and the customer's order show the answer."""
import pytest
import requests

from services.tracking.driver import DriverClient
from tests.conftest import wait_for
from tests.e2e.conftest import get, post
from tests.e2e.test_feedback_and_link_log import public
from tests.e2e.test_tracking_flows import customer, order, route_with, tracking

pytestmark = pytest.mark.e2e


def failed_delivery(stack, mailbox, admin_token, amqp_uri, before_failing=None):
    """A customer's order on a started route with a tracking link, whose driver app completes the
    pickup and fails the delivery; ``before_failing(link)`` runs while the order is on its way."""
    ours = customer(stack, mailbox, admin_token, "exact")
    made = order(stack, ours["token"], 53.74, -0.33)
    driver = route_with(stack, admin_token, [made])
    wait_for(lambda: tracking(stack, ours["token"], made["id"]).get("status") == "in_transit", timeout=20,
             what="tracking to learn the route")
    link = post(stack, f"/api/v1/orders/{made['id']}/tracking-links", {}, ours["token"]).json()
    if before_failing:
        before_failing(link)
    pickup, drop = get(stack, f"/api/v1/orders/{made['id']}", ours["token"]).json()["stops"]
    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)
    try:
        app.completed(made["id"], pickup["id"])
        app.failed(made["id"], drop["id"], "nobody home")
    finally:
        app.close()
    return ours, made, link, drop


def test_a_failed_attempt_the_recipient_answers_through_the_link_and_dispatch_accepts(stack, mailbox, admin_token,
                                                                                      amqp_uri):
    theirs = customer(stack, mailbox, admin_token, "none")

    def nothing_yet(link):
        assert public(stack, link["token"], "/exception").json() == {"exception": None, "request": None}
        nothing = public(stack, link["token"], "/exception", json={"kind": "instructions", "instructions": "Porch"})
        assert nothing.status_code == 409
    ours, made, link, drop = failed_delivery(stack, mailbox, admin_token, amqp_uri, nothing_yet)

    def opened():
        found = get(stack, "/api/v1/delivery-exceptions", ours["token"], params={"status": "open"}).json()
        return found["items"] if found["total"] else None
    [exc] = wait_for(opened, timeout=20, what="orders to open the exception")
    assert (exc["kind"], exc["stop_id"], exc["order_id"]) == ("failed_attempt", drop["id"], made["id"])
    assert get(stack, "/api/v1/delivery-exceptions", theirs["token"]).json()["total"] == 0

    # The recipient: validated like the portal, then one request for its stop.
    seen = public(stack, link["token"], "/exception").json()
    assert seen["exception"]["kind"] == "failed_attempt" and "order_id" not in seen["exception"]
    assert public(stack, link["token"], "/exception", json={"kind": "address", "address": {"city": "York"}}
                  ).status_code == 422
    asked = public(stack, link["token"], "/exception", json={"kind": "instructions", "instructions": "Number 12"})
    assert asked.status_code == 201 and asked.json()["request"]["status"] == "requested"
    again = post(stack, f"/api/v1/delivery-exceptions/{exc['id']}/requests",
                 {"kind": "instructions", "instructions": "Porch"}, ours["token"])
    assert again.status_code == 409
    assert post(stack, f"/api/v1/delivery-exceptions/{exc['id']}/requests",
                {"kind": "instructions", "instructions": "Porch"}, theirs["token"]).status_code == 404

    # Dispatch answers it where it answers reschedules.
    waiting = get(stack, "/api/v1/admin/reschedule-requests", admin_token, params={"status": "requested"}).json()
    [req] = [r for r in waiting["items"] if r["order_id"] == made["id"]]
    assert (req["kind"], req["requested_via"], req["instructions"]) == ("instructions", "tracking_link", "Number 12")
    assert post(stack, f"/api/v1/admin/reschedule-requests/{req['id']}/decision", {"accept": True},
                admin_token).status_code == 200
    assert public(stack, link["token"], "/exception").json()["request"]["status"] == "accepted"
    assert get(stack, f"/api/v1/orders/{made['id']}", ours["token"]).json()["stops"][1]["notes"] == "Leave at: Number 12"
    assert get(stack, "/api/v1/delivery-exceptions", ours["token"], params={"status": "open"}).json()["total"] == 0
    assert requests.get(f"{stack.base}/api/v1/public/track/{'x' * 30}/exception", timeout=10).status_code == 404
