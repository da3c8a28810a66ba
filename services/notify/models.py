"""The notify service's tables. It hears every event of the platform; the foundation keeps a
log of them (the source of the in-app feed and the operator's activity view to come)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import BigId, service_base, utcnow

Base = service_base()


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
