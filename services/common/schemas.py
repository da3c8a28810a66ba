"""Schema pieces every service and the gateway share: paging, money-free basics, loading."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.common.errors import ValidationFailed

MAX_PER_PAGE = 200


class StrictSchema(Schema):
    """Refuses unknown fields, so a typo or a field the caller may not set (customer_id, role,
    status, price ...) is a clear 422 instead of being silently dropped."""

    class Meta:
        unknown = RAISE


MAX_PAGE = 1_000_000


class PageArgs(StrictSchema):
    # Bounded: page * per_page is a PostgreSQL OFFSET (bigint); a page of 10**22 was a 500
    # "bigint out of range" (found by Schemathesis, tests/attack/test_schemathesis.py).
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    sort = fields.String(load_default=None)


class Several(fields.List):
    """A query argument that may name several values: repeated (``?status=a&status=b``) or
    comma-separated (``?status=a,b``); one value arrives as a plain string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [part for part in value.split(",") if part]
        return super()._deserialize(value, attr, data, **kwargs)


_pages: dict[type[Schema], type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The list body of API.md: ``{items, page, per_page, total}``."""
    if item not in _pages:
        _pages[item] = type(f"{item.__name__.removesuffix('Schema')}Page", (Schema,), {
            "items": fields.List(fields.Nested(item), required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
        })
    return _pages[item]


@lru_cache(maxsize=None)
def instance(schema: type[Schema], many: bool = False) -> Schema:
    """One instance per schema class: building a marshmallow Schema deep-copies its fields,
    which cost ~0.25 ms a call here, more than the query it describes."""
    return schema(many=many)


def dump(schema: type[Schema], obj: Any, many: bool = False) -> Any:
    return instance(schema, many).dump(obj)


def load(schema: type[Schema], data: Any, partial: bool = False) -> dict[str, Any]:
    """Validate an RPC payload at the service (the gateway has validated it too)."""
    if not isinstance(data, dict):
        raise ValidationFailed.of({"_schema": ["Expected an object."]})
    try:
        return instance(schema).load(data, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed.of(exc.normalized_messages()) from None
