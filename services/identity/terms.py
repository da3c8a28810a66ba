"""The operator's terms: the operator's admin uploads them as a PDF, each upload a new version;
each customer's admin signs the current version (services/common/esign.py).

A version is the exact file uploaded, kept in the blob store with the SHA-256 of its bytes. The
customer's admin is shown that hash with the PDF and sends it back with the signature, so terms
replaced meanwhile cannot be signed against what was shown before (409). A company signs each
version once; its signed copy is the file's pages followed by a signature page.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common import esign
from services.common.blobs import blob_store
from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, OPERATOR_ADMIN, OPERATOR_ROLES, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.offload import off_the_hub
from services.identity import audit
from services.identity.models import Customer, TermsSignature, TermsVersion


def current(session: Session) -> TermsVersion | None:
    return session.scalar(select(TermsVersion).order_by(TermsVersion.version.desc()).limit(1))


def _current_or_404(session: Session) -> TermsVersion:
    found = current(session)
    if found is None:
        raise NotFound("The operator has not published terms.")
    return found


def version_view(row: TermsVersion) -> dict:
    return {"version": row.version, "sha256": row.sha256, "size": row.size, "pages": row.pages,
            "filename": row.filename, "uploaded_at": row.uploaded_at.isoformat(), "uploaded_by": row.uploaded_by}


def signature_view(row: TermsSignature, customer_name: str | None = None) -> dict:
    return {"customer_id": row.customer_id, "customer_name": customer_name, "version": row.version,
            "document_sha256": row.document_sha256, "full_name": row.full_name, "signed_by": row.signed_by,
            "signed_at": row.signed_at.isoformat(), "origin_network": row.origin_network,
            "user_agent": row.user_agent}


def _signature(session: Session, customer_id: str, version: int) -> TermsSignature | None:
    return session.scalar(select(TermsSignature).where(TermsSignature.customer_id == customer_id,
                                                       TermsSignature.version == version))


# --- the customer's side ------------------------------------------------------------------------
def status(session: Session, caller: CallerContext) -> dict:
    """The current terms and whether the caller's company signed them (by whom, when).
    ``must_sign``: there are terms and the company has not signed this version."""
    customer_id = caller.scope()
    row = current(session)
    signed = _signature(session, customer_id, row.version) if row is not None and customer_id else None
    # which staff member uploaded the terms is the operator's business, not the customer's
    shown = {k: v for k, v in version_view(row).items() if k != "uploaded_by"} if row is not None else None
    return {"current": shown,
            "signature": signature_view(signed) if signed else None,
            "must_sign": row is not None and signed is None and customer_id is not None}


def document(session: Session, caller: CallerContext) -> dict:
    """Where the current version's bytes are (the gateway streams them from the blob store)."""
    caller.require(*CUSTOMER_ROLES, *OPERATOR_ROLES)
    row = _current_or_404(session)
    return {"key": row.blob_key, "sha256": row.sha256, "filename": f"terms-v{row.version}.pdf"}


def sign(uow: UnitOfWork, caller: CallerContext, data: dict, origin: dict) -> dict:
    """The company accepts the current terms with its admin's signature, given against
    ``document_sha256``, the hash of the document shown. 409 when the terms were replaced since
    or the company signed this version already. Audited."""
    caller.require(CUSTOMER_ADMIN)
    session = uow.session
    row = _current_or_404(session)
    if row.sha256 != data["document_sha256"]:
        raise Conflict(f"The terms were replaced since this document was shown (version {row.version} is "
                       "current): read the current terms and sign those.",
                       {"version": row.version, "document_sha256": row.sha256})
    signed = esign.signer(data, origin)
    before = _signature(session, caller.customer_id, row.version)
    if before is not None:
        raise Conflict(f"Your company signed version {row.version} of the terms already "
                       f"({before.full_name}, {before.signed_at:%Y-%m-%d}).", {"version": row.version})
    record = TermsSignature(customer_id=caller.customer_id, version=row.version, document_sha256=row.sha256,
                            signed_by=caller.user_id, signed_at=utcnow(), **signed)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:      # another admin of the company signed at the same moment
        raise Conflict(f"Your company signed version {row.version} of the terms already.",
                       {"version": row.version}) from None
    audit.record(session, caller, "terms.signed", customer_id=caller.customer_id, target_id=str(row.version),
                 address=signed["origin_network"],
                 details={"version": row.version, "document_sha256": row.sha256, "full_name": signed["full_name"]})
    return status(session, caller)


def signed_pdf(session: Session, caller: CallerContext, customer_id: str | None = None,
               version: int | None = None) -> dict:
    """The terms as the company signed them (the latest version it signed, or ``version``): the
    file's pages, then the signature page. Operator staff name the customer."""
    scope = caller.scope(customer_id)
    if scope is None:
        raise ValidationFailed.of({"customer_id": ["Name the customer whose signed terms to show."]})
    query = select(TermsSignature).where(TermsSignature.customer_id == scope)
    if version is not None:
        query = query.where(TermsSignature.version == version)
    found = session.scalar(query.order_by(TermsSignature.version.desc()).limit(1))
    if found is None:
        raise NotFound("Your company has not signed the terms." if caller.is_customer
                       else "This customer has not signed the terms.")
    row = session.get(TermsVersion, found.version)
    with blob_store().open(row.blob_key) as stream:
        content = stream.read()
    company = session.get(Customer, found.customer_id)
    page = {"full_name": found.full_name, "company": company.name if company else None,
            "signed_at": found.signed_at, "origin_network": found.origin_network,
            "user_agent": found.user_agent, "document_sha256": found.document_sha256,
            "png": found.signature_png}
    signed = off_the_hub(esign.with_signature_page, content, f"Terms and conditions, version {row.version}", page)
    return esign.pdf_file(f"terms-v{row.version}-signed.pdf", signed)


# --- the operator's side ------------------------------------------------------------------------
def upload(uow: UnitOfWork, caller: CallerContext, upload: dict) -> dict:
    """Keep an uploaded PDF (``{key, size, sha256, filename}`` from the gateway) as the next
    version of the terms; every company must sign it. A refused file is deleted from the store;
    the file of the current version again is refused (409)."""
    caller.require_operator(OPERATOR_ADMIN)
    store = blob_store()
    if int(upload.get("size") or 0) > esign.MAX_DOCUMENT_BYTES:
        store.delete(upload["key"])
        raise ValidationFailed.of({"file": [f"The document is larger than "
                                            f"{esign.MAX_DOCUMENT_BYTES // (1024 * 1024)} MB."]})
    with store.open(upload["key"]) as stream:
        content = stream.read(esign.MAX_DOCUMENT_BYTES + 1)
    try:
        pages = off_the_hub(esign.check_pdf, content)      # pypdf parses: off the hub (PITFALLS 10)
    except ValidationFailed:
        store.delete(upload["key"])
        raise
    sha256 = hashlib.sha256(content).hexdigest()      # of the bytes kept, whatever the gateway said
    session = uow.session
    latest = current(session)
    if latest is not None and latest.sha256 == sha256:
        store.delete(upload["key"])
        raise Conflict(f"This file is version {latest.version} of the terms already.", {"version": latest.version})
    row = TermsVersion(version=(latest.version if latest else 0) + 1, sha256=sha256, blob_key=upload["key"],
                       size=len(content), pages=pages, filename=(upload.get("filename") or "")[:255] or None,
                       uploaded_at=utcnow(), uploaded_by=caller.user_id)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:      # another upload took this version number at the same moment
        store.delete(upload["key"])
        raise Conflict("Other terms were uploaded at the same moment: look again and upload once more.") from None
    audit.record(session, caller, "terms.published", target_id=str(row.version),
                 details={"version": row.version, "sha256": sha256})
    uow.emit("terms.published", {"version": row.version, "sha256": sha256})     # notify asks every admin
    return admin_view(session, caller)


def admin_view(session: Session, caller: CallerContext) -> dict:
    """Every version, newest first, with how many companies signed each."""
    caller.require_operator()
    counts = dict(session.execute(select(TermsSignature.version, func.count())
                                  .group_by(TermsSignature.version)).all())
    rows = session.scalars(select(TermsVersion).order_by(TermsVersion.version.desc())).all()
    return {"current": version_view(rows[0]) if rows else None,
            "versions": [{**version_view(r), "signatures": counts.get(r.version, 0)} for r in rows],
            "customers": session.scalar(select(func.count()).select_from(Customer)
                                        .where(Customer.is_active.is_(True)))}


def signatures(session: Session, caller: CallerContext, args: dict) -> dict:
    """Who signed which version, newest first (``version``, ``customer_id`` narrow it)."""
    caller.require_operator()
    query = (select(TermsSignature, Customer.name).join(Customer, Customer.id == TermsSignature.customer_id)
             .order_by(TermsSignature.signed_at.desc()))
    for name in ("version", "customer_id"):
        if args.get(name) is not None:
            query = query.where(getattr(TermsSignature, name) == args[name])
    page, per_page = args.get("page", 1), args.get("per_page", 50)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [signature_view(sig, name) for sig, name in rows], "page": page, "per_page": per_page,
            "total": total}
