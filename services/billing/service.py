"""The billing service: entrypoints only. Its capabilities come with the billing issue; the foundation
gives it its database, migrations, outbox relay, caller context and the readiness ping."""
from __future__ import annotations

from services.common.db import Database
from services.common.service import PortalService
from services.billing.models import Base


class Service(PortalService):
    name = "billing"
    db = Database(Base)
