"""Properties a customer may not set (issue 9: customer_id, role, status, price, paid ...), each
sent alone in an otherwise valid create/update body: the platform must refuse it (400/422) or
ignore it, and the stored object (read back afterwards, by A or by the operator) must show it was
not applied. One case = one request and one read-back."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

import requests

from tests.e2e.conftest import auth, get
from tests.e2e.test_notify_flows import ORDER

REFUSED = (400, 403, 404, 409, 422)
MONEY = {"amount": "0.01", "currency": "EUR"}


@dataclass
class Case:
    label: str
    method: str
    path: str
    body: dict
    stored_ok: Callable[[dict], str | None]        # the 2xx answer -> a problem, or None
    headers: dict | None = None


def cases(stack, admin_token, a, b) -> list[Case]:
    token = a.token("customer_admin")
    b_token = b.token("customer_admin")

    def order_ok(reference):
        def check(made):
            order = get(stack, f"/api/v1/orders/{made['id']}", token)
            if order.status_code != 200:
                return f"the new order is not A's ({order.status_code})"
            if order.json()["status"] != "draft" or (order.json().get("price") or {}).get("total") == MONEY:
                return f"stored as {order.json()['status']} / price {order.json().get('price')}"
            if get(stack, f"/api/v1/orders?q={reference}", b_token).json()["total"]:
                return "the order landed in B's list"
            return None
        return check

    def draft():
        made = requests.post(f"{stack.base}/api/v1/orders", headers=auth(token), timeout=15, json={
            "reference": f"MA-{uuid.uuid4().hex[:8]}", "stops": [{"address": {"line1": "1 A Road"}}]}).json()
        return made["id"]

    def still_draft(order_id):
        def check(_answer):
            order = get(stack, f"/api/v1/orders/{order_id}", token)
            return None if order.status_code == 200 and order.json()["status"] == "draft" else \
                f"A's draft is now {order.status_code} {order.text[:120]}"
        return check

    def me_ok(_answer):
        me = get(stack, "/api/v1/me", token).json()
        return None if (me["role"], me["customer_id"], me.get("is_active", True)) == (
            "customer_admin", a.customer_id, True) else f"/me is now {me}"

    customer_before = get(stack, f"/api/v1/admin/customers/{a.customer_id}", admin_token).json()

    def customer_ok(field):
        def check(_answer):
            now = get(stack, f"/api/v1/admin/customers/{a.customer_id}", admin_token).json()
            return None if now.get(field) == customer_before.get(field) else \
                f"{field}: {customer_before.get(field)!r} -> {now.get(field)!r}"
        return check

    def invite_ok(email):
        def check(answer):
            mine = [i for i in get(stack, "/api/v1/invites", token).json() if i["email"] == email]
            theirs = [i for i in get(stack, "/api/v1/invites", b_token).json() if i["email"] == email]
            if theirs or not mine or any(i.get("role") not in ("customer_booker", "customer_admin") for i in mine):
                return f"invite stored as {mine}, in B's: {theirs}"
            return None
        return check

    def key_ok(made):
        acting = get(stack, "/api/v1/customer", made["secret"])
        if acting.status_code != 200 or acting.json()["id"] != a.customer_id:
            return f"the new key acts as {acting.status_code} {acting.text[:100]}"
        if get(stack, "/api/v1/admin/customers", made["secret"]).status_code != 403:
            return "the new key reaches operator routes"
        return None

    def quote_ok(made):
        quote = get(stack, f"/api/v1/quotes/{made['id']}", token)
        if quote.status_code != 200:
            return f"the new quote is not A's ({quote.status_code})"
        if quote.json().get("price") or quote.json()["status"] not in ("requested", "pending", "draft"):
            return f"stored as {quote.json()['status']} / {quote.json().get('price')}"
        return None

    def payment_ok(made):
        return None if made.get("invoice_id") in (None, a.ids["invoice"]) else f"paid {made.get('invoice_id')}"

    def owned(kind, path):
        def check(made):
            mine = get(stack, f"{path}/{made['id']}", token)
            theirs = get(stack, f"{path}/{made['id']}", b_token)
            return None if mine.status_code == 200 and theirs.status_code == 404 else \
                f"the new {kind}: A sees {mine.status_code}, B sees {theirs.status_code}"
        return check

    def link_ok(made):
        links = get(stack, f"/api/v1/orders/{b.ids['order']}/tracking-links", b_token).json()
        return "the link went on B's order" if any(l["id"] == made["id"] for l in links) else None

    out = []
    for extra in ({"customer_id": b.customer_id}, {"status": "delivered"}, {"price": MONEY}, {"paid": True},
                  {"id": str(uuid.uuid4())}, {"created_by": b.ids["user"]}, {"submitted_at": "2020-01-01T00:00:00Z"}):
        reference = f"MA-{uuid.uuid4().hex[:8]}"
        out.append(Case(f"POST /orders {list(extra)}", "POST", "/api/v1/orders",
                        {"reference": reference, "stops": [{"address": {"line1": "1 A Road"}}], **extra},
                        order_ok(reference)))
    for extra in ({"status": "delivered"}, {"customer_id": b.customer_id}, {"price": MONEY}):
        order_id = draft()
        out.append(Case(f"PATCH /orders/{{id}} {list(extra)}", "PATCH", f"/api/v1/orders/{order_id}", extra,
                        still_draft(order_id)))
    for extra in ({"role": "operator_admin"}, {"customer_id": b.customer_id}, {"is_active": False},
                  {"email": f"takeover.{uuid.uuid4().hex[:6]}@example.com"}, {"id": b.ids["user"]}):
        out.append(Case(f"PATCH /me {list(extra)}", "PATCH", "/api/v1/me", extra, me_ok))
    for field, value in (("is_active", False), ("has_portal_access", False), ("location_sharing", "exact"),
                         ("require_dimensions", True), ("client_id", "HACKED"), ("allow_order_upload", False),
                         ("name", "Renamed by A"), ("default_depot_id", str(uuid.uuid4())), ("id", b.customer_id)):
        out.append(Case(f"PATCH /customer ['{field}']", "PATCH", "/api/v1/customer", {field: value},
                        customer_ok(field if field != "id" else "name")))
    for extra in ({"role": "operator_admin"}, {"role": "dispatcher"}, {"customer_id": b.customer_id}):
        email = f"ma.{uuid.uuid4().hex[:6]}@example.com"
        out.append(Case(f"POST /invites {list(extra)}", "POST", "/api/v1/invites", {"emails": [email], **extra},
                        invite_ok(email)))
    for extra in ({"customer_id": b.customer_id}, {"role": "operator_admin"}, {"scopes": ["admin"]}):
        out.append(Case(f"POST /api-keys {list(extra)}", "POST", "/api/v1/api-keys", {"name": "ma", **extra}, key_ok))
    for extra in ({"customer_id": b.customer_id}, {"price": MONEY}, {"status": "accepted"},
                  {"order_id": b.ids["order"]}):
        out.append(Case(f"POST /quotes {list(extra)}", "POST", "/api/v1/quotes", {"order": ORDER, **extra}, quote_ok))
    for extra in ({"status": "succeeded"}, {"paid": True}, {"customer_id": b.customer_id},
                  {"invoice_id": b.ids["invoice"]}, {"paid_at": "2020-01-01T00:00:00Z"}):
        out.append(Case(f"POST /invoices/{{id}}/payments {list(extra)}", "POST",
                        f"/api/v1/invoices/{a.ids['invoice']}/payments",
                        {"amount": "1.00", "payment_method": "tok_visa", **extra}, payment_ok,
                        headers={"Idempotency-Key": uuid.uuid4().hex}))
    for extra in ({"customer_id": b.customer_id}, {"secret": "whsec_" + "A" * 32}, {"is_active": False}):
        out.append(Case(f"POST /webhooks {list(extra)}", "POST", "/api/v1/webhooks",
                        {"url": "http://127.0.0.1:9/ma", "events": ["invoice.overdue"], **extra},
                        owned("webhook", "/api/v1/webhooks")))
    out.append(Case("POST /places ['customer_id']", "POST", "/api/v1/places",
                    {"name": "MA place", "customer_id": b.customer_id}, owned("place", "/api/v1/places")))
    out.append(Case("POST /conversations ['customer_id']", "POST", "/api/v1/conversations",
                    {"subject": "MA", "body": "hello", "customer_id": b.customer_id},
                    owned("conversation", "/api/v1/conversations")))
    out.append(Case("POST /orders/{id}/tracking-links ['order_id']", "POST",
                    f"/api/v1/orders/{a.ids['order']}/tracking-links", {"label": "MA", "order_id": b.ids["order"]},
                    link_ok))
    return out


def run(stack, token, case: Case) -> str | None:
    """The problem with one case, or None when the property was refused or ignored."""
    response = requests.request(case.method, f"{stack.base}{case.path}", json=case.body, timeout=40,
                                headers={**auth(token), **(case.headers or {})})
    if response.status_code in REFUSED:
        return None
    if response.status_code not in (200, 201, 202):
        return f"{case.label}: {response.status_code} {response.text[:160]}"
    problem = case.stored_ok(response.json())
    return f"{case.label}: accepted and {problem}" if problem else None
