"""Book again: a past order's content (stops, contacts, items, notes) as a new order, its times
moved to another day. Recurring schedules (``recurring.py``) book from the same content.

Times keep their time of day in ``PORTAL_TIMEZONE`` when they move: an order picked up at 09:00
and delivered 11:00-13:00 is, on the new day, picked up at 09:00 and delivered 11:00-13:00."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.common.caller import CallerContext
from services.common.config import env
from services.common.db import UnitOfWork, utcnow
from services.common.errors import ValidationFailed
from services.common.schemas import load
from services.orders import booking, emissions
from services.orders.models import Order
from services.orders.schemas import OrderIn

STOP_FIELDS = ("type", "address", "lat", "lng", "window_start", "window_end", "contact", "notes", "place_id")
TIMES = ("window_start", "window_end")


def zone() -> ZoneInfo:
    return ZoneInfo(env("PORTAL_TIMEZONE"))


def _json(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def content_of(order: Order) -> dict:
    """The order's content as an ``OrderIn`` payload (JSON: it is kept by schedules), without
    its reference, which is unique per order."""
    body = {name: _json(getattr(order, name)) for name in booking.CONTENT}
    body["site"] = order.site      # booked again (or on schedule) for the same site
    body["stops"] = [{name: _json(getattr(s, name)) for name in STOP_FIELDS} for s in order.stops]
    body["items"] = [{"description": i.description, "quantity": i.quantity,
                      **{name: _json(getattr(i, name)) for name in booking.DIMENSIONS}} for i in order.items]
    return body


def _moments(content: dict) -> list[datetime]:
    found = [content.get("pickup_at")] + [s.get(name) for s in content.get("stops") or [] for name in TIMES]
    return [datetime.fromisoformat(v) for v in found if v]


def first_time(content: dict) -> datetime | None:
    """The order's earliest moment (pickup or a stop window): what a new day is counted from."""
    moments = _moments(content)
    return min(moments) if moments else None


def time_of_day(content: dict, default: str = "09:00") -> str:
    first = first_time(content)
    return first.astimezone(zone()).strftime("%H:%M") if first else default


def _shift_date(value: str | None, days: int) -> str | None:
    return (date.fromisoformat(value) + timedelta(days=days)).isoformat() if value else None


def _shift_moment(value: str | None, by: timedelta) -> str | None:
    return (datetime.fromisoformat(value) + by).isoformat() if value else None


def on_day(content: dict, day: date, at: str | None = None) -> dict:
    """The content moved to ``day``: its earliest moment at ``at`` (HH:MM, PORTAL_TIMEZONE; by
    default the same time of day as before), every other time by as much; rental dates by as
    many days."""
    first, tz = first_time(content), zone()
    start = content.get("rental_start")
    if first is None:
        days = (day - date.fromisoformat(start)).days if start else 0
        by = timedelta(days=days)
    else:
        local = first.astimezone(tz)
        clock = time.fromisoformat(at) if at else local.time().replace(tzinfo=None)
        by = datetime.combine(day, clock, tz) - first
        days = (day - local.date()).days
    moved = dict(content)
    moved["pickup_at"] = _shift_moment(content.get("pickup_at"), by)
    moved["rental_start"] = _shift_date(start, days)
    moved["rental_end"] = _shift_date(content.get("rental_end"), days)
    moved["stops"] = [{**s, **{name: _shift_moment(s.get(name), by) for name in TIMES}}
                      for s in content.get("stops") or []]
    return moved


def next_working_day(today: date) -> date:
    """Tomorrow, or Monday when tomorrow is a Saturday or Sunday."""
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def today() -> date:
    return utcnow().astimezone(zone()).date()


def with_changes(content: dict, data: dict) -> dict:
    """``RepeatIn``'s choice applied: the day ``on`` (or the next working day unless new windows
    are given), then new windows per stop and a new pickup time, which win."""
    windows = data.get("windows") or []
    if len(windows) > len(content.get("stops") or []):
        raise ValidationFailed.of({"windows": ["More windows than the order has stops."]})
    if data.get("on") or not (windows or data.get("pickup_at")):
        content = on_day(content, data.get("on") or next_working_day(today()))
    stops = [dict(s) for s in content.get("stops") or []]
    for stop, window in zip(stops, windows):
        stop.update({name: _json(window.get(name)) for name in TIMES if name in window})
    content = {**content, "stops": stops}
    if data.get("pickup_at"):
        content["pickup_at"] = _json(data["pickup_at"])
    return content


def new_order(uow: UnitOfWork, caller: CallerContext, customer_id: str, content: dict, *,
              submit: bool, source: str, reference: str | None = None, pricer=None) -> Order:
    """Book ``content`` for the customer, checked as the API checks a new order (and, submitted,
    against its approval limit: ``pricer``, approval.py)."""
    payload = {**content, "submit": submit, **({"reference": reference} if reference else {})}
    order = booking.create(uow, caller, customer_id, load(OrderIn, payload), source=source, pricer=pricer)
    emissions.refresh(uow.session, order)      # born submitted: it has its CO2e, as create_order
    return order


def repeat(uow: UnitOfWork, caller: CallerContext, order_id: str, data: dict, pricer=None) -> Order:
    """Book an order of the caller's again (a draft, or submitted with ``submit``)."""
    original = booking.get_scoped(uow.session, caller, order_id)
    content = with_changes(content_of(original), data)
    return new_order(uow, caller, original.customer_id, content, submit=data.get("submit", False),
                     source="repeat", reference=data.get("reference"), pricer=pricer)
