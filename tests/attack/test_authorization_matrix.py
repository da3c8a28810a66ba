"""Authorization matrix (issue 9): every gateway route and every RPC method, found by walking
the code (tests/attack/authz_inventory.py), x the seven roles, against the table in
tests/attack/authorization_matrix.csv, checked cell by cell on the running stack; then customer
A aimed at customer B's real objects, properties a caller may not set, and fields a customer may
not see. Prints ``N checks, 0 leaks, 0 foreign writes``.

    bin/portal test tests/attack/test_authorization_matrix.py           every cell once; A vs B as
                                                                         customer admin
    PORTAL_SLOW=1 bin/portal test tests/attack/test_authorization_matrix.py   A vs B as every
                                                                         customer role
    AUTHZ_RECORD=1 ...   also writes what the stack answered into the table (and still fails on
                         every difference), for a human to review as a diff: a new route's row
                         starts there, and nobody records a cell without reading it
"""
from __future__ import annotations

import os
import uuid

import pytest

from gateway.auth import SAFE_METHODS
from services.common.caller import READ_ONLY_ROLES, CallerContext
from tests.attack import authz_mass_assignment, authz_table
from tests.attack.authz_callers import CUSTOMER_ROLES, ROLES, make_callers, make_side
from tests.attack.authz_crossing import settled_snapshot, snapshot, walk_routes
from tests.attack.authz_inventory import gateway_routes, other_entrypoints, rpc_methods
from tests.attack.authz_probe import (RpcCaller, cell_of_status, forged_contexts, http, json_of,
                                      random_values, signed)
from tests.attack.authz_visibility import hidden_fields
from tests.attack.report import Report
from tests.e2e.conftest import get

pytestmark = pytest.mark.e2e

RECORD = os.environ.get("AUTHZ_RECORD") == "1"
SLOW = os.environ.get("PORTAL_SLOW") == "1"              # as tests/attack/conftest.py
COUNTS = {"checks": 0, "leaks": 0, "foreign writes": 0}
REPORT = Report("authorization matrix", lambda: (f"{COUNTS['checks']} checks, {COUNTS['leaks']} leaks, "
                                                 f"{COUNTS['foreign writes']} foreign writes"))
SIGN_OUT = {("POST", "/api/v1/auth/logout")}     # asked with a fresh session of the role


def checked(n: int = 1) -> None:
    COUNTS["checks"] += n


# --- the table against the code ----------------------------------------------------------------
def expected_from_declaration(route) -> dict[str, str]:
    """What a route guarded by gateway.auth.requires(*roles) must answer each role: drivers have
    no HTTP credential (their apps speak AMQP), so the gateway does not know them (401); a
    read-only role (the customer's viewer) is refused every write but its own (@personal)."""
    cells = {}
    for role in ROLES:
        if role in ("anonymous", "driver"):
            cells[role] = "401"
        elif role in READ_ONLY_ROLES and route.method not in SAFE_METHODS and not route.personal:
            cells[role] = "403"
        else:
            cells[role] = "allow" if not route.roles or role in route.roles else "403"
    return cells


def test_the_table_names_every_route_and_rpc_method_and_nothing_else():
    routes, methods = gateway_routes(), rpc_methods()
    _doc, rows = authz_table.read()
    missing, gone = authz_table.drift(rows, {r.key for r in routes} | {m.key for m in methods})
    checked(len(routes) + len(methods))
    REPORT.line(f"table: {len(rows)} rows for {len(routes)} routes and {len(methods)} RPC methods; "
                f"not RPC (event handlers, timers, pumps): {', '.join(other_entrypoints())}")
    assert not missing, f"in the code but not in {authz_table.TABLE.name}: {missing}"
    assert not gone, f"in {authz_table.TABLE.name} but gone from the code: {gone}"
    bad = authz_table.invalid_cells(rows)
    assert not bad, f"cells that are not one of {authz_table.ANSWERS}: {bad}"
    disagree = []
    for route in routes:
        if route.roles is not None:
            checked()
            want = expected_from_declaration(route)
            row = rows[route.key]
            wrong = {role: (row[role], want[role]) for role in ROLES if row[role] != want[role]}
            if wrong:
                disagree.append(f"{route.key[1]}: table vs requires{route.roles}: {wrong}")
    assert not disagree, "\n".join(disagree)


# --- the customers, the roles -----------------------------------------------------------------
@pytest.fixture(scope="module")
def world(stack, mailbox, admin_token):
    a = make_side(stack, mailbox, admin_token, "A")
    b = make_side(stack, mailbox, admin_token, "B")
    return {"a": a, "b": b, "callers": make_callers(stack, mailbox, admin_token, a)}


def _record(observed: dict) -> None:
    doc, rows = authz_table.read()
    for key, cells in observed.items():
        rows.setdefault(key, {"kind": key[0], "target": key[1], "note": ""}).update(cells)
    authz_table.write(doc, rows)


def test_every_route_answers_each_role_as_the_table_says(stack, world):
    """Each role's real credential on every route, with placeholder ids and an empty body; the
    answers customer roles get are searched for fields they may not see."""
    _doc, rows = authz_table.read()
    callers = world["callers"]
    observed, wrong = {}, []
    for route in gateway_routes():
        path = route.path(random_values(route))
        cells = observed[route.key] = {}
        for role in ROLES:
            credential = callers.fresh(stack, role) if (route.method, route.rule) in SIGN_OUT else callers.http[role]
            response = http(stack, route.method, path, credential, body={})
            checked()
            cells[role] = cell_of_status(response.status_code)
            want = rows.get(route.key, {}).get(role)
            if cells[role] != want:
                wrong.append(f"{route.method} {route.rule} as {role}: {response.status_code} "
                             f"({cells[role]}), table says {want}: {response.text[:160]}")
            if role in CUSTOMER_ROLES and json_of(response) is not None:
                checked()
                hidden = hidden_fields(route, json_of(response), response.status_code)
                if hidden:
                    COUNTS["leaks"] += 1
                    wrong.append(f"{route.method} {route.rule} as {role} shows {hidden}")
    REPORT.line(f"HTTP: {len(observed)} routes x {len(ROLES)} roles asked")
    if RECORD:
        _record(observed)
    assert not wrong, "\n".join(wrong)


def _contexts(stack, world, amqp_uri) -> dict[str, object]:
    """The caller header each role's RPC would carry: signed as the gateway signs it; the API
    key's and the driver's as identity itself turns their secrets into callers."""
    callers, a = world["callers"], world["a"]
    me = {role: get(stack, "/api/v1/me", callers.http[role]).json()
          for role in ("operator_admin", "dispatcher", "customer_admin", "customer_booker", "customer_viewer")}
    anonymous = RpcCaller(amqp_uri, None)
    try:
        key = anonymous.rpc.identity.authenticate_api_key(callers.http["api_key"])
        driver = anonymous.rpc.identity.authenticate_driver(callers.driver["credential"])
    finally:
        anonymous.stop()
    assert key["customer_id"] == a.customer_id and driver["role"] == "driver"
    contexts = {role: signed(CallerContext(role, me[role]["id"], me[role].get("customer_id"),
                                              me[role].get("sites")))
                for role in me}
    contexts.update(api_key=signed(CallerContext(**key)), driver=signed(CallerContext(**driver)),
                    anonymous=None)
    return contexts


def _call_every_method(amqp_uri, header) -> dict[tuple[str, str], str]:
    """Every RPC method called once with ``header`` as the caller context: {key: cell}."""
    caller = RpcCaller(amqp_uri, header)
    try:
        cells = {}
        for method in rpc_methods():
            cells[method.key] = caller.cell(method)
            checked()
        return cells
    finally:
        caller.stop()


def test_every_rpc_method_answers_each_role_as_the_table_says(stack, world, amqp_uri):
    """Straight on the bus, past the gateway: the services check the caller again, with the
    context each role would carry."""
    _doc, rows = authz_table.read()
    contexts = _contexts(stack, world, amqp_uri)
    observed, wrong = {}, []
    for role, header in contexts.items():
        for key, cell in _call_every_method(amqp_uri, header).items():
            observed.setdefault(key, {})[role] = cell
            if cell != rows.get(key, {}).get(role):
                wrong.append(f"{key[1]} as {role}: {cell}, table says {rows.get(key, {}).get(role)}")
    REPORT.line(f"RPC: {len(observed)} methods x {len(contexts)} roles called")
    if RECORD:
        _record(observed)
    assert not wrong, "\n".join(wrong)


def test_pitfall_09_forged_caller_contexts_are_refused_by_every_rpc_method(stack, world, amqp_uri):
    """PITFALLS 9: nameko's context headers are not authentication. Unsigned JSON, a signature
    with a guessed key, a real signature on a swapped payload, an expired signature and a JSON
    object instead of the signed string, each claiming to be the operator admin, are refused
    (401) by every RPC method, before any work (not even validation)."""
    operator_id = get(stack, "/api/v1/me", world["callers"].http["operator_admin"]).json()["id"]
    forged = forged_contexts(operator_id)
    wrong = []
    for name, header in forged.items():
        wrong += [f"{key[1]} with {name}: {cell}" for key, cell in _call_every_method(amqp_uri, header).items()
                  if cell != "401"]
    REPORT.line(f"PITFALLS 9: {len(forged)} forged contexts x {len(rpc_methods())} RPC methods, "
                f"{len(wrong)} not refused")
    assert not wrong, "\n".join(wrong)


# --- customer A against customer B ------------------------------------------------------------
@pytest.mark.parametrize("who", [
    "customer_admin",
    pytest.param("customer_booker", marks=pytest.mark.slow),
    pytest.param("customer_viewer", marks=pytest.mark.slow),
    pytest.param("api_key", marks=pytest.mark.slow),
])
def test_customer_a_reaches_nothing_of_customer_b(stack, world, who):
    """A's credential with B's real ids in paths (answered exactly like an id that does not
    exist), in query strings and in bodies: nothing of B in any answer, nothing of B changed.
    The short form walks as customer admin (the role that reaches most) with customer_id as the
    foreign reference everywhere; the long form walks as every customer role with every kind of
    reference (order_id, invoice_id, quote_id, user_id ...) on every route."""
    a, b = world["a"], world["b"]
    _doc, rows = authz_table.read()
    before = settled_snapshot(stack, b)
    walk = walk_routes(stack, gateway_routes(), rows, who, a.token(who), a, b, every_reference=SLOW)
    after = snapshot(stack, b)
    changed = sorted(path for path in before if before[path] != after.get(path))
    checked(walk.checks + len(before))
    COUNTS["leaks"] += len(walk.leaks)
    COUNTS["foreign writes"] += len(changed)
    REPORT.line(f"A vs B as {who}: {walk.checks} requests, {len(walk.leaks)} leaks, "
                f"{len(changed)} of B's {len(before)} views changed")
    assert not walk.leaks, "\n".join(walk.leaks[:40])
    assert not changed, f"B changed while A walked: {changed}"
    assert not walk.wrong, "\n".join(walk.wrong[:40])


# --- properties a caller may not set ----------------------------------------------------------
def test_properties_a_customer_may_not_set_are_refused_or_ignored(stack, world, admin_token):
    """Mass assignment: customer_id, role, status, price, paid, is_active, id, created_by ... in
    A's create/update bodies are refused (400/422) or ignored, never applied (read back)."""
    a, b = world["a"], world["b"]
    before = settled_snapshot(stack, b)
    problems = []
    all_cases = authz_mass_assignment.cases(stack, admin_token, a, b)
    for case in all_cases:
        checked(2)                                   # the request and its read-back
        problem = authz_mass_assignment.run(stack, a.token("customer_admin"), case)
        if problem:
            problems.append(problem)
    after = snapshot(stack, b)
    changed = sorted(path for path in before if before[path] != after.get(path))
    checked(len(before))
    COUNTS["foreign writes"] += len(changed)
    REPORT.line(f"mass assignment: {len(all_cases)} properties sent, {len(problems)} applied")
    assert not problems, "\n".join(problems)
    assert not changed, f"B changed: {changed}"


# --- fields a customer may not see ------------------------------------------------------------
def test_answers_to_customer_roles_carry_no_field_they_may_not_see(stack, world):
    """Every GET route, as each customer role, on A's own real objects (so the answers are full,
    not 404s): no secret at rest, no shown-once secret on a read, no field the route's output
    schema does not document, none of the operator's switches on the customer's own account."""
    from tests.attack.authz_crossing import KIND

    a = world["a"]
    problems, asked = [], 0
    for route in gateway_routes():
        if route.method != "GET" or route.rule.endswith("/stream"):
            continue
        path = route.path({p: a.ids.get(KIND.get(p, ""), str(uuid.uuid4())) for p in route.params})
        for who in CUSTOMER_ROLES:
            response = http(stack, "GET", path, a.token(who))
            body = json_of(response)
            asked += 1
            checked()
            if response.status_code >= 500:
                problems.append(f"GET {path} as {who}: {response.status_code}")
            if body is not None:
                hidden = hidden_fields(route, body, response.status_code)
                if hidden:
                    COUNTS["leaks"] += 1
                    problems.append(f"GET {path} as {who} shows {hidden}")
    REPORT.line(f"field visibility: {asked} answers to customer roles read, {len(problems)} with hidden fields")
    assert not problems, "\n".join(problems)
