"""The emails identity sends, until the notify service owns templates and preferences: built
from the event that announces them, so they leave after the commit with an event handler's
retries, and a stale one (an invitation resent since) is not sent at all."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from services.common.config import env
from services.common.mail import Email, send
from services.identity import one_time, resets
from services.identity.activation import temporary_password
from services.identity.invites import PURPOSE
from services.identity.models import Customer, Invite, PasswordReset, User
from services.identity.passwords import verify_password

log = logging.getLogger(__name__)

# 5xx answers about our own set-up (authentication, TLS), not about the recipient.
CONFIGURATION_CODES = {530, 534, 535, 538}


def deliver(to: str, subject: str, text: str) -> None:
    """Send one email. Raising hands the event to its handler's retries and then its dead-letter
    queue, where an operator can replay it once the mail server (or SMTP_URL) is fixed; a refused
    recipient is different: retrying would change nothing, so it is only logged (by mail.send)."""
    result = send(Email(to=to, subject=subject, text=text))
    if result.status == "deferred" or result.code in CONFIGURATION_CODES:
        raise RuntimeError(f"email to {to} not sent: {result.status} {result.code}")


def invite_link(token: str) -> str:
    return f"{env('PORTAL_URL').rstrip('/')}/accept-invite#token={token}"


def send_invite(session: Session, event: dict) -> None:
    data = event["data"]
    invite = session.get(Invite, data["invite_id"])
    token = one_time.derive(PURPOSE, data["invite_id"], data["nonce"])
    if invite is None or invite.token_hash != one_time.digest(token) or invite.accepted_at or invite.revoked_at:
        log.info("invitation %s changed since this event; not sending it", data["invite_id"])
        return
    customer = session.get(Customer, invite.customer_id)
    operator = env("PORTAL_OPERATOR_NAME")
    link = invite_link(token)
    deliver(invite.email, f"{operator} invites you to the {customer.name} customer portal",
            (f"Hello,\n\n{operator} has invited you to follow {customer.name}'s orders, documents "
             f"and invoices in its customer portal.\n\nAccept the invitation and choose your "
             f"password here (the link works once, until {invite.expires_at:%d %B %Y}):\n\n{link}\n\n"
             f"If you did not expect this email, you can ignore it.\n"))


def send_password_reset(session: Session, event: dict) -> None:
    data = event["data"]
    reset = session.get(PasswordReset, data["reset_id"])
    token = one_time.derive(resets.PURPOSE, data["reset_id"], data["nonce"])
    if reset is None or reset.used_at or reset.token_hash != one_time.digest(token):
        return
    user = session.get(User, reset.user_id)
    link = f"{env('PORTAL_URL').rstrip('/')}/reset-password#token={token}"
    deliver(user.email, f"Reset your {env('PORTAL_OPERATOR_NAME')} portal password",
            (f"Hello,\n\nSomeone (we hope you) asked to reset the password of your portal account."
             f"\n\nChoose a new password here; the link works once, for one hour:\n\n{link}\n\n"
             f"If you did not ask for this, ignore this email: your password stays as it is.\n"))


def send_activation(session: Session, event: dict) -> None:
    data = event["data"]
    user = session.get(User, data["user_id"])
    password = temporary_password(data["user_id"], data["nonce"])
    if user is None or not user.must_change_password or not verify_password(user.password_hash, password):
        return          # already activated, or the password was changed since
    operator = env("PORTAL_OPERATOR_NAME")
    deliver(user.email, f"Your {operator} portal account",
            (f"Hello {user.name},\n\n{operator} has opened a portal account for you.\n\n"
             f"Sign in at {env('PORTAL_URL').rstrip('/')}/ with\n\n  email:    {user.email}\n"
             f"  password: {password}\n\nThis password is temporary: you will be asked to choose "
             f"your own when you first sign in.\n"))
