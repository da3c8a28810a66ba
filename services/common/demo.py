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
DRIVER = "Dee Driver"


class ApiError(RuntimeError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class Api:
    def __init__(self, base: str):
        self.base, self.token = base.rstrip("/"), None
        self._login: tuple[str, str] | None = None

    def sign_in(self, email: str | None = None, password: str | None = None) -> "Api":
        """Sign in as the operator (defaults: the bootstrapped admin); a long-running caller
        (the driver simulator) signs in again by itself when its access token expires."""
        self._login = (email or env("PORTAL_ADMIN_EMAIL"), password or env("PORTAL_ADMIN_PASSWORD"))
        self.token = None
        self.token = self._send("POST", "/auth/login", {"email": self._login[0],
                                                        "password": self._login[1]})["access_token"]
        return self

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return self._send(method, path, body)
        except ApiError as exc:
            if exc.status != 401 or self._login is None:
                raise
            self.sign_in(*self._login)
            return self._send(method, path, body)

    def _send(self, method: str, path: str, body: dict | None) -> dict:
        request = urllib.request.Request(
            self.base + "/api/v1" + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}", exc.code) from None


def _stops(n: int, when: datetime) -> list[dict]:
    streets = ("Carter Lane", "Fleet Street", "Cheapside", "Aldgate", "Moorgate", "Bishopsgate")
    return [{"type": "pickup", "address": {"line1": "1 Carter Lane", "city": "London", "postal_code": "EC1A 1BB",
                                           "country": "GB"}, "lat": 51.5128, "lng": -0.1003},
            {"type": "dropoff", "address": {"line1": f"{10 + n} {streets[n % 6]}", "city": "London", "country": "GB"},
             "lat": 51.51 + n * 0.004, "lng": -0.09 - n * 0.006,
             "contact": {"name": f"Recipient {n + 1}", "phone": f"+44 20 7946 00{n:02d}"},
             "window_start": when.isoformat(), "window_end": (when + timedelta(hours=2)).isoformat()}]


def _create_orders(api: Api, customer_id: str, references: list[str], submit: int,
                   first_stop: int = 0) -> list[dict]:
    """Acme-style orders, one pickup at the depot and one drop-off each; the first ``submit``
    of them submitted."""
    soon = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    made = []
    for n, reference in enumerate(references):
        made.append(api.call("POST", "/admin/orders", {
            "customer_id": customer_id, "reference": reference, "stops": _stops(first_stop + n, soon),
            "items": [{"description": "Cartons", "quantity": n + 1, "weight_kg": "8.5", "length_cm": "40",
                       "width_cm": "30", "height_cm": "30"}],
            "submit": n < submit}))
    return made


def _start_route(api: Api, name: str, depot_id: str, driver_id: str, orders: list[dict]) -> dict:
    for _ in range(30):   # orders learns a new driver from identity's event
        try:
            route = api.call("POST", "/admin/routes", {"name": name, "day": date.today().isoformat(),
                                                       "depot_id": depot_id, "driver_id": driver_id})
            break
        except RuntimeError:
            time.sleep(1)
    else:
        raise RuntimeError("orders never learnt the demo driver")
    api.call("POST", f"/admin/routes/{route['id']}/orders", {"order_ids": [o["id"] for o in orders]})
    try:
        return api.call("POST", f"/admin/routes/{route['id']}/start")
    except ApiError as exc:
        if exc.status != 409:
            raise
        # A driver drives one route at a time: the simulator (bin/portal up starts it beside
        # the demo loader) got the demo driver going first. This run waits, planned.
        log.info("demo: %s stays planned (%s)", name, exc)
        return route


def _acme(api: Api) -> dict | None:
    return next((c for c in api.call("GET", "/admin/customers?per_page=200")["items"]
                 if c["name"] == "Acme Freight"), None)


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
    driver = api.call("POST", "/admin/drivers", {"name": DRIVER, "phone": "+44 7700 900123",
                                                 "depot_id": depot["id"]})
    _billing(api, acme, northwind)
    _notifications(api, acme)
    made = _create_orders(api, acme["id"], [f"ACME-{1001 + n}" for n in range(6)], submit=4)
    _start_route(api, "City run", depot["id"], driver["id"], made[:3])
    api.call("POST", f"/orders/{made[0]['id']}/messages", {"body": "Driver is on the way; call on arrival."})
    api.call("POST", "/admin/rentals", {
        "customer_id": northwind["id"], "starts_on": (date.today() - timedelta(days=20)).isoformat(),
        "site": "Damrak 1, Amsterdam",
        "items": [{"item": "TRL-40", "description": "40 ft trailer", "quantity_out": 2},
                  {"item": "FORK-3", "description": "Forklift 3 t", "quantity_out": 1}]})
    log.info("demo data: a depot, a driver, %d Acme orders (3 on a started route), a rental", len(made))


def _billing(api: Api, acme: dict, northwind: dict) -> None:
    """A default rate card (so every demo order has a price and is invoiced when the simulated
    driver delivers it), a quote waiting for the operator and one waiting for Acme, and a
    rental invoice that Northwind has paid in part."""
    api.call("POST", "/admin/rate-cards", {
        "name": "Standard city courier", "currency": "EUR", "tax_rate": "21", "base_fee": "12.50",
        "per_km": "1.20", "per_kg": "0.04", "per_package": "0.75", "minimum": "20.00",
        "timezone": "Europe/London",
        "surcharges": [{"name": "Out of hours", "type": "out_of_hours", "percent": "25",
                        "start": "19:00", "end": "07:00"},
                       {"name": "Weekend", "type": "weekend", "percent": "50"}]})
    soon = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    content = {"reference": "QUOTE-DEMO", "stops": _stops(2, soon),
               "items": [{"description": "Display stands", "quantity": 4, "weight_kg": "35"}]}
    api.call("POST", "/admin/quotes", {"customer_id": acme["id"], "order": content,
                                       "message": "Event set-up on Friday, can you do it?"})
    sent = api.call("POST", "/admin/quotes", {"customer_id": acme["id"], "order": {**content, "reference": "QUOTE-DEMO-2"}})
    api.call("POST", f"/admin/quotes/{sent['id']}/send", {"valid_days": 10, "note": "Two-person crew included."})
    invoice = api.call("POST", "/admin/invoices", {"customer_id": northwind["id"], "lines": [
        {"description": "40 ft trailer, 20 days", "quantity": "40", "unit": "day", "unit_price": "35.00", "tax_rate": "21"},
        {"description": "Forklift 3 t, 20 days", "quantity": "20", "unit": "day", "unit_price": "55.00", "tax_rate": "21"}],
        "notes": "Rental contract: Damrak 1, Amsterdam."})
    api.call("POST", f"/admin/invoices/{invoice['id']}/payments",
             {"amount": "1000.00", "method": "bank_transfer", "reference": "NW-TRF-0042"})


def _notifications(api: Api, acme: dict) -> None:
    """The operator admin follows every customer (its bell shows their questions and quote
    requests), and Acme gets three portal users (an admin, a booker, a read-only viewer) whose
    activation emails notify sends (under ``var/mail/`` without SMTP_URL); they then hear about
    Acme's orders and invoices."""
    api.call("POST", "/admin/following", {"customer_id": "*"})
    for email, name, role in (("dispatch@acme-freight.example", "Dana Dispatch", "customer_admin"),
                              ("bookings@acme-freight.example", "Ben Booker", "customer_booker"),
                              ("finance@acme-freight.example", "Vera Viewer", "customer_viewer")):
        api.call("POST", f"/admin/customers/{acme['id']}/users", {"email": email, "name": name, "role": role})


def start_another_run(api: Api) -> dict | None:
    """Another started route for the demo driver: 3 fresh submitted Acme orders from the demo
    depot (the driver simulator calls this when the demo driver has nothing left to drive).
    Returns the route, or None when the demo data is missing."""
    depot = next((d for d in api.call("GET", "/admin/depots") if d["name"] == DEPOT), None)
    driver = next((d for d in api.call("GET", "/admin/drivers")
                   if d["name"] == DRIVER and d.get("is_active", True)), None)
    acme = _acme(api)
    if not depot or not driver or not acme:
        log.warning("no demo depot, driver or Acme Freight; no new demo run")
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    # A different set of drop-offs each run, so the map does not show the same trip every time.
    made = _create_orders(api, acme["id"], [f"ACME-{stamp}-{n + 1}" for n in range(3)], submit=3,
                          first_stop=int(time.time()) % 6)
    route = _start_route(api, f"City run {datetime.now().strftime('%H:%M')}", depot["id"], driver["id"], made)
    log.info("demo: started %s with %d orders", route["name"], len(made))
    return route


def run(base: str) -> None:
    seed(Api(base).sign_in())
