"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238, through pyotp) and one-time
recovery codes.

The TOTP secret is kept encrypted (AES-GCM, key derived from SECRET_KEY for this purpose only):
a copy of the database alone does not let anyone produce codes. A code is accepted once: the
time step it belongs to is remembered. Recovery codes are shown once and stored as hashes."""
from __future__ import annotations

import secrets

import pyotp
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.caller import OPERATOR_ROLES, PEOPLE, CallerContext
from services.common.config import env
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, Unauthenticated, ValidationFailed
from services.common import keys
from services.common.keys import seal, unseal
from services.identity import audit, one_time, sessions
from services.identity.models import RecoveryCode, User
from services.identity.passwords import verify_password

RECOVERY_CODES = 10
CODE_REQUIRED = "two_factor_required"


def _seal(secret: str) -> str:
    return seal("totp-secret", secret)


def _open(sealed: str) -> str:
    return unseal("totp-secret", sealed)


def reseal(session: Session) -> int:
    """After a key rotation: every stored TOTP secret sealed with the current key (prepare runs
    this), so SECRET_KEY_PREVIOUS can be dropped without locking anyone out."""
    changed = 0
    for user in session.scalars(select(User).where(or_(User.totp_secret.is_not(None), User.totp_pending.is_not(None)))):
        for column in ("totp_secret", "totp_pending"):
            fresh = getattr(user, column) and keys.reseal("totp-secret", getattr(user, column))
            if fresh:
                setattr(user, column, fresh)
                changed += 1
    return changed


def _own_user(session: Session, caller: CallerContext) -> User:
    """The caller's own user. Two-factor sign-in is a person's: an API key or a driver has no
    user row (their user_id names the key or the driver), which used to fail as a 500
    (AttributeError on None; found by tests/attack/test_authorization_matrix.py)."""
    caller.require(*PEOPLE)
    user = session.get(User, caller.user_id)
    if user is None:
        raise Unauthenticated("Your user no longer exists.")
    return user


def _accept_code(user: User, sealed: str, code: str) -> bool:
    totp = pyotp.TOTP(_open(sealed))
    # Bytes: compare_digest raises TypeError on a str with non-ASCII characters, which made a
    # code such as "¡P…" a 500 (found by Schemathesis, tests/attack/test_schemathesis.py).
    for step in (-1, 0, 1):                       # a code from the neighbouring 30 s windows too
        at = totp.timecode(utcnow()) + step
        if (user.totp_last_step is None or at > user.totp_last_step) and \
                secrets.compare_digest(totp.generate_otp(at).encode(), code.strip().encode()):
            user.totp_last_step = at
            return True
    return False


def setup(uow: UnitOfWork, caller: CallerContext) -> dict:
    user = _own_user(uow.session, caller)
    if user.totp_secret:
        raise Conflict("Two-factor sign-in is on already; turn it off first to change the app.")
    secret = pyotp.random_base32()
    user.totp_pending = _seal(secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=env("PORTAL_OPERATOR_NAME"))
    return {"secret": secret, "otpauth_uri": uri}


def confirm(uow: UnitOfWork, caller: CallerContext, code: str) -> dict:
    session = uow.session
    user = _own_user(session, caller)
    if not user.totp_pending:
        raise Conflict("Start with POST /me/2fa/setup.")
    if not _accept_code(user, user.totp_pending, code):
        raise ValidationFailed.of({"code": ["This code is not right; check the app's clock and try again."]})
    user.totp_secret, user.totp_pending = user.totp_pending, None
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    session.add_all(RecoveryCode(user_id=user.id, code_hash=one_time.digest(c)) for c in codes)
    sessions.end_all(user)     # sessions from before (a limited one too) end
    audit.record(session, caller, "auth.two_factor_enabled", customer_id=user.customer_id, target_id=user.id)
    return {"enabled": True, "recovery_codes": codes}


def disable(uow: UnitOfWork, caller: CallerContext, password: str, code: str) -> dict:
    user = _own_user(uow.session, caller)
    if not user.totp_secret:
        return {"enabled": False}
    if not verify_password(user.password_hash, password) or not second_factor(uow.session, user, code):
        raise ValidationFailed.of({"code": ["Password or code is not right."]})
    user.totp_secret = None
    audit.record(uow.session, caller, "auth.two_factor_disabled", customer_id=user.customer_id,
                 target_id=user.id)
    return {"enabled": False}


def second_factor(session: Session, user: User, code: str | None) -> bool:
    """A current TOTP code, or an unused recovery code (which is then used up)."""
    if not code:
        return False
    if _accept_code(user, user.totp_secret, code):
        return True
    row = session.get(RecoveryCode, (user.id, one_time.digest(code.strip())))
    if row is not None and row.used_at is None:
        row.used_at = utcnow()
        return True
    return False


def check_at_sign_in(session: Session, user: User, code: str | None) -> None:
    """Called once the password is right: users with two-factor sign-in need a code too."""
    if user.totp_secret and not second_factor(session, user, code):
        raise Unauthenticated("Enter the code from your authenticator app (or a recovery code).",
                              {"reason": CODE_REQUIRED})


def must_enrol(session: Session, user: User) -> bool:
    """Operator staff must turn two-factor sign-in on when the operator says so."""
    from services.identity.onboarding import settings

    return user.role in OPERATOR_ROLES and not user.totp_secret and settings(session)["require_2fa_for_staff"]
