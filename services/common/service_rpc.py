"""One service asking another, by RPC, as itself: the exception to "events for telling"
(DESIGN.md), for the few answers a service truly needs now (notify asks identity for the secret
link an invitation email carries).

nameko's ``RpcProxy`` with what our entrypoints expect of every call: a deadline (PITFALLS 7: the
callee skips a call its caller gave up on), a signed caller context of the ``service`` role
(PITFALLS 9: only holders of SECRET_KEY can sign one, so a driver app that can publish cannot
ask), a timeout here, since nameko's own reply wait has none, and the callee's refusals raised
again as the platform's own errors.
"""
from __future__ import annotations

import time

from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy, ServiceProxy

from services.common.caller import SERVICE, CallerContext, sign
from services.common.errors import ServiceUnavailable, from_remote


class _AsService:
    """The calling worker's context as the callee should see it."""

    def __init__(self, worker_ctx, deadline: float):
        self.container = worker_ctx.container
        self.context_data = {**worker_ctx.context_data, "deadline": deadline,
                             "caller": sign(CallerContext(role=SERVICE), deadline)}


class ServiceRpc(RpcProxy):
    def __init__(self, target_service: str, timeout: float = 10.0):
        super().__init__(target_service)
        self.timeout = timeout

    def get_dependency(self, worker_ctx):
        def call(method: str, *args, **kwargs):
            import eventlet

            deadline = time.time() + self.timeout
            proxy = ServiceProxy(_AsService(worker_ctx, deadline), self.target_service, self.rpc_reply_listener)
            with eventlet.Timeout(self.timeout, False):
                try:
                    return getattr(proxy, method)(*args, **kwargs)
                except RemoteError as exc:
                    # The callee's own refusal (NotFound, Conflict ...) comes back as that class,
                    # so the caller's entrypoint answers with it as the gateway would.
                    known = from_remote(exc.exc_type or "", (exc.value,))
                    if known is None:
                        raise
                    raise known from None
            raise ServiceUnavailable(f"{self.target_service}.{method} did not answer in {self.timeout:g} s")

        return call
