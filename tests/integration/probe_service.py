"""A small service built only from the shared kit, so the integration tests can exercise the
kit's rules (outbox, inbox, deadlines, caller context, green database access) directly."""
from __future__ import annotations

from sqlalchemy import String, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.database import Database
from services.common.db import BigId, service_base
from services.common.entrypoints import event_handler, rpc
from services.common.errors import Conflict
from services.common.service import PortalService

Base = service_base()


class Applied(Base):
    __tablename__ = "applied"
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), index=True)


class ProbeService(PortalService):
    name = "probe"
    db = Database(Base)

    @rpc
    def emit(self, reference: str, fail: bool = False) -> str:
        event = self.db.emit("order.created", {"order_id": reference, "reference": reference,
                                               "status": "draft"}, customer_id="cust-probe")
        if fail:
            raise Conflict("asked to fail after emitting")
        return event["id"]

    @event_handler("order.created")
    def apply(self, event: dict) -> None:
        self.db.session.add(Applied(key=event["id"]))
        reference = event["data"].get("reference")
        if reference == "poison":
            raise RuntimeError("this event always fails")
        if reference.startswith("sick-") and not self.count(f"cure:{reference}"):
            raise RuntimeError("this event fails until it is cured (record('cure:<reference>'))")

    @rpc
    def record(self, key: str) -> None:
        self.db.session.add(Applied(key=key))

    @rpc
    def count(self, key: str) -> int:
        return self.db.session.scalar(select(func.count()).select_from(Applied).where(Applied.key == key))

    @rpc
    def slow(self, seconds: float) -> list[str]:
        start, _, end = self.db.session.execute(
            text("SELECT clock_timestamp(), pg_sleep(:s), clock_timestamp()"), {"s": seconds}).one()
        return [start.isoformat(), end.isoformat()]

    @rpc
    def nap(self, seconds: float) -> None:
        import eventlet

        eventlet.sleep(seconds)

    @rpc
    def whoami(self) -> dict:
        ctx = self.caller.require()
        return {"role": ctx.role, "user_id": ctx.user_id, "customer_id": ctx.customer_id}
