"""Password hashing with argon2id, at OWASP's recommended cost (m=19 MiB, t=2, p=1).

argon2-cffi's defaults (RFC 9106's second option: 64 MiB, t=3, p=4) cost ~450 ms of CPU per
sign-in on this 2-core machine (measured with bench --login): 32 people signing in at once
then waited seconds and timed out, and a flood of sign-ins could starve everything else.
Existing hashes are upgraded at their next sign-in (check_needs_rehash).

Hashing takes tens of milliseconds of CPU: under eventlet it runs in a real OS thread
(``tpool``), so it neither blocks the hub (PITFALLS 10) nor serialises concurrent logins.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)   # argon2id
# Verified when the email is unknown, so that a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a real password")


def _offload(fn, *args):
    try:
        from eventlet import patcher, tpool
    except ImportError:  # pragma: no cover
        return fn(*args)
    if patcher.is_monkey_patched("thread"):
        return tpool.execute(fn, *args)
    return fn(*args)


def hash_password(password: str) -> str:
    return _offload(_hasher.hash, password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return _offload(check)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
