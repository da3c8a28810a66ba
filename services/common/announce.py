"""The last line of ``bin/portal up``: waits until the gateway says every service is ready,
then prints where the portal is and how to sign in. Stays alive so honcho keeps running."""
from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request

from services.common.config import env, var_dir


def main() -> None:
    host, port = env("GATEWAY_BIND").rsplit(":", 1)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    deadline = time.time() + 180
    state = "not started"
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=3) as resp:
                if resp.status == 200:
                    break
        except OSError as exc:
            body = getattr(exc, "read", lambda: b"")()
            state = json.loads(body).get("missing") if body else str(exc)
        time.sleep(1)
    else:
        print(f"The platform is not ready after 3 minutes (waiting for: {state}).", flush=True)
    if "--demo" in sys.argv[1:]:
        from services.common import demo

        try:
            demo.run(base)
        except Exception as exc:    # the platform is up all the same; say why the demo is not
            print(f"Demo data not loaded: {exc}", flush=True)
    print(f"""
  Customer portal platform is up.

    Portal     {base}/            (customers and the operator's staff sign in here)
    API docs   {base}/api/docs
    OpenAPI    {base}/api/v1/openapi.json
    Events     {base}/api/v1/asyncapi.json
    Ready?     {base}/readyz

  Operator admin:  {env("PORTAL_ADMIN_EMAIL")} / {env("PORTAL_ADMIN_PASSWORD")}
  (in the portal; or POST /api/v1/auth/login, then "Authorize" in the docs with the access token)
  Emails:          {env("SMTP_URL") and "sent through SMTP_URL" or f"kept as .eml files in {var_dir() / 'mail'}"}
                   (the demo's Acme users have their activations there: dispatch@ (admin),
                   bookings@ (booker) and finance@ (viewer) acme-freight.example)

  Ctrl-C stops everything.
""", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
