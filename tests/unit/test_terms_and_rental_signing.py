"""Sign and accept (issue 11) for uploaded documents: the shared signing pieces
(services/common/esign.py), the operator's terms signed by each customer's admin
(services/identity/terms.py) and a rental contract's document signed by the customer
(services/orders/rental_signing.py). Real SQLite databases and a real blob store, no broker."""
import base64
import hashlib
import io
import uuid
from datetime import datetime, timezone

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.common import esign
from services.common.blobs import blob_store, reset_blob_store
from services.common.caller import (API_KEY, CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_VIEWER, DISPATCHER,
                                    OPERATOR_ADMIN, CallerContext)
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.identity.models import AuditEntry, Base as IdentityBase, Customer
from services.identity.service import Service as IdentityService
from services.orders.models import Base as OrdersBase
from services.orders.service import Service as OrdersService
from tests.unit.conftest import run_entrypoint

OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op-1")
DISPATCH = CallerContext(role=DISPATCHER, user_id="op-2")
ORIGIN = {"ip": "198.51.100.23", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}


def pdf(*pages: str) -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(out)
    for text in pages:
        canvas.drawString(72, 720, text)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def drawn(blank=False) -> str:
    image = Image.new("RGBA", (400, 120), (255, 255, 255, 0))
    if not blank:
        ImageDraw.Draw(image).line([(10, 100), (150, 20), (390, 90)], fill=(0, 0, 0, 255), width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def body(sha256: str, name="Maria  Jansen", **extra) -> dict:
    return {"full_name": name, "signature_png": drawn(), "document_sha256": sha256, **extra}


def text_of(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), " ".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def blobs(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOB_DIR", str(tmp_path / "blobs"))
    reset_blob_store()
    yield blob_store()
    reset_blob_store()


def uploaded(blobs, data: bytes, prefix="terms") -> dict:
    stored = blobs.put_bytes(data, prefix=prefix)
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": "terms.pdf"}


# --- esign -------------------------------------------------------------------------------------
def test_the_signature_page_is_appended_after_the_documents_pages_which_stay_unchanged():
    document = pdf("Clause 1: the rules", "Clause 2: more rules", "Clause 3: the end")
    png = esign.decode_png(drawn())
    signed = esign.with_signature_page(document, "Terms and conditions, version 4", {
        "full_name": "Łucja Čapek", "company": "Jansen Bouw BV", "signed_at": datetime(2026, 12, 4, 21, 0, tzinfo=timezone.utc),
        "origin_network": "198.51.100.0/24", "user_agent": "Firefox", "document_sha256": hashlib.sha256(document).hexdigest(),
        "png": png})
    reader = PdfReader(io.BytesIO(signed))
    assert len(reader.pages) == 4
    assert [reader.pages[i].extract_text().strip() for i in range(3)] == [
        "Clause 1: the rules", "Clause 2: more rules", "Clause 3: the end"]
    last = reader.pages[3].extract_text()
    assert hashlib.sha256(document).hexdigest() in last
    assert all(part in last for part in ("Łucja Čapek", "Jansen Bouw BV", "2026-12-04 21:00:00 UTC",
                                         "198.51.100.0/24", "version 4"))
    assert reader.pages[3].images          # the drawn signature


@pytest.mark.parametrize("bad, why", [
    (b"GIF89a" + b"\0" * 40, "must be a PDF"),
    (b"%PDF-1.7\n garbage that is no PDF", "could not be read"),
    (b"%PDF-" + b"\0" * (esign.MAX_DOCUMENT_BYTES), "larger than"),
])
def test_a_document_to_sign_must_be_a_readable_pdf_of_limited_size(bad, why):
    with pytest.raises(ValidationFailed) as refused:
        esign.check_pdf(bad)
    assert why in refused.value.details["fields"]["file"][0]
    assert esign.check_pdf(pdf("one", "two")) == 2


def test_the_signer_is_checked_and_only_a_coarse_origin_is_kept():
    signed = esign.signer(body("0" * 64), ORIGIN)
    assert signed["full_name"] == "Maria Jansen" and signed["signature_png"].startswith(esign.PNG_MAGIC)
    assert (signed["origin_network"], signed["user_agent"]) == ("198.51.100.0/24", "Firefox")
    for bad, field in ((body("0" * 64, name="   "), "full_name"),
                       ({**body("0" * 64), "signature_png": drawn(blank=True)}, "signature_png"),
                       ({**body("0" * 64), "signature_png": "not base64!"}, "signature_png")):
        with pytest.raises(ValidationFailed) as refused:
            esign.signer(bad, ORIGIN)
        assert field in refused.value.details["fields"]


# --- the operator's terms (identity) -----------------------------------------------------------
@pytest.fixture
def identity(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/identity.db")
    IdentityBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def id_call(factory, caller, method, *args):
    return run_entrypoint(IdentityService, IdentityBase, factory, caller, method, *args)


def company(factory, role=CUSTOMER_ADMIN, name="Jansen Bouw BV") -> CallerContext:
    with factory() as session, session.begin():
        row = Customer(client_id=uuid.uuid4().hex[:7].upper(), name=name)
        session.add(row)
        session.flush()
        return CallerContext(role=role, user_id=str(uuid.uuid4()), customer_id=row.id)


def as_role(caller: CallerContext, role: str) -> CallerContext:
    return CallerContext(role=role, user_id=str(uuid.uuid4()) if role != API_KEY else None,
                         customer_id=caller.customer_id)


def test_terms_are_signed_by_a_customer_admin_against_the_current_versions_hash(identity, blobs):
    admin = company(identity)
    assert id_call(identity, admin, "get_terms") == {"current": None, "signature": None, "must_sign": False}
    first = pdf("Terms v1: deliveries", "Terms v1: liability")
    with pytest.raises(Forbidden):
        id_call(identity, DISPATCH, "upload_terms", uploaded(blobs, first))
    published = id_call(identity, OPERATOR, "upload_terms", uploaded(blobs, first))
    assert published["current"]["version"] == 1 and published["current"]["pages"] == 2
    shown = id_call(identity, admin, "get_terms")
    assert shown["must_sign"] and shown["current"]["sha256"] == hashlib.sha256(first).hexdigest()
    found = id_call(identity, admin, "terms_document")
    with blobs.open(found["key"]) as stream:
        assert stream.read() == first      # the exact bytes the hash is of

    # New terms after the admin read version 1: the old hash is refused.
    second = pdf("Terms v2: deliveries, reworded")
    id_call(identity, OPERATOR, "upload_terms", uploaded(blobs, second))
    with pytest.raises(Conflict) as refused:
        id_call(identity, admin, "sign_terms", body(shown["current"]["sha256"]), ORIGIN)
    assert refused.value.details["version"] == 2
    current = id_call(identity, admin, "get_terms")["current"]
    for role in (CUSTOMER_BOOKER, CUSTOMER_VIEWER, API_KEY):      # the company's admins sign, no one else
        with pytest.raises(Forbidden):
            id_call(identity, as_role(admin, role), "sign_terms", body(current["sha256"]), ORIGIN)
    signed = id_call(identity, admin, "sign_terms", body(current["sha256"]), ORIGIN)
    assert not signed["must_sign"] and signed["signature"]["full_name"] == "Maria Jansen"
    assert signed["signature"]["origin_network"] == "198.51.100.0/24" and signed["signature"]["user_agent"] == "Firefox"
    with pytest.raises(Conflict):     # once per version
        id_call(identity, admin, "sign_terms", body(current["sha256"]), ORIGIN)
    with identity() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "terms.signed"))
    assert entry.customer_id == admin.customer_id and entry.details["document_sha256"] == current["sha256"]

    copy = id_call(identity, as_role(admin, CUSTOMER_VIEWER), "signed_terms_pdf", {})
    pages, text = text_of(base64.b64decode(copy["base64"]))
    assert pages == 2 and "Terms v2" in text and current["sha256"] in text and "Jansen Bouw BV" in text

    other = company(identity, name="Other BV")
    assert id_call(identity, other, "get_terms")["must_sign"]        # each company signs for itself
    with pytest.raises(NotFound):
        id_call(identity, other, "signed_terms_pdf", {})
    with pytest.raises(NotFound):
        id_call(identity, other, "signed_terms_pdf", {"customer_id": admin.customer_id})
    listed = id_call(identity, OPERATOR, "list_terms_signatures", {"version": "2"})
    assert [(s["customer_name"], s["version"]) for s in listed["items"]] == [("Jansen Bouw BV", 2)]
    overview = id_call(identity, DISPATCH, "admin_terms")
    assert [(v["version"], v["signatures"]) for v in overview["versions"]] == [(2, 1), (1, 0)]
    staff_copy = id_call(identity, OPERATOR, "signed_terms_pdf", {"customer_id": admin.customer_id})
    assert staff_copy["filename"] == "terms-v2-signed.pdf"


def test_an_upload_that_is_not_a_pdf_or_the_same_file_again_is_refused_and_deleted(identity, blobs):
    not_pdf = uploaded(blobs, b"<html>terms</html>")
    with pytest.raises(ValidationFailed):
        id_call(identity, OPERATOR, "upload_terms", not_pdf)
    assert not blobs.exists(not_pdf["key"])
    document = pdf("Terms")
    id_call(identity, OPERATOR, "upload_terms", uploaded(blobs, document))
    again = uploaded(blobs, document)
    with pytest.raises(Conflict):
        id_call(identity, OPERATOR, "upload_terms", again)
    assert not blobs.exists(again["key"])
    assert id_call(identity, OPERATOR, "admin_terms")["current"]["version"] == 1


# --- a rental contract's document (orders) ------------------------------------------------------
@pytest.fixture
def orders(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/orders.db")
    OrdersBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def orders_call(factory, caller, method, *args):
    return run_entrypoint(OrdersService, OrdersBase, factory, caller, method, *args)


def rental_customer(factory) -> CallerContext:
    customer_id = str(uuid.uuid4())
    data = {"customer_id": customer_id, "name": "Jansen Bouw BV", "client_id": uuid.uuid4().hex[:7].upper(),
            "is_active": True, "has_portal_access": True, "require_dimensions": False, "location_sharing": "exact",
            "allow_order_upload": True, "default_depot_id": None}
    orders_call(factory, CallerContext(role="service"), "keep_customer_settings",
                {"id": str(uuid.uuid4()), "type": "customer.created", "data": data})
    return CallerContext(role=CUSTOMER_BOOKER, user_id=str(uuid.uuid4()), customer_id=customer_id)


def test_a_rental_contract_is_signed_against_its_current_document(orders, blobs):
    booker = rental_customer(orders)
    contract = orders_call(orders, OPERATOR, "create_rental", {
        "customer_id": booker.customer_id, "starts_on": "2026-11-01",
        "items": [{"item": "SCAF-10", "description": "Scaffold tower", "quantity_out": 2}]})
    assert contract["document"] is None
    with pytest.raises(NotFound):
        orders_call(orders, booker, "sign_rental", contract["id"], body("0" * 64), ORIGIN)
    first = pdf("Rental contract RC: scaffold tower, version 1")
    with pytest.raises(Forbidden):
        orders_call(orders, booker, "attach_rental_document", contract["id"], uploaded(blobs, first, "rentals"))
    attached = orders_call(orders, DISPATCH, "attach_rental_document", contract["id"], uploaded(blobs, first, "rentals"))
    assert attached["version"] == 1 and attached["signature"] is None
    shown = orders_call(orders, booker, "get_rental", contract["id"])["document"]
    assert shown["sha256"] == hashlib.sha256(first).hexdigest()

    second = pdf("Rental contract RC: scaffold tower, version 2 (new price)")
    orders_call(orders, OPERATOR, "attach_rental_document", contract["id"], uploaded(blobs, second, "rentals"))
    with pytest.raises(Conflict) as refused:      # attached again since it was shown
        orders_call(orders, booker, "sign_rental", contract["id"], body(shown["sha256"]), ORIGIN)
    assert refused.value.details["version"] == 2
    current = orders_call(orders, booker, "get_rental", contract["id"])["document"]
    for role in (CUSTOMER_VIEWER, API_KEY):
        with pytest.raises(Forbidden):
            orders_call(orders, as_role(booker, role), "sign_rental", contract["id"], body(current["sha256"]), ORIGIN)
    with pytest.raises(NotFound):      # another customer's contract does not exist for it
        orders_call(orders, rental_customer(orders), "sign_rental", contract["id"], body(current["sha256"]), ORIGIN)
    signed = orders_call(orders, booker, "sign_rental", contract["id"], body(current["sha256"]), ORIGIN)
    assert signed["full_name"] == "Maria Jansen" and signed["document_sha256"] == current["sha256"]
    with pytest.raises(Conflict):
        orders_call(orders, as_role(booker, CUSTOMER_ADMIN), "sign_rental", contract["id"], body(current["sha256"]), ORIGIN)
    assert orders_call(orders, OPERATOR, "rental_signature", contract["id"])["signed_by"] == booker.user_id
    copy = orders_call(orders, booker, "signed_rental_pdf", contract["id"])
    pages, text = text_of(base64.b64decode(copy["base64"]))
    assert pages == 2 and "version 2 (new price)" in text and current["sha256"] in text and "Jansen Bouw BV" in text

    # A new document after signing must be signed again.
    orders_call(orders, OPERATOR, "attach_rental_document", contract["id"], uploaded(blobs, pdf("v3"), "rentals"))
    assert orders_call(orders, booker, "get_rental", contract["id"])["document"]["signature"] is None
    with pytest.raises(NotFound):
        orders_call(orders, booker, "signed_rental_pdf", contract["id"])
