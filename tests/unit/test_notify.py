"""The notify service's rules on a real SQLite database, no broker: who is told what (only the
event's customer, and the staff following it), preferences and unsubscribe links, the facts an
email needs (late once per slip, the proof of delivery), webhook payloads under the privacy rules,
and the two pumps against a real SMTP server (aiosmtpd) and a real HTTP receiver."""
import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker
from standardwebhooks import Webhook

from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_BOOKER, OPERATOR_ADMIN, SERVICE, CallerContext
from services.common.errors import NotFound, ValidationFailed
from services.notify import email_queue, payloads, preferences, webhooks
from services.notify.models import (Base, EmailMessage, Notification, WebhookDelivery, WebhookEndpoint)
from services.notify.service import Service
from tests.conftest import free_port
from tests.unit.conftest import run_entrypoint

SYSTEM = CallerContext(role=SERVICE)
STAFF = CallerContext(role=OPERATOR_ADMIN, user_id="staff-1")


@pytest.fixture
def factory(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_URL", "https://portal.example")
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("WEBHOOK_ALLOW_HTTP", "1")
    engine = create_engine(f"sqlite:///{tmp_path}/notify.db")
    Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def call(factory, caller, method, *args, identity=None, **kwargs):
    """One notify worker; ``identity`` answers its RPCs to identity (mail_content)."""
    return run_entrypoint(Service, Base, factory, caller, method, *args,
                          deps={"identity": identity or (lambda method, event: None)}, **kwargs)


def hear(factory, event_type, customer_id, data, identity=None):
    event = {"id": str(uuid.uuid4()), "type": event_type, "customer_id": customer_id, "version": 1,
             "occurred_at": datetime.now(timezone.utc).isoformat(), "data": data}
    call(factory, SYSTEM, "log_event", event, identity=identity)
    return event


def customer(factory, name, sharing="exact"):
    customer_id = str(uuid.uuid4())
    hear(factory, "customer.created", customer_id, {
        "customer_id": customer_id, "name": name, "client_id": "C1", "is_active": True, "has_portal_access": True,
        "require_dimensions": False, "location_sharing": sharing, "allow_order_upload": True})
    return customer_id


def user(factory, customer_id, email, role=CUSTOMER_BOOKER):
    user_id = str(uuid.uuid4())
    hear(factory, "user.activated", customer_id, {"user_id": user_id, "email": email, "role": role,
                                                  "customer_id": customer_id, "name": email.split("@")[0]})
    return CallerContext(role=role, user_id=user_id, customer_id=customer_id)


def staff(factory, email="dispatch@operator.example"):
    hear(factory, "user.activated", None, {"user_id": STAFF.user_id, "email": email, "role": OPERATOR_ADMIN,
                                           "customer_id": None, "name": "Dispatch"})
    return STAFF


def rows(factory, model, **where):
    with factory() as session:
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalars(query).all()


def status(factory, customer_id, order_id, to, reference="REF-1"):
    return hear(factory, "order.status_changed", customer_id,
                {"order_id": order_id, "reference": reference, "kind": "delivery", "status": to})


def test_an_event_reaches_only_its_customers_users_never_another_customer(factory):
    acme, other = customer(factory, "Acme"), customer(factory, "Other")
    ann, bob = user(factory, acme, "ann@acme.example"), user(factory, acme, "bob@acme.example")
    eve = user(factory, other, "eve@other.example")
    staff(factory)
    order_id = str(uuid.uuid4())
    status(factory, acme, order_id, "in_transit")

    told = {n.user_id for n in rows(factory, Notification)}
    assert told == {ann.user_id, bob.user_id}
    mailed = {e.to_address for e in rows(factory, EmailMessage)}
    assert mailed == {"ann@acme.example", "bob@acme.example"}
    assert eve.user_id not in told
    assert call(factory, eve, "list_notifications", {})["total"] == 0
    mine = call(factory, ann, "list_notifications", {})
    assert mine["unread"] == 1 and mine["items"][0]["title"] == "Order REF-1 is out for delivery"
    with pytest.raises(NotFound):
        call(factory, eve, "mark_read", mine["items"][0]["id"])


def test_a_user_limited_to_sites_hears_only_of_its_sites_orders(factory):
    acme = customer(factory, "Sited")
    everyone = user(factory, acme, "all@sited.example")
    north = user(factory, acme, "north@sited.example")
    hear(factory, "user.updated", acme, {"user_id": north.user_id, "email": "north@sited.example",
                                         "role": CUSTOMER_BOOKER, "customer_id": acme, "sites": ["NORTH"]})
    hq, lab, loose = (str(uuid.uuid4()) for _ in range(3))
    for order_id, site in ((hq, "NORTH"), (lab, "SOUTH"), (loose, None)):
        hear(factory, "order.status_changed", acme, {"order_id": order_id, "reference": f"R-{site}", "kind": "delivery",
                                                     "status": "in_transit", "site": site})
    # An event that names the order but not its site (a tracking event) is sited by notify's copy.
    hear(factory, "order.status_changed", acme, {"order_id": lab, "reference": "R-SOUTH", "kind": "delivery",
                                                 "status": "delivered"})
    told = {}
    for n in rows(factory, Notification):
        told.setdefault(n.user_id, set()).add(n.title)
    assert told[north.user_id] == {"Order R-NORTH is out for delivery"}
    assert len(told[everyone.user_id]) == 4


def test_new_terms_reach_every_customers_admins_in_their_own_feed(factory):
    acme, other = customer(factory, "Acme Terms"), customer(factory, "Other Terms")
    boss = user(factory, acme, "boss@terms-acme.example", role=CUSTOMER_ADMIN)
    chief = user(factory, other, "chief@terms-other.example", role=CUSTOMER_ADMIN)
    booker = user(factory, acme, "booker@terms-acme.example")
    staff(factory)
    hear(factory, "terms.published", None, {"version": 3, "sha256": "ab" * 32})
    told = {n.user_id: n.customer_id for n in rows(factory, Notification) if n.event_type == "terms.published"}
    assert told == {boss.user_id: acme, chief.user_id: other}        # each row in its own customer
    assert call(factory, boss, "list_notifications", {})["items"][0]["title"] == "New terms to sign: version 3"
    assert call(factory, booker, "list_notifications", {})["total"] == 0
    mailed = {e.to_address for e in rows(factory, EmailMessage) if e.kind == "terms_published"}
    assert mailed == {"boss@terms-acme.example", "chief@terms-other.example"}


def test_staff_hear_what_customers_they_follow_ask_and_not_the_rest(factory):
    acme, other = customer(factory, "Acme"), customer(factory, "Other")
    user(factory, acme, "ann@acme.example")
    me = staff(factory)
    call(factory, me, "follow", {"customer_id": acme})
    for customer_id in (acme, other):
        hear(factory, "message.posted", customer_id, {
            "conversation_id": str(uuid.uuid4()), "order_id": None, "message_id": "m", "author_role": CUSTOMER_BOOKER,
            "author_side": "customer", "subject": "Pallets", "preview": "Can you take 3 more?"})
    titles = [n["title"] for n in call(factory, me, "list_notifications", {})["items"]]
    assert titles == ["Acme wrote"]
    assert [e.to_address for e in rows(factory, EmailMessage)] == ["dispatch@operator.example"]
    with pytest.raises(NotFound):
        call(factory, me, "follow", {"customer_id": "no-such-customer"})


def test_preferences_default_change_and_are_respected(factory):
    acme = customer(factory, "Acme")
    ann = user(factory, acme, "ann@acme.example")
    choices = call(factory, ann, "get_preferences")
    assert choices["order.submitted"] == {"in_app": True, "email": False}
    assert choices["document.added"] == {"in_app": True}          # never emailed
    assert "quote.requested" not in choices                        # staff's, not a customer's
    with pytest.raises(ValidationFailed) as refused:
        call(factory, ann, "set_preferences", {"document.added": {"email": True}, "nope": {"in_app": False}})
    assert set(refused.value.details["fields"]) == {"document.added.email", "nope"}
    changed = call(factory, ann, "set_preferences", {"order.status_changed": {"in_app": False, "email": False},
                                                      "order.submitted": {"email": True}})
    assert changed["order.status_changed"] == {"in_app": False, "email": False}
    order_id = str(uuid.uuid4())
    status(factory, acme, order_id, "delivered")
    hear(factory, "order.submitted", acme, {"order_id": order_id, "reference": "REF-1", "status": "submitted"})
    assert [n.kind for n in rows(factory, Notification)] == ["order_submitted"]
    assert [e.kind for e in rows(factory, EmailMessage)] == ["order_submitted"]


def test_the_unsubscribe_link_works_without_signing_in_and_cannot_be_forged(factory):
    acme = customer(factory, "Acme")
    ann = user(factory, acme, "ann@acme.example")
    status(factory, acme, str(uuid.uuid4()), "failed")
    mail = rows(factory, EmailMessage)[0]
    link = mail.headers["List-Unsubscribe"].strip("<>")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = link.rsplit("/", 1)[1]
    anonymous = CallerContext(role="anonymous")
    assert call(factory, anonymous, "unsubscribe_info", token)["subscribed"] is True
    with pytest.raises(NotFound):
        call(factory, anonymous, "unsubscribe", token[:-2] + "xx")
    with pytest.raises(NotFound):       # a token for another user id cannot be made without the key
        call(factory, anonymous, "unsubscribe", preferences._signer().dumps(["someone", "x"])[:-4] + "abcd")
    call(factory, anonymous, "unsubscribe", token)
    assert call(factory, ann, "get_preferences")["order.status_changed"] == {"in_app": True, "email": False}
    call(factory, anonymous, "unsubscribe", token, True)
    assert not [c for c in call(factory, ann, "get_preferences").values() if c.get("email")]


def test_late_is_told_once_per_slip_and_delivered_carries_the_proof(factory):
    acme = customer(factory, "Acme")
    user(factory, acme, "ann@acme.example")
    order_id, stop_id = str(uuid.uuid4()), str(uuid.uuid4())
    hear(factory, "order.created", acme, {"order_id": order_id, "reference": "RTM-1", "status": "draft"})
    eta = {"order_id": order_id, "stop_id": stop_id, "eta": "2026-12-08T13:40:00+00:00"}
    for late in (True, True, False, True):
        hear(factory, "stop.eta_changed", acme, {**eta, "late": late})
    assert [n.kind for n in rows(factory, Notification)] == ["order_late", "order_late"]
    hear(factory, "stop.completed", acme, {**eta, "driver_id": "d1", "status": "completed",
                                           "completed_at": "2026-12-08T13:45:00+00:00",
                                           "pod": {"recipient_name": "Mo", "photos": [{"key": "k1"}, {"key": "k2"}],
                                                   "signature": {"key": "s"}}})
    status(factory, acme, order_id, "delivered", reference="RTM-1")
    delivered = [e for e in rows(factory, EmailMessage) if e.kind == "order_delivered"][0]
    assert "RTM-1" in delivered.subject and "Mo" in delivered.text and "2 photos" in delivered.text


def test_account_emails_carry_identitys_secret_and_forget_it_once_sent(factory, monkeypatch, tmp_path):
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    asked = []

    def identity(method, event):
        asked.append((method, event["type"]))
        return {"kind": "activation", "to": "new@acme.example", "name": "New", "user_id": "u9", "customer_id": "c",
                "context": {"email": "new@acme.example", "password": "s3cret-temp-pass", "sign_in_url": "https://p/"}}

    hear(factory, "user.created", "c", {"user_id": "u9", "email": "new@acme.example", "role": CUSTOMER_BOOKER,
                                        "customer_id": "c", "nonce": "n"}, identity=identity)
    hear(factory, "invite.sent", "c", {"invite_id": "i", "email": "x@acme.example", "customer_id": "c", "nonce": "n"},
         identity=lambda method, event: None)      # stale: identity says not any more
    assert asked == [("mail_content", "user.created")]
    [mail] = rows(factory, EmailMessage)
    assert mail.sensitive and "s3cret-temp-pass" in mail.text and "List-Unsubscribe" not in mail.headers
    assert call(factory, SYSTEM, "send_emails") is False
    [mail] = rows(factory, EmailMessage)
    assert mail.status == "sent" and mail.text is None and mail.html is None
    assert "s3cret-temp-pass" in next((tmp_path / "mail").glob("*.eml")).read_text()



def test_the_email_pump_retries_the_temporary_records_bounces_and_sends_the_rest(factory, monkeypatch):
    from aiosmtpd.controller import Controller

    class Picky:
        async def handle_RCPT(self, server, session, envelope, address, options):
            if address.startswith("gone@"):
                return "550 5.1.1 no such mailbox"
            if address.startswith("busy@"):
                return "451 4.3.0 try later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Picky(), hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    try:
        monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
        with factory() as session:
            for to in ("gone@acme.example", "busy@acme.example", "ann@acme.example"):
                email_queue.enqueue(session, "order_cancelled", to, {"order": {"id": "o" * 36, "reference": "R"}})
            session.commit()
        call(factory, SYSTEM, "send_emails")
    finally:
        controller.stop()
    found = {e.to_address: e for e in rows(factory, EmailMessage)}
    assert found["ann@acme.example"].status == "sent"
    assert found["gone@acme.example"].status == "bounced" and found["gone@acme.example"].last_code == 550
    busy = found["busy@acme.example"]
    assert busy.status == "queued" and busy.attempts == 1 and busy.last_code == 451
    assert busy.next_attempt_at > datetime.now(timezone.utc)      # not again at once
    assert call(factory, SYSTEM, "send_emails") is False           # nothing due now


class Receiver:
    def __init__(self, answer=200):
        self.got, self.answer = [], answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.got.append((self.path, dict(self.headers), body))
                self.send_response(outer.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()


def test_webhooks_reach_their_customer_and_the_operator_only_signed_and_private(factory, receiver):
    acme, other = customer(factory, "Acme"), customer(factory, "Other")
    ann = user(factory, acme, "ann@acme.example", CUSTOMER_ADMIN)
    eve = user(factory, other, "eve@other.example", CUSTOMER_ADMIN)
    mine = call(factory, ann, "create_webhook", {"url": f"{receiver.url}/acme", "events": ["order.scheduled"]})
    call(factory, eve, "create_webhook", {"url": f"{receiver.url}/other", "events": ["*"]})
    ops = call(factory, STAFF, "create_webhook", {"url": f"{receiver.url}/ops", "events": ["order.scheduled",
                                                                                       "customer.updated"]})
    with pytest.raises(ValidationFailed):
        call(factory, ann, "create_webhook", {"url": f"{receiver.url}/x", "events": ["customer.updated"]})
    assert mine["secret"].startswith("whsec_") and "secret" not in call(factory, ann, "get_webhook", mine["id"])
    with pytest.raises(NotFound):
        call(factory, eve, "get_webhook", mine["id"])
    order_id = str(uuid.uuid4())
    hear(factory, "order.scheduled", acme, {
        "order_id": order_id, "reference": "R", "status": "scheduled", "route_id": "route-9", "driver_id": "drv-7",
        "route_position": 4, "stops": [{"stop_id": "s1", "type": "dropoff", "position": 6, "lat": 52.1, "lng": 4.3}]})
    hear(factory, "user.updated", acme, {"user_id": ann.user_id, "email": "ann@acme.example", "role": CUSTOMER_ADMIN,
                                         "customer_id": acme, "nonce": "never out"})
    assert call(factory, SYSTEM, "deliver_webhooks") is False
    paths = sorted(path for path, _, _ in receiver.got)
    assert paths == ["/acme", "/ops"]          # not /other: another customer's endpoint
    _, headers, body = next(g for g in receiver.got if g[0] == "/acme")
    sent = Webhook(mine["secret"]).verify(body, headers)
    assert sent["type"] == "order.scheduled" and sent["data"]["stops"] == [
        {"stop_id": "s1", "type": "dropoff", "lat": 52.1, "lng": 4.3}]
    assert not {"driver_id", "route_id", "route_position"} & set(sent["data"])
    log = call(factory, ann, "webhook_deliveries", mine["id"], {})
    assert log["total"] == 1 and log["items"][0]["status"] == "succeeded"
    assert log["items"][0]["attempt_log"][0]["status_code"] == 200
    assert call(factory, STAFF, "list_webhooks", {})["total"] == 3
    assert call(factory, ann, "list_webhooks", {})["total"] == 1
    assert ops["customer_id"] is None


def test_a_failing_receiver_is_retried_then_disabled_and_its_owner_told(factory, receiver):
    acme = customer(factory, "Acme")
    ann = user(factory, acme, "ann@acme.example", CUSTOMER_ADMIN)
    hook = call(factory, ann, "create_webhook", {"url": f"{receiver.url}/h", "events": ["order.submitted"]})
    receiver.answer = 503
    hear(factory, "order.submitted", acme, {"order_id": str(uuid.uuid4()), "reference": "R", "status": "submitted"})
    call(factory, SYSTEM, "deliver_webhooks")
    [delivery] = rows(factory, WebhookDelivery)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 503
    assert delivery.next_attempt_at > datetime.now(timezone.utc)
    with factory() as session:          # the schedule has run out: this is its last attempt
        found = session.get(WebhookDelivery, delivery.id)
        found.attempts, found.next_attempt_at = 7, datetime.now(timezone.utc)
        session.commit()
    call(factory, SYSTEM, "deliver_webhooks")
    [delivery] = rows(factory, WebhookDelivery)
    assert delivery.status == "failed" and len({g[1]["webhook-id"] for g in receiver.got}) == 1
    endpoint = rows(factory, WebhookEndpoint)[0]
    assert not endpoint.enabled and "503" in endpoint.disabled_reason
    told = [e for e in rows(factory, EmailMessage) if e.kind == "webhook_disabled"]
    assert [e.to_address for e in told] == ["ann@acme.example"]
    hear(factory, "order.submitted", acme, {"order_id": str(uuid.uuid4()), "reference": "R2", "status": "submitted"})
    assert len(rows(factory, WebhookDelivery)) == 1       # disabled: nothing new queued
    receiver.answer = 200
    call(factory, ann, "update_webhook", hook["id"], {"enabled": True})
    again = call(factory, ann, "replay_delivery", hook["id"], delivery.id)
    assert again["msg_id"] == delivery.msg_id
    call(factory, SYSTEM, "deliver_webhooks")
    assert receiver.got[-1][1]["webhook-id"] == delivery.msg_id
    test = call(factory, ann, "test_webhook", hook["id"])
    call(factory, SYSTEM, "deliver_webhooks")
    assert json.loads(receiver.got[-1][2])["type"] == payloads.TEST_EVENT and test["status"] == "pending"


def test_webhook_urls_are_checked_when_registered(factory):
    acme = customer(factory, "Acme")
    ann = user(factory, acme, "ann@acme.example", CUSTOMER_ADMIN)
    for url in ("http://169.254.169.254/latest", "http://10.1.2.3/", "ftp://x.example/", "http://[::1]/"):
        with pytest.raises(ValidationFailed) as refused:
            call(factory, ann, "create_webhook", {"url": url, "events": ["order.submitted"]})
        assert refused.value.details["fields"]["url"]
    plain = user(factory, acme, "bob@acme.example")
    from services.common.errors import Forbidden
    with pytest.raises(Forbidden):
        call(factory, plain, "create_webhook", {"url": "http://127.0.0.1:9/", "events": ["order.submitted"]})


def test_payloads_never_carry_internal_keys():
    data = payloads.public_data("stop.completed", {
        "order_id": "o", "stop_id": "s", "driver_id": "d", "status": "completed", "completed_at": "t",
        "pod": {"recipient_name": "Mo", "photos": [{"key": "blobs/x"}], "signature": {"key": "blobs/y"}}})
    assert data["pod"] == {"recipient_name": "Mo", "comments": None, "photos": 1, "signed": True}
    assert "driver_id" not in data and "blobs/" not in json.dumps(data)
    assert not set(payloads.OPERATOR_EVENTS) & {"invite.sent", "user.created", "password_reset.requested",
                                                "user.activated", "driver.created"}


def test_webhook_secrets_are_stored_sealed(factory):
    acme = customer(factory, "Acme")
    ann = user(factory, acme, "ann@acme.example", CUSTOMER_ADMIN)
    made = call(factory, ann, "create_webhook", {"url": "http://127.0.0.1:9/h", "events": ["order.submitted"]})
    [endpoint] = rows(factory, WebhookEndpoint)
    assert made["secret"] not in endpoint.secret_sealed
    assert webhooks.webhook_http.unseal(endpoint.secret_sealed) == made["secret"]


def test_one_orders_events_handled_at_once_do_not_collide(needs_postgres, service_db):
    """created, submitted, status_changed and priced of one order arrive together and are handled
    in parallel: each must commit first time (a collision on the order's facts row had every one
    of them failed and redelivered under load, bench/notify.py)."""
    import eventlet

    from services.common.db import make_engine

    engine = make_engine(service_db("notify"))
    factory = sessionmaker(engine, expire_on_commit=False)
    acme = customer(factory, "Acme")
    user(factory, acme, "ann@acme.example")
    orders = [str(uuid.uuid4()) for _ in range(10)]
    events = [(kind, {"order_id": order_id, "reference": f"PAR-{n}", "kind": "delivery", "status": status})
              for n, order_id in enumerate(orders)
              for kind, status in (("order.created", "draft"), ("order.submitted", "submitted"),
                                   ("order.status_changed", "submitted"), ("order.status_changed", "cancelled"))]
    pool = eventlet.GreenPool(8)         # as many at once as a service has database connections to spare
    failures = []

    def handle(item):
        try:
            hear(factory, item[0], acme, item[1])
        except Exception as exc:        # the test's point: none may fail
            failures.append(repr(exc))

    for item in events:
        pool.spawn(handle, item)
    pool.waitall()
    try:
        assert failures == []
        with factory() as session:
            from services.notify.models import OrderFacts
            facts = session.scalars(select(OrderFacts).where(OrderFacts.order_id.in_(orders))).all()
        assert sorted(f.reference for f in facts) == sorted(f"PAR-{n}" for n in range(10))
        kinds = sorted(n.kind for n in rows(factory, Notification) if n.subject_id in orders)
        assert kinds == ["order_cancelled"] * 10 + ["order_submitted"] * 10
    finally:
        engine.dispose()
