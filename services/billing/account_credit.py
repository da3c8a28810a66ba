"""Account credit: what a credit note or an overpayment gave beyond what its invoice owed. It
stays on the account (the balance goes below what the open invoices owe) and is used
automatically on the next invoices issued, before any auto-pay charge.

On the ledger (services/billing/ledger.py): granting is an ``account_credit`` row (-); using it
on an invoice is a payment of that invoice (method ``account_credit``, its ``payment`` row -) and
a ``credit_used`` row (+) beside it, so the balance does not move when credit is used, and the
statement shows where it went."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.billing import invoices, ledger
from services.billing.models import Account, Invoice, Payment


def grant(session: Session, invoice: Invoice, amount_minor: int, *, source_id: str, reference: str,
          description: str, occurred_at: datetime | None = None) -> None:
    ledger.post(session, customer_id=invoice.customer_id, currency=invoice.currency, kind="account_credit",
                amount_minor=amount_minor, invoice_id=invoice.id, source_id=source_id, reference=reference,
                description=description, occurred_at=occurred_at or utcnow())


def available(session: Session, customer_id: str, currency: str | None = None) -> int:
    return ledger.credit(session, customer_id, currency)


def apply_to(session: Session, invoice: Invoice) -> int:
    """Use the account's credit on an invoice just issued (as much as it owes). The account row
    is locked first, so two invoices issued at once cannot both spend the same credit."""
    if available(session, invoice.customer_id, invoice.currency) <= 0:
        return 0            # the usual case: no credit, no lock
    session.get(Account, invoice.customer_id, with_for_update=True)
    use = min(available(session, invoice.customer_id, invoice.currency), invoice.outstanding_minor)
    if use <= 0:
        return 0
    now = utcnow()
    payment = Payment(customer_id=invoice.customer_id, invoice_id=invoice.id, amount_minor=use,
                      currency=invoice.currency, method="account_credit", status="succeeded",
                      received_at=now, reference="Account credit")
    session.add(payment)
    session.flush()
    invoices.settle(session, invoice, "payment", use, source_id=payment.id, reference=invoice.number,
                    description="Account credit applied", occurred_at=now)
    ledger.post(session, customer_id=invoice.customer_id, currency=invoice.currency, kind="credit_used",
                amount_minor=use, invoice_id=invoice.id, source_id=payment.id, reference=invoice.number,
                description=f"Account credit used on {invoice.number}", occurred_at=now)
    return use
