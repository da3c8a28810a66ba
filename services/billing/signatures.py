"""Sign and accept: a customer accepts a sent quote with an electronic signature.

The document signed is the PDF of the quote's current revision, rendered once and kept with its
SHA-256 (``QuoteDocument``); the customer is shown that hash with the PDF and sends it back with
the signature, so a quote sent again (a new revision, a new document) cannot be accepted against
what was shown before (409). The signature record keeps the typed full name, the drawn signature
(a PNG, size-limited and checked to be one), who signed, when, and a coarse origin: the
caller's IP network (/24 for IPv4, /48 for IPv6) and browser family - never the full address or
user-agent string. Those checks are services/common/esign.py's, shared with the operator's terms
and rental contracts.
"""
from __future__ import annotations

import hashlib
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ROLES, PAYERS, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.esign import pdf_file, signer
from services.common.errors import Conflict, Forbidden, NotFound, PaymentDeclined, ServiceUnavailable, ValidationFailed
from services.common.money import from_minor, wire_minor
from services.common.scoping import get_owned
from services.billing import accounts, ledger, payments, quotes
from services.billing.models import Quote, QuoteDocument, QuoteSignature, new_id
from services.billing.providers.base import ProviderError, ProviderTimeout, ProviderUnavailable

Render = Callable[[dict, dict, dict | None], bytes]


def _owned_quote(session: Session, caller: CallerContext, quote_id: str, lock: bool = False) -> Quote:
    return get_owned(session, caller, Quote, quote_id, "quote", lock=lock)


def document_view(quote: Quote, caller: CallerContext) -> dict:
    """A quote as its PDF shows it: the reader's view plus the customer's billing details."""
    return quotes.view(quote, caller, history=False)


def pdf_view(session: Session, quote: Quote, caller: CallerContext) -> dict:
    account = accounts.get(session, quote.customer_id)
    return {**document_view(quote, caller), "customer": {
        "name": account.name, "client_id": account.client_id, "billing_address": account.billing_address}}


def _document_row(session: Session, quote: Quote) -> QuoteDocument | None:
    return session.scalar(select(QuoteDocument).where(QuoteDocument.quote_id == quote.id,
                                                      QuoteDocument.revision == quote.revision))


def document(uow: UnitOfWork, caller: CallerContext, quote_id: str, render: Render, branding: dict) -> QuoteDocument:
    """The PDF of the quote's current revision (a sent quote only), rendered the first time it
    is asked for and kept: the same bytes, and the same hash, every time after."""
    quote = _owned_quote(uow.session, caller, quote_id)
    if quote.revision < 1:
        raise Conflict(f"Quote {quote.number} has not been sent yet: there is no document to sign.",
                       {"status": quote.status})
    found = _document_row(uow.session, quote)
    if found is not None:
        return found
    content = render(pdf_view(uow.session, quote, caller), branding, None)
    row = QuoteDocument(quote_id=quote.id, revision=quote.revision, sha256=hashlib.sha256(content).hexdigest(),
                        content=content, created_at=utcnow())
    try:
        with uow.session.begin_nested():
            uow.session.add(row)
    except IntegrityError:      # rendered at the same moment by another call: theirs stands
        return _document_row(uow.session, quote)
    return row


def sign(uow: UnitOfWork, caller: CallerContext, quote_id: str, data: dict, origin: dict) -> dict:
    """Accept a sent quote with a signature given against ``document_sha256``, the hash of the
    document shown (GET the quote's document first). 409 when the quote changed since (another
    revision), was never shown as a document, or is no longer open to acceptance."""
    caller.require(*CUSTOMER_ROLES)
    quote = _owned_quote(uow.session, caller, quote_id, lock=True)
    quotes.check_acceptable(quote)
    shown = _document_row(uow.session, quote)
    if shown is None or shown.sha256 != data["document_sha256"]:
        raise Conflict(f"Quote {quote.number} has changed since this document was shown (it is now revision "
                       f"{quote.revision}): read the current document and sign that.",
                       {"revision": quote.revision, "document_sha256": shown.sha256 if shown else None})
    signed = signer(data, origin)
    record = QuoteSignature(id=new_id(), quote_id=quote.id, customer_id=quote.customer_id, revision=quote.revision,
                            document_sha256=shown.sha256, signed_by=caller.user_id, signed_at=utcnow(), **signed)
    full_name = signed["full_name"]
    if quote.deposit_minor:
        if caller.role not in PAYERS:
            raise Forbidden(f"Quote {quote.number} asks for a deposit, and paying is for your company's "
                            "administrators: ask one of them to sign it.", {"reason": "payer_required"})
        _pay_deposit(uow, quote, record, data.get("payment_method"))
    uow.session.add(record)
    return quotes.accepted(uow, caller, quote, f"Signed by {full_name}", document_sha256=shown.sha256)


def _pay_deposit(uow: UnitOfWork, quote: Quote, record: QuoteSignature, token: str | None) -> None:
    """Accept, sign and pay: charge the quote's deposit before anything is kept. All or nothing:
    a declined card (402), a card asking for 3-D Secure or a processor that does not answer
    (409/503) raise, and the transaction (signature, acceptance) is rolled back. A repeat with
    the same card replays the processor's first answer (the idempotency key is the quote's
    revision and the card token), so a retry after a lost answer never charges twice.

    Paid, the deposit is account credit (a ledger ``account_credit`` row): the next invoices
    issued to the customer, the booked order's among them, use it first (account_credit.py)."""
    amount = wire_minor(quote.deposit_minor, quote.currency)
    if not token:
        raise ValidationFailed.of({"payment_method": [
            f"This quote asks for a deposit of {amount['amount']} {amount['currency']}: give the card to pay it."]})
    key = f"quote-deposit-{quote.id}-r{quote.revision}-{hashlib.sha256(token.encode()).hexdigest()[:16]}"
    processor = payments.provider(uow)
    try:
        intent = processor.charge(amount=from_minor(quote.deposit_minor, quote.currency), currency=quote.currency,
                                  payment_method=token, idempotency_key=key,
                                  description=f"Deposit on quote {quote.number}",
                                  metadata={"quote_id": quote.id, "customer_id": quote.customer_id})
    except (ProviderTimeout, ProviderUnavailable):
        raise ServiceUnavailable("The card processor did not answer: nothing was accepted. Try again "
                                 "(the same card is not charged twice).") from None
    except ProviderError as exc:
        raise PaymentDeclined("The deposit could not be charged: the quote is not accepted.",
                              {"decline_code": getattr(exc, "code", "provider_error")}) from None
    if intent.status == "declined":
        raise PaymentDeclined(f"{intent.failure_message or 'The card was declined.'} The quote is not accepted.",
                              {"decline_code": intent.failure_code})
    if intent.status != "succeeded":
        if intent.status == "requires_action":
            processor.cancel(intent.id)
            raise Conflict("This card asks for 3-D Secure, which signing cannot complete yet: pay the deposit "
                           "with another card. Nothing was charged or accepted.", {"decline_code": "requires_action"})
        raise ServiceUnavailable("The card processor is still working on the deposit: nothing was accepted. "
                                 "Try again in a moment (the same card is not charged twice).")
    record.deposit_minor, record.deposit_provider_ref, record.deposit_card = quote.deposit_minor, intent.id, intent.card
    ledger.post(uow.session, customer_id=quote.customer_id, currency=quote.currency, kind="account_credit",
                amount_minor=quote.deposit_minor, invoice_id="", source_id=record.id, reference=quote.number,
                description=f"Deposit paid on quote {quote.number}", occurred_at=record.signed_at)


def record(session: Session, caller: CallerContext, quote_id: str) -> QuoteSignature:
    quote = _owned_quote(session, caller, quote_id)
    found = session.scalar(select(QuoteSignature).where(QuoteSignature.quote_id == quote.id))
    if found is None:
        raise NotFound(f"Quote {quote.number} has not been signed.")
    return found


def signature(session: Session, caller: CallerContext, quote_id: str) -> dict:
    found = record(session, caller, quote_id)
    return signature_view(found, session.get(Quote, found.quote_id).currency)


def signature_view(found: QuoteSignature, currency: str | None) -> dict:
    return {"quote_id": found.quote_id, "revision": found.revision, "document_sha256": found.document_sha256,
            "full_name": found.full_name, "signed_by": found.signed_by, "signed_at": found.signed_at.isoformat(),
            "origin_network": found.origin_network, "user_agent": found.user_agent,
            "deposit": wire_minor(found.deposit_minor, currency) if found.deposit_minor and currency else None,
            "card": found.deposit_card}


def document_info(uow: UnitOfWork, caller: CallerContext, quote_id: str, render: Render, branding: dict) -> dict:
    """What the sign dialog needs: the revision and hash of the document to sign, and the
    signature once there is one."""
    row = document(uow, caller, quote_id, render, branding)
    signed = uow.session.scalar(select(QuoteSignature).where(QuoteSignature.quote_id == row.quote_id))
    return {"quote_id": row.quote_id, "revision": row.revision, "sha256": row.sha256, "size": len(row.content),
            "signature": signature_view(signed, uow.session.get(Quote, row.quote_id).currency) if signed else None}


def signed_pdf(session: Session, caller: CallerContext, quote_id: str, render: Render, branding: dict) -> dict:
    """The document as signed: the quote (accepted, so at the signed revision) with the signature
    block, which carries the hash of the document signed. Re-rendered on demand."""
    found = record(session, caller, quote_id)
    quote = _owned_quote(session, caller, quote_id)
    content = render(pdf_view(session, quote, caller), branding, {**signature_view(found, quote.currency), "png": found.signature_png})
    return pdf_file(f"quote-{quote.number}-signed.pdf", content)


def document_file(uow: UnitOfWork, caller: CallerContext, quote_id: str, render: Render, branding: dict) -> dict:
    row = document(uow, caller, quote_id, render, branding)
    number = uow.session.get(Quote, row.quote_id).number
    return pdf_file(f"quote-{number}-r{row.revision}.pdf", row.content)
