"""Demo data that goes through the public API, as a partner script would: run by ``bin/portal up``
once the platform is ready (``services.common.announce``). Identity's demo customers come from
``prepare --demo``; this adds what the other services own: a depot, a driver, orders in every
status, a route under way, a conversation and a rental contract. Done once: a second run finds
the demo depot and does nothing."""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta, timezone

from services.common.config import env

log = logging.getLogger("demo")
DEPOT = "Demo depot"


class Api:
    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base + "/api/v1" + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None


def _stops(n: int, when: datetime) -> list[dict]:
    streets = ("Carter Lane", "Fleet Street", "Cheapside", "Aldgate", "Moorgate", "Bishopsgate")
    return [{"type": "pickup", "address": {"line1": "1 Carter Lane", "city": "London", "postal_code": "EC1A 1BB",
                                           "country": "GB"}, "lat": 51.5128, "lng": -0.1003},
            {"type": "dropoff", "address": {"line1": f"{10 + n} {streets[n % 6]}", "city": "London", "country": "GB"},
             "lat": 51.51 + n * 0.004, "lng": -0.09 - n * 0.006,
             "contact": {"name": f"Recipient {n + 1}", "phone": f"+44 20 7946 00{n:02d}"},
             "window_start": when.isoformat(), "window_end": (when + timedelta(hours=2)).isoformat()}]


def seed(api: Api) -> None:
    if any(d["name"] == DEPOT for d in api.call("GET", "/admin/depots")):
        log.info("demo orders exist already")
        return
    customers = {c["name"]: c for c in api.call("GET", "/admin/customers?per_page=200")["items"]}
    acme, northwind = customers.get("Acme Freight"), customers.get("Northwind Rentals")
    if not acme or not northwind:
        log.warning("demo customers missing (run prepare --demo); no demo orders")
        return
    depot = api.call("POST", "/admin/depots", {"name": DEPOT, "address": {"line1": "1 Carter Lane",
                                                                          "city": "London"},
                                               "lat": 51.5128, "lng": -0.1003})
    driver = api.call("POST", "/admin/drivers", {"name": "Dee Driver", "phone": "+44 7700 900123",
                                                 "depot_id": depot["id"]})
    soon = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    made = []
    for n in range(6):
        made.append(api.call("POST", "/admin/orders", {
            "customer_id": acme["id"], "reference": f"ACME-{1001 + n}", "stops": _stops(n, soon),
            "items": [{"description": "Cartons", "quantity": n + 1, "weight_kg": "8.5", "length_cm": "40",
                       "width_cm": "30", "height_cm": "30"}],
            "submit": n < 4}))
    for _ in range(30):   # orders learns the new driver from identity's event
        try:
            route = api.call("POST", "/admin/routes", {"name": "City run", "day": date.today().isoformat(),
                                                       "depot_id": depot["id"], "driver_id": driver["id"]})
            break
        except RuntimeError:
            time.sleep(1)
    else:
        raise RuntimeError("orders never learnt the demo driver")
    api.call("POST", f"/admin/routes/{route['id']}/orders", {"order_ids": [o["id"] for o in made[:3]]})
    api.call("POST", f"/admin/routes/{route['id']}/start")
    api.call("POST", f"/orders/{made[0]['id']}/messages", {"body": "Driver is on the way; call on arrival."})
    api.call("POST", "/admin/rentals", {
        "customer_id": northwind["id"], "starts_on": (date.today() - timedelta(days=20)).isoformat(),
        "site": "Damrak 1, Amsterdam",
        "items": [{"item": "TRL-40", "description": "40 ft trailer", "quantity_out": 2},
                  {"item": "FORK-3", "description": "Forklift 3 t", "quantity_out": 1}]})
    log.info("demo data: a depot, a driver, %d Acme orders (3 on a started route), a rental", len(made))


def run(base: str) -> None:
    api = Api(base)
    api.token = api.call("POST", "/auth/login", {"email": env("PORTAL_ADMIN_EMAIL"),
                                                 "password": env("PORTAL_ADMIN_PASSWORD")})["access_token"]
    seed(api)
