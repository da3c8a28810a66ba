"""The pricing engine: a rate card and the facts of an order (or a quote request) -> price lines.

Plain Python: no database, no nameko. Every amount is a ``Decimal`` and every rounding of money
goes through ``services.common.money`` (a line's net once, its tax once, totals are sums).

Order of the lines:
1. charges: base fee, distance, weight, packages, hours, days (a line only when both its
   quantity and its rate are non-zero);
2. minimum: tops the charges' net up to the card's minimum when they fall short;
3. surcharges: percent ones on the net after the minimum (all on that same base, so the order of
   the card's list never changes the price), out-of-hours and weekend only when the start time in
   the card's timezone qualifies; fixed ones add their amount.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from services.common.money import HUNDRED, ZERO, round_money, tax_of, to_decimal

EARTH_RADIUS_KM = 6371.0088   # the IUGG mean radius
KM_STEP = Decimal("0.1")
QUARTER = Decimal("0.25")
NOTE_NO_DISTANCE = "Distance unknown: a stop has no coordinates; priced without the per-km charge."
NOTE_NO_HOURS = ("Duration unknown: the pickup time or the last stop's window end is missing; "
                 "priced without the hourly charge.")
NOTE_NO_DAYS = "Rental period unknown: the start or end date is missing; priced without the daily charge."
NOTE_NO_START = "Start time unknown: the {name} surcharge was not applied."


@dataclass(frozen=True)
class Facts:
    """What a price depends on, read once from the order."""
    kind: str                      # delivery | booking | rental
    distance_km: Decimal | None    # None when a stop has no coordinates
    weight_kg: Decimal
    packages: int
    hours: Decimal | None          # bookings only
    days: int | None               # rentals only
    starts_at: datetime | None     # aware
    stops: int


@dataclass(frozen=True)
class Line:
    code: str                      # base_fee|distance|weight|packages|hours|days|minimum|surcharge:<name>|manual
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal            # unrounded: a rate such as 0.125/km is kept exactly
    tax_rate: Decimal              # percent
    net: Decimal
    tax: Decimal
    total: Decimal

    @classmethod
    def make(cls, code: str, description: str, quantity: Decimal, unit: str, unit_price: Decimal,
             tax_rate: Decimal, currency: str) -> "Line":
        net = round_money(quantity * unit_price, currency)
        tax = tax_of(net, tax_rate, currency)
        return cls(code, description, quantity, unit, unit_price, tax_rate, net, tax, net + tax)

    def wire(self, currency: str) -> dict:
        return {"code": self.code, "description": self.description, "quantity": str(self.quantity),
                "unit": self.unit,
                # Not Money.wire(): that rounds to the minor unit, and 0.125/km is not 0.13/km.
                "unit_price": {"amount": str(self.unit_price), "currency": currency},
                "tax_rate": str(self.tax_rate), "net": _money(self.net, currency),
                "tax": _money(self.tax, currency), "total": _money(self.total, currency)}

    @classmethod
    def from_wire(cls, d: dict) -> "Line":
        return cls(d["code"], d["description"], to_decimal(d["quantity"]), d["unit"],
                   to_decimal(d["unit_price"]["amount"]), to_decimal(d["tax_rate"]),
                   to_decimal(d["net"]["amount"]), to_decimal(d["tax"]["amount"]),
                   to_decimal(d["total"]["amount"]))


@dataclass(frozen=True)
class Price:
    currency: str
    lines: tuple[Line, ...]
    net: Decimal
    tax: Decimal
    total: Decimal
    notes: tuple[str, ...] = ()
    rate_card_id: str | None = None

    @classmethod
    def of(cls, currency: str, lines: Iterable[Line], notes: Iterable[str] = (),
           rate_card_id: str | None = None) -> "Price":
        """Totals are sums of the rounded lines, so the lines always add up to what is printed."""
        lines = tuple(lines)
        return cls(currency, lines, sum((l.net for l in lines), ZERO), sum((l.tax for l in lines), ZERO),
                   sum((l.total for l in lines), ZERO), tuple(notes), rate_card_id)

    def wire(self) -> dict:
        c = self.currency
        return {"currency": c, "rate_card_id": self.rate_card_id, "lines": [l.wire(c) for l in self.lines],
                "net": _money(self.net, c), "tax": _money(self.tax, c), "total": _money(self.total, c),
                "notes": list(self.notes)}

    @classmethod
    def from_wire(cls, d: dict) -> "Price":
        return cls(d["currency"], tuple(Line.from_wire(l) for l in d["lines"]),
                   to_decimal(d["net"]["amount"]), to_decimal(d["tax"]["amount"]),
                   to_decimal(d["total"]["amount"]), tuple(d.get("notes") or ()), d.get("rate_card_id"))


def _money(amount: Decimal, currency: str) -> dict:
    return {"amount": str(round_money(amount, currency)), "currency": currency}


# ---- facts ---------------------------------------------------------------------------------

def _measure(value: Any) -> Decimal:
    """A weight or a factor as a Decimal. Unlike money, a JSON float is accepted here (a client
    may well send 2.5 kg); going through its shortest repr keeps 2.5 as 2.5, not 2.49999..."""
    return Decimal(repr(value)) if isinstance(value, float) else to_decimal(value)


def _when(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    # Naive times are UTC, as the orders schema reads them (AwareDateTime, default UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _leg_km(a: dict, b: dict) -> float:
    """Great-circle distance (haversine) between two stops."""
    lat1, lng1, lat2, lng2 = map(math.radians, (float(a["lat"]), float(a["lng"]), float(b["lat"]), float(b["lng"])))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def _distance(stops: list[dict], road_factor: Decimal) -> Decimal | None:
    if any(s.get("lat") in (None, "") or s.get("lng") in (None, "") for s in stops):
        return None
    # Fewer than two stops: nothing to travel between, 0 km (and so no distance line).
    crow = sum((_leg_km(a, b) for a, b in zip(stops, stops[1:])), 0.0)
    return (Decimal(repr(crow)) * road_factor).quantize(KM_STEP, rounding=ROUND_HALF_UP)


def _hours(start: datetime | None, end: datetime | None) -> Decimal | None:
    """Hours from start to end, rounded up to the next quarter hour, at least one hour."""
    if start is None or end is None:
        return None
    hours = Decimal(int((end - start).total_seconds())) / 3600
    quarters = (hours / QUARTER).to_integral_value(rounding=ROUND_CEILING)
    return max(Decimal(1), quarters * QUARTER)


def facts_of(order: dict, road_factor: Decimal) -> Facts:
    """The facts of an order content dict (the orders API body; strings from JSON or typed)."""
    kind = order.get("kind") or "delivery"
    stops = list(order.get("stops") or [])
    items = list(order.get("items") or [])
    start = _when(order.get("pickup_at")) or (_when(stops[0].get("window_start")) if stops else None)
    hours = _hours(start, _when(stops[-1].get("window_end")) if stops else None) if kind == "booking" else None
    days = None
    if kind == "rental":
        first, last = _day(order.get("rental_start")), _day(order.get("rental_end"))
        days = (last - first).days + 1 if first and last else None   # inclusive: Mon..Mon is 1 day
    quantities = [int(i["quantity"]) if i.get("quantity") not in (None, "") else 1 for i in items]
    weight = sum((q * _measure(i["weight_kg"]) for q, i in zip(quantities, items)
                  if i.get("weight_kg") not in (None, "")), ZERO)
    return Facts(kind=kind, distance_km=_distance(stops, _measure(road_factor)), weight_kg=weight,
                 packages=sum(quantities), hours=hours, days=days, starts_at=start, stops=len(stops))


# ---- price ---------------------------------------------------------------------------------

def _rate(card: dict, key: str) -> Decimal:
    value = card.get(key)
    return ZERO if value in (None, "") else to_decimal(value)


def _hhmm(text: str) -> time:
    hours, minutes = str(text).split(":")
    return time(int(hours), int(minutes))


def _out_of_hours(local: datetime, start: time, end: time) -> bool:
    """Inside [start, end) in local time; a window such as 18:00-07:00 wraps midnight."""
    now = local.time()
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def price(card: dict, facts: Facts) -> Price:
    currency = str(card.get("currency") or "EUR").upper()
    tax_rate = _rate(card, "tax_rate")
    notes: list[str] = []

    def line(code: str, description: str, quantity: Decimal, unit: str, unit_price: Decimal) -> Line:
        return Line.make(code, description, quantity, unit, unit_price, tax_rate, currency)

    charges = [  # code, description, quantity, unit, rate key
        ("base_fee", "Base fee", Decimal(1), "order", "base_fee"),
        ("distance", "Distance", facts.distance_km, "km", "per_km"),
        ("weight", "Weight", facts.weight_kg, "kg", "per_kg"),
        ("packages", "Packages", Decimal(facts.packages), "package", "per_package"),
        ("hours", "Hours", facts.hours, "h", "per_hour"),
        ("days", "Rental days", None if facts.days is None else Decimal(facts.days), "day", "per_day"),
    ]
    lines: list[Line] = []
    for code, description, quantity, unit, key in charges:
        rate = _rate(card, key)
        if not rate:
            continue
        if quantity is None:
            # Only the kind that should have it: a delivery without hours is not news.
            unknown = {"distance": NOTE_NO_DISTANCE, "hours": NOTE_NO_HOURS if facts.kind == "booking" else None,
                       "days": NOTE_NO_DAYS if facts.kind == "rental" else None}.get(code)
            if unknown:
                notes.append(unknown)
        elif quantity:
            lines.append(line(code, description, quantity, unit, rate))

    subtotal = sum((l.net for l in lines), ZERO)
    minimum = round_money(_rate(card, "minimum"), currency)
    if subtotal < minimum:
        lines.append(line("minimum", f"Minimum charge ({minimum} {currency})", Decimal(1), "order", minimum - subtotal))
        subtotal = minimum

    zone = ZoneInfo(card.get("timezone") or "UTC")
    local = facts.starts_at.astimezone(zone) if facts.starts_at else None
    for surcharge in card.get("surcharges") or ():
        name, kind = surcharge["name"], surcharge["type"]
        if kind == "fixed":
            amount = _rate(surcharge, "amount")
            if amount:
                lines.append(line(f"surcharge:{name}", name, Decimal(1), "order", amount))
            continue
        if kind in ("out_of_hours", "weekend"):
            if local is None:
                notes.append(NOTE_NO_START.format(name=name))
                continue
            applies = (local.weekday() >= 5 if kind == "weekend"
                       else _out_of_hours(local, _hhmm(surcharge["start"]), _hhmm(surcharge["end"])))
            if not applies:
                continue
        elif kind != "percent":
            raise ValueError(f"unknown surcharge type {kind!r}")
        percent = _rate(surcharge, "percent")
        if percent and subtotal:
            # quantity = the percentage, unit price = 1% of the base: net = base x percent / 100,
            # and an edited copy of this line (``adjusted``) prices the same way as any other.
            lines.append(line(f"surcharge:{name}", f"{name} ({percent}% of {subtotal} {currency})",
                              percent, "%", subtotal / HUNDRED))
    return Price.of(currency, lines, notes, card.get("id"))


def adjusted(original: Price, lines: list[dict]) -> Price:
    """The operator's edit of a quote: these lines replace the calculated ones, priced by the
    same rules. The notes explained the calculation the operator has now overridden: dropped."""
    currency = original.currency
    made = []
    for d in lines:
        unit_price = d["unit_price"]
        if isinstance(unit_price, dict):   # as on the wire: {"amount", "currency"}
            if str(unit_price.get("currency", currency)).upper() != currency:
                raise ValueError(f"a line of a {currency} price cannot be in {unit_price['currency']}")
            unit_price = unit_price["amount"]
        made.append(Line.make(d.get("code") or "manual", d["description"], to_decimal(d["quantity"]),
                              d.get("unit") or "unit", to_decimal(unit_price), to_decimal(d["tax_rate"]), currency))
    return Price.of(currency, made, (), original.rate_card_id)
