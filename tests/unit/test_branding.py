"""Branding (issue 11): colours checked for contrast on white, logos checked by their content (an
SVG with script or outside references refused), the settings saved by an operator admin only and
announced as ``branding.updated``, the copies notify and billing keep (newest version wins), and
the brand in an email and on an invoice PDF."""
import io
import json

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.common import brand
from services.common.blobs import blob_store, reset_blob_store
from services.common.caller import CUSTOMER_ADMIN, DISPATCHER, CallerContext
from services.common.errors import Forbidden, ValidationFailed
from services.identity import branding
from services.identity.models import Base as IdentityBase
from tests.unit.conftest import call


def png(width=40, height=20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def blobs(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOB_DIR", str(tmp_path / "blobs"))
    reset_blob_store()
    yield blob_store()
    reset_blob_store()


def uploaded(blobs, data: bytes) -> dict:
    stored = blobs.put_bytes(data, prefix="branding")
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": "logo"}


# --- colours -------------------------------------------------------------------------------------
def test_colours_are_normalised_hex_and_anything_else_is_refused():
    assert branding.check_color("primary_color", "#1F4E79") == "#1f4e79"
    assert branding.check_color("primary_color", "#000") == "#000000"
    for bad in ("1f4e79", "#1f4e7", "red", "#12345g", "#1f4e79;background:url(x)"):
        with pytest.raises(ValueError, match="hex"):
            branding.check_color("primary_color", bad)


def test_contrast_is_the_wcag_ratio():
    assert brand.contrast("#000000", "#ffffff") == pytest.approx(21)
    assert brand.contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert brand.text_on("#1f4e79") == "#ffffff" and brand.text_on("#ffe066") == "#000000"


def test_a_primary_colour_too_light_for_white_is_refused_with_a_shade_that_passes():
    with pytest.raises(ValueError) as refused:
        branding.check_color("primary_color", "#ffcc00")
    message = str(refused.value)
    assert "contrast with white is 1.5:1" in message and "4.5:1" in message
    suggested = message.rsplit("such as ", 1)[1].split()[0]
    assert brand.contrast(suggested, "#ffffff") >= 4.5
    assert branding.check_color("primary_color", suggested) == suggested


def test_the_accent_needs_less_contrast_than_the_primary():
    assert brand.contrast("#e8590c", "#ffffff") < 4.5
    assert branding.check_color("accent_color", "#e8590c") == "#e8590c"
    with pytest.raises(ValueError, match="3.0:1"):
        branding.check_color("accent_color", "#ffd8a8")


def test_bad_fields_are_all_named_and_empty_means_the_default():
    with pytest.raises(ValidationFailed) as refused:
        branding.validate_changes({"primary_color": "#ffffff", "accent_color": "nope", "display_name": "Ok"})
    assert set(refused.value.details["fields"]) == {"primary_color", "accent_color"}
    assert branding.validate_changes({"display_name": "  Acme   Freight ", "email_footer": ""}) == {
        "display_name": "Acme Freight", "email_footer": None}


# --- logos ---------------------------------------------------------------------------------------
def test_png_and_jpeg_logos_are_known_by_their_content():
    assert branding.logo_type(png()) == "image/png"
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "JPEG")
    assert branding.logo_type(out.getvalue()) == "image/jpeg"
    with pytest.raises(ValueError, match="PNG, JPEG or SVG"):
        branding.logo_type(b"GIF89a" + b"\0" * 20)
    with pytest.raises(ValueError, match="could not be read"):
        branding.logo_type(b"\x89PNG\r\n\x1a\n" + b"garbage")
    with pytest.raises(ValueError, match="at most 4000"):
        branding.logo_type(png(4001, 10))
    with pytest.raises(ValueError, match="larger than 512 KB"):
        branding.logo_type(b"\x89PNG\r\n\x1a\n" + b"\0" * branding.MAX_LOGO_BYTES)


CLEAN_SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
             b'viewBox="0 0 10 10"><defs><linearGradient id="g"/></defs><rect id="r" fill="url(#g)" width="10" height="10"/>'
             b'<use xlink:href="#r"/></svg>')


def test_a_clean_svg_is_kept():
    assert branding.logo_type(CLEAN_SVG) == "image/svg+xml"


@pytest.mark.parametrize("svg, why", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><rect onload="alert(1)"/></svg>', "event attribute"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>', "<foreignobject>"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
     b'<image xlink:href="https://tracker.example/p.png"/></svg>', "outside itself"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>', "outside itself"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://x.example/a)"/></svg>', "outside itself"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://x.example/a.css);</style></svg>', "outside itself"),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "boom">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>', "entities"),
])
def test_an_svg_that_could_run_script_or_fetch_is_refused(svg, why):
    with pytest.raises(ValueError) as refused:
        branding.logo_type(svg)
    assert why in str(refused.value)


# --- settings through the identity service -------------------------------------------------------
def test_only_an_operator_admin_changes_branding_and_each_change_is_announced(factory, admin):
    for role in (DISPATCHER, CUSTOMER_ADMIN):
        with pytest.raises(Forbidden):
            call(factory, CallerContext(role=role, user_id="u", customer_id="c" if role == CUSTOMER_ADMIN else None),
                 "update_branding", {"display_name": "Nope"})
    before = call(factory, None, "get_branding")
    saved = call(factory, admin, "update_branding", {"display_name": "Northwind Freight", "primary_color": "#0B5CAD"})
    assert saved["name"] == "Northwind Freight" and saved["primary_color"] == "#0b5cad"
    assert saved["primary_text"] == "#ffffff" and saved["accent_color"] == "#0b5cad"   # accent defaults to primary
    assert saved["version"] == before["version"] + 1
    assert call(factory, None, "get_branding")["settings"]["display_name"] == "Northwind Freight"
    with factory() as session:
        outbox = IdentityBase.OutboxMessage
        body = json.loads(session.scalars(select(outbox.body).order_by(outbox.seq.desc())).first())
    assert body["type"] == "branding.updated" and body["data"]["display_name"] == "Northwind Freight"
    assert body["data"]["version"] == saved["version"]
    with pytest.raises(ValidationFailed):
        call(factory, admin, "update_branding", {"primary_color": "#fafafa"})
    assert call(factory, None, "get_branding")["primary_color"] == "#0b5cad"     # unchanged
    reset = call(factory, admin, "update_branding", {"display_name": None, "primary_color": None})
    assert reset["settings"]["display_name"] is None and reset["name"] == brand.effective()["name"]


def test_a_refused_logo_is_deleted_and_a_good_one_kept(factory, admin, blobs):
    bad = uploaded(blobs, b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>')
    with pytest.raises(ValidationFailed) as refused:
        call(factory, admin, "set_branding_logo", bad)
    assert "script" in refused.value.details["fields"]["file"][0]
    assert not blobs.exists(bad["key"])
    good = uploaded(blobs, png())
    saved = call(factory, admin, "set_branding_logo", good)
    assert saved["logo"] == {"key": good["key"], "content_type": "image/png", "sha256": good["sha256"]}
    assert call(factory, admin, "remove_branding_logo")["logo"] is None


# --- the copies, an email, a PDF -----------------------------------------------------------------
def copy_session(base, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/copy.db")
    base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)()


def branding_event(version, **data):
    return {"data": {"version": version, "display_name": None, "primary_color": None, "accent_color": None,
                     "email_footer": None, "logo": None, **data}}


def test_the_copy_keeps_the_newest_version_and_defaults_before_any(tmp_path):
    from services.notify.models import Base, BrandCopy

    session = copy_session(Base, tmp_path)
    assert brand.current(session, BrandCopy) == brand.effective()
    brand.apply_event(session, BrandCopy, branding_event(2, display_name="Second"))
    brand.apply_event(session, BrandCopy, branding_event(1, display_name="First, late"))
    brand.apply_event(session, BrandCopy, branding_event(2, display_name="Second"))    # redelivered
    assert brand.current(session, BrandCopy)["name"] == "Second"


def test_an_email_wears_the_brand(tmp_path):
    from services.notify import emails
    from tests.unit.test_notify_emails import SAMPLES

    look = brand.effective({"display_name": "Northwind <Freight>", "primary_color": "#7a1f5c",
                            "email_footer": "Northwind Freight BV, KvK 1234", "version": 3,
                            "logo": {"key": "k", "content_type": "image/png", "sha256": "ab" * 32}})
    email = emails.render("invoice_issued", SAMPLES["invoice_issued"], brand=look)
    assert "Northwind &lt;Freight&gt;" in email.html and "#7a1f5c" in email.html
    assert "/api/v1/branding/logo?v=abababababababab" in email.html
    assert "Northwind Freight BV, KvK 1234" in email.text and "Northwind Freight BV, KvK 1234" in email.html
    plain = emails.render("invoice_issued", SAMPLES["invoice_issued"])
    assert "branding/logo" not in plain.html and "KvK" not in plain.text


def test_an_invoice_pdf_wears_the_brand_with_its_logo(blobs):
    from services.billing import branding as billing_branding
    from services.billing.invoice_pdf import render_invoice
    from tests.unit.test_billing_pdf import invoice as invoice_view

    stored = blobs.put_bytes(png(), prefix="branding")
    look = billing_branding.current()
    look.update(name="Northwind Freight", color="#7a1f5c",
                logo={"key": stored.key, "content_type": "image/png", "sha256": stored.sha256})
    reader = PdfReader(io.BytesIO(render_invoice(invoice_view(), look)))
    assert "Northwind Freight" in reader.pages[0].extract_text()
    assert len(reader.pages[0].images) == 1
    look["logo"] = {"key": stored.key, "content_type": "image/svg+xml", "sha256": stored.sha256}
    assert len(PdfReader(io.BytesIO(render_invoice(invoice_view(), look))).pages[0].images) == 0
