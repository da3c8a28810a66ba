"""Inviting people to a customer's portal, and accepting an invitation.

A customer has at most MAX_USERS portal users, pending invitations included. The token of an
invitation is derived (one_time.derive) from its id and a nonce that changes on every resend,
so a resend kills the previous link; only its hash is stored. The email goes out after the
commit: the notify service hears ``invite.sent`` and asks for the link (mailer.py)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_PEOPLE, OPERATOR_ROLES, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.identity import audit, one_time, users
from services.identity.accounts import normalise_email
from services.identity.models import Customer, Invite, User
from services.identity.policy import check_new_password

MAX_USERS = 20
VALID_FOR = timedelta(days=7)
PURPOSE = "invite-token"
ROLES = CUSTOMER_PEOPLE


def seats_taken(session: Session, customer_id: str) -> int:
    users = session.scalar(select(func.count()).select_from(User).where(
        User.customer_id == customer_id, User.is_active.is_(True)))
    pending = session.scalar(select(func.count()).select_from(Invite).where(
        Invite.customer_id == customer_id, Invite.accepted_at.is_(None),
        Invite.revoked_at.is_(None), Invite.expires_at > utcnow()))
    return users + pending


def public(invite: Invite) -> dict:
    status = ("accepted" if invite.accepted_at else "revoked" if invite.revoked_at
              else "expired" if invite.expires_at <= utcnow() else "pending")
    return {"id": invite.id, "customer_id": invite.customer_id, "email": invite.email,
            "role": invite.role, "sites": invite.sites, "status": status, "created_at": invite.created_at.isoformat(),
            "expires_at": invite.expires_at.isoformat(), "sent_count": invite.sent_count}


def _send(uow: UnitOfWork, invite: Invite) -> None:
    nonce = one_time.new_nonce()
    invite.token_hash = one_time.digest(one_time.derive(PURPOSE, invite.id, nonce))
    invite.expires_at = utcnow() + VALID_FOR
    uow.emit("invite.sent", {"invite_id": invite.id, "email": invite.email,
                             "customer_id": invite.customer_id, "role": invite.role,
                             "nonce": nonce, "expires_at": invite.expires_at.isoformat()},
             customer_id=invite.customer_id)


def invite(uow: UnitOfWork, caller: CallerContext, customer_id: str, emails: list[str],
           role: str = CUSTOMER_BOOKER, address: str | None = None,
           sites: list[str] | None = None) -> list[dict]:
    """Invite each address (deduplicated). Refused whole if any address is already a user or
    if the customer would pass MAX_USERS: nothing is half done."""
    caller.require(*OPERATOR_ROLES, CUSTOMER_ADMIN)
    scope = caller.scope(customer_id)
    session = uow.session
    customer = session.get(Customer, scope) if scope else None
    if customer is None:
        raise NotFound("No such customer.")
    if role not in ROLES:
        raise ValidationFailed.of({"role": [f"Must be one of: {', '.join(ROLES)}."]})
    sites = users.site_limit(customer, sites)
    wanted = list(dict.fromkeys(normalise_email(e) for e in emails))
    taken = set(session.scalars(select(User.email).where(User.email.in_(wanted))))
    if taken:
        raise Conflict("Some addresses already belong to portal users.", {"emails": sorted(taken)})
    pending = {i.email: i for i in session.scalars(select(Invite).where(
        Invite.customer_id == customer.id, Invite.email.in_(wanted), Invite.accepted_at.is_(None),
        Invite.revoked_at.is_(None)))}
    new = [e for e in wanted if e not in pending]
    seats = seats_taken(session, customer.id)
    if seats + len(new) > MAX_USERS:
        raise Conflict(f"A customer can have at most {MAX_USERS} portal users, invitations "
                       f"included; {seats} are taken, so {max(0, MAX_USERS - seats)} more can be invited.",
                       {"limit": MAX_USERS, "taken": seats, "requested": len(new)})
    result = []
    for email in wanted:
        item = pending.get(email)
        if item is None:
            item = Invite(customer_id=customer.id, email=email, role=role, sites=sites, invited_by=caller.user_id,
                          token_hash="", expires_at=utcnow())
            session.add(item)
            session.flush()
        else:
            item.sent_count += 1
            item.role, item.sites = role, sites      # invited again: as now asked
        _send(uow, item)
        audit.record(session, caller, "invite.sent", customer_id=customer.id, target_id=item.id,
                     address=address, details={"email": email, "role": item.role})
        result.append(public(item))
    return result


def _own_invite(session: Session, caller: CallerContext, invite_id: str) -> Invite:
    caller.require(*OPERATOR_ROLES, CUSTOMER_ADMIN)
    item = session.get(Invite, invite_id)
    if item is None or (caller.is_customer and item.customer_id != caller.customer_id):
        raise NotFound("No such invitation.")
    return item


def resend(uow: UnitOfWork, caller: CallerContext, invite_id: str) -> dict:
    item = _own_invite(uow.session, caller, invite_id)
    if item.accepted_at or item.revoked_at:
        raise Conflict("This invitation was already accepted or revoked.", {"status": public(item)["status"]})
    item.sent_count += 1
    _send(uow, item)
    audit.record(uow.session, caller, "invite.resent", customer_id=item.customer_id, target_id=item.id)
    return public(item)


def revoke(uow: UnitOfWork, caller: CallerContext, invite_id: str) -> dict:
    item = _own_invite(uow.session, caller, invite_id)
    if item.accepted_at:
        raise Conflict("This invitation was already accepted.", {"status": "accepted"})
    item.revoked_at = item.revoked_at or utcnow()
    audit.record(uow.session, caller, "invite.revoked", customer_id=item.customer_id, target_id=item.id)
    return public(item)


def accept(uow: UnitOfWork, token: str, name: str, password: str, address: str | None = None) -> dict:
    """Turn a valid invitation into a portal user. The same answer for a token that never
    existed and one that was used, revoked or expired: it says nothing about other people."""
    session = uow.session
    item = session.scalar(select(Invite).where(Invite.token_hash == one_time.digest(token))
                          .with_for_update())
    if (item is None or item.accepted_at or item.revoked_at or item.expires_at <= utcnow()):
        raise NotFound("This invitation link is not valid any more; ask for a new one.")
    customer = session.get(Customer, item.customer_id)
    if customer is None or not customer.is_active or not customer.has_portal_access:
        raise Conflict("Portal access for this company is switched off; contact the operator.")
    check_new_password(password, item.email)
    if session.scalar(select(User.id).where(User.email == item.email)):
        raise Conflict("This address already belongs to a portal user; sign in instead.")
    from services.identity.passwords import hash_password

    user = User(email=item.email, name=name.strip(), role=item.role, customer_id=item.customer_id,
                sites=item.sites, password_hash=hash_password(password))
    session.add(user)
    item.accepted_at = utcnow()
    session.flush()
    users.announce(uow, "user.activated", user)
    audit.record(session, None, "invite.accepted", customer_id=user.customer_id, target_id=user.id,
                 address=address, details={"invite_id": item.id})
    return user


def listing(session: Session, caller: CallerContext, customer_id: str) -> list[dict]:
    caller.require(*OPERATOR_ROLES, CUSTOMER_ADMIN)
    scope = caller.scope(customer_id)
    rows = session.scalars(select(Invite).where(Invite.customer_id == scope)
                           .order_by(Invite.created_at.desc()))
    return [public(i) for i in rows]
