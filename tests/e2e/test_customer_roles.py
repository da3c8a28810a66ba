"""Customer roles on the running platform (issue 11): a viewer reads and changes only its own
settings, at the gateway and at the services behind it; a booker books but neither pays nor
manages colleagues; an admin changes a colleague's role and the old rights end."""
import uuid

import pytest
import requests

from services.common.caller import CUSTOMER_VIEWER, CallerContext
from tests.attack.authz_probe import RpcCaller, signed
from tests.e2e.conftest import PASSWORD, auth, get, post, sign_in, wait_for
from tests.e2e.test_notify_flows import ORDER
from tests.e2e.test_scoping import make_customer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def company(stack, mailbox, admin_token):
    return make_customer(stack, mailbox, admin_token, "Roles")


def send(stack, method, path, token, body=None):
    return requests.request(method, f"{stack.base}{path}", json=body, headers=auth(token), timeout=20)


def _refused_as_read_only(response):
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["details"]["reason"] == "read_only_role" and "only read" in error["message"]


def test_a_viewer_reads_what_its_company_has(stack, company):
    viewer, order_id = company["viewer"], company["orders"]["order"]["id"]
    for path in ("/api/v1/orders", f"/api/v1/orders/{order_id}", f"/api/v1/orders/{order_id}/tracking",
                 "/api/v1/places", "/api/v1/invoices", "/api/v1/quotes", "/api/v1/customer",
                 "/api/v1/notifications", "/api/v1/recurring-orders", "/api/v1/imports"):
        answer = get(stack, path, viewer)
        assert answer.status_code == 200, f"{path}: {answer.text}"
    listed = get(stack, "/api/v1/orders", viewer).json()["items"]
    assert order_id in {row["id"] for row in listed}


def test_a_viewer_changes_nothing_of_its_company_but_keeps_its_own_settings(stack, company):
    viewer, admin = company["viewer"], company["admin"]
    order = company["orders"]["order"]
    before = get(stack, f"/api/v1/orders/{order['id']}", admin).json()
    places_before = get(stack, "/api/v1/places", admin).json()["total"]
    for method, path, body in (
            ("POST", "/api/v1/orders", {**ORDER, "reference": f"VIEW-{uuid.uuid4().hex[:6]}"}),
            ("POST", f"/api/v1/orders/{order['id']}/cancel", {"reason": "viewer tries"}),
            ("PATCH", f"/api/v1/orders/{order['id']}", {"notes": "viewer was here"}),
            ("POST", "/api/v1/places", {"name": "Viewer place", "address": {"line1": "1 Road"}}),
            ("POST", "/api/v1/quotes", {"order": ORDER}),
            ("POST", f"/api/v1/orders/{order['id']}/tracking-links", {"label": "viewer"})):
        _refused_as_read_only(send(stack, method, path, viewer, body))
    for method, path, body in (("PUT", "/api/v1/autopay", {"enabled": False}),      # admins' only, anyway
                               ("POST", "/api/v1/invites", {"emails": ["someone@roles.example"]})):
        assert send(stack, method, path, viewer, body).status_code == 403
    after = get(stack, f"/api/v1/orders/{order['id']}", admin).json()
    assert (after["status"], after.get("notes")) == (before["status"], before.get("notes"))
    assert get(stack, "/api/v1/places", admin).json()["total"] == places_before
    # Its own name, notification choices and saved list view are its own business.
    assert send(stack, "PATCH", "/api/v1/me", viewer, {"name": "Vera Viewer"}).json()["name"] == "Vera Viewer"
    chosen = send(stack, "PUT", "/api/v1/me/notification-preferences", viewer, {"order.status_changed": {"email": False}})
    assert chosen.status_code == 200, chosen.text
    saved = send(stack, "PUT", "/api/v1/orders/view", viewer, {"columns": ["reference", "status"]})
    assert saved.status_code == 200, saved.text


def test_the_services_refuse_a_viewers_write_that_gets_past_the_gateway(stack, company, amqp_uri):
    """Defence in depth (DESIGN.md): straight on the bus with a validly signed viewer context, a
    write the method would otherwise make is refused by the service's read-only transaction."""
    me = get(stack, "/api/v1/me", company["viewer"]).json()
    assert me["role"] == CUSTOMER_VIEWER
    viewer = RpcCaller(amqp_uri, signed(CallerContext(CUSTOMER_VIEWER, me["id"], me["customer_id"])))
    try:
        from nameko.exceptions import RemoteError

        reference = f"BUS-{uuid.uuid4().hex[:6]}"
        with pytest.raises(RemoteError) as refused:
            viewer.rpc.orders.create_order({**ORDER, "reference": reference})
        assert refused.value.exc_type == "Forbidden" and "only read" in str(refused.value.value)
        with pytest.raises(RemoteError) as refused:
            viewer.rpc.orders.create_place({"name": "Bus place", "address": {"line1": "2 Road"}})
        assert refused.value.exc_type == "Forbidden"
        assert viewer.rpc.orders.list_orders({"q": reference})["total"] == 0
        assert viewer.rpc.orders.save_list_view({"columns": ["reference"]})      # personal: allowed
    finally:
        viewer.stop()


def test_a_booker_books_but_neither_pays_nor_manages_colleagues(stack, company, admin_token):
    booker, admin = company["user"], company["admin"]
    made = post(stack, "/api/v1/orders", {**ORDER, "reference": f"BOOK-{uuid.uuid4().hex[:6]}"}, booker)
    assert made.status_code == 201, made.text
    invoice = post(stack, "/api/v1/admin/invoices", {"customer_id": company["customer"]["id"], "lines": [
        {"description": "Roles storage", "quantity": "1", "unit": "day", "unit_price": "40.00", "tax_rate": "21"}]},
        admin_token).json()
    assert get(stack, f"/api/v1/invoices/{invoice['id']}", booker).status_code == 200      # reading is fine
    paid = requests.post(f"{stack.base}/api/v1/invoices/{invoice['id']}/payments", timeout=30,
                         json={"amount": "10.00", "payment_method": "tok_visa"},
                         headers={**auth(booker), "Idempotency-Key": uuid.uuid4().hex})
    assert paid.status_code == 403, paid.text
    assert get(stack, "/api/v1/users", booker).status_code == 403
    admin_id = get(stack, "/api/v1/me", admin).json()["id"]
    assert send(stack, "PATCH", f"/api/v1/users/{admin_id}", booker, {"role": CUSTOMER_VIEWER}).status_code == 403
    assert get(stack, f"/api/v1/invoices/{invoice['id']}", admin).json()["status"] != "paid"


def test_an_admin_makes_a_booker_a_viewer_and_its_old_session_ends(stack, mailbox, admin_token):
    company = make_customer(stack, mailbox, admin_token, "Demote")
    admin, booker = company["admin"], company["user"]
    users = {u["role"]: u for u in get(stack, "/api/v1/users", admin).json()}
    target = users["customer_booker"]
    changed = send(stack, "PATCH", f"/api/v1/users/{target['id']}", admin, {"role": CUSTOMER_VIEWER})
    assert changed.status_code == 200 and changed.json()["role"] == CUSTOMER_VIEWER, changed.text
    # The booker's token is refused once the gateway rechecks its session (SESSION_RECHECK_SECONDS).
    wait_for(lambda: get(stack, "/api/v1/me", booker).status_code == 401, timeout=15, what="the old session to end")
    again = sign_in(stack, target["email"], PASSWORD)
    assert get(stack, "/api/v1/me", again).json()["role"] == CUSTOMER_VIEWER
    _refused_as_read_only(send(stack, "POST", "/api/v1/orders", again, {**ORDER, "reference": "DEMOTED-1"}))
    last_admin = get(stack, "/api/v1/me", admin).json()["id"]
    kept = send(stack, "PATCH", f"/api/v1/users/{last_admin}", admin, {"role": "customer_booker"})
    assert kept.status_code == 409 and "at least one administrator" in kept.json()["error"]["message"]
