"""What every nameko service class inherits: the caller context, the correlation id in logs,
and the ``ping`` the gateway's readiness check calls."""
from __future__ import annotations

from services.common.entrypoints import Caller, Correlation, rpc
from services.common.liveness import Liveness


class PortalService:
    name: str
    caller = Caller()
    correlation = Correlation()
    liveness = Liveness()

    @rpc
    def ping(self) -> dict:
        """Answers at once; proves the service consumes its RPC queue."""
        return {"service": self.name, "ok": True}
