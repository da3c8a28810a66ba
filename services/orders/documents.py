"""Documents on orders: what customers and staff upload (bills of lading, labels, photos) and
the proof of delivery drivers send. The bytes live in the blob store; the gateway streams an
upload there and hands over its key, this module decides whether to keep it."""
from __future__ import annotations

import logging

from sqlalchemy import func, select

from services.common.blobs import blob_store
from services.common.caller import CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.offload import off_the_hub
from services.common.schemas import dump
from services.orders import files, sites
from services.orders.booking import get_scoped
from services.orders.imports import check_upload
from services.orders.models import Document, Order, Stop
from services.common.scoping import get_owned
from services.orders.schemas import DocumentOut

log = logging.getLogger(__name__)
MAX_PER_ORDER = 200
SNIFF_BYTES = 8192


def out(doc: Document) -> dict:
    return dump(DocumentOut, {**{c.key: getattr(doc, c.key) for c in Document.__table__.columns},
                              "has_thumbnail": doc.thumbnail_key is not None})


def listing(uow: UnitOfWork, caller: CallerContext, order_id: str) -> list[dict]:
    order = get_scoped(uow.session, caller, order_id)
    docs = uow.session.scalars(select(Document).where(Document.order_id == order.id)
                               .order_by(Document.created_at, Document.id)).all()
    return [out(d) for d in docs]


def _thumbnail(key: str, content_type: str) -> str | None:
    """Decoding an image is CPU work: it runs in a real thread so the service's hub keeps
    serving (PITFALLS 10); the file is fetched before, on the hub (boto3's sockets are green
    here and must not be used from that thread). Returns the thumbnail's blob key."""
    store = blob_store()

    def make(path: str) -> bytes | None:
        with open(path, "rb") as stream:
            return files.thumbnail(stream, content_type)

    with store.local_path(key) as path:
        data = off_the_hub(make, path)
    return store.put_bytes(data, prefix="thumbs").key if data else None


def _sniff(key: str, filename: str | None) -> str:
    with blob_store().open(key) as stream:
        head = stream.read(SNIFF_BYTES)
        stream.seek(0)
        # With the stream, Office files are told apart by their zip's directory, not a guess.
        return files.sniff(head, filename, stream=stream)


def add(uow: UnitOfWork, caller: CallerContext, order_id: str, upload: dict) -> dict:
    """Keep an uploaded blob as a document of the order, or refuse it and delete the blob."""
    store = blob_store()
    check_upload(caller, upload)
    try:
        order = get_scoped(uow.session, caller, order_id, lock=True)
        count = uow.session.scalar(select(func.count()).select_from(Document).where(Document.order_id == order.id))
        if count >= MAX_PER_ORDER:
            raise Conflict(f"An order keeps at most {MAX_PER_ORDER} documents.", {"count": count})
        content_type = _sniff(upload["key"], upload.get("filename"))
        thumb = _thumbnail(upload["key"], content_type) if content_type.startswith("image/") else None
    except Exception:
        store.delete(upload["key"])
        raise
    doc = Document(customer_id=order.customer_id, order_id=order.id, kind=upload.get("kind") or "document",
                   filename=files.safe_filename(upload.get("filename"), content_type),
                   content_type=content_type, size=upload["size"], sha256=upload.get("sha256"),
                   blob_key=upload["key"], thumbnail_key=thumb, uploaded_by=caller.user_id,
                   uploaded_by_role=caller.role)
    uow.session.add(doc)
    uow.session.flush()
    uow.emit("document.added", {"order_id": order.id, "document_id": doc.id, "kind": doc.kind,
                                "filename": doc.filename}, customer_id=order.customer_id)
    return out(doc)


def attach_blob(uow: UnitOfWork, order: Order, stop: Stop, kind: str, blob: dict, name: str) -> Document | None:
    """Proof of delivery the tracking service already stored: ``{key, content_type, size, sha256}``.
    A reference to a blob that is not there is logged and skipped: the stop still completes."""
    store = blob_store()
    key = blob.get("key")
    if not key or not store.exists(key):
        log.warning("proof of delivery %s for stop %s is missing from the blob store", key, stop.id)
        return None
    try:
        content_type = _sniff(key, None)
        thumb = _thumbnail(key, content_type) if content_type.startswith("image/") else None
    except ValidationFailed as exc:
        # A driver's stop completes even when a photo is unusable; the file is left out.
        log.warning("proof of delivery %s for stop %s refused: %s", key, stop.id, exc)
        return None
    doc = Document(customer_id=order.customer_id, order_id=order.id, stop_id=stop.id, kind=kind,
                   filename=files.safe_filename(name, content_type), content_type=content_type,
                   size=blob.get("size") or 0, sha256=blob.get("sha256"), blob_key=key,
                   thumbnail_key=thumb, uploaded_by=None, uploaded_by_role="driver")
    uow.session.add(doc)
    uow.session.flush()
    uow.emit("document.added", {"order_id": order.id, "document_id": doc.id, "kind": kind,
                                "filename": doc.filename}, customer_id=order.customer_id)
    return doc


def content(uow: UnitOfWork, caller: CallerContext, document_id: str, thumbnail: bool = False) -> dict:
    """Where the gateway finds the bytes of a document the caller may see."""
    doc = get_owned(uow.session, caller, Document, document_id, "document")
    sites.require_visible_order(uow.session, caller, doc.order_id, "document")
    if thumbnail and not doc.thumbnail_key:
        raise NotFound("No such document.")
    if thumbnail:
        return {"key": doc.thumbnail_key, "content_type": "image/jpeg", "filename": f"thumb-{doc.filename}.jpg"}
    return {"key": doc.blob_key, "content_type": doc.content_type, "filename": doc.filename, "size": doc.size}
