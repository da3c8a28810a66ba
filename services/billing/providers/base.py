"""What billing knows about a card processor: the values it gets back, the errors it must tell
apart, and the ``PaymentProvider`` protocol every adapter implements.

The platform never sees a card number: the browser (or app) tokenises the card at the provider
and billing passes that token on as ``payment_method``. Amounts are ``Decimal`` here and integer
minor units on the wire to a provider (``minor_units`` / ``money.from_minor``), so no float ever
touches money.

The three errors matter more than the rest, because billing reacts to each differently:
- ``ProviderUnavailable``: refused before anything happened; nothing was charged, retry is safe.
- ``ProviderTimeout``: the request may or may not have been carried out. Never treat it as a
  failure: charge again with the same idempotency key (the provider replays the first outcome),
  or wait for the webhook, before telling anyone the payment failed.
- ``InvalidSignature``: a webhook that is not from the provider; drop it.
"""
from __future__ import annotations

import re

import hashlib
import hmac
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping, Protocol, runtime_checkable

from services.common.money import exponent, to_decimal

SUCCEEDED, REQUIRES_ACTION, DECLINED, PROCESSING = "succeeded", "requires_action", "declined", "processing"
INTENT_STATUSES = (SUCCEEDED, REQUIRES_ACTION, DECLINED, PROCESSING)
# A refund the processor accepted but has not settled (Stripe's ``pending``); the test provider
# settles at once and never answers it.
REFUND_PENDING, REFUND_FAILED = "pending", "failed"

SIGNATURE_TOLERANCE = 300   # seconds a signed webhook stays acceptable (Stripe's default)


@dataclass(frozen=True)
class Intent:
    """A payment at the provider, as billing needs to see it."""
    id: str
    status: str                      # one of INTENT_STATUSES
    amount: Decimal
    currency: str
    failure_code: str | None = None
    failure_message: str | None = None   # safe to show the customer
    next_action: dict | None = None      # {"type": "three_d_secure", ...} when requires_action
    card: dict | None = None             # {"brand": "visa", "last4": "4242"} and never more
    # What the caller attached at charge time, returned as the provider stores it: after a
    # timeout or in a webhook it is how billing finds its own payment for an intent id it never saw.
    metadata: dict | None = None


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str                      # "succeeded" | "failed" (| "pending" from a real processor)
    failure_code: str | None = None


class ProviderError(Exception):
    """Base of every provider error; ``code`` says which (``idempotency_mismatch``,
    ``resource_missing``, ...)."""
    code = "provider_error"

    def __init__(self, message: str = "", code: str | None = None):
        super().__init__(message or self.code)
        if code:
            self.code = code


class ProviderTimeout(ProviderError):
    """The outcome is unknown: the charge may have happened. Replay with the same idempotency
    key, or wait for the webhook; never report it as failed."""
    code = "provider_timeout"


class ProviderUnavailable(ProviderError):
    """Refused before anything happened: nothing was charged, retrying is safe."""
    code = "provider_unavailable"


class InvalidSignature(ProviderError):
    """A webhook whose signature is missing, wrong or too old."""
    code = "invalid_signature"


class IgnoredEvent(ProviderError):
    """A genuine (correctly signed) webhook about something billing does not track: acknowledge
    it with a 2xx so the provider stops resending it, and do nothing."""
    code = "ignored_event"


@runtime_checkable
class PaymentProvider(Protocol):
    name: str

    def charge(self, *, amount: Decimal, currency: str, payment_method: str, idempotency_key: str,
               description: str, metadata: dict) -> Intent: ...

    def confirm(self, intent_id: str, response: dict) -> Intent: ...

    def retrieve(self, intent_id: str) -> Intent: ...

    def cancel(self, intent_id: str) -> Intent:
        """Give up a payment still waiting for the customer (3-D Secure never answered); one
        already settled is returned as it is."""
        ...

    def refund(self, intent_id: str, amount: Decimal, idempotency_key: str) -> RefundResult: ...

    def describe_method(self, payment_method: str) -> dict | None:
        """What a person needs to recognise a saved card: ``{brand, last4, exp_month, exp_year}``
        (never the number), or None when the processor does not know the token."""
        ...

    def parse_event(self, body: bytes, headers: Mapping[str, str]) -> Intent: ...


# --- money on the wire ------------------------------------------------------------------------
def minor_units(amount: Decimal, currency: str) -> int:
    """``Decimal("10.50"), "EUR"`` -> ``1050``, what a provider is asked to charge. Unlike
    ``money.to_minor`` it does not round: it refuses floats, non-positive amounts and amounts
    finer than the currency's minor unit, because a provider charging a rounded figure would
    charge something other than what billing decided (rounding is billing's, ``round_money``)."""
    value = to_decimal(amount).scaleb(exponent(currency))
    if value <= 0:
        raise ValueError(f"a payment amount must be positive, not {amount}")
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency.upper()} allows; round it first")
    return int(value)


# --- webhook signatures (the ``t=...,v1=...`` scheme Stripe uses, and the test provider too) ---
def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (Flask, requests and tests each spell them differently)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(key: bytes, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={signature(key, t, body)}"


def verify_signature(key: bytes, body: bytes, value: str | None,
                     tolerance: int = SIGNATURE_TOLERANCE, now: float | None = None) -> None:
    """Raise ``InvalidSignature`` unless ``value`` (``t=<unix>,v1=<hex>[,v1=...]``) signs ``body``
    with ``key`` and ``t`` is within ``tolerance`` seconds of now. The timestamp is part of what
    is signed, so a captured webhook cannot be replayed later with a fresh one."""
    if not value:
        raise InvalidSignature("the webhook carries no signature")
    timestamp, candidates = None, []
    for item in value.split(","):
        scheme, _, sig = item.strip().partition("=")
        if scheme == "t":
            timestamp = sig
        elif scheme == "v1":       # several when the secret is being rotated; others ignored
            candidates.append(sig)
    try:
        t = int(timestamp or "")
    except ValueError:
        raise InvalidSignature("the signature has no valid timestamp") from None
    if not candidates:
        raise InvalidSignature("the signature has no v1 entry")
    if abs((time.time() if now is None else now) - t) > tolerance:
        raise InvalidSignature("the signature's timestamp is outside the tolerance (replayed or stale)")
    expected = signature(key, t, body)
    # compare_digest against every candidate: constant time, no early exit on the first match
    # Bytes: compare_digest raises TypeError on a non-ASCII str, and the header is the sender's.
    if not any([hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]):
        raise InvalidSignature("the signature does not match the body")


# Digits with anything but letters between them: a card number however it was typed. Only
# spaces and dashes were recognised, so "4242.4242.4242.4242", tab-separated groups or a number
# followed by its expiry passed as a "token", and billing kept it in its payments table
# (tests/attack/test_payments_attack.py). No processor's token has 13 digits in a row.
_DIGIT_RUN = re.compile(r"\d(?:[^0-9A-Za-z]*\d)*")


def looks_like_card_number(value: str) -> bool:
    return any(len(re.sub(r"\D", "", run)) >= 13 for run in _DIGIT_RUN.findall(value))
