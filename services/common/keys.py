"""Per-purpose keys derived from the one SECRET_KEY, so that a leaked key of one purpose (say a
signed caller context) cannot be used for another (say an access token)."""
from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from services.common.config import env


@lru_cache(maxsize=None)
def derive_key(purpose: str) -> bytes:
    return hmac.new(env("SECRET_KEY").encode(), b"portal:" + purpose.encode(), hashlib.sha256).digest()
