"""The web portal's door: the session cookie with its CSRF token, and the page, assets and
Content-Security-Policy the gateway serves (no service needed: these are refused or served
before any RPC)."""
import time

import pytest

from gateway.app import create_app
from gateway.auth import SESSION_COOKIE, csrf_token
from services.common import tokens
from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ADMIN, CallerContext

CUSTOMER = CallerContext(role=CUSTOMER_ADMIN, user_id="u1", customer_id="c1")


@pytest.fixture(scope="module")
def client():
    return create_app({"ACCESS_LOG": False}).test_client()


def browser(client, ctx=CUSTOMER, **issue):
    token, _ = tokens.issue(ctx, **issue)
    client.set_cookie(SESSION_COOKIE, token, domain="localhost")
    return tokens.read(token)[1]


def test_a_write_signed_in_by_the_cookie_needs_the_csrf_token(client):
    claims = browser(client, CallerContext(role=OPERATOR_ADMIN, user_id="u9"))
    # a customer route is refused for the operator's role only after the CSRF check passed
    refused = client.post("/api/v1/orders/submit", json={"ids": []})
    assert refused.status_code == 403 and refused.get_json()["error"]["details"] == {"reason": "csrf"}
    wrong = client.post("/api/v1/orders/submit", json={"ids": []}, headers={"X-CSRF-Token": "guess"})
    assert wrong.get_json()["error"]["details"] == {"reason": "csrf"}
    right = client.post("/api/v1/orders/submit", json={"ids": []},
                        headers={"X-CSRF-Token": csrf_token(claims["sid"])})
    assert right.status_code == 403 and right.get_json()["error"]["details"] != {"reason": "csrf"}


def test_reads_by_cookie_need_no_csrf_token_and_a_bearer_token_never_does(client):
    browser(client)
    assert client.get("/api/v1/admin/customers").status_code == 403       # role, not CSRF
    client.delete_cookie(SESSION_COOKIE, domain="localhost")
    token, _ = tokens.issue(CallerContext(role=CUSTOMER_ADMIN, user_id="u1", customer_id="c1"))
    response = client.post("/api/v1/admin/customers", json={"name": "x"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.get_json()["error"]["details"] != {"reason": "csrf"}


def test_the_csrf_token_belongs_to_the_sign_in_and_outlives_renewals(client):
    first, _ = tokens.issue(CUSTOMER)
    claims = tokens.read(first)[1]
    renewed, _ = tokens.issue(CUSTOMER, session_id=claims["sid"], signed_in_at=claims["auth"])
    assert tokens.read(renewed)[1]["sid"] == claims["sid"]
    assert csrf_token(claims["sid"]) == csrf_token(tokens.read(renewed)[1]["sid"])
    other, _ = tokens.issue(CUSTOMER)
    assert csrf_token(tokens.read(other)[1]["sid"]) != csrf_token(claims["sid"])


def test_the_session_route_answers_the_csrf_token_and_no_session_without_one(client):
    client.delete_cookie(SESSION_COOKIE, domain="localhost")
    assert client.get("/api/v1/auth/session").get_json() == {"signed_in": False}
    claims = browser(client)
    state = client.get("/api/v1/auth/session").get_json()
    assert state["csrf_token"] == csrf_token(claims["sid"]) and state["role"] == CUSTOMER_ADMIN
    assert 0 < state["expires_in"] <= claims["exp"] - claims["iat"]
    assert "access_token" not in state            # the token stays in the HttpOnly cookie


def test_an_expired_cookie_is_401(client):
    token, _ = tokens.issue(CUSTOMER, ttl=1, now=time.time() - 60)
    client.set_cookie(SESSION_COOKIE, token, domain="localhost")
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("path", ["/", "/orders", "/orders/3f2a", "/invoices/9/", "/accept-invite"])
def test_every_portal_path_is_the_one_page_under_a_strict_csp(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert b'<script type="module" src="/assets/app.js">' in response.data
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp                       # no other host without a tile server set


def test_assets_and_the_npm_libraries_are_served_here_and_nothing_else_is(client):
    assert client.get("/assets/app.js").status_code == 200
    assert client.get("/assets/lib/api.js").mimetype in ("text/javascript", "application/javascript")
    leaflet = client.get("/assets/vendor/leaflet/leaflet.js")
    assert leaflet.status_code == 200 and b"Leaflet" in leaflet.data[:400]
    assert client.get("/assets/vendor/axe-core/axe.min.js").status_code == 404    # test-only library
    assert client.get("/assets/../../app.py").status_code == 404
    assert client.get("/assets/%2e%2e/blueprints/web.py").status_code == 404
    assert client.get("/api/v1/no-such-route").mimetype == "application/json"


def test_a_tile_server_is_the_only_other_origin_the_page_may_load_from(client, monkeypatch):
    monkeypatch.setenv("MAP_TILE_URL", "https://tiles.example.net/{z}/{x}/{y}.png")
    csp = client.get("/orders").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://tiles.example.net;" in csp
    assert b'data-tiles="https://tiles.example.net/{z}/{x}/{y}.png"' in client.get("/").data


def test_the_webhook_event_types_come_from_notify_and_staff_alone_get_customer_events(client):
    from services.notify.payloads import CUSTOMER_EVENTS, OPERATOR_EVENTS

    client.delete_cookie(SESSION_COOKIE, domain="localhost")
    token, _ = tokens.issue(CUSTOMER)
    mine = client.get("/api/v1/webhooks/event-types", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert mine["event_types"] == list(CUSTOMER_EVENTS) and "customer.updated" not in mine["event_types"]
    staff, _ = tokens.issue(CallerContext(role=OPERATOR_ADMIN, user_id="u9"))
    theirs = client.get("/api/v1/webhooks/event-types", headers={"Authorization": f"Bearer {staff}"}).get_json()
    assert theirs["event_types"] == list(OPERATOR_EVENTS)
