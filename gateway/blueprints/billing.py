"""Billing: the account summary, statements, quotes, invoices and payments.

Customers see their own account only. Operator staff use the same reading routes with
``customer_id`` (a customer sending someone else's id gets 404, like any unknown id); what only
staff do (rate cards, sending quotes, issuing invoices, offline payments, refunds, credit notes)
lives under ``/admin``."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, operator, requires
from gateway.files import send_rpc_file, signer_origin
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, OPERATOR_ADMIN, OPERATOR_ROLES, PAYERS
from services.common.schemas import page_of
from services.billing.rate_card_schemas import RateCardIn, RateCardOut
from services.billing.schemas import (AutoPayIn, AutoPayOut, ChangesIn, ConfirmIn, CreditNoteIn,
                                      DateRangeArgs, DeletedOut, InvoiceIn, FileArgs, StatementFileArgs,
                                      InvoiceListArgs, InvoiceOut, InvoiceSummaryOut,
                                      OfflinePaymentIn, PaymentIn, PaymentListArgs, PaymentOut,
                                      PricePreviewIn, PricePreviewOut, QuoteDocumentOut, QuoteListArgs, QuoteOut,
                                      QuoteRequestIn, QuoteSendIn, RateCardListArgs, RefundIn,
                                      RejectIn, SavedMethodListOut, SavedMethodOut, SeveralPaymentIn, QuoteSignatureOut, SignIn,
                                      SeveralPaymentOut, StatementOut, SummaryArgs, SummaryOut)

blp = Blueprint("billing", __name__, url_prefix="/api/v1",
                description="Billing: account summary, statements, quotes, invoices, payments; "
                            "rate cards and invoicing for operator staff.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))
CUSTOMER_ADMINS = (CUSTOMER_ADMIN,)
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
IDEMPOTENCY = [{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string", "maxLength": 128},
                "description": "Repeat the request safely: the same key returns the first answer and "
                               "charges, issues or records nothing twice (also when the two arrive at once)."}]
PDF_TIMEOUT = 60.0      # a statement of thousands of entries takes seconds to lay out


def billing(method: str, *args, **kwargs):
    return client().call("billing", method, *args, caller=caller(), **kwargs)


def _key() -> str | None:
    return request.headers.get("Idempotency-Key")


# --- account and statements ---------------------------------------------------------------------
@blp.route("/account/summary", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(SummaryArgs, location="query")
@blp.response(200, SummaryOut)
def summary(_args):
    """Your current balance, what is overdue, how many invoices are open, and your last payment."""
    return answer(billing("account_summary", query_args()))


@blp.route("/statements", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(DateRangeArgs, location="query")
@blp.response(200, StatementOut)
def statement(_args):
    """A statement for `from`..`to` (days, inclusive; default this month): opening balance,
    every invoice, payment, credit note and refund in order with the running balance, closing balance."""
    return answer(billing("statement", query_args()))


@blp.route("/statements.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(StatementFileArgs, location="query")
@blp.response(200, description="The statement as a PDF.")
def statement_pdf(_args):
    """The same statement as a PDF to print or keep (`download=1`: as an attachment)."""
    args = query_args()
    inline = args.pop("download", None) != "1"
    return send_rpc_file(billing("statement_pdf", args, timeout=PDF_TIMEOUT), inline=inline)


@blp.route("/statements.csv", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(DateRangeArgs, location="query")
@blp.response(200, description="The statement as CSV (UTF-8, one row per entry).")
def statement_csv(_args):
    """The same statement as CSV for a spreadsheet (no cell is ever a formula)."""
    return send_rpc_file(billing("statement_csv", query_args(), timeout=PDF_TIMEOUT))


# --- quotes ------------------------------------------------------------------------------------
@blp.route("/quotes", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(QuoteListArgs, location="query")
@blp.response(200, page_of(QuoteOut))
def list_quotes(_args):
    """Your quotes, newest first: filter by `status` (requested, sent, changes_requested, accepted
    or booked, rejected, expired; repeat for several) and by the day asked (`from`, `to`)."""
    return answer(billing("list_quotes", query_args()))


@blp.route("/quotes", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(QuoteRequestIn)
@blp.response(201, QuoteOut)
@blp.doc(parameters=IDEMPOTENCY)
def request_quote(_payload):
    """Ask for a quote: describe the order (as for `POST /orders`), name your draft in `order_id`
    if there is one, add a message. The operator prices it and sends it back."""
    return answer(billing("request_quote", request.get_json(), idempotency_key=_key()), 201)


@blp.route("/quotes/<string:quote_id>", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, QuoteOut)
def get_quote(quote_id):
    """One quote with its price, validity and history (every request, revision and answer)."""
    return answer(billing("get_quote", quote_id))


@blp.route("/quotes/<string:quote_id>/accept", methods=["POST"])
@requires(*CUSTOMERS)
@blp.response(200, QuoteOut)
def accept_quote(quote_id):
    """Accept a sent quote: it becomes a booking at the quoted price (409 once it has expired)."""
    return answer(billing("accept_quote", quote_id))


@blp.route("/quotes/<string:quote_id>/document", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, QuoteDocumentOut)
@blp.doc(responses={"409": {"description": "The quote has not been sent yet: there is no document."}})
def quote_document(quote_id):
    """The document to sign: the revision and SHA-256 of the quote's PDF (the same bytes every
    time for a revision), and the signature once signed."""
    return answer(billing("quote_document", quote_id, timeout=PDF_TIMEOUT))


@blp.route("/quotes/<string:quote_id>/document.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="The quote's current revision as a PDF: the document to sign.")
@blp.doc(responses={"409": {"description": "The quote has not been sent yet: there is no document."}})
def quote_document_pdf(args, quote_id):
    """The quote as a PDF, exactly the bytes whose `sha256` `GET /quotes/{id}/document` gives
    (`download=1`: as an attachment)."""
    return send_rpc_file(billing("quote_document_pdf", quote_id, timeout=PDF_TIMEOUT), inline=args.get("download") != "1")


@blp.route("/quotes/<string:quote_id>/sign", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(SignIn)
@blp.response(200, QuoteOut)
@blp.doc(responses={
    "402": {"description": "The deposit's card was declined (`details.decline_code`): nothing is accepted."},
    "409": {"description": "The quote changed since the document was shown (`details.revision`, "
                          "`details.document_sha256`), has expired, is not open to acceptance, or the "
                          "deposit's card asks for 3-D Secure."},
    "503": {"description": "The card processor did not answer: nothing is accepted; retry (no double charge)."}})
def sign_quote(_payload, quote_id):
    """Sign and accept a sent quote: your full name, your drawn signature (PNG) and the `sha256`
    of the document you were shown. Kept with who signed, when, your IP network (/24, /48) and
    browser family; the quote becomes a booking. When the quote asks for a deposit, give the
    card (`payment_method`): it is charged in the same step, all or nothing, and kept as account
    credit that the next invoices (the order's) use first."""
    return answer(billing("sign_quote", quote_id, request.get_json(), signer_origin()))


@blp.route("/quotes/<string:quote_id>/signature", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, QuoteSignatureOut)
def quote_signature(quote_id):
    """The signature a quote was accepted with (404 when it was not signed)."""
    return answer(billing("quote_signature", quote_id))


@blp.route("/quotes/<string:quote_id>/signed.pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="The signed quote as a PDF.")
def signed_quote_pdf(args, quote_id):
    """The quote as signed: its pages and the signature block (name, drawn signature, time,
    origin, the SHA-256 of the document signed). 404 when it was not signed."""
    return send_rpc_file(billing("signed_quote_pdf", quote_id, timeout=PDF_TIMEOUT), inline=args.get("download") != "1")


@blp.route("/quotes/<string:quote_id>/reject", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(RejectIn)
@blp.response(200, QuoteOut)
def reject_quote(_payload, quote_id):
    """Say no to a quote, with the reason."""
    return answer(billing("reject_quote", quote_id, request.get_json()))


@blp.route("/quotes/<string:quote_id>/request-changes", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(ChangesIn)
@blp.response(200, QuoteOut)
def request_changes(_payload, quote_id):
    """Ask for changes to a sent quote (what you want, and optionally the order as it is now):
    the operator sends a new revision; the history keeps the old one."""
    return answer(billing("request_quote_changes", quote_id, request.get_json()))


# --- invoices and payments ---------------------------------------------------------------------
@blp.route("/invoices", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(InvoiceListArgs, location="query")
@blp.response(200, page_of(InvoiceSummaryOut))
def list_invoices(_args):
    """Your invoices, newest first: filter by `status` (`open` = anything outstanding,
    `partially_paid`, `overdue`, `paid`, `credited`), issue day (`from`, `to`) or `order_id`."""
    return answer(billing("list_invoices", query_args()))


@blp.route("/invoices/<string:invoice_id>", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, InvoiceOut)
def get_invoice(invoice_id):
    """One invoice: lines, taxes per rate, payments, credit notes, what is outstanding, terms and due date."""
    return answer(billing("get_invoice", invoice_id))


@blp.route("/invoices/<string:invoice_id>/pdf", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="The invoice as a PDF.")
def invoice_pdf(args, invoice_id):
    """The invoice to print: breakdown, payment history, outstanding balance, terms, due date
    (`download=1`: as an attachment)."""
    return send_rpc_file(billing("invoice_pdf", invoice_id, timeout=PDF_TIMEOUT), inline=args.get("download") != "1")


@blp.route("/invoices/<string:invoice_id>/payments", methods=["POST"])
@requires(*PAYERS)
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
@blp.doc(parameters=IDEMPOTENCY, responses={"402": {"description": "The card was declined (`details.decline_code`)."}})
def pay(_payload, invoice_id):
    """Pay an invoice by card, in whole or in part, with the processor's card token. Answers the
    payment: `succeeded`, `requires_action` (3-D Secure: answer it at `/payments/{id}/confirm`)
    or `processing` (the processor is slow; it settles shortly). 402 when declined; 409 when the
    amount is more than what is outstanding."""
    return answer(billing("pay_invoice", invoice_id, request.get_json(), idempotency_key=_key(),
                          timeout=30.0), 201)


@blp.route("/payments", methods=["POST"])
@requires(*PAYERS)
@blp.arguments(SeveralPaymentIn)
@blp.response(201, SeveralPaymentOut)
@blp.doc(parameters=IDEMPOTENCY, responses={
    "402": {"description": "The card was declined (`details.decline_code`): no invoice was paid."},
    "404": {"description": "An invoice is not yours or does not exist (`details.invoice_ids`)."},
    "409": {"description": "An invoice is already paid or being paid, or the total is not `amount` (`details`)."}})
def pay_several(_payload):
    """Pay several open invoices at once: one card charge for what they owe together, allocated
    to each invoice (a payment of each). All or nothing: a declined card pays none of them."""
    return answer(billing("pay_invoices", request.get_json(), idempotency_key=_key(), timeout=30.0), 201)


@blp.route("/payments", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(PaymentListArgs, location="query")
@blp.response(200, page_of(PaymentOut))
def list_payments(_args):
    """Your payment history, newest first (filter by `invoice_id`, `status`, `from`, `to`)."""
    return answer(billing("list_payments", query_args()))


@blp.route("/payments/<string:payment_id>", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, PaymentOut)
def get_payment(payment_id):
    """One payment and where it stands."""
    return answer(billing("get_payment", payment_id))


@blp.route("/payments/<string:payment_id>/confirm", methods=["POST"])
@requires(*PAYERS)
@blp.arguments(ConfirmIn)
@blp.response(200, PaymentOut)
def confirm_payment(_payload, payment_id):
    """Answer the card's 3-D Secure check (402 if it fails)."""
    return answer(billing("confirm_payment", payment_id, request.get_json(), timeout=30.0))


@blp.route("/payments/provider-events/<string:provider>", methods=["POST"])
@blp.response(200, description="The notification was verified and applied.")
def provider_event(provider):
    """Notifications of the card processor (its webhooks), verified by their signature."""
    body = request.get_data(cache=False, as_text=True)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return answer(client().call("billing", "provider_event", body, headers))


# --- saved cards and auto-pay -------------------------------------------------------------------
@blp.route("/payment-methods", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, SavedMethodListOut)
def list_payment_methods():
    """Your saved cards (brand, last 4 digits, expiry; the default first): pay with one by its
    `id` as `saved_method_id`. A card is saved by paying with `save_card: true`."""
    return answer(billing("list_payment_methods"))


@blp.route("/payment-methods/<string:method_id>/default", methods=["POST"])
@requires(*CUSTOMER_ADMINS)
@blp.response(200, SavedMethodOut)
def set_default_payment_method(method_id):
    """Make a saved card the default (customer admins)."""
    return answer(billing("set_default_payment_method", method_id))


@blp.route("/payment-methods/<string:method_id>", methods=["DELETE"])
@requires(*CUSTOMER_ADMINS)
@blp.response(200, DeletedOut)
@blp.doc(responses={"409": {"description": "Auto-pay charges this card: change or turn off auto-pay first."}})
def delete_payment_method(method_id):
    """Forget a saved card (customer admins)."""
    return answer(billing("delete_payment_method", method_id))


@blp.route("/autopay", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, AutoPayOut)
def get_autopay():
    """Whether invoices are charged to a saved card as they are issued, which card, and the
    latest auto-pay charges that failed."""
    return answer(billing("get_autopay"))


@blp.route("/autopay", methods=["PUT"])
@requires(*CUSTOMER_ADMINS)
@blp.arguments(AutoPayIn)
@blp.response(200, AutoPayOut)
def update_autopay(_payload):
    """Turn auto-pay on (with a saved card: `payment_method_id`, default your default card) or
    off (customer admins). Account credit is used first; a failed charge leaves the invoice open."""
    return answer(billing("update_autopay", request.get_json()))


# --- operator staff ------------------------------------------------------------------------------
@blp.route("/admin/rate-cards", methods=["GET"])
@operator()
@blp.arguments(RateCardListArgs, location="query")
@blp.response(200, page_of(RateCardOut))
def list_rate_cards(_args):
    """Rate cards: each customer's own first, then the defaults."""
    return answer(billing("list_rate_cards", query_args()))


@blp.route("/admin/rate-cards", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(RateCardIn)
@blp.response(201, RateCardOut)
def create_rate_card(_payload):
    """A rate card: base fee, per km / kg / package / hour / day, minimum, surcharges (out of
    hours, weekend, percent, fixed) and tax rate; for one customer or the default, for one kind
    of order or all."""
    return answer(billing("create_rate_card", request.get_json()), 201)


@blp.route("/admin/rate-cards/<string:card_id>", methods=["GET"])
@operator()
@blp.response(200, RateCardOut)
def get_rate_card(card_id):
    """One rate card."""
    return answer(billing("get_rate_card", card_id))


@blp.route("/admin/rate-cards/<string:card_id>", methods=["PATCH"])
@operator(OPERATOR_ADMIN)
@blp.arguments(RateCardIn(partial=True))
@blp.response(200, RateCardOut)
def update_rate_card(_payload, card_id):
    """Change a rate card (orders priced before keep their price)."""
    return answer(billing("update_rate_card", card_id, request.get_json()))


@blp.route("/admin/prices/preview", methods=["POST"])
@operator()
@blp.arguments(PricePreviewIn)
@blp.response(200, PricePreviewOut)
def price_preview(_payload):
    """What an order would cost a customer at its rate card, line by line."""
    return answer(billing("price_preview", request.get_json()))


@blp.route("/admin/quotes", methods=["POST"])
@operator()
@blp.arguments(QuoteRequestIn)
@blp.response(201, QuoteOut)
@blp.doc(parameters=IDEMPOTENCY)
def open_quote(_payload):
    """Open a quote for a customer (`customer_id`), to price and send."""
    return answer(billing("request_quote", request.get_json(), idempotency_key=_key()), 201)


@blp.route("/admin/quotes/<string:quote_id>/send", methods=["POST"])
@operator()
@blp.arguments(QuoteSendIn)
@blp.response(200, QuoteOut)
def send_quote(_payload, quote_id):
    """Price a requested quote and send it: the rate card's price, or your `lines`; valid for
    `valid_days` or until `valid_until`."""
    return answer(billing("send_quote", quote_id, request.get_json()))


@blp.route("/admin/invoices", methods=["POST"])
@operator()
@blp.arguments(InvoiceIn)
@blp.response(201, InvoiceOut)
@blp.doc(parameters=IDEMPOTENCY)
def issue_invoice(_payload):
    """Issue an invoice: for a priced order (`order_id`) or with `lines`; numbered without gaps per year."""
    return answer(billing("issue_invoice", request.get_json(), idempotency_key=_key()), 201)


@blp.route("/admin/invoices/<string:invoice_id>/payments", methods=["POST"])
@operator()
@blp.arguments(OfflinePaymentIn)
@blp.response(201, PaymentOut)
@blp.doc(parameters=IDEMPOTENCY)
def record_payment(_payload, invoice_id):
    """Record a payment received offline (bank transfer, cheque, cash)."""
    return answer(billing("record_payment", invoice_id, request.get_json(), idempotency_key=_key()), 201)


@blp.route("/admin/invoices/<string:invoice_id>/credit-notes", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(CreditNoteIn)
@blp.response(201, InvoiceOut)
def credit_invoice(_payload, invoice_id):
    """Correct an invoice with a credit note (at most what is outstanding; refund first to
    correct a paid one)."""
    return answer(billing("credit_invoice", invoice_id, request.get_json()), 201)


@blp.route("/admin/payments/<string:payment_id>/refunds", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(RefundIn)
@blp.response(201, PaymentOut)
@blp.doc(parameters=IDEMPOTENCY)
def refund(_payload, payment_id):
    """Pay (part of) a payment back: by card through the processor, or recorded for offline ones."""
    return answer(billing("refund_payment", payment_id, request.get_json(), idempotency_key=_key()), 201)
