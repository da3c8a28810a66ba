"""Orders above the customer's approval limit wait for one of its admins (issue 11,
services/orders/approval.py), through the orders entrypoints on SQLite with the real billing
service pricing them (its own SQLite database, its rate cards, its ``price_preview``) in place
of the RPC: under the limit straight through, above it / another currency / no price at all
pending_approval, admins never held, approve and decline (with a reason) by admins only,
withdraw by the booker, billing away a 503 that changes nothing; every way of submitting."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.billing.models import Base as BillingBase
from services.billing.service import Service as Billing
from services.common.caller import (API_KEY, CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_VIEWER,
                                    OPERATOR_ADMIN, SERVICE, CallerContext)
from services.common.errors import Conflict, Forbidden, ServiceUnavailable, ValidationFailed
from services.orders import approval, recurring, repeat
from services.orders.models import Base, Import, Order, RecurringOrder
from services.orders.service import Service
from tests.unit import test_orders
from tests.unit.conftest import run_entrypoint
from tests.unit.test_orders import delivery, events

factory = test_orders.factory          # the orders tests' fixture: a fresh SQLite database
OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op-1")
EUR_100 = {"amount": "100.00", "currency": "EUR"}


@pytest.fixture
def billing(tmp_path):
    """The billing service on its own database, with a flat rate card: every order costs
    EUR 80.00 net, 96.80 with 21 % tax, plus EUR 10.00 per package."""
    engine = create_engine(f"sqlite:///{tmp_path}/billing.db")
    BillingBase.metadata.create_all(engine)
    made = sessionmaker(engine, expire_on_commit=False)
    run_entrypoint(Billing, BillingBase, made, OPERATOR, "create_rate_card", {
        "name": "Flat", "currency": "EUR", "tax_rate": "21", "base_fee": "50.00", "per_package": "10.00",
        "timezone": "UTC"})
    yield made
    engine.dispose()


def asking(billing_factory, asked=None):
    """The orders service's ``billing`` dependency: billing's own entrypoint, as the service role
    ServiceRpc signs for (``asked`` records each call)."""
    def call_billing(method, *args):
        if asked is not None:
            asked.append(method)
        return run_entrypoint(Billing, BillingBase, billing_factory, CallerContext(role=SERVICE), method, *args)
    return call_billing


def billing_down(method, *args):
    raise ServiceUnavailable(f"billing.{method} did not answer in {approval.PRICE_TIMEOUT:g} s")


def call(factory, caller, method, *args, billing=billing_down, **kwargs):
    return run_entrypoint(Service, Base, factory, caller, method, *args, deps={"billing": billing}, **kwargs)


def company(factory, limit=EUR_100):
    """A customer with an approval limit: its admin, a booker, an API key and a viewer."""
    customer_id = str(uuid.uuid4())
    data = {"customer_id": customer_id, "name": "Acme", "client_id": uuid.uuid4().hex[:7].upper(),
            "is_active": True, "has_portal_access": True, "require_dimensions": False,
            "location_sharing": "exact", "allow_order_upload": True, "default_depot_id": None,
            "approval_limit": limit}
    call(factory, CallerContext(role=SERVICE), "keep_customer_settings",
         {"id": str(uuid.uuid4()), "type": "customer.updated", "data": data})
    return {role: CallerContext(role=role, user_id=str(uuid.uuid4()), customer_id=customer_id)
            for role in (CUSTOMER_ADMIN, CUSTOMER_BOOKER, API_KEY, CUSTOMER_VIEWER)}


def packages(n: int, **extra) -> dict:
    """A delivery of ``n`` packages: EUR (50 + 10 n) * 1.21 in all (3: 96.80; 5: 121.00)."""
    body = delivery(**extra)
    body["items"][0]["quantity"] = n
    return body


def test_under_the_limit_a_bookers_order_is_submitted_at_once(factory, billing):
    people = company(factory)
    asked = []
    order = call(factory, people[CUSTOMER_BOOKER], "create_order", packages(3, submit=True),
                 billing=asking(billing, asked))
    assert order["status"] == "submitted" and asked == ["price_preview"]
    assert not events(factory, "order.approval_requested") and events(factory, "order.submitted")


def test_above_the_limit_it_waits_for_an_admin_who_approves_it(factory, billing):
    people = company(factory)
    booker, admin = people[CUSTOMER_BOOKER], people[CUSTOMER_ADMIN]
    draft = call(factory, booker, "create_order", packages(5, reference="BIG-1"))
    held = call(factory, booker, "submit_order", draft["id"], billing=asking(billing))
    assert held["status"] == "pending_approval" and held["submitted_at"] is None
    assert held["history"][-1]["to_status"] == "pending_approval" and "approval" in held["history"][-1]["note"]
    assert set(held["allowed_actions"]) == {"withdraw", "cancel"}             # no approving one's own
    [asked] = events(factory, "order.approval_requested")
    assert asked["customer_id"] == booker.customer_id
    assert asked["data"]["order_id"] == draft["id"] and asked["data"]["reference"] == "BIG-1"
    assert asked["data"]["total"] == {"amount": "121.00", "currency": "EUR"}
    assert asked["data"]["limit"] == EUR_100 and asked["data"]["created_by"] == booker.user_id
    assert not events(factory, "order.submitted")                    # billing does not price it yet
    seen = call(factory, admin, "get_order", draft["id"])
    assert {"approve", "decline"} <= set(seen["allowed_actions"])
    waiting = call(factory, admin, "list_orders", {"status": ["pending_approval"]})
    assert [o["id"] for o in waiting["items"]] == [draft["id"]] and waiting["total"] == 1

    done = call(factory, admin, "approve_order", draft["id"])
    assert done["status"] == "submitted" and done["submitted_at"]
    last = done["history"][-1]
    assert (last["from_status"], last["to_status"], last["by_user_id"], last["by_role"]) == \
        ("pending_approval", "submitted", admin.user_id, CUSTOMER_ADMIN)
    [submitted] = events(factory, "order.submitted")          # as any submission: billing prices it
    assert submitted["data"]["content"]["items"][0]["quantity"] == 5
    changed = events(factory, "order.status_changed")[-1]["data"]
    assert (changed["previous_status"], changed["status"]) == ("pending_approval", "submitted")
    assert changed["decided_by"] == admin.user_id and changed["created_by"] == booker.user_id
    with pytest.raises(Conflict):                              # only once
        call(factory, admin, "approve_order", draft["id"])


def test_an_admin_declines_with_a_reason_and_it_is_a_draft_again(factory, billing):
    people = company(factory)
    booker, admin = people[CUSTOMER_BOOKER], people[CUSTOMER_ADMIN]
    held = call(factory, booker, "create_order", packages(5, submit=True), billing=asking(billing))
    assert held["status"] == "pending_approval"
    for bad in ({}, {"reason": "   "}, {"reason": "x" * 501}):
        with pytest.raises(ValidationFailed) as refused:
            call(factory, admin, "decline_order", held["id"], bad)
        assert "reason" in refused.value.details["fields"]
    for not_admin in (booker, people[API_KEY], people[CUSTOMER_VIEWER], OPERATOR):
        with pytest.raises(Forbidden):
            call(factory, not_admin, "decline_order", held["id"], {"reason": "No"})
        with pytest.raises(Forbidden):
            call(factory, not_admin, "approve_order", held["id"])
    assert call(factory, admin, "get_order", held["id"])["status"] == "pending_approval"

    back = call(factory, admin, "decline_order", held["id"], {"reason": "Too dear: send it with the van"})
    assert back["status"] == "draft" and set(back["allowed_actions"]) >= {"edit", "submit"}
    last = back["history"][-1]
    assert last["by_user_id"] == admin.user_id and last["note"] == "declined: Too dear: send it with the van"
    changed = events(factory, "order.status_changed")[-1]["data"]
    assert (changed["previous_status"], changed["status"]) == ("pending_approval", "draft")
    assert changed["reason"] == "Too dear: send it with the van" and changed["created_by"] == booker.user_id
    assert not events(factory, "order.withdrawn") and not events(factory, "order.submitted")
    # The booker changes it and submits again: under the limit now, it goes through.
    call(factory, booker, "update_order", held["id"], {"items": [{"description": "Boxes", "quantity": 3}]})
    assert call(factory, booker, "submit_order", held["id"], billing=asking(billing))["status"] == "submitted"


def test_the_booker_may_withdraw_it_and_cancel_it(factory, billing):
    people = company(factory)
    booker = people[CUSTOMER_BOOKER]
    first = call(factory, booker, "create_order", packages(5, submit=True), billing=asking(billing))
    back = call(factory, booker, "withdraw_order", first["id"])
    assert back["status"] == "draft" and back["history"][-1]["by_user_id"] == booker.user_id
    assert "decided_by" not in events(factory, "order.status_changed")[-1]["data"]   # nobody is told
    second = call(factory, booker, "create_order", packages(5, submit=True), billing=asking(billing))
    assert call(factory, booker, "cancel_order", second["id"])["status"] == "cancelled"
    with pytest.raises(Conflict):
        call(factory, people[CUSTOMER_ADMIN], "approve_order", second["id"])


def test_another_currency_or_no_price_at_all_needs_approval(factory, billing, tmp_path):
    pounds = company(factory, limit={"amount": "1000.00", "currency": "GBP"})
    held = call(factory, pounds[CUSTOMER_BOOKER], "create_order", packages(1, submit=True), billing=asking(billing))
    assert held["status"] == "pending_approval"
    assert events(factory, "order.approval_requested")[-1]["data"]["total"]["currency"] == "EUR"
    # No rate card applies: billing prices nothing, and an admin decides.
    engine = create_engine(f"sqlite:///{tmp_path}/empty-billing.db")
    BillingBase.metadata.create_all(engine)
    people = company(factory)
    unpriced = call(factory, people[API_KEY], "create_order", packages(1, submit=True),
                    billing=asking(sessionmaker(engine, expire_on_commit=False)))
    assert unpriced["status"] == "pending_approval"
    assert events(factory, "order.approval_requested")[-1]["data"]["total"] is None
    engine.dispose()


def test_admins_operators_and_customers_without_a_limit_are_never_held(factory):
    people = company(factory)
    # billing is away in all of these: none of them even asks it.
    assert call(factory, people[CUSTOMER_ADMIN], "create_order", packages(50, submit=True))["status"] == "submitted"
    body = packages(50, submit=True, customer_id=people[CUSTOMER_ADMIN].customer_id)
    assert call(factory, OPERATOR, "create_order", body)["status"] == "submitted"
    free = company(factory, limit=None)
    assert call(factory, free[CUSTOMER_BOOKER], "create_order", packages(50, submit=True))["status"] == "submitted"


def test_billing_away_is_a_503_and_the_order_stays_a_draft(factory, billing):
    people = company(factory)
    booker = people[CUSTOMER_BOOKER]
    draft = call(factory, booker, "create_order", packages(5))
    before = len(events(factory))
    with pytest.raises(ServiceUnavailable) as away:
        call(factory, booker, "submit_order", draft["id"])
    assert "approval limit" in away.value.message
    with pytest.raises(ServiceUnavailable):
        call(factory, booker, "submit_orders", {"ids": [draft["id"]]})
    with pytest.raises(ServiceUnavailable):
        call(factory, booker, "create_order", packages(5, submit=True, reference="LOST?"))
    assert call(factory, booker, "get_order", draft["id"])["status"] == "draft"
    assert len(events(factory)) == before
    assert call(factory, booker, "list_orders", {})["total"] == 1           # the refused create left nothing


def test_every_way_of_submitting_asks_the_same_rule(factory, billing, monkeypatch):
    people = company(factory)
    booker, key = people[CUSTOMER_BOOKER], people[API_KEY]
    small, big = (call(factory, booker, "create_order", packages(n)) for n in (3, 5))
    bulk = call(factory, key, "submit_orders", {"ids": [small["id"], big["id"]]}, billing=asking(billing))
    assert {o["id"]: o["status"] for o in bulk["submitted"]} == {small["id"]: "submitted",
                                                                 big["id"]: "pending_approval"}
    again = call(factory, booker, "repeat_order", small["id"], {"submit": True}, billing=asking(billing))
    assert again["status"] == "submitted"
    again = call(factory, booker, "repeat_order", big["id"], {"submit": True}, billing=asking(billing))
    assert again["status"] == "pending_approval"

    # A recurring schedule books as the one who saved it: the booker's waits, the admin's not.
    monkeypatch.setenv("PORTAL_TIMEZONE", "UTC")
    monkeypatch.setenv("ORDERS_RECURRING_LEAD_HOURS", "24")
    start = repeat.next_working_day(repeat.today())
    for who in (booker, people[CUSTOMER_ADMIN]):
        call(factory, who, "create_recurring", {"order_id": big["id"], "frequency": "weekdays",
                                                "starts_on": start.isoformat(), "time_of_day": "10:00",
                                                "submit": True})
    at = datetime.combine(start, datetime.min.time(), timezone.utc) + timedelta(hours=8)
    monkeypatch.setattr(recurring, "utcnow", lambda: at)
    call(factory, CallerContext(role=SERVICE), "book_recurring", billing=asking(billing))
    with factory() as session:
        booked = {o.created_by: o.status for o in session.scalars(select(Order).where(Order.source == "recurring"))}
        roles = {s.created_by: s.created_by_role for s in session.scalars(select(RecurringOrder))}
    assert booked == {booker.user_id: "pending_approval", people[CUSTOMER_ADMIN].user_id: "submitted"}
    assert roles == {booker.user_id: CUSTOMER_BOOKER, people[CUSTOMER_ADMIN].user_id: CUSTOMER_ADMIN}


def test_a_recurring_day_whose_price_cannot_be_checked_is_tried_again(factory, billing, monkeypatch):
    monkeypatch.setenv("PORTAL_TIMEZONE", "UTC")
    monkeypatch.setenv("ORDERS_RECURRING_LEAD_HOURS", "24")
    people = company(factory)
    booker = people[CUSTOMER_BOOKER]
    big = call(factory, booker, "create_order", packages(5))
    start = repeat.next_working_day(repeat.today())
    call(factory, booker, "create_recurring", {"order_id": big["id"], "frequency": "weekdays",
                                               "starts_on": start.isoformat(), "time_of_day": "10:00",
                                               "submit": True})
    at = datetime.combine(start, datetime.min.time(), timezone.utc) + timedelta(hours=8)
    monkeypatch.setattr(recurring, "utcnow", lambda: at)
    call(factory, CallerContext(role=SERVICE), "book_recurring")                 # billing away
    with factory() as session:
        assert session.scalar(select(RecurringOrder)).next_on == start           # the day waits
        assert not session.scalars(select(Order).where(Order.source == "recurring")).all()
    call(factory, CallerContext(role=SERVICE), "book_recurring", billing=asking(billing))
    with factory() as session:
        [order] = session.scalars(select(Order).where(Order.source == "recurring")).all()
        assert order.status == "pending_approval"


def test_an_import_submitted_by_a_booker_holds_the_rows_above_the_limit(factory, billing, tmp_path, monkeypatch):
    from services.common.blobs import blob_store, reset_blob_store
    from services.orders.import_worker import Worker

    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    reset_blob_store()
    people = company(factory)
    rows = ("Order ID,Street,Town,Postcode,Recipient,Packages\n"
            "I-1,1 High St,York,YO1 1AA,Ann,3\n"
            "I-2,2 High St,York,YO1 1AB,Bob,5\n")
    stored = blob_store().put_bytes(rows.encode(), prefix="imports")
    call(factory, people[CUSTOMER_BOOKER], "start_import",
         {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": "o.csv"}, {"submit": True})
    worker = Worker(str(factory.kw["bind"].url), checkers=0)
    try:
        # Billing away: the batch is rolled back and the job waits for its lease to run out,
        # to be tried again, instead of failing the whole file.
        worker.pricer = approval.billing_pricer(billing_down)
        assert worker.run_once()
        with factory() as session, session.begin():
            job = session.scalar(select(Import))
            assert job.status == "running" and job.created == 0 and job.failure is None
            assert not session.scalars(select(Order).where(Order.source == "import")).all()
            job.lease_until = datetime.now(timezone.utc) - timedelta(seconds=1)
        worker.pricer = approval.billing_pricer(asking(billing))       # in place of its RPC client
        while worker.run_once():
            pass
    finally:
        worker.engine.dispose()
        reset_blob_store()
    with factory() as session:
        found = {o.reference: o.status for o in session.scalars(select(Order).where(Order.source == "import"))}
    assert found == {"I-1": "submitted", "I-2": "pending_approval"}
    [asked] = events(factory, "order.approval_requested")
    assert asked["data"]["reference"] == "I-2" and asked["data"]["created_by"] == people[CUSTOMER_BOOKER].user_id


def test_the_limit_rule_itself():
    assert not approval.above({"total": {"amount": "100.00", "currency": "EUR"}}, EUR_100)     # at the limit
    assert approval.above({"total": {"amount": "100.01", "currency": "EUR"}}, EUR_100)
    assert approval.above({"total": {"amount": "1.00", "currency": "USD"}}, EUR_100)
    assert approval.above(None, EUR_100) and approval.above({"total": None}, EUR_100)
    assert json.dumps(approval.preview_payload(
        {"kind": "delivery", "pickup_at": datetime(2026, 12, 1, tzinfo=timezone.utc), "passengers": None,
         "vehicle_type": None, "rental_start": None, "rental_end": None},
        [{"position": 0, "type": "dropoff", "address": {"line1": "x"}, "lat": None, "lng": None,
          "window_start": None, "window_end": None}],
        [{"position": 0, "description": "Box", "quantity": 1, "weight_kg": None, "length_cm": None,
          "width_cm": None, "height_cm": None}]))


# --- notify: who is told -------------------------------------------------------------------
@pytest.fixture
def notify(tmp_path, monkeypatch):
    """The notify service's database (its tests' helpers drive it)."""
    from services.notify.models import Base as NotifyBase

    monkeypatch.setenv("PORTAL_URL", "https://portal.example")
    engine = create_engine(f"sqlite:///{tmp_path}/notify.db")
    NotifyBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def test_notify_tells_the_admins_of_a_request_and_the_booker_of_the_decision(notify):
    from services.notify.models import EmailMessage, Notification
    from tests.unit.test_notify import customer as notify_customer
    from tests.unit.test_notify import hear, rows, user

    acme, other = notify_customer(notify, "Acme"), notify_customer(notify, "Other")
    boss = user(notify, acme, "boss@acme.example", CUSTOMER_ADMIN)
    booker = user(notify, acme, "bo@acme.example", CUSTOMER_BOOKER)
    stranger = user(notify, other, "boss@other.example", CUSTOMER_ADMIN)
    order = {"order_id": str(uuid.uuid4()), "reference": "BIG-1", "kind": "delivery"}
    hear(notify, "order.approval_requested", acme, {
        **order, "status": "pending_approval", "customer_id": acme, "total": {"amount": "121.00", "currency": "EUR"},
        "limit": EUR_100, "created_by": booker.user_id})
    [notice] = rows(notify, Notification)                      # the admin only: not the booker, not another's
    assert notice.user_id == boss.user_id and notice.title == "Order BIG-1 waits for your approval"
    assert notice.link == f"/orders/{order['order_id']}"
    [mail] = rows(notify, EmailMessage)
    assert mail.to_address == "boss@acme.example" and mail.kind == "order_approval_requested"
    assert stranger.user_id not in {n.user_id for n in rows(notify, Notification)}

    # The booker's own withdrawal tells nobody; the admin's decision tells the booker.
    hear(notify, "order.status_changed", acme, {**order, "status": "draft", "previous_status": "pending_approval"})
    assert len(rows(notify, Notification)) == 1
    hear(notify, "order.status_changed", acme, {
        **order, "status": "draft", "previous_status": "pending_approval", "decided_by": boss.user_id,
        "created_by": booker.user_id, "reason": "Too dear"})
    told = rows(notify, Notification, user_id=booker.user_id)
    assert [n.title for n in told] == ["Order BIG-1 was declined: Too dear"]
    assert {m.to_address for m in rows(notify, EmailMessage, kind="order_approval_decided")} == {"bo@acme.example"}
