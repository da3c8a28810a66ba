"""Which new passwords are accepted: long enough, not a common password, not the address."""
from __future__ import annotations

from functools import lru_cache

from services.common.errors import ValidationFailed

MIN_LENGTH = 10


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords of leaked sets, ranked.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_new_password(password: str, email: str | None = None, field: str = "password") -> None:
    problem = None
    if len(password) < MIN_LENGTH:
        problem = f"Use at least {MIN_LENGTH} characters."
    elif len(password) > 1024:
        problem = "Use at most 1024 characters."
    elif password.lower() in _common() or len(set(password)) < 4:
        problem = "This password is too common; choose another."
    elif email and password.lower() in (email.lower(), email.split("@")[0].lower()):
        problem = "Do not use your email address as your password."
    if problem:
        raise ValidationFailed.of({field: [problem]})
