"""The orders service's tables. Orders themselves come with the orders issue; what is here is
the local copy of each customer's settings that the order rules need (fed by identity's events,
so the orders service never reads identity's tables)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import service_base, utcnow

Base = service_base()


class CustomerSettings(Base):
    __tablename__ = "customer_settings"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool]
    require_dimensions: Mapped[bool]
    allow_order_upload: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
