"""The identity service: entrypoints only; the rules live in accounts.py and customers.py."""
from __future__ import annotations

from services.common.db import Database
from services.common.entrypoints import rpc
from services.common.schemas import PageArgs, load
from services.common.service import PortalService
from services.identity import accounts, customers
from services.identity.models import Base
from services.identity.schemas import LoginIn


class Service(PortalService):
    name = "identity"
    db = Database(Base)

    @rpc
    def login(self, credentials: dict) -> dict:
        data = load(LoginIn, credentials)
        return accounts.login(self.db.session, data["email"], data["password"])

    @rpc
    def get_me(self) -> dict:
        return accounts.profile(self.db, self.caller)

    @rpc
    def create_customer(self, payload: dict, idempotency_key: str | None = None) -> dict:
        self.caller.require_operator()
        fields = customers.validate_fields(payload)
        return self.db.idempotent("create_customer", self.caller, idempotency_key, payload,
                                  lambda: customers.create(self.db, self.caller, fields))

    @rpc
    def update_customer(self, customer_id: str, payload: dict) -> dict:
        fields = customers.validate_fields(payload, partial=True)
        return customers.update(self.db, self.caller, customer_id, fields)

    @rpc
    def get_customer(self, customer_id: str) -> dict:
        return customers.get(self.db.session, self.caller, customer_id)

    @rpc
    def list_customers(self, args: dict | None = None) -> dict:
        paging = load(PageArgs, {k: v for k, v in (args or {}).items() if k != "q"})
        return customers.listing(self.db.session, self.caller, q=(args or {}).get("q"), **paging)
