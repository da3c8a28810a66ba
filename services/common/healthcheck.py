"""Container healthcheck of one service: ``python -m services.common.healthcheck identity``.

A service has no HTTP port, and a running process is not a working one (a blocked eventlet hub or
a lost broker leaves it up but deaf, PITFALLS 3 and 10). Healthy means what the gateway needs: it
answers an RPC ``ping`` sent with the gateway's client. Exit 0 printing the reply, else 1.
"""
import json
import sys
import time

from kombu import Connection

from gateway.rpc import RpcClient
from services.common.config import SERVICES, WORKERS, env, var_dir
from services.common.run import LIVENESS_STALE_SECONDS


def worker_alive(name: str) -> int:
    """A worker answers no RPC: healthy while its supervisor's liveness file is fresh."""
    ages = [time.time() - f.stat().st_mtime for f in (var_dir() / "run").glob(f"{name}-*.alive")]
    if not ages or min(ages) > LIVENESS_STALE_SECONDS:
        print(f"{name} unhealthy: no fresh liveness file", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "worker": name, "beat_seconds_ago": round(min(ages), 1)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    names = SERVICES + tuple(WORKERS)
    if len(args) != 1 or args[0] not in names:
        print(f"usage: python -m services.common.healthcheck {'|'.join(names)}", file=sys.stderr)
        return 1
    if args[0] in WORKERS:
        return worker_alive(args[0])
    try:
        # One connect attempt first: it names the reason (refused, DNS, auth) in the output.
        with Connection(env("AMQP_URI"), connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=0)
        reply = RpcClient(timeout=5).call(args[0], "ping")   # the process ends right after
        if not (isinstance(reply, dict) and reply.get("ok")):
            raise ValueError(f"unexpected reply {reply!r}")
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        print(f"{args[0]} unhealthy: {reason}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
