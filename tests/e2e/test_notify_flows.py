"""Notifications and partner webhooks over HTTP against the running stack: a status change
reaches the customer's users in the app (live, over SSE) and by email (with a one-click
unsubscribe that works without signing in), and partners' webhooks as Standard Webhooks
deliveries they verify with the ``standardwebhooks`` library; customer B hears nothing of A;
URLs inside the network are refused; a receiver that answers 410 Gone disables its endpoint
and its owner is emailed; test events and replays keep their ``webhook-id``."""
import json
import uuid

import pytest
import requests
from standardwebhooks import Webhook

from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e


def _customer(stack, mailbox, admin_token, role="customer_admin"):
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Notify {uuid.uuid4().hex[:6]}"}, admin_token).json()
    email = f"notify.{uuid.uuid4().hex[:6]}@example.com"
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"], email, role)
    return {"customer": customer, "token": token, "email": email}


ORDER = {"kind": "delivery", "reference": "NTF-1", "stops": [
    {"type": "pickup", "address": {"line1": "Quay 1", "city": "Rotterdam"}, "lat": 51.92, "lng": 4.47},
    {"type": "dropoff", "address": {"line1": "Dam 1", "city": "Amsterdam"}, "lat": 52.37, "lng": 4.89}],
    "items": [{"description": "Box", "quantity": 1, "weight_kg": "5", "length_cm": 10, "width_cm": 10,
               "height_cm": 10}]}


def _webhook(stack, token, url, events):
    made = post(stack, "/api/v1/webhooks", {"url": url, "events": events}, token)
    assert made.status_code == 201, made.text
    assert made.json()["secret"].startswith("whsec_")
    return made.json()


def test_a_status_change_reaches_the_feed_live_the_inbox_and_the_partner(stack, mailbox, admin_token, receiver):
    acme = _customer(stack, mailbox, admin_token)
    nosy = _customer(stack, mailbox, admin_token)
    token = acme["token"]
    hook = _webhook(stack, token, f"{receiver.url}/acme", ["order.status_changed", "order.submitted"])
    _webhook(stack, nosy["token"], f"{receiver.url}/nosy", ["*"])
    # Order emails about submissions are off by default; this user wants them.
    prefs = requests.put(f"{stack.base}/api/v1/me/notification-preferences",
                         json={"order.submitted": {"email": True}}, headers=auth(token), timeout=10)
    assert prefs.status_code == 200 and prefs.json()["order.submitted"] == {"in_app": True, "email": True}

    stream = requests.get(f"{stack.base}/api/v1/notifications/stream", headers=auth(token), stream=True, timeout=30)
    assert stream.status_code == 200
    lines = stream.iter_lines(decode_unicode=True)
    assert next(line for line in lines if line.startswith("event:")) == "event: unread"

    order = post(stack, "/api/v1/orders", {**ORDER, "submit": True}, token).json()

    # Live: the bell's stream tells of it without a reload.
    for line in lines:
        if line.startswith("data:") and "submitted" in line:
            live = json.loads(line[5:])
            break
    stream.close()
    assert live["title"] == "Order NTF-1 was submitted" and live["link"] == f"/orders/{order['id']}"

    # The partner: a Standard Webhooks delivery, verified with the partner's own library.
    arrived = wait_for(lambda: receiver.of("/acme", "order.status_changed", order["id"]), timeout=30,
                       what="the status webhook")[0]
    payload = Webhook(hook["secret"]).verify(arrived["body"], arrived["headers"])
    assert payload["data"]["status"] == "submitted" and payload["customer_id"] == acme["customer"]["id"]
    assert "driver_id" not in payload["data"]
    with pytest.raises(Exception):
        Webhook(hook["secret"]).verify(arrived["body"].replace("submitted", "delivered"), arrived["headers"])

    # The inbox: the email names the order and offers a one-click unsubscribe.
    mail = mailbox.wait_for_subject(acme["email"], "Order NTF-1")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{stack.base}/unsubscribe/")
    assert f"/orders/{order['id']}" in mail.get_body(preferencelist=("plain",)).get_content()

    # Nothing of Acme's reached the other customer's endpoint, feed or inbox.
    assert not [r for r in receiver.requests if r["path"] == "/nosy" and order["id"] in r["body"]]
    assert get(stack, "/api/v1/notifications", nosy["token"]).json()["total"] == 0
    assert not [m for m in mailbox.messages if m["To"] == nosy["email"] and "NTF-1" in m["Subject"]]

    # The feed: unread, then read.
    feed = get(stack, "/api/v1/notifications", token).json()
    assert feed["unread"] >= 1 and feed["items"][0]["title"] == "Order NTF-1 was submitted"
    read = post(stack, f"/api/v1/notifications/{feed['items'][0]['id']}/read", None, token)
    assert read.status_code == 200 and read.json()["read_at"]
    assert post(stack, f"/api/v1/notifications/{feed['items'][0]['id']}/read", None, nosy["token"]).status_code == 404
    assert get(stack, "/api/v1/notifications/unread-count", token).json()["unread"] == feed["unread"] - 1

    # Unsubscribe without signing in: the GET is only a page (mail scanners open links) ...
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and "Stop these emails" in page.text
    assert get(stack, "/api/v1/me/notification-preferences", token).json()["order.submitted"]["email"] is True
    # ... and the mail app's one-click POST does it.
    done = requests.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200
    assert get(stack, "/api/v1/me/notification-preferences", token).json()["order.submitted"]["email"] is False
    assert requests.get(link[:-3] + "xyz", timeout=10).status_code == 404

    second = post(stack, "/api/v1/orders", {**ORDER, "reference": "NTF-2", "submit": True}, token).json()
    wait_for(lambda: receiver.of("/acme", "order.submitted", second["id"]), timeout=30, what="the second webhook")
    # The email decision commits with the webhook's: by now it would be on record.
    sent = get(stack, f"/api/v1/admin/emails?to={acme['email']}&per_page=200", admin_token).json()["items"]
    assert [e for e in sent if "NTF-1" in e["subject"]] and not [e for e in sent if "NTF-2" in e["subject"]]

    # The delivery log, a test event and a replay (same webhook-id).
    log = get(stack, f"/api/v1/webhooks/{hook['id']}/deliveries", token).json()
    done = [d for d in log["items"] if d["status"] == "succeeded"]
    assert done and done[0]["attempt_log"][0]["status_code"] == 200
    assert get(stack, f"/api/v1/webhooks/{hook['id']}/deliveries", nosy["token"]).status_code == 404
    test = post(stack, f"/api/v1/webhooks/{hook['id']}/test", None, token)
    assert test.status_code == 202
    wait_for(lambda: [r for r in receiver.requests if r["headers"].get("webhook-id") == test.json()["msg_id"]],
             timeout=30, what="the test event")
    replay = post(stack, f"/api/v1/webhooks/{hook['id']}/deliveries/{done[0]['id']}/replay", None, token)
    assert replay.status_code == 202 and replay.json()["msg_id"] == done[0]["msg_id"]
    wait_for(lambda: len([r for r in receiver.requests if r["headers"].get("webhook-id") == done[0]["msg_id"]]) == 2,
             timeout=30, what="the replay")


def test_webhook_urls_inside_the_network_are_refused(stack, mailbox, admin_token):
    acme = _customer(stack, mailbox, admin_token)
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.7/hook", "http://[::1]:8080/",
                "ftp://partner.example/hook", "http://192.168.1.1/"):
        refused = post(stack, "/api/v1/webhooks", {"url": url, "events": ["order.submitted"]}, acme["token"])
        assert refused.status_code == 422, (url, refused.text)
        assert refused.json()["error"]["details"]["fields"]["url"]
    bad_events = post(stack, "/api/v1/webhooks", {"url": "http://127.0.0.1:9/", "events": ["user.created"]},
                      acme["token"])
    assert bad_events.status_code == 422      # identity's events are not offered to partners
    plain = _customer(stack, mailbox, admin_token, role="customer_booker")
    assert post(stack, "/api/v1/webhooks", {"url": "http://127.0.0.1:9/", "events": ["order.submitted"]},
                plain["token"]).status_code == 403


def test_a_receiver_that_is_gone_disables_the_endpoint_and_tells_its_owner(stack, mailbox, admin_token, receiver):
    acme = _customer(stack, mailbox, admin_token)
    hook = _webhook(stack, acme["token"], f"{receiver.url}/gone", ["order.submitted"])
    order = post(stack, "/api/v1/orders", {**ORDER, "submit": True}, acme["token"]).json()
    wait_for(lambda: receiver.of("/gone", "order.submitted", order["id"]), timeout=30, what="the delivery")
    disabled = wait_for(lambda: (lambda h: h if not h["enabled"] else None)(
        get(stack, f"/api/v1/webhooks/{hook['id']}", acme["token"]).json()), timeout=30, what="the endpoint disabled")
    assert "410" in disabled["disabled_reason"]
    told = wait_for(lambda: [m for m in mailbox.messages if m["To"] == acme["email"]
                             and "webhook" in m["Subject"].lower()], timeout=30, what="the owner's email")
    assert receiver.url in told[0].get_body(preferencelist=("plain",)).get_content()
    again = requests.patch(f"{stack.base}/api/v1/webhooks/{hook['id']}", json={"enabled": True},
                           headers=auth(acme["token"]), timeout=10)
    assert again.status_code == 200 and again.json()["enabled"] is True


def test_staff_who_follow_a_customer_hear_its_questions(stack, mailbox, admin_token):
    acme = _customer(stack, mailbox, admin_token)
    assert post(stack, "/api/v1/admin/following", {"customer_id": acme["customer"]["id"]}, admin_token).status_code == 200
    asked = post(stack, "/api/v1/conversations", {"subject": "Pallet count", "body": "Can you take 3 more?"},
                 acme["token"])
    assert asked.status_code == 201, asked.text
    name = acme["customer"]["name"]
    found = wait_for(lambda: [n for n in get(stack, "/api/v1/notifications?per_page=50", admin_token).json()["items"]
                              if n["title"].startswith(name)], timeout=30, what="the staff notification")
    assert found[0]["link"].startswith("/conversations/")
    assert post(stack, "/api/v1/notifications/read-all", {}, admin_token).json()["unread"] == 0
