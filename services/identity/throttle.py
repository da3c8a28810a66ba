"""Throttling of failed sign-ins, per account and per client address.

Counts live in the database (every instance sees them, PITFALLS 15) and are written in their
own short transaction: a failed sign-in rolls back the worker's transaction, not its count.
The answer never depends on whether the account exists."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from services.common.config import env_int
from services.common.db import upsert_insert, utcnow
from services.common.errors import Throttled
from services.identity import audit
from services.identity.models import LoginThrottle

LIMITS = {"account": 5, "address": 20}   # failures in the window before blocking


def window() -> timedelta:
    """How long failures are counted, and the longest block (LOGIN_THROTTLE_SECONDS, 15 min):
    a block always ends, so an attacker cannot lock the real user out for good; a setting so
    that a test can show the user back in without waiting a quarter of an hour."""
    return timedelta(seconds=env_int("LOGIN_THROTTLE_SECONDS"))


def keys(email: str, address: str | None) -> dict[str, str]:
    found = {"account": f"account:{email}"}
    if address:
        found["address"] = f"address:{address}"
    return found


def reserve(session: Session, email: str, address: str | None) -> None:
    """Count this attempt as a failure BEFORE its password is checked, in ``session`` (a
    separate one, committed at once), or refuse it (Throttled) while the account or address
    is blocked. Counting first makes the limit hold under concurrency: checking first and
    counting after the (slow) password check let every identity worker through at once, so a
    burst of 150 guesses had ~30 passwords checked instead of 5 (and the CPU they took made
    sign-ins time out). ``succeeded`` gives a sign-in that works its count back."""
    now, span = utcnow(), window()
    with session, session.begin():
        rows = []
        for kind, key in keys(email, address).items():
            # Created by an upsert: two first attempts of one key at once (a burst) both
            # inserting it made one of them fail with a duplicate key (500).
            session.execute(upsert_insert(session)(LoginThrottle).values(
                key=key, failures=0, window_start=now).on_conflict_do_nothing(index_elements=["key"]))
            row = session.get(LoginThrottle, key, with_for_update=True)    # account, then address
            if row.blocked_until and row.blocked_until > now:
                wait = int((row.blocked_until - now).total_seconds()) + 1
                raise Throttled("Too many failed sign-ins; try again later.", {"retry_after": wait})
            rows.append((kind, row))
        for kind, row in rows:
            if now - row.window_start > span:
                row.failures, row.window_start = 0, now
            row.failures += 1
            over = row.failures - LIMITS[kind]
            if over >= 0:
                row.blocked_until = now + min(span, timedelta(seconds=30 * 2 ** over))


def failed(session: Session, email: str, address: str | None) -> None:
    """Record a failed attempt (already counted by ``reserve``) in the audit log, in ``session``
    (a separate one: the caller's work is rolled back). These entries are the guesses that
    were actually checked."""
    with session, session.begin():
        audit.record(session, None, "auth.login_failed", target_id=email, address=address)


def succeeded(session: Session, email: str, address: str | None) -> None:
    """A sign-in worked: the account's count ends, and the address gets its attempt back (an
    office behind one address is not blocked by its people signing in)."""
    row = session.get(LoginThrottle, f"account:{email}")
    if row is not None:
        session.delete(row)
    if address:
        row = session.get(LoginThrottle, f"address:{address}", with_for_update=True)
        if row is not None and row.failures > 0:
            row.failures -= 1
            if row.failures < LIMITS["address"]:
                row.blocked_until = None
