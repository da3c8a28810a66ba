"""PITFALLS 11: eventlet is in maintenance mode and nameko's last release is from 2021, so the
rules live in plain modules and only a thin layer knows the messaging framework. Every module of
the services is imported here in an interpreter where nameko and eventlet cannot be imported:
only the entrypoint layer may fail. A domain module that starts importing either fails this."""
import subprocess
import sys

from services.common.config import ROOT, SERVICES

# The layer that is nameko: each service's entrypoints, and the extensions they use.
ENTRYPOINT_LAYER = {f"services.{s}.service" for s in SERVICES} | {
    f"services.common.{m}" for m in ("database", "entrypoints", "live", "liveness", "pump", "service",
                                      "service_metrics", "service_rpc")}

WALK = """
import importlib, pkgutil, sys
sys.modules["nameko"] = None          # any import of them now raises ImportError
sys.modules["eventlet"] = None
import services
for info in pkgutil.walk_packages(services.__path__, "services."):
    if ".migrations" in info.name:
        continue
    try:
        importlib.import_module(info.name)
        print("ok", info.name)
    except ImportError as exc:
        print("needs", info.name, exc)
"""


def test_pitfall_11_the_rules_import_without_nameko_or_eventlet():
    out = subprocess.run([sys.executable, "-c", WALK], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    imported = {line.split()[1] for line in out if line.startswith("ok ")}
    needing = {line.split()[1]: line for line in out if line.startswith("needs ")}
    assert len(imported) > 100                          # the walk did reach the domain modules
    assert "services.orders.imports" in imported and "services.common.db" in imported
    stray = {name: why for name, why in needing.items() if name not in ENTRYPOINT_LAYER}
    assert not stray, f"domain modules that import nameko or eventlet: {stray}"
