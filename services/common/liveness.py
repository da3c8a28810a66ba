"""Touches the liveness file the supervisor watches (``services.common.run``) from a greenthread:
if eventlet's hub is blocked, the file goes stale and the supervisor restarts the process."""
from __future__ import annotations

import os
from pathlib import Path

from nameko.extensions import DependencyProvider

INTERVAL_SECONDS = 5.0


class Liveness(DependencyProvider):
    def start(self):
        path = os.environ.get("PORTAL_LIVENESS_FILE")
        if path:
            self.container.spawn_managed_thread(lambda: self._beat(Path(path)), identifier="liveness")

    def _beat(self, path: Path) -> None:
        import eventlet

        while True:
            path.touch()
            eventlet.sleep(INTERVAL_SECONDS)

    def get_dependency(self, worker_ctx):
        return None
