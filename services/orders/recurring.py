"""Recurring orders: a customer saves a schedule from one of their orders (every weekday, some
days of the week, every N days; from a start date, until an optional end date) and the orders
service books each day's order ``ORDERS_RECURRING_LEAD_HOURS`` ahead, as a draft or submitted.

The timer (``run_due``) runs on every orders instance: it claims due schedules with
``FOR UPDATE SKIP LOCKED`` (as billing's quote expiry does), so two instances never take the
same schedule at once, and each day is booked once: ``recurring_runs`` has one row per
schedule and day (unique), written with the order. A day whose order cannot be made (the
customer is inactive, a saved place is gone) is recorded with its error, and the schedule goes
on. Days that passed while a schedule was paused are not booked afterwards."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import API_KEY, CUSTOMER_ADMIN, CUSTOMER_BOOKER, SERVICE, CallerContext
from services.common.config import env_float
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from services.common.schemas import dump
from services.common.scoping import get_owned, owned, paged
from services.orders import approval, booking, repeat, sites
from services.orders.models import RecurringOrder, RecurringRun
from services.orders.schemas import RecurringOut

WEEKDAYS = (0, 1, 2, 3, 4)
PATTERN = ("frequency", "weekdays", "interval_days", "starts_on", "ends_on", "time_of_day")
BATCH = 100


def matches(schedule: RecurringOrder, day: date) -> bool:
    if day < schedule.starts_on or (schedule.ends_on and day > schedule.ends_on):
        return False
    if schedule.frequency == "weekdays":
        return day.weekday() in WEEKDAYS
    if schedule.frequency == "weekly":
        return day.weekday() in (schedule.weekdays or [])
    return (day - schedule.starts_on).days % schedule.interval_days == 0


def next_day(schedule: RecurringOrder, start: date) -> date | None:
    """The schedule's first day on or after ``start``; None once it has ended."""
    day = max(start, schedule.starts_on)
    if schedule.frequency == "every_n_days":
        behind = (day - schedule.starts_on).days % schedule.interval_days
        day += timedelta(days=(schedule.interval_days - behind) % schedule.interval_days)
    else:
        for _ in range(7):
            if matches(schedule, day) or (schedule.ends_on and day > schedule.ends_on):
                break
            day += timedelta(days=1)
    return day if matches(schedule, day) else None


def moment(schedule: RecurringOrder, day: date) -> datetime:
    """When the schedule's order starts on ``day`` (its time of day in PORTAL_TIMEZONE)."""
    return datetime.combine(day, time.fromisoformat(schedule.time_of_day), repeat.zone())


def check(schedule: RecurringOrder) -> None:
    errors = {}
    if schedule.frequency == "weekly" and not schedule.weekdays:
        errors["weekdays"] = ["Choose the days of the week (0 = Monday)."]
    if schedule.frequency == "every_n_days" and not schedule.interval_days:
        errors["interval_days"] = ["Say every how many days."]
    if schedule.ends_on and schedule.ends_on < schedule.starts_on:
        errors["ends_on"] = ["The schedule cannot end before it starts."]
    if errors:
        raise ValidationFailed.of(errors)


def _plan(schedule: RecurringOrder) -> None:
    """Check the pattern and find the next day to book (from today: no day in the past)."""
    check(schedule)
    schedule.next_on = next_day(schedule, repeat.today())


def view(schedule: RecurringOrder) -> dict:
    body = {c.key: getattr(schedule, c.key) for c in RecurringOrder.__table__.columns}
    stops = schedule.content.get("stops") or []
    address = (stops[-1].get("address") or {}) if stops else {}
    body["dropoff"] = ", ".join(str(address[k]) for k in ("line1", "city") if address.get(k)) or None
    return dump(RecurringOut, body)


def _owned(session: Session, caller: CallerContext, recurring_id: str, lock: bool = False) -> RecurringOrder:
    schedule = get_owned(session, caller, RecurringOrder, recurring_id, "recurring order", lock=lock)
    if not caller.sees_site((schedule.content or {}).get("site")):     # books for a site not the caller's
        raise NotFound("No such recurring order.")
    return schedule


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = sites.of_visible_orders(caller, owned(caller, RecurringOrder), RecurringOrder.order_id)
    query = query.order_by(RecurringOrder.created_at.desc(), RecurringOrder.id)
    return paged(session, query, args, transform=view)


def get(session: Session, caller: CallerContext, recurring_id: str) -> dict:
    return view(_owned(session, caller, recurring_id))


def create(session: Session, caller: CallerContext, data: dict) -> dict:
    """A schedule from one of the caller's orders: its content, moved to each day it books."""
    data = dict(data)
    order = booking.get_scoped(session, caller, data.pop("order_id"))
    booking.customer_settings(session, order.customer_id)
    content = repeat.content_of(order)
    data.setdefault("time_of_day", repeat.time_of_day(content))
    data.setdefault("name", f"Again: {order.reference}")
    schedule = RecurringOrder(customer_id=order.customer_id, order_id=order.id, content=content,
                              created_by=caller.user_id, created_by_role=caller.role, paused=False,
                              submit=data.pop("submit", False), **data)
    schedule.weekdays = sorted(set(schedule.weekdays or []))
    _plan(schedule)
    session.add(schedule)
    session.flush()
    return view(schedule)


def update(session: Session, caller: CallerContext, recurring_id: str, data: dict) -> dict:
    """Edit the pattern, the name, draft or submitted; pause and resume (a resumed schedule
    books from today on)."""
    schedule = _owned(session, caller, recurring_id, lock=True)
    for name, value in data.items():
        setattr(schedule, name, value)
    schedule.weekdays = sorted(set(schedule.weekdays or []))
    if not schedule.paused:
        _plan(schedule)
    else:
        check(schedule)
    schedule.updated_at = utcnow()
    return view(schedule)


def delete(session: Session, caller: CallerContext, recurring_id: str) -> None:
    session.delete(_owned(session, caller, recurring_id, lock=True))


# --- the timer ---------------------------------------------------------------------------------
def lead() -> timedelta:
    return timedelta(hours=env_float("ORDERS_RECURRING_LEAD_HOURS"))


def acting_as(schedule: RecurringOrder) -> CallerContext:
    """Its orders are booked as the one who saved the schedule: a booker's wait for approval
    above the customer's limit (approval.py), an admin's do not. A schedule saved before the
    role was kept counts as a booker's (an admin approves rather than nothing is checked);
    operator staff's, as before, as the service's."""
    role = schedule.created_by_role
    if role is None or role in (CUSTOMER_ADMIN, CUSTOMER_BOOKER, API_KEY):
        return CallerContext(role=role or CUSTOMER_BOOKER, user_id=schedule.created_by,
                             customer_id=schedule.customer_id)
    return CallerContext(role=SERVICE)


def _book(uow: UnitOfWork, schedule: RecurringOrder, day: date, pricer=None) -> RecurringRun | None:
    """The day's order, once: nothing when the day has its run already. When its price cannot
    be checked (billing away: approval.prices_unavailable) nothing is written: the day is tried
    again at the next tick."""
    session = uow.session
    if session.scalar(select(RecurringRun.id).where(RecurringRun.recurring_id == schedule.id,
                                                    RecurringRun.on == day)):
        return None
    run = RecurringRun(recurring_id=schedule.id, on=day)
    content = repeat.on_day(schedule.content, day, schedule.time_of_day)
    try:
        # Every check comes before the first write, so a refusal leaves nothing half-made.
        order = repeat.new_order(uow, acting_as(schedule), schedule.customer_id, content,
                                 submit=schedule.submit, source="recurring", pricer=pricer)
        run.order_id, schedule.last_error = order.id, None
    except (ValidationFailed, Forbidden, ServiceUnavailable) as refused:
        if approval.prices_unavailable(refused):
            raise
        run.error = schedule.last_error = f"{day.isoformat()}: {refused}"
    session.add(run)
    session.flush()
    return run


def run_due(uow: UnitOfWork, now: datetime | None = None, pricer=None) -> int:
    """Book every schedule's days that start within the lead time; the number of runs made."""
    now = now or utcnow()
    horizon = now + lead()
    query = (select(RecurringOrder).where(RecurringOrder.paused.is_(False), RecurringOrder.next_on.is_not(None),
                                          RecurringOrder.next_on <= horizon.astimezone(repeat.zone()).date())
             .order_by(RecurringOrder.next_on, RecurringOrder.id).limit(BATCH))
    if uow.session.bind.dialect.name == "postgresql":
        # Every orders instance runs the timer: another instance's schedules are passed by.
        query = query.with_for_update(skip_locked=True)
    made = 0
    for schedule in uow.session.scalars(query).all():
        while schedule.next_on and moment(schedule, schedule.next_on) <= horizon:
            try:
                if moment(schedule, schedule.next_on) >= now and _book(uow, schedule, schedule.next_on, pricer):
                    made += 1
            except ServiceUnavailable as exc:
                if not approval.prices_unavailable(exc):
                    raise
                # Its day again at the next tick; the other schedules too: asking billing for
                # each of them now would only wait out its timeout again and again.
                return made
            schedule.next_on = next_day(schedule, schedule.next_on + timedelta(days=1))
    return made
