"""The tracking rules on a real SQLite database, no broker: the orders' facts kept from events,
what each kind of viewer sees (privacy), tracking links, and one batch of driver messages."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from services.common.caller import CUSTOMER_BOOKER, OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import NotFound
from services.common.events import make_envelope
from services.tracking import assignments, links, retention, views
from services.tracking.batch import Batcher, Incoming
from services.tracking.driver_auth import CredentialCache
from services.tracking.models import Base, LatestPosition, PositionRecord, Rejection, TrackedStop

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ACME, OTHER = "cust-acme", "cust-other"
DRIVER, CREDENTIAL = "drv-1", "drv_abc_secret"
OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op")


def customer(cid):
    return CallerContext(role=CUSTOMER_BOOKER, user_id=f"user-{cid}", customer_id=cid)


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/tracking.db")
    Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def apply(factory, event_type, data, customer_id, occurred_at=None):
    event = make_envelope(event_type, data, customer_id, occurred_at=occurred_at)
    uow = UnitOfWork(factory, Base)
    if event_type.startswith("customer."):
        assignments.apply_customer_event(uow.session, event)
    else:
        assignments.apply_order_event(uow.session, event)
    uow.commit()
    uow.close()


def sharing(factory, cid, level):
    apply(factory, "customer.updated", {"customer_id": cid, "name": cid, "client_id": cid, "is_active": True,
                                        "has_portal_access": True, "require_dimensions": False,
                                        "location_sharing": level, "allow_order_upload": True}, cid)


def put_on_route(factory, order_id, cid, position, stops, status="in_transit"):
    apply(factory, "order.created", {"order_id": order_id, "reference": order_id.upper(), "status": "submitted"}, cid)
    apply(factory, "order.scheduled", {
        "order_id": order_id, "reference": None, "status": "scheduled", "route_id": "route-1", "driver_id": DRIVER,
        "route_position": position,
        "stops": [{"stop_id": f"{order_id}-s{i}", "type": kind, "position": i, "lat": lat, "lng": lng,
                   "window_start": None, "window_end": end.isoformat() if end else None}
                  for i, (kind, lat, lng, end) in enumerate(stops)]}, cid)
    if status == "in_transit":
        apply(factory, "order.status_changed", {"order_id": order_id, "status": "in_transit",
                                                "previous_status": "scheduled"}, cid)


def batcher(known=None):
    known = {CREDENTIAL: DRIVER} if known is None else known
    return Batcher(CredentialCache(lambda creds: {c: known.get(c) for c in creds}, ttl=60))


def location(lat=51.5, lng=-0.1, at=None, driver=DRIVER, credential=CREDENTIAL, tag=1, **extra):
    body = {"lat": lat, "lng": lng, "speed_mps": 10, "heading": 90, "accuracy_m": 7,
            "recorded_at": (at or NOW).isoformat(), **extra}
    return Incoming(tag, f"driver.{driver}.location", {"credential": credential}, json.dumps(body).encode())


def stop_report(order_id, stop_id, status, tag=1, driver=DRIVER, credential=CREDENTIAL, pod=None):
    body = {"order_id": order_id, "stop_id": stop_id, "status": status, "at": NOW.isoformat(), "pod": pod}
    return Incoming(tag, f"driver.{driver}.stop", {"credential": credential}, json.dumps(body).encode())


def run_batch(factory, b, messages, watched=frozenset()):
    uow = UnitOfWork(factory, Base)
    try:
        outcome = b.process(uow, messages, datetime.now(timezone.utc), set(watched))
        uow.commit()
        return outcome, uow
    finally:
        uow.close()


def outbox(factory, event_type):
    with factory() as session:
        rows = session.scalars(select(Base.OutboxMessage.body).where(Base.OutboxMessage.type == event_type)).all()
    return [json.loads(r)["data"] for r in rows]


def view(factory, caller, order_id):
    with factory() as session:
        return views.customer_view(views.seen_from_db(session, links.get_order(session, caller, order_id)))


# --- the orders' facts ---------------------------------------------------------------------------
def test_an_older_status_event_arriving_late_does_not_undo_a_newer_one(factory):
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.5, -0.1, None)])
    apply(factory, "order.status_changed", {"order_id": "o1", "status": "scheduled", "previous_status": "submitted"},
          ACME, occurred_at=NOW - timedelta(hours=1))
    assert view(factory, OPERATOR, "o1")["status"] == "in_transit"


def test_an_order_taken_off_its_route_loses_its_driver(factory):
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.5, -0.1, None)], status="scheduled")
    apply(factory, "order.status_changed", {"order_id": "o1", "status": "submitted", "previous_status": "scheduled"}, ACME)
    with factory() as session:
        assert session.scalar(select(TrackedStop.driver_id).where(TrackedStop.order_id == "o1")) is None


# --- privacy ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["exact", "approximate", "none"])
def test_each_sharing_level_shows_what_it_promises(factory, level):
    sharing(factory, ACME, level)
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    run_batch(factory, batcher(), [location(lat=51.50123, lng=-0.10456)])
    seen = view(factory, customer(ACME), "o1")["location"]
    if level == "exact":
        assert (seen["lat"], seen["lng"], seen["precision_m"]) == (51.50123, -0.10456, 7)
    elif level == "approximate":
        assert seen["precision_m"] >= 1000 and (seen["lat"], seen["lng"]) != (51.50123, -0.10456)
        assert seen["recorded_at"].endswith(":00+00:00")        # rounded to the minute
    else:
        assert seen is None


def test_a_customer_does_not_see_the_driver_while_it_serves_another_customer_first(factory):
    sharing(factory, ACME, "exact")
    sharing(factory, OTHER, "exact")
    put_on_route(factory, "first", OTHER, 0, [("dropoff", 51.6, -0.2, None)])
    put_on_route(factory, "mine", ACME, 1, [("dropoff", 51.7, -0.3, None)])
    b = batcher()
    run_batch(factory, b, [location()])
    assert view(factory, customer(ACME), "mine")["location"] is None
    assert view(factory, customer(OTHER), "first")["location"] is not None
    run_batch(factory, b, [stop_report("first", "first-s0", "completed", tag=1), location(at=NOW + timedelta(seconds=1), tag=2)])
    assert view(factory, customer(ACME), "mine")["location"] is not None


def test_no_location_once_the_order_is_no_longer_in_transit(factory):
    sharing(factory, ACME, "exact")
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    run_batch(factory, batcher(), [location()])
    apply(factory, "order.status_changed", {"order_id": "o1", "status": "delivered", "previous_status": "in_transit"}, ACME)
    assert view(factory, customer(ACME), "o1")["location"] is None


def test_another_customers_order_is_not_found(factory):
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    with pytest.raises(NotFound):
        view(factory, customer(OTHER), "o1")


def test_the_public_view_holds_status_etas_and_location_only(factory):
    sharing(factory, ACME, "exact")
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    run_batch(factory, batcher(), [location()])
    with factory() as session:
        public = views.public_view(views.seen_from_db(session, links.get_order(session, OPERATOR, "o1")))
    assert set(public) == {"status", "version", "stops", "location"}
    assert set(public["stops"][0]) == {"type", "status", "eta", "late", "arrived_at", "completed_at"}


# --- tracking links -----------------------------------------------------------------------------------
def test_a_link_opens_until_revoked_and_is_stored_hashed(factory):
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    with factory() as session, session.begin():
        made = links.create(session, customer(ACME), "o1", {"label": "shop"})
    assert len(made["token"]) >= 43 and made["url"].endswith("/t/" + made["token"])
    with factory() as session:
        assert links.resolve(session, made["token"]).order_id == "o1"
        stored = session.scalar(select(links.TrackingLink.token_hash))
        assert made["token"] not in stored
        with pytest.raises(NotFound):
            links.revoke(session, customer(OTHER), made["id"])
    with factory() as session, session.begin():
        links.revoke(session, customer(ACME), made["id"])
    with factory() as session, pytest.raises(NotFound):
        links.resolve(session, made["token"])


def test_a_link_expires_a_while_after_delivery(factory, monkeypatch):
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    with factory() as session, session.begin():
        token = links.create(session, OPERATOR, "o1", {})["token"]
    apply(factory, "order.status_changed", {"order_id": "o1", "status": "delivered", "previous_status": "in_transit"}, ACME)
    with factory() as session:
        assert links.resolve(session, token).order_id == "o1"        # within TRACKING_LINK_HOURS (72)
    monkeypatch.setenv("TRACKING_LINK_HOURS", "0")
    with factory() as session, pytest.raises(NotFound):
        links.resolve(session, token)


# --- a batch of driver messages ---------------------------------------------------------------------------
def test_forged_and_malformed_messages_are_rejected_with_reasons_and_counted(factory):
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    put_on_route(factory, "theirs", OTHER, 1, [("dropoff", 51.6, -0.2, None)])
    b = batcher({CREDENTIAL: DRIVER, "drv_other": "drv-2"})
    bad = [
        Incoming(1, f"driver.{DRIVER}.location", {"credential": CREDENTIAL}, b"{not json"),
        location(lat=91, tag=2),
        location(at=NOW + timedelta(hours=1), tag=3),
        location(at=NOW - timedelta(days=3), tag=4),
        location(credential="drv_forged", tag=5),
        location(credential="drv_other", tag=6),                        # drv-2 posing as drv-1
        Incoming(7, f"driver.{DRIVER}.location", {}, b'{"lat": 1, "lng": 1}'),
        stop_report("o1", "not-a-stop", "completed", tag=8),
        stop_report("o1", "o1-s0", "completed", tag=9, driver="drv-2", credential="drv_other"),
        Incoming(10, f"driver.{DRIVER}.location", {"credential": CREDENTIAL}, b'{"lat": "x", "lng": 1, "recorded_at": "2020"}'),
        location(tag=11),
    ]
    outcome, _ = run_batch(factory, b, bad)
    reasons = {tag: reason for tag, reason, _ in outcome.rejected}
    assert reasons == {1: "bad_json", 2: "out_of_range", 3: "future_timestamp", 4: "stale_timestamp",
                       5: "bad_credential", 6: "wrong_driver", 7: "missing_credential", 8: "not_on_route",
                       9: "not_on_route", 10: "invalid"}
    assert outcome.stored == 1
    with factory() as session:
        counts = dict(session.execute(select(Rejection.reason, Rejection.count)).all())
    assert sum(counts.values()) == 10 and counts["not_on_route"] == 2


def test_positions_out_of_order_never_move_the_driver_back(factory):
    sharing(factory, ACME, "exact")
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    b = batcher()
    run_batch(factory, b, [location(lat=51.52, at=NOW)])
    run_batch(factory, b, [location(lat=51.40, at=NOW - timedelta(minutes=5), tag=2),
                           location(lat=51.52, at=NOW, tag=3)])        # a late one and a repeat
    assert view(factory, customer(ACME), "o1")["location"]["lat"] == 51.52
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(PositionRecord)) == 2


def test_retention_deletes_old_history_and_an_old_latest_position_but_keeps_recent_ones(factory):
    """Location privacy: a driver who stopped reporting a month ago keeps no position anywhere
    (its latest position was kept forever before); a driver reporting now keeps its own."""
    b = batcher({CREDENTIAL: DRIVER, "cred-2": "drv-2"})
    run_batch(factory, b, [location(lat=51.52, at=NOW), location(lat=51.53, at=NOW, driver="drv-2",
                                                                 credential="cred-2", tag=2)])
    with factory() as session:       # drv-2's only report, and drv-1's first, become 31 days old
        for table in (PositionRecord, LatestPosition):
            for row in session.scalars(select(table)):
                if table is PositionRecord or row.driver_id == "drv-2":
                    row.recorded_at = row.recorded_at - timedelta(days=31)
        session.commit()
    run_batch(factory, b, [location(lat=51.54, at=NOW, tag=3)])
    assert retention.purge(UnitOfWork(factory, Base)) == 2
    with factory() as session:
        assert session.scalars(select(PositionRecord.driver_id)).all() == [DRIVER]
        assert session.scalars(select(LatestPosition.driver_id)).all() == [DRIVER]


def test_etas_follow_the_route_and_a_big_move_is_announced(factory):
    put_on_route(factory, "o1", ACME, 0, [("pickup", 51.51, -0.1, None),
                                          ("dropoff", 51.60, -0.1, NOW - timedelta(minutes=1))])
    b = batcher()
    run_batch(factory, b, [location(lat=51.50, lng=-0.1)])
    stops = view(factory, OPERATOR, "o1")["stops"]
    assert stops[0]["eta"] < stops[1]["eta"]
    assert stops[1]["late"] is True and stops[0]["late"] is False
    announced = outbox(factory, "stop.eta_changed")
    assert {e["stop_id"] for e in announced} == {"o1-s0", "o1-s1"}
    run_batch(factory, b, [location(lat=51.5001, lng=-0.1, at=NOW + timedelta(seconds=2), tag=2)])
    assert len(outbox(factory, "stop.eta_changed")) == 2           # a few metres: not announced again
    run_batch(factory, b, [location(lat=51.20, lng=-0.1, at=NOW + timedelta(seconds=4), tag=3)])
    assert len(outbox(factory, "stop.eta_changed")) == 2           # 30 km back, but within the minute
    assert view(factory, OPERATOR, "o1")["stops"][0]["eta"] > stops[0]["eta"]   # reads show it at once
    b.interval = 0                                                  # (TRACKING_ETA_MIN_INTERVAL_SECONDS)
    run_batch(factory, b, [location(lat=51.10, lng=-0.1, at=NOW + timedelta(seconds=6), tag=4)])
    assert len(outbox(factory, "stop.eta_changed")) == 4           # both moved: announced


def test_a_completed_stop_keeps_its_proof_and_is_announced_once(factory, tmp_path, monkeypatch):
    import base64

    from services.common.blobs import blob_store, reset_blob_store

    monkeypatch.setenv("BLOB_DIR", str(tmp_path / "blobs"))
    reset_blob_store()
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 100
    pod = {"recipient_name": "R. Cipient", "comments": "left at the door",
           "photos": [{"content_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}], "signature": None}
    b = batcher()
    for tag in (1, 2):      # the second is a redelivery of the same report
        outcome, _ = run_batch(factory, b, [stop_report("o1", "o1-s0", "completed", tag=tag, pod=pod)])
        assert outcome.rejected == []
    completed = outbox(factory, "stop.completed")
    assert len(completed) == 1 and completed[0]["pod"]["recipient_name"] == "R. Cipient"
    with blob_store().open(completed[0]["pod"]["photos"][0]["key"]) as stored:
        assert stored.read() == jpeg
    assert view(factory, OPERATOR, "o1")["stops"][0]["status"] == "completed"
    reset_blob_store()


def test_live_views_go_only_to_watched_orders(factory):
    sharing(factory, ACME, "approximate")
    put_on_route(factory, "o1", ACME, 0, [("dropoff", 51.6, -0.2, None)])
    put_on_route(factory, "o2", ACME, 1, [("dropoff", 51.6, -0.2, None)])
    outcome, _ = run_batch(factory, batcher(), [location()], watched={"o2", "elsewhere"})
    assert [order_id for order_id, _ in outcome.live] == ["o2"]
    assert views.customer_view(outcome.live[0][1])["location"]["precision_m"] >= 1000


def test_the_credential_cache_asks_once_per_credential_and_remembers_refusals():
    asked = []

    def lookup(creds):
        asked.append(sorted(creds))
        return {c: ("drv-1" if c == "good" else None) for c in creds}

    clock = [0.0]
    cache = CredentialCache(lookup, ttl=60, clock=lambda: clock[0])
    assert cache.drivers({"good", "bad"}) == {"good": "drv-1", "bad": None}
    assert cache.drivers({"good", "bad"}) == {"good": "drv-1", "bad": None}
    assert asked == [["bad", "good"]]
    clock[0] = 61
    cache.drivers({"good"})
    assert asked[-1] == ["good"]


def test_unknown_ids_are_not_found_not_errors(factory):
    with factory() as session:
        for bad in ("nope", "x" * 500, str(uuid.uuid4())):
            with pytest.raises(NotFound):
                links.get_order(session, OPERATOR, bad)
            with pytest.raises(NotFound):
                links.resolve(session, bad)


@pytest.mark.parametrize("body", [
    {"lat": 51.5, "lng": -0.1, "recorded_at": NOW.isoformat()},
    {"lat": 51.5, "lng": -0.1, "speed_mps": 3, "heading": 359.9, "accuracy_m": 4, "recorded_at": NOW.isoformat()},
    {"lat": -90, "lng": 180, "speed_mps": None, "recorded_at": NOW.isoformat()},
    {"lat": 90.01, "lng": 0, "recorded_at": NOW.isoformat()},
    {"lat": 1, "lng": -180.5, "recorded_at": NOW.isoformat()},
    {"lat": 1, "lng": 1, "speed_mps": -1, "recorded_at": NOW.isoformat()},
    {"lat": 1, "lng": 1, "heading": 361, "recorded_at": NOW.isoformat()},
    {"lat": 1, "lng": 1},
    {"lng": 1, "recorded_at": NOW.isoformat()},
    {"lat": "1", "lng": 1, "recorded_at": NOW.isoformat()},
    {"lat": True, "lng": 1, "recorded_at": NOW.isoformat()},
    {"lat": 1, "lng": 1, "recorded_at": "2026-12-01T10:00:00"},          # no offset
    {"lat": 1, "lng": 1, "recorded_at": "yesterday"},
    {"lat": 1, "lng": 1, "altitude_m": 40, "recorded_at": NOW.isoformat()},   # a newer app's extra field
])
def test_the_fast_position_reader_agrees_with_the_documented_schema(body):
    """The ingest worker reads positions by hand (``reports.read_location``) for speed; the
    schema in the AsyncAPI document (``LocationIn``) must refuse and accept the same."""
    from marshmallow import ValidationError

    from services.tracking.reports import Rejected, read_location, time_bounds
    from services.tracking.schemas import LocationIn

    try:
        LocationIn().load(body)
        schema_accepts = True
    except ValidationError:
        schema_accepts = False
    try:
        read_location("d", json.dumps(body).encode(), time_bounds(datetime.now(timezone.utc)))
        reader_accepts = True
    except Rejected:
        reader_accepts = False
    assert reader_accepts == schema_accepts


def test_the_event_document_describes_what_driver_apps_publish():
    from gateway.blueprints.meta import DRIVER_MESSAGES
    from services.common.events import asyncapi_document

    channels = asyncapi_document(DRIVER_MESSAGES)["channels"]
    location = channels["driver.{driver_id}.location"]
    assert location["bindings"]["amqp"]["exchange"]["name"] == "tracking.driver"
    assert set(location["publish"]["message"]["payload"]["required"]) == {"lat", "lng", "recorded_at"}
    assert "credential" in location["publish"]["message"]["headers"]["required"]
    assert "stop.completed" in channels and "subscribe" in channels["stop.completed"]
