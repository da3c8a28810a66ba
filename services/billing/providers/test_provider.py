"""``TestProvider``: a card processor that runs inside the platform and behaves like a remote one,
so billing's handling of declines, 3-D Secure, timeouts and duplicates is exercised for real.

It keeps its state (intents, refunds, idempotency keys) in its own ``testpay_*`` tables of the
database it is given, and commits each write at once, outside any transaction of the caller:
a real processor does not roll a charge back because billing's transaction did. Several
processes and threads may use it at once; the idempotency key's unique constraint decides which
of two concurrent duplicates charges, and the other gets the stored intent.

Test tokens (Stripe-like names), passed as ``payment_method``:

- ``tok_visa`` / ``tok_mastercard`` / ``tok_amex``: succeed (visa 4242, mastercard 4444, amex 8431).
- ``tok_chargeDeclined``, ``tok_insufficientFunds``, ``tok_expiredCard``, ``tok_incorrectCvc``:
  declined with ``card_declined``, ``insufficient_funds``, ``expired_card``, ``incorrect_cvc``.
- ``tok_threeDSecureRequired``: ``requires_action``, ``next_action = {"type": "three_d_secure",
  "challenge_id": ...}``; ``confirm(id, {"challenge_response": "pass"})`` succeeds (visa 3184),
  ``"fail"`` declines with ``authentication_failed``; confirming a settled intent changes nothing.
- ``tok_timeout``: the charge SUCCEEDS but the answer is lost: ``ProviderTimeout`` after
  ``timeout_seconds``; replaying the key (or ``retrieve``) shows it succeeded.
- ``tok_unavailable``: ``ProviderUnavailable``; nothing recorded, nothing charged.
- anything else, a raw card number (13-19 digits, spaces or dashes allowed) included: declined
  with ``invalid_payment_method`` and stored as ``"rejected"``: the value itself is kept nowhere.

The same idempotency key again returns the first outcome without charging again; the same key
with another amount, currency or token raises ``ProviderError(code="idempotency_mismatch")``.
Webhooks are signed like Stripe's (header ``testpay-signature: t=<unix>,v1=<hex>``, HMAC-SHA256
of ``"{t}.{body}"`` with ``derive_key("testpay-webhook")``); ``sign_event`` makes one.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from decimal import Decimal
from typing import Mapping

from sqlalchemy import (BigInteger, Column, MetaData, String, Table, Text, create_engine,
                        func, insert, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.billing.providers.base import (DECLINED, PROCESSING, REFUND_FAILED, REQUIRES_ACTION,
                                             SUCCEEDED, Intent, ProviderError, ProviderTimeout,
                                             ProviderUnavailable, RefundResult, header, minor_units,
                                             signature_header, verify_signature)
from services.common.keys import derive_key
from services.common.money import from_minor

SIGNATURE_HEADER = "testpay-signature"
REJECTED = "rejected"       # what is stored in place of a payment method that is not a known token

_CARDS = {"tok_visa": ("visa", "4242"), "tok_mastercard": ("mastercard", "4444"),
          "tok_amex": ("amex", "8431"), "tok_timeout": ("visa", "4242"),
          "tok_threeDSecureRequired": ("visa", "3184")}
_DECLINES = {
    "tok_chargeDeclined": ("card_declined", "Your card was declined."),
    "tok_insufficientFunds": ("insufficient_funds", "Your card has insufficient funds."),
    "tok_expiredCard": ("expired_card", "Your card has expired."),
    "tok_incorrectCvc": ("incorrect_cvc", "Your card's security code is incorrect."),
}
_INVALID = ("invalid_payment_method", "This is not a card token from the payment form. Card numbers "
            "are never accepted directly.")
_AUTH_FAILED = ("authentication_failed", "The card's 3-D Secure check was not passed.")
TOKENS = frozenset(_CARDS) | frozenset(_DECLINES) | {"tok_unavailable"}
_EVENT_TYPES = {SUCCEEDED: "payment_intent.succeeded", DECLINED: "payment_intent.payment_failed",
                PROCESSING: "payment_intent.processing", REQUIRES_ACTION: "payment_intent.requires_action"}

metadata_obj = MetaData()
intents = Table(
    "testpay_intents", metadata_obj,
    Column("id", String(40), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(40), nullable=False),   # a token name or "rejected", never a number
    Column("failure_code", String(40)),
    Column("failure_message", Text),
    Column("challenge_id", String(40)),
    Column("card_brand", String(20)),
    Column("card_last4", String(4)),
    Column("description", Text, nullable=False),
    Column("metadata", Text, nullable=False),               # JSON
    Column("created", BigInteger, nullable=False),          # unix seconds, as processors report
    Column("updated", BigInteger, nullable=False),
)
refunds = Table(
    "testpay_refunds", metadata_obj,
    Column("id", String(40), primary_key=True),
    Column("intent_id", String(40), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("failure_code", String(40)),
    Column("created", BigInteger, nullable=False),
)
# One namespace of keys for charges and refunds, as at Stripe: the primary key is what makes a
# concurrent duplicate fail to insert, so exactly one request carries out the operation.
idempotency_keys = Table(
    "testpay_idempotency_keys", metadata_obj,
    Column("key", String(255), primary_key=True),
    Column("operation", String(10), nullable=False),        # "charge" | "refund"
    Column("object_id", String(40), nullable=False),
    Column("created", BigInteger, nullable=False),
)

def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _intent(row) -> Intent:
    card = {"brand": row.card_brand, "last4": row.card_last4} if row.card_brand else None
    action = ({"type": "three_d_secure", "challenge_id": row.challenge_id}
              if row.status == REQUIRES_ACTION else None)
    return Intent(id=row.id, status=row.status, amount=from_minor(row.amount_minor, row.currency),
                  currency=row.currency, failure_code=row.failure_code,
                  failure_message=row.failure_message, next_action=action, card=card,
                  metadata=json.loads(row.metadata))


class TestProvider:
    """A simulated remote card processor; see the module docstring for its tokens."""
    __test__ = False            # not a pytest test class, whatever its name
    name = "test"

    def __init__(self, engine: Engine | str, timeout_seconds: float = 0.2):
        self.engine = create_engine(engine) if isinstance(engine, str) else engine
        self.timeout_seconds = timeout_seconds
        self._ready = False
        self._ready_lock = threading.Lock()

    # --- its own tables, created on first use ---------------------------------------------------
    def _db(self) -> Engine:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    try:
                        metadata_obj.create_all(self.engine, checkfirst=True)
                    except DBAPIError:
                        # another process created them between our check and our CREATE
                        metadata_obj.create_all(self.engine, checkfirst=True)
                    self._ready = True
        return self.engine

    # --- the protocol ---------------------------------------------------------------------------
    def charge(self, *, amount: Decimal, currency: str, payment_method: str, idempotency_key: str,
               description: str = "", metadata: dict | None = None) -> Intent:
        currency = currency.upper()
        minor = minor_units(amount, currency)
        if not idempotency_key:
            raise ValueError("a charge needs an idempotency key")
        token = payment_method if payment_method in TOKENS else REJECTED
        if token == "tok_unavailable":
            # the front door refused: nothing recorded, so a retry with the same key is a new try
            raise ProviderUnavailable("the test processor is unavailable (tok_unavailable)")
        now = int(time.time())
        row = {"id": _new_id("pi"), "amount_minor": minor, "currency": currency,
               "payment_method": token, "description": description or "",
               "metadata": json.dumps(metadata or {}, sort_keys=True, default=str),
               "created": now, "updated": now, "status": SUCCEEDED, "failure_code": None,
               "failure_message": None, "challenge_id": None, "card_brand": None, "card_last4": None}
        if token in _CARDS:
            row["card_brand"], row["card_last4"] = _CARDS[token]
        if token in _DECLINES:
            row["status"] = DECLINED
            row["failure_code"], row["failure_message"] = _DECLINES[token]
        elif token == REJECTED:
            row["status"] = DECLINED
            row["failure_code"], row["failure_message"] = _INVALID
        elif token == "tok_threeDSecureRequired":
            row["status"], row["challenge_id"] = REQUIRES_ACTION, _new_id("chl")
        try:
            # key and intent in one transaction: a concurrent duplicate either sees both or neither
            with self._db().begin() as conn:
                conn.execute(insert(idempotency_keys).values(
                    key=idempotency_key, operation="charge", object_id=row["id"], created=now))
                conn.execute(insert(intents).values(**row))
        except IntegrityError:
            return self._replay_charge(idempotency_key, minor, currency, token)
        if token == "tok_timeout":
            # committed above: the money moved, only the answer is lost on its way back
            time.sleep(self.timeout_seconds)
            raise ProviderTimeout(f"no answer from the test processor within {self.timeout_seconds} s")
        return self.retrieve(row["id"])

    def _replay_charge(self, key: str, minor: int, currency: str, token: str) -> Intent:
        with self._db().connect() as conn:
            stored = conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key)).first()
            if stored is None:      # the IntegrityError was not about the key: let it show
                raise ProviderError("could not record the charge")
            row = conn.execute(select(intents).where(intents.c.id == stored.object_id)).first()
        if stored.operation != "charge" or (row.amount_minor, row.currency, row.payment_method) != (
                minor, currency, token):
            raise ProviderError(f"idempotency key {key!r} was used for another request",
                                code="idempotency_mismatch")
        return _intent(row)

    def confirm(self, intent_id: str, response: dict) -> Intent:
        current = self.retrieve(intent_id)
        if current.status != REQUIRES_ACTION:
            return current              # already settled: answering again changes nothing
        answer = (response or {}).get("challenge_response")
        if answer not in ("pass", "fail"):
            raise ProviderError("challenge_response must be 'pass' or 'fail'", code="invalid_request")
        values = ({"status": SUCCEEDED} if answer == "pass" else
                  {"status": DECLINED, "failure_code": _AUTH_FAILED[0], "failure_message": _AUTH_FAILED[1]})
        with self._db().begin() as conn:
            # only a pending intent moves: of two concurrent answers the first one wins
            conn.execute(update(intents).where(intents.c.id == intent_id,
                                               intents.c.status == REQUIRES_ACTION)
                         .values(challenge_id=None, updated=int(time.time()), **values))
        return self.retrieve(intent_id)

    def cancel(self, intent_id: str) -> Intent:
        with self._db().begin() as conn:
            conn.execute(update(intents).where(intents.c.id == intent_id, intents.c.status == REQUIRES_ACTION)
                         .values(challenge_id=None, updated=int(time.time()), status=DECLINED,
                                 failure_code="abandoned",
                                 failure_message="The card check was not completed in time."))
        return self.retrieve(intent_id)

    def retrieve(self, intent_id: str) -> Intent:
        with self._db().connect() as conn:
            row = conn.execute(select(intents).where(intents.c.id == intent_id)).first()
        if row is None:
            raise ProviderError(f"no intent {intent_id}", code="resource_missing")
        return _intent(row)

    def refund(self, intent_id: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        if not idempotency_key:
            raise ValueError("a refund needs an idempotency key")
        refund_id, now = _new_id("re"), int(time.time())
        try:
            with self._db().begin() as conn:
                # Write to the intent first: it locks the row (PostgreSQL) or the database (SQLite)
                # so two refunds of one intent cannot both see the same refundable balance.
                if conn.execute(update(intents).where(intents.c.id == intent_id)
                                .values(updated=now)).rowcount == 0:
                    raise ProviderError(f"no intent {intent_id}", code="resource_missing")
                intent = conn.execute(select(intents).where(intents.c.id == intent_id)).one()
                minor = minor_units(amount, intent.currency)
                conn.execute(insert(idempotency_keys).values(
                    key=idempotency_key, operation="refund", object_id=refund_id, created=now))
                refunded = conn.scalar(select(func.coalesce(func.sum(refunds.c.amount_minor), 0))
                                       .where(refunds.c.intent_id == intent_id,
                                              refunds.c.status == SUCCEEDED))
                status, code = SUCCEEDED, None
                if intent.status != SUCCEEDED:
                    status, code = REFUND_FAILED, "charge_not_succeeded"
                elif minor > intent.amount_minor - refunded:
                    status, code = REFUND_FAILED, "amount_too_large"
                conn.execute(insert(refunds).values(id=refund_id, intent_id=intent_id, amount_minor=minor,
                                                    status=status, failure_code=code, created=now))
        except IntegrityError:
            return self._replay_refund(idempotency_key, intent_id, amount)
        return RefundResult(id=refund_id, status=status, failure_code=code)

    def _replay_refund(self, key: str, intent_id: str, amount: Decimal) -> RefundResult:
        with self._db().connect() as conn:
            stored = conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key)).first()
            if stored is None:
                raise ProviderError("could not record the refund")
            row = conn.execute(select(refunds).where(refunds.c.id == stored.object_id)).first()
            currency = conn.scalar(select(intents.c.currency).where(intents.c.id == intent_id))
        if stored.operation != "refund" or row.intent_id != intent_id or row.amount_minor != minor_units(
                amount, currency):
            raise ProviderError(f"idempotency key {key!r} was used for another request",
                                code="idempotency_mismatch")
        return RefundResult(id=row.id, status=row.status, failure_code=row.failure_code)

    def describe_method(self, payment_method: str) -> dict | None:
        """The test cards expire at the end of the year after next (any future date is accepted)."""
        if payment_method not in _CARDS:
            return None
        brand, last4 = _CARDS[payment_method]
        return {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": time.gmtime().tm_year + 2}

    # --- webhooks ------------------------------------------------------------------------------
    def sign_event(self, intent: Intent, timestamp: int | None = None) -> tuple[bytes, dict]:
        """The webhook this processor sends about ``intent``: ``(body, headers)``."""
        return sign_event(intent, timestamp)

    def webhook_for(self, intent_id: str) -> tuple[bytes, dict]:
        """The signed webhook about an intent's current state, as the processor would post it."""
        return sign_event(self.retrieve(intent_id))

    def parse_event(self, body: bytes, headers: Mapping[str, str]) -> Intent:
        verify_signature(derive_key("testpay-webhook"), body, header(headers, SIGNATURE_HEADER))
        try:
            obj = json.loads(body)["data"]["object"]
            return Intent(id=obj["id"], status=obj["status"], currency=obj["currency"],
                          amount=from_minor(obj["amount"], obj["currency"]),
                          failure_code=obj.get("failure_code"), failure_message=obj.get("failure_message"),
                          next_action=obj.get("next_action"), card=obj.get("card"),
                          metadata=obj.get("metadata"))
        except (ValueError, KeyError, TypeError):
            raise ProviderError("the webhook body is not an intent event", code="malformed_event") from None

    # --- for tests -----------------------------------------------------------------------------
    def charge_count(self, idempotency_key: str | None = None) -> int:
        """Succeeded charges in the processor's books (of one key, if given): "charged once"."""
        query = select(func.count()).select_from(intents).where(intents.c.status == SUCCEEDED)
        if idempotency_key is not None:
            query = query.join(idempotency_keys, idempotency_keys.c.object_id == intents.c.id).where(
                idempotency_keys.c.key == idempotency_key)
        with self._db().connect() as conn:
            return int(conn.scalar(query))

    def refunded(self, intent_id: str) -> Decimal:
        """The total successfully refunded on an intent."""
        intent = self.retrieve(intent_id)
        with self._db().connect() as conn:
            minor = conn.scalar(select(func.coalesce(func.sum(refunds.c.amount_minor), 0)).where(
                refunds.c.intent_id == intent_id, refunds.c.status == SUCCEEDED))
        return from_minor(minor, intent.currency) if minor else Decimal(0)


def sign_event(intent: Intent, timestamp: int | None = None) -> tuple[bytes, dict]:
    """A webhook about ``intent`` signed with the test processor's key: ``(body, headers)``."""
    obj = {"id": intent.id, "status": intent.status, "amount": minor_units(intent.amount, intent.currency),
           "currency": intent.currency, "failure_code": intent.failure_code,
           "failure_message": intent.failure_message, "next_action": intent.next_action,
           "card": intent.card, "metadata": intent.metadata or {}}
    t = int(time.time()) if timestamp is None else int(timestamp)
    body = json.dumps({"id": _new_id("evt"), "type": _EVENT_TYPES.get(intent.status, "payment_intent.updated"),
                       "created": t, "data": {"object": obj}}).encode()
    return body, {SIGNATURE_HEADER: signature_header(derive_key("testpay-webhook"), body, t),
                  "content-type": "application/json"}


def for_engine(engine: Engine | str, timeout_seconds: float = 0.2) -> TestProvider:
    return TestProvider(engine, timeout_seconds=timeout_seconds)
