"""Approval of orders above the customer's limit (issue 11) on the running stack: the customer's
admin sets the limit (PATCH /customer), invites a booker who accepts from the email; the
booker's order priced above the limit (billing's rate card, asked by RPC) waits in
pending_approval, the admin is emailed and approves it, and it is submitted and priced as any
order; another is declined with a reason and the booker is told; one under the limit goes
straight through."""
import re
import uuid

import pytest
import requests

from services.common.caller import OPERATOR_ADMIN, CallerContext
from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, get, invite_and_accept, post, sign_in

pytestmark = pytest.mark.e2e

LIMIT = {"amount": "80.00", "currency": "EUR"}


def order(reference: str, packages: int) -> dict:
    """Priced by the customer's flat card: EUR 50.00 + 10.00 a package (no tax)."""
    return {"reference": reference, "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"},
         "window_start": "2027-02-03T09:00:00+00:00", "window_end": "2027-02-03T11:00:00+00:00"}],
        "items": [{"description": "Crates", "quantity": packages}]}


def accept_invite(stack, mailbox, email: str) -> str:
    body = mailbox.wait_for(email).get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"accept-invite#token=(\S+)", body)[1]
    accepted = post(stack, "/api/v1/invites/accept", {"token": token, "name": "Bo Booker", "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    return sign_in(stack, email)


@pytest.fixture(scope="module")
def acme(stack, mailbox, admin_token, rpc):
    tag = uuid.uuid4().hex[:6]
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Approvals {tag}"}, admin_token).json()
    admin_email = f"boss.{tag}@approvals.example"
    admin = invite_and_accept(stack, mailbox, admin_token, customer["id"], admin_email, "customer_admin")
    card = post(stack, "/api/v1/admin/rate-cards", {
        "name": f"Approvals {tag}", "customer_id": customer["id"], "kind": "delivery", "currency": "EUR",
        "tax_rate": "0", "base_fee": "50.00", "per_package": "10.00", "timezone": "UTC"}, admin_token)
    assert card.status_code == 201, card.text
    # The admin sets the limit and invites a booker, as the portal's company screen does.
    patched = requests.patch(
        f"{stack.base}/api/v1/customer", json={"approval_limit": LIMIT},
        headers={"Authorization": f"Bearer {admin}"}, timeout=15)
    assert patched.status_code == 200, patched.text
    booker_email = f"bo.{tag}@approvals.example"
    invited = post(stack, "/api/v1/invites", {"emails": [booker_email], "role": "customer_booker"}, admin)
    assert invited.status_code == 201, invited.text
    booker = accept_invite(stack, mailbox, booker_email)
    # The orders service's copy of the limit comes with customer.updated: wait for it.
    staff = CallerContext(role=OPERATOR_ADMIN, user_id=str(uuid.uuid4()))
    wait_for(lambda: (rpc.call("orders", "customer_settings", customer["id"], caller=staff)
                      .get("approval_limit") or {}).get("amount") == "80.00",
             timeout=30, what="orders to keep the approval limit")
    return {"customer": customer, "admin": admin, "admin_email": admin_email, "booker": booker,
            "booker_email": booker_email}


def test_an_order_above_the_limit_waits_for_the_admin_who_approves_it(stack, mailbox, acme):
    booker, admin = acme["booker"], acme["admin"]
    made = post(stack, "/api/v1/orders", {**order("BIG-1", 5), "submit": True}, booker)   # EUR 100.00
    assert made.status_code == 201, made.text
    held = made.json()
    assert held["status"] == "pending_approval" and "approve" not in held["allowed_actions"]
    waiting = get(stack, "/api/v1/orders", admin, params={"status": "pending_approval"}).json()
    assert [o["id"] for o in waiting["items"]] == [held["id"]]
    assert post(stack, f"/api/v1/orders/{held['id']}/approve", None, booker).status_code == 403

    email = mailbox.wait_for_subject(acme["admin_email"], "Order BIG-1 waits for your approval")
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "EUR 100.00" in text and f"{stack.base}/orders/{held['id']}" in text
    notices = wait_for(lambda: [n for n in get(stack, "/api/v1/notifications", admin).json()["items"]
                                if "waits for your approval" in n["title"]], timeout=20, what="the admin's notice")
    assert notices[0]["link"] == f"/orders/{held['id']}"

    approved = post(stack, f"/api/v1/orders/{held['id']}/approve", None, admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "submitted"
    assert approved.json()["history"][-1]["by_role"] == "customer_admin"
    # Submitted as any order: billing prices it from the rate card.
    priced = wait_for(lambda: get(stack, f"/api/v1/orders/{held['id']}", booker).json()["price"], timeout=30,
                      what="billing to price the approved order")
    assert priced["total"] == {"amount": "100.00", "currency": "EUR"}
    wait_for(lambda: [n for n in get(stack, "/api/v1/notifications", booker).json()["items"]
                      if n["title"] == "Order BIG-1 was approved"], timeout=20, what="the booker's notice")
    assert post(stack, f"/api/v1/orders/{held['id']}/approve", None, admin).status_code == 409


def test_a_declined_order_is_a_draft_again_and_the_booker_is_told_why(stack, mailbox, acme):
    booker, admin = acme["booker"], acme["admin"]
    draft = post(stack, "/api/v1/orders", order("BIG-2", 4), booker).json()           # EUR 90.00
    held = post(stack, f"/api/v1/orders/{draft['id']}/submit", None, booker).json()
    assert held["status"] == "pending_approval"
    refused = post(stack, f"/api/v1/orders/{draft['id']}/decline", {}, admin)
    assert refused.status_code == 422 and "reason" in refused.text
    declined = post(stack, f"/api/v1/orders/{draft['id']}/decline", {"reason": "Split it over two days"}, admin)
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "draft"
    assert declined.json()["history"][-1]["note"] == "declined: Split it over two days"
    told = mailbox.wait_for_subject(acme["booker_email"], "Order BIG-2 was declined")
    assert "Split it over two days" in told.get_body(preferencelist=("plain",)).get_content()
    wait_for(lambda: [n for n in get(stack, "/api/v1/notifications", booker).json()["items"]
                      if n["title"] == "Order BIG-2 was declined: Split it over two days"],
             timeout=20, what="the booker's notice")


def test_an_order_under_the_limit_goes_straight_through(stack, acme):
    small = post(stack, "/api/v1/orders", {**order("SMALL-1", 2), "submit": True}, acme["booker"])  # EUR 70.00
    assert small.status_code == 201, small.text
    assert small.json()["status"] == "submitted"
    mine = post(stack, "/api/v1/orders", {**order("BOSS-1", 9), "submit": True}, acme["admin"])   # the admin's own
    assert mine.json()["status"] == "submitted"


def test_a_bookers_import_submitted_at_once_holds_the_rows_above_the_limit(stack, acme):
    """The import worker (a process of its own) prices the booker's submitted rows by RPC too."""
    rows = ("Order ID,Street,Town,Postcode,Recipient,Packages\n"
            "IMP-SMALL,1 High St,York,YO1 1AA,Ann,2\n"          # EUR 70.00
            "IMP-BIG,2 High St,York,YO1 1AB,Bob,6\n")            # EUR 110.00
    sent = requests.post(f"{stack.base}/api/v1/imports", files={"file": ("o.csv", rows.encode(), "text/csv")},
                         data={"submit": "true"}, headers={"Authorization": f"Bearer {acme['booker']}"}, timeout=30)
    assert sent.status_code == 202, sent.text
    job = wait_for(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
        get(stack, f"/api/v1/imports/{sent.json()['id']}", acme["booker"]).json()), timeout=60, what="the import")
    assert job["status"] == "done" and job["created"] == 2, job
    made = get(stack, "/api/v1/orders", acme["admin"], params={"import_id": job["id"]}).json()["items"]
    assert {o["reference"]: o["status"] for o in made} == {"IMP-SMALL": "submitted", "IMP-BIG": "pending_approval"}
