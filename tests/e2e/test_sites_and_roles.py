"""Sites (cost centres) and customer roles over HTTP on the real stack: the admin defines two
sites and invites a booker limited to one; the booker must book for its site, lists only its
site's orders and gets 404 on the other site's order and its tracking; made a viewer, it signs
in again and reads but no longer writes."""
import re
import uuid

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, auth, get, invite_and_accept, post, sign_in

pytestmark = pytest.mark.e2e


def order(reference, site=None):
    body = {"reference": reference, "submit": True, "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"}}]}
    return {**body, "site": site} if site else body


def accept_invite(stack, mailbox, email):
    body = mailbox.wait_for(email).get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"accept-invite#token=(\S+)", body)[1]
    accepted = post(stack, "/api/v1/invites/accept", {"token": token, "name": "Sam Site", "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    return sign_in(stack, email)


def test_a_site_limited_booker_then_viewer(stack, mailbox, admin_token):
    tag = uuid.uuid4().hex[:6]
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Sites {tag}"}, admin_token).json()
    admin = invite_and_accept(stack, mailbox, admin_token, customer["id"], f"admin.{tag}@sites.example",
                              "customer_admin")

    # The admin keeps the company's sites.
    patched = requests.patch(f"{stack.base}/api/v1/customer", headers=auth(admin), timeout=15, json={
        "sites": [{"code": "NORTH", "name": "North depot"}, {"code": "SOUTH", "name": "South office"}]})
    assert patched.status_code == 200, patched.text
    assert [s["code"] for s in patched.json()["sites"]] == ["NORTH", "SOUTH"]

    # The orders service learns them from customer.updated: the admin can then book for SOUTH.
    south = None

    def booked_south():
        nonlocal south
        south = post(stack, "/api/v1/orders", order(f"S-{tag}", "south"), admin)
        return south.status_code == 201
    wait_for(booked_south, timeout=20, what="orders to know the customer's sites")
    south = south.json()
    assert south["site"] == "SOUTH"

    # A booker limited to NORTH.
    email = f"booker.{tag}@sites.example"
    invited = post(stack, "/api/v1/invites", {"emails": [email], "role": "customer_booker", "sites": ["NORTH"]}, admin)
    assert invited.status_code == 201, invited.text
    assert invited.json()[0]["sites"] == ["NORTH"]
    booker = accept_invite(stack, mailbox, email)

    missing = post(stack, "/api/v1/orders", order(f"X-{tag}"), booker)
    assert missing.status_code == 422 and "site" in missing.json()["error"]["details"]["fields"], missing.text
    other = post(stack, "/api/v1/orders", order(f"Y-{tag}", "SOUTH"), booker)
    assert other.status_code == 422 and "site" in other.json()["error"]["details"]["fields"], other.text
    north = post(stack, "/api/v1/orders", order(f"N-{tag}", "north"), booker)
    assert north.status_code == 201, north.text
    north = north.json()
    assert north["site"] == "NORTH"

    listed = get(stack, "/api/v1/orders", booker).json()
    assert [o["reference"] for o in listed["items"]] == [f"N-{tag}"] and listed["total"] == 1
    assert listed["items"][0]["site"] == "NORTH"
    assert get(stack, "/api/v1/orders?status=submitted", booker).json()["total"] == 1
    assert get(stack, "/api/v1/orders", admin).json()["total"] == 2
    assert [o["reference"] for o in get(stack, "/api/v1/orders?site=south", admin).json()["items"]] == [f"S-{tag}"]

    assert get(stack, f"/api/v1/orders/{south['id']}", booker).status_code == 404
    assert post(stack, f"/api/v1/orders/{south['id']}/cancel", {}, booker).status_code == 404
    # Tracking keeps its own copy of the orders (with their site) from events.
    wait_for(lambda: get(stack, f"/api/v1/orders/{south['id']}/tracking", admin).status_code == 200,
             timeout=20, what="tracking to know the SOUTH order")
    wait_for(lambda: get(stack, f"/api/v1/orders/{north['id']}/tracking", booker).status_code == 200,
             timeout=20, what="tracking to know the NORTH order")
    assert get(stack, f"/api/v1/orders/{south['id']}/tracking", booker).status_code == 404
    assert post(stack, f"/api/v1/orders/{south['id']}/tracking-links", {"label": "x"}, booker).status_code == 404

    # The admin makes the booker a viewer; it signs in again with the new rights.
    user_id = next(u["id"] for u in get(stack, "/api/v1/users", admin).json() if u["email"] == email)
    changed = requests.patch(f"{stack.base}/api/v1/users/{user_id}", headers=auth(admin), timeout=15,
                             json={"role": "customer_viewer"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "customer_viewer" and changed.json()["sites"] == ["NORTH"]
    viewer = sign_in(stack, email)
    refused = post(stack, "/api/v1/orders", order(f"V-{tag}", "NORTH"), viewer)
    assert refused.status_code == 403, refused.text
    seen = get(stack, "/api/v1/orders", viewer)
    assert seen.status_code == 200 and [o["reference"] for o in seen.json()["items"]] == [f"N-{tag}"]
    assert get(stack, f"/api/v1/orders/{north['id']}", viewer).status_code == 200
    live = get(stack, f"/api/v1/orders/{north['id']}/stream", viewer, stream=True)    # follows it live
    assert live.status_code == 200, live.text
    live.close()
    assert get(stack, f"/api/v1/orders/{south['id']}/stream", viewer, stream=True).status_code == 404
    assert get(stack, f"/api/v1/orders/{south['id']}", viewer).status_code == 404
