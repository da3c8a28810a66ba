"""The tracking service: entrypoints only. Its capabilities come with the tracking issue; the foundation
gives it its database, migrations, outbox relay, caller context and the readiness ping."""
from __future__ import annotations

from services.common.db import Database
from services.common.service import PortalService
from services.tracking.models import Base


class Service(PortalService):
    name = "tracking"
    db = Database(Base)
