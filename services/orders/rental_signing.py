"""Sign a rental contract: the operator attaches the contract PDF to a rental contract, the
customer (an admin or a booker) signs it with an electronic signature (services/common/esign.py).

Each attachment is a new version, kept in the blob store with the SHA-256 of its bytes; the newest
is the one to sign. The customer is shown that hash with the PDF and sends it back with the
signature, so a document attached again meanwhile cannot be signed against what was shown before
(409). The signed copy is the file's pages followed by a signature page.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common import esign
from services.common.blobs import blob_store
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_BOOKER, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.offload import off_the_hub
from services.common.scoping import get_owned
from services.orders.models import CustomerSettings, RentalContract, RentalDocument, RentalSignature

SIGNERS = (CUSTOMER_ADMIN, CUSTOMER_BOOKER)      # the people who book rentals sign their contracts


def _contract(session: Session, caller: CallerContext, contract_id: str, lock: bool = False) -> RentalContract:
    return get_owned(session, caller, RentalContract, contract_id, "rental contract", lock=lock)


def current_document(session: Session, contract_id: str) -> RentalDocument | None:
    return session.scalar(select(RentalDocument).where(RentalDocument.contract_id == contract_id)
                          .order_by(RentalDocument.version.desc()).limit(1))


def _signature_of(session: Session, document: RentalDocument) -> RentalSignature | None:
    return session.scalar(select(RentalSignature).where(RentalSignature.document_id == document.id))


def signature_view(row: RentalSignature) -> dict:
    return {"contract_id": row.contract_id, "document_sha256": row.document_sha256, "full_name": row.full_name,
            "signed_by": row.signed_by, "signed_at": row.signed_at.isoformat(),
            "origin_network": row.origin_network, "user_agent": row.user_agent}


def document_view(session: Session, contract: RentalContract) -> dict | None:
    """The contract document to sign (on the contract's view): its version and hash, and its
    signature once signed; None while the operator attached none."""
    found = current_document(session, contract.id)
    if found is None:
        return None
    signed = _signature_of(session, found)
    return {"version": found.version, "sha256": found.sha256, "size": found.size, "pages": found.pages,
            "filename": found.filename, "attached_at": found.attached_at.isoformat(),
            "signature": signature_view(signed) if signed else None}


def _document_or_404(session: Session, contract: RentalContract) -> RentalDocument:
    found = current_document(session, contract.id)
    if found is None:
        raise NotFound(f"Rental contract {contract.number} has no document to sign yet.")
    return found


# --- the operator attaches ------------------------------------------------------------------------
def attach(uow: UnitOfWork, caller: CallerContext, contract_id: str, upload: dict) -> dict:
    """Keep an uploaded PDF (``{key, size, sha256, filename}`` from the gateway) as the contract's
    document to sign; a signature given against an earlier one no longer counts for it. A refused
    file is deleted from the store; the current document's file again is refused (409)."""
    caller.require_operator()
    store = blob_store()
    session = uow.session
    try:
        contract = _contract(session, caller, contract_id, lock=True)
        if int(upload.get("size") or 0) > esign.MAX_DOCUMENT_BYTES:
            raise ValidationFailed.of({"file": [f"The document is larger than "
                                                f"{esign.MAX_DOCUMENT_BYTES // (1024 * 1024)} MB."]})
        with store.open(upload["key"]) as stream:
            content = stream.read(esign.MAX_DOCUMENT_BYTES + 1)
        pages = off_the_hub(esign.check_pdf, content)      # pypdf parses: off the hub (PITFALLS 10)
        sha256 = hashlib.sha256(content).hexdigest()        # of the bytes kept, whatever the gateway said
        latest = current_document(session, contract.id)
        if latest is not None and latest.sha256 == sha256:
            raise Conflict(f"This file is the document of rental contract {contract.number} already.",
                           {"version": latest.version})
    except Exception:
        store.delete(upload["key"])
        raise
    version = (session.scalar(select(func.max(RentalDocument.version))
                              .where(RentalDocument.contract_id == contract.id)) or 0) + 1
    session.add(RentalDocument(contract_id=contract.id, customer_id=contract.customer_id, version=version,
                               sha256=sha256, blob_key=upload["key"], size=len(content), pages=pages,
                               filename=(upload.get("filename") or "")[:255] or None, attached_at=utcnow(),
                               attached_by=caller.user_id))
    session.flush()
    return document_view(session, contract)


# --- the customer signs ---------------------------------------------------------------------------
def document_file(session: Session, caller: CallerContext, contract_id: str) -> dict:
    """Where the current document's bytes are (the gateway streams them from the blob store)."""
    contract = _contract(session, caller, contract_id)
    found = _document_or_404(session, contract)
    return {"key": found.blob_key, "sha256": found.sha256,
            "filename": f"rental-contract-{contract.number}-v{found.version}.pdf"}


def sign(uow: UnitOfWork, caller: CallerContext, contract_id: str, data: dict, origin: dict) -> dict:
    """Sign the contract's current document, against ``document_sha256``, the hash of the
    document shown. 409 when another document was attached since, or this one is signed already."""
    caller.require(*SIGNERS)
    session = uow.session
    contract = _contract(session, caller, contract_id, lock=True)
    found = _document_or_404(session, contract)
    if found.sha256 != data["document_sha256"]:
        raise Conflict(f"Rental contract {contract.number} has another document since this one was shown: "
                       "read the current document and sign that.",
                       {"version": found.version, "document_sha256": found.sha256})
    signed = esign.signer(data, origin)
    before = _signature_of(session, found)
    if before is not None:
        raise Conflict(f"Rental contract {contract.number} was signed already by {before.full_name}.",
                       {"version": found.version})
    record = RentalSignature(document_id=found.id, contract_id=contract.id, customer_id=contract.customer_id,
                             document_sha256=found.sha256, signed_by=caller.user_id, signed_at=utcnow(), **signed)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:      # signed by someone else at the same moment
        raise Conflict(f"Rental contract {contract.number} was signed already.", {"version": found.version}) from None
    return signature_view(record)


def _record(session: Session, caller: CallerContext, contract_id: str) -> tuple[RentalContract, RentalDocument,
                                                                                  RentalSignature]:
    contract = _contract(session, caller, contract_id)
    found = _document_or_404(session, contract)
    signed = _signature_of(session, found)
    if signed is None:
        raise NotFound(f"The document of rental contract {contract.number} has not been signed.")
    return contract, found, signed


def signature(session: Session, caller: CallerContext, contract_id: str) -> dict:
    """The signature of the contract's current document (404 while unsigned)."""
    return signature_view(_record(session, caller, contract_id)[2])


def signed_pdf(session: Session, caller: CallerContext, contract_id: str) -> dict:
    """The current document as signed: its pages, then the signature page."""
    contract, found, signed = _record(session, caller, contract_id)
    with blob_store().open(found.blob_key) as stream:
        content = stream.read()
    company = session.get(CustomerSettings, contract.customer_id)     # orders' copy of the customer
    page = {"full_name": signed.full_name, "company": company.name if company else None,
            "signed_at": signed.signed_at, "origin_network": signed.origin_network,
            "user_agent": signed.user_agent, "document_sha256": signed.document_sha256, "png": signed.signature_png}
    title = f"Rental contract {contract.number}, document version {found.version}"
    return esign.pdf_file(f"rental-contract-{contract.number}-signed.pdf",
                          off_the_hub(esign.with_signature_page, content, title, page))
