"""The notify service's RPC payloads and answers (the gateway documents its routes with them)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.schemas import PageArgs, Several, StrictSchema


class NotificationOut(Schema):
    id = fields.String(required=True)
    event_type = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    link = fields.String(allow_none=True, metadata={"description": "The portal page it is about."})
    subject_id = fields.String(allow_none=True, metadata={"description": "The order, invoice, quote ... id."})
    created_at = fields.AwareDateTime(required=True)
    read_at = fields.AwareDateTime(allow_none=True)


class FeedArgs(PageArgs):
    unread = fields.Boolean(load_default=None, metadata={"description": "Only unread (true) or read (false) ones."})


class FeedPage(Schema):
    items = fields.List(fields.Nested(NotificationOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    unread = fields.Integer(required=True, metadata={"description": "Your unread notifications in all."})


class UnreadOut(Schema):
    unread = fields.Integer(required=True)


class ReadAllIn(StrictSchema):
    before = fields.AwareDateTime(load_default=None, metadata={
        "description": "Only those created up to this moment (what the user saw); default: all."})


class ChannelChoices(Schema):
    in_app = fields.Boolean()
    email = fields.Boolean()


PREFERENCES_DOC = {"type": "object", "description": "Keys are event types; a type shown only in the app has no `email`.",
                   "additionalProperties": {"type": "object", "properties": {
                       "in_app": {"type": "boolean"}, "email": {"type": "boolean"}}},
                   "example": {"order.status_changed": {"in_app": True, "email": False}}}


class FollowingOut(Schema):
    all_customers = fields.Boolean(required=True)
    customer_ids = fields.List(fields.String(), required=True)


class FollowIn(StrictSchema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=36),
                                metadata={"description": "A customer id, or `*` for every customer."})


class WebhookIn(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    events = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=60),
                         metadata={"description": "Event types to receive (see the AsyncAPI document), or `[\"*\"]`."})
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    customer_id = fields.String(load_default=None, allow_none=True, metadata={
        "description": "Operator staff only: one customer's events; omitted: every customer's."})


class WebhookPatch(StrictSchema):
    url = fields.String(validate=validate.Length(min=1, max=2000))
    events = fields.List(fields.String(), validate=validate.Length(min=1, max=60))
    description = fields.String(allow_none=True, validate=validate.Length(max=200))
    enabled = fields.Boolean(metadata={"description": "Switch back on after it was disabled (failures)."})


class WebhookOut(Schema):
    id = fields.String(required=True)
    customer_id = fields.String(allow_none=True)
    url = fields.String(required=True)
    description = fields.String(allow_none=True)
    events = fields.List(fields.String(), required=True)
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True)
    disabled_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class WebhookCreatedOut(WebhookOut):
    secret = fields.String(required=True, metadata={
        "description": "The signing secret (`whsec_...`): shown this once; verify deliveries with it."})


class WebhookListArgs(PageArgs):
    customer_id = fields.String(load_default=None)


class AttemptOut(Schema):
    attempted_at = fields.AwareDateTime(required=True)
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    response_body = fields.String(allow_none=True, metadata={"description": "The first 1,024 characters."})
    duration_ms = fields.Float(required=True)


class DeliveryOut(Schema):
    id = fields.String(required=True)
    msg_id = fields.String(required=True, metadata={"description": "The `webhook-id` header: the same on retries."})
    event_id = fields.String(allow_none=True)
    event_type = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, succeeded, failed or cancelled."})
    attempts = fields.Integer(required=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    attempt_log = fields.List(fields.Nested(AttemptOut), required=True)


class DeliveryListArgs(PageArgs):
    status = Several(fields.String(validate=validate.OneOf(["pending", "succeeded", "failed", "cancelled"])),
                     load_default=None)


class EmailOut(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    customer_id = fields.String(allow_none=True)
    to_address = fields.String(required=True)
    subject = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "queued, sent, bounced or failed."})
    attempts = fields.Integer(required=True)
    last_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    sent_at = fields.AwareDateTime(allow_none=True)


class EmailListArgs(PageArgs):
    customer_id = fields.String(load_default=None)
    status = Several(fields.String(validate=validate.OneOf(["queued", "sent", "bounced", "failed"])),
                     load_default=None)
    to = fields.String(load_default=None, data_key="to")


class UnsubscribeOut(Schema):
    email = fields.String(required=True)
    event_type = fields.String(required=True)
    subscribed = fields.Boolean(required=True)
