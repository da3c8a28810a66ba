"""Liveness and readiness, for supervisors and load balancers (not part of the API document)."""
from __future__ import annotations

import time

from flask import Blueprint, jsonify

from gateway.rpc import client
from services.common.config import SERVICES
from services.common.errors import PortalError

blp = Blueprint("health", __name__)

READY_DEADLINE = 2.0


@blp.get("/healthz")
def healthz():
    """The process is up and serving; asks nothing of anyone."""
    return jsonify({"status": "ok"})


@blp.get("/readyz")
def readyz():
    """Every service answers an RPC ping within the deadline; 503 naming those that do not."""
    started = time.perf_counter()
    try:
        rpc = client()
        pending = {name: rpc.send(name, "ping", timeout=READY_DEADLINE) for name in SERVICES}
    except PortalError:
        return jsonify({"status": "unavailable", "missing": list(SERVICES),
                        "reason": "message broker unreachable"}), 503
    missing = []
    for name, reply in pending.items():
        try:
            reply.result()
        except Exception:
            missing.append(name)
    body = {"status": "ready" if not missing else "unavailable", "missing": missing,
            "ms": round((time.perf_counter() - started) * 1000, 1)}
    return jsonify(body), (503 if missing else 200)
