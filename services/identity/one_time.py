"""Single-use tokens (invites, password resets): 256 random bits, stored only as a hash.

An invite token is derived from the invite's id and a random nonce with a key only services
hold, so the ``invite.sent`` event can carry what the mailer needs (id, nonce) without carrying
the token: anyone who reads the event (a partner subscribed to it) cannot rebuild the link."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from services.common.keys import accepted_keys, derive_key


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def derive(purpose: str, object_id: str, nonce: str, key: bytes | None = None) -> str:
    mac = hmac.new(key or derive_key(purpose), f"{object_id}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def candidates(purpose: str, object_id: str, nonce: str) -> list[str]:
    """The token under each accepted key: the process that made it may have held a key this one
    does not sign with (a rotation under way); the stored hash tells which one it was."""
    return [derive(purpose, object_id, nonce, key) for key in accepted_keys(purpose)]


def digest(token: str) -> str:
    """What the database keeps: a token of 256 random bits needs no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()
