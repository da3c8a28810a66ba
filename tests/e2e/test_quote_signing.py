"""Sign and accept over HTTP against the running stack: the customer reads the quote's document
(its SHA-256 is of the exact PDF bytes served), a quote sent again since cannot be signed against
the old hash (409), the signature is kept with the caller's network and browser family, the
signed PDF carries it, the operator sees it, another customer sees nothing, and orders books the
signed quote from its ``quote.accepted`` event."""
import base64
import hashlib
import io

import pytest
import requests
from PIL import Image, ImageDraw
from pypdf import PdfReader

from tests.conftest import wait_for
from tests.e2e import test_billing_flows
from tests.e2e.conftest import auth, get, post

pytestmark = pytest.mark.e2e

acme, other = test_billing_flows.acme, test_billing_flows.other     # the same module fixtures
FIREFOX = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}


def drawn_signature() -> str:
    image = Image.new("RGBA", (600, 200), (255, 255, 255, 0))
    ImageDraw.Draw(image).line([(20, 150), (200, 40), (580, 120)], fill=(0, 0, 0, 255), width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def sign(stack, quote_id, body, token):
    """POST /quotes/{id}/sign from a Firefox (the browser family is what is kept)."""
    return requests.post(f"{stack.base}/api/v1/quotes/{quote_id}/sign", json=body,
                         headers={**auth(token), **FIREFOX}, timeout=15)


def send(stack, admin_token, quote_id, unit_price):
    sent = post(stack, f"/api/v1/admin/quotes/{quote_id}/send", {"lines": [
        {"description": "Rotterdam - Amsterdam, all in", "quantity": "1", "unit": "trip",
         "unit_price": unit_price, "tax_rate": "21"}], "valid_days": 7}, admin_token)
    assert sent.status_code == 200, sent.text


def test_a_quote_is_signed_against_the_document_shown_and_booked(stack, acme, other, admin_token):
    token = acme["token"]
    quote = post(stack, "/api/v1/quotes", {"order": {**test_billing_flows.ORDER, "reference": "SIGNED-1"}}, token).json()
    assert get(stack, f"/api/v1/quotes/{quote['id']}/document", token).status_code == 409   # not sent yet
    send(stack, admin_token, quote["id"], "150.00")
    shown = get(stack, f"/api/v1/quotes/{quote['id']}/document", token).json()
    pdf = get(stack, f"/api/v1/quotes/{quote['id']}/document.pdf", token)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == shown["sha256"] and shown["revision"] == 1

    # The operator changes the price after the customer saw the document: the old hash is refused.
    send(stack, admin_token, quote["id"], "140.00")
    body = {"full_name": "Anna de Vries", "signature_png": drawn_signature(), "document_sha256": shown["sha256"]}
    stale = sign(stack, quote["id"], body, token)
    assert stale.status_code == 409 and str(stale.json()["error"]["details"]["revision"]) == "2"
    current = get(stack, f"/api/v1/quotes/{quote['id']}/document", token).json()
    body["document_sha256"] = current["sha256"]
    assert sign(stack, quote["id"], body, other).status_code == 404
    signed = sign(stack, quote["id"], body, token)
    assert signed.status_code == 200 and signed.json()["status"] == "accepted", signed.text

    record = get(stack, f"/api/v1/quotes/{quote['id']}/signature", admin_token).json()   # the operator's view
    assert {k: record[k] for k in ("full_name", "revision", "document_sha256", "user_agent", "origin_network")} == {
        "full_name": "Anna de Vries", "revision": 2, "document_sha256": current["sha256"], "user_agent": "Firefox",
        "origin_network": "127.0.0.0/24"}
    copy = get(stack, f"/api/v1/quotes/{quote['id']}/signed.pdf?download=1", token)
    assert copy.status_code == 200 and "attachment" in copy.headers["Content-Disposition"]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(copy.content)).pages)
    assert "Anna de Vries" in text and current["sha256"] in text
    for path in ("document", "document.pdf", "signature", "signed.pdf"):
        assert get(stack, f"/api/v1/quotes/{quote['id']}/{path}", other).status_code == 404

    booked = wait_for(lambda: next(iter(get(stack, "/api/v1/orders?q=SIGNED-1", token).json()["items"]), None),
                      timeout=20, what="orders to book the signed quote")
    assert booked["status"] == "submitted"
