"""Every error leaves the gateway as the API's error body, with the status code of its class:
``{"error": {"code", "message", "details"}}``. No stack trace and no 500 for bad input."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from services.common.errors import (BadRequest, PayloadTooLarge, PortalError, ValidationFailed)

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
          413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
          429: "throttled"}


def body(status: int, code: str, message: str, details: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def render_portal_error(exc: PortalError):
    response = body(exc.status, exc.code, exc.message, exc.details)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    if exc.status == 503:
        response.headers["Retry-After"] = "5"
    if exc.status == 429:
        response.headers["Retry-After"] = str(int(exc.details.get("retry_after", 60)))
    return response


def _fields_from_webargs(messages: dict) -> dict:
    """webargs reports ``{location: {field: [...]}}``; the API reports ``{field: [...]}``."""
    fields: dict = {}
    for location, errors in (messages or {}).items():
        if isinstance(errors, dict):
            fields.update(errors)
        else:
            fields[location] = errors
    return fields


def render_http_exception(exc: HTTPException):
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    if status == 422 and "messages" in data:
        return render_portal_error(ValidationFailed.of(_fields_from_webargs(data["messages"])))
    if status == 400:
        return render_portal_error(BadRequest("The request body is not valid JSON."
                                              if "messages" in data else None))
    if status == 413:
        return render_portal_error(PayloadTooLarge())
    if status >= 500:
        log.error("HTTP %s: %s", status, exc)
        return body(status, "internal_error", "Something went wrong on our side.")
    response = body(status, _CODES.get(status, "error"), exc.description or exc.name)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def render_unexpected(exc: Exception):
    log.exception("unhandled error: %s", exc)
    return body(500, "internal_error", "Something went wrong on our side; the request id "
                "in X-Request-ID lets the operator find it.")


def register(app: Flask) -> None:
    app.register_error_handler(PortalError, render_portal_error)
    app.register_error_handler(Exception, render_unexpected)
