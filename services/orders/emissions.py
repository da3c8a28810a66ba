"""CO2e per order, by the GLEC Framework v3 / ISO 14083:2023 method for road transport.

    emissions (kg CO2e) = transport activity (tonne-km) x emission intensity (g CO2e / tonne-km) / 1000

- **Transport activity**: the shipment's mass in tonnes x the distance in km. The distance is the
  route's driven distance when it is known (``driven_km``); otherwise the great-circle distance
  along the order's stops (in stop order) x GLEC's default distance adjustment factor for road,
  1.05 (GLEC v3, "distance adjustment factor", when the planned distance is unknown). The mass is
  the sum of the items' weights (weight x quantity); when no item has a weight, the vehicle
  type's ``default_load_kg`` (the operator's assumption, shown as ``load_source: default``).
- **Emission intensity**: well-to-wheel (WTW), per vehicle type, from the operator's factors
  (table ``emission_factors``, editable in the console, ``/admin/emission-factors``). The seeded
  defaults (``DEFAULT_FACTORS``) are GLEC v3 default road intensity values for Europe, diesel,
  average/mixed load, WTW, rounded to whole grams; buses are per passenger-km (GLEC gives no
  passenger values: a coach average in the range DEFRA/EEA publish), used for passenger
  bookings as passengers x km.
- **Vehicle type**: the route's (dispatch sets it) when the order is on a route with one, else
  the order's own ``vehicle_type`` when it names a known factor, else ``DEFAULT_VEHICLE_TYPE``.

Orders are (re)computed on every status move (submitted, scheduled, in transit, delivered ...),
when billing prices them and when their route's vehicle changes; drafts and cancelled orders have
none. A factor changed later applies to the next computation, so a delivered order keeps the
figure it was reported with."""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.db import utcnow
from services.common.errors import ValidationFailed
from services.common.schemas import dump
from services.orders import sites
from services.orders.models import EmissionFactor, Order, Route
from services.orders.schemas import EmissionFactorOut, MonthlyEmissionsOut
from services.orders.spreadsheet_template import write_csv

EARTH_RADIUS_KM = 6371.0088          # mean Earth radius (IUGG)
ROAD_DISTANCE_FACTOR = Decimal("1.05")   # GLEC v3 default distance adjustment factor, road
DEFAULT_VEHICLE_TYPE = "rigid_7_5_12t"
GLEC = "GLEC Framework v3 (2023) default road intensity, Europe, diesel, average/mixed load, WTW"
SOURCE_BUS = "Coach average per passenger-km (DEFRA/EEA range; GLEC has no passenger value)"
METHOD = "GLEC v3 / ISO 14083: tonne-km x WTW intensity"
NO_EMISSIONS = frozenset({"draft", "cancelled"})
TONNE_KM, PASSENGER_KM = "tkm", "pkm"
VEHICLE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")

KG = Decimal("0.001")
KM = Decimal("0.1")

# vehicle_type: (label, g CO2e per unit, unit, default load kg when no item has a weight, source)
DEFAULT_FACTORS: dict[str, tuple[str, str, str, str | None, str]] = {
    "van": ("Van up to 3.5 t", "587", TONNE_KM, "250", GLEC),
    "rigid_3_5_7_5t": ("Rigid truck 3.5-7.5 t", "310", TONNE_KM, "500", GLEC),
    "rigid_7_5_12t": ("Rigid truck 7.5-12 t", "206", TONNE_KM, "1000", GLEC),
    "rigid_12_20t": ("Rigid truck 12-20 t", "163", TONNE_KM, "2000", GLEC),
    "rigid_20_26t": ("Rigid truck 20-26 t", "121", TONNE_KM, "4000", GLEC),
    "rigid_26_32t": ("Rigid truck 26-32 t", "100", TONNE_KM, "6000", GLEC),
    "articulated_34_40t": ("Articulated truck 34-40 t", "76", TONNE_KM, "10000", GLEC),
    "articulated_40_44t": ("Articulated truck 40-44 t", "71", TONNE_KM, "12000", GLEC),
    "bus": ("Bus or coach (per passenger-km)", "30", PASSENGER_KM, None, SOURCE_BUS),
}


def default_factor_rows() -> list[dict[str, Any]]:
    """The seeded factors (the migration inserts these)."""
    return [{"vehicle_type": key, "label": label, "intensity": Decimal(intensity), "unit": unit,
             "default_load_kg": Decimal(load) if load else None, "source": source}
            for key, (label, intensity, unit, load, source) in DEFAULT_FACTORS.items()]


@dataclass(frozen=True)
class Factor:
    vehicle_type: str
    intensity: Decimal              # g CO2e per tonne-km (or per passenger-km)
    unit: str = TONNE_KM
    default_load_kg: Decimal | None = None
    source: str = GLEC


# --- the arithmetic ----------------------------------------------------------------------------
def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lat, lng) points in km."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def planned_km(points: Iterable[tuple[float, float]]) -> Decimal | None:
    """Great-circle distance along ``points`` in order x the road adjustment factor; None with
    fewer than two points."""
    points = list(points)
    if len(points) < 2:
        return None
    straight = sum(great_circle_km(a, b) for a, b in zip(points, points[1:]))
    return Decimal(str(straight)) * ROAD_DISTANCE_FACTOR


def shipment_kg(items: Iterable[tuple[int | None, Any]]) -> Decimal | None:
    """Total weight of (quantity, weight_kg each) items, or None when no item has a weight."""
    known = [Decimal(str(weight)) * (quantity or 1) for quantity, weight in items if weight is not None]
    return sum(known, Decimal(0)) if known else None


def co2e(distance_km: Decimal, factor: Factor, mass_kg: Decimal | None = None,
         passengers: int | None = None) -> dict[str, Any]:
    """The figure and its inputs for one transport leg (or an order's whole way)."""
    distance = Decimal(distance_km)
    if factor.unit == PASSENGER_KM:
        count = passengers or 1
        activity, load_source = distance * count, "passengers" if passengers else "default"
        mass_t = None
    else:
        load_source = "items" if mass_kg is not None else "default"
        mass_t = (mass_kg if mass_kg is not None else (factor.default_load_kg or Decimal(0))) / 1000
        activity = distance * mass_t
    kg = activity * Decimal(factor.intensity) / 1000
    return {
        "co2e_kg": kg.quantize(KG, ROUND_HALF_UP),
        "distance_km": distance.quantize(KM, ROUND_HALF_UP),
        "mass_t": None if mass_t is None else mass_t.quantize(KG, ROUND_HALF_UP),
        "tonne_km": None if factor.unit == PASSENGER_KM else activity.quantize(KG, ROUND_HALF_UP),
        "passenger_km": activity.quantize(KG, ROUND_HALF_UP) if factor.unit == PASSENGER_KM else None,
        "vehicle_type": factor.vehicle_type,
        "intensity_g_per_unit": Decimal(factor.intensity),
        "unit": factor.unit,
        "load_source": load_source,
        "factor_source": factor.source,
    }


# --- orders ------------------------------------------------------------------------------------
def _factor(session: Session, vehicle_type: str | None) -> Factor | None:
    row = session.get(EmissionFactor, vehicle_type) if vehicle_type else None
    if row is None:
        return None
    return Factor(row.vehicle_type, row.intensity, row.unit, row.default_load_kg, row.source)


def vehicle_type_of(session: Session, order: Order) -> str:
    route = session.get(Route, order.route_id) if order.route_id else None
    if route is not None and route.vehicle_type:
        return route.vehicle_type
    if order.vehicle_type and session.get(EmissionFactor, order.vehicle_type) is not None:
        return order.vehicle_type
    return DEFAULT_VEHICLE_TYPE


def transport_day(order: Order) -> date:
    """The day the order's emissions count in: its delivery, else its last planned drop-off,
    else the day it was submitted (or created)."""
    done = [s.completed_at for s in order.stops if s.completed_at]
    planned = [s.window_start for s in order.stops if s.type == "dropoff" and s.window_start]
    when = max(done) if done else (max(planned) if planned else order.submitted_at or order.created_at)
    return (when or utcnow()).date()


def order_figure(session: Session, order: Order, driven_km: Decimal | None = None) -> dict[str, Any] | None:
    """The order's CO2e and its inputs, or None when it has no transport to count (a draft, a
    cancelled order, or fewer than two stops with coordinates)."""
    if order.status in NO_EMISSIONS:
        return None
    vehicle_type = vehicle_type_of(session, order)
    factor = _factor(session, vehicle_type)
    distance = driven_km if driven_km is not None else planned_km(
        (s.lat, s.lng) for s in order.stops if s.lat is not None and s.lng is not None)
    if factor is None or distance is None:
        return None
    figure = co2e(distance, factor, shipment_kg((i.quantity, i.weight_kg) for i in order.items), order.passengers)
    distance_source = "driven" if driven_km is not None else f"great-circle x {ROAD_DISTANCE_FACTOR}"
    return {**figure, "distance_source": distance_source, "method": METHOD}


def refresh(session: Session, order: Order) -> None:
    """(Re)compute and keep the order's figure (``co2e_kg``, ``emissions``, ``emissions_on``)."""
    figure = order_figure(session, order)
    if figure is None:
        order.co2e_kg = order.emissions = order.emissions_on = None
        return
    order.co2e_kg = figure["co2e_kg"]
    order.emissions = {**_wire(figure), "computed_at": utcnow().isoformat()}
    order.emissions_on = transport_day(order)


def refresh_route(session: Session, route: Route) -> None:
    for order in session.scalars(select(Order).where(Order.route_id == route.id)):
        refresh(session, order)


def _wire(figure: dict) -> dict:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in figure.items()}


# --- the operator's factors --------------------------------------------------------------------
def list_factors(session: Session, caller: CallerContext) -> list[dict]:
    caller.require_operator()
    return dump(EmissionFactorOut, session.scalars(select(EmissionFactor).order_by(EmissionFactor.vehicle_type)).all(),
                many=True)


def save_factor(session: Session, caller: CallerContext, vehicle_type: str, data: dict) -> dict:
    """Create or change one vehicle type's factor (operator admins)."""
    caller.require_operator(OPERATOR_ADMIN)
    if not VEHICLE_KEY.fullmatch(vehicle_type):
        raise ValidationFailed.of({"vehicle_type": ["1 to 64 letters, digits, '_', '-' or '.'."]})
    row = session.get(EmissionFactor, vehicle_type, with_for_update=True)
    if row is None:
        if not data.get("label") or data.get("intensity") is None:
            raise ValidationFailed.of({"label": ["A new vehicle type needs a label and an intensity."]})
        row = EmissionFactor(vehicle_type=vehicle_type, unit=TONNE_KM)
        session.add(row)
    for name, value in data.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = utcnow(), caller.user_id
    session.flush()
    return dump(EmissionFactorOut, row)


# --- per month, and the export ------------------------------------------------------------------
def _period(caller: CallerContext, args: dict):
    scope = caller.scope(args.get("customer_id"))
    start, end = args.get("from"), args.get("to")
    if start and end and start > end:
        raise ValidationFailed.of({"from": ["`from` is after `to`."]})
    query = select(Order).where(Order.co2e_kg.is_not(None))
    if scope is not None:
        query = query.where(Order.customer_id == scope)
    limited = sites.visible(caller)      # a user limited to sites: its sites' orders only
    if limited is not None:
        query = query.where(limited)
    if start:
        query = query.where(Order.emissions_on >= start)
    if end:
        query = query.where(Order.emissions_on <= end)
    return query


def monthly(session: Session, caller: CallerContext, args: dict) -> dict:
    """CO2e per calendar month of the transport day, for the caller's customer (staff: the
    customer named, or every customer)."""
    orders = _period(caller, args).subquery()
    year = cast(func.extract("year", orders.c.emissions_on), Integer)
    month = cast(func.extract("month", orders.c.emissions_on), Integer)
    rows = session.execute(select(year, month, func.count(), func.sum(orders.c.co2e_kg))
                           .group_by(year, month).order_by(year, month)).all()
    months = [{"month": f"{y:04d}-{m:02d}", "orders": n, "co2e_kg": Decimal(total or 0).quantize(KG)}
              for y, m, n, total in rows]
    total = sum((m["co2e_kg"] for m in months), Decimal(0)).quantize(KG)
    return dump(MonthlyEmissionsOut, {"months": months, "total_co2e_kg": total, "unit": "kg CO2e", "method": METHOD,
                                      "from": args.get("from"), "to": args.get("to")})


CSV_COLUMNS = ["reference", "status", "transport_day", "vehicle_type", "distance_km", "distance_source",
               "mass_t", "load_source", "tonne_km", "passenger_km", "intensity_g_per_unit", "unit", "co2e_kg",
               "factor_source", "method"]


def csv_export(session: Session, caller: CallerContext, args: dict) -> dict:
    """Every order of the period with its CO2e and inputs, as CSV (no cell runs as a formula)."""
    rows = session.scalars(_period(caller, args).order_by(Order.emissions_on, Order.reference)).all()

    def line(order: Order) -> dict:
        figure = {k: _number(v) for k, v in (order.emissions or {}).items()}
        return {**figure, "reference": order.reference, "status": order.status,
                "transport_day": order.emissions_on.isoformat(), "co2e_kg": order.co2e_kg}

    out = io.StringIO()
    write_csv((line(o) for o in rows), CSV_COLUMNS, out)
    start, end = args.get("from"), args.get("to")
    name = "-".join(d.isoformat() for d in (start, end) if d) or "all"
    return {"text": out.getvalue(), "filename": f"emissions-{name}.csv", "content_type": "text/csv"}


def _number(value: Any) -> Any:
    """The JSON keeps decimals as text; the CSV gives them as numbers (a spreadsheet sums them)."""
    if isinstance(value, str):
        try:
            return Decimal(value) if value[:1].isdigit() else value
        except ArithmeticError:
            return value
    return value
