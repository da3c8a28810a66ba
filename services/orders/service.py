"""The orders service: entrypoints only. Orders, imports, documents, messages and dispatch come
with the orders issue; the foundation proves the event path with the customer settings copy."""
from __future__ import annotations

from services.common.db import Database
from services.common.entrypoints import event_handler, rpc
from services.common.service import PortalService
from services.orders import customers
from services.orders.models import Base


class Service(PortalService):
    name = "orders"
    db = Database(Base)

    @event_handler("customer.created", "customer.updated")
    def keep_customer_settings(self, event: dict) -> None:
        customers.apply_customer_event(self.db.session, event)

    @rpc
    def customer_settings(self, customer_id: str) -> dict:
        return customers.settings_of(self.db.session, self.caller, customer_id)
