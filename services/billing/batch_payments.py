"""Paying several invoices at once: one charge at the processor for what they owe together,
allocated to each invoice as a payment of its own (its ledger row, its ``payment.received``).

All or nothing: the payments of a batch share one charge (``payments.members``), so a decline
fails them all, a success settles them all, and a lost answer leaves them all ``processing``
until reconciliation learns the outcome. The three steps of a single payment hold here too
(services/billing/payments.py): reserve (every invoice locked, one pending payment each, under
the request's Idempotency-Key), charge (under the batch's id), record."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.caller import PAYERS, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.money import from_minor, to_minor, wire_minor
from services.billing import payments
from services.billing.models import Invoice, Payment, new_id


def pay_several(uow: UnitOfWork, caller: CallerContext, data: dict, idempotency_key: str | None) -> dict:
    caller.require(*PAYERS)
    payments.check_key(idempotency_key)
    ids = data["invoice_ids"]
    if len(set(ids)) != len(ids):
        raise ValidationFailed.of({"invoice_ids": ["Name each invoice once."]})
    request_hash = payments.digest(["several", sorted(ids), data.get("amount") and str(data["amount"]),
                                    data.get("payment_method")] + payments._method_choice(data))
    data = {**data, "payment_method": payments.method_token(uow.session, caller, data)}
    payment_id, first = _reserve(uow, caller, ids, data, idempotency_key, request_hash)
    if not first:
        return payments._answer(payments._settled_view(uow, caller, payment_id, render=batch_view))
    payment = uow.session.get(Payment, payment_id, with_for_update=True)
    payments._charge(uow, payment)
    return payments._answer(batch_view(uow.session, payment), uow)


def _reserve(uow: UnitOfWork, caller: CallerContext, ids: list[str], data: dict, key: str | None,
             request_hash: str) -> tuple[str, bool]:
    """Commit one pending payment per invoice, all of one batch: ``(first payment's id, True)``,
    or ``(id of the earlier request's, False)`` for a repeated Idempotency-Key."""
    session = uow.separate_session()
    try:
        found = _locked_invoices(session, caller, ids)
        if key is not None:
            earlier = payments._by_key(session, caller.customer_id, key)
            if earlier is not None:
                return payments._same_request(earlier, request_hash).id, False
        amounts = _amounts(session, found)
        _check_total(data, found, sum(amounts))
        batch_id, provider = new_id(), payments.provider(uow).name
        rows = [Payment(customer_id=invoice.customer_id, invoice_id=invoice.id, amount_minor=amount,
                        currency=invoice.currency, method="card", status="pending", provider=provider,
                        payment_method=data["payment_method"], batch_id=batch_id,
                        save_method=bool(data.get("save_card")), recorded_by=caller.user_id,
                        # the request's key and hash on its first payment: it answers a replay
                        idempotency_key=key if n == 0 else None, request_hash=request_hash if n == 0 else None)
                for n, (invoice, amount) in enumerate(zip(found, amounts))]
        session.add_all(rows)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            earlier = payments._by_key(session, caller.customer_id, key)
            if earlier is None:
                raise
            return payments._same_request(earlier, request_hash).id, False
        return rows[0].id, True
    finally:
        session.close()


def _locked_invoices(session: Session, caller: CallerContext, ids: list[str]) -> list[Invoice]:
    """The caller's invoices, locked in id order (two batches sharing invoices cannot deadlock).
    Another customer's invoice is not found, exactly like one that does not exist."""
    found = session.scalars(select(Invoice).where(Invoice.id.in_(ids), Invoice.customer_id == caller.customer_id)
                            .order_by(Invoice.id).with_for_update()).all()
    missing = [i for i in ids if i not in {invoice.id for invoice in found}]
    if missing:
        raise NotFound(f"No such invoice: {', '.join(missing)}.", {"invoice_ids": missing})
    currencies = {invoice.currency for invoice in found}
    if len(currencies) > 1:
        raise ValidationFailed.of({"invoice_ids": [
            f"These invoices are in {', '.join(sorted(currencies))}: pay invoices of one currency together."]})
    return list(found)


def _amounts(session: Session, found: list[Invoice]) -> list[int]:
    """What each invoice still owes, less what is being charged on it already; every invoice
    that owes nothing is named in one refusal."""
    settled, busy, amounts = [], [], []
    for invoice in found:
        room = invoice.outstanding_minor - payments.in_flight(session, invoice)
        if invoice.outstanding_minor == 0:
            settled.append(invoice)
        elif room <= 0:
            busy.append(invoice)
        amounts.append(room)
    if settled or busy:
        problems = ([f"{', '.join(i.number for i in settled)} {'is' if len(settled) == 1 else 'are'} already paid"]
                    if settled else []) + ([f"{', '.join(i.number for i in busy)} {'is' if len(busy) == 1 else 'are'} "
                                            f"being paid by another payment in progress"] if busy else [])
        raise Conflict(f"Nothing was charged: {'; '.join(problems)}. Choose only open invoices.",
                       {"invoice_ids": [i.id for i in settled + busy]})
    return amounts


def _check_total(data: dict, found: list[Invoice], total: int) -> None:
    """``amount``, when given, is the total the customer saw: paying something else is refused."""
    if data.get("amount") is None:
        return
    currency = found[0].currency
    if to_minor(Decimal(data["amount"]), currency) != total:
        raise Conflict(f"These invoices now owe {from_minor(total, currency)} {currency} together, not "
                       f"{data['amount']}: check them and pay again.", {"total": wire_minor(total, currency)})


def batch_view(session: Session, payment: Payment) -> dict:
    """A batch as one payment: its status and card, the total, and each invoice's payment."""
    batch = payments.members(session, payment, lock=False)
    first = batch[0]
    return {"batch_id": first.batch_id, "status": first.status,
            "amount": wire_minor(sum(p.amount_minor for p in batch), first.currency),
            "card": first.card, "next_action": first.next_action, "failure_code": first.failure_code,
            "failure_message": first.failure_message, "payment_id": first.id,
            "payments": [payments.view(p) for p in batch]}
