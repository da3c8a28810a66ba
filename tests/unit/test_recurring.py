"""Book again and recurring orders (services/orders/repeat.py, recurring.py) through the orders
entrypoints on SQLite, no broker: the copy, the day it moves to, the schedule's days, each day
booked once, pause and resume, and another customer's order or schedule out of reach."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.common.caller import CallerContext
from services.common.errors import NotFound, ValidationFailed
from services.orders import recurring, repeat
from services.orders.models import Base, CustomerSettings, Order, RecurringOrder, RecurringRun
from tests.unit.conftest import run_entrypoint
from services.orders.service import Service
from tests.unit import test_orders
from tests.unit.test_orders import call, customer, delivery

factory = test_orders.factory          # the orders tests' fixture: a fresh SQLite database


def _order(factory, who, **extra):
    body = delivery("PO-7", notes="Ring twice", pickup_at="2026-12-01T08:30:00+00:00", **extra)
    return call(factory, who, "create_order", body)


def test_book_again_copies_the_content_to_the_day_asked(factory, monkeypatch):
    monkeypatch.setenv("PORTAL_TIMEZONE", "Europe/Amsterdam")
    alice = customer(factory)
    first = _order(factory, alice)
    again = call(factory, alice, "repeat_order", first["id"], {"on": "2026-12-10", "submit": True})
    assert again["id"] != first["id"] and again["reference"] != "PO-7" and again["status"] == "submitted"
    assert again["notes"] == "Ring twice" and again["items"][0]["quantity"] == 3
    assert again["stops"][1]["contact"]["email"] == "ada@example.com"
    assert again["stops"][1]["address"]["line1"] == "22 Acacia Avenue"
    # Same times of day, nine days later.
    assert again["pickup_at"].startswith("2026-12-10T08:30")
    assert again["stops"][1]["window_start"].startswith("2026-12-10T09:00")
    assert again["stops"][1]["window_end"].startswith("2026-12-10T12:00")


def test_book_again_with_new_windows_or_on_the_next_working_day(factory):
    alice = customer(factory)
    first = _order(factory, alice)
    windows = [{}, {"window_start": "2027-01-05T13:00:00+00:00", "window_end": "2027-01-05T15:00:00+00:00"}]
    again = call(factory, alice, "repeat_order", first["id"], {"windows": windows, "reference": "PO-8"})
    assert again["reference"] == "PO-8" and again["status"] == "draft"
    assert again["stops"][1]["window_start"].startswith("2027-01-05T13:00")
    assert again["pickup_at"].startswith("2026-12-01T08:30")           # not asked to move
    assert repeat.next_working_day(date(2026, 12, 4)) == date(2026, 12, 7)    # Friday -> Monday
    assert repeat.next_working_day(date(2026, 12, 7)) == date(2026, 12, 8)
    plain = call(factory, alice, "repeat_order", first["id"], {})
    moved_to = datetime.fromisoformat(plain["stops"][1]["window_start"]).date()
    assert moved_to == repeat.next_working_day(repeat.today())
    with pytest.raises(ValidationFailed):
        call(factory, alice, "repeat_order", first["id"], {"windows": [{}, {}, {}]})


def test_another_customers_order_cannot_be_booked_again_or_scheduled(factory):
    alice, bob = customer(factory), customer(factory)
    first = _order(factory, alice)
    with pytest.raises(NotFound):
        call(factory, bob, "repeat_order", first["id"], {})
    with pytest.raises(NotFound):
        call(factory, bob, "create_recurring", {"order_id": first["id"], "frequency": "weekdays",
                                                "starts_on": "2026-12-07"})
    mine = call(factory, alice, "create_recurring", {"order_id": first["id"], "frequency": "weekdays",
                                                     "starts_on": "2026-12-07"})
    assert call(factory, bob, "list_recurring", {})["total"] == 0
    for method, args in (("get_recurring", ()), ("update_recurring", ({"paused": True},)),
                         ("delete_recurring", ())):
        with pytest.raises(NotFound):
            call(factory, bob, method, mine["id"], *args)


def _schedule(**kw):
    values = {"frequency": "weekdays", "weekdays": [], "interval_days": None,
              "starts_on": date(2026, 12, 1), "ends_on": None, "time_of_day": "09:00"} | kw
    return RecurringOrder(**values)


def test_the_days_of_each_pattern():
    weekdays = _schedule()
    assert recurring.next_day(weekdays, date(2026, 12, 5)) == date(2026, 12, 7)     # Saturday -> Monday
    mon_thu = _schedule(frequency="weekly", weekdays=[0, 3])
    assert recurring.next_day(mon_thu, date(2026, 12, 1)) == date(2026, 12, 3)
    assert recurring.next_day(mon_thu, date(2026, 12, 4)) == date(2026, 12, 7)
    every3 = _schedule(frequency="every_n_days", interval_days=3)
    assert recurring.next_day(every3, date(2026, 11, 1)) == date(2026, 12, 1)        # not before the start
    assert recurring.next_day(every3, date(2026, 12, 2)) == date(2026, 12, 4)
    ended = _schedule(ends_on=date(2026, 12, 4))
    assert recurring.next_day(ended, date(2026, 12, 5)) is None
    with pytest.raises(ValidationFailed):
        recurring.check(_schedule(frequency="weekly"))
    with pytest.raises(ValidationFailed):
        recurring.check(_schedule(ends_on=date(2026, 11, 1)))


def run_due(factory, now):
    """The timer (``book_recurring``) at ``now``, as one worker; the runs it made."""
    with factory() as session:
        before = session.scalar(select(func.count()).select_from(RecurringRun))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recurring, "utcnow", lambda: now)
        run_entrypoint(Service, Base, factory, CallerContext(role="service"), "book_recurring")
    with factory() as session:
        return session.scalar(select(func.count()).select_from(RecurringRun)) - before


def test_a_schedule_books_each_day_once_ahead_of_time_and_pauses(factory, monkeypatch):
    monkeypatch.setenv("PORTAL_TIMEZONE", "UTC")
    monkeypatch.setenv("ORDERS_RECURRING_LEAD_HOURS", "24")
    alice = customer(factory)
    first = _order(factory, alice)
    start = repeat.next_working_day(repeat.today())
    made = call(factory, alice, "create_recurring", {
        "order_id": first["id"], "frequency": "weekdays", "starts_on": start.isoformat(),
        "time_of_day": "10:00", "submit": True})
    assert made["next_on"] == start.isoformat() and made["time_of_day"] == "10:00" and not made["paused"]
    at = datetime.combine(start, datetime.min.time(), timezone.utc) + timedelta(hours=10)
    assert run_due(factory, at - timedelta(hours=30)) == 0                   # not yet within the lead
    assert run_due(factory, at - timedelta(hours=20)) == 1
    assert run_due(factory, at - timedelta(hours=20)) == 0                   # a second run: nothing more
    with factory() as session:
        booked = session.scalars(select(Order).where(Order.source == "recurring")).all()
        assert len(booked) == 1 and booked[0].status == "submitted"
        assert booked[0].pickup_at.isoformat().startswith(f"{start.isoformat()}T10:00")
        run = session.scalar(select(RecurringRun))
        assert run.on == start and run.order_id == booked[0].id
    # The unique key holds even if a run row were written twice.
    with factory() as session, pytest.raises(IntegrityError):
        session.add(RecurringRun(recurring_id=made["id"], on=start))
        session.commit()

    paused = call(factory, alice, "update_recurring", made["id"], {"paused": True})
    assert paused["paused"]
    assert run_due(factory, at + timedelta(days=7)) == 0
    resumed = call(factory, alice, "update_recurring", made["id"], {"paused": False, "frequency": "weekly",
                                                                    "weekdays": [3, 0, 3]})
    assert resumed["weekdays"] == [0, 3] and resumed["next_on"] is not None
    call(factory, alice, "delete_recurring", made["id"])
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(RecurringOrder)) == 0
        assert session.scalar(select(func.count()).select_from(Order).where(Order.source == "recurring")) == 1


def test_a_day_that_cannot_be_booked_is_recorded_and_the_schedule_goes_on(factory, monkeypatch):
    monkeypatch.setenv("PORTAL_TIMEZONE", "UTC")
    alice = customer(factory)
    first = _order(factory, alice)
    start = repeat.next_working_day(repeat.today())
    made = call(factory, alice, "create_recurring", {"order_id": first["id"], "frequency": "every_n_days",
                                                     "interval_days": 1, "starts_on": start.isoformat(),
                                                     "time_of_day": "10:00"})
    with factory() as session:       # the customer turned inactive after saving the schedule
        session.get(CustomerSettings, alice.customer_id).is_active = False
        session.commit()
    at = datetime.combine(start, datetime.min.time(), timezone.utc) + timedelta(hours=10)
    assert run_due(factory, at - timedelta(hours=1)) == 1
    after = call(factory, alice, "get_recurring", made["id"])
    assert "inactive" in after["last_error"] and after["next_on"] == (start + timedelta(days=1)).isoformat()
