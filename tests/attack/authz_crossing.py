"""Customer A aimed at customer B's real objects: B's ids in paths, in query strings and in bodies,
with bodies valid enough to reach the lookup (so a 404 is the scoping speaking, not validation).

What counts as a leak: any string only B's data holds (ids, names, references, emails, address,
invoice number ...) in an answer to A, except the values A itself sent in that request.
What counts as a foreign write: any difference in B's objects, read by B's own admin before and
after the walk. A path with B's id must answer exactly as the same path with an id that does not
exist (API.md: 404, never 403, the same error code).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from tests.attack.authz_probe import http, json_of
from tests.attack.authz_visibility import documented_inputs, hidden_fields
from tests.conftest import wait_for
from tests.e2e.conftest import get
from tests.e2e.test_scoping import snapshot as orders_snapshot
from tests.e2e.test_scoping import without_volatile

# path parameter -> the kind of B's object it names (authz_callers.make_side's ids)
KIND = {"order_id": "order", "place_id": "place", "conversation_id": "conversation", "document_id": "document",
        "import_id": "import", "contract_id": "rental", "call_off_id": "call_off", "quote_id": "quote",
        "invoice_id": "invoice", "payment_id": "payment", "link_id": "link", "endpoint_id": "webhook",
        "notification_id": "notification", "user_id": "user", "key_id": "key", "invite_id": "invite",
        "customer_id": "customer", "request_id": "reschedule"}
# Not customer data: capability tokens (a public link is for whoever holds it), SSO provider
# names, the operator's own routes, cards, drivers; these get a value that names nothing.
NEUTRAL = {"provider": "mock"}
# query/body keys that name another object: B's value for each
REFERENCES = {"customer_id": "customer", "order_id": "order", "invoice_id": "invoice", "quote_id": "quote",
              "import_id": "import", "user_id": "user", "stop_id": "stop", "actor_id": "user"}

LATER = "2026-12-24T09:00:00+00:00"
LATER_END = "2026-12-24T11:00:00+00:00"
# Bodies that pass the gateway's validation, so the request reaches the object it names.
VALID_BODIES = {
    "PATCH /api/v1/orders/<string:order_id>": {"notes": "changed by A"},
    "POST /api/v1/orders/<string:order_id>/cancel": {"reason": "A cancels"},
    "POST /api/v1/orders/<string:order_id>/messages": {"body": "A writes"},
    "POST /api/v1/orders/<string:order_id>/reschedule": {"window_start": LATER, "window_end": LATER_END},
    "POST /api/v1/orders/<string:order_id>/tracking-links": {"label": "A's link"},
    "POST /api/v1/orders/submit": {"ids": []},
    "PATCH /api/v1/places/<string:place_id>": {"name": "A renames"},
    "PATCH /api/v1/conversations/<string:conversation_id>": {"status": "closed"},
    "POST /api/v1/conversations/<string:conversation_id>/messages": {"body": "A writes"},
    "POST /api/v1/conversations": {"subject": "A asks", "body": "hello"},
    "POST /api/v1/rentals/<string:contract_id>/call-off": {"lines": [], "off_on": "2026-12-20"},
    "POST /api/v1/quotes": {"order": {"kind": "delivery", "stops": [{"type": "pickup", "address": {"line1": "1 A Road"}}]}},
    "POST /api/v1/quotes/<string:quote_id>/reject": {"reason": "A rejects"},
    "POST /api/v1/quotes/<string:quote_id>/request-changes": {"message": "A asks"},
    "POST /api/v1/invoices/<string:invoice_id>/payments": {"amount": "1.00", "payment_method": "tok_visa"},
    "POST /api/v1/payments/<string:payment_id>/confirm": {"challenge_response": "pass"},
    "PATCH /api/v1/webhooks/<string:endpoint_id>": {"description": "A edits"},
    "POST /api/v1/webhooks": {"url": "http://127.0.0.1:9/a", "events": ["invoice.overdue"]},
    "POST /api/v1/orders": {"reference": "A-REF", "stops": [{"address": {"line1": "1 A Road"}}]},
}
SKIPPED = {
    "POST /api/v1/auth/logout": "ends A's own session; it reads only the caller's own token",
    "GET /api/v1/notifications/stream": "A's own feed; GET /notifications reads the same rows",
}


@dataclass
class Walk:
    checks: int = 0
    leaks: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def snapshot(stack, b) -> dict:
    """B's objects as B's admin sees them (orders' from test_scoping, billing, notify, tracking)."""
    token = b.token("customer_admin")
    view = orders_snapshot(stack, b.made)
    for path in ("/api/v1/orders", "/api/v1/quotes", "/api/v1/invoices", "/api/v1/payments", "/api/v1/webhooks",
                 "/api/v1/notifications", "/api/v1/imports", "/api/v1/rentals/call-offs", "/api/v1/account/summary",
                 f"/api/v1/quotes/{b.ids['quote']}", f"/api/v1/invoices/{b.ids['invoice']}",
                 f"/api/v1/payments/{b.ids['payment']}", f"/api/v1/webhooks/{b.ids['webhook']}",
                 f"/api/v1/orders/{b.ids['order']}/tracking-links", f"/api/v1/places/{b.ids['place']}",
                 f"/api/v1/conversations/{b.ids['conversation']}", f"/api/v1/orders/{b.ids['order']}/reschedule"):
        view[path] = get(stack, path, token).json()
    return {path: without_volatile(answer) for path, answer in view.items()}


def settled_snapshot(stack, b) -> dict:
    """B's snapshot once B's own events have settled (two reads in a row agree)."""
    last = {}

    def steady():
        nonlocal last
        now = snapshot(stack, b)
        same, last = now == last, now
        return same

    wait_for(steady, timeout=30, interval=0.5, what="B's objects to settle")
    return last


def _marks_in(text: str, marks: set[str], sent: str) -> list[str]:
    return sorted(m for m in marks if m and m in text and m not in sent)


def _ask(stack, walk: Walk, who: str, route, path: str, token: str, b, *, body=None, params=None):
    response = http(stack, route.method, path, token, body=body, params=params)
    walk.checks += 1
    sent = json.dumps([path, body, params])
    found = _marks_in(response.text, b.marks, sent)
    if found:
        walk.leaks.append(f"{who} {route.method} {path} {params or ''} {body or ''}: shows B's {found}")
    if response.status_code >= 500:
        walk.wrong.append(f"{who} {route.method} {path} {params or ''}: {response.status_code}")
    body_json = json_of(response)
    if body_json is not None:
        walk.checks += 1
        hidden = hidden_fields(route, body_json, response.status_code)
        if hidden:
            walk.leaks.append(f"{who} {route.method} {path}: shows {hidden}")
    return response


def _error_code(response) -> str | None:
    body = json_of(response)
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def walk_routes(stack, routes, rows, who: str, token: str, a, b, every_reference: bool) -> Walk:
    """A's ``token`` (role ``who``) on every route: B's ids in the path (compared with an id that
    does not exist), then B's ids in each query/body key that names an object."""
    walk = Walk()
    for route in routes:
        name = f"{route.method} {route.rule}"
        if name in SKIPPED:
            continue
        allowed = rows[route.key][who] == "allow"
        body = VALID_BODIES.get(name, {})
        mapped = [p for p in route.params if p in KIND and KIND[p] in b.ids]
        if mapped:
            nowhere = {p: NEUTRAL.get(p, str(uuid.uuid4())) for p in route.params}
            theirs = {**nowhere, **{p: b.ids[KIND[p]] for p in mapped}}
            foreign = _ask(stack, walk, who, route, route.path(theirs), token, b, body=body)
            missing = http(stack, route.method, route.path(nowhere), token, body=body)
            walk.checks += 1
            if (foreign.status_code, _error_code(foreign)) != (missing.status_code, _error_code(missing)):
                walk.wrong.append(f"{who} {name} with B's ids: {foreign.status_code} {_error_code(foreign)}, "
                                  f"with no such id: {missing.status_code} {_error_code(missing)} "
                                  f"(API.md: another customer's object answers like none)")
            if not allowed and foreign.status_code not in (401, 403):
                walk.wrong.append(f"{who} {name}: {foreign.status_code}, the table refuses {who}")
        # References in the query string and the body: A's own object in the path.
        own = {p: a.ids.get(KIND.get(p, ""), NEUTRAL.get(p, str(uuid.uuid4()))) for p in route.params}
        path = route.path(own)
        documented, documented_body = documented_inputs(route)
        keys = set(REFERENCES) if every_reference else {"customer_id"}
        for key in sorted((documented | keys) & set(REFERENCES)):
            if route.method == "GET" or key in documented:
                _ask(stack, walk, who, route, path, token, b, params={key: b.ids[REFERENCES[key]]})
        if route.method in ("POST", "PUT", "PATCH"):
            for key in sorted((documented_body | keys) & set(REFERENCES)):
                _ask(stack, walk, who, route, path, token, b, body={**body, key: b.ids[REFERENCES[key]]})
            if "ids" in documented_body:
                _ask(stack, walk, who, route, path, token, b, body={**body, "ids": [b.ids["order"]]})
    return walk
