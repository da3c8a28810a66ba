"""What a view hands on to a service besides a JSON body: query strings as sent, and uploaded
files (streamed into the blob store; the service gets the key and decides whether to keep it)."""
from __future__ import annotations

import json
import re

from flask import request
from marshmallow import Schema, fields

from services.common.blobs import blob_store
from services.common.config import env_int
from services.common.errors import BadRequest, ValidationFailed


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


# In a JSON body a NUL or a UTF-16 surrogate can only be spelled as an escape; only a body that
# holds one is parsed again here.
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F])", re.ASCII)
NOT_TEXT = ("The request holds text that cannot be stored: a NUL character or a lone UTF-16 "
            "surrogate.")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refuse_unstorable_text() -> None:
    """Answer 400 up front to text no service can keep, found by Schemathesis
    (tests/attack/test_schemathesis.py): a NUL character (PostgreSQL refuses it in text: a 500 from
    whichever service stored or searched it, e.g. ``?customer_id=%00`` or a name "a\\u0000") and a
    lone surrogate such as ``"\\udb7c"`` (json.loads accepts it, but the RPC message cannot be
    encoded as UTF-8: a 500). Path, query string and JSON body; a multipart upload is the
    import's and the document check's to judge."""
    if not _storable(request.path) or not all(
            _storable(k) and _storable(v) for k, v in request.args.items(multi=True)):
        raise BadRequest(NOT_TEXT)
    if not request.is_json:
        return
    raw = request.get_data(cache=True)
    if not _SUSPECT_ESCAPE.search(raw):
        return
    try:
        body = json.loads(raw)
    except ValueError:
        return                           # not JSON at all: the view's parser answers that
    if not all(_storable(text) for text in _strings(body)):
        raise BadRequest(NOT_TEXT)
