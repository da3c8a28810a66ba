"""The tracking service's tables.

Tracking keeps its own copy of what it needs from other services, fed by their events: each
customer's location-sharing level (identity) and each order's status, driver and stops
(orders). Positions come from the driver apps over the bus.

- ``latest_positions`` is the one row per driver every read and every batch touches: UNLOGGED
  on PostgreSQL (no write-ahead log; it lives in shared buffers and is rebuilt by the next
  report after a crash), the platform's memory-speed store.
- ``positions`` is the history, kept ``TRACKING_RETENTION_DAYS`` and then deleted; its primary
  key (driver, recorded_at) makes a redelivered report a no-op.
- ``driver_plans`` carries a version per driver, bumped whenever the driver's stops change, so
  an ingest worker reloads a driver's remaining stops only when they did.
- ``link_accesses`` is each opening of a tracking link (coarse origin only), kept as long as the
  position history; ``order_feedback`` is the recipient's rating of a delivered order.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import service_base, utcnow

Base = service_base()


def new_id() -> str:
    return str(uuid.uuid4())

# Order statuses in which tracking follows a driver for the order.
IN_TRANSIT = "in_transit"
FINISHED = ("delivered", "failed", "cancelled")
OPEN_STOP = ("pending", "arrived")


class CustomerSharing(Base):
    """How much of the driver's location a customer sees: exact, approximate or none."""

    __tablename__ = "customer_sharing"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    location_sharing: Mapped[str] = mapped_column(String(16), default="approximate")


class TrackedOrder(Base):
    __tablename__ = "tracked_orders"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    reference: Mapped[str | None] = mapped_column(String(64))
    # The customer's site (cost centre) code: a user limited to other sites is told NotFound.
    site: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    route_id: Mapped[str | None] = mapped_column(String(36))
    driver_id: Mapped[str | None] = mapped_column(String(36), index=True)
    route_position: Mapped[int | None]
    # When the order was delivered, failed or cancelled: tracking links expire a while after.
    finished_at: Mapped[datetime | None]
    # When the applied status and route were decided (the events' occurred_at): handlers run
    # concurrently, so an older event that arrives late must not undo a newer one.
    status_at: Mapped[datetime | None]
    scheduled_at: Mapped[datetime | None]
    # Microseconds since the epoch of the last change anyone watching would see; SSE event ids.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrackedStop(Base):
    __tablename__ = "tracked_stops"
    __table_args__ = (Index("ix_tracked_stops_driver_open", "driver_id", "status"),)

    stop_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("tracked_orders.order_id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    driver_id: Mapped[str | None] = mapped_column(String(36))
    route_position: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    type: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")   # pending|arrived|completed|failed
    arrived_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    eta: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # The ETA last announced in ``stop.eta_changed`` (the threshold is measured from it), and when.
    eta_announced: Mapped[datetime | None]
    eta_announced_at: Mapped[datetime | None]


class DriverPlan(Base):
    __tablename__ = "driver_plans"

    driver_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class LatestPosition(Base):
    __tablename__ = "latest_positions"

    driver_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime]
    received_at: Mapped[datetime]
    # The speed this driver actually makes (eta.SpeedLearner), used for its ETAs.
    learned_mps: Mapped[float | None] = mapped_column(Float)
    # The ETAs of its open stops from this position: {stop_id: [eta ISO or null, late]}. Kept
    # here (one row per driver, rewritten anyway) so every read shows the ETA of the latest
    # position; tracked_stops keeps only the last one announced.
    etas: Mapped[dict | None] = mapped_column(JSON)


class PositionRecord(Base):
    __tablename__ = "positions"

    driver_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)


class TrackingLink(Base):
    """A link anyone can open without signing in. Only the token's SHA-256 is kept."""

    __tablename__ = "tracking_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("tracked_orders.order_id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(120))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_opened_at: Mapped[datetime | None]


class LinkAccess(Base):
    """One opening of a tracking link: when, and where from coarsely (a /24 or /48 network and the
    browser's family, never the address). Polls and stream renewals of the same visit extend
    ``last_seen_at`` instead of adding a row (``link_access``)."""

    __tablename__ = "link_accesses"
    __table_args__ = (Index("ix_link_accesses_link_opened", "link_id", "opened_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    link_id: Mapped[str] = mapped_column(ForeignKey("tracking_links.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    network: Mapped[str | None] = mapped_column(String(64))
    browser: Mapped[str] = mapped_column(String(32))


class OrderFeedback(Base):
    """The recipient's rating (1-5) and comment of a delivered order, given through a tracking
    link: one per order (``feedback``)."""

    __tablename__ = "order_feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("tracked_orders.order_id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    driver_id: Mapped[str | None] = mapped_column(String(36), index=True)
    link_id: Mapped[str | None] = mapped_column(ForeignKey("tracking_links.id", ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Watch(Base):
    """An order someone is watching live (an SSE stream): ingest workers publish live updates
    only for these. Streams renew their watch; an abandoned one lapses."""

    __tablename__ = "watches"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Rejection(Base):
    """Driver messages dropped to the dead-letter queue, counted by reason."""

    __tablename__ = "rejections"

    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_detail: Mapped[str | None] = mapped_column(Text)
