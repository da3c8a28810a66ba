"""Partner webhooks: endpoints (a customer's, or the operator's for every customer), the
deliveries each event makes, and the ``deliver_webhooks`` pump that sends them.

Deliveries follow Standard Webhooks: the same ``webhook-id`` on every retry and replay, signed
headers, retries on the schedule of ``webhook_http.SCHEDULE`` (about a day). When the schedule
runs out, or the receiver answers 410 Gone, the endpoint is disabled, what it still had pending is
cancelled, and its owner gets an email; switching it back on (PATCH enabled) and replaying from the
delivery log recovers what it missed."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.common import metrics
from services.common.caller import API_KEY, CUSTOMER_ADMIN, OPERATOR_ADMIN, CallerContext
from services.common.config import env_float
from services.common.db import utcnow
from services.common.errors import NotFound, ValidationFailed
from services.common.schemas import dump
from services.common.scoping import get_owned, owned, paged
from services.notify import directory, email_queue, payloads, webhook_http
from services.notify.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.notify.queue import claim, pool_map
from services.notify.schemas import DeliveryOut, WebhookCreatedOut, WebhookOut

log = logging.getLogger(__name__)

MANAGERS = (CUSTOMER_ADMIN, API_KEY, OPERATOR_ADMIN)
BATCH = 50
MAX_ENDPOINTS = 20          # per customer (and for the operator)


def _view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    data = {c.key: getattr(endpoint, c.key) for c in WebhookEndpoint.__table__.columns}
    data["events"] = endpoint.event_types
    parts = urlsplit(endpoint.url)
    if parts.password:      # a partner's basic-auth password is sent, never shown again
        data["url"] = parts._replace(netloc=f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}").geturl()
    if secret is None:
        return dump(WebhookOut, data)
    return dump(WebhookCreatedOut, {**data, "secret": secret})


def _events(events: list[str], operator: bool) -> list[str]:
    offered = payloads.offered(operator)
    if events == ["*"]:
        return ["*"]
    wrong = sorted({e for e in events if e not in offered})
    if wrong:
        raise ValidationFailed.of({"events": [f"Not events you can subscribe to: {', '.join(wrong)}. "
                                              f"Choose from: {', '.join(offered)}, or [\"*\"]."]})
    return sorted(set(events))


def _url(url: str) -> str:
    try:
        return webhook_http.check_url(url)
    except webhook_http.Refused as exc:
        raise ValidationFailed.of({"url": [str(exc)]}) from None


def create(session: Session, caller: CallerContext, data: dict) -> dict:
    caller.require(*MANAGERS)
    customer_id = caller.customer_id if caller.is_customer else data.get("customer_id")
    if caller.is_customer and data.get("customer_id") not in (None, caller.customer_id):
        raise NotFound("No such customer.")
    if customer_id and not caller.is_customer and directory.customer(session, customer_id) is None:
        raise NotFound("No such customer.")
    count = len(session.scalars(owned(caller, WebhookEndpoint, customer_id)
                                .where(WebhookEndpoint.deleted_at.is_(None))).all())
    if count >= MAX_ENDPOINTS:
        raise ValidationFailed.of({"url": [f"At most {MAX_ENDPOINTS} webhooks; delete one first."]})
    secret = webhook_http.new_secret()
    endpoint = WebhookEndpoint(customer_id=customer_id, url=_url(data["url"]), description=data.get("description"),
                               event_types=_events(data["events"], customer_id is None),
                               secret_sealed=webhook_http.seal(secret), created_by=caller.user_id)
    session.add(endpoint)
    session.flush()
    return _view(endpoint, secret)


def _get(session: Session, caller: CallerContext, endpoint_id: str) -> WebhookEndpoint:
    endpoint = get_owned(session, caller, WebhookEndpoint, endpoint_id, "webhook")
    if endpoint.deleted_at is not None:
        raise NotFound("No such webhook.")
    return endpoint


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    caller.require()
    query = (owned(caller, WebhookEndpoint, args.get("customer_id"))
             .where(WebhookEndpoint.deleted_at.is_(None)).order_by(WebhookEndpoint.created_at.desc()))
    return paged(session, query, args, transform=_view)


def get(session: Session, caller: CallerContext, endpoint_id: str) -> dict:
    caller.require()
    return _view(_get(session, caller, endpoint_id))


def change(session: Session, caller: CallerContext, endpoint_id: str, data: dict) -> dict:
    caller.require(*MANAGERS)
    endpoint = _get(session, caller, endpoint_id)
    if "url" in data:
        endpoint.url = _url(data["url"])
    if "events" in data:
        endpoint.event_types = _events(data["events"], endpoint.customer_id is None)
    if "description" in data:
        endpoint.description = data["description"]
    if data.get("enabled") is True:
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
    elif data.get("enabled") is False:
        _disable(session, endpoint, "Switched off by its owner.")
    return _view(endpoint)


def delete(session: Session, caller: CallerContext, endpoint_id: str) -> None:
    caller.require(*MANAGERS)
    endpoint = _get(session, caller, endpoint_id)
    endpoint.deleted_at = utcnow()
    _disable(session, endpoint, "Deleted.")


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, utcnow()
    session.execute(update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                  WebhookDelivery.status == "pending")
                    .values(status="cancelled", next_attempt_at=None))


# --- deliveries -----------------------------------------------------------------------------------
def msg_id(event_id: str) -> str:
    return f"msg_{uuid.UUID(event_id).hex}"


def enqueue(session: Session, event: dict) -> int:
    """One delivery per enabled endpoint that wants this event: the customer's own endpoints and
    the operator's (never another customer's)."""
    if event["type"] not in payloads.OPERATOR_EVENTS:
        return 0
    customer_id = event.get("customer_id")
    query = select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True), WebhookEndpoint.deleted_at.is_(None),
                                          or_(WebhookEndpoint.customer_id.is_(None),
                                              WebhookEndpoint.customer_id == customer_id) if customer_id
                                          else WebhookEndpoint.customer_id.is_(None))
    targets = [e for e in session.scalars(query) if _wants(e, event["type"])]
    if not targets:
        return 0
    body = payloads.body(event)
    for endpoint in targets:
        session.add(WebhookDelivery(endpoint_id=endpoint.id, customer_id=customer_id, msg_id=msg_id(event["id"]),
                                    event_id=event["id"], event_type=event["type"], payload=body))
    return len(targets)


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    if event_type not in payloads.offered(endpoint.customer_id is None):
        return False
    return "*" in endpoint.event_types or event_type in endpoint.event_types


def send_test(session: Session, caller: CallerContext, endpoint_id: str) -> dict:
    """A ``webhook.test`` message to the endpoint now (enabled or not), in its delivery log."""
    caller.require(*MANAGERS)
    endpoint = _get(session, caller, endpoint_id)
    test_id = str(uuid.uuid4())
    now = datetime.now(timezone.utc).isoformat()
    body = json.dumps({"type": payloads.TEST_EVENT, "timestamp": now, "id": test_id,
                       "customer_id": endpoint.customer_id,
                       "data": {"message": "A test event from the customer portal.", "endpoint_id": endpoint.id}},
                      separators=(",", ":"))
    delivery = WebhookDelivery(endpoint_id=endpoint.id, customer_id=endpoint.customer_id, msg_id=msg_id(test_id),
                               event_id=None, event_type=payloads.TEST_EVENT, payload=body)
    session.add(delivery)
    session.flush()
    return _delivery_view(session, delivery)


def replay(session: Session, caller: CallerContext, endpoint_id: str, delivery_id: str) -> dict:
    """Send a past delivery again, as a new entry of the log with the same ``webhook-id``."""
    caller.require(*MANAGERS)
    endpoint = _get(session, caller, endpoint_id)
    if not endpoint.enabled:
        raise ValidationFailed.of({"enabled": ["The webhook is disabled; switch it on first."]})
    past = session.get(WebhookDelivery, delivery_id)
    if past is None or past.endpoint_id != endpoint.id:
        raise NotFound("No such delivery.")
    again = WebhookDelivery(endpoint_id=endpoint.id, customer_id=past.customer_id, msg_id=past.msg_id,
                            event_id=past.event_id, event_type=past.event_type, payload=past.payload)
    session.add(again)
    session.flush()
    return _delivery_view(session, again)


def _delivery_view(session: Session, delivery: WebhookDelivery, attempts: list | None = None) -> dict:
    if attempts is None:
        attempts = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                                        .order_by(WebhookAttempt.seq)))
    data = {c.key: getattr(delivery, c.key) for c in WebhookDelivery.__table__.columns}
    data["attempt_log"] = attempts
    return dump(DeliveryOut, data)


def deliveries(session: Session, caller: CallerContext, endpoint_id: str, args: dict) -> dict:
    caller.require()
    endpoint = _get(session, caller, endpoint_id)
    query = (select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
             .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id))
    if args.get("status"):
        query = query.where(WebhookDelivery.status.in_(args["status"]))
    page = paged(session, query, args, transform=lambda d: d)
    ids = [d.id for d in page["items"]]
    attempts: dict[str, list] = {i: [] for i in ids}
    for attempt in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))
                                   .order_by(WebhookAttempt.seq)):
        attempts[attempt.delivery_id].append(attempt)
    page["items"] = [_delivery_view(session, d, attempts[d.id]) for d in page["items"]]
    return page


# --- the pump --------------------------------------------------------------------------------------
def _send(job: tuple[WebhookDelivery, WebhookEndpoint | None]) -> webhook_http.Answer | None:
    delivery, endpoint = job
    if endpoint is None:
        return None
    try:
        headers = webhook_http.sign(webhook_http.unseal(endpoint.secret_sealed), delivery.msg_id,
                                    datetime.now(timezone.utc), delivery.payload)
    except Exception as exc:        # a secret sealed under another SECRET_KEY: nothing to sign with
        return webhook_http.Answer(None, "", f"cannot sign: {type(exc).__name__}", 0.0)
    return webhook_http.post(endpoint.url, delivery.payload, headers)


def pump(uow) -> bool:
    """Send what is due; True when a full batch was taken (more may be waiting)."""
    session = uow.session
    lease = env_float("WEBHOOK_TIMEOUT") * 3 + 30
    rows = claim(session, WebhookDelivery, "pending", BATCH, lease_seconds=lease)
    if not rows:
        return False
    endpoints = {e.id: e for e in session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.id.in_({r.endpoint_id for r in rows})))}
    session.commit()        # no transaction stays open while receivers take their time
    jobs = [(r, endpoints.get(r.endpoint_id)) for r in rows]
    jobs = [(r, e if e is not None and (e.enabled or r.event_type == payloads.TEST_EVENT) else None)
            for r, e in jobs]
    answers = pool_map(_send, jobs, len(jobs))
    for (delivery, endpoint), answer in zip(jobs, answers):
        if answer is None:
            delivery.status, delivery.next_attempt_at, delivery.lease_until = "cancelled", None, None
            continue
        outcome = record(session, delivery, answer)
        metrics.WEBHOOKS.labels(delivery.status if delivery.status != "pending" else "retry").inc()
        if outcome and endpoint.enabled and delivery.event_type != payloads.TEST_EVENT:
            _disable(session, endpoint, outcome)
            tell_owner(session, endpoint, answer.status_code)
    return len(rows) == BATCH


def record(session: Session, delivery: WebhookDelivery, answer: webhook_http.Answer) -> str | None:
    """Write the attempt and the delivery's next state; answers why its endpoint must be
    disabled, if it must."""
    session.add(WebhookAttempt(delivery_id=delivery.id, status_code=answer.status_code, error=answer.error,
                               response_body=answer.body or None, duration_ms=answer.duration_ms))
    delivery.lease_until = None
    delivery.last_status_code, delivery.last_error = answer.status_code, answer.error
    if answer.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "succeeded", utcnow(), None
        return None
    if answer.status_code == 410:
        delivery.status, delivery.next_attempt_at = "failed", None
        return "The receiver answered 410 Gone."
    delay = webhook_http.next_delay(delivery.attempts)
    if delay is None or delivery.event_type == payloads.TEST_EVENT:
        delivery.status, delivery.next_attempt_at = "failed", None
        if delivery.event_type == payloads.TEST_EVENT:
            return None
        return (f"Every attempt over about a day failed; the last: "
                f"{answer.status_code or answer.error}.")
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    return None


def owners(session: Session, endpoint: WebhookEndpoint) -> list:
    """Who hears that an endpoint was disabled: the user who made it, else the customer's users
    (for the operator's endpoints, the staff who follow every customer)."""
    made_by = directory.recipient(session, endpoint.created_by)
    if made_by is not None and made_by.reachable:
        return [made_by]
    if endpoint.customer_id:
        return [r for r in directory.customer_users(session, endpoint.customer_id) if r.role == CUSTOMER_ADMIN]
    return directory.followers(session, None)


def tell_owner(session: Session, endpoint: WebhookEndpoint, last_status_code: int | None) -> None:
    for person in owners(session, endpoint):
        email_queue.enqueue(session, "webhook_disabled", person.email,
                            {"endpoint": {"id": endpoint.id, "url": endpoint.url},
                             "reason": endpoint.disabled_reason, "last_status_code": last_status_code},
                            name=person.name, customer_id=endpoint.customer_id, user_id=person.user_id)

