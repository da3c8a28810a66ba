"""What an event tells whom: the notices of one event (the in-app line, the email template and
its context, and who may receive it), and the facts about orders that no single event carries
(its reference, the latest ETA, the proof of delivery) kept for them.

Audiences: ``customer`` (the users of the event's customer, never another's), ``staff`` (operator
staff following that customer), ``admins`` (the customer's admins: an order waits for their
approval) and ``requester`` (the one user who started it: an import, an order an admin decided on)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import upsert_insert

from services.notify import directory
from services.notify.models import OrderFacts

CUSTOMER, STAFF, REQUESTER, ADMINS = "customer", "staff", "requester", "admins"
EVERY_ADMIN = "every_admin"     # the admins of every customer (the operator's terms)


@dataclass(frozen=True)
class Notice:
    audience: str
    kind: str                   # the email template (emails.KINDS) and the feed's kind
    title: str                  # the in-app line
    link: str                   # the portal path it opens
    subject_id: str | None
    context: dict = field(default_factory=dict)
    requester: str | None = None


def order_ref(order: dict) -> str:
    return order.get("reference") or order["id"][:8]


def _remember(session: Session, event: dict, order_id: str, **values) -> None:
    """Keep facts about an order: one upsert, no read, so the events of one order (they arrive
    together and are handled in parallel) never collide on making its row."""
    stmt = upsert_insert(session)(OrderFacts).values(order_id=order_id, customer_id=event.get("customer_id"),
                                                     late_reported=False, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["order_id"], set_=values) if values
                    else stmt.on_conflict_do_nothing(index_elements=["order_id"]))


def _known(session: Session, order_id: str) -> dict:
    """What notify knows of an order, for the events that do not carry it (ETA, proof of delivery)."""
    facts = session.get(OrderFacts, order_id)
    return {"id": order_id, "reference": facts.reference if facts else None, "kind": facts.kind if facts else None,
            "eta": facts.eta if facts else None, "pod": facts.pod if facts else None,
            "failure_reason": facts.failure_reason if facts else None}


def _locked(session: Session, event: dict, order_id: str) -> OrderFacts:
    """The order's facts row held FOR UPDATE: for a read-then-write (reported late yet?)."""
    _remember(session, event, order_id)
    return session.scalars(select(OrderFacts).where(OrderFacts.order_id == order_id)
                           .with_for_update().execution_options(populate_existing=True)).one()


def _order(facts: dict) -> dict:
    return {"id": facts["id"], "reference": facts.get("reference"), "kind": facts.get("kind")}


def _order_notice(kind: str, title: str, order: dict, **context) -> Notice:
    return Notice(CUSTOMER, kind, title.format(ref=order_ref(order)), f"/orders/{order['id']}", order["id"],
                  {"order": order, **context})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _order_events(session: Session, event: dict) -> list[Notice]:
    kind, data = event["type"], event["data"]
    order_id = data["order_id"]
    facts = {"reference": data.get("reference"), "kind": data.get("kind")} \
        if kind in ("order.created", "order.submitted") else {}    # a draft's reference may change until submitted
    if "site" in data:          # who of a customer limited to sites hears of it (directory.within_sites)
        facts["site"] = data["site"]
    if facts:
        _remember(session, event, order_id, **facts)
    order = {"id": order_id, "reference": data.get("reference"), "kind": data.get("kind")}
    if kind == "order.submitted":
        return [_order_notice("order_submitted", "Order {ref} was submitted", order)]
    if kind == "order.approval_requested":
        return [Notice(ADMINS, "order_approval_requested", f"Order {order_ref(order)} waits for your approval",
                       f"/orders/{order_id}", order_id, {"order": order, "total": data.get("total"),
                                                         "limit": data.get("limit")})]
    if kind == "order.status_changed" and data.get("previous_status") == "pending_approval" and data.get("decided_by"):
        # An admin's decision goes to the one who booked it (a withdrawal by the booker: nobody).
        approved = data["status"] == "submitted"
        title = (f"Order {order_ref(order)} was approved" if approved
                 else f"Order {order_ref(order)} was declined: {data.get('reason') or ''}".rstrip(": "))
        return [Notice(REQUESTER, "order_approval_decided", title[:300], f"/orders/{order_id}", order_id,
                       {"order": order, "approved": approved, "reason": data.get("reason")},
                       requester=data.get("created_by"))]
    if kind == "order.scheduled":
        first = (data.get("stops") or [{}])[0]
        return [_order_notice("order_scheduled", "Order {ref} is scheduled", order,
                              first_window_start=first.get("window_start"), first_window_end=first.get("window_end"))]
    if kind == "order.status_changed":
        status = data["status"]
        if status == "cancelled":
            return [_order_notice("order_cancelled", "Order {ref} was cancelled", order)]
        if status not in ("in_transit", "delivered", "failed"):
            return []
        facts = _known(session, order_id)
        if status == "in_transit":
            return [_order_notice("order_out_for_delivery", "Order {ref} is out for delivery", order,
                                  eta=_iso(facts["eta"]))]
        if status == "delivered":
            return [_order_notice("order_delivered", "Order {ref} was delivered", order,
                                  delivered_at=event["occurred_at"], pod=facts["pod"])]
        return [_order_notice("order_failed", "Delivery of order {ref} failed", order,
                              reason=facts["failure_reason"], failed_at=event["occurred_at"])]
    if kind == "stop.eta_changed":
        facts = _locked(session, event, order_id)
        facts.eta = datetime.fromisoformat(data["eta"]) if data.get("eta") else facts.eta
        late, was_late = bool(data.get("late")), facts.late_reported
        facts.late_reported = late
        if late and not was_late:       # once per slip, not on every ETA that follows
            order = {"id": order_id, "reference": facts.reference, "kind": facts.kind}
            return [_order_notice("order_late", "Order {ref} is running late", order,
                                  eta=data.get("eta"), window_end=None)]
        return []
    if kind == "stop.completed":
        pod = data.get("pod") or {}
        if data["status"] == "completed" and pod:
            _remember(session, event, order_id, pod={
                "recipient_name": pod.get("recipient_name"), "comments": pod.get("comments"),
                "photos": len(pod.get("photos") or []), "signed": bool(pod.get("signature"))})
        elif data["status"] == "failed":
            _remember(session, event, order_id, failure_reason=data.get("reason"))
        return []
    if kind == "document.added":
        order = _order(_known(session, order_id))
        return [Notice(CUSTOMER, "document_added",
                       f"A {data['kind'].replace('_', ' ')} was added to order {order_ref(order)}",
                       f"/orders/{order_id}", order_id)]
    return []


def _money_notice(audience: str, kind: str, title: str, link: str, subject_id: str, **context) -> Notice:
    return Notice(audience, kind, title, link, subject_id, context)


def _billing_events(session: Session, event: dict) -> list[Notice]:
    kind, data = event["type"], event["data"]
    customer = directory.customer(session, event.get("customer_id"))
    customer_name = customer.name if customer else "A customer"
    if kind.startswith("quote."):
        quote = {"id": data["quote_id"], "number": data["number"], "total": data.get("total"),
                 "valid_until": data.get("valid_until")}
        link = f"/quotes/{quote['id']}"
        if kind == "quote.sent":
            return [_money_notice(CUSTOMER, "quote_sent", f"Quote {quote['number']} is ready", link, quote["id"],
                                  quote=quote)]
        verb = {"quote.requested": "asks for a quote", "quote.changes_requested": "asks for changes to",
                "quote.accepted": "accepted", "quote.rejected": "rejected"}[kind]
        title = (f"{customer_name} {verb}" if kind == "quote.requested"
                 else f"{customer_name} {verb} quote {quote['number']}")
        return [_money_notice(STAFF, "quote_requested", title, link, quote["id"], quote=quote,
                              customer_name=customer_name, changes=kind == "quote.changes_requested")]
    if kind.startswith("invoice."):
        invoice = {"id": data["invoice_id"], "number": data["number"], "total": data["total"],
                   "due_date": data.get("due_date")}
        title = (f"Invoice {invoice['number']} was issued" if kind == "invoice.issued"
                 else f"Invoice {invoice['number']} is overdue")
        return [_money_notice(CUSTOMER, kind.replace(".", "_"), title, f"/invoices/{invoice['id']}", invoice["id"],
                              invoice=invoice)]
    if kind in ("payment.received", "payment.refunded"):
        payment = {"id": data["payment_id"], "amount": data["amount"], "invoice_id": data.get("invoice_id"),
                   "invoice_number": data.get("invoice_number")}
        link = f"/invoices/{payment['invoice_id']}" if payment["invoice_id"] else "/payments"
        if kind == "payment.refunded":
            return [_money_notice(CUSTOMER, "payment_refunded", "A payment was refunded", link, payment["id"])]
        return [_money_notice(CUSTOMER, "payment_received", "Payment received, thank you", link, payment["id"],
                              payment=payment),
                _money_notice(STAFF, "payment_received", f"{customer_name} paid", link, payment["id"],
                              payment=payment)]
    if kind == "payment.failed":          # an auto-pay charge: the invoice stays open
        payment = {"id": data["payment_id"], "amount": data["amount"], "invoice_id": data.get("invoice_id"),
                   "invoice_number": data.get("invoice_number"), "card": data.get("card"),
                   "failure_message": data.get("failure_message")}
        return [_money_notice(CUSTOMER, "payment_failed", f"Auto-pay of invoice {payment['invoice_number']} failed",
                              f"/invoices/{payment['invoice_id']}", payment["id"], payment=payment)]
    if kind == "credit_note.issued":
        return [_money_notice(CUSTOMER, "credit_note_issued", f"Credit note {data['number']} was issued",
                              f"/invoices/{data['invoice_id']}", data["credit_note_id"])]
    return []


def _other_events(session: Session, event: dict) -> list[Notice]:
    kind, data = event["type"], event["data"]
    customer = directory.customer(session, event.get("customer_id"))
    customer_name = customer.name if customer else "A customer"
    if kind == "message.posted":
        order = _order(_known(session, data["order_id"])) if data.get("order_id") else None
        link = f"/conversations/{data['conversation_id']}"
        from_operator = data["author_side"] == "operator"
        about = f" about order {order_ref(order)}" if order else ""
        title = (f"New message{about}" if from_operator else f"{customer_name} wrote{about}")
        return [Notice(CUSTOMER if from_operator else STAFF, "message_posted", title, link, data["conversation_id"],
                       {"order": order, "conversation_id": data["conversation_id"], "subject": data.get("subject"),
                        "preview": data.get("preview"), "from_operator": from_operator})]
    if kind == "import.finished":
        imp = {"id": data["import_id"], "created": data["created"], "errors": data["errors"]}
        title = f"Import finished: {imp['created']} orders created, {imp['errors']} rows with errors"
        # a mailed file (reply_to): its sender, if one of the customer's users
        requester = data.get("requested_by") or directory.user_by_email(session, event.get("customer_id"),
                                                                        data.get("reply_to"))
        return [Notice(REQUESTER, "import_finished", title, f"/imports/{imp['id']}", imp["id"], {"import_": imp},
                       requester=requester)]
    if kind in ("reschedule.requested", "call_off.requested"):
        what = kind.split(".")[0]
        order = _order(_known(session, data["order_id"])) if data.get("order_id") else None
        title = f"{customer_name} asks for a {_CHANGE.get(data.get('kind'), _CHANGE['window']) if what == 'reschedule' else 'call-off'}"
        return [Notice(STAFF, "request_received", title, f"/admin/requests/{data['request_id']}", data["request_id"],
                       {"what": what, "customer_name": customer_name, "order": order,
                        "request_id": data["request_id"]})]
    if kind == "terms.published":
        version = data["version"]
        return [Notice(EVERY_ADMIN, "terms_published", f"New terms to sign: version {version}", "/", str(version),
                       {"version": version})]
    if kind in ("reschedule.decided", "call_off.decided"):
        what = _CHANGE.get(data.get("kind"), _CHANGE["window"]) if kind.startswith("reschedule") else "call-off"
        link = f"/orders/{data['order_id']}" if data.get("order_id") else "/rentals"
        return [Notice(CUSTOMER, "request_decided", f"Your {what} request was {data['status']}", link,
                       data["request_id"])]
    return []


# What a delivery-change request (``reschedule.*``, services.orders.exceptions) asks, by its kind.
_CHANGE = {"window": "new time window", "instructions": "leave-at instructions", "address": "changed address"}


def notices(session: Session, event: dict) -> list[Notice]:
    """The notices of ``event`` (also keeping the order facts they need)."""
    kind = event["type"]
    if kind.startswith(("order.", "stop.", "document.")):
        if "order_id" not in event["data"]:
            return []
        return _order_events(session, event)
    if kind.startswith(("quote.", "invoice.", "payment.", "credit_note.")):
        return _billing_events(session, event)
    return _other_events(session, event)
