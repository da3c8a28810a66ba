"""What the account emails carry, for the notify service that sends them.

Invitations, activations and password resets hold a secret (a single-use link, a temporary
password) that only identity can rebuild: the events announcing them carry an id and a nonce,
never the secret, because partners may read events. Notify asks ``mail_content`` (RPC, as a
service) when it hears such an event, and gets the recipient and the secret, or ``None`` when the
email must not go any more (the invitation was resent or accepted since, the reset used, the
account already activated): a stale link is never sent.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.config import env
from services.identity import one_time, resets
from services.identity.activation import temporary_passwords
from services.identity.invites import PURPOSE
from services.identity.models import Customer, Invite, PasswordReset, User
from services.identity.passwords import verify_password


def _portal(path: str) -> str:
    return f"{env('PORTAL_URL').rstrip('/')}/{path}"


def invite_link(token: str) -> str:
    return _portal(f"accept-invite#token={token}")


def _stored(token_hash: str, purpose: str, object_id: str, nonce: str) -> str | None:
    """The token whose hash was stored, under whichever accepted key made it."""
    return next((t for t in one_time.candidates(purpose, object_id, nonce) if one_time.digest(t) == token_hash), None)


def _invite(session: Session, data: dict) -> dict | None:
    invite = session.get(Invite, data["invite_id"])
    token = invite and _stored(invite.token_hash, PURPOSE, invite.id, data["nonce"])
    if not token or invite.accepted_at or invite.revoked_at:
        return None
    customer = session.get(Customer, invite.customer_id)
    return {"to": invite.email, "name": None, "user_id": None, "customer_id": invite.customer_id,
            "context": {"customer_name": customer.name, "link": invite_link(token),
                        "expires_at": invite.expires_at.isoformat()}}


def _password_reset(session: Session, data: dict) -> dict | None:
    reset = session.get(PasswordReset, data["reset_id"])
    token = reset and _stored(reset.token_hash, resets.PURPOSE, reset.id, data["nonce"])
    if not token or reset.used_at:
        return None
    user = session.get(User, reset.user_id)
    return {"to": user.email, "name": user.name, "user_id": user.id, "customer_id": user.customer_id,
            "context": {"link": _portal(f"reset-password#token={token}"),
                        "valid_minutes": int(resets.VALID_FOR.total_seconds() // 60)}}


def _activation(session: Session, data: dict) -> dict | None:
    user = session.get(User, data["user_id"])
    if user is None or not user.must_change_password:
        return None          # already activated
    password = next((p for p in temporary_passwords(user.id, data["nonce"])
                     if verify_password(user.password_hash, p)), None)
    if password is None:
        return None          # the password was changed since
    return {"to": user.email, "name": user.name, "user_id": user.id, "customer_id": user.customer_id,
            "context": {"email": user.email, "password": password, "sign_in_url": _portal("")}}


CONTENT = {"invite.sent": ("invite", _invite),
           "password_reset.requested": ("password_reset", _password_reset),
           "user.created": ("activation", _activation)}


def content(session: Session, event: dict) -> dict | None:
    """``{kind, to, name, user_id, customer_id, context}`` of the email an event asks for."""
    found = CONTENT.get(event.get("type"))
    if found is None or "nonce" not in event.get("data", {}):
        return None
    kind, build = found
    mail = build(session, event["data"])
    return None if mail is None else {"kind": kind, **mail}
