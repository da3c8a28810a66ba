"""What a view hands on to a service besides a JSON body: query strings as sent, and uploaded
files (streamed into the blob store; the service gets the key and decides whether to keep it)."""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields

from services.common.blobs import blob_store
from services.common.config import env_int
from services.common.errors import ValidationFailed


def query_args() -> dict:
    """The query string as the client sent it (a repeated name becomes a list): services load
    it with their own schema, so it travels as text, not as the gateway's parsed values."""
    return {name: values[0] if len(values) == 1 else values for name, values in request.args.lists()}


def form_fields(*names: str) -> dict:
    return {name: request.form[name] for name in names if name in request.form}


def upload(field: str = "file", prefix: str = "uploads") -> dict:
    """Stream the multipart file ``field`` into the blob store: ``{key, size, sha256, filename}``."""
    sent = request.files.get(field)
    if sent is None or not sent.filename:
        raise ValidationFailed.of({field: ["Send the file as multipart/form-data in the field "
                                           f"{field!r}."]})
    stored = blob_store().put(sent.stream, max_bytes=env_int("MAX_UPLOAD_BYTES"), prefix=prefix)
    if stored.size == 0:
        blob_store().delete(stored.key)
        raise ValidationFailed.of({field: ["The file is empty."]})
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": sent.filename}


class FileField(Schema):
    """The OpenAPI description of a multipart file field."""
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
