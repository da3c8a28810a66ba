"""What notify does with each event it hears, in the one transaction of that event (so a
redelivery, stopped by the inbox, tells nobody twice): log it, keep the copies, and turn it into
in-app notifications, emails and webhook deliveries for exactly the people and endpoints of the
event's customer (and the operator staff following it).

The account emails (invitation, activation, password reset) carry a secret that only identity can
rebuild: ``ask_identity`` fetches it (``identity.mail_content``) and they go regardless of
preferences (one cannot opt out of one's own password reset)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ADMIN

from services.notify import directory, email_queue, event_log, feed, notices, preferences, webhooks
from services.notify.models import Notification, Recipient

ACCOUNT_EMAILS = ("invite.sent", "password_reset.requested", "user.created")


@dataclass
class Outcome:
    notifications: list[Notification] = field(default_factory=list)
    emails: int = 0
    webhooks: int = 0


def handle(session: Session, event: dict, ask_identity: Callable[[str, dict], dict | None]) -> Outcome:
    # Ask identity before touching the database: no transaction (and, on SQLite, no write lock
    # that other green threads would wait on with the hub blocked) is held across the call.
    mail = ask_identity("mail_content", event) if event["type"] in ACCOUNT_EMAILS else None
    event_log.record(session, event)
    directory.apply(session, event)
    outcome = Outcome()
    if mail is not None:
        email_queue.enqueue(session, mail["kind"], mail["to"], mail["context"], name=mail.get("name"),
                            event_id=event["id"], customer_id=mail.get("customer_id"), user_id=mail.get("user_id"))
        outcome.emails += 1
    for notice in notices.notices(session, event):
        _tell(session, event, notice, outcome)
    outcome.webhooks = webhooks.enqueue(session, event)
    return outcome


def audience(session: Session, event: dict, notice: notices.Notice) -> list[Recipient]:
    customer_id = event.get("customer_id")
    if notice.audience == notices.CUSTOMER:
        return directory.within_sites(session, directory.customer_users(session, customer_id), event) \
            if customer_id else []
    if notice.audience == notices.STAFF:
        return directory.followers(session, customer_id)
    if notice.audience == notices.EVERY_ADMIN:
        return directory.every_customer_admin(session)
    if notice.audience == notices.ADMINS:
        admins = [r for r in directory.customer_users(session, customer_id) if r.role == CUSTOMER_ADMIN] \
            if customer_id else []
        return directory.within_sites(session, admins, event)
    person = directory.recipient(session, notice.requester)
    # The one who asked, if still reachable and of this customer (or staff acting for it).
    if person is None or not person.reachable or person.customer_id not in (None, customer_id):
        return []
    return [person]


def _tell(session: Session, event: dict, notice: notices.Notice, outcome: Outcome) -> None:
    people = audience(session, event, notice)
    if not people:
        return
    chosen = preferences.wanting(session, people, event["type"])
    # An event of no one customer (the operator's terms) is each person's own customer's.
    owners = {person.user_id: event.get("customer_id") or person.customer_id for person in people}
    outcome.notifications += feed.add(session, chosen["in_app"], event, notice, owners)
    for person in people:
        if person.user_id in chosen["email"]:
            email_queue.enqueue(session, notice.kind, person.email, notice.context, name=person.name,
                                event_id=event["id"], customer_id=owners[person.user_id], user_id=person.user_id,
                                unsubscribe_url=preferences.unsubscribe_url(person.user_id, event["type"]))
            outcome.emails += 1
