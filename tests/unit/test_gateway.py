"""The gateway's own rules, which need no service: errors, limits, auth at the door, headers,
and the OpenAPI document generated from the code."""
import time

import pytest

from gateway.app import create_app
from services.common import tokens
from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ADMIN, CallerContext


@pytest.fixture(scope="module")
def client():
    app = create_app({"MAX_JSON_BYTES": 2048, "ACCESS_LOG": False})
    return app.test_client()


def bearer(role=CUSTOMER_ADMIN, customer_id="c1", ttl=60, now=None):
    token, _ = tokens.issue(CallerContext(role=role, user_id="u1",
                                          customer_id=customer_id if role == CUSTOMER_ADMIN else None),
                            ttl=ttl, now=now)
    return {"Authorization": f"Bearer {token}"}


def error_of(response):
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_healthz_needs_nothing(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


@pytest.mark.parametrize("headers,message", [
    ({}, "Sign in first"),
    ({"Authorization": "Basic dXNlcjpwdw=="}, "Bearer"),
    ({"Authorization": "Bearer not.a.token"}, "not valid"),
])
def test_me_without_valid_credentials_is_401(client, headers, message):
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert message in error_of(response)["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_401_saying_so(client):
    response = client.get("/api/v1/me", headers=bearer(ttl=1, now=time.time() - 60))
    assert response.status_code == 401 and "expired" in error_of(response)["message"]


def test_customers_get_403_on_operator_routes_before_any_rpc(client):
    response = client.post("/api/v1/admin/customers", json={"name": "x"}, headers=bearer())
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


def test_bad_json_is_400_and_bad_fields_422_with_field_messages(client):
    headers = {**bearer(role=OPERATOR_ADMIN), "Content-Type": "application/json"}
    response = client.post("/api/v1/admin/customers", data='{"name": ', headers=headers)
    assert response.status_code == 400 and error_of(response)["code"] == "bad_request"
    response = client.post("/api/v1/admin/customers", json={"name": "", "role": "admin",
                                                            "location_sharing": "everywhere"},
                           headers=bearer(role=OPERATOR_ADMIN))
    assert response.status_code == 422
    fields = error_of(response)["details"]["fields"]
    assert set(fields) == {"name", "role", "location_sharing"}


def test_pitfall_12_bodies_over_the_limit_are_413(client):
    response = client.post("/api/v1/auth/login", data="x" * 5000,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"


def test_unknown_route_and_method_use_the_error_body(client):
    assert error_of(client.get("/api/v1/nothing-here"))["code"] == "not_found"
    response = client.delete("/api/v1/me", headers=bearer())
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_pitfall_14_security_headers_and_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # a request id that could inject into logs is replaced by our own
    hostile = 'x" <script> ' + "y" * 100
    assert client.get("/healthz", headers={"X-Request-ID": hostile}).headers["X-Request-ID"] != hostile


def test_openapi_document_is_generated_from_the_code(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/me", "/api/v1/admin/customers",
                 "/api/v1/admin/customers/{customer_id}"):
        assert path in paths
    assert paths["/api/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/api/v1/auth/login"]["post"]
    body = paths["/api/v1/admin/customers"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/CustomerIn")
    assert "CustomerIn" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_and_its_assets_are_served_locally(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"/api/docs/static/swagger-ui-bundle.js" in page.data
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_verified_tokens_are_remembered_only_until_they_expire(monkeypatch):
    import gateway.auth as auth_module
    from services.common.errors import Unauthenticated

    ctx = CallerContext(role=CUSTOMER_ADMIN, user_id="u1", customer_id="c1")
    live, _ = tokens.issue(ctx, ttl=60)
    sid = tokens.read(live)[1]["sid"]
    assert auth_module._verified(live) == (ctx, None, sid)
    monkeypatch.setattr(auth_module.tokens, "read", lambda token: pytest.fail("not served from memory"))
    assert auth_module._verified(live) == (ctx, None, sid)     # second time: from memory
    monkeypatch.undo()
    expired, _ = tokens.issue(ctx, ttl=60, now=time.time() - 3600)
    auth_module._verified_tokens[expired] = (ctx, "jti", time.time() - 1, time.time() + 60, None, "jti")  # expired
    with pytest.raises(Unauthenticated, match="expired"):
        auth_module._verified(expired)


def test_a_temporary_password_token_may_only_change_the_password(client):
    ctx = CallerContext(role=OPERATOR_ADMIN, user_id="u-temp")
    token, _ = tokens.issue(ctx, limited=tokens.LIMITED_PASSWORD)
    response = client.get("/api/v1/admin/customers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert error_of(response)["details"]["reason"] == "password_change_required"
    token, _ = tokens.issue(ctx, limited=tokens.LIMITED_TWO_FACTOR)
    response = client.get("/api/v1/admin/customers", headers={"Authorization": f"Bearer {token}"})
    assert error_of(response)["details"]["reason"] == "two_factor_setup_required"


def test_the_document_describes_the_error_body_and_decimal_strings(client):
    """What Schemathesis (tests/attack/test_schemathesis.py) found the document got wrong: the
    error body, and exact decimals (strings on the wire; bounds were rendered as strings)."""
    spec = client.get("/api/v1/openapi.json").get_json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"] and error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    assert spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"][
        "$ref"].endswith("/ErrorBody")
    amount = spec["components"]["schemas"]["PaymentIn"]["properties"]["amount"]
    assert amount["type"] == "string" and amount["format"] == "decimal" and "minimum" not in amount

    def bounds(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") \
                        and not isinstance(value, dict):         # (not a property of that name)
                    yield value
                yield from bounds(value)
        elif isinstance(node, list):
            for value in node:
                yield from bounds(value)

    assert all(isinstance(b, (int, float)) for b in bounds(spec))


@pytest.mark.parametrize("body", [b'{"name": "a\\u0000b"}', b'{"name": "\\udb7c"}', b'{"a\\u0000": 1}'])
def test_text_that_cannot_be_stored_is_400_before_any_rpc(client, body):
    response = client.patch("/api/v1/me", data=body, content_type="application/json", headers=bearer())
    assert response.status_code == 400 and error_of(response)["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/v1/orders?q=a%00", "/api/v1/orders/a%00b"])
def test_a_nul_in_the_path_or_query_is_400_before_any_rpc(client, path):
    response = client.get(path, headers=bearer())
    assert response.status_code == 400 and error_of(response)["code"] == "bad_request"


def test_errors_keyed_by_list_index_and_name_are_422_not_500(client):
    """marshmallow keys a list's errors by index next to "_schema" (found by Schemathesis)."""
    staff = bearer(role=OPERATOR_ADMIN)
    response = client.post("/api/v1/admin/rate-cards", headers=staff, json={
        "name": "x", "surcharges": [{"name": 1.5, "type": "fixed", "amount": "1"}, {"type": "fixed"}]})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "surcharges" in error_of(response)["details"]["fields"]
