"""CO2e per order over HTTP (GLEC v3 / ISO 14083): the seeded factors, an operator's own vehicle
type on a route, the order's figure and inputs, the customer's monthly sum and CSV, and staff
reading one customer's."""
import uuid
from datetime import date
from decimal import Decimal

import pytest
import requests

from services.orders.emissions import great_circle_km
from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e

LEEDS, HULL = (53.80, -1.55), (53.7457, -0.3367)


def test_an_orders_co2e_follows_its_route_and_sums_per_month(stack, mailbox, admin_token):
    factors = get(stack, "/api/v1/admin/emission-factors", admin_token).json()
    assert {f["vehicle_type"]: f["intensity"] for f in factors}["articulated_34_40t"] == "76.000"  # GLEC default

    vehicle = f"e2e_truck_{uuid.uuid4().hex[:6]}"
    saved = requests.put(f"{stack.base}/api/v1/admin/emission-factors/{vehicle}", headers=auth(admin_token),
                         json={"label": "Test truck", "intensity": "100", "source": "e2e"}, timeout=15)
    assert saved.status_code == 200, saved.text

    made = post(stack, "/api/v1/admin/customers", {"name": f"Green {uuid.uuid4().hex[:6]}"}, admin_token).json()
    token = invite_and_accept(stack, mailbox, admin_token, made["id"], f"g.{uuid.uuid4().hex[:6]}@green.example")
    order = post(stack, "/api/v1/orders", {"submit": True, "reference": "=cmd|' /C calc'!A0", "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}, "lat": LEEDS[0], "lng": LEEDS[1]},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"}, "lat": HULL[0], "lng": HULL[1],
         "contact": {"name": "Mo Dock", "phone": "+44 1482 111222"}}],
        "items": [{"description": "Pallet", "quantity": 2, "weight_kg": "500"}]}, token)
    assert order.status_code == 201, order.text
    order = order.json()
    km = great_circle_km(LEEDS, HULL) * 1.05
    assert order["emissions"]["load_source"] == "items" and order["emissions"]["mass_t"] == "1.000"
    assert float(order["co2e_kg"]) == pytest.approx(km * 1.0 * 206 / 1000, abs=0.002)   # the default rigid 7.5-12 t

    driver = post(stack, "/api/v1/admin/drivers", {"name": f"Vera {uuid.uuid4().hex[:4]}"}, admin_token).json()

    def route():
        answer = post(stack, "/api/v1/admin/routes", {"name": "Green run", "day": date.today().isoformat(),
                                                       "driver_id": driver["id"], "vehicle_type": vehicle}, admin_token)
        return answer.json() if answer.status_code == 201 else None
    made_route = wait_for(route, timeout=20, what="orders to learn the new driver")
    assert made_route["vehicle_type"] == vehicle
    assert post(stack, f"/api/v1/admin/routes/{made_route['id']}/orders", {"order_ids": [order["id"]]},
                admin_token).status_code == 200
    scheduled = get(stack, f"/api/v1/orders/{order['id']}", token).json()
    assert scheduled["emissions"]["vehicle_type"] == vehicle
    assert float(scheduled["co2e_kg"]) == pytest.approx(km * 100 / 1000, abs=0.002)

    monthly = get(stack, "/api/v1/emissions/monthly", token).json()
    assert [m["orders"] for m in monthly["months"]] == [1]
    assert Decimal(monthly["total_co2e_kg"]) == Decimal(scheduled["co2e_kg"])
    assert get(stack, "/api/v1/emissions/monthly", token, params={"customer_id": str(uuid.uuid4())}).status_code == 404
    staff = get(stack, "/api/v1/emissions/monthly", admin_token, params={"customer_id": made["id"]}).json()
    assert staff["total_co2e_kg"] == monthly["total_co2e_kg"]

    exported = get(stack, "/api/v1/emissions.csv", token)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("reference,status,transport_day,vehicle_type") and len(lines) == 2
    assert lines[1].startswith("'=cmd") and vehicle in lines[1]                 # no formula

    refused = requests.put(f"{stack.base}/api/v1/admin/emission-factors/van", json={"intensity": "1"},
                           headers=auth(token), timeout=15)
    assert refused.status_code == 403
