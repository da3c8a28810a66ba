"""Throttling of failed sign-ins, per account and per client address.

Counts live in the database (every instance sees them, PITFALLS 15) and are written in their
own short transaction: a failed sign-in rolls back the worker's transaction, not its count.
The answer never depends on whether the account exists."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.common.errors import Throttled
from services.identity import audit
from services.identity.models import LoginThrottle

WINDOW = timedelta(minutes=15)
LIMITS = {"account": 5, "address": 20}   # failures in WINDOW before blocking
MAX_BLOCK = timedelta(minutes=15)


def keys(email: str, address: str | None) -> dict[str, str]:
    found = {"account": f"account:{email}"}
    if address:
        found["address"] = f"address:{address}"
    return found


def check(session: Session, email: str, address: str | None) -> None:
    now = utcnow()
    for key in keys(email, address).values():
        row = session.get(LoginThrottle, key)
        if row is not None and row.blocked_until and row.blocked_until > now:
            wait = int((row.blocked_until - now).total_seconds()) + 1
            raise Throttled("Too many failed sign-ins; try again later.", {"retry_after": wait})


def failed(session: Session, email: str, address: str | None) -> None:
    """Count a failure, in ``session`` (a separate one: the caller's work is rolled back)."""
    now = utcnow()
    with session, session.begin():
        audit.record(session, None, "auth.login_failed", target_id=email, address=address)
        for kind, key in keys(email, address).items():
            row = session.get(LoginThrottle, key, with_for_update=True)
            if row is None:
                row = LoginThrottle(key=key, failures=0, window_start=now)
                session.add(row)
            if now - row.window_start > WINDOW:
                row.failures, row.window_start = 0, now
            row.failures += 1
            over = row.failures - LIMITS[kind]
            if over >= 0:
                row.blocked_until = now + min(MAX_BLOCK, timedelta(seconds=30 * 2 ** over))


def succeeded(session: Session, email: str) -> None:
    row = session.get(LoginThrottle, f"account:{email}")
    if row is not None:
        session.delete(row)
