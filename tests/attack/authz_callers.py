"""The eight roles of the authorization matrix, each with real credentials on the running stack,
and two customers A and B with one real object of every kind a customer route takes an id of.

HTTP credentials: operator admin (the stack's admin, signed in again so the shared token is
never signed out), dispatcher (staff, temporary password changed), customer admin, booker, viewer
and API key of customer A, a driver (its app credential: drivers have no HTTP access, so the
gateway must refuse it), anonymous (no header).
RPC contexts: what the gateway would sign for each (services.common.caller.sign), the API key's
and the driver's as the identity service itself answers them (authenticate_api_key/_driver).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import requests

from tests.e2e.conftest import ADMIN, PASSWORD, auth, get, post, sign_in
from tests.e2e.test_notify_flows import ORDER
from tests.e2e.test_scoping import make_customer

ROLES = ("operator_admin", "dispatcher", "customer_admin", "customer_booker", "customer_viewer", "api_key",
         "driver", "anonymous")
CUSTOMER_ROLES = ("customer_admin", "customer_booker", "customer_viewer", "api_key")


@dataclass
class Side:
    """One customer and everything of it the walk aims at (or protects)."""
    made: dict                                   # tests.e2e.test_scoping.make_customer's answer
    ids: dict[str, str] = field(default_factory=dict)      # kind -> a real object id
    marks: set[str] = field(default_factory=set)           # strings only this customer's data holds

    @property
    def customer_id(self) -> str:
        return self.made["customer"]["id"]

    def token(self, role: str) -> str:
        return {"customer_admin": self.made["admin"], "customer_booker": self.made["user"],
                "customer_viewer": self.made["viewer"], "api_key": self.made["key"]["secret"]}[role]


def dispatcher_token(stack, mailbox, admin_token) -> tuple[str, str]:
    """A dispatcher (staff) past its first-sign-in password change: (email, token)."""
    email = f"authz.dispatch.{uuid.uuid4().hex[:6]}@operator.example"
    made = post(stack, "/api/v1/admin/staff", {"email": email, "name": "Dee", "role": "dispatcher"}, admin_token)
    assert made.status_code == 201, made.text
    body = mailbox.wait_for_subject(email, "Your").get_body(preferencelist=("plain",)).get_content()
    temporary = re.search(r"password: (\S+)", body)[1]
    limited = sign_in(stack, email, temporary)
    changed = requests.patch(f"{stack.base}/api/v1/me", headers=auth(limited), timeout=15,
                             json={"current_password": temporary, "new_password": PASSWORD})
    assert changed.status_code == 200, changed.text
    return email, sign_in(stack, email)


def make_side(stack, mailbox, admin_token, tag: str) -> Side:
    """A customer with users, a key, an invite, orders' objects (test_scoping.make_customer) and
    billing, tracking and notify objects on top."""
    made = make_customer(stack, mailbox, admin_token, tag)
    side = Side(made)
    token = made["admin"]
    objects = made["orders"]
    side.ids.update({kind: objects[kind]["id"] for kind in (
        "order", "place", "conversation", "document", "import", "rental", "reschedule")})
    side.ids["stop"] = objects["order"]["stops"][0]["id"]
    side.ids.update(customer=side.customer_id, user=made["me"]["id"], key=made["key"]["id"],
                    invite=made["invite"]["id"])
    side.ids["call_off"] = _created(post(stack, f"/api/v1/rentals/{objects['rental']['id']}/call-off", {
        "lines": [{"rental_item_id": objects["item"]["id"], "quantity": 1}], "off_on": "2026-12-20"}, token))
    quote = _json(post(stack, "/api/v1/quotes", {"order": {**ORDER, "reference": f"Q-{tag}"}}, token))
    side.ids["quote"] = quote["id"]
    invoice = _json(post(stack, "/api/v1/admin/invoices", {"customer_id": side.customer_id, "lines": [
        {"description": f"Storage {tag}", "quantity": "1", "unit": "day", "unit_price": "40.00",
         "tax_rate": "21"}]}, admin_token))
    side.ids["invoice"] = invoice["id"]
    payment = _json(requests.post(f"{stack.base}/api/v1/invoices/{invoice['id']}/payments",
                                  json={"amount": "10.00", "payment_method": "tok_visa"}, timeout=40,
                                  headers={**auth(token), "Idempotency-Key": uuid.uuid4().hex}))
    side.ids["payment"] = payment["id"]
    link = _json(post(stack, f"/api/v1/orders/{objects['order']['id']}/tracking-links", {"label": f"desk {tag}"}, token))
    side.ids["link"] = link["id"]
    side.ids["link_token"] = link.get("token") or link.get("url", "").rsplit("/", 1)[-1]
    # An event that never fires during the suite: no delivery attempts change B while A walks.
    hook = _json(post(stack, "/api/v1/webhooks", {"url": f"http://127.0.0.1:9/{tag}", "events": ["invoice.overdue"]},
                      token))
    side.ids["webhook"] = hook["id"]
    feed = get(stack, "/api/v1/notifications", token).json().get("items") or []
    if feed:
        side.ids["notification"] = feed[0]["id"]
    side.marks = {v for v in side.ids.values() if v} | {
        made["customer"]["client_id"], made["customer"]["name"], made["me"]["email"], made["invite"]["email"],
        made["key"]["prefix"], objects["reference"], objects["street"], objects["rental"]["number"],
        invoice["number"], f"Storage {tag}", f"desk {tag}", f"http://127.0.0.1:9/{tag}"}
    return side


def _json(response) -> dict:
    assert response.status_code in (200, 201, 202), f"{response.request.method} {response.url}: {response.text}"
    return response.json()


def _created(response) -> str | None:
    return response.json().get("id") if response.status_code in (200, 201) else None


@dataclass
class Callers:
    """Every role's HTTP credential, and how to get a fresh one (for sign-out routes)."""
    http: dict[str, str | None]
    passwords: dict[str, tuple[str, str]]
    driver: dict

    def fresh(self, stack, role: str) -> str | None:
        """A new session of ``role`` (so signing it out leaves the suite's own sessions alone)."""
        if role in self.passwords:
            return sign_in(stack, *self.passwords[role])
        return self.http[role]


def make_callers(stack, mailbox, admin_token, a: Side) -> Callers:
    email, dispatcher = dispatcher_token(stack, mailbox, admin_token)
    driver = _json(post(stack, "/api/v1/admin/drivers", {"name": f"Authz {uuid.uuid4().hex[:4]}"}, admin_token))
    users = {u["role"]: u["email"] for u in get(stack, "/api/v1/users", a.made["admin"]).json()}
    return Callers(
        http={"operator_admin": sign_in(stack, *ADMIN), "dispatcher": dispatcher,
              "customer_admin": a.made["admin"], "customer_booker": a.made["user"],
              "customer_viewer": a.made["viewer"], "api_key": a.made["key"]["secret"], "driver": driver["credential"], "anonymous": None},
        passwords={"operator_admin": ADMIN, "dispatcher": (email, PASSWORD),
                   "customer_admin": (users["customer_admin"], PASSWORD),
                   "customer_booker": (users["customer_booker"], PASSWORD),
                   "customer_viewer": (users["customer_viewer"], PASSWORD)},
        driver=driver)
