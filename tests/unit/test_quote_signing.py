"""Sign and accept (services/billing/signatures.py): a quote is accepted with a signature given
against the SHA-256 of the exact document shown; the signed PDF carries the signature block."""
import base64
import hashlib
import io

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader

from services.billing import account_credit
from services.common import esign
from services.common.caller import CUSTOMER_BOOKER
from services.common.errors import Conflict, Forbidden, NotFound, PaymentDeclined, ValidationFailed
from tests.unit import test_billing
from tests.unit.test_billing import OPERATOR, ORDER, call, customer, events, rate_card

factory = test_billing.factory      # the same fixture: a fresh SQLite billing database per test


def png(width=300, height=100, drawn=True, fmt="PNG") -> bytes:
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    if drawn:
        ImageDraw.Draw(image).line([(10, 80), (120, 20), (290, 70)], fill=(0, 0, 0, 255), width=3)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def sent_quote(factory):
    alice = customer(factory)
    rate_card(factory)
    quote = call(factory, alice, "request_quote", {"order": ORDER})
    call(factory, OPERATOR, "send_quote", quote["id"], {"valid_days": 7, "note": "Tail lift included"})
    return alice, quote["id"]


def sign_body(document, **extra):
    return {"full_name": "Alice  van Dijk", "signature_png": data_url(png()), "document_sha256": document["sha256"],
            **extra}


ORIGIN = {"ip": "203.0.113.77", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                                              "(KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0"}


def test_a_quote_is_signed_against_the_hash_of_the_pdf_shown_and_the_signed_pdf_shows_it(factory):
    alice, quote_id = sent_quote(factory)
    document = call(factory, alice, "quote_document", quote_id)
    pdf = base64.b64decode(call(factory, alice, "quote_document_pdf", quote_id)["base64"])
    # the hash is of the exact bytes served, and the same bytes are served every time
    assert document["sha256"] == hashlib.sha256(pdf).hexdigest() and document["signature"] is None
    assert base64.b64decode(call(factory, OPERATOR, "quote_document_pdf", quote_id)["base64"]) == pdf

    accepted = call(factory, alice, "sign_quote", quote_id, sign_body(document), ORIGIN)
    assert accepted["status"] == "accepted" and accepted["history"][-1]["note"] == "Signed by Alice van Dijk"
    [event] = events(factory, "quote.accepted")
    assert event["data"]["document_sha256"] == document["sha256"]

    record = call(factory, OPERATOR, "quote_signature", quote_id)   # the operator sees the record too
    assert record == {**record, "full_name": "Alice van Dijk", "signed_by": alice.user_id, "revision": 1,
                      "document_sha256": document["sha256"], "origin_network": "203.0.113.0/24",
                      "user_agent": "Edge"}
    assert call(factory, alice, "quote_document", quote_id)["signature"]["full_name"] == "Alice van Dijk"
    signed = call(factory, alice, "signed_quote_pdf", quote_id)
    assert signed["filename"].endswith("-signed.pdf")
    reader = PdfReader(io.BytesIO(base64.b64decode(signed["base64"])))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Alice van Dijk" in text and document["sha256"] in text and "203.0.113.0/24" in text
    assert any(page.images for page in reader.pages)        # the drawn signature is on it


def test_a_quote_sent_again_after_it_was_shown_cannot_be_signed_against_the_old_hash(factory):
    alice, quote_id = sent_quote(factory)
    shown = call(factory, alice, "quote_document", quote_id)
    call(factory, alice, "request_quote_changes", quote_id, {"message": "Cheaper?"})
    call(factory, OPERATOR, "send_quote", quote_id, {"lines": [
        {"description": "All in", "quantity": "1", "unit": "trip", "unit_price": "150.00", "tax_rate": "21"}]})
    with pytest.raises(Conflict) as refused:
        call(factory, alice, "sign_quote", quote_id, sign_body(shown), ORIGIN)
    assert refused.value.details["revision"] == 2
    current = call(factory, alice, "quote_document", quote_id)
    assert current["revision"] == 2 and current["sha256"] != shown["sha256"]
    assert call(factory, alice, "sign_quote", quote_id, sign_body(current), ORIGIN)["status"] == "accepted"
    with pytest.raises(Conflict):      # signed once: not again
        call(factory, alice, "sign_quote", quote_id, sign_body(current), ORIGIN)


def test_a_quote_not_shown_as_a_document_or_not_sent_cannot_be_signed(factory):
    alice = customer(factory)
    rate_card(factory)
    quote_id = call(factory, alice, "request_quote", {"order": ORDER})["id"]
    with pytest.raises(Conflict):
        call(factory, alice, "quote_document", quote_id)
    call(factory, OPERATOR, "send_quote", quote_id, {"valid_days": 7})
    with pytest.raises(Conflict):      # never shown: there is no document to have signed
        call(factory, alice, "sign_quote", quote_id, sign_body({"sha256": "0" * 64}), ORIGIN)


@pytest.mark.parametrize("bad", [
    b"GIF89a" + b"\0" * 40,                                   # not a PNG
    b"\x89PNG\r\n\x1a\n" + b"\0" * 40,                       # says PNG, is not one
    png(drawn=False),                                          # blank canvas
    png(width=2500),                                           # too many pixels
    b"\x89PNG\r\n\x1a\n" + b"\0" * (esign.MAX_SIGNATURE_BYTES + 1),   # too large
])
def test_the_drawn_signature_must_be_a_small_real_non_blank_png(bad):
    with pytest.raises(ValidationFailed):
        esign.check_png(bad)
    assert esign.check_png(png()) == png()


def test_a_signature_that_is_not_base64_or_a_name_of_spaces_is_refused(factory):
    alice, quote_id = sent_quote(factory)
    document = call(factory, alice, "quote_document", quote_id)
    for body in (sign_body(document, signature_png="not base64!"), sign_body(document, full_name="   ")):
        with pytest.raises(ValidationFailed):
            call(factory, alice, "sign_quote", quote_id, body, ORIGIN)
    assert call(factory, alice, "get_quote", quote_id)["status"] == "sent"


def test_only_the_customer_signs_its_own_quote_and_others_see_nothing(factory):
    alice, quote_id = sent_quote(factory)
    document = call(factory, alice, "quote_document", quote_id)
    bob = customer(factory, "Other Co", role=CUSTOMER_BOOKER)
    for method, args in (("quote_document", ()), ("quote_document_pdf", ()), ("quote_signature", ()),
                         ("signed_quote_pdf", ()), ("sign_quote", (sign_body(document), ORIGIN))):
        with pytest.raises(NotFound):
            call(factory, bob, method, quote_id, *args)
    with pytest.raises(Forbidden):              # the operator cannot sign for the customer
        call(factory, OPERATOR, "sign_quote", quote_id, sign_body(document), ORIGIN)
    with pytest.raises(NotFound):               # not signed yet
        call(factory, alice, "quote_signature", quote_id)


@pytest.mark.parametrize("address, network", [
    ("198.51.100.23", "198.51.100.0/24"), ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
    ("::ffff:192.0.2.9", "192.0.2.0/24"), ("not an address", None), (None, None)])
def test_only_the_callers_network_is_kept_not_its_address(address, network):
    assert esign.coarse_network(address) == network


@pytest.mark.parametrize("agent, family", [
    ("Mozilla/5.0 (Windows NT 10.0) Gecko/20100101 Firefox/133.0", "Firefox"),
    ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15", "Safari"),
    ("Mozilla/5.0 AppleWebKit/537.36 Chrome/131.0 Safari/537.36", "Chrome"), ("Lynx/2.9", "Other"), ("", None)])
def test_only_the_browser_family_is_kept(agent, family):
    assert esign.browser_family(agent) == family


def quote_with_deposit(factory, **deposit):
    alice = customer(factory)
    rate_card(factory)
    quote_id = call(factory, alice, "request_quote", {"order": ORDER})["id"]
    sent = call(factory, OPERATOR, "send_quote", quote_id, {"valid_days": 7, "lines": [
        {"description": "All in", "quantity": "1", "unit": "trip", "unit_price": "150.00", "tax_rate": "21"}],
        **deposit})
    return alice, quote_id, sent


def credit(factory, customer_id):
    with factory() as session:
        return account_credit.available(session, customer_id)


def test_accept_sign_and_pay_is_all_or_nothing_and_the_deposit_becomes_account_credit(factory):
    alice, quote_id, sent = quote_with_deposit(factory, deposit_percent="20")
    assert sent["deposit"] == {"amount": "36.30", "currency": "EUR"}          # 20% of 181.50
    document = call(factory, alice, "quote_document", quote_id)
    with pytest.raises(ValidationFailed):        # a deposit is asked for: no card, no acceptance
        call(factory, alice, "sign_quote", quote_id, sign_body(document), ORIGIN)
    with pytest.raises(PaymentDeclined):
        call(factory, alice, "sign_quote", quote_id, sign_body(document, payment_method="tok_chargeDeclined"), ORIGIN)
    with pytest.raises(Conflict):                # 3-D Secure cannot be completed in this step
        call(factory, alice, "sign_quote", quote_id, sign_body(document, payment_method="tok_threeDSecureRequired"),
             ORIGIN)
    assert call(factory, alice, "get_quote", quote_id)["status"] == "sent" and credit(factory, alice.customer_id) == 0
    with pytest.raises(NotFound):
        call(factory, alice, "quote_signature", quote_id)

    accepted = call(factory, alice, "sign_quote", quote_id, sign_body(document, payment_method="tok_visa"), ORIGIN)
    assert accepted["status"] == "accepted"
    record = call(factory, alice, "quote_signature", quote_id)
    assert record["deposit"] == {"amount": "36.30", "currency": "EUR"} and record["card"]["last4"] == "4242"
    assert credit(factory, alice.customer_id) == 3630
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(base64.b64decode(
        call(factory, alice, "signed_quote_pdf", quote_id)["base64"]))).pages)
    assert "Deposit paid" in text and "4242" in text


def test_a_deposit_is_an_amount_or_a_percent_and_never_more_than_the_total(factory):
    _, _, sent = quote_with_deposit(factory, deposit_amount="50.00")
    assert sent["deposit"]["amount"] == "50.00"
    for deposit in ({"deposit_amount": "200.00"}, {"deposit_amount": "10.00", "deposit_percent": "10"},
                    {"deposit_percent": "150"}):
        with pytest.raises(ValidationFailed):
            quote_with_deposit(factory, **deposit)
