"""Auto-pay: a customer admin opts in with one of the customer's saved cards, and each invoice
issued to the customer is charged to it (after its account credit was used, which happens as
the invoice is issued: services/billing/account_credit.py).

Billing charges on its own ``invoice.issued`` event, idempotent per invoice: the payment's
Idempotency-Key is ``autopay:<invoice id>`` (unique per customer), so a redelivered event finds
the first attempt and charges nothing; a crash between the charge and its record is settled by
reconciliation (the charge is asked again under the payment's id, as for any card payment). A
failed charge leaves the invoice open, stays as a failed payment on the invoice, and is
announced (``payment.failed``, ``autopay: true``) for the notify service and the portal."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, SERVICE, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.money import from_minor, wire_minor
from services.billing import payments, saved_methods
from services.billing.models import AutoPay, Invoice, Payment, SavedPaymentMethod

log = logging.getLogger(__name__)

KEY_PREFIX = "autopay:"
RECENT_FAILURES = 5


def key_for(invoice_id: str) -> str:
    return f"{KEY_PREFIX}{invoice_id}"


# --- the customer's choice ----------------------------------------------------------------------
def get(session: Session, caller: CallerContext) -> dict:
    caller.require(*CUSTOMER_ROLES)
    return view(session, caller.customer_id)


def update(session: Session, caller: CallerContext, data: dict) -> dict:
    caller.require(CUSTOMER_ADMIN)
    setting = session.get(AutoPay, caller.customer_id, with_for_update=True)
    if setting is None:
        setting = AutoPay(customer_id=caller.customer_id)
        session.add(setting)
    method_id = data.get("payment_method_id")
    if data["enabled"] and method_id is None:
        method_id = setting.payment_method_id or session.scalar(select(SavedPaymentMethod.id).where(
            SavedPaymentMethod.customer_id == caller.customer_id, SavedPaymentMethod.is_default.is_(True)))
        if method_id is None:
            raise ValidationFailed.of({"payment_method_id": [
                "Save a card first (tick \"Save this card\" when you pay), then choose it for auto-pay."]})
    if method_id is not None:
        saved_methods.owned_method(session, caller, method_id)      # 404 for anyone else's
        setting.payment_method_id = method_id
    setting.enabled = data["enabled"]
    setting.updated_by = caller.user_id
    session.flush()
    return view(session, caller.customer_id)


def view(session: Session, customer_id: str) -> dict:
    setting = session.get(AutoPay, customer_id)
    method = session.get(SavedPaymentMethod, setting.payment_method_id) if setting and setting.payment_method_id else None
    failures = session.scalars(select(Payment).where(
        Payment.customer_id == customer_id, Payment.idempotency_key.like(f"{KEY_PREFIX}%"),
        Payment.status == "failed").order_by(Payment.created_at.desc()).limit(RECENT_FAILURES)).all()
    return {"enabled": bool(setting and setting.enabled),
            "payment_method": saved_methods.view(method) if method else None,
            "recent_failures": [{"payment_id": p.id, "invoice_id": p.invoice_id,
                                 "amount": wire_minor(p.amount_minor, p.currency),
                                 "failure_code": p.failure_code, "failure_message": p.failure_message,
                                 "at": p.created_at.isoformat()} for p in failures]}


# --- charging on issue --------------------------------------------------------------------------
def on_invoice_issued(uow: UnitOfWork, event: dict) -> None:
    customer_id, invoice_id = event.get("customer_id"), event["data"]["invoice_id"]
    session = uow.session
    setting = session.get(AutoPay, customer_id) if customer_id else None
    if setting is None or not setting.enabled or setting.payment_method_id is None:
        return
    method = session.get(SavedPaymentMethod, setting.payment_method_id)
    invoice = session.get(Invoice, invoice_id)
    if method is None or invoice is None or invoice.customer_id != customer_id or invoice.outstanding_minor <= 0:
        return      # nothing to charge (paid by account credit, say)
    caller = CallerContext(role=SERVICE, customer_id=customer_id)
    amount = from_minor(invoice.outstanding_minor, invoice.currency)
    request = {"amount": amount, "payment_method": method.token}
    key = key_for(invoice.id)
    try:
        payment_id, first = payments._reserve(uow, caller, invoice.id, request, key,
                                              payments.digest([invoice.id, "autopay"]))
    except (Conflict, NotFound) as exc:    # paid or being paid meanwhile: nothing to do
        log.info("auto-pay of invoice %s skipped: %s", invoice.number, exc)
        return
    if not first:
        return      # a redelivered invoice.issued: the first delivery charged (or reconciles)
    payment = session.get(Payment, payment_id, with_for_update=True)
    payments._charge(uow, payment)
    if payment.status == "failed":
        log.warning("auto-pay of invoice %s failed: %s", invoice.number, payment.failure_code)
        uow.emit("payment.failed", {**payments.event_data(payment), "autopay": True,
                                    "invoice_number": invoice.number, "failure_code": payment.failure_code,
                                    "failure_message": payment.failure_message,
                                    "card": saved_methods.view(method)["label"]},
                 customer_id=customer_id)
