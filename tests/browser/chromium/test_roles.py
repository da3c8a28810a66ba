"""Customer roles in the portal (issue 11): a customer admin makes a colleague a viewer on the
colleagues card of the profile, limited to one of the company's sites; the viewer, signed in,
is offered no "New order" (nor an import) and the orders list shows the site column."""
import uuid

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, auth, get, invite_and_accept, post

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_an_admin_makes_a_colleague_a_viewer_who_sees_no_new_order(tabs, stack, mailbox, admin_token):
    tag = uuid.uuid4().hex[:6]
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Roles {tag}"}, admin_token).json()
    admin_email, colleague = f"admin.{tag}@roles.example", f"colleague.{tag}@roles.example"
    admin = invite_and_accept(stack, mailbox, admin_token, customer["id"], admin_email, "customer_admin")
    invite_and_accept(stack, mailbox, admin_token, customer["id"], colleague, "customer_booker")
    sites = requests.patch(f"{stack.base}/api/v1/customer", headers=auth(admin), timeout=15, json={
        "sites": [{"code": "NORTH", "name": "North depot"}, {"code": "SOUTH", "name": "South office"}]})
    assert sites.status_code == 200, sites.text
    # An order of the NORTH site, for the viewer's list (orders learns the sites from an event).
    wait_for(lambda: post(stack, "/api/v1/orders", {"reference": f"N-{tag}", "site": "NORTH", "stops": [
        {"address": {"line1": "1 Quay St", "city": "Hull"}}]}, admin).status_code == 201,
        timeout=20, what="orders to know the sites")

    tab = tabs()
    tab.sign_in(admin_email, PASSWORD)
    page = tab.go("/profile#colleagues")
    row = page.locator("#colleagues tr", has_text=colleague)
    row.get_by_label("Role of Robin").select_option(label="Viewer")
    row.get_by_label("Sites of Robin").select_option(["NORTH"])
    tab.check("roles-colleagues-before-save")
    row.get_by_role("button", name="Save Robin").click()
    page.get_by_text("is now Viewer (NORTH)").wait_for()
    user = next(u for u in get(stack, "/api/v1/users", admin).json() if u["email"] == colleague)
    assert user["role"] == "customer_viewer" and user["sites"] == ["NORTH"]
    tab.check("roles-colleagues-saved")
    page = tab.go("/orders/new")                     # the admin books for any site, or none
    assert page.locator("select[name=site] option").all_inner_texts() == [
        "No site", "NORTH – North depot", "SOUTH – South office"]

    viewer = tabs()
    viewer.sign_in(colleague, PASSWORD)
    page = viewer.go("/orders")
    page.get_by_role("heading", name="Orders", exact=True).wait_for()
    page.get_by_role("link", name=f"N-{tag}").wait_for()
    assert page.get_by_role("link", name="New order").count() == 0
    assert page.get_by_role("link", name="Import", exact=True).count() == 0
    assert page.locator("select[name=site]").count() == 1              # the site filter
    assert page.get_by_role("columnheader", name="Site").count() == 1   # and its column
    viewer.check("roles-viewer-orders")
    page = viewer.go("/orders/new")
    page.get_by_role("heading", name="Not available").wait_for()
