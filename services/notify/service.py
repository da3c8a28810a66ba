"""The notify service: entrypoints only. Email, the in-app feed, preferences and webhooks come
with the notify issue; the foundation subscribes to every event type of the catalogue."""
from __future__ import annotations

from services.common.db import Database
from services.common.entrypoints import event_handler, rpc
from services.common.events import CATALOGUE
from services.common.service import PortalService
from services.notify import event_log
from services.notify.models import Base


class Service(PortalService):
    name = "notify"
    db = Database(Base)

    @event_handler(*CATALOGUE)
    def log_event(self, event: dict) -> None:
        event_log.record(self.db.session, event)

    @rpc
    def recent_events(self, customer_id: str | None = None, limit: int = 50) -> list[dict]:
        return event_log.recent(self.db.session, self.caller, customer_id, limit)
