"""Every route of the OpenAPI document, walked as customer A with customer B's real object ids
(in paths, query strings and bodies): nothing of B is ever returned or changed, every operator
route answers 403 to customer callers. The walk reads the document, so routes added by later
issues are covered without touching this file; a path parameter it has no B object for gets
every B id there is."""
import json
import uuid

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e

WRITE_METHODS = ("post", "put", "patch", "delete")


def make_customer(stack, mailbox, admin_token, tag):
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Scope {tag} {uuid.uuid4().hex[:6]}",
                                                        "email": f"desk.{tag.lower()}@scope.example"},
                    admin_token).json()
    admin = invite_and_accept(stack, mailbox, admin_token, customer["id"],
                              f"admin.{tag.lower()}.{uuid.uuid4().hex[:6]}@scope.example", "customer_admin")
    user = invite_and_accept(stack, mailbox, admin_token, customer["id"],
                             f"user.{tag.lower()}.{uuid.uuid4().hex[:6]}@scope.example")
    viewer = invite_and_accept(stack, mailbox, admin_token, customer["id"],
                               f"viewer.{tag.lower()}.{uuid.uuid4().hex[:6]}@scope.example", "customer_viewer")
    key = post(stack, "/api/v1/api-keys", {"name": f"key {tag}"}, admin).json()
    pending = post(stack, "/api/v1/invites", {"emails": [f"pending.{tag.lower()}.{uuid.uuid4().hex[:6]}@scope.example"]},
                   admin).json()[0]
    me = get(stack, "/api/v1/me", admin).json()
    return {"customer": customer, "admin": admin, "user": user, "viewer": viewer, "key": key, "invite": pending, "me": me,
            **order_objects(stack, admin_token, customer, admin, tag)}


def order_objects(stack, admin_token, customer, token, tag):
    """One of each thing the orders service keeps for a customer, for A to aim at."""
    import io

    wait_for(lambda: get(stack, "/api/v1/orders", token).status_code == 200, timeout=20,
             what="orders to know the customer")
    reference = f"SECRET-{tag}-{uuid.uuid4().hex[:6]}"
    order = post(stack, "/api/v1/orders", {"reference": reference, "stops": [
        {"address": {"line1": f"{tag} Hidden Road", "city": "Nowhere"}}]}, token).json()
    post(stack, f"/api/v1/orders/{order['id']}/messages", {"body": f"private note {tag}"}, token)
    place = post(stack, "/api/v1/places", {"name": f"Site {tag}", "address": {"line1": "1 Site Rd"}}, token).json()
    talk = post(stack, "/api/v1/conversations", {"subject": f"Question {tag}", "body": "hello"}, token).json()
    document = requests.post(f"{stack.base}/api/v1/orders/{order['id']}/documents", headers=auth(token),
                             files={"file": ("note.txt", io.BytesIO(b"private text"))}, timeout=15).json()
    upload = requests.post(f"{stack.base}/api/v1/imports", headers=auth(token), timeout=15, files={
        "file": ("b.csv", f"ID,Address\n{reference}-IMP,2 Hidden Road\n".encode())}).json()
    rental = post(stack, "/api/v1/admin/rentals", {"customer_id": customer["id"], "starts_on": "2026-11-01",
                                                    "items": [{"item": f"RENT-{tag}", "quantity_out": 1}]},
                  admin_token).json()
    post(stack, f"/api/v1/orders/{order['id']}/submit", None, token)
    reschedule = post(stack, f"/api/v1/orders/{order['id']}/reschedule", {
        "window_start": "2026-12-01T09:00:00Z", "window_end": "2026-12-01T10:00:00Z"}, token).json()
    return {"orders": {"order": order, "place": place, "conversation": talk, "document": document,
                       "import": upload, "rental": rental, "item": rental["items"][0], "reschedule": reschedule,
                       "reference": reference, "street": f"{tag} Hidden Road"}}


def snapshot(stack, side):
    """What B looks like to B: compared before and after A's walk."""
    token = side["admin"]
    objects = side["orders"]
    return {path: get(stack, path, token).json() for path in (
        "/api/v1/customer", "/api/v1/users", "/api/v1/invites", "/api/v1/api-keys", "/api/v1/places",
        "/api/v1/conversations", "/api/v1/rentals", "/api/v1/orders/view",
        f"/api/v1/orders/{objects['order']['id']}", f"/api/v1/orders/{objects['order']['id']}/documents",
        f"/api/v1/orders/{objects['order']['id']}/messages", f"/api/v1/rentals/{objects['rental']['id']}")}


def without_volatile(view):
    text = json.dumps(view, sort_keys=True)
    for field in ('"last_used_at"', '"last_login_at"'):   # B's own sign-ins and key use move these
        while field in text:
            start = text.index(field)
            end = text.index(",", start) if "," in text[start:] else len(text)
            text = text[:start] + text[end + 1:]
    return text


def test_customer_a_never_reaches_customer_b(stack, mailbox, admin_token):
    a = make_customer(stack, mailbox, admin_token, "A")
    b = make_customer(stack, mailbox, admin_token, "B")
    theirs = b["orders"]
    order_ids = {theirs[name]["id"] for name in ("order", "place", "conversation", "document", "import",
                                                 "rental", "item", "reschedule")}
    b_ids = {b["customer"]["id"], b["me"]["id"], b["key"]["id"], b["invite"]["id"]} | order_ids
    b_marks = b_ids | {b["customer"]["client_id"], b["customer"]["name"], b["me"]["email"],
                       b["invite"]["email"], b["key"]["prefix"], theirs["reference"], theirs["street"],
                       theirs["rental"]["number"]}
    before = snapshot(stack, b)
    spec = requests.get(f"{stack.base}/api/v1/openapi.json", timeout=10).json()
    callers = {"customer admin": a["admin"], "customer user": a["user"], "API key": a["key"]["secret"]}
    checks = leaks = 0
    problems = []
    for path, item in spec["paths"].items():
        for method in (m for m in item if m in ("get",) + WRITE_METHODS):
            if path.endswith("/auth/logout"):
                continue        # would end A's own session; its scoping is the caller's own token
            if path.endswith("/notifications/stream"):
                continue        # A's own feed, open until A leaves: GET /notifications reads the same rows
            params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
            targets = [path] if not params else [
                path.replace("{" + params[0] + "}", foreign) for foreign in sorted(b_ids)]
            for who, token in callers.items():
                for target in targets:
                    for query in ({}, {"customer_id": b["customer"]["id"]}):
                        body = {"customer_id": b["customer"]["id"]} if method in ("post", "put", "patch") else None
                        response = requests.request(method.upper(), f"{stack.base}{target}", params=query,
                                                    json=body, headers=auth(token), timeout=15)
                        checks += 1
                        text = response.text
                        found = sorted(mark for mark in b_marks if mark and mark in text)
                        if found:
                            leaks += 1
                            problems.append(f"{who} {method.upper()} {target} {query}: leaked {found}")
                        if path.startswith("/api/v1/admin") and response.status_code != 403:
                            problems.append(f"{who} {method.upper()} {target}: {response.status_code}, not 403")
                        if params and response.status_code < 400:
                            problems.append(f"{who} {method.upper()} {target}: {response.status_code} on B's id")
    after = snapshot(stack, b)
    foreign_writes = sum(without_volatile(before[p]) != without_volatile(after[p]) for p in before)
    print(f"\n{checks} checks, {leaks} leaks, {foreign_writes} foreign writes")
    assert not problems, "\n".join(problems[:30])
    assert leaks == 0 and foreign_writes == 0
