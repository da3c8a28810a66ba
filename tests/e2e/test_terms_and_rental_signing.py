"""Sign and accept (issue 11) over HTTP against the running stack, for uploaded documents: the
operator publishes terms (a PDF) and a customer's admin signs the current version (a booker or a
viewer may not; terms replaced since refuse the old hash with 409); the operator attaches a
contract PDF to a rental contract and the customer's booker signs it (a new attachment refuses the
old hash). Each signed copy is the document's pages followed by the signature page."""
import base64
import hashlib
import io
import uuid

import pytest
import requests
from PIL import Image, ImageDraw
from pypdf import PdfReader

from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e
FIREFOX = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}


def pdf(*pages: str) -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(out)
    for text in pages:
        canvas.drawString(72, 720, text)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def drawn_signature() -> str:
    image = Image.new("RGBA", (600, 200), (255, 255, 255, 0))
    ImageDraw.Draw(image).line([(20, 150), (200, 40), (580, 120)], fill=(0, 0, 0, 255), width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def upload(stack, path, data, token, method="post"):
    return getattr(requests, method)(f"{stack.base}{path}", files={"file": ("contract.pdf", data, "application/pdf")},
                                     headers=auth(token), timeout=30)


def sign(stack, path, sha256, token, name="Eva Smit"):
    return requests.post(f"{stack.base}{path}", json={"full_name": name, "signature_png": drawn_signature(),
                                                      "document_sha256": sha256},
                         headers={**auth(token), **FIREFOX}, timeout=15)


def pages_and_text(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), " ".join(page.extract_text() for page in reader.pages)


@pytest.fixture(scope="module")
def company(stack, mailbox, admin_token):
    tag = uuid.uuid4().hex[:6]
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Smit Verhuur {tag}",
                                                       "email": f"desk.{tag}@smit.example"}, admin_token).json()
    people = {role: invite_and_accept(stack, mailbox, admin_token, customer["id"], f"{role}.{tag}@smit.example", role)
              for role in ("customer_admin", "customer_booker", "customer_viewer")}
    return {"customer": customer, **people}


def test_the_operators_terms_are_signed_by_a_customers_admin(stack, company, admin_token):
    admin, booker, viewer = company["customer_admin"], company["customer_booker"], company["customer_viewer"]
    refused = requests.put(f"{stack.base}/api/v1/admin/terms", files={"file": ("terms.pdf", b"<html>no</html>")},
                           headers=auth(admin_token), timeout=15)
    assert refused.status_code == 422, refused.text
    first = pdf(f"Terms {uuid.uuid4().hex[:6]}: deliveries", "Liability")
    published = upload(stack, "/api/v1/admin/terms", first, admin_token, "put")
    assert published.status_code == 200, published.text
    assert upload(stack, "/api/v1/admin/terms", pdf("Not mine"), admin).status_code == 403
    version = published.json()["current"]["version"]
    told = wait_for(lambda: next((n for n in get(stack, "/api/v1/notifications", admin).json()["items"]
                                  if n["title"].startswith("New terms to sign")), None),
                    timeout=20, what="the admin's notice of the new terms")
    assert told["title"].endswith(f"version {version}")
    assert not [n for n in get(stack, "/api/v1/notifications", booker).json()["items"]
                if n["title"].startswith("New terms to sign")]                  # admins only
    shown = get(stack, "/api/v1/terms", admin).json()
    assert shown["must_sign"] and shown["current"]["sha256"] == hashlib.sha256(first).hexdigest()
    document = get(stack, "/api/v1/terms/document.pdf", admin)
    assert document.headers["Content-Type"] == "application/pdf" and document.content == first

    # The operator replaces the terms after the admin read them: the old hash is refused.
    second = pdf(f"Terms {uuid.uuid4().hex[:6]}: deliveries, reworded")
    assert upload(stack, "/api/v1/admin/terms", second, admin_token).status_code == 200
    stale = sign(stack, "/api/v1/terms/sign", shown["current"]["sha256"], admin)
    assert stale.status_code == 409 and stale.json()["error"]["details"]["document_sha256"] == hashlib.sha256(second).hexdigest()
    current = get(stack, "/api/v1/terms", viewer).json()["current"]
    for token in (booker, viewer):
        assert sign(stack, "/api/v1/terms/sign", current["sha256"], token).status_code == 403
    signed = sign(stack, "/api/v1/terms/sign", current["sha256"], admin)
    assert signed.status_code == 200, signed.text
    assert signed.json()["signature"]["user_agent"] == "Firefox" and not signed.json()["must_sign"]
    assert sign(stack, "/api/v1/terms/sign", current["sha256"], admin).status_code == 409     # once per version

    copy = get(stack, "/api/v1/terms/signed.pdf?download=1", booker)
    assert copy.status_code == 200 and "attachment" in copy.headers["Content-Disposition"]
    pages, text = pages_and_text(copy.content)
    assert pages == 2 and "Eva Smit" in text and current["sha256"] in text and company["customer"]["name"] in text

    staff_copy = get(stack, f"/api/v1/terms/signed.pdf?customer_id={company['customer']['id']}", admin_token)
    assert staff_copy.status_code == 200 and pages_and_text(staff_copy.content)[0] == 2
    assert get(stack, "/api/v1/terms/signed.pdf?customer_id=" + str(uuid.uuid4()), admin).status_code == 404
    listed = get(stack, f"/api/v1/admin/terms/signatures?version={current['version']}", admin_token).json()
    assert [s["customer_id"] for s in listed["items"]] == [company["customer"]["id"]]
    assert get(stack, "/api/v1/admin/terms/signatures", admin).status_code == 403
    audit = get(stack, f"/api/v1/admin/audit-log?action=terms.signed&customer_id={company['customer']['id']}",
                admin_token)
    assert audit.status_code == 200 and audit.json()["total"] == 1, audit.text


def test_a_rental_contract_is_signed_against_its_current_document(stack, company, admin_token):
    booker, viewer = company["customer_booker"], company["customer_viewer"]
    wait_for(lambda: post(stack, "/api/v1/admin/rentals", {
        "customer_id": company["customer"]["id"], "starts_on": "2026-11-01", "number": f"RC-E2E-{uuid.uuid4().hex[:6]}",
        "items": [{"item": "GEN-2", "description": "Generator", "quantity_out": 1}]}, admin_token).status_code == 201,
        timeout=20, what="orders to know the customer")
    contract = get(stack, "/api/v1/rentals", booker).json()["items"][0]
    assert contract["document"] is None
    path = f"/api/v1/rentals/{contract['id']}"
    first = pdf("Rental contract: one generator")
    attached = upload(stack, f"/api/v1/admin/rentals/{contract['id']}/document", first, admin_token)
    assert attached.status_code == 201, attached.text
    shown = get(stack, path, booker).json()["document"]
    assert get(stack, f"{path}/document.pdf", booker).content == first

    second = pdf("Rental contract: one generator, new price")
    assert upload(stack, f"/api/v1/admin/rentals/{contract['id']}/document", second, admin_token).status_code == 201
    stale = sign(stack, f"{path}/sign", shown["sha256"], booker)
    assert stale.status_code == 409 and str(stale.json()["error"]["details"]["version"]) == "2"
    current = get(stack, path, booker).json()["document"]
    assert sign(stack, f"{path}/sign", current["sha256"], viewer).status_code == 403
    signed = sign(stack, f"{path}/sign", current["sha256"], booker, name="Bo Smit")
    assert signed.status_code == 200 and signed.json()["origin_network"] == "127.0.0.0/24", signed.text
    assert get(stack, f"{path}/signature", admin_token).json()["full_name"] == "Bo Smit"
    copy = get(stack, f"{path}/signed.pdf", viewer)
    assert copy.status_code == 200 and copy.headers["Content-Type"] == "application/pdf"
    pages, text = pages_and_text(copy.content)
    assert pages == 2 and "new price" in text and "Bo Smit" in text and current["sha256"] in text
