"""marshmallow schemas of billing's RPC payloads and answers (the gateway documents its routes
with the same ones). Money is ``{"amount": "12.50", "currency": "EUR"}``; amounts sent in are
decimal strings (services.common.money.DecimalString refuses floats)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.money import CURRENCY, DecimalString, MoneySchema
from services.common.esign import SignatureIn, SignatureOut
from services.common.schemas import PageArgs, Several, StrictSchema
from services.orders.schemas import OrderFields
from services.billing.rate_card_schemas import PriceLineIn, PriceOut

POSITIVE = validate.Range(min=0, min_inclusive=False, error="Must be more than zero.")
TEXT = validate.Length(min=1, max=2000)


class DateRangeArgs(StrictSchema):
    from_ = fields.Date(data_key="from", attribute="from", load_default=None,
                        metadata={"description": "First day (inclusive), YYYY-MM-DD."})
    to = fields.Date(load_default=None, metadata={"description": "Last day (inclusive), YYYY-MM-DD."})
    customer_id = fields.String(load_default=None, metadata={"description": "Operator staff: whose."})


class FileArgs(StrictSchema):
    download = fields.String(validate=validate.OneOf(["0", "1"]), metadata={
        "description": "`1`: as an attachment (save), otherwise inline (view, print)."})


class StatementFileArgs(DateRangeArgs, FileArgs):
    pass


class ListArgs(PageArgs):
    from_ = fields.Date(data_key="from", attribute="from", load_default=None)
    to = fields.Date(load_default=None)
    customer_id = fields.String(load_default=None, metadata={"description": "Operator staff: one customer's."})


# --- invoices ---------------------------------------------------------------------------------------
INVOICE_FILTERS = ["open", "unpaid", "partially_paid", "overdue", "paid", "credited"]


class InvoiceListArgs(ListArgs):
    status = Several(fields.String(validate=validate.OneOf(INVOICE_FILTERS)), load_default=None,
                         metadata={"description": "`open` (anything outstanding, also `unpaid`), "
                                                  "`partially_paid`, `overdue`, `paid`, `credited`; repeat for several."})
    order_id = fields.String(load_default=None)
    sort = fields.String(load_default="-issued_at", validate=validate.OneOf(
        [f"{d}{c}" for c in ("issued_at", "due_date", "number", "total", "outstanding") for d in ("", "-")]))


class InvoiceIn(StrictSchema):
    """The operator issues an invoice: for an order at its price (``order_id``), or with lines."""
    customer_id = fields.String(required=True)
    order_id = fields.String(load_default=None)
    lines = fields.List(fields.Nested(PriceLineIn), load_default=None, validate=validate.Length(max=500))
    due_date = fields.Date(load_default=None)
    notes = fields.String(load_default=None, validate=validate.Length(max=2000))


class CreditNoteIn(StrictSchema):
    amount = DecimalString(required=True, validate=POSITIVE)
    reason = fields.String(required=True, validate=TEXT)
    excess_to_credit = fields.Boolean(load_default=False, metadata={
        "description": "What is more than the invoice owes becomes account credit (used on the next "
                       "invoices) instead of being refused."})


class InvoiceLineOut(Schema):
    position = fields.Integer()
    code = fields.String()
    description = fields.String()
    quantity = fields.String()
    unit = fields.String(allow_none=True)
    unit_price = fields.Nested(MoneySchema)
    tax_rate = fields.String()
    net = fields.Nested(MoneySchema)
    tax = fields.Nested(MoneySchema)
    total = fields.Nested(MoneySchema)


class InvoiceSummaryOut(Schema):
    id = fields.String()
    number = fields.String(metadata={"example": "INV-2026-000042"})
    customer_id = fields.String()
    status = fields.String(metadata={"description": "open, partially_paid, paid, overdue or credited"})
    overdue = fields.Boolean()
    currency = fields.String()
    issued_at = fields.String()
    due_date = fields.String()
    order_id = fields.String(allow_none=True)
    order_reference = fields.String(allow_none=True)
    net = fields.Nested(MoneySchema)
    tax = fields.Nested(MoneySchema)
    total = fields.Nested(MoneySchema)
    paid = fields.Nested(MoneySchema)
    credited = fields.Nested(MoneySchema)
    refunded = fields.Nested(MoneySchema)
    outstanding = fields.Nested(MoneySchema)


class TaxOut(Schema):
    rate = fields.String()
    net = fields.Nested(MoneySchema)
    tax = fields.Nested(MoneySchema)


class InvoicePaymentOut(Schema):
    id = fields.String()
    received_at = fields.String(allow_none=True)
    method = fields.String()
    reference = fields.String(allow_none=True)
    amount = fields.Nested(MoneySchema)
    refunded = fields.Nested(MoneySchema)
    status = fields.String()


class CreditNoteOut(Schema):
    id = fields.String()
    number = fields.String()
    issued_at = fields.String()
    amount = fields.Nested(MoneySchema)
    reason = fields.String()


class InvoiceOut(InvoiceSummaryOut):
    customer = fields.Dict(metadata={"description": "Name, client id and billing address as on the invoice date."})
    terms = fields.String()
    notes = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(InvoiceLineOut))
    taxes = fields.List(fields.Nested(TaxOut))
    payments = fields.List(fields.Nested(InvoicePaymentOut))
    credit_notes = fields.List(fields.Nested(CreditNoteOut))


# --- payments ---------------------------------------------------------------------------------------
def _not_a_card_number(value: str) -> None:
    from services.billing.providers.base import looks_like_card_number

    if looks_like_card_number(value):
        # Refused before anything is stored or logged: card numbers never enter the platform.
        raise ValidationError("Send the card token from the payment form, never a card number.")


def card_token(description: str) -> fields.String:
    """A card processor's token field: never a card number (refused before anything is kept)."""
    return fields.String(load_default=None, validate=[validate.Length(min=1, max=100), _not_a_card_number],
                         metadata={"description": description})


class CardChoice(StrictSchema):
    """The card: a token from the payment form, or a saved card; and whether to save it."""
    payment_method = card_token("The card processor's token for the card (the test provider's `tok_visa`, "
                                "`tok_chargeDeclined`, `tok_threeDSecureRequired` ...); never a card number. "
                                "Give this or `saved_method_id`.")
    saved_method_id = fields.String(load_default=None, validate=validate.Length(min=1, max=36), metadata={
        "description": "One of your saved cards (`GET /payment-methods`) instead of a token."})
    save_card = fields.Boolean(load_default=False, metadata={
        "description": "Keep this card for later payments and auto-pay (its token, brand, last 4 "
                       "digits and expiry only) once the payment succeeds."})

    @validates_schema
    def one_card(self, data, **_):
        if bool(data.get("payment_method")) == bool(data.get("saved_method_id")):
            raise ValidationError({"payment_method": ["Give the card token or saved_method_id (one of them)."]})


class PaymentIn(CardChoice):
    amount = DecimalString(required=True, validate=POSITIVE, metadata={"example": "120.00"})
    currency = fields.String(load_default=None, validate=CURRENCY)


class SeveralPaymentIn(CardChoice):
    invoice_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), required=True,
                              validate=validate.Length(min=1, max=100),
                              metadata={"description": "The open invoices to pay, each in full (what it still owes)."})
    amount = DecimalString(load_default=None, validate=POSITIVE, metadata={
        "description": "The total you expect to pay: refused (409) if the invoices owe another sum by now."})


class ConfirmIn(StrictSchema):
    challenge_response = fields.String(required=True, validate=validate.Length(min=1, max=200),
                                       metadata={"description": "The 3-D Secure answer (test provider: `pass` or `fail`)."})


class OfflinePaymentIn(StrictSchema):
    amount = DecimalString(required=True, validate=POSITIVE)
    currency = fields.String(load_default=None, validate=CURRENCY)
    method = fields.String(required=True, validate=validate.OneOf(["bank_transfer", "cheque", "cash"]))
    reference = fields.String(load_default=None, validate=validate.Length(max=100))
    received_at = fields.AwareDateTime(load_default=None)
    excess_to_credit = fields.Boolean(load_default=False, metadata={
        "description": "An overpayment: what is more than the invoice owes becomes account credit "
                       "instead of being refused."})


class RefundIn(StrictSchema):
    amount = DecimalString(required=True, validate=POSITIVE)
    reason = fields.String(load_default=None, validate=validate.Length(max=2000))


PAYMENT_STATUSES = ["pending", "processing", "requires_action", "succeeded", "failed"]


class PaymentListArgs(ListArgs):
    status = Several(fields.String(validate=validate.OneOf(PAYMENT_STATUSES)), load_default=None)
    invoice_id = fields.String(load_default=None)
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(["created_at", "-created_at"]))


class PaymentOut(Schema):
    id = fields.String()
    invoice_id = fields.String()
    customer_id = fields.String()
    amount = fields.Nested(MoneySchema)
    method = fields.String()
    status = fields.String(metadata={"description": "pending, processing, requires_action, succeeded or failed"})
    card = fields.Dict(allow_none=True, metadata={"description": "`{brand, last4}` only."})
    next_action = fields.Dict(allow_none=True, metadata={"description": "What the customer must do (3-D Secure)."})
    failure_code = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    refunded = fields.Nested(MoneySchema)
    received_at = fields.String(allow_none=True)
    created_at = fields.String()


class SeveralPaymentOut(Schema):
    batch_id = fields.String(allow_none=True)
    payment_id = fields.String(metadata={"description": "Answer 3-D Secure for the whole payment at "
                                                        "`/payments/{payment_id}/confirm`."})
    status = fields.String(metadata={"description": "One for all: pending, processing, requires_action, succeeded or failed"})
    amount = fields.Nested(MoneySchema, metadata={"description": "The total charged."})
    card = fields.Dict(allow_none=True)
    next_action = fields.Dict(allow_none=True)
    failure_code = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    payments = fields.List(fields.Nested(PaymentOut), metadata={"description": "One per invoice."})


class SavedMethodOut(Schema):
    id = fields.String()
    brand = fields.String(allow_none=True)
    last4 = fields.String(allow_none=True)
    exp_month = fields.Integer(allow_none=True)
    exp_year = fields.Integer(allow_none=True)
    expiry = fields.String(allow_none=True, metadata={"example": "12/28"})
    label = fields.String(metadata={"example": "Visa ending 4242"})
    is_default = fields.Boolean()
    created_at = fields.String()


class SavedMethodListOut(Schema):
    items = fields.List(fields.Nested(SavedMethodOut))


class DeletedOut(Schema):
    id = fields.String()
    deleted = fields.Boolean()


class AutoPayIn(StrictSchema):
    enabled = fields.Boolean(required=True)
    payment_method_id = fields.String(load_default=None, validate=validate.Length(min=1, max=36), metadata={
        "description": "The saved card to charge (default: the one chosen before, else your default card)."})


class AutoPayFailureOut(Schema):
    payment_id = fields.String()
    invoice_id = fields.String()
    amount = fields.Nested(MoneySchema)
    failure_code = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    at = fields.String()


class AutoPayOut(Schema):
    enabled = fields.Boolean()
    payment_method = fields.Nested(SavedMethodOut, allow_none=True)
    recent_failures = fields.List(fields.Nested(AutoPayFailureOut))


# --- quotes -------------------------------------------------------------------------------------------
QUOTE_FILTERS = ["requested", "sent", "changes_requested", "accepted", "booked", "rejected", "expired"]


class QuoteRequestIn(StrictSchema):
    order = fields.Nested(OrderFields, required=True, metadata={
        "description": "The order to price, as you would create it (stops, items, kind, times)."})
    order_id = fields.String(load_default=None, validate=validate.Length(max=36), metadata={
        "description": "Your draft this quote is for: accepting the quote books that draft."})
    message = fields.String(load_default=None, validate=validate.Length(max=2000))
    customer_id = fields.String(load_default=None, metadata={"description": "Operator staff: for whom."})


class QuoteListArgs(ListArgs):
    status = Several(fields.String(validate=validate.OneOf(QUOTE_FILTERS)), load_default=None,
                         metadata={"description": "Repeat for several; `booked` = accepted."})
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(
        [f"{d}{c}" for c in ("created_at", "valid_until", "number", "total") for d in ("", "-")]))


class QuoteSendIn(StrictSchema):
    lines = fields.List(fields.Nested(PriceLineIn), load_default=None, validate=validate.Length(max=200),
                        metadata={"description": "The quote's lines when not the rate card's price."})
    currency = fields.String(load_default=None, validate=CURRENCY)
    valid_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=365))
    valid_until = fields.AwareDateTime(load_default=None)
    note = fields.String(load_default=None, validate=validate.Length(max=2000))
    deposit_amount = DecimalString(load_default=None, validate=POSITIVE, metadata={
        "description": "A deposit the customer pays by card when signing (at most the total)."})
    deposit_percent = DecimalString(load_default=None, validate=validate.Range(min=0, max=100, min_inclusive=False), metadata={
        "description": "The deposit as a percent of the total (instead of `deposit_amount`)."})
    require_signature = fields.Boolean(load_default=True, metadata={
        "description": "The customer accepts only with a signature (`POST /quotes/{id}/sign`); false also "
                       "allows a plain `POST /quotes/{id}/accept` (a partner's system by API key, say). A "
                       "quote with a deposit is always signed."})

    @validates_schema
    def one_deposit(self, data, **_):
        if data.get("deposit_amount") is not None and data.get("deposit_percent") is not None:
            raise ValidationError({"deposit_amount": ["Give the deposit as an amount or a percent, not both."]})


class RejectIn(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)


class ChangesIn(StrictSchema):
    message = fields.String(required=True, validate=TEXT)
    order = fields.Nested(OrderFields, load_default=None)


class QuoteHistoryOut(Schema):
    at = fields.String()
    action = fields.String()
    revision = fields.Integer()
    by = fields.String()
    note = fields.String(allow_none=True)
    total = fields.Nested(MoneySchema, allow_none=True)
    valid_until = fields.String(allow_none=True)


class QuoteOut(Schema):
    id = fields.String()
    number = fields.String()
    customer_id = fields.String()
    status = fields.String()
    revision = fields.Integer()
    order_id = fields.String(allow_none=True)
    order = fields.Dict()
    message = fields.String(allow_none=True)
    price = fields.Nested(PriceOut, allow_none=True)
    total = fields.Nested(MoneySchema, allow_none=True)
    valid_until = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = fields.String()
    sent_at = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    booked = fields.Boolean()
    deposit = fields.Nested(MoneySchema, allow_none=True, metadata={
        "description": "Paid by card when the quote is signed (`POST /quotes/{id}/sign`)."})
    require_signature = fields.Boolean(metadata={
        "description": "Accepted only by signing (`POST /quotes/{id}/sign`), not by `POST /quotes/{id}/accept`."})
    history = fields.List(fields.Nested(QuoteHistoryOut))


class SignIn(SignatureIn):
    """Sign and accept a sent quote (services/billing/signatures.py); the document is the quote's
    PDF (`GET /quotes/{id}/document`): a quote sent again since is refused (409)."""
    payment_method = card_token(
        "When the quote asks for a deposit: the card processor's token for the card "
        "(the test provider's `tok_visa` ...), never a card number. Declined: 402, "
        "and the quote stays unaccepted.")


class QuoteSignatureOut(SignatureOut):
    quote_id = fields.String()
    revision = fields.Integer()
    deposit = fields.Nested(MoneySchema, allow_none=True, metadata={
        "description": "The deposit charged when signing: kept as account credit, used on the next invoices."})
    card = fields.Dict(allow_none=True, metadata={"description": "The card charged: brand and last 4 digits."})


class QuoteDocumentOut(Schema):
    quote_id = fields.String()
    revision = fields.Integer()
    sha256 = fields.String(metadata={"description": "SHA-256 of the PDF (`GET /quotes/{id}/document.pdf`)."})
    size = fields.Integer()
    signature = fields.Nested(QuoteSignatureOut, allow_none=True)


class PricePreviewIn(StrictSchema):
    customer_id = fields.String(load_default=None)
    order = fields.Nested(OrderFields, required=True)


class PricePreviewOut(Schema):
    price = fields.Nested(PriceOut, allow_none=True)


class RateCardListArgs(PageArgs):
    customer_id = fields.String(load_default=None)
    active = fields.Boolean(load_default=None)


# --- statements and the summary ----------------------------------------------------------------------
class StatementEntryOut(Schema):
    date = fields.String()
    kind = fields.String(metadata={"description": "invoice, payment, credit_note or refund"})
    reference = fields.String()
    description = fields.String()
    invoice_id = fields.String()
    debit = fields.Nested(MoneySchema, allow_none=True)
    credit = fields.Nested(MoneySchema, allow_none=True)
    balance = fields.Nested(MoneySchema)


class StatementOut(Schema):
    customer = fields.Dict()
    currency = fields.String()
    from_ = fields.String(data_key="from")
    to = fields.String()
    generated_at = fields.String()
    opening_balance = fields.Nested(MoneySchema)
    closing_balance = fields.Nested(MoneySchema)
    entries = fields.List(fields.Nested(StatementEntryOut))
    totals = fields.Dict()


class LastPaymentOut(Schema):
    amount = fields.Nested(MoneySchema)
    date = fields.String()
    invoice_id = fields.String()


class SummaryOut(Schema):
    customer_id = fields.String()
    currency = fields.String()
    current_balance = fields.Nested(MoneySchema)
    overdue = fields.Nested(MoneySchema)
    open_invoices = fields.Integer()
    overdue_invoices = fields.Integer()
    last_payment = fields.Nested(LastPaymentOut, allow_none=True)
    credit_balance = fields.Nested(MoneySchema, metadata={
        "description": "Account credit not used yet: it pays the next invoices as they are issued."})


class SummaryArgs(StrictSchema):
    customer_id = fields.String(load_default=None)
