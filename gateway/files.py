"""Files the gateway answers with: a blob of the store streamed as it is, or the bytes a service
sent back (base64 over RPC); and where a signer signs from. One place for the headers: the name
(RFC 6266 ``Content-Disposition``, inline or attachment) and that a customer's file is never
kept by a shared cache."""
from __future__ import annotations

import base64

from flask import Response, request, stream_with_context

from gateway.auth import client_address
from services.common.blobs import blob_store
from services.orders.files import content_disposition

NO_STORE = "private, no-store"


def _named(response: Response, filename: str, inline: bool, cache: str) -> Response:
    response.headers["Content-Disposition"] = content_disposition(filename, "inline" if inline else "attachment")
    response.headers["Cache-Control"] = cache
    return response


def send_stored(found: dict, inline: bool, cache: str = "private, max-age=300") -> Response:
    """A blob (``found``: key, content_type, filename, size) streamed in 64 kB blocks."""
    stream = blob_store().open(found["key"])

    def chunks():
        with stream:
            while block := stream.read(64 * 1024):
                yield block

    response = Response(stream_with_context(chunks()), mimetype=found.get("content_type") or "application/pdf")
    if found.get("size"):
        response.headers["Content-Length"] = str(found["size"])
    return _named(response, found["filename"], inline, cache)


def send_bytes(body: bytes, content_type: str, filename: str, inline: bool = False) -> Response:
    return _named(Response(body, mimetype=content_type), filename, inline, NO_STORE)


def send_rpc_file(found: dict, inline: bool = False) -> Response:
    """A file a service answered with: ``base64`` (or ``text``), ``content_type``, ``filename``."""
    body = base64.b64decode(found["base64"]) if "base64" in found else found["text"].encode("utf-8")
    return send_bytes(body, found.get("content_type") or "application/pdf", found["filename"], inline)


def signer_origin() -> dict:
    """Where a signature is given from, for services.common.esign to coarsen (never kept whole)."""
    return {"ip": client_address(), "user_agent": request.headers.get("User-Agent", "")[:500]}
