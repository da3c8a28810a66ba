"""The gateway's Flask app factory."""
from __future__ import annotations

import logging
import re
import time
from decimal import Decimal

from flask import Flask, g, request
from flask_smorest import Api
from marshmallow import Schema, fields
from swagger_ui_bundle import swagger_ui_path

from gateway import errors
from gateway.inputs import refuse_unstorable_text
from services.common import metrics
from services.common.config import env, env_int
from services.common.logs import correlation_id, new_correlation_id

log = logging.getLogger("gateway")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'")


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "snake_case, stable: what went wrong."})
    message = fields.String(required=True, metadata={"description": "A sentence for people."})
    details = fields.Dict(metadata={"description": "More about it, e.g. `fields` for a 422."})


class ErrorBody(Schema):
    """The API's error body (gateway/errors.py)."""
    error = fields.Nested(ErrorDetail, required=True)


class PortalApi(Api):
    """flask-smorest's Api, rendering errors as the API's error body."""

    # The document describes the error body the gateway really sends: flask-smorest's default
    # ({code, status, message, errors}) matched no error answer (found by Schemathesis,
    # tests/attack/test_schemathesis.py).
    ERROR_SCHEMA = ErrorBody

    def handle_http_exception(self, error):
        return errors.render_http_exception(error)


DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def document_decimals(api: Api) -> None:
    """Money and other exact decimals travel as strings ("12.50", API.md); a Decimal field with
    ``as_string`` (DecimalString included) sends one. apispec documented them as `type: number`
    with their Range bounds as Decimals, which the JSON document rendered as strings
    ("minimum": "0": not valid OpenAPI, Schemathesis could not generate a request) and which
    promised numbers where the API answers strings (found by Schemathesis,
    tests/attack/test_schemathesis.py). Document them as decimal strings; their bounds stay
    readable as `x-minimum`/`x-maximum`. Any other Decimal bound becomes a JSON number."""

    def decimal_as_string(_converter, field, ret, **_kwargs):
        if isinstance(field, fields.Decimal) and field.as_string:
            ret.update(type="string", format="decimal", pattern=DECIMAL_PATTERN)
            for bound in _BOUNDS:
                if bound in ret:
                    ret[f"x-{bound}"] = str(ret.pop(bound))
            if isinstance(ret.get("default"), Decimal):
                ret["default"] = str(ret["default"])
        for bound in _BOUNDS:
            if isinstance(ret.get(bound), Decimal):
                ret[bound] = float(ret[bound])
        return {}

    api.ma_plugin.converter.add_attribute_function(decimal_as_string)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=str(swagger_ui_path), static_url_path="/api/docs/static")
    app.config.update(
        API_TITLE="Customer portal API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        API_SPEC_OPTIONS={
            "info": {"description": "The public contract of the customer portal: the web portal, "
                                    "partner systems and scripts all use this API and nothing else."},
            "components": {"securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "An access token from POST /api/v1/auth/login."}}},
        },
        MAX_CONTENT_LENGTH=env_int("MAX_UPLOAD_BYTES"),
        MAX_JSON_BYTES=env_int("MAX_JSON_BYTES"),
        ACCESS_LOG=env("ACCESS_LOG") == "1",
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    # Flask >= 2.3 ignores JSON_SORT_KEYS; its provider sorted keys, and sorting a dict with int and
    # str keys (marshmallow's errors for a list: {0: {...}, "_schema": [...]}) raised TypeError:
    # a 422 became a 500 (found by Schemathesis, tests/attack/test_schemathesis.py).
    app.json.sort_keys = app.config["JSON_SORT_KEYS"]
    api = PortalApi(app)
    document_decimals(api)
    errors.register(app)

    from gateway.blueprints import (account, admin, auth, billing, branding, conversations, dispatch, health,
                                    imports, me, meta, notify, orders, places, rentals, sso, tracking, web)

    app.register_blueprint(health.blp)           # /healthz, /readyz: outside the API document
    app.register_blueprint(tracking.page)        # /t/<token>: the public tracking page
    app.register_blueprint(notify.page)          # /unsubscribe/<token>: from emails, no sign-in
    for blp in (auth.blp, sso.blp, me.blp, account.blp, orders.blp, imports.blp, places.blp,
                conversations.blp, tracking.blp, rentals.blp, billing.blp, notify.blp, admin.blp, dispatch.blp,
                meta.blp, branding.blp):
        api.register_blueprint(blp)
    from gateway.blueprints.emissions import blp as emissions_blp     # CO2e per order (issue 11)
    api.register_blueprint(emissions_blp)
    from gateway.blueprints.recurring import blp as recurring_blp     # book again, recurring (issue 11)
    api.register_blueprint(recurring_blp)
    from gateway.blueprints.terms import blp as terms_blp             # the operator's terms, signed (issue 11)
    api.register_blueprint(terms_blp)
    app.register_blueprint(web.page)             # the web portal: every other GET path, /assets
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid if _REQUEST_ID.match(rid) else new_correlation_id()
        correlation_id.set(g.request_id)
        # A JSON body is small; only uploads may be large (PITFALLS 12).
        if request.mimetype != "multipart/form-data":
            request.max_content_length = app.config["MAX_JSON_BYTES"]
            refuse_unstorable_text()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            DOCS_CSP if request.path.startswith("/api/docs")
            else tracking.page_csp() if request.path.startswith("/t/")
            else notify.PAGE_CSP if request.path.startswith("/unsubscribe/")
            else API_CSP if request.path.startswith("/api/") else web.csp())
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if response.mimetype == "application/json":
            response.headers.setdefault("Cache-Control", "no-store")
        if "started" in g:
            seconds = time.perf_counter() - g.started
            # By route template (/api/v1/orders/<order_id>), so ids do not make a series each.
            route = request.url_rule.rule if request.url_rule else "unmatched"
            metrics.HTTP_REQUESTS.labels(request.method, route, response.status_code).inc()
            metrics.HTTP_SECONDS.labels(request.method, route).observe(seconds)
            if app.config["ACCESS_LOG"]:
                log.info("%s %s %s", request.method, request.path, response.status_code, extra={
                    "status": response.status_code, "ms": round(seconds * 1000, 2)})
        return response

    return app
