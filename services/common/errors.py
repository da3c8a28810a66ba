"""The one error hierarchy of the platform.

Services raise these; nameko carries them over RPC as ``exc_type`` + ``exc_args``; the gateway
turns them back into the same class (``from_remote``) and renders the API's error body with the
status code named here. Anything that is not a ``PortalError`` is an internal error: logged with
its trace, answered as a bare 500 that shows none of it.
"""
from __future__ import annotations

from typing import Any


class PortalError(Exception):
    status = 500
    code = "internal_error"
    default_message = "Something went wrong on our side."

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        # nameko serialises ``args``: keep them JSON-able and in a fixed order.
        super().__init__(self.message, self.details)

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __str__(self) -> str:
        return self.message


class BadRequest(PortalError):
    status, code, default_message = 400, "bad_request", "The request could not be read."


class Unauthenticated(PortalError):
    status, code, default_message = 401, "unauthenticated", "Sign in first: credentials are missing or invalid."


class PaymentDeclined(PortalError):
    """402: the card processor refused the payment; ``details`` carries the payment and the
    processor's reason (``decline_code``)."""

    status, code, default_message = 402, "payment_declined", "The payment was declined."


class Forbidden(PortalError):
    status, code, default_message = 403, "forbidden", "You may not do this."


class NotFound(PortalError):
    status, code, default_message = 404, "not_found", "No such object."


class Conflict(PortalError):
    status, code, default_message = 409, "conflict", "The object is not in a state that allows this."


class PayloadTooLarge(PortalError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large."


class ValidationFailed(PortalError):
    """422; ``details.fields`` maps each field to its messages."""

    status, code, default_message = 422, "validation_failed", "Some fields are not valid."

    @classmethod
    def of(cls, fields: dict[str, Any], message: str | None = None) -> "ValidationFailed":
        return cls(message, {"fields": fields})


class Throttled(PortalError):
    status, code, default_message = 429, "throttled", "Too many requests; retry later."


class ServiceUnavailable(PortalError):
    status, code, default_message = 503, "service_unavailable", "A part of the platform is not answering; retry shortly."


class DeadlineExceeded(ServiceUnavailable):
    code, default_message = "deadline_exceeded", "The platform did not answer in time; retry shortly."


_REGISTRY: dict[str, type[PortalError]] = {}


def _register(cls: type[PortalError]) -> None:
    _REGISTRY[cls.__name__] = cls
    for sub in cls.__subclasses__():
        _register(sub)


_register(PortalError)


def from_remote(exc_type: str, exc_args: list[Any] | tuple[Any, ...]) -> PortalError | None:
    """Rebuild an error a service raised; None when it is not one of ours."""
    cls = _REGISTRY.get(exc_type)
    if cls is None:
        return None
    message = exc_args[0] if exc_args else None
    details = exc_args[1] if len(exc_args) > 1 and isinstance(exc_args[1], dict) else None
    return cls(message, details)
