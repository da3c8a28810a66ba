"""The identity service's tables: customers and the people who sign in."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import BigId, service_base, utcnow
from services.common.esign import SignatureColumns, StoredPdfColumns

Base = service_base()


def new_id() -> str:
    return str(uuid.uuid4())


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    has_portal_access: Mapped[bool] = mapped_column(default=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    require_dimensions: Mapped[bool] = mapped_column(default=False)
    location_sharing: Mapped[str] = mapped_column(String(16), default="approximate")
    allow_order_upload: Mapped[bool] = mapped_column(default=True)
    default_depot_id: Mapped[str | None] = mapped_column(String(36))
    # Set by the customer's admin: its sites or cost centres ([{code, name}]) that orders carry
    # and users may be limited to, and the order amount ({amount, currency}) above which a
    # booker's order waits for an admin's approval.
    sites: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    approval_limit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """Operator staff (customer_id is None) and customers' portal users."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)     # stored lower-cased
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    sites: Mapped[list[str] | None] = mapped_column(JSON)     # site codes it is limited to; None: all
    is_active: Mapped[bool] = mapped_column(default=True)
    has_portal_access: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Tokens issued before this moment are refused (password reset, access switched off).
    tokens_valid_after: Mapped[datetime | None]
    # Two-factor sign-in (TOTP): the secret encrypted with a key derived from SECRET_KEY; the
    # last time step used, so a code cannot be replayed.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_pending: Mapped[str | None] = mapped_column(String(255))
    totp_last_step: Mapped[int | None]


class Invite(Base):
    """An invitation of one email address to a customer's portal. Only the hash of its token
    is kept; the token itself exists in the email alone."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(32))
    sites: Mapped[list[str] | None] = mapped_column(JSON)     # the new user's, when accepted
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    sent_count: Mapped[int] = mapped_column(default=1)
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiKey(Base):
    """A customer's key for partner systems; the secret is shown once, only its hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what: sign-ins, invites, keys, permission changes."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    target_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LoginThrottle(Base):
    """Failed sign-ins per account and per address, in the database so that every gateway and
    service instance sees the same counts (PITFALLS 15)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_until: Mapped[datetime | None]


class RevokedToken(Base):
    """Access tokens ended by signing out, kept until they would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PasswordReset(Base):
    """A single-use password reset, valid for an hour; only its token's hash is kept."""

    __tablename__ = "password_resets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OperatorSetting(Base):
    """Operator-wide settings the operator changes at run time (``self_signup`` ...)."""

    __tablename__ = "operator_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Driver(Base):
    """A driver and the credential its app signs its bus messages with (shown once, hashed)."""

    __tablename__ = "drivers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    depot_id: Mapped[str | None] = mapped_column(String(36))
    is_active: Mapped[bool] = mapped_column(default=True)
    credential_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    credential_issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """One-time codes that stand in for a lost authenticator; only their hashes are kept."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime | None]


class ExternalIdentity(Base):
    """A user's account at an OpenID Connect provider, linked at its first SSO sign-in."""

    __tablename__ = "external_identities"

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class TermsVersion(StoredPdfColumns, Base):
    """One version of the operator's terms, as uploaded (a PDF in the blob store): the SHA-256 of
    its bytes is what a customer's admin signs against (services/identity/terms.py)."""

    __tablename__ = "terms_versions"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by: Mapped[str | None] = mapped_column(String(36))


class TermsSignature(SignatureColumns, Base):
    """A customer's acceptance of one version of the terms, signed by one of its admins: the typed
    name, the drawn signature (PNG), who, when, from where (coarse) and the hash signed."""

    __tablename__ = "terms_signatures"
    __table_args__ = (UniqueConstraint("customer_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(ForeignKey("terms_versions.version"), index=True)
