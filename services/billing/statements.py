"""Statements (every invoice, payment, credit note and refund of a period with the running
balance) and the account summary: both read the ledger, so they agree with each other and
with the invoice list to the cent."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.db import utcnow
from services.common.errors import ValidationFailed
from services.common.money import wire_minor
from services.billing import accounts, ledger, payments
from services.billing.invoices import today
from services.billing.models import Invoice, LedgerEntry


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def period(args: dict) -> tuple[date, date]:
    """``from``/``to`` (inclusive days); default: this month so far."""
    now = today()
    start, end = args.get("from") or now.replace(day=1), args.get("to") or now
    if end < start:
        raise ValidationFailed.of({"to": ["The end of the period is before its start."]})
    return start, end


def statement(session: Session, caller: CallerContext, args: dict) -> dict:
    customer_id = caller.scope(args.get("customer_id"))
    if customer_id is None:
        raise ValidationFailed.of({"customer_id": ["Name the customer whose statement you want."]})
    account = accounts.get(session, customer_id)
    currency = accounts.currency_of(account)
    start, end = period(args)
    opening = ledger.balance(session, customer_id, before=_start(start))
    rows = session.execute(
        select(LedgerEntry.occurred_at, LedgerEntry.kind, LedgerEntry.reference, LedgerEntry.description,
               LedgerEntry.amount_minor, LedgerEntry.invoice_id)
        .where(LedgerEntry.customer_id == customer_id, LedgerEntry.occurred_at >= _start(start),
               LedgerEntry.occurred_at < _start(end + timedelta(days=1)))
        .order_by(LedgerEntry.occurred_at, LedgerEntry.seq)).all()
    running = opening
    totals = {"invoice": 0, "payment": 0, "credit_note": 0, "refund": 0, "account_credit": 0, "credit_used": 0}
    entries = []
    for at, kind, reference, description, amount, invoice_id in rows:
        running += amount
        totals[kind] += abs(amount)
        entries.append({"date": at.isoformat(), "kind": kind, "reference": reference,
                        "description": description, "invoice_id": invoice_id,
                        "debit": wire_minor(amount, currency) if amount > 0 else None,
                        "credit": wire_minor(-amount, currency) if amount < 0 else None,
                        "balance": wire_minor(running, currency)})
    return {"customer": accounts.snapshot(account), "currency": currency,
            "from": start.isoformat(), "to": end.isoformat(), "generated_at": utcnow().isoformat(),
            "opening_balance": wire_minor(opening, currency),
            "closing_balance": wire_minor(running, currency), "entries": entries,
            "totals": {"invoiced": wire_minor(totals["invoice"], currency),
                       "paid": wire_minor(totals["payment"], currency),
                       "credited": wire_minor(totals["credit_note"], currency),
                       "refunded": wire_minor(totals["refund"], currency),
                       "account_credit": wire_minor(totals["account_credit"], currency),
                       "credit_used": wire_minor(totals["credit_used"], currency)}}


# Spreadsheet programs run a cell that starts with one of these as a formula (OWASP "CSV
# injection"): such a cell is written with a leading apostrophe, which they show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def as_csv(view: dict) -> str:
    """The statement as CSV: one row per entry between the opening and closing balance rows;
    amounts are plain decimals (a spreadsheet sums them), never formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", "type", "reference", "description", "debit", "credit", "balance", "currency"])
    amount = lambda money: money["amount"] if money else ""   # noqa: E731
    writer.writerow([view["from"], "opening_balance", "", "Opening balance", "", "",
                     view["opening_balance"]["amount"], view["currency"]])
    for e in view["entries"]:
        writer.writerow([e["date"][:10], e["kind"], _cell(e["reference"]), _cell(e["description"]),
                         amount(e["debit"]), amount(e["credit"]), e["balance"]["amount"], view["currency"]])
    writer.writerow([view["to"], "closing_balance", "", "Closing balance", "", "",
                     view["closing_balance"]["amount"], view["currency"]])
    return out.getvalue()


def summary(session: Session, caller: CallerContext, customer_id: str | None = None) -> dict:
    """``GET /account/summary``: current balance, what is overdue, the last payment."""
    customer_id = caller.scope(customer_id)
    if customer_id is None:
        raise ValidationFailed.of({"customer_id": ["Name the customer."]})
    account = accounts.get(session, customer_id)
    currency = accounts.currency_of(account)
    on = today()
    open_count, overdue_count, overdue = session.execute(
        select(func.count(), func.count().filter(Invoice.due_date < on),
               func.coalesce(func.sum(Invoice.outstanding_minor).filter(Invoice.due_date < on), 0))
        .where(Invoice.customer_id == customer_id, Invoice.outstanding_minor > 0)).one()
    last = payments.last_received(session, customer_id)
    return {"customer_id": customer_id, "currency": currency,
            "current_balance": wire_minor(ledger.balance(session, customer_id), currency),
            "overdue": wire_minor(int(overdue), currency),
            "open_invoices": open_count, "overdue_invoices": overdue_count,
            "last_payment": {"amount": wire_minor(last.amount_minor, last.currency),
                             "date": last.received_at.date().isoformat(),
                             "invoice_id": last.invoice_id} if last else None,
            "credit_balance": wire_minor(ledger.credit(session, customer_id, currency), currency)}
