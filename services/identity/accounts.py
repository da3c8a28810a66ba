"""Signing in, the signed-in user's profile, and the bootstrap operator admin."""
from __future__ import annotations

import logging

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common import tokens
from services.common.caller import CUSTOMER_ROLES, OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import NotFound, Unauthenticated
from services.common.schemas import dump
from services.identity import audit, throttle, two_factor
from services.identity.models import Customer, User
from services.identity.passwords import hash_password, needs_rehash, verify_password
from services.identity.schemas import LoginOut, UserOut

log = logging.getLogger(__name__)

BAD_LOGIN = "Email or password is wrong."


def normalise_email(email: str) -> str:
    return email.strip().lower()


def login(uow: UnitOfWork, email: str, password: str, address: str | None = None,
          otp: str | None = None) -> dict:
    email = normalise_email(email)
    throttle.reserve(uow.separate_session(), email, address)
    session = uow.session
    user = session.scalar(select(User).where(User.email == email))
    if not verify_password(user.password_hash if user else None, password):
        count_failure(uow, email, address)
        raise Unauthenticated(BAD_LOGIN)
    if not user.is_active or not user.has_portal_access:
        raise Unauthenticated("This account cannot sign in; ask your administrator.")
    if user.role in CUSTOMER_ROLES:
        customer = session.get(Customer, user.customer_id)
        if customer is None or not customer.is_active or not customer.has_portal_access:
            raise Unauthenticated("Portal access for your company is switched off; contact the operator.")
    try:
        two_factor.check_at_sign_in(session, user, otp)
    except Unauthenticated:
        if otp:                       # a wrong code counts like a wrong password
            count_failure(uow, email, address)
        raise
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    throttle.succeeded(session, email, address)
    return signed_in(session, user, address)


def count_failure(uow: UnitOfWork, key: str, address: str | None) -> None:
    """Record a failed guess (counted by throttle.reserve) in a session of its own, after giving
    back the worker's connection: holding it while waiting for a second one deadlocked the pool
    (DB_POOL_SIZE x 2) when more guesses than that arrived at once (a burst of wrong passwords
    answered nothing but 503 for the pool's 30 s timeout, everyone's sign-ins included). The work
    is refused: nothing to keep."""
    uow.session.rollback()
    throttle.failed(uow.separate_session(), key, address)


def signed_in(session: Session, user: User, address: str | None = None) -> dict:
    """The answer of every way in (password, accepted claim, sign-up): an access token."""
    user.last_login_at = utcnow()
    ctx = CallerContext(role=user.role, user_id=user.id, customer_id=user.customer_id, sites=user.sites)
    audit.record(session, ctx, "auth.login", customer_id=user.customer_id, target_id=user.id,
                 address=address)
    limited = (tokens.LIMITED_PASSWORD if user.must_change_password
               else tokens.LIMITED_TWO_FACTOR if two_factor.must_enrol(session, user) else None)
    token, ttl = tokens.issue(ctx, limited=limited)
    return dump(LoginOut, {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "user": user})


# Built once: SQLAlchemy then reuses their cache keys and compiled SQL on every call (building
# the statement per call was ~12% of the service's CPU on GET /me).
_USER = select(User.__table__).where(User.id == bindparam("user_id"))
_CUSTOMERS_USER = _USER.where(User.customer_id == bindparam("customer_id"))   # defence in depth


def profile(uow: UnitOfWork, caller: CallerContext) -> dict:
    caller.require()
    query = _CUSTOMERS_USER if caller.is_customer else _USER
    rows = uow.read(query, {"user_id": caller.user_id, "customer_id": caller.customer_id})
    if not rows or not rows[0]["is_active"]:
        raise NotFound("Your user no longer exists.")
    return dump(UserOut, rows[0])


def ensure_admin(session: Session, email: str, password: str) -> bool:
    """Create the operator admin if no user has that email; True when it was created.
    An existing user keeps its password: the variable seeds, it does not reset."""
    email = normalise_email(email)
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        return False
    session.add(User(email=email, name="Operator admin", role=OPERATOR_ADMIN,
                     password_hash=hash_password(password)))
    try:
        session.flush()
    except IntegrityError:   # another instance bootstrapped it at the same moment
        session.rollback()
        return False
    log.info("bootstrapped operator admin %s", email)
    return True
