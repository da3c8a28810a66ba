"""Book again and recurring orders over HTTP: a past order repeated as a draft and submitted on
another day, another customer refused; a schedule the orders timer books ahead (once), paused,
edited and deleted."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e


def _customer(stack, mailbox, admin_token, name):
    made = post(stack, "/api/v1/admin/customers", {"name": f"{name} {uuid.uuid4().hex[:6]}"}, admin_token).json()
    token = invite_and_accept(stack, mailbox, admin_token, made["id"], f"{name.lower()}.{uuid.uuid4().hex[:6]}@r.example")
    return token


def test_book_again_and_a_schedule_that_books_ahead(stack, mailbox, admin_token):
    token = _customer(stack, mailbox, admin_token, "Repeat")
    other = _customer(stack, mailbox, admin_token, "Other")
    order = post(stack, "/api/v1/orders", {"reference": "WEEKLY-1", "notes": "Dock 4", "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"}, "contact": {"name": "Mo Dock"},
         "window_start": "2026-11-02T09:00:00+00:00", "window_end": "2026-11-02T11:00:00+00:00"}],
        "items": [{"description": "Crates", "quantity": 4}]}, token).json()

    again = post(stack, f"/api/v1/orders/{order['id']}/repeat", {"on": "2027-02-03", "submit": True}, token)
    assert again.status_code == 201, again.text
    again = again.json()
    assert again["status"] == "submitted" and again["source"] == "repeat" and again["notes"] == "Dock 4"
    assert again["stops"][1]["contact"]["name"] == "Mo Dock"
    assert again["stops"][1]["window_start"].startswith("2027-02-03T09:00")
    assert post(stack, f"/api/v1/orders/{order['id']}/repeat", {}, other).status_code == 404
    assert post(stack, f"/api/v1/orders/{order['id']}/repeat", {}, admin_token).status_code == 403

    # A schedule whose first day starts in two hours: within the lead (24 h), booked at once.
    first = datetime.now(timezone.utc) + timedelta(hours=2)
    saved = post(stack, "/api/v1/recurring-orders", {
        "order_id": order["id"], "frequency": "every_n_days", "interval_days": 1,
        "starts_on": first.date().isoformat(), "time_of_day": first.strftime("%H:%M")}, token)
    assert saved.status_code == 201, saved.text
    schedule = saved.json()
    assert schedule["next_on"] == first.date().isoformat() and schedule["dropoff"] == "9 Quay St, Hull"
    assert get(stack, "/api/v1/recurring-orders", other).json()["total"] == 0
    assert get(stack, f"/api/v1/recurring-orders/{schedule['id']}", other).status_code == 404

    def advanced():
        found = get(stack, f"/api/v1/recurring-orders/{schedule['id']}", token).json()
        return found if found["next_on"] != schedule["next_on"] else None
    after = wait_for(advanced, timeout=20, what="the orders timer to book the first day")
    assert after["next_on"] == (first.date() + timedelta(days=1)).isoformat() and after["last_error"] is None
    drafts = get(stack, "/api/v1/orders", token, params={"status": "draft", "per_page": 50}).json()["items"]
    booked = [d for d in drafts if d["id"] not in (order["id"], again["id"])]
    assert len(booked) == 1                                      # one day, one order

    paused = requests.patch(f"{stack.base}/api/v1/recurring-orders/{schedule['id']}", headers=auth(token),
                            json={"paused": True, "frequency": "weekly", "weekdays": [0, 3]}, timeout=15)
    assert paused.status_code == 200 and paused.json()["paused"] and paused.json()["weekdays"] == [0, 3]
    bad = requests.patch(f"{stack.base}/api/v1/recurring-orders/{schedule['id']}", headers=auth(token),
                         json={"frequency": "weekly", "weekdays": []}, timeout=15)
    assert bad.status_code == 422
    gone = requests.delete(f"{stack.base}/api/v1/recurring-orders/{schedule['id']}", headers=auth(token), timeout=15)
    assert gone.status_code == 204
    assert get(stack, f"/api/v1/recurring-orders/{schedule['id']}", token).status_code == 404
    assert get(stack, f"/api/v1/orders/{booked[0]['id']}", token).status_code == 200   # its order stays
