"""Sign and accept for uploaded documents, in Chromium: a customer admin's home page asks for the
operator's current terms to be signed; "Read and sign" opens the sign dialog, the typed name
becomes the drawn signature, and the banner is gone once signed (the API agrees, with the hash of
the version shown). A booker signs a rental contract's document from the rentals screen. The
operator console lists the versions and who signed. Console, CSP and axe are checked on each screen."""
import uuid

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, auth, get, invite_and_accept, post
from tests.e2e.test_terms_and_rental_signing import pdf

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _person(stack, mailbox, admin_token, customer_id, role):
    email = f"{role}.{uuid.uuid4().hex[:6]}@terms.example"
    token = invite_and_accept(stack, mailbox, admin_token, customer_id, email, role)
    return {"email": email, "password": PASSWORD, "token": token}


@pytest.fixture(scope="module")
def company(stack, mailbox, admin_token):
    made = post(stack, "/api/v1/admin/customers", {"name": f"Terms {uuid.uuid4().hex[:6]}"}, admin_token).json()
    return {"customer": made, **{role: _person(stack, mailbox, admin_token, made["id"], role)
                                 for role in ("customer_admin", "customer_booker")}}


def upload(stack, path, data, token):
    sent = requests.put(f"{stack.base}{path}", files={"file": ("document.pdf", data, "application/pdf")},
                        headers=auth(token), timeout=30) if path.endswith("/terms") else \
        requests.post(f"{stack.base}{path}", files={"file": ("document.pdf", data, "application/pdf")},
                      headers=auth(token), timeout=30)
    assert sent.status_code in (200, 201), sent.text


def test_a_customer_admin_signs_the_terms_from_the_home_banner(tabs, stack, admin_token, company):
    admin = company["customer_admin"]
    upload(stack, "/api/v1/admin/terms", pdf(f"Terms {uuid.uuid4().hex[:6]}"), admin_token)
    current = get(stack, "/api/v1/terms", admin["token"]).json()["current"]
    tab = tabs()
    page = tab.sign_in(admin["email"], admin["password"])
    banner = page.get_by_role("region", name="Terms to sign")
    banner.wait_for()
    tab.check("terms-banner")
    tab.button("Read and sign", banner).click()
    dialog = page.get_by_role("dialog", name="Sign the terms")
    dialog.locator("canvas.signature-pad").wait_for()
    assert dialog.get_by_text(f"Document fingerprint (SHA-256): {current['sha256'][:16]}…").is_visible()
    tab.field("Your full name", dialog).fill("Ilse Bakker")
    tab.button("Sign with my typed name", dialog).click()
    dialog.get_by_label("I have read these terms and accept them for my company with my electronic signature.").check()
    tab.check("terms-sign-dialog")
    tab.button("Sign the terms", dialog).click()
    dialog.wait_for(state="detached")
    page.get_by_role("status").filter(has_text="terms are signed").first.wait_for()
    signed = get(stack, "/api/v1/terms", admin["token"]).json()
    assert not signed["must_sign"] and signed["signature"]["full_name"] == "Ilse Bakker"
    assert signed["signature"]["document_sha256"] == current["sha256"]
    page.locator("main h1").wait_for()
    assert page.get_by_role("region", name="Terms to sign").count() == 0


def test_a_booker_signs_a_rental_contract_and_the_operator_sees_the_terms_signatures(
        tabs, stack, admin_token, admin_credentials, company):
    booker = company["customer_booker"]
    number = f"RC-B-{uuid.uuid4().hex[:6]}"
    wait_for(lambda: post(stack, "/api/v1/admin/rentals", {
        "customer_id": company["customer"]["id"], "starts_on": "2026-11-01", "number": number,
        "items": [{"item": "GEN-2", "description": "Generator", "quantity_out": 1}]}, admin_token).status_code == 201,
        timeout=20, what="orders to know the customer")
    contract = next(c for c in get(stack, "/api/v1/rentals", booker["token"]).json()["items"] if c["number"] == number)
    upload(stack, f"/api/v1/admin/rentals/{contract['id']}/document", pdf("Rental contract: one generator"), admin_token)
    tab = tabs()
    tab.sign_in(booker["email"], booker["password"])
    page = tab.go("/rentals")
    tab.button("Sign the contract").click()
    dialog = page.get_by_role("dialog", name="Sign the contract")
    tab.field("Your full name", dialog).fill("Piet Bakker")
    tab.button("Sign with my typed name", dialog).click()
    dialog.get_by_label("I have read this contract and sign it with my electronic signature.").check()
    tab.button("Sign the contract", dialog).click()
    dialog.wait_for(state="detached")
    page.get_by_text("Contract signed by Piet Bakker").wait_for()
    tab.check("rental-contract-signed")
    assert get(stack, f"/api/v1/rentals/{contract['id']}/signature", booker["token"]).json()["full_name"] == "Piet Bakker"

    staff = tabs()
    staff.sign_in(*admin_credentials)
    console = staff.go("/admin/terms")
    console.get_by_role("heading", name="Who signed").wait_for()
    staff.check("admin-terms")
