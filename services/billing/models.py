"""The billing service's tables.

Money is stored as integers in the currency's minor unit (``*_minor``: cents for EUR), so every
sum in SQL is exact on PostgreSQL and SQLite alike; ``services.common.money`` converts at the
edges. Rates and unit prices (1.125 EUR per km) are not summed, so they keep their decimals.

Every balance is derived from ``ledger``: one row per invoice issued, payment received, credit
note and refund. An invoice's ``outstanding_minor`` is kept beside it (updated in the same
transaction as its ledger row) so lists and filters need no aggregation, and the property test
(tests/unit/test_billing_ledger.py) checks the two never disagree.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, BigInteger, ForeignKey, Index, LargeBinary, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.brand import BrandCopyColumns
from services.common.db import BigId, service_base, utcnow
from services.common.esign import SignatureColumns

Base = service_base()
Minor = BigInteger          # an amount in minor units


def new_id() -> str:
    return str(uuid.uuid4())


class Account(Base):
    """Billing's copy of a customer (fed by identity's customer events) and its billing terms."""

    __tablename__ = "accounts"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(16))
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(default=True)
    currency: Mapped[str | None] = mapped_column(String(3))          # None: BILLING_CURRENCY
    payment_terms_days: Mapped[int | None]                          # None: BILLING_PAYMENT_TERMS_DAYS
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RateCard(Base):
    """Prices of one customer (or the default for all, ``customer_id`` null), for one kind of
    order or all kinds. ``services.billing.pricing`` reads it as a dict."""

    __tablename__ = "rate_cards"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    base_fee: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    per_km: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    per_kg: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    per_package: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    per_hour: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    per_day: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    minimum: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    road_factor: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("1.3"))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    surcharges: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NumberSequence(Base):
    """Gapless numbers per kind and year: the row is locked by the transaction that takes a
    number, so a rolled-back invoice gives its number back and none is skipped."""

    __tablename__ = "number_sequences"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)     # invoice | credit_note | quote
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class PricedOrder(Base):
    """An order billing has priced (from ``order.submitted``), so it can invoice it on delivery."""

    __tablename__ = "priced_orders"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    reference: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(16))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON)        # pricing.Price.wire()
    quote_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    priced_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    invoice_id: Mapped[str | None] = mapped_column(String(36))


class Quote(Base):
    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_customer_created", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    # requested -> sent -> accepted | rejected | changes_requested (-> sent again) | expired
    status: Mapped[str] = mapped_column(String(20), index=True)
    revision: Mapped[int] = mapped_column(default=0)
    order_id: Mapped[str | None] = mapped_column(String(36))       # the draft it was asked for
    content: Mapped[dict[str, Any]] = mapped_column(JSON)          # the order as the customer described it
    message: Mapped[str | None] = mapped_column(Text)              # the customer's latest words
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON)     # pricing.Price.wire() as sent
    currency: Mapped[str | None] = mapped_column(String(3))
    total_minor: Mapped[int | None] = mapped_column(Minor)
    valid_until: Mapped[datetime | None]
    operator_note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)               # why it was rejected
    requested_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A deposit charged by card when the quote is signed (services/billing/signatures.py): the
    # percent the operator set (None: an amount), and the amount in minor units.
    deposit_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    deposit_minor: Mapped[int | None] = mapped_column(Minor)
    # The operator's choice when sending: the customer accepts only by signing (POST .../sign);
    # a quote with a deposit always needs it, since signing is where the deposit is paid.
    require_signature: Mapped[bool] = mapped_column(default=True)

    history: Mapped[list["QuoteEvent"]] = relationship(order_by="QuoteEvent.id",
                                                       cascade="all, delete-orphan")


class QuoteEvent(Base):
    """The quote's history: every request, revision sent, answer, with its price at the time."""

    __tablename__ = "quote_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(24))
    revision: Mapped[int]
    by_role: Mapped[str] = mapped_column(String(32))
    by_user_id: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str | None] = mapped_column(Text)
    total_minor: Mapped[int | None] = mapped_column(Minor)
    valid_until: Mapped[datetime | None]


class QuoteDocument(Base):
    """The PDF of one revision of a quote, as first shown: its bytes and their SHA-256, the
    hash a signature is given against (services/billing/signatures.py)."""

    __tablename__ = "quote_documents"
    __table_args__ = (UniqueConstraint("quote_id", "revision"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuoteSignature(SignatureColumns, Base):
    """A customer's electronic signature accepting one revision of a quote: the typed name, the
    drawn signature (PNG), who, when, from where (coarse) and the hash of the document signed."""

    __tablename__ = "quote_signatures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    revision: Mapped[int]
    # The deposit charged in the same step (none: no deposit): amount, the processor's charge, the card.
    deposit_minor: Mapped[int | None] = mapped_column(Minor)
    deposit_provider_ref: Mapped[str | None] = mapped_column(String(64))
    deposit_card: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_customer_issued", "customer_id", "issued_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    # open | partially_paid | paid | overdue | credited (fully credited, nothing paid)
    status: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    net_minor: Mapped[int] = mapped_column(Minor)
    tax_minor: Mapped[int] = mapped_column(Minor)
    total_minor: Mapped[int] = mapped_column(Minor)
    paid_minor: Mapped[int] = mapped_column(Minor, default=0)
    credited_minor: Mapped[int] = mapped_column(Minor, default=0)
    refunded_minor: Mapped[int] = mapped_column(Minor, default=0)
    outstanding_minor: Mapped[int] = mapped_column(Minor)
    issued_at: Mapped[datetime]
    due_date: Mapped[date] = mapped_column(index=True)
    terms: Mapped[str] = mapped_column(Text)
    order_id: Mapped[str | None] = mapped_column(String(36), unique=True)   # one invoice per order
    order_reference: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    customer: Mapped[dict[str, Any]] = mapped_column(JSON)       # name, client_id, address when issued
    issued_by: Mapped[str | None] = mapped_column(String(36))
    overdue_notified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list["InvoiceLine"]] = relationship(order_by="InvoiceLine.position",
                                                      cascade="all, delete-orphan")


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    code: Mapped[str] = mapped_column(String(48), default="manual")
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    unit: Mapped[str | None] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    net_minor: Mapped[int] = mapped_column(Minor)
    tax_minor: Mapped[int] = mapped_column(Minor)


class CreditNote(Base):
    __tablename__ = "credit_notes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    amount_minor: Mapped[int] = mapped_column(Minor)
    reason: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str | None] = mapped_column(String(36))


class Payment(Base):
    """A payment of one invoice: by card through the provider (``pending`` until the provider
    answers), or recorded by the operator (bank transfer, cheque, cash). Never a card number:
    ``payment_method`` keeps only the provider's token name, ``card`` its brand and last 4."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),
                      Index("ix_payments_customer_created", "customer_id", "created_at"),
                      # the account summary's "last payment": one index step, not a sort
                      Index("ix_payments_customer_received", "customer_id", "status", "received_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(Minor)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))   # card | bank_transfer | cheque | cash | account_credit
    # pending -> succeeded | failed | requires_action (-> succeeded | failed) | processing (-> ...)
    status: Mapped[str] = mapped_column(String(16), index=True)
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    # The processor's token for the card (tok_..., pm_...): reconciliation repeats the charge
    # request with it under the same idempotency key. A token, never a card number.
    payment_method: Mapped[str | None] = mapped_column(String(100))
    card: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failure_code: Mapped[str | None] = mapped_column(String(48))
    failure_message: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(100))   # cheque number, bank reference
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    refunded_minor: Mapped[int] = mapped_column(Minor, default=0)
    received_at: Mapped[datetime | None]
    recorded_by: Mapped[str | None] = mapped_column(String(36))
    # Several invoices paid with one charge: every payment of the batch shares its id, which is
    # the charge's idempotency key at the processor (services/billing/batch_payments.py).
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # "Save this card": kept as a saved payment method once the charge succeeds.
    save_method: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedPaymentMethod(Base):
    """A card the customer saved: the processor's token (reference) and what a person needs to
    recognise it (brand, last 4, expiry). Never a card number, never a CVC."""

    __tablename__ = "payment_methods"
    __table_args__ = (UniqueConstraint("customer_id", "provider", "token"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(20))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutoPay(Base):
    """A customer's auto-pay choice: charge each invoice on issue with this saved method."""

    __tablename__ = "autopay"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_methods.id"))
    updated_by: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    amount_minor: Mapped[int] = mapped_column(Minor)
    reason: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))


class LedgerEntry(Base):
    """One movement of a customer's balance: + what the customer owes (invoice, refund),
    - what settles it (payment, credit note). The balance is the sum; statements list them.
    Account credit (a credit note or an overpayment beyond what an invoice owed) is an
    ``account_credit`` row (-); using it on an invoice is a ``payment`` (-, method
    ``account_credit``) with its ``credit_used`` (+): the balance does not move, the credit does."""

    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_customer_time", "customer_id", "occurred_at", "seq"),
                      UniqueConstraint("kind", "source_id"))

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    currency: Mapped[str] = mapped_column(String(3))
    # invoice | payment | credit_note | refund | account_credit | credit_used
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(Minor)            # signed
    invoice_id: Mapped[str] = mapped_column(String(36), index=True)
    source_id: Mapped[str] = mapped_column(String(36))          # the invoice, payment, credit note or refund
    reference: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    occurred_at: Mapped[datetime]


class BrandCopy(BrandCopyColumns, Base):
    """The operator's branding as identity last announced it (services.common.brand)."""
