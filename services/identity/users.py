"""Portal users as their colleagues and the operator manage them, and one's own profile."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sqlalchemy import func

from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_PEOPLE, OPERATOR_ADMIN, OPERATOR_ROLES, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.schemas import dump
from services.identity import audit, sessions
from services.identity.models import Customer, User
from services.identity.passwords import hash_password, verify_password
from services.identity.policy import check_new_password
from services.identity.schemas import UserOut


def announce(uow: UnitOfWork, event_type: str, user: User, **extra) -> None:
    """``user.*`` events: what other services keep of a user (notify tells them things)."""
    uow.emit(event_type, {"user_id": user.id, "email": user.email, "role": user.role,
                          "customer_id": user.customer_id, "name": user.name, "sites": user.sites,
                          "reachable": user.is_active is not False and user.has_portal_access is not False, **extra},
             customer_id=user.customer_id)


def of_customer(session: Session, caller: CallerContext, customer_id: str) -> list[dict]:
    caller.require(*OPERATOR_ROLES, CUSTOMER_ADMIN)
    scope = caller.scope(customer_id)
    query = select(User).where(User.customer_id == scope).order_by(User.email)
    if caller.is_customer:          # a removed colleague is gone for the customer; staff see it
        query = query.where(User.is_active.is_(True))
    return dump(UserOut, session.scalars(query), many=True)


def _get(session: Session, caller: CallerContext, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or (caller.is_customer and user.customer_id != caller.customer_id):
        raise NotFound("No such user.")
    return user


def remove(uow: UnitOfWork, caller: CallerContext, user_id: str) -> None:
    """A customer admin removes a colleague: the user can no longer sign in (the row stays, for
    the history of what they did)."""
    caller.require(CUSTOMER_ADMIN, OPERATOR_ADMIN)
    user = _get(uow.session, caller, user_id)
    if user.customer_id is None:
        raise NotFound("No such user.")
    if user.id == caller.user_id:
        raise Conflict("You cannot remove yourself; ask another administrator.")
    user.is_active = False
    user.has_portal_access = False
    sessions.end_all(user)
    announce(uow, "user.removed", user)
    audit.record(uow.session, caller, "user.removed", customer_id=user.customer_id, target_id=user.id)


def set_access(uow: UnitOfWork, caller: CallerContext, user_id: str, fields: dict) -> dict:
    """The operator switches a user's portal access (or activity) on or off."""
    caller.require_operator(OPERATOR_ADMIN)
    user = _get(uow.session, caller, user_id)
    for name in ("has_portal_access", "is_active"):
        if name in fields:
            setattr(user, name, fields[name])
    if fields.get("has_portal_access") is False or fields.get("is_active") is False:
        sessions.end_all(user)
    announce(uow, "user.updated", user)
    audit.record(uow.session, caller, "user.access_changed", customer_id=user.customer_id,
                 target_id=user.id, details=fields)
    return dump(UserOut, user)


def site_limit(customer: Customer, sites: list[str] | None) -> list[str] | None:
    """The sites a user is to be limited to, as the customer spells their codes; None: all.
    A code the customer does not have is refused, so a typo never hides every order."""
    if sites is None:
        return None
    known = {site["code"].lower(): site["code"] for site in customer.sites or []}
    unknown = [code for code in sites if code.lower() not in known]
    if unknown:
        raise ValidationFailed.of({"sites": [f"No such site: {', '.join(unknown)}. The customer's sites: "
                                             f"{', '.join(known.values()) or 'none yet'}."]})
    if not sites:
        raise ValidationFailed.of({"sites": ["Name at least one site, or send null for all of them."]})
    return list(dict.fromkeys(known[code.lower()] for code in sites))


def _admins_left(session: Session, customer_id: str, without: str) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.customer_id == customer_id, User.role == CUSTOMER_ADMIN, User.is_active.is_(True),
        User.id != without))


def update(uow: UnitOfWork, caller: CallerContext, user_id: str, fields: dict) -> dict:
    """A customer admin (or the operator's admin) changes a colleague's role or sites. The
    user's sessions end (refused within the gateway's recheck interval, SESSION_RECHECK_SECONDS),
    so the new rights hold from its next sign-in, not the end of its current token's life."""
    caller.require(CUSTOMER_ADMIN, OPERATOR_ADMIN)
    session = uow.session
    user = _get(session, caller, user_id)
    if user.customer_id is None or user.role not in CUSTOMER_PEOPLE:
        raise NotFound("No such user.")
    role = fields.get("role", user.role)
    sites = user.sites
    if "sites" in fields:
        sites = site_limit(session.get(Customer, user.customer_id), fields["sites"])
    if role != CUSTOMER_ADMIN and user.role == CUSTOMER_ADMIN and not _admins_left(session, user.customer_id, user.id):
        raise Conflict("Every customer keeps at least one administrator; make someone else one first.")
    changed = {name: value for name, value in (("role", role), ("sites", sites)) if getattr(user, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(user, name, value)
        sessions.end_all(user)
        announce(uow, "user.updated", user)
        audit.record(session, caller, "user.rights_changed", customer_id=user.customer_id,
                     target_id=user.id, details=changed)
    return dump(UserOut, user)


def update_me(uow: UnitOfWork, caller: CallerContext, fields: dict) -> dict:
    caller.require()
    user = _get(uow.session, caller, caller.user_id)
    if "new_password" in fields:
        if not verify_password(user.password_hash, fields.get("current_password") or ""):
            raise ValidationFailed.of({"current_password": ["This is not your current password."]})
        check_new_password(fields["new_password"], user.email, field="new_password")
        user.password_hash = hash_password(fields["new_password"])
        if user.must_change_password:
            # The temporary-password token can do nothing else; the next sign-in gets a full one.
            user.must_change_password = False
            sessions.end_all(user)
        audit.record(uow.session, caller, "user.password_changed", customer_id=user.customer_id,
                     target_id=user.id)
    if "name" in fields and fields["name"].strip() != user.name:
        user.name = fields["name"].strip()
        announce(uow, "user.updated", user)
    return dump(UserOut, user)
