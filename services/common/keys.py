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


def seal(purpose: str, text: str) -> str:
    """``text`` encrypted for storage (AES-GCM, a random nonce, a key of this purpose only): a
    copy of the database alone does not give the secret away (TOTP secrets, webhook secrets)."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + AESGCM(derive_key(purpose)).encrypt(nonce, text.encode(), None)).decode()


def unseal(purpose: str, sealed: str) -> str:
    """What ``seal`` hid; raises (cryptography's InvalidTag) when it was altered."""
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.urlsafe_b64decode(sealed)
    return AESGCM(derive_key(purpose)).decrypt(raw[:12], raw[12:], None).decode()
