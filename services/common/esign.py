"""Electronic signatures: what every "sign and accept" shares (a quote in billing, the operator's
terms in identity, a rental contract in orders).

A signature is given against the SHA-256 of the exact document shown, and kept with the typed full
name, the drawn signature (a PNG, size-limited and checked to be one), who signed, when, and a
coarse origin: the caller's IP network (/24 for IPv4, /48 for IPv6) and browser family - never the
full address or user-agent string. An uploaded document (terms, a contract) is signed as it is: the
signed copy is its pages followed by a signature page (``with_signature_page``), so the pages
signed stay byte-for-byte what the hash was taken of.
"""
from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import re
from datetime import datetime

from marshmallow import Schema, fields, validate
from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.common.errors import ValidationFailed
from services.common.schemas import StrictSchema

MAX_SIGNATURE_BYTES = 200_000
MAX_SIGNATURE_PIXELS = (2000, 1000)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024      # an uploaded document to sign (terms, a contract)
MAX_DOCUMENT_PAGES = 500
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Checked in order: Edge and Opera say "Chrome" too, Chrome says "Safari" too.
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"), ("curl/", "curl"), ("python-", "Python"))


class SignatureIn(StrictSchema):
    """A signature given against a document shown (its ``sha256``)."""
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "The signer's full name, as typed."})
    signature_png = fields.String(required=True, validate=validate.Length(min=1, max=280_000), metadata={
        "description": "The drawn signature: a PNG (at most 200 kB, 2000x1000 pixels), base64 or a "
                       "`data:image/png;base64,` URL."})
    document_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"), metadata={
        "description": "The `sha256` of the document shown: a document changed since is refused (409)."})


class SignatureColumns:
    """The columns every kept signature has (a model mixin: QuoteSignature, TermsSignature,
    RentalSignature), filled from ``signer``."""
    document_sha256: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    signature_png: Mapped[bytes] = mapped_column(LargeBinary)
    signed_by: Mapped[str | None] = mapped_column(String(36))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    origin_network: Mapped[str | None] = mapped_column(String(64))    # 203.0.113.0/24, 2001:db8::/48
    user_agent: Mapped[str | None] = mapped_column(String(64))        # the browser family, not the string


class StoredPdfColumns:
    """The columns of an uploaded PDF to sign (a model mixin: TermsVersion, RentalDocument): the
    SHA-256 of its bytes is what a signature is given against."""
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(200))
    size: Mapped[int]
    pages: Mapped[int]
    filename: Mapped[str | None] = mapped_column(String(255))


class SignatureOut(Schema):
    """What is shown of a kept signature (never the image's bytes: the signed PDF carries it)."""
    document_sha256 = fields.String()
    full_name = fields.String()
    signed_by = fields.String(allow_none=True)
    signed_at = fields.String()
    origin_network = fields.String(allow_none=True, metadata={"description": "The signer's IP network (/24, /48)."})
    user_agent = fields.String(allow_none=True, metadata={"description": "The signer's browser family."})


class DocumentUploadIn(StrictSchema):
    """A document to sign that the gateway streamed into the blob store (gateway.inputs.upload)."""
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    size = fields.Integer(required=True, validate=validate.Range(min=0))
    sha256 = fields.String(required=True, validate=validate.Length(equal=64))
    filename = fields.String(load_default=None, validate=validate.Length(max=500))


# --- the drawn signature and the signer's origin ------------------------------------------------
def decode_png(text: str) -> bytes:
    """The drawn signature as sent: base64, optionally as the canvas's ``data:image/png;base64,`` URL."""
    text = text.removeprefix("data:image/png;base64,")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed.of({"signature_png": ["Send the drawn signature as a base64 PNG."]}) from None


def check_png(data: bytes) -> bytes:
    """The drawn signature: a PNG no larger than MAX_SIGNATURE_BYTES and MAX_SIGNATURE_PIXELS,
    that decodes, and is not blank. Anything else is a 422."""
    def refuse(why: str):
        return ValidationFailed.of({"signature_png": [why]})

    if len(data) > MAX_SIGNATURE_BYTES:
        raise refuse(f"The drawn signature is larger than {MAX_SIGNATURE_BYTES // 1000} kB.")
    if not data.startswith(PNG_MAGIC):
        raise refuse("The drawn signature must be a PNG image.")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or image.width > MAX_SIGNATURE_PIXELS[0] or image.height > MAX_SIGNATURE_PIXELS[1]:
                raise refuse(f"The drawn signature must be a PNG of at most "
                             f"{MAX_SIGNATURE_PIXELS[0]}x{MAX_SIGNATURE_PIXELS[1]} pixels.")
            image.load()
            extrema = image.convert("LA").getextrema()
    except ValidationFailed:
        raise
    except Exception:
        raise refuse("The drawn signature is not a readable PNG image.") from None
    (low, high), (_, alpha_high) = extrema
    if alpha_high == 0 or low == high:
        raise refuse("The drawn signature is empty: draw your signature.")
    return data


def coarse_network(address: str | None) -> str | None:
    """The caller's network, not its address: 203.0.113.7 -> 203.0.113.0/24, an IPv6 address -> its /48."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


def browser_family(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    for mark, family in _BROWSERS:
        if mark in user_agent:
            return family
    return "Other"


def signer(data: dict, origin: dict) -> dict:
    """The checked parts of a signature (``SignatureIn`` loaded, the caller's ``{ip, user_agent}``):
    ``full_name`` (spaces tidied), ``signature_png`` (bytes), ``origin_network``, ``user_agent``
    (the browser family). 422 for a name of spaces or a drawn signature that is not a real PNG."""
    full_name = re.sub(r"\s+", " ", data["full_name"]).strip()
    if not full_name:
        raise ValidationFailed.of({"full_name": ["Type your full name."]})
    return {"full_name": full_name, "signature_png": check_png(decode_png(data["signature_png"])),
            "origin_network": coarse_network(origin.get("ip")),
            "user_agent": browser_family(origin.get("user_agent"))}


# --- an uploaded document to sign ---------------------------------------------------------------
def check_pdf(data: bytes, field: str = "file") -> int:
    """An uploaded document to sign: a readable, unencrypted PDF of at most MAX_DOCUMENT_BYTES and
    MAX_DOCUMENT_PAGES pages, judged by its content (not its name). Its page count, or a 422."""
    def refuse(why: str):
        return ValidationFailed.of({field: [why]}, "The document was not kept.")

    if len(data) > MAX_DOCUMENT_BYTES:
        raise refuse(f"The document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB.")
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise refuse("The document must be a PDF.")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise refuse("The PDF is password-protected: upload it without a password.")
        pages = len(reader.pages)
    except ValidationFailed:
        raise
    except Exception:
        raise refuse("The PDF could not be read; save it again as PDF.") from None
    if not 1 <= pages <= MAX_DOCUMENT_PAGES:
        raise refuse(f"The PDF must have 1 to {MAX_DOCUMENT_PAGES} pages.")
    return pages


def signature_page(title: str, signature: dict) -> bytes:
    """One A4 page (a PDF) recording a signature: the document signed (``title``), who signed
    (``full_name``, and ``company`` when given), when (``signed_at``, a datetime), from where
    (``origin_network``, ``user_agent``), the SHA-256 of the document signed
    (``document_sha256``) and the drawn signature (``png``)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    from services.common.pdf_fonts import fonts

    regular, bold = fonts()        # embedded DejaVu: a signer named Łukasz or Čapek shows as typed
    out = io.BytesIO()
    page = Canvas(out, pagesize=A4, pageCompression=1)
    page.setTitle(f"Signature: {title}")
    width, height = A4
    left, y = 56, height - 72
    page.setFont(bold, 16)
    page.drawString(left, y, "Electronic signature")
    y -= 22
    page.setFont(regular, 11)
    page.drawString(left, y, title[:110])
    y -= 30
    signed_at: datetime = signature["signed_at"]
    rows = [("Signed by", signature["full_name"]),
            ("For", signature.get("company")),
            ("Signed at", signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("From", " · ".join(v for v in (signature.get("origin_network"), signature.get("user_agent")) if v) or "-")]
    for label, value in rows:
        if not value:
            continue
        page.setFont(bold, 10)
        page.drawString(left, y, label)
        page.setFont(regular, 10)
        page.drawString(left + 90, y, str(value)[:100])
        y -= 16
    y -= 8
    page.setFont(bold, 10)
    page.drawString(left, y, "Document SHA-256 (the pages before this one)")
    y -= 15
    page.setFont("Courier", 9)
    page.drawString(left, y, signature["document_sha256"])
    y -= 20
    page.setFont(bold, 10)
    page.drawString(left, y, "Signature")
    image = ImageReader(io.BytesIO(signature["png"]))
    image_width, image_height = image.getSize()
    scale = min(300 / image_width, 100 / image_height, 1.0)
    shown_height = image_height * scale
    y -= 8 + shown_height
    page.drawImage(image, left, y, width=image_width * scale, height=shown_height, mask="auto")
    page.line(left, y - 4, left + 300, y - 4)
    page.setFont(regular, 8)
    page.drawString(left, y - 16, "Signed electronically with a typed name and a drawn signature; the hash above "
                                  "identifies the exact document signed.")
    page.showPage()
    page.save()
    return out.getvalue()


def with_signature_page(document: bytes, title: str, signature: dict) -> bytes:
    """The signed copy: ``document``'s pages unchanged, then its ``signature_page``."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(document)))
    writer.append(PdfReader(io.BytesIO(signature_page(title, signature))))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_file(filename: str, content: bytes) -> dict:
    """RPC bodies are JSON: a PDF travels base64-encoded; the gateway sends the bytes."""
    return {"filename": filename, "content_type": "application/pdf", "base64": base64.b64encode(content).decode()}
