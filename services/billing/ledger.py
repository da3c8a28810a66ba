"""The ledger: every movement of a customer's balance, the one source of every balance.

``+`` is what the customer owes (an invoice issued, a refund paid back to it), ``-`` what
settles it (a payment, a credit note). The current balance, the statement's opening and closing
balances and the sum of the invoices' outstanding amounts are all sums over these rows, so
they cannot disagree (tests/unit/test_billing_ledger.py checks it over random histories)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing.models import LedgerEntry

SIGN = {"invoice": 1, "refund": 1, "payment": -1, "credit_note": -1,
        # account credit granted (-), and its use on an invoice (+, beside that invoice's payment)
        "account_credit": -1, "credit_used": 1}
CREDIT_KINDS = ("account_credit", "credit_used")


def post(session: Session, *, customer_id: str, currency: str, kind: str, amount_minor: int,
         invoice_id: str, source_id: str, reference: str, description: str,
         occurred_at: datetime) -> LedgerEntry:
    """Record a movement; ``amount_minor`` is positive, its sign comes from ``kind``."""
    if amount_minor <= 0:
        raise ValueError("a ledger movement has a positive amount; its kind gives the sign")
    entry = LedgerEntry(customer_id=customer_id, currency=currency, kind=kind,
                        amount_minor=SIGN[kind] * amount_minor, invoice_id=invoice_id,
                        source_id=source_id, reference=reference, description=description[:500],
                        occurred_at=occurred_at)
    session.add(entry)
    return entry


def balance(session: Session, customer_id: str, before: datetime | None = None) -> int:
    """The balance in minor units (everything, or everything before ``before``)."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.customer_id == customer_id)
    if before is not None:
        query = query.where(LedgerEntry.occurred_at < before)
    return int(session.scalar(query))


def credit(session: Session, customer_id: str, currency: str | None = None) -> int:
    """The account credit not yet used, in minor units (positive)."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.customer_id == customer_id, LedgerEntry.kind.in_(CREDIT_KINDS))
    if currency is not None:
        query = query.where(LedgerEntry.currency == currency)
    return -int(session.scalar(query))
