"""Billing over HTTP against the running stack: an order priced from the customer's rate card
and invoiced when it is delivered (events across orders and billing on the real bus), paying
it with test cards (a double click and 20 simultaneous submissions of one Idempotency-Key
charge once), the invoice PDF read back, statements, quotes booked as orders, and scoping."""
import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from pypdf import PdfReader

from tests.conftest import PG_SERVER, wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post
from tests.e2e.test_orders_flows import publish_stop_event

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def acme(stack, mailbox, admin_token):
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Billing {uuid.uuid4().hex[:6]}"}, admin_token).json()
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"],
                              f"payer.{uuid.uuid4().hex[:6]}@acme.example", "customer_admin")
    card = post(stack, "/api/v1/admin/rate-cards", {
        "name": "Acme deliveries", "customer_id": customer["id"], "kind": "delivery", "currency": "EUR",
        "tax_rate": "21", "base_fee": "25.00", "per_km": "1.10", "per_kg": "0.05", "minimum": "40.00",
        "timezone": "Europe/Amsterdam",
        "surcharges": [{"name": "Fuel", "type": "percent", "percent": "8"}]}, admin_token)
    assert card.status_code == 201, card.text
    wait_for(lambda: get(stack, "/api/v1/account/summary", token).status_code == 200, timeout=20,
             what="billing to know the customer")
    return {"customer": customer, "token": token}


@pytest.fixture(scope="module")
def other(stack, mailbox, admin_token):
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Other {uuid.uuid4().hex[:6]}"}, admin_token).json()
    # An admin: it may pay invoices (a booker may not), so reaching acme's answers 404, not 403.
    return invite_and_accept(stack, mailbox, admin_token, customer["id"], f"nosy.{uuid.uuid4().hex[:6]}@other.example",
                             "customer_admin")


ORDER = {"kind": "delivery", "reference": "RTM-AMS", "stops": [
    {"type": "pickup", "address": {"line1": "Quay 1", "city": "Rotterdam"}, "lat": 51.9225, "lng": 4.47917},
    {"type": "dropoff", "address": {"line1": "Dam 1", "city": "Amsterdam"}, "lat": 52.3731, "lng": 4.8926,
     "window_start": "2026-12-08T12:00:00Z", "window_end": "2026-12-08T14:00:00Z"}],
    "items": [{"description": "Pallets", "quantity": 2, "weight_kg": "300"}]}


def deliver(stack, admin_token, amqp_uri, customer_id, order, token):
    depot = post(stack, "/api/v1/admin/depots", {"name": f"Depot {uuid.uuid4().hex[:4]}",
                                                  "address": {"line1": "Yard 1"}}, admin_token).json()
    driver = post(stack, "/api/v1/admin/drivers", {"name": "Bill Driver"}, admin_token).json()

    def route_made():
        made = post(stack, "/api/v1/admin/routes", {"name": "Billing run", "day": "2026-12-08",
                                                     "depot_id": depot["id"], "driver_id": driver["id"]}, admin_token)
        return made.json() if made.status_code == 201 else None
    route = wait_for(route_made, timeout=20, what="orders to learn the new driver")
    assert post(stack, f"/api/v1/admin/routes/{route['id']}/orders", {"order_ids": [order["id"]]},
                admin_token).status_code == 200
    assert post(stack, f"/api/v1/admin/routes/{route['id']}/start", None, admin_token).status_code == 200
    for stop in get(stack, f"/api/v1/orders/{order['id']}", token).json()["stops"]:
        publish_stop_event(amqp_uri, customer_id, {
            "order_id": order["id"], "stop_id": stop["id"], "driver_id": driver["id"], "status": "completed",
            "completed_at": datetime.now(timezone.utc).isoformat(), "pod": {"recipient_name": "Mo", "photos": []}})


def pay(stack, token, invoice_id, amount, card="tok_visa", key=None):
    headers = {**auth(token), **({"Idempotency-Key": key} if key else {})}
    return requests.post(f"{stack.base}/api/v1/invoices/{invoice_id}/payments",
                         json={"amount": amount, "payment_method": card}, headers=headers, timeout=40)


def test_an_order_is_priced_invoiced_on_delivery_and_paid_once(stack, acme, admin_token, amqp_uri):
    token = acme["token"]
    order = post(stack, "/api/v1/orders", {**ORDER, "submit": True}, token).json()
    priced = wait_for(lambda: get(stack, f"/api/v1/orders/{order['id']}", token).json()["price"],
                      timeout=20, what="billing's price to reach the order")
    total = priced["total"]["amount"]
    assert [line["code"] for line in priced["lines"]][:3] == ["base_fee", "distance", "weight"]
    assert priced["lines"][-1]["code"] == "surcharge:Fuel"

    deliver(stack, admin_token, amqp_uri, acme["customer"]["id"], order, token)
    invoice = wait_for(lambda: (get(stack, f"/api/v1/invoices?order_id={order['id']}", token).json()["items"] or [None])[0],
                       timeout=30, what="the invoice issued on delivery")
    assert invoice["total"]["amount"] == total and invoice["status"] == "open"
    assert invoice["order_reference"] == "RTM-AMS" and invoice["number"].startswith("INV-")

    # Bad input: a JSON float, an overpayment, a card number, a declined card.
    assert pay(stack, token, invoice["id"], 10.5).status_code == 422
    too_much = pay(stack, token, invoice["id"], "100000.00")
    assert too_much.status_code == 409 and too_much.json()["error"]["details"]["outstanding"]["amount"] == total
    number = pay(stack, token, invoice["id"], "1.00", card="4000 0000 0000 0002")
    assert number.status_code == 422 and "card number" in number.text
    declined = pay(stack, token, invoice["id"], "1.00", card="tok_insufficientFunds")
    assert declined.status_code == 402
    assert declined.json()["error"]["details"]["decline_code"] == "insufficient_funds"

    # Twenty submissions of one payment at the same moment: one charge, one answer.
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: pay(stack, token, invoice["id"], "10.00", key="pay-twice"), range(20)))
    assert {a.status_code for a in answers} == {201}, {a.status_code: a.text for a in answers}
    assert len({a.json()["id"] for a in answers}) == 1
    payments = get(stack, f"/api/v1/payments?invoice_id={invoice['id']}&status=succeeded", token).json()
    assert payments["total"] == 1
    rest = pay(stack, token, invoice["id"], f"{float(total) - 10:.2f}", key="pay-rest")
    assert rest.status_code == 201 and rest.json()["status"] == "succeeded"
    paid = get(stack, f"/api/v1/invoices/{invoice['id']}", token).json()
    assert paid["status"] == "paid" and paid["outstanding"]["amount"] == "0.00"
    summary = get(stack, "/api/v1/account/summary", token).json()
    assert summary["last_payment"]["amount"]["amount"] == rest.json()["amount"]["amount"]

    pdf = get(stack, f"/api/v1/invoices/{invoice['id']}/pdf", token)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for figure in (invoice["number"], total, "10.00", "RTM-AMS", acme["customer"]["name"]):
        assert figure in text, figure


def test_three_d_secure_and_statements(stack, acme, admin_token):
    token = acme["token"]
    issued = post(stack, "/api/v1/admin/invoices", {"customer_id": acme["customer"]["id"], "lines": [
        {"description": "Storage, November", "quantity": "30", "unit": "day", "unit_price": "4.00", "tax_rate": "21"}]},
        admin_token)
    assert issued.status_code == 201, issued.text
    invoice = issued.json()
    started = pay(stack, token, invoice["id"], "145.20", card="tok_threeDSecureRequired")
    assert started.status_code == 201 and started.json()["status"] == "requires_action"
    done = post(stack, f"/api/v1/payments/{started.json()['id']}/confirm", {"challenge_response": "pass"}, token)
    assert done.status_code == 200 and done.json()["status"] == "succeeded"

    today = datetime.now(timezone.utc).date()
    statement = get(stack, f"/api/v1/statements?from={today - timedelta(days=1)}&to={today}", token).json()
    assert statement["closing_balance"] == get(stack, "/api/v1/account/summary", token).json()["current_balance"]
    assert invoice["number"] in [e["reference"] for e in statement["entries"]]
    csv = get(stack, f"/api/v1/statements.csv?from={today - timedelta(days=1)}", token)
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in csv.headers["Content-Disposition"] and invoice["number"] in csv.text
    pdf = get(stack, "/api/v1/statements.pdf", token)
    assert pdf.status_code == 200 and invoice["number"] in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()


def test_a_quote_is_priced_sent_accepted_and_booked(stack, acme, admin_token):
    token = acme["token"]
    asked = post(stack, "/api/v1/quotes", {"order": {**ORDER, "reference": "QUOTE-1"}, "message": "Monday?"}, token)
    assert asked.status_code == 201 and asked.json()["price"] is None
    quote = asked.json()
    sent = post(stack, f"/api/v1/admin/quotes/{quote['id']}/send", {"lines": [
        {"description": "Rotterdam - Amsterdam, all in", "quantity": "1", "unit": "trip",
         "unit_price": "150.00", "tax_rate": "21"}], "valid_days": 7, "require_signature": False}, admin_token)
    assert sent.status_code == 200 and sent.json()["total"]["amount"] == "181.50"
    assert get(stack, "/api/v1/quotes?status=sent", token).json()["total"] >= 1
    accepted = post(stack, f"/api/v1/quotes/{quote['id']}/accept", None, token)
    assert accepted.status_code == 200 and accepted.json()["booked"]
    booked = wait_for(lambda: next((o for o in get(stack, "/api/v1/orders?q=QUOTE-1", token).json()["items"]), None),
                      timeout=20, what="orders to book the accepted quote")
    assert booked["status"] == "submitted"
    full = wait_for(lambda: (lambda o: o if o["price"] and o["price"]["total"]["amount"] == "181.50" else None)(
        get(stack, f"/api/v1/orders/{booked['id']}", token).json()), timeout=20, what="the quoted price on the booking")
    assert full["quote_id"] == quote["id"]
    assert post(stack, f"/api/v1/quotes/{quote['id']}/accept", None, token).status_code == 409

    # A quote sent with a validity that has passed cannot be accepted.
    second = post(stack, "/api/v1/quotes", {"order": ORDER}, token).json()
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    assert post(stack, f"/api/v1/admin/quotes/{second['id']}/send", {"valid_until": soon}, admin_token).status_code == 200
    wait_for(lambda: get(stack, f"/api/v1/quotes/{second['id']}", token).json()["status"] == "expired",
             timeout=10, what="the quote to expire")
    late = post(stack, f"/api/v1/quotes/{second['id']}/accept", None, token)
    assert late.status_code == 409 and late.json()["error"]["details"]["status"] == "expired"


def test_no_customer_reaches_anothers_billing(stack, acme, other, admin_token):
    invoice = get(stack, "/api/v1/invoices", acme["token"]).json()["items"][0]
    quote = get(stack, "/api/v1/quotes", acme["token"]).json()["items"][0]
    for path in (f"/api/v1/invoices/{invoice['id']}", f"/api/v1/invoices/{invoice['id']}/pdf",
                 f"/api/v1/quotes/{quote['id']}",
                 f"/api/v1/statements?customer_id={acme['customer']['id']}",
                 f"/api/v1/account/summary?customer_id={acme['customer']['id']}"):
        assert get(stack, path, other).status_code == 404, path
    assert pay(stack, other, invoice["id"], "1.00").status_code == 404
    assert post(stack, f"/api/v1/quotes/{quote['id']}/reject", {"reason": "mine now"}, other).status_code == 404
    assert get(stack, "/api/v1/invoices", other).json()["total"] == 0
    assert post(stack, "/api/v1/admin/rate-cards", {"name": "x"}, other).status_code == 403
    assert post(stack, "/api/v1/admin/invoices", {"customer_id": acme["customer"]["id"], "lines": []},
                other).status_code == 403
    # The processor's webhook is trusted by its signature only.
    forged = requests.post(f"{stack.base}/api/v1/payments/provider-events/test", data=b'{"id": "pi_x"}',
                           headers={"testpay-signature": "t=1,v1=00"}, timeout=10)
    assert forged.status_code == 400
    # Staff read any customer's account by naming it.
    staff = get(stack, f"/api/v1/account/summary?customer_id={acme['customer']['id']}", admin_token)
    assert staff.status_code == 200 and staff.json()["customer_id"] == acme["customer"]["id"]


@pytest.mark.skipif(not PG_SERVER, reason="reads the test processor's tables in the billing database")
def test_a_charge_whose_answer_was_lost_is_settled_by_the_processors_webhook(stack, acme, admin_token):
    from sqlalchemy import create_engine, text

    from services.billing.providers.test_provider import TestProvider

    token = acme["token"]
    invoice = post(stack, "/api/v1/admin/invoices", {"customer_id": acme["customer"]["id"], "lines": [
        {"description": "Waiting time", "quantity": "2", "unit": "hour", "unit_price": "30.00", "tax_rate": "0"}]},
        admin_token).json()
    slow = pay(stack, token, invoice["id"], "60.00", card="tok_timeout", key="slow-1")
    assert slow.status_code == 201 and slow.json()["status"] == "processing"
    assert get(stack, f"/api/v1/invoices/{invoice['id']}", token).json()["outstanding"]["amount"] == "60.00"
    engine = create_engine(f"{stack.env['DATABASE_URL']}_billing")
    try:
        with engine.connect() as conn:   # the processor knows its charge by our payment id
            intent_id = conn.scalar(text("SELECT object_id FROM testpay_idempotency_keys WHERE key = :k"),
                                    {"k": slow.json()["id"]})
        body, headers = TestProvider(engine).webhook_for(intent_id)
    finally:
        engine.dispose()
    for _ in range(2):                   # a webhook delivered twice settles once
        hook = requests.post(f"{stack.base}/api/v1/payments/provider-events/test", data=body, headers=headers, timeout=10)
        assert hook.status_code == 200, hook.text
    assert get(stack, f"/api/v1/payments/{slow.json()['id']}", token).json()["status"] == "succeeded"
    settled = get(stack, f"/api/v1/invoices/{invoice['id']}", token).json()
    assert settled["status"] == "paid" and len(settled["payments"]) == 1
