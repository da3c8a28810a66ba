"""The orders service's rules, through its entrypoints (nameko's worker_factory) on a real
SQLite database, no broker: orders and their status machine, lists, dispatch, conversations,
rentals, reschedules, quotes and the address book."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from services.common.caller import (API_KEY, CUSTOMER_ADMIN, CUSTOMER_BOOKER, DISPATCHER,
                                    OPERATOR_ADMIN, CallerContext)
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.orders.models import Base, Order, StatusChange
from services.orders.service import Service
from tests.unit.conftest import run_entrypoint

OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op-1")
DISPATCH = CallerContext(role=DISPATCHER, user_id="op-2")


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/orders.db")
    Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def call(factory, caller, method, *args, **kwargs):
    """An orders entrypoint, as one worker."""
    return run_entrypoint(Service, Base, factory, caller, method, *args, **kwargs)


def events(factory, event_type=None):
    with factory() as session:
        rows = session.scalars(select(Base.OutboxMessage).order_by(Base.OutboxMessage.seq)).all()
        found = [json.loads(r.body) for r in rows]
    return [e for e in found if event_type is None or e["type"] == event_type]


def customer(factory, **settings):
    customer_id = str(uuid.uuid4())
    data = {"customer_id": customer_id, "name": f"Customer {customer_id[:4]}",
            "client_id": uuid.uuid4().hex[:7].upper(), "is_active": True, "has_portal_access": True,
            "require_dimensions": False, "location_sharing": "exact", "allow_order_upload": True,
            "default_depot_id": None, **settings}
    call(factory, CallerContext(role="service"), "keep_customer_settings",
         {"id": str(uuid.uuid4()), "type": "customer.created", "data": data})
    return CallerContext(role=CUSTOMER_ADMIN, user_id=str(uuid.uuid4()), customer_id=customer_id)


def delivery(reference=None, **extra):
    body = {"kind": "delivery", "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Road", "city": "Leeds", "country": "gb"}},
        {"type": "dropoff", "address": {"line1": "22 Acacia Avenue", "city": "York", "postal_code": "YO1 7HH"},
         "contact": {"name": "Ada Lovelace", "phone": "+44 1904 000000", "email": "ada@example.com"},
         "window_start": "2026-12-01T09:00:00+00:00", "window_end": "2026-12-01T12:00:00+00:00"}],
        "items": [{"description": "Boxes", "quantity": 3, "weight_kg": "12.5"}], **extra}
    if reference:
        body["reference"] = reference
    return body


def test_a_draft_order_has_its_stops_items_history_and_event(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery("PO-1", notes="Ring twice"))
    assert order["status"] == "draft" and order["reference"] == "PO-1"
    assert [s["type"] for s in order["stops"]] == ["pickup", "dropoff"]
    assert order["stops"][0]["address"]["country"] == "GB"
    assert order["items"][0]["weight_kg"] == "12.500" and order["items"][0]["quantity"] == 3
    assert order["history"][0]["to_status"] == "draft" and order["history"][0]["by_user_id"] == alice.user_id
    assert set(order["allowed_actions"]) == {"edit", "submit", "cancel"}
    created = events(factory, "order.created")
    assert created[-1]["customer_id"] == alice.customer_id and created[-1]["data"]["order_id"] == order["id"]


def test_dimensions_are_required_when_the_customer_says_so(factory):
    strict = customer(factory, require_dimensions=True)
    with pytest.raises(ValidationFailed) as refused:
        call(factory, strict, "create_order", delivery())
    fields = refused.value.details["fields"]["items"]["0"] if "0" in refused.value.details["fields"]["items"] \
        else refused.value.details["fields"]["items"][0]
    assert set(fields) == {"length_cm", "width_cm", "height_cm"}     # weight was given
    with pytest.raises(ValidationFailed) as nothing:
        call(factory, strict, "create_order", {**delivery(), "items": []})
    assert "items" in nothing.value.details["fields"]
    body = delivery()
    body["items"][0].update(length_cm="40", width_cm="30", height_cm="20.5")
    assert call(factory, strict, "create_order", body)["items"][0]["height_cm"] == "20.5"
    assert events(factory, "order.created")   # nothing was written by the refused one but this


def test_bad_input_is_a_clear_422_naming_the_fields(factory):
    alice = customer(factory)
    body = delivery()
    body["stops"][1].update(lat=123, window_end="2026-12-01T08:00:00+00:00")
    body["items"][0]["quantity"] = 0
    body["status"] = "delivered"                       # not a field anyone may set
    with pytest.raises(ValidationFailed) as refused:
        call(factory, alice, "create_order", body)
    fields = refused.value.details["fields"]
    assert "status" in fields and "stops" in fields and "items" in fields
    assert call(factory, alice, "list_orders", {})["total"] == 0


def test_references_are_unique_per_customer_only(factory):
    alice, bob = customer(factory), customer(factory)
    call(factory, alice, "create_order", delivery("SAME"))
    with pytest.raises(ValidationFailed) as taken:
        call(factory, alice, "create_order", delivery("SAME"))
    assert "reference" in taken.value.details["fields"]
    assert call(factory, bob, "create_order", delivery("SAME"))["reference"] == "SAME"
    assert call(factory, alice, "create_order", delivery())["reference"].startswith("ORD-")


def test_idempotency_key_creates_once(factory):
    alice = customer(factory)
    first = call(factory, alice, "create_order", delivery("K-1"), idempotency_key="abc")
    again = call(factory, alice, "create_order", delivery("K-1"), idempotency_key="abc")
    assert again["id"] == first["id"]
    with pytest.raises(Conflict):
        call(factory, alice, "create_order", delivery("K-2"), idempotency_key="abc")


def test_another_customers_order_is_not_found(factory):
    alice, bob = customer(factory), customer(factory)
    order = call(factory, alice, "create_order", delivery())
    for method, args in (("get_order", ()), ("submit_order", ()), ("withdraw_order", ()),
                         ("cancel_order", ()), ("update_order", ({"notes": "x"},)),
                         ("order_messages", ()), ("post_order_message", ({"body": "hi"},)),
                         ("list_documents", ())):
        with pytest.raises(NotFound):
            call(factory, bob, method, order["id"], *args)
    assert call(factory, bob, "list_orders", {})["total"] == 0
    assert call(factory, bob, "submit_orders", {"ids": [order["id"]]})["errors"][0]["code"] == "not_found"
    assert call(factory, alice, "get_order", order["id"])["status"] == "draft"


def test_only_drafts_can_be_edited_and_withdraw_stops_at_scheduling(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    assert order["status"] == "submitted" and order["allowed_actions"] == ["withdraw", "cancel", "reschedule"]
    # staff read the same order with only what the gateway lets staff do
    assert call(factory, OPERATOR, "get_order", order["id"])["allowed_actions"] == ["cancel"]
    with pytest.raises(Conflict) as refused:
        call(factory, alice, "update_order", order["id"], {"notes": "late change"})
    assert refused.value.details["status"] == "submitted"
    assert call(factory, alice, "withdraw_order", order["id"])["status"] == "draft"
    edited = call(factory, alice, "update_order", order["id"], {"notes": "fixed", "items": [
        {"description": "Pallet", "quantity": 1}]})
    assert edited["notes"] == "fixed" and [i["description"] for i in edited["items"]] == ["Pallet"]
    call(factory, alice, "submit_order", order["id"])
    route = call(factory, OPERATOR, "create_route", {"name": "North", "day": "2026-12-01"})
    call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    with pytest.raises(Conflict) as late:
        call(factory, alice, "withdraw_order", order["id"])
    assert late.value.details["status"] == "scheduled"
    types = [e["type"] for e in events(factory) if e["data"].get("order_id") == order["id"]]
    assert types.count("order.status_changed") == 4 and "order.withdrawn" in types
    assert "order.scheduled" in types


def test_the_whole_way_to_delivered_with_proof_of_delivery(factory, tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    from services.common import blobs
    blobs.blob_store.cache_clear() if hasattr(blobs.blob_store, "cache_clear") else None
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    _driver(factory, "drv-1")
    route = call(factory, OPERATOR, "create_route", {"name": "R1", "day": "2026-12-01", "driver_id": "drv-1"})
    call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    scheduled = events(factory, "order.scheduled")[-1]["data"]
    assert scheduled["driver_id"] == "drv-1" and len(scheduled["stops"]) == 2
    started = call(factory, DISPATCH, "start_route", route["id"])
    assert started["status"] == "started" and started["orders"][0]["status"] == "in_transit"
    with pytest.raises(Conflict):
        call(factory, alice, "cancel_order", order["id"])
    photo = blobs.blob_store().put_bytes(_png(), prefix="pod")
    stops = call(factory, alice, "get_order", order["id"])["stops"]
    for stop in stops:
        call(factory, CallerContext(role="service"), "complete_stop", {
            "id": str(uuid.uuid4()), "type": "stop.completed", "customer_id": alice.customer_id,
            "data": {"order_id": order["id"], "stop_id": stop["id"], "driver_id": "drv-1",
                     "status": "completed", "completed_at": "2026-12-01T10:00:00+00:00",
                     "pod": {"recipient_name": "A. Lovelace", "comments": "front door",
                             "photos": [{"key": photo.key}] if stop["type"] == "dropoff" else []}}})
    done = call(factory, alice, "get_order", order["id"])
    assert done["status"] == "delivered"
    assert done["stops"][1]["pod"] == {"recipient_name": "A. Lovelace", "comments": "front door"}
    docs = call(factory, alice, "list_documents", order["id"])
    assert [d["kind"] for d in docs] == ["pod_photo"] and docs[0]["content_type"] == "image/png"
    assert call(factory, OPERATOR, "get_route", route["id"])["status"] == "finished"


def test_a_stop_event_from_a_driver_not_on_the_route_changes_nothing(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    _driver(factory, "drv-a")
    _driver(factory, "drv-b")
    route = call(factory, OPERATOR, "create_route", {"name": "R", "day": "2026-12-01", "driver_id": "drv-a"})
    call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    call(factory, DISPATCH, "start_route", route["id"])
    stop = call(factory, alice, "get_order", order["id"])["stops"][0]
    with pytest.raises(ValidationFailed):
        call(factory, CallerContext(role="service"), "complete_stop", {
            "id": str(uuid.uuid4()), "type": "stop.completed",
            "data": {"order_id": order["id"], "stop_id": stop["id"], "driver_id": "drv-b",
                     "status": "completed", "completed_at": "2026-12-01T10:00:00+00:00"}})
    assert call(factory, alice, "get_order", order["id"])["stops"][0]["status"] == "pending"


def test_tracking_etas_reach_the_stops_and_the_list_and_older_ones_are_dropped(factory):
    alice, bob = customer(factory), customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    first = call(factory, alice, "get_order", order["id"])["stops"][0]
    service = CallerContext(role="service")

    def eta(stop_id, when, occurred, late=False, customer_id=alice.customer_id):
        call(factory, service, "keep_stop_eta", {
            "id": str(uuid.uuid4()), "type": "stop.eta_changed", "customer_id": customer_id,
            "occurred_at": occurred, "data": {"order_id": order["id"], "stop_id": stop_id, "eta": when, "late": late}})

    eta(first["id"], "2026-12-01T10:30:00+00:00", "2026-12-01T09:00:00+00:00", late=True)
    eta(first["id"], "2026-12-01T09:45:00+00:00", "2026-12-01T08:00:00+00:00")     # older news: dropped
    eta(first["id"], "2026-12-01T07:00:00+00:00", "2026-12-01T09:30:00+00:00", customer_id=bob.customer_id)
    [row] = call(factory, alice, "list_orders", {})["items"]
    assert row["eta"].startswith("2026-12-01T10:30") and row["late"] is True
    assert call(factory, alice, "get_order", order["id"])["stops"][0]["eta"].startswith("2026-12-01T10:30")


def test_a_driver_drives_one_route_at_a_time(factory):
    alice = customer(factory)
    _driver(factory, "drv-one")
    first, second = (call(factory, OPERATOR, "create_route", {"name": name, "day": "2026-12-01", "driver_id": "drv-one"})
                     for name in ("Morning", "Afternoon"))
    for route in (first, second):
        order = call(factory, alice, "create_order", delivery(submit=True))
        call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    call(factory, DISPATCH, "start_route", first["id"])
    with pytest.raises(Conflict, match="still driving route Morning") as refused:
        call(factory, DISPATCH, "start_route", second["id"])
    assert refused.value.details["busy_route_id"] == first["id"]


def test_scheduling_is_all_or_nothing_and_the_unassigned_list(factory):
    alice = customer(factory)
    ready = call(factory, alice, "create_order", delivery(submit=True))
    draft = call(factory, alice, "create_order", delivery())
    unassigned = call(factory, DISPATCH, "list_orders", {"unassigned": "true"})
    assert [o["id"] for o in unassigned["items"]] == [ready["id"]]
    assert unassigned["items"][0]["customer_name"].startswith("Customer")
    route = call(factory, OPERATOR, "create_route", {"name": "R", "day": "2026-12-01"})
    with pytest.raises(Conflict) as refused:
        call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [ready["id"], draft["id"]]})
    assert refused.value.details["orders"][0]["id"] == draft["id"]
    assert call(factory, alice, "get_order", ready["id"])["status"] == "submitted"
    with pytest.raises(Conflict):
        call(factory, DISPATCH, "start_route", route["id"])          # no driver, no orders
    with pytest.raises(Forbidden):
        call(factory, alice, "create_route", {"name": "Mine", "day": "2026-12-01"})


def test_list_filters_search_sort_and_pages(factory):
    alice = customer(factory)
    for n in range(7):
        body = delivery(f"REF-{n:02d}", submit=n % 2 == 0)
        body["stops"][1]["contact"]["name"] = "Grace Hopper" if n == 3 else f"Person {n}"
        body["stops"][1]["address"]["city"] = "100% Town" if n == 5 else "York"
        call(factory, alice, "create_order", body)
    page = call(factory, alice, "list_orders", {"per_page": "3", "page": "2", "sort": "reference"})
    assert [o["reference"] for o in page["items"]] == ["REF-03", "REF-04", "REF-05"] and page["total"] == 7
    assert call(factory, alice, "list_orders", {"status": "submitted"})["total"] == 4
    assert call(factory, alice, "list_orders", {"status": ["draft", "submitted"]})["total"] == 7
    assert [o["reference"] for o in call(factory, alice, "list_orders", {"q": "grace"})["items"]] == ["REF-03"]
    assert [o["reference"] for o in call(factory, alice, "list_orders", {"q": "100%"})["items"]] == ["REF-05"]
    assert call(factory, alice, "list_orders", {"q": "ref-0"})["total"] == 7
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    assert call(factory, alice, "list_orders", {"created_from": future})["total"] == 0
    row = call(factory, alice, "list_orders", {"per_page": "1"})["items"][0]
    assert row["recipient"] and row["dropoff"].startswith("22 Acacia") and row["packages"] == 3
    with pytest.raises(ValidationFailed):
        call(factory, alice, "list_orders", {"sort": "password"})
    with pytest.raises(ValidationFailed):
        call(factory, alice, "list_orders", {"unassigned": "true"})      # an operator filter


def test_the_users_choice_of_columns_is_kept(factory):
    alice = customer(factory)
    colleague = CallerContext(role=CUSTOMER_BOOKER, user_id="u-2", customer_id=alice.customer_id)
    assert "reference" in call(factory, alice, "get_list_view")["columns"]
    call(factory, alice, "save_list_view", {"columns": ["status", "reference", "eta"], "sort": "-window_start"})
    assert call(factory, alice, "get_list_view")["columns"] == ["status", "reference", "eta"]
    assert call(factory, colleague, "get_list_view")["columns"] != ["status", "reference", "eta"]
    with pytest.raises(ValidationFailed):
        call(factory, alice, "save_list_view", {"columns": ["secret_column"]})


def test_submit_many_reports_each_order_it_left(factory):
    alice = customer(factory)
    drafts = [call(factory, alice, "create_order", delivery())["id"] for _ in range(3)]
    already = call(factory, alice, "create_order", delivery(submit=True))["id"]
    result = call(factory, alice, "submit_orders", {"ids": drafts + [already, "nope"]})
    assert len(result["submitted"]) == 3
    assert {e["id"]: e["code"] for e in result["errors"]} == {already: "conflict", "nope": "not_found"}


def test_reschedule_request_and_the_operators_answer(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    window = {"window_start": "2026-12-03T13:00:00+00:00", "window_end": "2026-12-03T15:00:00+00:00",
              "note": "nobody home on the 1st"}
    req = call(factory, alice, "request_reschedule", order["id"], window)
    with pytest.raises(Conflict):
        call(factory, alice, "request_reschedule", order["id"], window)
    assert call(factory, OPERATOR, "list_reschedules", {"status": "requested"})["total"] == 1
    decided = call(factory, DISPATCH, "decide_reschedule", req["id"], {"accept": True})
    assert decided["status"] == "accepted"
    dropoff = call(factory, alice, "get_order", order["id"])["stops"][1]
    assert dropoff["window_start"].startswith("2026-12-03T13:00")
    with pytest.raises(Forbidden):
        call(factory, alice, "decide_reschedule", req["id"], {"accept": False})


def test_a_rescheduled_order_on_a_route_tells_tracking_its_new_window(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    _driver(factory, "drv-w")
    route = call(factory, OPERATOR, "create_route", {"name": "W", "day": "2026-12-01", "driver_id": "drv-w"})
    call(factory, DISPATCH, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    req = call(factory, alice, "request_reschedule", order["id"], {
        "window_start": "2026-12-04T08:00:00+00:00", "window_end": "2026-12-04T09:00:00+00:00"})
    call(factory, DISPATCH, "decide_reschedule", req["id"], {"accept": True})
    announced = [e["data"] for e in events(factory, "order.scheduled") if e["data"]["order_id"] == order["id"]]
    assert len(announced) == 2 and announced[-1]["stops"][1]["window_start"].startswith("2026-12-04T08:00")


def test_conversations_about_an_order_and_support(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery())
    call(factory, alice, "post_order_message", order["id"], {"body": "Can you come before 10?"})
    call(factory, DISPATCH, "post_order_message", order["id"], {"body": "Yes, 9:30."})
    thread = call(factory, alice, "order_messages", order["id"])
    assert [m["author_side"] for m in thread] == ["customer", "operator"]
    posted = events(factory, "message.posted")
    assert posted[-1]["data"]["author_side"] == "operator" and posted[-1]["customer_id"] == alice.customer_id
    support = call(factory, alice, "open_conversation", {"subject": "Invoice address", "body": "Please update"})
    assert support["order_id"] is None and support["message_count"] == 1
    call(factory, OPERATOR, "set_conversation_status", support["id"], {"status": "closed"})
    reopened = call(factory, alice, "post_message", support["id"], {"body": "One more thing"})
    assert call(factory, alice, "get_conversation", support["id"])["status"] == "open" and reopened["body"]
    assert call(factory, alice, "list_conversations", {"about": "support"})["total"] == 1
    assert call(factory, OPERATOR, "list_conversations", {})["total"] == 2
    bob = customer(factory)
    with pytest.raises(NotFound):
        call(factory, bob, "get_conversation", support["id"])
    assert call(factory, bob, "list_conversations", {})["total"] == 0


def test_rentals_and_call_offs(factory):
    alice = customer(factory)
    contract = call(factory, OPERATOR, "create_rental", {
        "customer_id": alice.customer_id, "starts_on": "2026-11-01", "site": "Building site 4",
        "items": [{"item": "SCAF-10", "description": "Scaffold tower", "quantity_out": 5},
                  {"item": "GEN-2", "description": "Generator", "quantity_out": 1}]})
    listed = call(factory, alice, "list_rentals", {})
    assert listed["total"] == 1 and listed["items"][0]["items"][0]["quantity_out"] == 5
    tower, generator = contract["items"]
    with pytest.raises(ValidationFailed):
        call(factory, alice, "request_call_off", contract["id"], {
            "off_on": "2026-12-01", "lines": [{"rental_item_id": tower["id"], "quantity": 6}]})
    first = call(factory, alice, "request_call_off", contract["id"], {
        "off_on": "2026-12-01", "contact": {"name": "Site manager", "phone": "+44 7000 000000"},
        "lines": [{"rental_item_id": tower["id"], "quantity": 5}]})
    with pytest.raises(ValidationFailed):     # the 5 are already asked for
        call(factory, alice, "request_call_off", contract["id"], {
            "off_on": "2026-12-01", "lines": [{"rental_item_id": tower["id"], "quantity": 1}]})
    assert call(factory, alice, "get_rental", contract["id"])["items"][0]["pending_call_off"] == 5
    call(factory, OPERATOR, "decide_call_off", first["id"], {"accept": True})
    second = call(factory, alice, "request_call_off", contract["id"], {
        "off_on": "2026-12-02", "lines": [{"rental_item_id": generator["id"], "quantity": 1}]})
    call(factory, DISPATCH, "decide_call_off", second["id"], {"accept": True})
    closed = call(factory, alice, "get_rental", contract["id"])
    assert closed["status"] == "closed" and [i["quantity_out"] for i in closed["items"]] == [0, 0]
    with pytest.raises(NotFound):
        call(factory, customer(factory), "get_rental", contract["id"])


def quote_accepted(customer_id, quote_id, order_id=None, order=None, total=None, **extra):
    """A ``quote.accepted`` envelope as billing publishes it, checked against the catalogue."""
    from services.common.events import make_envelope
    return make_envelope("quote.accepted", {
        "quote_id": quote_id, "number": f"Q-2026-{quote_id[-4:]}", "status": "accepted", "total": total,
        "valid_until": "2026-12-31T00:00:00+00:00", "order_id": order_id, "order": order, **extra},
        customer_id, occurred_at=datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc))


def test_an_accepted_quote_becomes_one_booking(factory):
    alice = customer(factory)
    event = quote_accepted(alice.customer_id, "q-0001", order={
        "kind": "booking", "pickup_at": "2026-12-05T08:00:00+00:00", "passengers": 40,
        "vehicle_type": "coach", "stops": [{"type": "pickup", "address": {"line1": "School"}},
                                           {"type": "dropoff", "address": {"line1": "Zoo"}}]},
        total={"amount": "480.00", "currency": "EUR"})
    call(factory, CallerContext(role="service"), "book_accepted_quote", event)
    call(factory, CallerContext(role="service"), "book_accepted_quote", {**event, "id": str(uuid.uuid4())})
    booked = call(factory, alice, "list_orders", {})
    assert booked["total"] == 1 and booked["items"][0]["status"] == "submitted"
    assert booked["items"][0]["price_total"] == {"amount": "480.00", "currency": "EUR"}
    order = call(factory, alice, "get_order", booked["items"][0]["id"])
    assert order["quote_id"] == "q-0001" and order["source"] == "quote"
    assert order["price"] == {"currency": "EUR", "total": {"amount": "480.00", "currency": "EUR"},
                              "source": "quote", "quote_number": "Q-2026-0001"}
    [submitted] = events(factory, "order.submitted")
    assert submitted["data"]["quote_id"] == "q-0001"
    assert submitted["data"]["content"]["pickup_at"] == "2026-12-05T08:00:00+00:00"
    assert submitted["data"]["content"]["passengers"] == 40


def test_saved_places_fill_stops(factory):
    alice, bob = customer(factory), customer(factory)
    site = call(factory, alice, "create_place", {"name": "Main warehouse", "kind": "pickup",
                                                 "address": {"line1": "5 Dock St", "city": "Hull"},
                                                 "contact": {"name": "Gate", "phone": "+44 1482 000"}})
    body = delivery()
    body["stops"][0] = {"type": "pickup", "place_id": site["id"]}
    order = call(factory, alice, "create_order", body)
    assert order["stops"][0]["address"]["line1"] == "5 Dock St" and order["stops"][0]["contact"]["name"] == "Gate"
    with pytest.raises(ValidationFailed):
        call(factory, bob, "create_order", body)                 # not bob's place
    with pytest.raises(ValidationFailed):
        call(factory, alice, "create_place", {"name": "Main warehouse", "address": {"line1": "x"}})
    assert call(factory, alice, "list_places", {"q": "ware"})["total"] == 1
    assert call(factory, bob, "list_places", {})["total"] == 0


def test_a_customer_not_yet_known_or_inactive_cannot_order(factory):
    ghost = CallerContext(role=API_KEY, user_id="k", customer_id=str(uuid.uuid4()))
    with pytest.raises(Exception) as refused:
        call(factory, ghost, "create_order", delivery())
    assert refused.value.code == "service_unavailable"
    sleepy = customer(factory, is_active=False)
    with pytest.raises(Forbidden):
        call(factory, sleepy, "create_order", delivery())
    with pytest.raises(ValidationFailed):
        call(factory, OPERATOR, "create_order", delivery())      # staff must name the customer


def test_every_status_change_is_recorded(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    call(factory, alice, "cancel_order", order["id"], {"reason": "no longer needed"})
    with factory() as session:
        moves = [(c.from_status, c.to_status, c.note) for c in session.scalars(
            select(StatusChange).where(StatusChange.order_id == order["id"]).order_by(StatusChange.id))]
    assert moves == [(None, "draft", None), ("draft", "submitted", None),
                     ("submitted", "cancelled", "no longer needed")]


def _driver(factory, driver_id):
    call(factory, CallerContext(role="service"), "keep_drivers", {
        "id": str(uuid.uuid4()), "type": "driver.created",
        "data": {"driver_id": driver_id, "name": f"Driver {driver_id}", "is_active": True}})


def _png():
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_kept_counts_match_the_orders_through_every_move(factory):
    alice = customer(factory)
    ids = [call(factory, alice, "create_order", delivery(submit=n % 2 == 0))["id"] for n in range(6)]
    call(factory, alice, "submit_orders", {"ids": ids})
    call(factory, alice, "withdraw_order", ids[0])
    call(factory, alice, "cancel_order", ids[1])
    with pytest.raises(Conflict):                       # a refused move changes no count
        call(factory, alice, "withdraw_order", ids[1])
    with factory() as session:
        actual = dict(session.execute(select(Order.status, func.count()).where(
            Order.customer_id == alice.customer_id).group_by(Order.status)).all())
    for status_name, n in actual.items():
        page = call(factory, alice, "list_orders", {"status": status_name})
        assert page["total"] == n and page["total_exact"]
    assert call(factory, alice, "list_orders", {})["total"] == 6
    searched = call(factory, alice, "list_orders", {"q": "acacia"})
    assert searched["total"] == 6 and searched["total_exact"]


# --- pricing: what billing is told to price, and the price it announces ---------------------------
def located(reference=None, **extra):
    """A delivery with coordinates and windows on its stops and one item without a weight."""
    body = delivery(reference, **extra)
    body["stops"][0].update(lat=53.7997, lng=-1.5492, window_start="2026-12-01T07:00:00+01:00",
                            window_end="2026-12-01T08:00:00+01:00")
    body["stops"][1].update(lat=53.959, lng=-1.0815)
    body["items"].append({"description": "Envelopes", "quantity": 2})
    return body


LOCATED_CONTENT = {
    "kind": "delivery", "pickup_at": None, "rental_start": None, "rental_end": None, "passengers": None,
    "vehicle_type": None,
    "stops": [{"type": "pickup", "lat": 53.7997, "lng": -1.5492,          # times in UTC, as stored
               "window_start": "2026-12-01T06:00:00+00:00", "window_end": "2026-12-01T07:00:00+00:00"},
              {"type": "dropoff", "lat": 53.959, "lng": -1.0815,
               "window_start": "2026-12-01T09:00:00+00:00", "window_end": "2026-12-01T12:00:00+00:00"}],
    "items": [{"quantity": 3, "weight_kg": "12.500"}, {"quantity": 2, "weight_kg": None}]}


def submitted_content(factory, order_id):
    [event] = [e for e in events(factory, "order.submitted") if e["data"]["order_id"] == order_id]
    return event["data"]["content"]


def test_submitting_tells_billing_what_to_price_one_many_or_at_once(factory):
    alice = customer(factory)
    one = call(factory, alice, "create_order", located())
    call(factory, alice, "submit_order", one["id"])
    assert submitted_content(factory, one["id"]) == LOCATED_CONTENT
    many = [call(factory, alice, "create_order", located())["id"] for _ in range(2)]
    assert len(call(factory, alice, "submit_orders", {"ids": many})["submitted"]) == 2
    for order_id in many:
        assert submitted_content(factory, order_id) == LOCATED_CONTENT
    at_once = call(factory, alice, "create_order", located(submit=True))
    assert submitted_content(factory, at_once["id"]) == LOCATED_CONTENT
    rental = call(factory, alice, "create_order", {
        "kind": "rental", "rental_start": "2026-12-01", "rental_end": "2026-12-14", "submit": True,
        "items": [{"description": "Scaffold tower", "quantity": 4, "weight_kg": "85"}]})
    content = submitted_content(factory, rental["id"])
    assert (content["rental_start"], content["rental_end"]) == ("2026-12-01", "2026-12-14")
    assert content["items"] == [{"quantity": 4, "weight_kg": "85.000"}] and content["stops"] == []
    # A draft withdrawn, edited and submitted again is priced from what it says now.
    call(factory, alice, "withdraw_order", one["id"])
    call(factory, alice, "update_order", one["id"], {"items": [{"description": "Pallet", "weight_kg": "400"}]})
    call(factory, alice, "submit_order", one["id"])
    again = [e for e in events(factory, "order.submitted") if e["data"]["order_id"] == one["id"]][-1]
    assert again["data"]["content"]["items"] == [{"quantity": 1, "weight_kg": "400.000"}]


def test_an_import_that_submits_tells_billing_what_to_price(factory, tmp_path, monkeypatch):
    from services.common.blobs import reset_blob_store
    from services.orders.import_worker import Worker
    from tests.unit.test_imports import HEADER, run_all, upload
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    reset_blob_store()
    worker = Worker(str(factory.kw["bind"].url), checkers=0)
    try:
        alice = customer(factory)
        rows = ("S-1,1 High St,York,YO1 1AA,Ann,,2,3.5,53.96,-1.08,\n"
                "S-2,2 High St,York,YO1 1AB,Bob,,1,,,,\n")
        job = call(factory, alice, "start_import", upload(HEADER + rows), {"submit": True})
        run_all(worker)
    finally:
        worker.engine.dispose()
        reset_blob_store()
    assert call(factory, alice, "get_import", job["id"])["created"] == 2
    by_reference = {e["data"]["reference"]: e["data"] for e in events(factory, "order.submitted")}
    assert set(by_reference) == {"S-1", "S-2"} and by_reference["S-1"]["status"] == "submitted"
    assert by_reference["S-1"]["content"]["stops"] == [
        {"type": "dropoff", "lat": 53.96, "lng": -1.08, "window_start": None, "window_end": None}]
    assert by_reference["S-1"]["content"]["items"] == [{"quantity": 2, "weight_kg": "3.500"}]
    assert by_reference["S-2"]["content"]["stops"][0]["lat"] is None
    assert by_reference["S-2"]["content"]["items"] == [{"quantity": 1, "weight_kg": None}]


PRICE = {"currency": "EUR", "rate_card_id": "rc-1",
         "lines": [{"code": "base_fee", "description": "Base fee", "quantity": "1", "unit": "order",
                    "unit_price": {"amount": "25", "currency": "EUR"}, "tax_rate": "20",
                    "net": {"amount": "25.00", "currency": "EUR"}, "tax": {"amount": "5.00", "currency": "EUR"},
                    "total": {"amount": "30.00", "currency": "EUR"}}],
         "net": {"amount": "25.00", "currency": "EUR"}, "tax": {"amount": "5.00", "currency": "EUR"},
         "total": {"amount": "30.00", "currency": "EUR"}, "notes": ["Distance unknown: priced without it."]}


def order_priced(customer_id, order_id, price, minutes):
    """An ``order.priced`` envelope as billing publishes it, ``minutes`` after a fixed moment."""
    from services.common.events import make_envelope
    at = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    return make_envelope("order.priced", {"order_id": order_id, "price": price}, customer_id, occurred_at=at)


def keep_price(factory, event):
    return call(factory, CallerContext(role="service"), "keep_order_price", event)


def test_the_price_billing_announces_is_shown_and_only_a_newer_one_replaces_it(factory):
    alice, bob = customer(factory), customer(factory)
    order = call(factory, alice, "create_order", located(submit=True))
    assert call(factory, alice, "get_order", order["id"])["price"] is None
    assert call(factory, alice, "list_orders", {})["items"][0]["price_total"] is None
    keep_price(factory, order_priced(alice.customer_id, order["id"], PRICE, minutes=10))
    shown = call(factory, alice, "get_order", order["id"])
    assert shown["price"] == PRICE and shown["priced_at"].startswith("2026-12-01T09:10:00")
    assert call(factory, alice, "list_orders", {})["items"][0]["price_total"] == PRICE["total"]
    cheaper = {**PRICE, "total": {"amount": "1.00", "currency": "EUR"}}
    keep_price(factory, order_priced(alice.customer_id, order["id"], cheaper, minutes=5))   # out of date
    keep_price(factory, order_priced(bob.customer_id, order["id"], cheaper, minutes=20))    # not bob's order
    with pytest.raises(ValidationFailed):                                                  # money as a float
        keep_price(factory, order_priced(alice.customer_id, order["id"],
                                         {**PRICE, "total": {"amount": 1.5, "currency": "EUR"}}, minutes=30))
    assert call(factory, alice, "get_order", order["id"])["price"] == PRICE
    keep_price(factory, order_priced(alice.customer_id, order["id"], cheaper, minutes=40))  # newer: kept
    assert call(factory, alice, "get_order", order["id"])["price"]["total"]["amount"] == "1.00"
    keep_price(factory, order_priced(alice.customer_id, order["id"], None, minutes=50))     # no rate card
    assert call(factory, alice, "get_order", order["id"])["price"] is None


def test_an_edit_of_what_an_order_costs_drops_its_price(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", located(submit=True))
    keep_price(factory, order_priced(alice.customer_id, order["id"], PRICE, minutes=10))
    call(factory, alice, "withdraw_order", order["id"])
    assert call(factory, alice, "update_order", order["id"], {"notes": "gate code 1234"})["price"] == PRICE
    edited = call(factory, alice, "update_order", order["id"],
                  {"items": [{"description": "Pallet", "weight_kg": "400"}]})
    assert edited["price"] is None
    assert call(factory, alice, "list_orders", {})["items"][0]["price_total"] is None


def test_an_accepted_quote_books_the_quoted_content_of_its_draft(factory):
    alice = customer(factory)
    draft = call(factory, alice, "create_order", delivery("QD-1", notes="side entrance"))
    quoted = located()
    quoted["items"] = [{"description": "Pallet", "quantity": 2, "weight_kg": "400"}]
    total = {"amount": "180.00", "currency": "EUR"}
    event = quote_accepted(alice.customer_id, "q-0042", order_id=draft["id"], order=quoted, total=total)
    call(factory, CallerContext(role="service"), "book_accepted_quote", event)
    booked = call(factory, alice, "get_order", draft["id"])
    assert booked["status"] == "submitted" and booked["quote_id"] == "q-0042"
    assert [(i["description"], i["quantity"], i["weight_kg"]) for i in booked["items"]] == \
        [("Pallet", 2, "400.000")]
    assert [(s["lat"], s["lng"]) for s in booked["stops"]] == [(53.7997, -1.5492), (53.959, -1.0815)]
    assert booked["notes"] == "side entrance" and booked["reference"] == "QD-1"
    assert booked["price"] == {"currency": "EUR", "total": total, "source": "quote", "quote_number": "Q-2026-0042"}
    assert booked["priced_at"].startswith("2026-12-01T08:00:00")
    content = submitted_content(factory, draft["id"])
    assert content["items"] == [{"quantity": 2, "weight_kg": "400.000"}]
    assert content["stops"] == LOCATED_CONTENT["stops"]
    assert booked["history"][-1]["note"] == "quote Q-2026-0042 accepted"
    # Billing then prices the booking from its quote (order.submitted names it), lines and all.
    assert [e["data"].get("quote_id") for e in events(factory, "order.submitted")
            if e["data"]["order_id"] == draft["id"]] == ["q-0042"]
    keep_price(factory, order_priced(alice.customer_id, draft["id"], PRICE, minutes=1))
    assert call(factory, alice, "get_order", draft["id"])["price"] == PRICE


def test_a_quote_accepted_after_its_draft_was_submitted_is_only_linked(factory):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery(submit=True))
    quoted = {**located(), "items": [{"description": "Pallet", "quantity": 9}]}
    call(factory, CallerContext(role="service"), "book_accepted_quote", quote_accepted(
        alice.customer_id, "q-0043", order_id=order["id"], order=quoted,
        total={"amount": "99.00", "currency": "EUR"}))
    linked = call(factory, alice, "get_order", order["id"])
    assert linked["quote_id"] == "q-0043" and linked["status"] == "submitted" and linked["price"] is None
    assert [i["description"] for i in linked["items"]] == ["Boxes"]
    assert len([e for e in events(factory, "order.submitted") if e["data"]["order_id"] == order["id"]]) == 1
    # Only order_id: the draft is submitted as it is (no content in the event to replace it).
    draft = call(factory, alice, "create_order", delivery())
    call(factory, CallerContext(role="service"), "book_accepted_quote",
         quote_accepted(alice.customer_id, "q-0044", order_id=draft["id"]))
    booked = call(factory, alice, "get_order", draft["id"])
    assert booked["status"] == "submitted" and booked["price"] is None
    assert [i["description"] for i in booked["items"]] == ["Boxes"]


@pytest.mark.parametrize("ref", ["depot_id", "driver_id"])
def test_an_empty_depot_or_driver_id_is_a_field_error_not_a_broken_foreign_key(factory, ref):
    """Found by Schemathesis: "" skipped the reference check and failed on insert (a 500)."""
    with pytest.raises(ValidationFailed) as refused:
        call(factory, OPERATOR, "create_route", {"name": "R", "day": "2026-12-01", ref: ""})
    assert ref in refused.value.details["fields"]


def test_a_rental_contract_needs_a_real_order_of_its_own(factory):
    """Found by Schemathesis: order_id "" was stored, and the second one broke the unique column."""
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery())
    contract = {"customer_id": alice.customer_id, "starts_on": "2026-11-01",
                "items": [{"item": "SCAF-10", "quantity_out": 1}]}
    with pytest.raises(ValidationFailed):
        call(factory, OPERATOR, "create_rental", {**contract, "order_id": ""})
    call(factory, OPERATOR, "create_rental", {**contract, "order_id": order["id"]})
    with pytest.raises(ValidationFailed, match="not valid|rental contract already") as refused:
        call(factory, OPERATOR, "create_rental", {**contract, "order_id": order["id"]})
    assert "order_id" in refused.value.details["fields"]
