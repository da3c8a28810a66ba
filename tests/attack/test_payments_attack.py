"""Payments under attack (issue 9): fifty submissions of one payment with one Idempotency-Key at
the same moment make one charge, counted where the charge happens (the test processor's own
intents table) and where it is booked (the payment list and the invoice's outstanding amount),
and every submission gets the first answer; the same key with another body is refused. Then no
card number is found anywhere the platform keeps or sends data: every table of every service
database, every log file, every message on the bus (events and RPC, copied by a queue of our
own bound before the first payment), every email, every webhook delivery.

What a duplicate answers: billing makes a concurrent duplicate wait for the first request to
settle (services/billing/payments.py, _settled_view) and answers what it answered, so the right
answer for all fifty is the same 201 with the same body, not a 409 while the first is in
flight: a client that retries because its connection dropped must learn the outcome.
PITFALLS 7: the charge is idempotent by a key from the caller; PITFALLS 5: the provider is asked
with the payment's id as its own idempotency key, so the processor records one charge."""
from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests.attack.payments_leaks import (TEST_CARDS, Wiretap, card_numbers_in, scan_databases, scan_logs,
                                         service_databases)
from tests.attack.report import Report
from tests.conftest import wait_for
from tests.e2e.conftest import get, invite_and_accept, post
from tests.e2e.test_billing_flows import pay

pytestmark = pytest.mark.e2e

FIGURES: dict[str, object] = {}


def summary() -> str:
    f = FIGURES
    return (f"{f.get('submissions', '?')} concurrent payments, one key: {f.get('charges', '?')} charge; "
            f"{f.get('found', '?')} card numbers in {f.get('tables', '?')} tables, {f.get('logs', '?')} logs, "
            f"{f.get('events', '?')} events, {f.get('rpc', '?')} RPC messages, {f.get('emails', '?')} emails, "
            f"{f.get('webhooks', '?')} webhook deliveries")


REPORT = Report("Payments", summary)


@pytest.fixture(scope="module")
def wiretap(amqp_uri):
    """Bound before anything is paid, so every message of this suite is copied."""
    tap = Wiretap(amqp_uri, f"attack-payments-{uuid.uuid4().hex[:8]}")
    yield tap
    tap.close()


@pytest.fixture(scope="module")
def payer(stack, mailbox, admin_token, wiretap, receiver):
    made = post(stack, "/api/v1/admin/customers", {"name": f"Payments attack {uuid.uuid4().hex[:6]}"}, admin_token)
    assert made.status_code == 201, made.text
    customer = made.json()
    email = f"payer.{uuid.uuid4().hex[:8]}@payments.example"
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"], email, "customer_admin")
    hook = post(stack, "/api/v1/webhooks", {"url": f"{receiver.url}/payments", "events": ["*"]}, token)
    assert hook.status_code == 201, hook.text
    return {"customer": customer, "token": token, "email": email}


def _invoice(stack, admin_token, payer) -> dict:
    issued = post(stack, "/api/v1/admin/invoices", {"customer_id": payer["customer"]["id"], "lines": [
        {"description": "Storage, November", "quantity": "30", "unit": "day", "unit_price": "4.00", "tax_rate": "21"}]},
        admin_token)
    assert issued.status_code == 201, issued.text
    return issued.json()


def _charges_at_the_processor(stack, invoice_id: str) -> list[dict]:
    """The test processor's own record of charges (its ``testpay_intents`` table, in the
    database it was given: billing's), for this invoice, by the metadata billing sends."""
    engine = create_engine(service_databases(stack)["billing"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT i.id, i.status, i.metadata, k.key FROM testpay_intents i "
                                     "LEFT JOIN testpay_idempotency_keys k ON k.object_id = i.id")).mappings().all()
    finally:
        engine.dispose()
    return [dict(r) for r in rows if json.loads(r["metadata"]).get("invoice_id") == invoice_id]


@pytest.mark.parametrize("submissions", [50, pytest.param(200, marks=pytest.mark.slow)])
def test_concurrent_payments_with_one_key_make_one_charge(stack, admin_token, payer, submissions):
    """PITFALLS 7: the same key, the same body, all at once: one charge, one answer."""
    invoice = _invoice(stack, admin_token, payer)
    key = f"attack-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(submissions) as pool:
        answers = list(pool.map(lambda _: pay(stack, payer["token"], invoice["id"], "20.00", key=key),
                                range(submissions)))
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: submissions}, {a.status_code: a.text for a in answers}
    first = answers[0].json()
    assert first["status"] == "succeeded" and all(a.json() == first for a in answers)

    charges = _charges_at_the_processor(stack, invoice["id"])
    assert len(charges) == 1 and charges[0]["status"] == "succeeded", charges
    assert json.loads(charges[0]["metadata"])["payment_id"] == first["id"] and charges[0]["key"] == first["id"]
    booked = get(stack, f"/api/v1/payments?invoice_id={invoice['id']}", payer["token"]).json()
    assert [p["id"] for p in booked["items"]] == [first["id"]]
    after = get(stack, f"/api/v1/invoices/{invoice['id']}", payer["token"]).json()
    assert after["outstanding"]["amount"] == f"{float(invoice['outstanding']['amount']) - 20:.2f}"
    REPORT.line(f"{submissions} concurrent submissions, one Idempotency-Key: {dict(codes)}, one answer "
                f"(payment {first['id'][:8]}), {len(charges)} charge at the processor, "
                f"{booked['total']} payment booked, outstanding {after['outstanding']['amount']}")

    # The same key with another body is refused, and charges nothing.
    for change in ({"amount": "21.00"}, {"card": "tok_mastercard"}):
        other = pay(stack, payer["token"], invoice["id"], **{"amount": "20.00", **change}, key=key)
        assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]["message"], other.text
    assert len(_charges_at_the_processor(stack, invoice["id"])) == 1
    REPORT.line("the same key with another amount or card: 409, nothing charged")
    if submissions == 50:
        FIGURES.update(submissions=submissions, charges=len(charges))


def _spellings(number: str) -> list[str]:
    """How a person or a careless integration writes a card number."""
    groups = [number[i:i + 4] for i in range(0, len(number), 4)]
    return [number, " ".join(groups), "-".join(groups), "\t".join(groups), ".".join(groups), f" {number}\n"]


def test_no_card_number_is_kept_or_sent_anywhere(stack, mailbox, admin_token, payer, wiretap, receiver):
    token = payer["token"]
    invoice = _invoice(stack, admin_token, payer)
    # Card numbers sent where a token belongs, or beside it: refused at the door, never stored.
    # (What got past the door is asserted last, after the search shows where it was kept.)
    answered = Counter()
    let_in = []
    for number in TEST_CARDS:
        for spelled in _spellings(number):
            answer = pay(stack, token, invoice["id"], "1.00", card=spelled, key=f"pan-{uuid.uuid4().hex}")
            answered[answer.status_code] += 1
            if answer.status_code != 422:
                let_in.append((spelled, answer.status_code))
            assert not card_numbers_in(answer.text)            # the error does not echo it
        beside = post(stack, f"/api/v1/invoices/{invoice['id']}/payments",
                      {"amount": "1.00", "payment_method": "tok_visa", "card_number": number}, token)
        assert beside.status_code == 422 and not card_numbers_in(beside.text), beside.text
    REPORT.line(f"{sum(answered.values())} card numbers sent as the payment method (6 spellings each): "
                f"{dict(answered)}; {len(TEST_CARDS)} beside it: 422; none echoed")
    # Real payments: a declined card, 3-D Secure, a success; their events, emails and webhooks.
    assert pay(stack, token, invoice["id"], "5.00", card="tok_chargeDeclined").status_code == 402
    secure = pay(stack, token, invoice["id"], "5.00", card="tok_threeDSecureRequired").json()
    assert post(stack, f"/api/v1/payments/{secure['id']}/confirm", {"challenge_response": "pass"},
                token).status_code == 200
    paid = pay(stack, token, invoice["id"], "10.00", card="tok_visa")
    assert paid.status_code == 201, paid.text
    wait_for(lambda: [r for r in receiver.requests if paid.json()["id"] in r["body"]], timeout=60,
             what="the webhook delivery of the payment")
    wait_for(lambda: [m for m in mailbox.messages if m["To"] == payer["email"]
                      and m["Subject"].startswith("Payment of")], timeout=60, what="the payment's email")

    tables, hits = scan_databases(stack)
    logs, found = scan_logs(stack)
    hits += found
    copied = wiretap.drain()
    for kind, bodies in copied.items():
        hits += [f"{kind} message: {hit!r}" for body in bodies for hit in card_numbers_in(body)]
    hits += [f"email {m['Subject']!r}: {hit!r}" for m in mailbox.messages for hit in card_numbers_in(m.as_string())]
    hits += [f"webhook {r['path']}: {hit!r}" for r in receiver.requests
             for hit in card_numbers_in(json.dumps(r["headers"]) + r["body"])]
    FIGURES.update(found=len(hits), tables=tables, logs=logs, events=len(copied["events"]), rpc=len(copied["rpc"]),
                   emails=len(mailbox.messages), webhooks=len(receiver.requests))
    REPORT.line(f"searched {tables} tables, {logs} log files, {len(copied['events'])} events, "
                f"{len(copied['rpc'])} RPC messages, {len(mailbox.messages)} emails, "
                f"{len(receiver.requests)} webhook deliveries: {len(hits)} card numbers")
    assert copied["events"] and copied["rpc"] and receiver.requests     # the search saw real traffic
    assert hits == [], hits[:20]
    assert let_in == [], let_in          # a card number is refused at the door (422), however typed
