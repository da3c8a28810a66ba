"""The billing service: entrypoints only; the rules live in the domain modules."""
from __future__ import annotations

import base64

from eventlet import tpool
from nameko.timer import timer

from services.common.caller import SERVICE, CallerContext
from services.common.config import env_float
from services.common.database import Database
from services.common.entrypoints import event_handler, rpc
from services.common.errors import ValidationFailed
from services.common.schemas import load
from services.common.service import PortalService
from services.billing import (accounts, autopay, batch_payments, branding, invoices, order_billing,
                              payments, quotes, rate_cards, saved_methods, signatures, statements)
from services.billing.models import Base
from services.billing.rate_card_schemas import RateCardIn
from services.billing.schemas import (AutoPayIn, ChangesIn, ConfirmIn, CreditNoteIn, DateRangeArgs,
                                      InvoiceIn, InvoiceListArgs, OfflinePaymentIn, PaymentIn,
                                      PaymentListArgs, PricePreviewIn, QuoteListArgs, QuoteRequestIn,
                                      QuoteSendIn, RateCardListArgs, RefundIn, RejectIn,
                                      SeveralPaymentIn, SignIn, SummaryArgs)

SYSTEM = CallerContext(role=SERVICE)


def _pdf(filename: str, render, view: dict, brand: dict) -> dict:
    """Lay out a PDF in a real thread (eventlet's tpool): seconds of pure-Python work for a long
    statement would otherwise hold eventlet's hub and starve the AMQP heartbeat (PITFALLS 10).
    RPC bodies are JSON, so the PDF travels base64-encoded; the gateway sends the bytes."""
    content = tpool.execute(render, view, brand)
    return {"filename": filename, "content_type": "application/pdf",
            "base64": base64.b64encode(content).decode()}


def _quote_renderer():
    """The quote PDF's renderer, run in a real thread (PITFALLS 10, as ``_pdf``)."""
    from services.billing.quote_pdf import render_quote

    return lambda *args: tpool.execute(render_quote, *args)


class Service(PortalService):
    name = "billing"
    db = Database(Base)

    # --- facts from other services ------------------------------------------------------------
    @event_handler("customer.created", "customer.updated")
    def keep_accounts(self, event: dict) -> None:
        accounts.apply_customer_event(self.db.session, event)

    @event_handler("branding.updated")
    def keep_branding(self, event: dict) -> None:
        branding.keep(self.db.session, event)

    @event_handler("order.submitted")
    def price_order(self, event: dict) -> None:
        order_billing.on_submitted(self.db, event)

    @event_handler("order.status_changed")
    def follow_order(self, event: dict) -> None:
        order_billing.on_status_changed(self.db, event)

    @event_handler("invoice.issued")
    def autopay_invoice(self, event: dict) -> None:
        autopay.on_invoice_issued(self.db, event)

    # --- account, statements ------------------------------------------------------------------
    @rpc
    def account_summary(self, args: dict | None = None) -> dict:
        return statements.summary(self.db.session, self.caller, load(SummaryArgs, args or {})["customer_id"])

    @rpc
    def statement(self, args: dict) -> dict:
        return statements.statement(self.db.session, self.caller, load(DateRangeArgs, args))

    @rpc
    def statement_csv(self, args: dict) -> dict:
        view = statements.statement(self.db.session, self.caller, load(DateRangeArgs, args))
        return {"filename": f"statement-{view['from']}-{view['to']}.csv", "content_type": "text/csv",
                "text": statements.as_csv(view)}

    @rpc
    def statement_pdf(self, args: dict) -> dict:
        from services.billing.statement_pdf import render_statement

        view = statements.statement(self.db.session, self.caller, load(DateRangeArgs, args))
        return _pdf(f"statement-{view['from']}-{view['to']}.pdf", render_statement, view,
                    branding.current(self.db.session))

    # --- invoices -----------------------------------------------------------------------------
    @rpc
    def list_invoices(self, args: dict) -> dict:
        return invoices.listing(self.db.session, self.caller, load(InvoiceListArgs, args))

    @rpc
    def get_invoice(self, invoice_id: str) -> dict:
        return invoices.get(self.db.session, self.caller, invoice_id)

    @rpc
    def invoice_pdf(self, invoice_id: str) -> dict:
        from services.billing.invoice_pdf import render_invoice

        view = invoices.get(self.db.session, self.caller, invoice_id)
        return _pdf(f"invoice-{view['number']}.pdf", render_invoice, view, branding.current(self.db.session))

    @rpc
    def issue_invoice(self, payload: dict, idempotency_key: str | None = None) -> dict:
        data = load(InvoiceIn, payload)
        self.caller.require_operator()

        def produce() -> dict:
            if data["lines"]:
                invoice = invoices.issue(self.db, self.caller, data["customer_id"], data["lines"],
                                         order_id=data["order_id"], due_date=data["due_date"],
                                         notes=data["notes"])
            elif data["order_id"]:
                invoice = order_billing.issue_for_order(self.db, self.caller, data["order_id"],
                                                        data["customer_id"], data["due_date"], data["notes"])
            else:
                raise ValidationFailed.of({"lines": ["Give the lines, or the order_id of a priced order."]})
            return invoices.view(self.db.session, invoice)

        return self.db.idempotent("issue_invoice", self.caller, idempotency_key, payload, produce)

    @rpc
    def credit_invoice(self, invoice_id: str, payload: dict) -> dict:
        data = load(CreditNoteIn, payload)
        return invoices.credit(self.db, self.caller, invoice_id, data["amount"], data["reason"],
                               data["excess_to_credit"])

    # --- payments -----------------------------------------------------------------------------
    @rpc
    def pay_invoice(self, invoice_id: str, payload: dict, idempotency_key: str | None = None) -> dict:
        return payments.pay(self.db, self.caller, invoice_id, load(PaymentIn, payload), idempotency_key)

    @rpc
    def pay_invoices(self, payload: dict, idempotency_key: str | None = None) -> dict:
        return batch_payments.pay_several(self.db, self.caller, load(SeveralPaymentIn, payload), idempotency_key)

    @rpc
    def confirm_payment(self, payment_id: str, payload: dict) -> dict:
        return payments.confirm(self.db, self.caller, payment_id, load(ConfirmIn, payload))

    @rpc
    def record_payment(self, invoice_id: str, payload: dict, idempotency_key: str | None = None) -> dict:
        data = load(OfflinePaymentIn, payload)
        # the invoice is part of the request: the same key and body for another invoice is a
        # different request (refused), not a replay of the first answer
        return self.db.idempotent("record_payment", self.caller, idempotency_key, {"invoice_id": invoice_id, **payload},
                                  lambda: payments.record_offline(self.db, self.caller, invoice_id, data))

    @rpc
    def refund_payment(self, payment_id: str, payload: dict, idempotency_key: str | None = None) -> dict:
        data = load(RefundIn, payload)
        return self.db.idempotent("refund_payment", self.caller, idempotency_key, {"payment_id": payment_id, **payload},
                                  lambda: payments.refund(self.db, self.caller, payment_id, data))

    @rpc
    def list_payments(self, args: dict) -> dict:
        return payments.listing(self.db.session, self.caller, load(PaymentListArgs, args))

    @rpc
    def get_payment(self, payment_id: str) -> dict:
        return payments.get(self.db.session, self.caller, payment_id)

    @rpc
    def provider_event(self, body: str, headers: dict) -> dict:
        """A webhook of the card processor; trusted by its signature alone."""
        return payments.provider_event(self.db, body.encode(), headers)

    # --- saved cards and auto-pay --------------------------------------------------------------
    @rpc
    def list_payment_methods(self) -> dict:
        return saved_methods.listing(self.db.session, self.caller)

    @rpc
    def set_default_payment_method(self, method_id: str) -> dict:
        return saved_methods.set_default(self.db.session, self.caller, method_id)

    @rpc
    def delete_payment_method(self, method_id: str) -> dict:
        return saved_methods.delete(self.db.session, self.caller, method_id)

    @rpc
    def get_autopay(self) -> dict:
        return autopay.get(self.db.session, self.caller)

    @rpc
    def update_autopay(self, payload: dict) -> dict:
        return autopay.update(self.db.session, self.caller, load(AutoPayIn, payload))

    # --- quotes -------------------------------------------------------------------------------
    @rpc
    def request_quote(self, payload: dict, idempotency_key: str | None = None) -> dict:
        load(QuoteRequestIn, payload)
        # Kept as the client wrote it (JSON-able); validated above with the orders API's schema.
        data = {**payload, "order": {k: v for k, v in payload["order"].items() if k not in ("submit", "customer_id")}}
        return self.db.idempotent("request_quote", self.caller, idempotency_key, payload,
                                  lambda: quotes.request(self.db, self.caller, data))

    @rpc
    def list_quotes(self, args: dict) -> dict:
        return quotes.listing(self.db.session, self.caller, load(QuoteListArgs, args))

    @rpc
    def get_quote(self, quote_id: str) -> dict:
        return quotes.get(self.db.session, self.caller, quote_id)

    @rpc
    def send_quote(self, quote_id: str, payload: dict) -> dict:
        return quotes.send(self.db, self.caller, quote_id, load(QuoteSendIn, payload))

    @rpc
    def accept_quote(self, quote_id: str) -> dict:
        return quotes.accept(self.db, self.caller, quote_id)

    @rpc
    def quote_document(self, quote_id: str) -> dict:
        """The revision and SHA-256 of the quote's PDF to sign (rendered and kept on first ask)."""
        return signatures.document_info(self.db, self.caller, quote_id, _quote_renderer(),
                                        branding.current(self.db.session))

    @rpc
    def quote_document_pdf(self, quote_id: str) -> dict:
        return signatures.document_file(self.db, self.caller, quote_id, _quote_renderer(),
                                        branding.current(self.db.session))

    @rpc
    def sign_quote(self, quote_id: str, payload: dict, origin: dict | None = None) -> dict:
        return signatures.sign(self.db, self.caller, quote_id, load(SignIn, payload), origin or {})

    @rpc
    def quote_signature(self, quote_id: str) -> dict:
        return signatures.signature(self.db.session, self.caller, quote_id)

    @rpc
    def signed_quote_pdf(self, quote_id: str) -> dict:
        return signatures.signed_pdf(self.db.session, self.caller, quote_id, _quote_renderer(),
                                     branding.current(self.db.session))

    @rpc
    def reject_quote(self, quote_id: str, payload: dict) -> dict:
        return quotes.reject(self.db, self.caller, quote_id, load(RejectIn, payload)["reason"])

    @rpc
    def request_quote_changes(self, quote_id: str, payload: dict) -> dict:
        load(ChangesIn, payload)
        return quotes.request_changes(self.db, self.caller, quote_id, payload)

    # --- rate cards and prices ----------------------------------------------------------------
    @rpc
    def list_rate_cards(self, args: dict) -> dict:
        return rate_cards.listing(self.db.session, self.caller, load(RateCardListArgs, args))

    @rpc
    def create_rate_card(self, payload: dict) -> dict:
        return rate_cards.create(self.db.session, self.caller, load(RateCardIn, payload))

    @rpc
    def get_rate_card(self, card_id: str) -> dict:
        return rate_cards.get(self.db.session, self.caller, card_id)

    @rpc
    def update_rate_card(self, card_id: str, payload: dict) -> dict:
        return rate_cards.update(self.db.session, self.caller, card_id, load(RateCardIn, payload, partial=True))

    @rpc
    def price_preview(self, payload: dict) -> dict:
        data = load(PricePreviewIn, payload)
        content = {k: v for k, v in payload["order"].items() if k not in ("submit", "customer_id")}
        return rate_cards.preview(self.db.session, self.caller, data["customer_id"], content)

    # --- jobs ---------------------------------------------------------------------------------
    @timer(interval=env_float("BILLING_RECONCILE_SECONDS"))
    def reconcile_payments(self) -> None:
        payments.reconcile(self.db)

    @timer(interval=env_float("BILLING_DAILY_JOBS_SECONDS"))
    def daily_jobs(self) -> None:
        """Overdue invoices announced, expired quotes marked (idempotent: safe at any interval,
        safe on several instances at once)."""
        invoices.mark_overdue(self.db)
        quotes.expire(self.db, SYSTEM)
