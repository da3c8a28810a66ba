"""Single-use tokens (invites, password resets): 256 random bits, stored only as a hash.

An invite token is derived from the invite's id and a random nonce with a key only services
hold, so the ``invite.sent`` event can carry what the mailer needs (id, nonce) without carrying
the token: anyone who reads the event (a partner subscribed to it) cannot rebuild the link."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from services.common.keys import derive_key


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def derive(purpose: str, object_id: str, nonce: str) -> str:
    mac = hmac.new(derive_key(purpose), f"{object_id}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def digest(token: str) -> str:
    """What the database keeps: a token of 256 random bits needs no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()
