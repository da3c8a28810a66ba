"""Approval of orders above the company's limit in Chromium (issue 11): a booker's order waits;
the customer admin finds it on the home page's card and with the orders list's "Waiting for
approval" filter, declines one
with a reason from the dialog and approves another; the booker's order page says it waits and
offers no Approve. The API agrees at each step; console, CSP and axe are checked on each screen."""
import re
import uuid

import pytest
import requests

from services.common.caller import OPERATOR_ADMIN, CallerContext
from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, auth, get, invite_and_accept, post

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _order(reference: str, packages: int) -> dict:
    return {"reference": reference, "submit": True, "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"}}],
        "items": [{"description": "Crates", "quantity": packages}]}


def test_an_admin_declines_and_approves_orders_waiting_for_approval(tabs, stack, mailbox, admin_token, rpc):
    tag = uuid.uuid4().hex[:6]
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Approve {tag}"}, admin_token).json()
    admin_email, booker_email = f"boss.{tag}@approve.example", f"bo.{tag}@approve.example"
    admin = invite_and_accept(stack, mailbox, admin_token, customer["id"], admin_email, "customer_admin")
    booker = invite_and_accept(stack, mailbox, admin_token, customer["id"], booker_email, "customer_booker")
    assert post(stack, "/api/v1/admin/rate-cards", {
        "name": f"Approve {tag}", "customer_id": customer["id"], "kind": "delivery", "currency": "EUR",
        "tax_rate": "0", "base_fee": "50.00", "per_package": "10.00", "timezone": "UTC"},
        admin_token).status_code == 201
    limit = requests.patch(f"{stack.base}/api/v1/customer", headers=auth(admin), timeout=15,
                           json={"approval_limit": {"amount": "80.00", "currency": "EUR"}})
    assert limit.status_code == 200, limit.text

    # The orders service's copy of the limit comes with customer.updated: wait for it.
    staff = CallerContext(role=OPERATOR_ADMIN, user_id=str(uuid.uuid4()))
    wait_for(lambda: (rpc.call("orders", "customer_settings", customer["id"], caller=staff)
                      .get("approval_limit") or {}).get("amount") == "80.00",
             timeout=30, what="orders to keep the approval limit")
    first, second = (post(stack, "/api/v1/orders", _order(f"BIG-{n}-{tag}", 5), booker).json() for n in "AB")
    assert first["status"] == second["status"] == "pending_approval"

    mine = tabs()
    mine.sign_in(booker_email, PASSWORD)
    page = mine.go(f"/orders/{first['id']}")
    page.get_by_text("Waiting for approval", exact=True).first.wait_for()
    page.get_by_text("an administrator approves it").wait_for()
    assert mine.button("Approve").count() == 0 and mine.button("Withdraw").count() == 1
    mine.check("approval-booker-waiting")

    boss = tabs()
    boss.sign_in(admin_email, PASSWORD)
    page = boss.go("/")                       # the admin's home: a card of what waits
    waits = page.locator(".dash-card", has_text="Waiting for approval")
    waits.get_by_text("orders waiting for your approval").wait_for()
    waits.get_by_role("link", name=first["reference"]).wait_for()
    boss.check("approval-admin-home")
    page = boss.go("/orders")
    boss.field("Status", page.get_by_role("form", name="Filter orders")).select_option(label="Waiting for approval")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"status=pending_approval"))
    for made in (first, second):
        page.get_by_role("link", name=made["reference"]).wait_for()
    boss.check("approval-admin-list")

    page.get_by_role("link", name=first["reference"]).click()
    boss.button("Decline").wait_for()
    boss.check("approval-admin-order")
    boss.button("Decline").click()
    dialog = page.get_by_role("dialog", name="Decline order")
    boss.field("Reason", dialog).fill("Split it over two days")
    boss.check("approval-decline-dialog")
    boss.button("Decline order", dialog).click()
    page.get_by_text("Order declined; it is a draft again.").wait_for()
    declined = get(stack, f"/api/v1/orders/{first['id']}", admin).json()
    assert declined["status"] == "draft" and declined["history"][-1]["note"] == "declined: Split it over two days"

    page = boss.go(f"/orders/{second['id']}")
    boss.button("Approve").click()
    page.get_by_text("Order approved and submitted.").wait_for()
    assert get(stack, f"/api/v1/orders/{second['id']}", admin).json()["status"] == "submitted"
    boss.check("approval-approved")
