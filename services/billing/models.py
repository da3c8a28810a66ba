"""The billing service's tables: so far only the outbox, inbox and idempotency records every
service has; its own tables come with the billing issue."""
from __future__ import annotations

from services.common.db import service_base

Base = service_base()
