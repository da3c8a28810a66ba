"""Invoices: issuing (by the operator, or on delivery), numbering, their status, credit notes,
and the one way an invoice's outstanding amount changes (``settle``), always with its ledger row.

outstanding = total - paid + refunded - credited, and 0 <= outstanding <= total always.
Status follows from the figures and the date: ``open`` -> ``partially_paid`` -> ``paid``;
``overdue`` while something is outstanding past the due date; ``credited`` when credit notes
cleared it with nothing paid."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, ValidationFailed
from services.common.scoping import get_owned, owned, paged
from services.common.money import from_minor, to_minor, wire_minor
from services.billing import accounts, ledger
from services.billing.models import CreditNote, Invoice, InvoiceLine, Payment
from services.billing.numbering import next_number
from services.billing.pricing import Line

log = logging.getLogger(__name__)

UNPAID = ("open", "partially_paid", "overdue")


def today() -> date:
    return utcnow().date()


# --- issuing ------------------------------------------------------------------------------------
def priced_lines(lines: list[dict], currency: str) -> list[InvoiceLine]:
    """Invoice lines with their net and tax, rounded by the one rule (``pricing.Line.make``)."""
    built = []
    for position, given in enumerate(lines, start=1):
        line = Line.make(given.get("code") or "manual", given["description"], Decimal(given["quantity"]),
                         given.get("unit"), Decimal(given["unit_price"]), Decimal(given.get("tax_rate") or 0),
                         currency)
        built.append(InvoiceLine(position=position, code=line.code, description=line.description,
                                 quantity=line.quantity, unit=line.unit, unit_price=line.unit_price,
                                 tax_rate=line.tax_rate, net_minor=to_minor(line.net, currency),
                                 tax_minor=to_minor(line.tax, currency)))
    return built


def issue(uow: UnitOfWork, caller: CallerContext, customer_id: str, lines: list[dict], *,
          order_id: str | None = None, order_reference: str | None = None,
          notes: str | None = None, due_date: date | None = None,
          currency: str | None = None) -> Invoice:
    """Issue an invoice now: numbered, on the ledger, announced (``invoice.issued``)."""
    session = uow.session
    account = accounts.get(session, customer_id)
    currency = (currency or accounts.currency_of(account)).upper()
    if not lines:
        raise ValidationFailed.of({"lines": ["An invoice needs at least one line."]})
    built = priced_lines(lines, currency)
    net, tax = sum(x.net_minor for x in built), sum(x.tax_minor for x in built)
    if net + tax <= 0:
        raise ValidationFailed.of({"lines": ["The invoice total must be more than zero; "
                                             "correct an invoice with a credit note."]})
    now = utcnow()
    days = accounts.terms_days(account)
    due = due_date or (now.date() + timedelta(days=days))
    if due < now.date():
        raise ValidationFailed.of({"due_date": ["The due date cannot be before the invoice date."]})
    invoice = Invoice(number=next_number(session, "invoice", now), customer_id=customer_id,
                      status="open", currency=currency, net_minor=net, tax_minor=tax,
                      total_minor=net + tax, outstanding_minor=net + tax, issued_at=now,
                      due_date=due, terms=terms_text(days if due_date is None else (due - now.date()).days),
                      order_id=order_id, order_reference=order_reference, notes=notes,
                      customer=accounts.snapshot(account), issued_by=caller.user_id, lines=built)
    session.add(invoice)
    session.flush()
    ledger.post(session, customer_id=customer_id, currency=currency, kind="invoice",
                amount_minor=invoice.total_minor, invoice_id=invoice.id, source_id=invoice.id,
                reference=invoice.number, description=_describe(invoice), occurred_at=now)
    # The account's credit first (before any auto-pay charge, which follows invoice.issued)
    from services.billing import account_credit

    account_credit.apply_to(session, invoice)
    uow.emit("invoice.issued", event_data(invoice), customer_id=customer_id)
    return invoice


def terms_text(days: int) -> str:
    if days <= 0:
        return "Payment due on receipt."
    return f"Payment due within {days} days of the invoice date."


def _describe(invoice: Invoice) -> str:
    # Short: a statement shows the number in its own column and gives this one narrow line.
    return f"Order {invoice.order_reference}" if invoice.order_reference else "Invoice"


def event_data(invoice: Invoice) -> dict:
    return {"invoice_id": invoice.id, "number": invoice.number,
            "total": wire_minor(invoice.total_minor, invoice.currency),
            "outstanding": wire_minor(invoice.outstanding_minor, invoice.currency),
            "due_date": invoice.due_date.isoformat(), "order_id": invoice.order_id,
            "status": invoice.status}


# --- the figures and the status -----------------------------------------------------------------
def status_of(invoice: Invoice, on: date) -> str:
    if invoice.outstanding_minor == 0:
        return "paid" if invoice.paid_minor > invoice.refunded_minor or invoice.credited_minor == 0 else "credited"
    if invoice.due_date < on:
        return "overdue"
    if invoice.paid_minor > invoice.refunded_minor or invoice.credited_minor > 0:
        return "partially_paid"
    return "open"


def settle(session: Session, invoice: Invoice, kind: str, amount_minor: int, *, source_id: str,
           reference: str, description: str, occurred_at: datetime | None = None) -> None:
    """Apply a payment, credit note or refund to a locked invoice and write its ledger row: the
    only way the outstanding amount moves. Refuses what would take it below zero or above the
    total (an overpayment, a credit larger than what is owed)."""
    if amount_minor <= 0:
        raise ValidationFailed.of({"amount": ["The amount must be more than zero."]})
    if kind in ("payment", "credit_note") and amount_minor > invoice.outstanding_minor:
        owed = wire_minor(invoice.outstanding_minor, invoice.currency)
        raise Conflict(f"That is more than the {owed['amount']} {invoice.currency} outstanding on "
                       f"invoice {invoice.number}.", {"outstanding": owed, "invoice_id": invoice.id})
    if kind == "payment":
        invoice.paid_minor += amount_minor
        invoice.outstanding_minor -= amount_minor
    elif kind == "credit_note":
        invoice.credited_minor += amount_minor
        invoice.outstanding_minor -= amount_minor
    elif kind == "refund":
        invoice.refunded_minor += amount_minor
        invoice.outstanding_minor += amount_minor
    else:
        raise ValueError(kind)
    assert 0 <= invoice.outstanding_minor <= invoice.total_minor, "outstanding out of bounds"
    invoice.status = status_of(invoice, today())
    ledger.post(session, customer_id=invoice.customer_id, currency=invoice.currency, kind=kind,
                amount_minor=amount_minor, invoice_id=invoice.id, source_id=source_id,
                reference=reference, description=description, occurred_at=occurred_at or utcnow())


def credit(uow: UnitOfWork, caller: CallerContext, invoice_id: str, amount: Decimal,
           reason: str, excess_to_credit: bool = False) -> dict:
    """A credit note against an invoice (the operator corrects it): at most what is
    outstanding; to correct a paid invoice, refund first, or give what is more than outstanding
    to the account as credit (``excess_to_credit``), used on the next invoices."""
    caller.require_operator(OPERATOR_ADMIN)
    invoice = locked(uow.session, caller, invoice_id)
    now = utcnow()
    note = CreditNote(number=next_number(uow.session, "credit_note", now), invoice_id=invoice.id,
                      customer_id=invoice.customer_id, amount_minor=to_minor(amount, invoice.currency),
                      reason=reason, issued_at=now, issued_by=caller.user_id)
    uow.session.add(note)
    uow.session.flush()
    on_invoice = min(note.amount_minor, invoice.outstanding_minor) if excess_to_credit else note.amount_minor
    if on_invoice > 0 or not excess_to_credit:
        settle(uow.session, invoice, "credit_note", on_invoice, source_id=note.id,
               reference=note.number, description=f"Credit on {invoice.number}: {reason}",
               occurred_at=now)
    if note.amount_minor > on_invoice:
        from services.billing import account_credit

        account_credit.grant(uow.session, invoice, note.amount_minor - on_invoice, source_id=note.id,
                             reference=note.number, description=f"Account credit from {invoice.number}: {reason}",
                             occurred_at=now)
    uow.emit("credit_note.issued", {"credit_note_id": note.id, "number": note.number,
                                    "invoice_id": invoice.id,
                                    "amount": wire_minor(note.amount_minor, invoice.currency)},
             customer_id=invoice.customer_id)
    return view(uow.session, invoice)


# --- reading --------------------------------------------------------------------------------------
def locked(session: Session, caller: CallerContext, invoice_id: str) -> Invoice:
    return get_owned(session, caller, Invoice, invoice_id, "invoice", lock=True)


def get(session: Session, caller: CallerContext, invoice_id: str) -> dict:
    return view(session, get_owned(session, caller, Invoice, invoice_id, "invoice"))


def view(session: Session, invoice: Invoice) -> dict:
    """The whole invoice: lines, taxes per rate, payments, credit notes and what is outstanding
    (the API's answer and the PDF's content)."""
    cur = invoice.currency
    money = lambda minor: wire_minor(minor, cur)   # noqa: E731
    taxes: dict[Decimal, list[int]] = {}
    lines = []
    for line in invoice.lines:
        taxes.setdefault(line.tax_rate, [0, 0])
        taxes[line.tax_rate][0] += line.net_minor
        taxes[line.tax_rate][1] += line.tax_minor
        lines.append({"position": line.position, "code": line.code, "description": line.description,
                      "quantity": _plain(line.quantity), "unit": line.unit,
                      "unit_price": {"amount": _plain(line.unit_price), "currency": cur},
                      "tax_rate": _plain(line.tax_rate), "net": money(line.net_minor),
                      "tax": money(line.tax_minor), "total": money(line.net_minor + line.tax_minor)})
    payments = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)
                               .order_by(Payment.created_at)).all()
    notes = session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice.id)
                            .order_by(CreditNote.issued_at)).all()
    status = status_of(invoice, today())
    return {
        **summary(invoice), "status": status,
        "customer": invoice.customer, "terms": invoice.terms, "notes": invoice.notes,
        "lines": lines,
        "taxes": [{"rate": _plain(rate), "net": money(n), "tax": money(t)}
                  for rate, (n, t) in sorted(taxes.items())],
        "payments": [{"id": p.id, "received_at": _iso(p.received_at or p.created_at), "method": p.method,
                      "reference": p.reference, "amount": money(p.amount_minor),
                      "refunded": money(p.refunded_minor), "status": p.status}
                     for p in payments],
        "credit_notes": [{"id": c.id, "number": c.number, "issued_at": _iso(c.issued_at),
                          "amount": money(c.amount_minor), "reason": c.reason} for c in notes],
    }


def summary(invoice: Invoice) -> dict:
    """An invoice as a list shows it."""
    cur = invoice.currency
    money = lambda minor: wire_minor(minor, cur)   # noqa: E731
    status = status_of(invoice, today())
    return {"id": invoice.id, "number": invoice.number, "customer_id": invoice.customer_id,
            "status": status, "overdue": status == "overdue", "currency": cur,
            "issued_at": _iso(invoice.issued_at), "due_date": invoice.due_date.isoformat(),
            "order_id": invoice.order_id, "order_reference": invoice.order_reference,
            "net": money(invoice.net_minor), "tax": money(invoice.tax_minor),
            "total": money(invoice.total_minor), "paid": money(invoice.paid_minor),
            "credited": money(invoice.credited_minor), "refunded": money(invoice.refunded_minor),
            "outstanding": money(invoice.outstanding_minor)}


SORTS = {"issued_at": Invoice.issued_at, "due_date": Invoice.due_date, "number": Invoice.number,
         "total": Invoice.total_minor, "outstanding": Invoice.outstanding_minor}


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = owned(caller, Invoice, args.get("customer_id"))
    on = today()
    wanted = set(args.get("status") or [])
    if wanted:
        # Overdue is a matter of the date as much as of the stored status (the daily job may not
        # have run yet today), so it is filtered by the figures, like "open".
        conditions = []
        if "open" in wanted or "unpaid" in wanted:
            conditions.append(Invoice.outstanding_minor > 0)
        if "overdue" in wanted:
            conditions.append(and_(Invoice.outstanding_minor > 0, Invoice.due_date < on))
        if "partially_paid" in wanted:
            conditions.append(and_(Invoice.outstanding_minor > 0, Invoice.paid_minor > Invoice.refunded_minor))
        if "paid" in wanted:
            conditions.append(Invoice.status == "paid")
        if "credited" in wanted:
            conditions.append(Invoice.status == "credited")
        query = query.where(or_(*conditions))
    if args.get("from"):
        query = query.where(Invoice.issued_at >= _start(args["from"]))
    if args.get("to"):
        query = query.where(Invoice.issued_at < _start(args["to"] + timedelta(days=1)))
    if args.get("order_id"):
        query = query.where(Invoice.order_id == args["order_id"])
    sort = args.get("sort") or "-issued_at"
    column = SORTS[sort.lstrip("-")]
    query = query.order_by(column.desc() if sort.startswith("-") else column.asc(), Invoice.number.desc())
    return paged(session, query, args, transform=summary)


# --- the daily job ----------------------------------------------------------------------------------
def mark_overdue(uow: UnitOfWork, limit: int = 500) -> int:
    """Flip unpaid invoices past their due date to ``overdue`` and announce each once
    (``invoice.overdue``). Rows are taken with SKIP LOCKED, so several billing instances running
    the job at once share it instead of announcing twice."""
    session, on, done = uow.session, today(), 0
    query = (select(Invoice).where(Invoice.outstanding_minor > 0, Invoice.due_date < on,
                                   Invoice.overdue_notified_at.is_(None))
             .order_by(Invoice.due_date).limit(limit))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for invoice in session.scalars(query).all():
        invoice.status = "overdue"
        invoice.overdue_notified_at = utcnow()
        uow.emit("invoice.overdue", event_data(invoice), customer_id=invoice.customer_id)
        done += 1
    # Invoices paid after being announced stay as they are; one that was extended (due date
    # moved) goes back to its status by the figures.
    session.execute(update(Invoice).where(Invoice.status == "overdue", Invoice.due_date >= on)
                    .values(status="open", overdue_notified_at=None))
    return done


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _plain(value: Decimal) -> str:
    """A quantity or rate as people write it: 12.5, not 12.500."""
    text = format(Decimal(value).normalize(), "f")
    return text


def outstanding_of(invoice: Invoice) -> Decimal:
    return from_minor(invoice.outstanding_minor, invoice.currency)
