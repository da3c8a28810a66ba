"""Branding over HTTP against the running stack (issue 11): the operator admin sets a name,
colours, footer and logo in the console API; GET /api/v1/branding and the logo (its own content
type, nosniff, cacheable) show them to anyone; a colour too light and an SVG with a script are
refused; an email and an invoice PDF carry the brand (identity's ``branding.updated`` reached
notify's and billing's copies); a customer cannot change it. Put back to the defaults after."""
import io
import uuid

import pytest
import requests
from PIL import Image
from pypdf import PdfReader

from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e

NAME = f"Northwind Freight {uuid.uuid4().hex[:4]}"
FOOTER = "Northwind Freight BV, Dock Road 1, Rotterdam"


def patch(stack, body, token):
    return requests.patch(f"{stack.base}/api/v1/admin/branding", json=body, headers=auth(token), timeout=15)


def put_logo(stack, token, name, data, content_type):
    return requests.put(f"{stack.base}/api/v1/admin/branding/logo", files={"file": (name, data, content_type)},
                        headers=auth(token), timeout=15)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 40), (122, 31, 92)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def branded(stack, admin_token):
    yield
    patch(stack, {"display_name": None, "primary_color": None, "accent_color": None, "email_footer": None}, admin_token)
    requests.delete(f"{stack.base}/api/v1/admin/branding/logo", headers=auth(admin_token), timeout=15)


def test_branding_set_in_the_console_reaches_the_portal_an_email_and_an_invoice_pdf(stack, mailbox, admin_token, branded):
    before = requests.get(f"{stack.base}/api/v1/branding", timeout=10).json()
    assert before["logo_url"] is None and before["name"] != NAME

    light = patch(stack, {"primary_color": "#ffd43b"}, admin_token)
    assert light.status_code == 422 and "contrast with white" in light.json()["error"]["details"]["fields"]["primary_color"][0]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = put_logo(stack, admin_token, "logo.svg", svg, "image/svg+xml")
    assert refused.status_code == 422 and "script" in refused.text

    saved = patch(stack, {"display_name": NAME, "primary_color": "#7A1F5C", "accent_color": "#e8590c",
                          "email_footer": FOOTER}, admin_token)
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["primary_color"] == "#7a1f5c"
    logo = put_logo(stack, admin_token, "logo.png", png(), "image/png")
    assert logo.status_code == 200, logo.text

    shown = requests.get(f"{stack.base}/api/v1/branding", timeout=10)
    brand = shown.json()
    assert (brand["name"], brand["primary_color"], brand["accent_color"]) == (NAME, "#7a1f5c", "#e8590c")
    assert brand["primary_text"] == "#ffffff" and brand["logo_url"].startswith("/api/v1/branding/logo?v=")
    picture = requests.get(f"{stack.base}{brand['logo_url']}", timeout=10)
    assert picture.status_code == 200 and picture.content == png()
    assert picture.headers["Content-Type"] == "image/png" and picture.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in picture.headers["Cache-Control"]

    # An email: the customer's invitation.
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Brand {uuid.uuid4().hex[:6]}"}, admin_token).json()
    address = f"brand.{uuid.uuid4().hex[:6]}@acme.example"
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"], address, "customer_admin")
    invite = next(m for m in mailbox.messages if m["To"] == address)
    html = invite.get_body(preferencelist=("html",)).get_content()
    text = invite.get_body(preferencelist=("plain",)).get_content()
    assert NAME in html and "#7a1f5c" in html and f"{stack.base}{brand['logo_url']}" in html
    assert NAME in text and FOOTER in text and FOOTER in html
    assert patch(stack, {"display_name": "Hijack"}, token).status_code == 403      # customers cannot

    # An invoice PDF.
    wait_for(lambda: get(stack, "/api/v1/account/summary", token).status_code == 200, timeout=20,
             what="billing to know the customer")
    issued = post(stack, "/api/v1/admin/invoices", {"customer_id": customer["id"], "lines": [
        {"description": "Branded delivery", "quantity": "1", "unit": "trip", "unit_price": "50.00", "tax_rate": "21"}]},
        admin_token)
    assert issued.status_code == 201, issued.text
    pdf = get(stack, f"/api/v1/invoices/{issued.json()['id']}/pdf", token)
    assert pdf.status_code == 200
    first = PdfReader(io.BytesIO(pdf.content)).pages[0]
    assert NAME in first.extract_text() and len(first.images) == 1

