"""``StripeProvider``: the adapter to Stripe's PaymentIntents API over plain ``requests``.

The card is tokenised in the browser by Stripe.js; billing passes the PaymentMethod id on. A
charge is one ``POST /v1/payment_intents`` with ``confirm=true`` (form-encoded, amount in minor
units, ``Idempotency-Key`` header), card only, so no redirect-based method asks for a
``return_url``. When the bank wants 3-D Secure, Stripe answers ``requires_action`` and the
browser completes it with Stripe.js (``handleNextAction`` with the client secret); ``confirm``
then only reads the outcome.

How failures map (Stripe's "Advanced error handling" page):
- no connection made (refused, DNS, connect timeout), 429, a 409 conflict with a concurrent
  request of the same key -> ``ProviderUnavailable``: the request was not carried out.
- read timeout, connection lost after sending, any 5xx, a 2xx we cannot read -> ``ProviderTimeout``:
  Stripe documents a 5xx as indeterminate, so nothing here may claim it failed. Replaying the
  same idempotency key is safe and returns the first outcome.
- 402 ``card_error`` -> a declined ``Intent`` (not an exception: a decline is an answer).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Mapping, NoReturn

import requests
from urllib3.exceptions import NewConnectionError

from services.billing.providers.base import (DECLINED, PROCESSING, REFUND_FAILED, REFUND_PENDING,
                                             REQUIRES_ACTION, SUCCEEDED, IgnoredEvent, Intent,
                                             ProviderError, ProviderTimeout, ProviderUnavailable,
                                             RefundResult, header, minor_units, verify_signature)
from services.common.money import from_minor

_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.processing",
           "payment_intent.requires_action", "payment_intent.canceled"}
# Stripe's ``card_declined`` carries the issuer's reason in ``decline_code``; billing sees the
# reason (``insufficient_funds``), the same vocabulary as the test provider's.
_GENERIC_DECLINES = {None, "", "generic_decline"}


def _failure_code(error: Mapping[str, Any] | None) -> str | None:
    if not error:
        return None
    code, decline = error.get("code"), error.get("decline_code")
    if code == "card_declined" and decline not in _GENERIC_DECLINES:
        return decline
    return code or decline or "card_declined"


def _card(pi: Mapping[str, Any]) -> dict | None:
    """Brand and last four digits, from the expanded PaymentMethod (never more than that)."""
    pm = pi.get("payment_method") or (pi.get("last_payment_error") or {}).get("payment_method")
    card = pm.get("card") if isinstance(pm, dict) else None
    return {"brand": card.get("brand"), "last4": card.get("last4")} if card else None


def to_intent(pi: Mapping[str, Any]) -> Intent:
    """A Stripe PaymentIntent object as an ``Intent``."""
    currency = str(pi["currency"]).upper()
    common = {"id": pi["id"], "amount": from_minor(pi["amount"], currency), "currency": currency,
              "card": _card(pi), "metadata": dict(pi.get("metadata") or {})}
    status, error = pi.get("status"), pi.get("last_payment_error")
    if status == "succeeded":
        return Intent(status=SUCCEEDED, **common)
    if status == "requires_action":
        action = pi.get("next_action") or {}
        redirect = (action.get("redirect_to_url") or {}).get("url")
        return Intent(status=REQUIRES_ACTION, next_action={
            "type": "three_d_secure", "client_secret": pi.get("client_secret"),
            "stripe_type": action.get("type"), **({"url": redirect} if redirect else {})}, **common)
    if status == "requires_payment_method":     # after a confirm: the attempt failed
        return Intent(status=DECLINED, failure_code=_failure_code(error) or "payment_method_required",
                      failure_message=(error or {}).get("message"), **common)
    if status == "canceled":
        return Intent(status=DECLINED, failure_code=pi.get("cancellation_reason") or "canceled",
                      failure_message="The payment was cancelled.", **common)
    # processing, requires_capture, or a status newer than this code: not final, read it again later
    return Intent(status=PROCESSING, **common)


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, webhook_secret: str, base_url: str = "https://api.stripe.com",
                 timeout: float = 10, api_version: str | None = None):
        self.webhook_secret = webhook_secret
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()     # one connection pool: TLS handshakes are not free
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        if api_version:                        # pin the response shapes this code was written for
            self.session.headers["Stripe-Version"] = api_version

    # --- HTTP ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, data: Any = None, params: Any = None,
                 idempotency_key: str | None = None) -> tuple[int, dict]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            response = self.session.request(method, self.base_url + path, data=data, params=params,
                                            headers=headers, timeout=self.timeout)
        except requests.ConnectTimeout as exc:       # (before Timeout: it is both) nothing sent
            raise ProviderUnavailable(f"Stripe not reachable: {exc}") from None
        except requests.Timeout as exc:
            raise ProviderTimeout(f"no answer from Stripe within {self.timeout} s") from exc
        except requests.ConnectionError as exc:
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(reason, NewConnectionError):
                raise ProviderUnavailable(f"Stripe not reachable: {reason}") from None
            raise ProviderTimeout(f"connection to Stripe lost: {exc}") from exc
        status = response.status_code
        if status == 429 or (status == 409 and not self._is_idempotency_error(response)):
            raise ProviderUnavailable(f"Stripe refused the request for now ({status})")
        if status >= 500:
            raise ProviderTimeout(f"Stripe answered {status}: the outcome is unknown")
        try:
            body = response.json()
        except ValueError:
            if status < 300:
                raise ProviderTimeout("Stripe's answer could not be read: the outcome is unknown") from None
            raise ProviderError(f"Stripe answered {status} without JSON") from None
        return status, body

    @staticmethod
    def _is_idempotency_error(response: requests.Response) -> bool:
        try:
            return response.json()["error"]["type"] == "idempotency_error"
        except (ValueError, KeyError, TypeError):
            return False

    @staticmethod
    def _raise_for(status: int, body: dict) -> NoReturn:
        error = body.get("error") or {}
        if error.get("type") == "idempotency_error":
            raise ProviderError(error.get("message", ""), code="idempotency_mismatch")
        if status == 404:
            raise ProviderError(error.get("message", ""), code="resource_missing")
        if status in (401, 403):   # our key is wrong or lacks rights: an operator must act
            raise ProviderError(error.get("message", ""), code="provider_misconfigured")
        raise ProviderError(error.get("message", f"Stripe answered {status}"),
                            code=error.get("code") or "invalid_request")

    # --- the protocol ---------------------------------------------------------------------------
    def charge(self, *, amount: Decimal, currency: str, payment_method: str, idempotency_key: str,
               description: str = "", metadata: dict | None = None) -> Intent:
        form: list[tuple[str, str]] = [
            ("amount", str(minor_units(amount, currency))), ("currency", currency.lower()),
            ("payment_method", payment_method), ("confirm", "true"),
            ("payment_method_types[]", "card"), ("expand[]", "payment_method")]
        if description:
            form.append(("description", description))
        form += [(f"metadata[{k}]", str(v)) for k, v in (metadata or {}).items()]
        status, body = self._request("POST", "/v1/payment_intents", data=form,
                                     idempotency_key=idempotency_key)
        if status == 200:
            return to_intent(body)
        error = body.get("error") or {}
        if status == 402 or error.get("type") == "card_error":
            # a decline is an answer, not an error; the PaymentIntent comes with it when one exists
            if error.get("payment_intent"):
                return to_intent(error["payment_intent"])
            return Intent(id="", status=DECLINED, amount=Decimal(amount), currency=currency.upper(),
                          failure_code=_failure_code(error), failure_message=error.get("message"),
                          metadata=dict(metadata or {}))
        self._raise_for(status, body)

    def confirm(self, intent_id: str, response: dict) -> Intent:
        # Stripe.js finished the challenge in the browser and Stripe completed the payment itself;
        # the server's part is to read the outcome.
        return self.retrieve(intent_id)

    def retrieve(self, intent_id: str) -> Intent:
        status, body = self._request("GET", f"/v1/payment_intents/{intent_id}",
                                     params=[("expand[]", "payment_method")])
        if status != 200:
            self._raise_for(status, body)
        return to_intent(body)

    def cancel(self, intent_id: str) -> Intent:
        status, body = self._request("POST", f"/v1/payment_intents/{intent_id}/cancel",
                                     data={"cancellation_reason": "abandoned"})
        if status == 400 and (body.get("error") or {}).get("code") == "payment_intent_unexpected_state":
            return self.retrieve(intent_id)      # it settled meanwhile: keep what it became
        if status != 200:
            self._raise_for(status, body)
        return to_intent(body)

    def refund(self, intent_id: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        currency = self.retrieve(intent_id).currency    # the minor unit depends on it
        status, body = self._request("POST", "/v1/refunds", idempotency_key=idempotency_key, data=[
            ("payment_intent", intent_id), ("amount", str(minor_units(amount, currency)))])
        if status == 200:
            state = body.get("status")
            if state == "succeeded":
                return RefundResult(id=body["id"], status=SUCCEEDED)
            if state in ("failed", "canceled"):
                return RefundResult(id=body["id"], status=REFUND_FAILED,
                                    failure_code=body.get("failure_reason") or state)
            return RefundResult(id=body["id"], status=REFUND_PENDING)
        error = body.get("error") or {}
        if error.get("code") == "charge_already_refunded":
            return RefundResult(id="", status=REFUND_FAILED, failure_code="charge_already_refunded")
        if error.get("param") == "amount" or error.get("code") == "amount_too_large":
            # "Refund amount (...) is greater than unrefunded amount on charge (...)"
            return RefundResult(id="", status=REFUND_FAILED, failure_code="amount_too_large")
        self._raise_for(status, body)

    def describe_method(self, payment_method: str) -> dict | None:
        status, body = self._request("GET", f"/v1/payment_methods/{payment_method}")
        if status == 404:
            return None
        if status != 200:
            self._raise_for(status, body)
        card = body.get("card") or {}
        return {k: card.get(k) for k in ("brand", "last4", "exp_month", "exp_year")} if card else None

    def parse_event(self, body: bytes, headers: Mapping[str, str], now: float | None = None) -> Intent:
        """A webhook Stripe posted, verified as Stripe documents it (``Stripe-Signature``:
        ``t=...,v1=...``, HMAC-SHA256 of ``"{t}.{payload}"`` with the ``whsec_`` secret as is,
        300 s tolerance, constant-time comparison). Events about anything other than a
        PaymentIntent's outcome raise ``IgnoredEvent``."""
        verify_signature(self.webhook_secret.encode(), body, header(headers, "Stripe-Signature"), now=now)
        try:
            event = json.loads(body)
            kind, obj = event["type"], event["data"]["object"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError("the webhook body is not a Stripe event", code="malformed_event") from None
        if kind not in _EVENTS or obj.get("object", "payment_intent") != "payment_intent":
            raise IgnoredEvent(f"{kind} is not an event billing acts on")
        return to_intent(obj)
