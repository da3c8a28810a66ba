"""Start one service: ``python -m services.common.run identity``.

The parent process is a small supervisor (PITFALLS 3): it runs the nameko service in a child,
restarts it with backoff whenever it dies (a broker restart can kill a nameko process), and
kills and restarts it when its liveness file goes stale, which is what a blocked eventlet hub
looks like from outside (PITFALLS 10). SIGINT/SIGTERM stop the child gracefully, then the parent.

The child (``--child``) is nameko's own runner with the service's ``config.yaml`` (values from
the environment), the JSON logging of the platform, and psycopg2 made green.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.common.config import ROOT, SERVICES, WORKERS, var_dir

LIVENESS_STALE_SECONDS = 45.0


def load_config(service: str) -> dict:
    import yaml
    from nameko.cli.main import setup_yaml_parser

    setup_yaml_parser()
    with open(ROOT / "services" / service / "config.yaml") as fh:
        return yaml.safe_load(fh)


def child(service: str) -> None:
    import warnings

    if service in WORKERS:     # a plain process (no eventlet): its module's main()
        import importlib

        importlib.import_module(WORKERS[service]).main()
        return

    # eventlet announces its maintenance mode on import; PITFALLS 11 says what we do about it.
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()
    from services.common.db import make_green
    from services.common.logs import configure_logging

    make_green()
    configure_logging(service)
    from nameko.cli.run import run

    from services.common.topology import service_class

    run([service_class(service)], load_config(service))


def supervise(service: str) -> int:
    liveness = var_dir() / "run" / f"{service}-{os.getpid()}.alive"
    liveness.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PORTAL_LIVENESS_FILE": str(liveness)}
    stopping = False
    proc: subprocess.Popen | None = None

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = 1.0
    while not stopping:
        started = time.monotonic()
        liveness.unlink(missing_ok=True)
        # The child gets its own process group, so a signal to ours (honcho, Ctrl-C, a test's
        # killpg) reaches it once, forwarded by stop(): nameko's runner stopping twice at once,
        # under traffic, waited out the whole 30 s grace. It still dies with this supervisor.
        proc = subprocess.Popen([sys.executable, "-m", "services.common.run", service, "--child"],
                                env=env, cwd=ROOT, start_new_session=True, preexec_fn=_die_with_parent)
        while proc.poll() is None and not stopping:
            time.sleep(1)
            if _stale(liveness, started):
                print(f"[{service}] liveness file stale for {LIVENESS_STALE_SECONDS}s: restarting",
                      file=sys.stderr, flush=True)
                proc.kill()
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if stopping:
            break
        if time.monotonic() - started > 60:
            backoff = 1.0
        print(f"[{service}] exited with {code}; restarting in {backoff:.0f}s", file=sys.stderr, flush=True)
        time.sleep(backoff)
        backoff = min(backoff * 2, 30)
    liveness.unlink(missing_ok=True)
    return 0


def _die_with_parent() -> None:
    """In the child before it starts: SIGTERM when the supervisor dies, even by SIGKILL, so no
    service outlives the process that was meant to watch it (Linux's PR_SET_PDEATHSIG)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass                                                        # not Linux: no such guard


def _stale(liveness: Path, started: float) -> bool:
    now = time.time()
    if liveness.exists():
        return now - liveness.stat().st_mtime > LIVENESS_STALE_SECONDS
    # Not written yet: allow start-up (migrations are done before; connecting takes seconds).
    return time.monotonic() - started > LIVENESS_STALE_SECONDS * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=SERVICES + tuple(WORKERS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-supervise", action="store_true",
                        help="run the service in this process, without restarts")
    args = parser.parse_args()
    if args.child or args.no_supervise:
        child(args.service)
    else:
        sys.exit(supervise(args.service))


if __name__ == "__main__":
    main()
