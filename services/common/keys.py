"""Per-purpose keys derived from the one SECRET_KEY, so that a leaked key of one purpose (say a
signed caller context) cannot be used for another (say an access token).

Rotation (deploy/RUNBOOK.md): SECRET_KEY_PREVIOUS names earlier root secrets that are still
ACCEPTED (signatures checked, sealed secrets opened) while only SECRET_KEY SIGNS and SEALS. So a
new key rolls out without signing anyone out or failing a call between processes that have it
and processes that do not yet, and ``reseal`` moves stored secrets to the new key."""
from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from services.common.config import env


def derive_key(purpose: str) -> bytes:
    """The key that signs and seals for ``purpose`` now."""
    return _derive(env("SECRET_KEY"), purpose)


def accepted_keys(purpose: str) -> list[bytes]:
    """The keys a signature or a sealed text of ``purpose`` may have been made with: the
    current one first, then those of SECRET_KEY_PREVIOUS (comma-separated)."""
    roots = [env("SECRET_KEY"), *(k.strip() for k in (env("SECRET_KEY_PREVIOUS") or "").split(",") if k.strip())]
    return [_derive(root, purpose) for root in dict.fromkeys(roots)]


@lru_cache(maxsize=None)
def _derive(root: str, purpose: str) -> bytes:
    return hmac.new(root.encode(), b"portal:" + purpose.encode(), hashlib.sha256).digest()


def signed_by_any(purpose: str, message: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the HMAC-SHA256 of ``message`` under a key ``purpose`` accepts."""
    return any(hmac.compare_digest(hmac.new(key, message, hashlib.sha256).digest(), mac)
               for key in accepted_keys(purpose))


def seal(purpose: str, text: str) -> str:
    """``text`` encrypted for storage (AES-GCM, a random nonce, a key of this purpose only): a
    copy of the database alone does not give the secret away (TOTP secrets, webhook secrets)."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + AESGCM(derive_key(purpose)).encrypt(nonce, text.encode(), None)).decode()


def unseal(purpose: str, sealed: str) -> str:
    """What ``seal`` hid (with the current key or a previous one); raises (cryptography's
    InvalidTag) when it was altered or sealed with a key no longer accepted."""
    return _unseal(purpose, sealed)[0]


def reseal(purpose: str, sealed: str) -> str | None:
    """``sealed`` sealed again with the current key when a previous one sealed it; else None."""
    text, current = _unseal(purpose, sealed)
    return None if current else seal(purpose, text)


def _unseal(purpose: str, sealed: str) -> tuple[str, bool]:
    import base64

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.urlsafe_b64decode(sealed)
    keys = accepted_keys(purpose)
    for index, key in enumerate(keys):
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode(), index == 0
        except InvalidTag:
            if index == len(keys) - 1:
                raise
    raise AssertionError("unreachable")
