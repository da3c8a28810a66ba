"""Payments: online by card through the provider adapter, offline (recorded by the operator),
refunds, and reconciling what the provider did when its answer was lost.

A card payment is three steps, so that a double click, a retried request or a crash never
charges twice and never loses a charge:
1. *reserve*: in a transaction of its own, the invoice is locked, the amount checked against
   what is outstanding minus payments still in flight, and a ``pending`` payment row committed,
   unique per (customer, Idempotency-Key). A concurrent duplicate hits that unique key and waits
   for the first request's answer instead of charging.
2. *charge*: the provider is called with the payment's id as its idempotency key (Stripe-style),
   so asking again (a retry, the reconciliation job) returns the same charge.
3. *record*: the outcome is applied in the worker's transaction: ledger row, invoice figures,
   ``payment.received``. A lost answer (timeout) leaves the payment ``processing``; the
   reconciliation timer asks the provider again until it knows.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.caller import OPERATOR_ADMIN, PAYERS, CallerContext
from services.common.config import env_int
from services.common.db import UnitOfWork, utcnow
from services.common.errors import (BadRequest, Conflict, NotFound, PaymentDeclined, ServiceUnavailable,
                                    ValidationFailed)
from services.common.scoping import get_owned, owned, paged
from services.common.money import exponent, from_minor, to_minor, wire_minor
from services.billing import account_credit, invoices, saved_methods
from services.billing.models import Invoice, LedgerEntry, Payment, Refund, new_id
from services.billing.providers import get_provider
from services.billing.providers.base import (IgnoredEvent, Intent, InvalidSignature, ProviderError,
                                             ProviderTimeout, ProviderUnavailable)

log = logging.getLogger(__name__)

IN_FLIGHT = ("pending", "processing", "requires_action")
FINAL = ("succeeded", "failed")
DUPLICATE_WAIT_SECONDS = 8.0


def provider(uow: UnitOfWork):
    return get_provider(engine=uow.engine)


# --- paying online ------------------------------------------------------------------------------
def pay(uow: UnitOfWork, caller: CallerContext, invoice_id: str, data: dict,
        idempotency_key: str | None) -> dict:
    caller.require(*PAYERS)
    check_key(idempotency_key)
    request_hash = digest([invoice_id, str(data["amount"]), data.get("currency"), data.get("payment_method")]
                          + _method_choice(data))
    data = {**data, "payment_method": method_token(uow.session, caller, data)}
    payment_id, first = _reserve(uow, caller, invoice_id, data, idempotency_key, request_hash)
    if not first:
        return _answer(_settled_view(uow, caller, payment_id))
    payment = uow.session.get(Payment, payment_id, with_for_update=True)
    _charge(uow, payment)
    return _answer(view(payment), uow)


def check_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= 128:
        raise ValidationFailed.of({"Idempotency-Key": ["Use 1 to 128 characters."]})


def digest(request: list) -> str:
    return hashlib.sha256(json.dumps(request).encode()).hexdigest()


def _method_choice(data: dict) -> list:
    """The parts of a request beyond the card token, when given (a request without them hashes
    as it always did)."""
    extra = [data.get("saved_method_id"), bool(data.get("save_card"))]
    return extra if any(extra) else []


def method_token(session: Session, caller: CallerContext, data: dict) -> str:
    """The card to charge: a token from the payment form, or one of the customer's saved cards."""
    if data.get("saved_method_id"):
        return saved_methods.token_of(session, caller, data["saved_method_id"])
    return data["payment_method"]


def _reserve(uow: UnitOfWork, caller: CallerContext, invoice_id: str, data: dict,
             key: str | None, request_hash: str) -> tuple[str, bool]:
    """Commit a pending payment; ``(id, True)``, or ``(id of the earlier one, False)`` for a
    repeated Idempotency-Key."""
    session = uow.separate_session()
    try:
        invoice = invoices.locked(session, caller, invoice_id)
        if key is not None:
            # Looked up under the invoice's lock: a duplicate that waited for it sees the first
            # request's payment (committed) instead of mistaking it for an overpayment.
            earlier = _by_key(session, caller.customer_id, key)
            if earlier is not None:
                return _same_request(earlier, request_hash).id, False
        amount = _amount(data, invoice)
        _check_room(session, invoice, amount)
        payment = Payment(customer_id=invoice.customer_id, invoice_id=invoice.id, amount_minor=amount,
                          currency=invoice.currency, method="card", status="pending",
                          provider=provider(uow).name, payment_method=data["payment_method"],
                          idempotency_key=key, save_method=bool(data.get("save_card")),
                          request_hash=request_hash, recorded_by=caller.user_id)
        session.add(payment)
        try:
            session.commit()
        except IntegrityError:
            # A concurrent request with the same key committed first: it is the one that charges.
            session.rollback()
            earlier = _by_key(session, caller.customer_id, key)
            if earlier is None:
                raise
            return _same_request(earlier, request_hash).id, False
        return payment.id, True
    finally:
        session.close()


def _by_key(session: Session, customer_id: str, key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.customer_id == customer_id,
                                                Payment.idempotency_key == key))


def _same_request(earlier: Payment, request_hash: str) -> Payment:
    if earlier.request_hash != request_hash:
        raise Conflict("This Idempotency-Key was used with another request.",
                       {"payment_id": earlier.id})
    return earlier


def _amount(data: dict, invoice: Invoice) -> int:
    if data.get("currency") and data["currency"].upper() != invoice.currency:
        raise ValidationFailed.of({"currency": [f"The invoice is in {invoice.currency}."]})
    amount = to_minor(Decimal(data["amount"]), invoice.currency)
    if Decimal(data["amount"]) != from_minor(amount, invoice.currency):
        raise ValidationFailed.of({"amount": [f"{invoice.currency} amounts have at most "
                                              f"{exponent(invoice.currency)} decimals."]})
    if amount <= 0:
        raise ValidationFailed.of({"amount": ["The amount must be more than zero."]})
    return amount


def in_flight(session: Session, invoice: Invoice) -> int:
    """What payments still being charged will take off the invoice."""
    return int(session.scalar(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
        Payment.invoice_id == invoice.id, Payment.status.in_(IN_FLIGHT))) or 0)


def _check_room(session: Session, invoice: Invoice, amount: int) -> None:
    """Refuse an overpayment: counting payments still in flight, so two tabs paying the whole
    invoice at once cannot both go through."""
    in_flight_minor = in_flight(session, invoice)
    room = invoice.outstanding_minor - in_flight_minor
    if invoice.outstanding_minor == 0:
        raise Conflict(f"Invoice {invoice.number} is already settled.",
                       {"outstanding": wire_minor(0, invoice.currency), "invoice_id": invoice.id})
    if amount > room:
        raise Conflict(f"That is more than the {from_minor(max(room, 0), invoice.currency)} "
                       f"{invoice.currency} that can still be paid on invoice {invoice.number}"
                       + (" (another payment of it is in progress)." if in_flight_minor else "."),
                       {"outstanding": wire_minor(invoice.outstanding_minor, invoice.currency),
                        "in_progress": wire_minor(in_flight_minor, invoice.currency),
                        "invoice_id": invoice.id})


def members(session: Session, payment: Payment, lock: bool = True) -> list[Payment]:
    """The payments one charge pays: this one, or every payment of its batch (several invoices
    paid at once), locked, in a fixed order."""
    if payment.batch_id is None:
        return [payment]
    query = select(Payment).where(Payment.batch_id == payment.batch_id).order_by(Payment.id)
    return list(session.scalars(query.with_for_update() if lock else query).all())


def _charge_request(uow: UnitOfWork, payment: Payment) -> Intent:
    """The charge of a payment (of its whole batch): the same request every time it is sent
    (the first time, and again by reconciliation), so the provider's idempotency returns one
    charge. A batch is charged once, under the batch's id, for the sum of its payments."""
    batch = members(uow.session, payment)
    first = batch[0]
    key = first.batch_id or first.id
    what = f"Payment of {len(batch)} invoices {key}" if first.batch_id else f"Invoice payment {key}"
    metadata = {"payment_id": first.id, "invoice_id": first.invoice_id, "customer_id": first.customer_id}
    if first.batch_id:
        metadata["batch_id"] = first.batch_id
    return provider(uow).charge(amount=from_minor(sum(p.amount_minor for p in batch), first.currency),
                                currency=first.currency, payment_method=first.payment_method,
                                idempotency_key=key, description=what, metadata=metadata)


def _charge(uow: UnitOfWork, payment: Payment) -> None:
    try:
        intent = _charge_request(uow, payment)
    except ProviderTimeout:
        log.warning("payment %s: the provider did not answer in time; reconciling later", payment.id)
        _mark(uow, payment, "processing")
        return
    except ProviderUnavailable as exc:
        # Refused before anything happened: nothing was charged, the customer may try again.
        _mark(uow, payment, "failed", "provider_unavailable", str(exc) or "The card processor is not reachable.")
        return
    except ProviderError as exc:
        _mark(uow, payment, "failed", getattr(exc, "code", "provider_error"), str(exc))
        return
    apply(uow, payment, intent)


def _mark(uow: UnitOfWork, payment: Payment, status: str, code: str | None = None,
          message: str | None = None) -> None:
    for each in members(uow.session, payment):
        each.status = status
        if code:
            each.failure_code, each.failure_message = code, message


def apply(uow: UnitOfWork, payment: Payment, intent: Intent) -> None:
    """Bring a locked payment (and the rest of its batch: one charge, all or nothing) in line
    with what the provider says. Idempotent: a final payment is never changed again (a late
    webhook, a second reconciliation)."""
    for each in members(uow.session, payment):
        _apply_one(uow, each, intent)


def _apply_one(uow: UnitOfWork, payment: Payment, intent: Intent) -> None:
    if payment.status in FINAL:
        return
    payment.provider_ref = intent.id
    payment.card = intent.card
    if intent.status == "succeeded":
        invoice = uow.session.scalar(select(Invoice).where(Invoice.id == payment.invoice_id).with_for_update())
        payment.status, payment.received_at, payment.next_action = "succeeded", utcnow(), None
        invoices.settle(uow.session, invoice, "payment", payment.amount_minor, source_id=payment.id,
                        reference=invoice.number, description=_describe(payment),
                        occurred_at=payment.received_at)
        if payment.save_method:
            saved_methods.remember(uow.session, payment, intent.card, provider(uow))
        uow.emit("payment.received", event_data(payment), customer_id=payment.customer_id)
    elif intent.status == "declined":
        payment.status, payment.next_action = "failed", None
        payment.failure_code, payment.failure_message = intent.failure_code, intent.failure_message
    elif intent.status == "requires_action":
        payment.status, payment.next_action = "requires_action", intent.next_action
    else:
        payment.status = "processing"


def _describe(payment: Payment) -> str:
    """A payment on a statement line (the invoice number is in the reference column)."""
    how = {"card": "Card payment", "bank_transfer": "Bank transfer", "cheque": "Cheque",
           "cash": "Cash", "account_credit": "Account credit"}.get(payment.method, "Payment")
    if payment.method == "card" and payment.card:
        how += f" ({payment.card.get('brand', 'card')} {payment.card.get('last4', '')})".rstrip()
    return f"{how} {payment.reference}" if payment.reference else how


def _settled_view(uow: UnitOfWork, caller: CallerContext, payment_id: str,
                  render=lambda session, payment: view(payment)) -> dict:
    """The answer of the request that holds this key: once it has left ``pending``."""
    deadline = time.monotonic() + DUPLICATE_WAIT_SECONDS
    while True:
        session = uow.separate_session()
        try:
            payment = session.get(Payment, payment_id)
            if payment.status != "pending" or time.monotonic() > deadline:
                return render(session, payment)
        finally:
            session.close()
        time.sleep(0.05)


def _answer(found: dict, uow: UnitOfWork | None = None) -> dict:
    """A declined payment is an error to the caller (402), the same one on every replay. The
    failure is committed before it is raised: it must outlive the error (a raise rolls back)."""
    if found["status"] == "failed":
        if uow is not None:
            uow.commit()
        if found["failure_code"] == "provider_unavailable":
            raise ServiceUnavailable("The card processor is not reachable; nothing was charged. Try again shortly.",
                                     {"payment": found})
        raise PaymentDeclined(found["failure_message"] or "The card was declined.",
                              {"decline_code": found["failure_code"], "payment": found})
    return found


def confirm(uow: UnitOfWork, caller: CallerContext, payment_id: str, response: dict) -> dict:
    """The customer's answer to 3-D Secure (the provider checks it)."""
    caller.require(*PAYERS)
    payment = locked(uow.session, caller, payment_id)
    if payment.status != "requires_action":
        raise Conflict(f"This payment is {payment.status.replace('_', ' ')}; there is nothing to confirm.",
                       {"status": payment.status})
    try:
        intent = provider(uow).confirm(payment.provider_ref, response)
    except ProviderTimeout:
        payment.status = "processing"
        return view(payment)
    except ProviderError as exc:
        raise ServiceUnavailable(f"The card processor could not take the answer: {exc}") from None
    apply(uow, payment, intent)
    return _answer(view(payment), uow)


def provider_event(uow: UnitOfWork, body: bytes, headers: dict) -> dict:
    """A signed notification from the provider (a webhook): settles what it names."""
    try:
        intent = provider(uow).parse_event(body, headers)
    except InvalidSignature:
        raise BadRequest("The notification's signature is not valid.") from None
    except IgnoredEvent:
        return {"ignored": True}        # signed, but not about a payment: acknowledged
    payment = uow.session.scalar(select(Payment).where(Payment.provider_ref == intent.id).with_for_update())
    if payment is None:
        payment_id = (getattr(intent, "metadata", None) or {}).get("payment_id")
        payment = uow.session.get(Payment, payment_id, with_for_update=True) if payment_id else None
    if payment is None:
        raise NotFound("No payment has this provider reference.")
    apply(uow, payment, intent)
    return {"payment_id": payment.id, "status": payment.status}


def reconcile(uow: UnitOfWork, older_than: timedelta = timedelta(seconds=30), limit: int = 100) -> int:
    """Ask the provider about payments whose answer was lost (a timeout, a crash between charge
    and record): asking with the same idempotency key returns the same charge, never a new one.
    Then cancel 3-D Secure checks left unanswered (the customer closed the tab), which would
    otherwise hold their amount against the invoice for ever (_check_room counts them): after
    BILLING_ACTION_TIMEOUT_SECONDS they fail, unless they settled meanwhile."""
    settled = _settle_stale(uow, ("pending", "processing"), utcnow() - older_than, limit, lambda payment: (
        provider(uow).retrieve(payment.provider_ref) if payment.provider_ref else _charge_request(uow, payment)))
    action_cutoff = utcnow() - timedelta(seconds=env_int("BILLING_ACTION_TIMEOUT_SECONDS"))
    return settled + _settle_stale(uow, ("requires_action",), action_cutoff, limit,
                                   lambda payment: provider(uow).cancel(payment.provider_ref))


def _settle_stale(uow: UnitOfWork, statuses: tuple[str, ...], cutoff, limit: int, ask) -> int:
    """Card payments in ``statuses`` untouched since ``cutoff``, each brought in line with what
    ``ask(payment)`` gets from the provider; one the provider cannot answer waits its next turn.
    Returns how many became final."""
    query = (select(Payment).where(Payment.method == "card", Payment.status.in_(statuses),
                                   Payment.updated_at < cutoff).order_by(Payment.updated_at).limit(limit))
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)      # another billing instance takes others
    final = 0
    for payment in uow.session.scalars(query).all():
        try:
            intent = ask(payment)
        except ProviderError as exc:
            log.warning("payment %s: no answer from the provider yet: %s", payment.id, exc)
            payment.updated_at = utcnow()
            continue
        apply(uow, payment, intent)
        final += payment.status in FINAL
    return final


# --- offline payments and refunds (operator) ------------------------------------------------------
def record_offline(uow: UnitOfWork, caller: CallerContext, invoice_id: str, data: dict) -> dict:
    caller.require_operator()
    invoice = invoices.locked(uow.session, caller, invoice_id)
    amount = _amount(data, invoice)
    if data.get("excess_to_credit"):      # what is more than owed becomes account credit
        applied = min(amount, max(invoice.outstanding_minor - in_flight(uow.session, invoice), 0))
    else:
        _check_room(uow.session, invoice, amount)
        applied = amount
    received = data.get("received_at") or utcnow()
    if received > utcnow() + timedelta(minutes=5):
        raise ValidationFailed.of({"received_at": ["A payment cannot be received in the future."]})
    payment = Payment(customer_id=invoice.customer_id, invoice_id=invoice.id, amount_minor=amount,
                      currency=invoice.currency, method=data["method"], status="succeeded",
                      reference=data.get("reference"), received_at=received, recorded_by=caller.user_id)
    uow.session.add(payment)
    uow.session.flush()
    if applied:
        invoices.settle(uow.session, invoice, "payment", applied, source_id=payment.id,
                        reference=invoice.number, description=_describe(payment), occurred_at=received)
    if amount > applied:
        account_credit.grant(uow.session, invoice, amount - applied, source_id=payment.id,
                             reference=invoice.number, occurred_at=received,
                             description=f"Overpayment: {_describe(payment)}, kept as account credit")
    uow.emit("payment.received", event_data(payment), customer_id=payment.customer_id)
    return view(payment)


def refund(uow: UnitOfWork, caller: CallerContext, payment_id: str, data: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    payment = locked(uow.session, caller, payment_id)
    if payment.status != "succeeded":
        raise Conflict("Only a received payment can be refunded.", {"status": payment.status})
    if payment.method == "account_credit":
        raise Conflict("Account credit used on an invoice is not money to pay back; issue a credit note instead.",
                       {"method": payment.method})
    amount = to_minor(Decimal(data["amount"]), payment.currency)
    # What became account credit (an overpayment) was not paid on the invoice: not refunded here.
    kept_as_credit = -int(uow.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.kind == "account_credit", LedgerEntry.source_id == payment.id)) or 0)
    left = payment.amount_minor - kept_as_credit - payment.refunded_minor
    if not 0 < amount <= left:
        raise Conflict(f"At most {from_minor(left, payment.currency)} {payment.currency} of this "
                       f"payment can be refunded.", {"refundable": wire_minor(left, payment.currency)})
    invoice = invoices.locked(uow.session, caller, payment.invoice_id)
    back = Refund(id=new_id(), payment_id=payment.id, customer_id=payment.customer_id, amount_minor=amount,
                  reason=data.get("reason"), created_by=caller.user_id, created_at=utcnow())
    if payment.method == "card" and payment.provider_ref:
        # Before this transaction writes anything: the processor is another system, and its
        # answer must not wait on our locks (on SQLite, one writer at a time).
        try:
            result = provider(uow).refund(payment.provider_ref, from_minor(amount, payment.currency),
                                          idempotency_key=back.id)
        except ProviderError as exc:
            raise ServiceUnavailable(f"The card processor did not take the refund: {exc}") from None
        if result.status == "failed":
            raise Conflict(f"The card processor refused the refund ({result.failure_code}).",
                           {"failure_code": result.failure_code})
        back.provider_ref = result.id       # "pending" (Stripe) settles at the processor later
    uow.session.add(back)
    uow.session.flush()
    payment.refunded_minor += amount
    invoices.settle(uow.session, invoice, "refund", amount, source_id=back.id, reference=invoice.number,
                    description=f"Refund of {_describe(payment)}" + (f": {back.reason}" if back.reason else ""),
                    occurred_at=back.created_at)
    uow.emit("payment.refunded", {**event_data(payment), "amount": wire_minor(amount, payment.currency),
                                  "refund_id": back.id}, customer_id=payment.customer_id)
    return view(payment)


# --- reading --------------------------------------------------------------------------------------
def locked(session: Session, caller: CallerContext, payment_id: str) -> Payment:
    return get_owned(session, caller, Payment, payment_id, "payment", lock=True)


def get(session: Session, caller: CallerContext, payment_id: str) -> dict:
    return view(get_owned(session, caller, Payment, payment_id, "payment"))


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = owned(caller, Payment, args.get("customer_id"))
    if args.get("invoice_id"):
        query = query.where(Payment.invoice_id == args["invoice_id"])
    # A payment still being charged is not history yet.
    query = query.where(Payment.status.in_(args["status"]) if args.get("status") else Payment.status != "pending")
    if args.get("from"):
        query = query.where(Payment.created_at >= invoices._start(args["from"]))
    if args.get("to"):
        query = query.where(Payment.created_at < invoices._start(args["to"] + timedelta(days=1)))
    desc = (args.get("sort") or "-created_at").startswith("-")
    query = query.order_by(Payment.created_at.desc() if desc else Payment.created_at.asc())
    return paged(session, query, args, transform=view)


def last_received(session: Session, customer_id: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.customer_id == customer_id,
                                                Payment.status == "succeeded",
                                                Payment.method != "account_credit")
                          .order_by(Payment.received_at.desc()).limit(1))


def view(payment: Payment) -> dict:
    cur = payment.currency
    return {"id": payment.id, "invoice_id": payment.invoice_id, "customer_id": payment.customer_id,
            "amount": wire_minor(payment.amount_minor, cur), "method": payment.method,
            "status": payment.status, "card": payment.card, "next_action": payment.next_action,
            "failure_code": payment.failure_code, "failure_message": payment.failure_message,
            "reference": payment.reference, "refunded": wire_minor(payment.refunded_minor, cur),
            "received_at": _iso(payment.received_at), "created_at": _iso(payment.created_at)}


def event_data(payment: Payment) -> dict:
    return {"payment_id": payment.id, "invoice_id": payment.invoice_id,
            "amount": wire_minor(payment.amount_minor, payment.currency), "method": payment.method,
            "status": payment.status}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
