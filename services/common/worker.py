"""What every plain worker process (not a nameko service: the import worker, the tracking
ingest worker) shares: a stop on SIGTERM/SIGINT that lets the work in hand finish (its batch
commits, its messages are acked) and the liveness file its supervisor watches
(``services.common.run``), and its metrics port."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from services.common import metrics


class PlainWorker:
    def __init__(self):
        self.stopping = False
        path = os.environ.get("PORTAL_LIVENESS_FILE")
        self.liveness = Path(path) if path else None

    def beat(self) -> None:
        """I am alive: the supervisor restarts a worker whose file goes stale."""
        if self.liveness:
            self.liveness.touch()

    def pause(self, seconds: float) -> None:
        """Sleep, but wake within a fifth of a second once asked to stop: a SIGTERM only sets a
        flag, and time.sleep() carries on after the handler (PEP 475), so a worker waiting out a
        long backoff would leave its supervisor and orchestrator waiting too."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.2, left))

    def run_forever(self) -> None:
        raise NotImplementedError


def serve(name: str, make_worker) -> None:
    """The ``main()`` of a worker process."""
    from services.common.logs import configure_logging

    configure_logging(name)
    metrics.serve()
    worker = make_worker()

    def stop(_signum, _frame):
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run_forever()
