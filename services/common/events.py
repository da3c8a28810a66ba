"""The event envelope and the catalogue of every event type: the one place that knows them.

Envelope: ``{id, type, version, occurred_at, customer_id, correlation_id, data}``. Types are
``<entity>.<past-tense verb>``. ``data`` is checked against the type's schema when the event
is written to the outbox, so a malformed event fails the transaction that would have sent it.
The AsyncAPI document served next to the OpenAPI one is generated from this catalogue.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from marshmallow import INCLUDE, Schema, fields, validate

from services.common.errors import ValidationFailed
from services.common.schemas import instance

EXCHANGE = "portal.events"   # topic exchange; routing key = event type (API.md, partner systems)


class EventData(Schema):
    class Meta:
        unknown = INCLUDE     # producers may add fields; consumers read what they know


class CustomerData(EventData):
    customer_id = fields.String(required=True)
    name = fields.String(required=True)
    client_id = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    has_portal_access = fields.Boolean(required=True)
    require_dimensions = fields.Boolean(required=True)
    location_sharing = fields.String(required=True, validate=validate.OneOf(["exact", "approximate", "none"]))
    allow_order_upload = fields.Boolean(required=True)
    default_depot_id = fields.String(allow_none=True)
    billing_address = fields.Dict(allow_none=True, load_default=None,
                                  metadata={"description": "Printed on invoices and statements."})


class InviteData(EventData):
    invite_id = fields.String(required=True)
    email = fields.Email(required=True)
    customer_id = fields.String(required=True)


class UserData(EventData):
    user_id = fields.String(required=True)
    email = fields.Email(required=True)
    role = fields.String(required=True)
    customer_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True, load_default=None)
    reachable = fields.Boolean(load_default=True, metadata={
        "description": "False once the user was removed or their access switched off: tell them nothing."})


class DriverData(EventData):
    driver_id = fields.String(required=True)
    name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    depot_id = fields.String(allow_none=True)
    is_active = fields.Boolean(required=True)


class BrandingData(EventData):
    version = fields.Integer(required=True, metadata={"description": "Grows with each change: keep the highest."})
    display_name = fields.String(allow_none=True, load_default=None)
    primary_color = fields.String(allow_none=True, load_default=None)
    accent_color = fields.String(allow_none=True, load_default=None)
    email_footer = fields.String(allow_none=True, load_default=None)
    logo = fields.Dict(allow_none=True, load_default=None,
                       metadata={"description": "`{key, content_type, sha256}` in the blob store, or null."})


class PasswordResetData(EventData):
    reset_id = fields.String(required=True)
    user_id = fields.String(required=True)


class OrderData(EventData):
    order_id = fields.String(required=True)
    reference = fields.String(allow_none=True)
    kind = fields.String(load_default=None)
    status = fields.String(required=True)
    site = fields.String(allow_none=True, load_default=None, metadata={
        "description": "The customer's site (cost centre) code the order is booked for, or null."})


class OrderContentData(EventData):
    """What billing prices an order from (the order API's field names, the parts that cost)."""
    kind = fields.String(required=True)
    pickup_at = fields.DateTime(allow_none=True)
    rental_start = fields.Date(allow_none=True)
    rental_end = fields.Date(allow_none=True)
    passengers = fields.Integer(allow_none=True)
    vehicle_type = fields.String(allow_none=True)
    stops = fields.List(fields.Dict(), required=True, metadata={
        "description": "`{type, lat, lng, window_start, window_end}` in route order."})
    items = fields.List(fields.Dict(), required=True, metadata={"description": "`{quantity, weight_kg}`."})


class OrderSubmittedData(OrderData):
    content = fields.Nested(OrderContentData, allow_none=True, load_default=None)


class OrderPricedData(EventData):
    order_id = fields.String(required=True)
    price = fields.Dict(allow_none=True, required=True, metadata={
        "description": "`{currency, lines, net, tax, total, notes}`; null when no rate card applies."})


class OrderStatusData(OrderData):
    previous_status = fields.String(allow_none=True)
    # An admin's decision on an order that waited for approval (services.orders.approval).
    decided_by = fields.String(allow_none=True, load_default=None, metadata={
        "description": "The customer admin who approved or declined it (from `pending_approval`)."})
    created_by = fields.String(allow_none=True, load_default=None, metadata={
        "description": "Who booked it (told of the decision); with `decided_by` only."})
    reason = fields.String(allow_none=True, load_default=None, metadata={"description": "Why it was declined."})


class OrderApprovalData(OrderData):
    customer_id = fields.String(required=True)
    total = fields.Dict(allow_none=True, required=True, metadata={
        "description": "`{amount, currency}` billing prices it at; null when no price was possible."})
    limit = fields.Dict(required=True, metadata={"description": "The customer's approval limit `{amount, currency}`."})
    created_by = fields.String(allow_none=True, required=True, metadata={"description": "Who booked it."})


class RouteStopData(EventData):
    stop_id = fields.String(required=True)
    type = fields.String(required=True)
    position = fields.Integer(required=True)
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    window_start = fields.DateTime(allow_none=True)
    window_end = fields.DateTime(allow_none=True)


class OrderScheduledData(OrderData):
    """What tracking needs to follow the order: which driver, which route, which stops."""
    route_id = fields.String(required=True)
    driver_id = fields.String(allow_none=True)
    route_position = fields.Integer(required=True)
    stops = fields.List(fields.Nested(RouteStopData), required=True)


class StopData(EventData):
    order_id = fields.String(required=True)
    stop_id = fields.String(required=True)
    eta = fields.DateTime(allow_none=True)
    late = fields.Boolean(load_default=False, metadata={"description": "The stop will miss its time window."})


class ProofOfDelivery(EventData):
    recipient_name = fields.String(allow_none=True)
    comments = fields.String(allow_none=True)
    # Blob keys (the tracking service stores the driver's photos and signature first).
    photos = fields.List(fields.Dict(), load_default=list)
    signature = fields.Dict(allow_none=True)


class StopCompletedData(StopData):
    driver_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["completed", "failed"]))
    completed_at = fields.DateTime(required=True)
    reason = fields.String(allow_none=True)
    pod = fields.Nested(ProofOfDelivery, allow_none=True)


class DocumentData(EventData):
    order_id = fields.String(required=True)
    document_id = fields.String(required=True)
    kind = fields.String(required=True)


class MessageData(EventData):
    conversation_id = fields.String(required=True)
    order_id = fields.String(allow_none=True)
    message_id = fields.String(required=True)
    author_role = fields.String(required=True)
    author_side = fields.String(required=True, validate=validate.OneOf(["customer", "operator"]))
    subject = fields.String(allow_none=True)
    preview = fields.String(allow_none=True, load_default=None,
                            metadata={"description": "The start of the message (300 characters at most)."})


class FeedbackData(EventData):
    """The recipient rated a delivered order on its tracking page (once per order; a change made
    within minutes by the same link is announced again)."""
    feedback_id = fields.String(required=True)
    order_id = fields.String(required=True)
    reference = fields.String(allow_none=True, load_default=None)
    driver_id = fields.String(allow_none=True, load_default=None)
    rating = fields.Integer(required=True, metadata={"description": "1 (poor) to 5 (excellent)."})
    comment = fields.String(allow_none=True, load_default=None)


class RequestData(EventData):
    """A customer's request the operator answers: a reschedule or a rental call-off."""
    request_id = fields.String(required=True)
    order_id = fields.String(allow_none=True)
    contract_id = fields.String(allow_none=True)
    status = fields.String(required=True)
    kind = fields.String(allow_none=True, metadata={
        "description": "A delivery change's kind: window | instructions | address (services.orders.exceptions)."})


class QuoteData(EventData):
    quote_id = fields.String(required=True)
    number = fields.String(required=True)
    status = fields.String(required=True)
    total = fields.Dict(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)


class QuoteAcceptedData(QuoteData):
    """Orders books it: the draft the quote was asked for (``order_id``), given the quoted
    content, or a new order made from ``order``."""
    order_id = fields.String(allow_none=True)
    order = fields.Dict(allow_none=True)
    # accepted with an electronic signature: the SHA-256 of the quote's PDF signed
    document_sha256 = fields.String(allow_none=True)


class InvoiceData(EventData):
    invoice_id = fields.String(required=True)
    number = fields.String(required=True)
    total = fields.Dict(required=True)
    due_date = fields.Date(allow_none=True)


class PaymentData(EventData):
    payment_id = fields.String(required=True)
    invoice_id = fields.String(allow_none=True)
    amount = fields.Dict(required=True)


class PaymentFailedData(PaymentData):
    autopay = fields.Boolean(load_default=False, metadata={"description": "An auto-pay charge of an issued invoice."})
    invoice_number = fields.String(allow_none=True, load_default=None)
    failure_code = fields.String(allow_none=True, load_default=None)
    failure_message = fields.String(allow_none=True, load_default=None)


class CreditNoteData(EventData):
    credit_note_id = fields.String(required=True)
    number = fields.String(required=True)
    invoice_id = fields.String(required=True)
    amount = fields.Dict(required=True)


class ImportData(EventData):
    import_id = fields.String(required=True)
    created = fields.Integer(required=True)
    errors = fields.Integer(required=True)
    requested_by = fields.String(allow_none=True, load_default=None,
                                 metadata={"description": "The user who uploaded the file."})
    reply_to = fields.String(allow_none=True, load_default=None,
                             metadata={"description": "A file mailed to the customer's import address: its sender."})


class TermsData(EventData):
    version = fields.Integer(required=True, metadata={"description": "The new version's number."})
    sha256 = fields.String(required=True, metadata={"description": "The SHA-256 of its PDF: what is signed."})


@dataclass(frozen=True)
class EventType:
    name: str
    source: str            # the service that owns and publishes it
    data: type[Schema]
    summary: str


CATALOGUE: dict[str, EventType] = {e.name: e for e in (
    EventType("customer.created", "identity", CustomerData, "An operator created a customer account."),
    EventType("customer.updated", "identity", CustomerData, "A customer's settings or details changed."),
    EventType("invite.sent", "identity", InviteData, "A person was invited to a customer's portal."),
    EventType("user.created", "identity", UserData,
              "The operator opened an account directly; its activation email is on its way."),
    EventType("user.activated", "identity", UserData, "A portal user can now sign in."),
    EventType("user.updated", "identity", UserData,
              "A user's name changed, or their access was switched off or on (`reachable`)."),
    EventType("user.removed", "identity", UserData, "A customer admin removed a colleague."),
    EventType("driver.created", "identity", DriverData, "The operator added a driver."),
    EventType("driver.updated", "identity", DriverData,
              "A driver's name, depot or active flag changed (dispatch keeps a copy)."),
    EventType("branding.updated", "identity", BrandingData,
              "The operator changed its name, logo, colours or email footer (null: the default)."),
    EventType("terms.published", "identity", TermsData,
              "The operator published a new version of its terms: every customer's admins are asked to sign it."),
    EventType("password_reset.requested", "identity", PasswordResetData,
              "Someone asked for a password reset link (for the email sender; no link inside)."),
    EventType("order.created", "orders", OrderData, "An order was created (draft or submitted)."),
    EventType("order.submitted", "orders", OrderSubmittedData,
              "A draft was submitted for delivery (with what it is priced from)."),
    EventType("order.priced", "billing", OrderPricedData,
              "Billing priced an order from its rate card (orders shows the price on the order)."),
    EventType("order.withdrawn", "orders", OrderData, "A submitted order went back to draft."),
    EventType("order.approval_requested", "orders", OrderApprovalData,
              "An order above the customer's approval limit waits for one of its admins."),
    EventType("order.scheduled", "orders", OrderScheduledData, "An order was put on a driver's route."),
    EventType("order.status_changed", "orders", OrderStatusData, "Any change of an order's status."),
    EventType("order.cancelled", "orders", OrderData, "An order was cancelled."),
    EventType("stop.eta_changed", "tracking", StopData, "A stop's ETA moved."),
    EventType("feedback.received", "tracking", FeedbackData,
              "The recipient rated a delivered order (1-5, optional comment) on its tracking page."),
    EventType("stop.completed", "tracking", StopCompletedData,
              "A driver completed (or failed) a stop, with proof of delivery."),
    EventType("document.added", "orders", DocumentData, "A document was attached to an order."),
    EventType("message.posted", "orders", MessageData,
              "A message was posted in a conversation (about an order, or a support question)."),
    EventType("reschedule.requested", "orders", RequestData, "A customer asked to move an order's time window."),
    EventType("reschedule.decided", "orders", RequestData, "The operator accepted or declined a reschedule."),
    EventType("call_off.requested", "orders", RequestData, "A rental customer asked for items to go off rent."),
    EventType("call_off.decided", "orders", RequestData, "The operator confirmed or declined a call-off."),
    EventType("quote.sent", "billing", QuoteData, "The operator sent a priced quote."),
    EventType("quote.requested", "billing", QuoteData, "A customer asked for a quote (the operator prices it)."),
    EventType("quote.changes_requested", "billing", QuoteData, "A customer asked for changes to a sent quote."),
    EventType("quote.accepted", "billing", QuoteAcceptedData, "The customer accepted a quote (orders books it)."),
    EventType("quote.rejected", "billing", QuoteData, "The customer rejected a quote."),
    EventType("invoice.issued", "billing", InvoiceData, "An invoice was issued."),
    EventType("invoice.overdue", "billing", InvoiceData, "An invoice passed its due date unpaid."),
    EventType("payment.received", "billing", PaymentData, "A payment was recorded."),
    EventType("payment.refunded", "billing", PaymentData, "Money was paid back to the customer."),
    EventType("payment.failed", "billing", PaymentFailedData,
              "An auto-pay charge of an issued invoice failed: the invoice stays open."),
    EventType("credit_note.issued", "billing", CreditNoteData, "The operator credited (part of) an invoice."),
    EventType("import.finished", "orders", ImportData, "A spreadsheet import finished."),
)}


class Envelope(Schema):
    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(sorted(CATALOGUE)))
    version = fields.Integer(required=True)
    occurred_at = fields.AwareDateTime(required=True, default_timezone=timezone.utc)
    customer_id = fields.String(allow_none=True, load_default=None)
    correlation_id = fields.String(allow_none=True, load_default=None)
    data = fields.Dict(required=True)


def make_envelope(event_type: str, data: dict[str, Any], customer_id: str | None,
                  correlation_id: str | None = None, occurred_at: datetime | None = None) -> dict[str, Any]:
    """A new event, its data checked against the catalogue. Raises ValidationFailed."""
    spec = CATALOGUE.get(event_type)
    if spec is None:
        raise ValidationFailed(f"unknown event type {event_type!r}")
    schema = instance(spec.data)
    errors = schema.validate(data)
    if errors:
        raise ValidationFailed.of(errors, f"event {event_type} has bad data")
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": (occurred_at or datetime.now(timezone.utc)).isoformat(),
        "customer_id": customer_id,
        "correlation_id": correlation_id,
        # Validated in its wire form (ISO strings, decimal strings), so it goes out as given.
        "data": dict(data),
    }


def typed_data(event: dict[str, Any]) -> dict[str, Any]:
    """An event's data loaded with its catalogue schema: datetimes as datetimes, and so on."""
    return instance(CATALOGUE[event["type"]].data).load(event["data"])


def read_envelope(body: Any) -> dict[str, Any]:
    """Check a received message is an envelope of a known type. Raises ValidationFailed."""
    if not isinstance(body, dict):
        raise ValidationFailed("event body is not an object")
    errors = instance(Envelope).validate(body)
    if errors:
        raise ValidationFailed.of(errors, "not a valid event envelope")
    return body


def asyncapi_document(publishers: dict[str, tuple[str, type[Schema], str]] | None = None) -> dict[str, Any]:
    """AsyncAPI 2.6 description of ``portal.events``, generated from the catalogue; with
    ``publishers`` (routing key -> (exchange, schema, summary)) also the channels others
    publish to, such as the driver apps' ``tracking.driver``."""
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    plugin = MarshmallowPlugin()
    APISpec("events", "1", "3.0.3", plugins=[plugin])
    envelope = plugin.converter.schema2jsonschema(Envelope)
    channels = {}
    for spec in CATALOGUE.values():
        payload = {**envelope, "properties": {**envelope["properties"],
                                               "type": {"type": "string", "const": spec.name},
                                               "data": plugin.converter.schema2jsonschema(spec.data)}}
        channels[spec.name] = {
            "description": spec.summary,
            "bindings": {"amqp": {"is": "routingKey",
                                  "exchange": {"name": EXCHANGE, "type": "topic", "durable": True}}},
            "subscribe": {"operationId": f"on_{spec.name.replace('.', '_')}",
                          "message": {"name": spec.name, "payload": payload,
                                      "x-source-service": spec.source}},
        }
    for key, (exchange, schema, summary) in (publishers or {}).items():
        channels[key] = {
            "description": summary,
            "bindings": {"amqp": {"is": "routingKey", "exchange": {"name": exchange, "type": "topic", "durable": True}}},
            "publish": {"operationId": f"send_{key.replace('.', '_').replace('{', '').replace('}', '')}",
                        "message": {"name": key, "payload": plugin.converter.schema2jsonschema(schema),
                                    "headers": {"type": "object", "required": ["credential"], "properties": {
                                        "credential": {"type": "string",
                                                       "description": "The driver's credential (drv_...)."}}}}},
        }
    return {"asyncapi": "2.6.0",
            "info": {"title": "Customer portal events", "version": "1",
                     "description": "Domain events on the topic exchange `portal.events`; routing key = event type."},
            "defaultContentType": "application/json",
            "channels": channels}
