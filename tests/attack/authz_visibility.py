"""Fields a customer may not see in an answer (issue 9: "answers carry no field the caller may
not see").

Three rules, the first two derived from the code's own marshmallow output schemas (as the
OpenAPI document renders them from ``@blp.response``):
- a successful answer carries no property its route's documented response schema lacks (a
  service that dumps a model without its schema would show internal columns);
- a customer's own account answer (GET/PATCH /customer) carries none of the operator's switches:
  the fields of identity's CustomerOut that CustomerSelfOut excludes;
- no answer, successful or not, carries a field named like a secret at rest (password or key
  hashes, TOTP secrets, internal cost or notes), and a read (GET) never carries a shown-once
  secret (``secret``, ``credential``, ``token``).
"""
from __future__ import annotations

from functools import lru_cache

from tests.attack.authz_inventory import PARAM

NEVER = {"password", "password_hash", "totp_secret", "secret_hash", "key_hash", "token_hash",
         "credential_hash", "hashed_secret", "internal_notes", "internal_note", "cost", "margin",
         "secret_sealed", "sealed_secret"}
SHOWN_ONCE = {"secret", "credential", "token"}


@lru_cache(maxsize=1)
def _spec() -> dict:
    from gateway.app import create_app

    app = create_app()
    with app.app_context():
        return app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()


@lru_cache(maxsize=1)
def operator_only_customer_fields() -> frozenset[str]:
    from services.identity.schemas import CustomerOut, CustomerSelfOut

    return frozenset(CustomerOut().fields) - frozenset(CustomerSelfOut().fields)


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = _spec()["components"]["schemas"][name]
    if "allOf" in schema:
        merged = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(_resolve(part).get("properties", {}))
        return merged
    return schema


def _operation(route) -> dict:
    path = PARAM.sub(lambda m: "{" + m[1] + "}", route.rule)
    return _spec()["paths"].get(path, {}).get(route.method.lower(), {})


def documented_inputs(route) -> tuple[set[str], set[str]]:
    """(the query parameters, the JSON body's properties) the route's document declares."""
    operation = _operation(route)
    query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    return query, set(_resolve(content["schema"]).get("properties", {})) if content else set()


def documented_schema(route) -> dict | None:
    operation = _operation(route)
    for status, response in sorted(operation.get("responses", {}).items()):
        if str(status).startswith("2"):
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            return _resolve(schema) if schema else None
    return None


def _undocumented(data, schema: dict, where: str, found: list[str]) -> None:
    schema = _resolve(schema)
    if isinstance(data, dict) and schema.get("properties") and not schema.get("additionalProperties"):
        for key, value in data.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key} (undocumented)")
            else:
                _undocumented(value, schema["properties"][key], f"{where}.{key}", found)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data[:20]:
            _undocumented(item, schema["items"], f"{where}[]", found)


def _named(data, names: set[str], where: str, found: list[str]) -> None:
    if where == "$.error.details.fields":
        return              # a validation error names the request's fields (e.g. "password"), not data
    if isinstance(data, dict):
        for key, value in data.items():
            if key in names:
                found.append(f"{where}.{key}")
            _named(value, names, f"{where}.{key}", found)
    elif isinstance(data, list):
        for item in data[:50]:
            _named(item, names, f"{where}[]", found)


def hidden_fields(route, body, status: int = 200) -> list[str]:
    """What of ``body`` (the JSON answer a customer role got from ``route``) it may not see."""
    found: list[str] = []
    if route.rule.endswith("api.json"):
        return found            # the API's own description names every field, by design
    _named(body, NEVER | (SHOWN_ONCE if route.method == "GET" else set()), "$", found)
    if 200 <= status < 300:
        schema = documented_schema(route)
        if schema:
            _undocumented(body, schema, "$", found)
        if route.rule == "/api/v1/customer" and isinstance(body, dict):
            found += [f"$.{key} (operator only)" for key in operator_only_customer_fields() & set(body)]
    return found
