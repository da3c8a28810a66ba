"""Who wants what: each user's choice per event type and channel (``in_app``, ``email``), the
defaults for what they never chose, and the unsubscribe links of emails (no sign-in needed).

Only the event types that tell the user something appear, per side: customers hear about their
orders, quotes and invoices; operator staff about what customers ask of them. A type whose
``email`` default is None has no email at all (in-app only)."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.config import env
from services.common.db import upsert_insert
from services.common.errors import NotFound, ValidationFailed
from services.common.keys import accepted_keys
from services.notify.models import Preference, Recipient

CHANNELS = ("in_app", "email")

# event type -> {channel: default}; email None: this type is never emailed.
CUSTOMER_DEFAULTS: dict[str, dict[str, bool | None]] = {
    "order.submitted": {"in_app": True, "email": False},
    "order.scheduled": {"in_app": True, "email": True},
    "order.status_changed": {"in_app": True, "email": True},
    # Only a customer's admins are told (notices.ADMINS): an order waits for their approval.
    "order.approval_requested": {"in_app": True, "email": True},
    # Only customers' admins are told (notices.EVERY_ADMIN): new terms for them to sign.
    "terms.published": {"in_app": True, "email": True},
    "stop.eta_changed": {"in_app": True, "email": True},
    "message.posted": {"in_app": True, "email": True},
    "document.added": {"in_app": True, "email": None},
    "quote.sent": {"in_app": True, "email": True},
    "invoice.issued": {"in_app": True, "email": True},
    "invoice.overdue": {"in_app": True, "email": True},
    "payment.received": {"in_app": True, "email": True},
    "payment.failed": {"in_app": True, "email": True},
    "payment.refunded": {"in_app": True, "email": None},
    "credit_note.issued": {"in_app": True, "email": None},
    "import.finished": {"in_app": True, "email": True},
    "reschedule.decided": {"in_app": True, "email": None},
    "call_off.decided": {"in_app": True, "email": None},
}
STAFF_DEFAULTS: dict[str, dict[str, bool | None]] = {
    "message.posted": {"in_app": True, "email": True},
    "quote.requested": {"in_app": True, "email": True},
    "quote.changes_requested": {"in_app": True, "email": True},
    "quote.accepted": {"in_app": True, "email": None},
    "quote.rejected": {"in_app": True, "email": None},
    "reschedule.requested": {"in_app": True, "email": True},
    "call_off.requested": {"in_app": True, "email": True},
    "payment.received": {"in_app": True, "email": None},
    "import.finished": {"in_app": True, "email": True},
}


def defaults_for(role: str | None, customer_id: str | None) -> dict[str, dict[str, bool | None]]:
    return CUSTOMER_DEFAULTS if customer_id else STAFF_DEFAULTS


def _stored(session: Session, user_ids: Iterable[str], event_type: str | None = None) -> dict:
    query = select(Preference).where(Preference.user_id.in_(list(user_ids)))
    if event_type is not None:
        query = query.where(Preference.event_type == event_type)
    found: dict = defaultdict(dict)
    for row in session.scalars(query):
        found[row.user_id][(row.event_type, row.channel)] = row.enabled
    return found


def choices(session: Session, caller: CallerContext) -> dict:
    """``{event_type: {channel: bool}}`` for every type the caller can be told about."""
    caller.require()
    stored = _stored(session, [caller.user_id])[caller.user_id]
    return {event_type: {channel: _pick(stored, event_type, channel, default)
                         for channel, default in channels.items() if default is not None}
            for event_type, channels in defaults_for(caller.role, caller.customer_id).items()}


def _pick(stored: dict, event_type: str, channel: str, default: bool) -> bool:
    return stored.get((event_type, channel), default)


def change(session: Session, caller: CallerContext, wanted: dict) -> dict:
    """Set some choices (others stay); an unknown type or a channel a type has not: 422."""
    caller.require()
    known = defaults_for(caller.role, caller.customer_id)
    problems = {}
    for event_type, channels in wanted.items():
        if event_type not in known:
            problems[event_type] = ["Not an event type you can be told about."]
            continue
        if not isinstance(channels, dict) or not channels:
            problems[event_type] = ["Give {\"in_app\": true|false, \"email\": true|false}."]
            continue
        for channel, enabled in channels.items():
            if known[event_type].get(channel) is None or not isinstance(enabled, bool):
                problems[f"{event_type}.{channel}"] = [f"{event_type} has no {channel} choice, or it is not true/false."]
    if problems:
        raise ValidationFailed.of(problems)
    for event_type, channels in wanted.items():
        for channel, enabled in channels.items():
            _set(session, caller.user_id, event_type, channel, enabled)
    return choices(session, caller)


def _set(session: Session, user_id: str, event_type: str, channel: str, enabled: bool) -> None:
    stmt = upsert_insert(session)(Preference).values(user_id=user_id, event_type=event_type,
                                                     channel=channel, enabled=enabled)
    session.execute(stmt.on_conflict_do_update(index_elements=["user_id", "event_type", "channel"],
                                               set_={"enabled": enabled}))


def wanting(session: Session, recipients: list[Recipient], event_type: str) -> dict[str, set[str]]:
    """channel -> user ids of those recipients who get this event type on it."""
    stored = _stored(session, [r.user_id for r in recipients], event_type)
    chosen: dict[str, set[str]] = {channel: set() for channel in CHANNELS}
    for r in recipients:
        defaults = defaults_for(r.role, r.customer_id).get(event_type)
        if defaults is None:
            continue
        for channel, default in defaults.items():
            if default is not None and _pick(stored.get(r.user_id, {}), event_type, channel, default):
                chosen[channel].add(r.user_id)
    return chosen


# --- unsubscribe links ------------------------------------------------------------------------
def _signer() -> URLSafeSerializer:
    # Links in emails sent before a key rotation keep working (the last key signs).
    return URLSafeSerializer(accepted_keys("unsubscribe")[::-1], salt="notify-unsubscribe")


def unsubscribe_token(user_id: str, event_type: str) -> str:
    return _signer().dumps([user_id, event_type])


def unsubscribe_url(user_id: str, event_type: str) -> str:
    return f"{env('PORTAL_URL').rstrip('/')}/unsubscribe/{unsubscribe_token(user_id, event_type)}"


def read_token(session: Session, token: str) -> dict:
    """What an unsubscribe link stands for; NotFound for a forged or mangled one."""
    try:
        user_id, event_type = _signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound("This unsubscribe link is not valid.") from None
    user = session.get(Recipient, user_id)
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    return {"user_id": user_id, "email": user.email, "event_type": event_type,
            "subscribed": _pick(_stored(session, [user_id], event_type)[user_id], event_type, "email",
                                bool((defaults_for(user.role, user.customer_id).get(event_type) or {}).get("email")))}


def unsubscribe(session: Session, token: str, everything: bool = False) -> dict:
    """Stop the emails of the link's event type (or all notification emails): no sign-in, as
    RFC 8058 one-click unsubscribe asks. In-app notifications stay."""
    found = read_token(session, token)
    user = session.get(Recipient, found["user_id"])
    types = ([t for t, c in defaults_for(user.role, user.customer_id).items() if c.get("email") is not None]
             if everything else [found["event_type"]])
    for event_type in types:
        _set(session, user.user_id, event_type, "email", False)
    return {**found, "subscribed": False, "everything": everything}
