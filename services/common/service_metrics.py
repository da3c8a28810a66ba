"""The nameko side of services/common/metrics.py: a DependencyProvider every service class has
(services/common/service.py) that times each worker by its entrypoint, without the entrypoints
knowing, and serves the process's metrics."""
from __future__ import annotations

import time

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc

from services.common import metrics
from services.common.topology import HandlerQueue


class ServiceMetrics(DependencyProvider):
    def setup(self):
        metrics.serve()
        self._started: dict = {}

    def worker_setup(self, worker_ctx) -> None:
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        from services.common.entrypoints import DomainEventHandler

        entrypoint = worker_ctx.entrypoint
        outcome = "ok" if exc_info is None else "failed"
        if isinstance(entrypoint, Rpc):
            metrics.RPC_SECONDS.labels(self.container.service_name, entrypoint.method_name, outcome).observe(
                time.perf_counter() - started)
        elif isinstance(entrypoint, DomainEventHandler):
            queue = HandlerQueue(self.container.service_name, entrypoint.method_name, entrypoint.event_types)
            metrics.EVENTS.labels(queue.name, outcome).inc()

    def get_dependency(self, worker_ctx):
        return None
