"""Work queues kept in the database, pumped by the service that owns them.

``@pump(interval)`` is a nameko entrypoint like ``@timer``, with two differences that matter for
queues whose rows wait to be sent (emails, webhook deliveries):

- it can be woken at once: a worker that queued rows calls ``self.after_commit.wake(name)``, and
  once its transaction has committed the pump runs now instead of at its next tick, so a
  message leaves milliseconds after the event that caused it, not up to ``interval`` later;
- wake-ups coalesce: one run at a time takes whatever is due; while the method answers that
  more is due (a full batch, truthy) it runs again at once with up to ``parallel`` runs side by
  side, and a run stuck on a slow receiver (a webhook endpoint taking its full timeout) does not
  hold the rest of the queue: another starts beside it.

Each run claims its own rows (SKIP LOCKED and a lease: see the callers), so overlapping runs
and several instances of the service share the queue without sending anything twice, and a
process killed mid-send leaves rows whose lease runs out and are claimed again.

``AfterCommit`` is the dependency behind ``wake``, and runs other callbacks after the worker's
transaction committed (publishing a live update for a row a reader can now see); nothing runs
when the worker failed.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from nameko.extensions import DependencyProvider, Entrypoint, SharedExtension

log = logging.getLogger(__name__)


class Bells(SharedExtension):
    """One wake-up bell per pump name, shared by the pumps and ``AfterCommit`` of a container."""

    def setup(self):
        from threading import Event     # green under nameko's monkey patching

        self._bells = defaultdict(Event)

    def bell(self, name: str):
        return self._bells[name]

    def ring(self, name: str) -> None:
        self._bells[name].set()


class Pump(Entrypoint):
    bells = Bells()
    SLOW = 0.25     # seconds: a run still going after this is waiting on a slow receiver

    def __init__(self, interval: float, parallel: int = 1, **kwargs):
        self.interval, self.parallel = interval, max(1, parallel)
        self._started: dict = {}        # worker context of each run -> when it began
        self._more = False
        self._missed = False
        self._stopping = False
        self._gt = None
        super().__init__(**kwargs)

    def start(self):
        self._gt = self.container.spawn_managed_thread(self._run, identifier=f"pump {self.method_name}")

    def stop(self):
        self._stopping = True
        self.bells.ring(self.method_name)
        if self._gt is not None:
            self._gt.wait()

    def kill(self):
        self._stopping = True
        if self._gt is not None:
            self._gt.kill()

    def _may_start(self) -> bool:
        """One run at a time takes whatever is due, so a burst of wake-ups coalesces into one
        claim instead of a run per row. Another starts beside it only when the last run found a
        full batch (a backlog) or every running one is stuck on a slow receiver."""
        import time

        if len(self._started) >= self.parallel:
            return False
        now = time.monotonic()
        return not self._started or self._more or all(now - t > self.SLOW for t in self._started.values())

    def _run(self):
        import time

        import eventlet

        bell = self.bells.bell(self.method_name)
        while not self._stopping:
            bell.wait(self.interval)
            bell.clear()
            if self._stopping:
                break
            if self._may_start():
                # The run begins only when this thread yields: it is on record before it can end.
                worker_ctx = self.container.spawn_worker(self, (), {}, handle_result=self._handle_result)
                self._started[worker_ctx] = time.monotonic()
            else:
                self._missed = True     # woken while runs were busy: go again when one ends
            eventlet.sleep(0)

    def _handle_result(self, worker_ctx, result, exc_info):
        self._started.pop(worker_ctx, None)
        self._more = bool(result) and exc_info is None
        if exc_info is not None:
            log.error("pump %s failed: %s", self.method_name, exc_info[1])
        if self._more or self._missed:
            self._missed = False
            self.bells.ring(self.method_name)     # more is due: go again without waiting
        return result, exc_info


pump = Pump.decorator


class AfterCommit(DependencyProvider):
    """``self.after_commit.wake("send_emails")``, ``self.after_commit.call(fn)``: done once the
    worker's transaction committed. Our entrypoints commit before ``worker_result`` runs."""

    bells = Bells()

    def __init__(self):
        self._pending: dict = {}

    def get_dependency(self, worker_ctx):
        calls = self._pending[worker_ctx] = []
        bells = self.bells

        class Later:
            def wake(self, name: str) -> None:
                calls.append(lambda: bells.ring(name))

            def call(self, fn) -> None:
                calls.append(fn)

        return Later()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        calls = self._pending.pop(worker_ctx, [])
        if exc_info is not None:
            return
        for fn in calls:
            try:
                fn()
            except Exception:
                log.exception("after-commit callback failed")

    def worker_teardown(self, worker_ctx):
        self._pending.pop(worker_ctx, None)
