"""What every nameko service class inherits: the caller context, the correlation id in logs,
and the ``ping`` the gateway's readiness check calls, and the pruning of the reliability tables
(bookkeeping.py) each service keeps. A subclass names its Database dependency ``db``."""
from __future__ import annotations

from nameko.timer import timer

from services.common import bookkeeping
from services.common.entrypoints import Caller, Correlation, rpc
from services.common.liveness import Liveness
from services.common.service_metrics import ServiceMetrics


class PortalService:
    name: str
    caller = Caller()
    correlation = Correlation()
    liveness = Liveness()
    metrics = ServiceMetrics()

    @rpc
    def ping(self) -> dict:
        """Answers at once; proves the service consumes its RPC queue."""
        return {"service": self.name, "ok": True}

    @timer(interval=3600)
    def prune_bookkeeping(self) -> None:
        """Published outbox rows, old inbox rows and idempotency records go (bookkeeping.py)."""
        bookkeeping.prune(self.db)
