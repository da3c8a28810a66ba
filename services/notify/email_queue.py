"""Every email the platform sends: rendered from its template when the event arrives, recorded,
and sent by the ``send_emails`` pump with retries across time.

- A temporary failure (no connection, timeout, a 4xx answer, or our own SMTP set-up refused with
  530/534/535/538) is tried again after 1, 5, 15, 60 minutes, 3 and 6 hours, then ``failed``.
- A permanent refusal of the recipient (5xx) is a bounce: recorded as ``bounced`` at once and
  never retried, and it holds up nothing behind it (each row is its own attempt).
- Bodies carrying a secret (single-use link, temporary password) are erased once delivered.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from services.common import mail, metrics
from services.common.config import env_int
from services.common.db import utcnow
from services.notify import emails
from services.notify.models import EmailMessage
from services.notify.queue import claim, pool_map

log = logging.getLogger(__name__)

RETRY_AFTER = (60, 300, 900, 3600, 10800, 21600)       # seconds, after attempt 1, 2, ...
SETUP_CODES = {530, 534, 535, 538}                       # our credentials or TLS: fix and it goes
SENSITIVE = frozenset({"invite", "activation", "password_reset"})
BATCH = 50


def enqueue(session, kind: str, to: str, context: dict, *, name: str | None = None,
            event_id: str | None = None, customer_id: str | None = None, user_id: str | None = None,
            unsubscribe_url: str | None = None) -> EmailMessage:
    rendered = emails.render(kind, context, recipient_name=name, unsubscribe_url=unsubscribe_url,
                             brand=emails.brand_of(session))
    headers = {"Auto-Submitted": "auto-generated"}
    if event_id:
        headers["X-Portal-Event-ID"] = event_id
    if unsubscribe_url:     # RFC 8058: mail clients show an unsubscribe button, one click
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    row = EmailMessage(kind=kind, event_id=event_id, customer_id=customer_id, user_id=user_id, to_address=to,
                       subject=rendered.subject, text=rendered.text, html=rendered.html, headers=headers,
                       sensitive=kind in SENSITIVE, message_id=mail.new_message_id(),
                       status="queued", next_attempt_at=utcnow())
    session.add(row)
    return row


def _send(row: EmailMessage) -> mail.SendResult:
    try:
        email = mail.Email(to=row.to_address, subject=row.subject, text=row.text or "", html=row.html,
                           headers=row.headers or {}, message_id=row.message_id)
        return mail.send_once(email, row.attempts)
    except ValueError as exc:        # an address or header the message cannot carry
        return mail.SendResult("rejected", row.message_id, message=str(exc), attempts=row.attempts)


def record(row: EmailMessage, result: mail.SendResult) -> None:
    row.lease_until = None
    row.last_code, row.last_error = result.code, (None if result.status in ("sent", "stored") else result.message)
    if result.status in ("sent", "stored"):
        row.status, row.sent_at, row.next_attempt_at = "sent", utcnow(), None
        if row.sensitive:
            row.text = row.html = None
        return
    temporary = result.status == "deferred" or result.code in SETUP_CODES
    if not temporary:
        row.status, row.next_attempt_at = "bounced", None
    elif row.attempts > len(RETRY_AFTER):
        row.status, row.next_attempt_at = "failed", None
    else:
        row.next_attempt_at = utcnow() + timedelta(seconds=RETRY_AFTER[row.attempts - 1])


def pump(uow) -> bool:
    """Send what is due; True when a full batch was taken (more may be waiting)."""
    session = uow.session
    rows = claim(session, EmailMessage, "queued", BATCH, lease_seconds=env_int("SMTP_TIMEOUT") * 4 + 30)
    if not rows:
        return False
    results = pool_map(_send, rows, env_int("NOTIFY_SEND_CONCURRENCY"))
    for row, result in zip(rows, results):
        record(row, result)
        metrics.EMAILS.labels(row.status if row.status != "queued" else "retry").inc()
    return len(rows) == BATCH


def listing(session, caller, args: dict) -> dict:
    """The record of emails, newest first: operator staff see all (or one customer's), a
    customer's admin those sent to its people."""
    from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ROLES
    from services.common.scoping import owned, paged
    from services.notify.schemas import EmailOut

    caller.require(*OPERATOR_ROLES, CUSTOMER_ADMIN)
    query = owned(caller, EmailMessage, args.get("customer_id")).order_by(EmailMessage.created_at.desc())
    if args.get("status"):
        query = query.where(EmailMessage.status.in_(args["status"]))
    if args.get("to"):
        query = query.where(EmailMessage.to_address == args["to"].strip().lower())
    return paged(session, query, args, EmailOut)
