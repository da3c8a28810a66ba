"""What partners receive of an event: the Standard Webhooks payload ``{type, timestamp, data}``
(plus the event ``id`` and ``customer_id``), with the data cut to what a customer may see.

The tracking privacy rules apply: a customer never learns about the driver's other stops or who
else is on the route (``route_id``, ``route_position``, ``driver_id`` are dropped), nor the
platform's internals (blob keys of proof-of-delivery photos become a count; nonces of identity's
events never leave, since those types are not offered at all). Driver positions are not part of
any event, so none can leak here whatever the customer's location-sharing level."""
from __future__ import annotations

import json

CUSTOMER_EVENTS = (
    "order.created", "order.submitted", "order.priced", "order.withdrawn", "order.approval_requested",
    "order.scheduled",
    "order.status_changed", "order.cancelled", "stop.eta_changed", "stop.completed", "document.added",
    "message.posted", "reschedule.requested", "reschedule.decided", "call_off.requested", "call_off.decided",
    "quote.requested", "quote.sent", "quote.changes_requested", "quote.accepted", "quote.rejected",
    "invoice.issued", "invoice.overdue", "payment.received", "payment.failed", "payment.refunded", "credit_note.issued",
    "import.finished", "feedback.received",
)
OPERATOR_EVENTS = CUSTOMER_EVENTS + ("customer.created", "customer.updated")
TEST_EVENT = "webhook.test"
HIDDEN = {"driver_id", "route_id", "route_position", "nonce", "requested_by"}


def offered(operator: bool) -> tuple[str, ...]:
    return OPERATOR_EVENTS if operator else CUSTOMER_EVENTS


def public_data(event_type: str, data: dict) -> dict:
    shown = {k: v for k, v in data.items() if k not in HIDDEN}
    pod = shown.get("pod")
    if isinstance(pod, dict):
        shown["pod"] = {"recipient_name": pod.get("recipient_name"), "comments": pod.get("comments"),
                        "photos": len(pod.get("photos") or []), "signed": bool(pod.get("signature"))}
    if event_type == "order.scheduled":
        shown["stops"] = [{k: v for k, v in stop.items() if k != "position"} for stop in shown.get("stops", [])]
    return shown


def body(event: dict) -> str:
    """The exact JSON text that is signed and sent (kept, so retries send the same bytes)."""
    return json.dumps({"type": event["type"], "timestamp": event["occurred_at"], "id": event["id"],
                       "customer_id": event.get("customer_id"),
                       "data": public_data(event["type"], event["data"])}, separators=(",", ":"))
