"""The notify service's tables.

It hears every event of the platform (``event_log``) and keeps small copies of what it needs to
decide who is told: customers (their name and location-sharing level) and users (address, role,
whether they may still be reached). What it sends is kept as rows that are also work queues:
``emails`` and ``webhook_deliveries`` are written in the transaction of the event that causes
them and sent afterwards by the pumps (``delivery.py``), claimed with SKIP LOCKED and a lease, so
several notify instances share them and a crash mid-send retries instead of losing.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.brand import BrandCopyColumns
from services.common.db import BigId, service_base, utcnow

Base = service_base()


def new_id() -> str:
    return str(uuid.uuid4())


class EventLogEntry(Base):
    __tablename__ = "event_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    occurred_at: Mapped[datetime]
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- copies of identity's facts -------------------------------------------------------------
class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    location_sharing: Mapped[str] = mapped_column(String(16), default="exact")
    is_active: Mapped[bool] = mapped_column(default=True)


class Recipient(Base):
    """A portal user (customer_id set) or a member of the operator's staff (customer_id None)."""

    __tablename__ = "recipients"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    reachable: Mapped[bool] = mapped_column(default=True)   # removed or switched off: told nothing
    sites: Mapped[list[str] | None] = mapped_column(JSON)    # limited to these sites' orders; None: all
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Preference(Base):
    """A user's choice for one event type and channel; absent rows take the defaults of
    ``preferences.DEFAULTS``."""

    __tablename__ = "preferences"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)   # in_app | email
    enabled: Mapped[bool]


class Follow(Base):
    """A member of the operator's staff who is told about one customer's events."""

    __tablename__ = "follows"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderFacts(Base):
    """What the emails about an order need and no single event carries: its reference, the
    latest ETA of its next stop, whether it was already reported late, the proof of delivery."""

    __tablename__ = "order_facts"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(36))
    reference: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(16))
    site: Mapped[str | None] = mapped_column(String(32))     # the customer's site / cost centre
    eta: Mapped[datetime | None]
    late_reported: Mapped[bool] = mapped_column(default=False)
    pod: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failure_reason: Mapped[str | None] = mapped_column(Text)


# --- the in-app feed -------------------------------------------------------------------------
class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("user_id", "event_id"),
                      Index("ix_notifications_user_unread", "user_id", "read_at", "seq"))

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    link: Mapped[str | None] = mapped_column(String(500))
    subject_id: Mapped[str | None] = mapped_column(String(36))   # the order, invoice ... it is about
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


# --- email: the record of every message, and its queue ------------------------------------
class EmailMessage(Base):
    __tablename__ = "emails"
    __table_args__ = (Index("ix_emails_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    # The bodies are kept until the message is sent; those that carry a single-use link or a
    # password (``sensitive``) are erased then, so the record is not a store of secrets.
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sensitive: Mapped[bool] = mapped_column(default=False)
    message_id: Mapped[str] = mapped_column(String(200))
    # queued -> sent | bounced (permanent refusal) | failed (temporary failures until the end
    # of the schedule); lease_until marks a claim by one pump.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


# --- partner webhooks -------------------------------------------------------------------------
class WebhookEndpoint(Base):
    """A partner's URL. ``customer_id`` None: the operator's, for every customer's events."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret_sealed: Mapped[str] = mapped_column(Text)      # whsec_..., encrypted (webhook_http.seal)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One message to one endpoint, and its queue state. ``msg_id`` is the ``webhook-id``: the
    same on every retry and replay, so a partner drops what it already has."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    msg_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)       # the exact JSON signed and sent
    # pending -> succeeded | failed (schedule exhausted) | cancelled (endpoint disabled/deleted)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float]


class BrandCopy(BrandCopyColumns, Base):
    """The operator's branding as identity last announced it (services.common.brand)."""
