"""Recipient feedback and the tracking-link access log over HTTP, on the whole stack: a link's
openings are logged with a coarse origin and shown to its customer only; once the driver app
delivers the order, the link's holder rates it once (announced on the bus); the customer reads
it on its order and the operator per customer and per driver."""
import json

import pika
import pytest
import requests

from services.common.events import EXCHANGE
from services.tracking.driver import DriverClient
from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, post
from tests.e2e.test_tracking_flows import Stream, customer, order, route_with, tracking

pytestmark = pytest.mark.e2e

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


def public(stack, token, path="", **kwargs):
    method = "post" if "json" in kwargs else "get"
    return getattr(requests, method)(f"{stack.base}/api/v1/public/track/{token}{path}",
                                     headers={"User-Agent": FIREFOX}, timeout=10, **kwargs)


def test_openings_are_logged_coarsely_and_the_delivered_order_is_rated_once(stack, mailbox, admin_token, amqp_uri):
    ours, theirs = customer(stack, mailbox, admin_token, "approximate"), customer(stack, mailbox, admin_token, "none")
    made = order(stack, ours["token"], 53.74, -0.33)
    driver = route_with(stack, admin_token, [made])
    wait_for(lambda: tracking(stack, ours["token"], made["id"]).get("status") == "in_transit", timeout=20,
             what="tracking to learn the route")
    link = post(stack, f"/api/v1/orders/{made['id']}/tracking-links", {"label": "reception"}, ours["token"]).json()
    other_link = post(stack, f"/api/v1/orders/{made['id']}/tracking-links", {}, ours["token"]).json()

    # One page load (the view, its live stream, a poll) is one opening, with a /24 and a browser
    # family; another browser is another opening.
    assert public(stack, link["token"]).status_code == 200
    stream = Stream(f"{stack.base}/api/v1/public/track/{link['token']}/stream", {"User-Agent": FIREFOX})
    wait_for(stream.views, timeout=10, what="the public stream's first view")
    stream.close()
    assert public(stack, link["token"]).status_code == 200
    assert requests.get(f"{stack.base}/api/v1/public/track/{link['token']}", headers={"User-Agent": SAFARI},
                        timeout=10).status_code == 200
    listed = {l["id"]: l for l in get(stack, f"/api/v1/orders/{made['id']}/tracking-links", ours["token"]).json()}
    assert listed[link["id"]]["opened_count"] == 2 and listed[other_link["id"]]["opened_count"] == 0
    seen = get(stack, f"/api/v1/tracking-links/{link['id']}/accesses", ours["token"]).json()
    assert seen["total"] == 2
    assert [(a["network"], a["browser"]) for a in seen["items"]] == [("127.0.0.0/24", "Safari"),
                                                                      ("127.0.0.0/24", "Firefox")]
    assert get(stack, f"/api/v1/tracking-links/{link['id']}/accesses", theirs["token"]).status_code == 404

    # Before delivery there is nothing to rate.
    assert public(stack, link["token"], "/feedback").json() == {"state": "not_delivered", "feedback": None}
    early = public(stack, link["token"], "/feedback", json={"rating": 5})
    assert early.status_code == 409 and early.json()["error"]["details"]["reason"] == "not_delivered"

    app = DriverClient.connect(driver["id"], driver["credential"], amqp_uri)
    try:
        for stop in get(stack, f"/api/v1/orders/{made['id']}", ours["token"]).json()["stops"]:
            app.arrived(made["id"], stop["id"])
            app.completed(made["id"], stop["id"], recipient_name="Front desk")
    finally:
        app.close()
    wait_for(lambda: public(stack, link["token"], "/feedback").json()["state"] == "open", timeout=20,
             what="tracking to learn the delivery")

    # A partner on the bus hears it.
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    heard = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(heard, EXCHANGE, "feedback.received")

    def announced():
        _method, _props, body = channel.basic_get(heard, auto_ack=True)
        return json.loads(body) if body else None

    assert public(stack, link["token"], "/feedback", json={"rating": 6}).status_code == 422
    given = public(stack, link["token"], "/feedback", json={"rating": 2, "comment": "Left outside"})
    assert given.status_code == 201 and given.json()["state"] == "editable"
    changed = public(stack, link["token"], "/feedback", json={"rating": 5, "comment": "Left at reception, thanks"})
    assert changed.status_code == 200 and changed.json()["feedback"]["rating"] == 5
    events = [wait_for(announced, timeout=20, what="feedback.received on the bus") for _ in range(2)]
    connection.close()
    assert sorted((e["customer_id"], e["data"]["order_id"], e["data"]["rating"]) for e in events) == [
        (ours["id"], made["id"], 2), (ours["id"], made["id"], 5)]            # given, then changed
    again = public(stack, other_link["token"], "/feedback", json={"rating": 1})
    assert again.status_code == 409 and again.json()["error"]["details"]["reason"] == "given"

    # The customer reads it on its order; nobody else's customer does.
    mine = get(stack, f"/api/v1/orders/{made['id']}/feedback", ours["token"]).json()["feedback"]
    assert (mine["rating"], mine["comment"], mine["link_label"]) == (5, "Left at reception, thanks", "reception")
    assert get(stack, f"/api/v1/orders/{made['id']}/feedback", theirs["token"]).status_code == 404

    # The operator: per customer, with the route's driver, and the averages.
    listing = get(stack, "/api/v1/admin/feedback", admin_token, params={"customer_id": ours["id"]}).json()
    assert listing["total"] == 1
    assert (listing["items"][0]["order_id"], listing["items"][0]["driver_id"]) == (made["id"], driver["id"])
    averages = get(stack, "/api/v1/admin/feedback/averages", admin_token, params={"driver_id": driver["id"]}).json()
    assert averages["by_driver"] == [{"id": driver["id"], "count": 1, "average": 5.0}]
    assert averages["by_customer"] == [{"id": ours["id"], "count": 1, "average": 5.0}]
    assert get(stack, "/api/v1/admin/feedback", ours["token"]).status_code == 403

    # A revoked link takes no more feedback.
    assert requests.delete(f"{stack.base}/api/v1/tracking-links/{link['id']}", headers=auth(ours["token"]),
                           timeout=10).status_code == 204
    assert public(stack, link["token"], "/feedback", json={"rating": 1}).status_code == 404
