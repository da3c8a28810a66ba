"""The billing service's rules through its entrypoints (nameko's worker_factory) on a real
SQLite database, no broker; card payments go through the test provider (tables of its own, in
the same file). Concurrency (a duplicate payment at the same instant) is tested on PostgreSQL
in tests/e2e/test_billing_flows.py."""
import base64
import io
import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import sessionmaker

from services.billing import invoices as invoice_rules
from services.billing import payments as payment_rules
from services.billing import statements as statements_module
from services.billing.models import Base, Invoice, LedgerEntry, Quote
from services.billing.providers import clear_cache, get_provider
from services.billing.service import Service
from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ADMIN, SERVICE, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import (Conflict, Forbidden, NotFound, PaymentDeclined,
                                    ValidationFailed)
from tests.unit.conftest import run_entrypoint

OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op-1")
SYSTEM = CallerContext(role=SERVICE)


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/billing.db")
    Base.metadata.create_all(engine)
    clear_cache()
    yield sessionmaker(engine, expire_on_commit=False)
    clear_cache()
    engine.dispose()


def call(factory, caller, method, *args, **kwargs):
    return run_entrypoint(Service, Base, factory, caller, method, *args, **kwargs)


def events(factory, event_type):
    with factory() as session:
        rows = session.scalars(select(Base.OutboxMessage).order_by(Base.OutboxMessage.seq)).all()
    return [e for e in (json.loads(r.body) for r in rows) if e["type"] == event_type]


def event(event_type, customer_id, data, occurred_at=None):
    return {"id": str(uuid.uuid4()), "type": event_type, "customer_id": customer_id, "data": data,
            "occurred_at": (occurred_at or datetime.now(timezone.utc)).isoformat()}


def customer(factory, name="Acme Freight", role=CUSTOMER_ADMIN):
    customer_id = str(uuid.uuid4())
    call(factory, SYSTEM, "keep_accounts", event("customer.created", customer_id, {
        "customer_id": customer_id, "name": name, "client_id": "C" + customer_id[:5].upper(),
        "is_active": True, "billing_address": {"line1": "1 Quay Street", "city": "Rotterdam",
                                               "postal_code": "3011", "country": "NL"}}))
    return CallerContext(role=role, user_id=str(uuid.uuid4()), customer_id=customer_id)


def rate_card(factory, **extra):
    body = {"name": "Standard", "currency": "EUR", "tax_rate": "21", "base_fee": "25.00",
            "per_km": "1.10", "per_kg": "0.05", "minimum": "40.00", "timezone": "Europe/Amsterdam", **extra}
    return call(factory, OPERATOR, "create_rate_card", body)


ORDER = {"kind": "delivery", "stops": [
    {"type": "pickup", "address": {"line1": "Quay 1", "city": "Rotterdam"}, "lat": 51.9225, "lng": 4.47917,
     "window_start": "2026-12-08T09:00:00+00:00", "window_end": "2026-12-08T10:00:00+00:00"},
    {"type": "dropoff", "address": {"line1": "Dam 1", "city": "Amsterdam"}, "lat": 52.3731, "lng": 4.8926,
     "window_start": "2026-12-08T12:00:00+00:00", "window_end": "2026-12-08T14:00:00+00:00"}],
    "items": [{"description": "Pallets", "quantity": 2, "weight_kg": "300"}]}


def invoice(factory, who, lines=None, **extra):
    lines = lines or [{"description": "Transport", "quantity": "1", "unit": "trip",
                       "unit_price": "100.00", "tax_rate": "21"}]
    return call(factory, OPERATOR, "issue_invoice", {"customer_id": who.customer_id, "lines": lines, **extra})


def pay(factory, who, invoice_id, amount, token="tok_visa", key=None):
    return call(factory, who, "pay_invoice", invoice_id, {"amount": amount, "payment_method": token},
                idempotency_key=key)


def ledger_total(factory, customer_id):
    with factory() as session:
        return sum(session.scalars(select(LedgerEntry.amount_minor).where(LedgerEntry.customer_id == customer_id)))


# --- pricing orders and invoicing them on delivery --------------------------------------------------
def test_a_submitted_order_is_priced_from_the_rate_card_and_invoiced_when_delivered(factory):
    alice = customer(factory)
    rate_card(factory)
    order_id = str(uuid.uuid4())
    call(factory, SYSTEM, "price_order", event("order.submitted", alice.customer_id, {
        "order_id": order_id, "reference": "PO-1", "kind": "delivery", "status": "submitted", "content": ORDER}))
    priced = events(factory, "order.priced")[-1]["data"]
    assert priced["order_id"] == order_id
    codes = [line["code"] for line in priced["price"]["lines"]]
    assert codes[:3] == ["base_fee", "distance", "weight"]
    total = Decimal(priced["price"]["total"]["amount"])
    assert total == sum(Decimal(line["total"]["amount"]) for line in priced["price"]["lines"])
    assert not call(factory, alice, "list_invoices", {})["items"]

    call(factory, SYSTEM, "follow_order", event("order.status_changed", alice.customer_id, {
        "order_id": order_id, "reference": "PO-1", "status": "delivered", "previous_status": "in_transit"}))
    [issued] = call(factory, alice, "list_invoices", {})["items"]
    assert issued["order_reference"] == "PO-1" and Decimal(issued["total"]["amount"]) == total
    assert issued["number"] == f"INV-{datetime.now(timezone.utc).year}-000001"
    assert events(factory, "invoice.issued")[-1]["data"]["invoice_id"] == issued["id"]
    summary = call(factory, alice, "account_summary")
    assert Decimal(summary["current_balance"]["amount"]) == total and summary["last_payment"] is None
    # A redelivered "delivered" changes nothing: one invoice per order.
    call(factory, SYSTEM, "follow_order", event("order.status_changed", alice.customer_id, {
        "order_id": order_id, "reference": "PO-1", "status": "delivered", "previous_status": "in_transit"}))
    assert call(factory, alice, "list_invoices", {})["total"] == 1


def test_a_delivery_heard_before_the_submission_is_invoiced_once_the_price_arrives(factory):
    alice = customer(factory)
    rate_card(factory)
    order_id = str(uuid.uuid4())
    call(factory, SYSTEM, "follow_order", event("order.status_changed", alice.customer_id, {
        "order_id": order_id, "reference": "PO-2", "status": "delivered"}))
    assert call(factory, alice, "list_invoices", {})["total"] == 0
    call(factory, SYSTEM, "price_order", event("order.submitted", alice.customer_id, {
        "order_id": order_id, "reference": "PO-2", "kind": "delivery", "status": "submitted", "content": ORDER}))
    assert call(factory, alice, "list_invoices", {})["total"] == 1


def test_the_customers_own_rate_card_wins_over_the_default(factory):
    alice, bob = customer(factory), customer(factory, "Bob Ltd")
    rate_card(factory)
    rate_card(factory, name="Alice special", customer_id=alice.customer_id, base_fee="5.00", minimum=None)
    cheap = call(factory, OPERATOR, "price_preview", {"customer_id": alice.customer_id, "order": ORDER})["price"]
    normal = call(factory, OPERATOR, "price_preview", {"customer_id": bob.customer_id, "order": ORDER})["price"]
    assert Decimal(normal["net"]["amount"]) - Decimal(cheap["net"]["amount"]) == Decimal("20.00")
    with pytest.raises(NotFound):   # a customer previews only its own prices
        call(factory, alice, "price_preview", {"customer_id": bob.customer_id, "order": ORDER})


# --- invoices ---------------------------------------------------------------------------------------
def test_invoices_are_numbered_without_gaps_and_a_refused_one_takes_no_number(factory):
    alice = customer(factory)
    first = invoice(factory, alice)
    with pytest.raises(ValidationFailed):
        invoice(factory, alice, lines=[{"description": "Nothing", "quantity": "0", "unit_price": "5", "tax_rate": "0"}])
    second = invoice(factory, alice)
    year = datetime.now(timezone.utc).year
    assert [first["number"], second["number"]] == [f"INV-{year}-000001", f"INV-{year}-000002"]


def test_an_invoice_shows_lines_taxes_per_rate_and_its_terms(factory):
    alice = customer(factory)
    found = invoice(factory, alice, lines=[
        {"description": "Transport", "quantity": "12.5", "unit": "km", "unit_price": "1.125", "tax_rate": "21"},
        {"description": "Insurance", "quantity": "1", "unit": "unit", "unit_price": "9.99", "tax_rate": "0"}])
    assert [line["net"]["amount"] for line in found["lines"]] == ["14.06", "9.99"]   # 14.0625 -> 14.06
    assert [(t["rate"], t["tax"]["amount"]) for t in found["taxes"]] == [("0", "0.00"), ("21", "2.95")]
    assert found["total"]["amount"] == "27.00" and found["outstanding"]["amount"] == "27.00"
    assert found["terms"] == "Payment due within 30 days of the invoice date."
    assert found["customer"]["billing_address"]["city"] == "Rotterdam"
    assert found["status"] == "open"


def test_partial_payments_then_the_rest_then_an_overpayment_is_refused(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)                                   # 121.00
    first = pay(factory, alice, inv["id"], "21.00")
    assert first["status"] == "succeeded" and first["card"] == {"brand": "visa", "last4": "4242"}
    assert call(factory, alice, "get_invoice", inv["id"])["status"] == "partially_paid"
    with pytest.raises(Conflict) as refused:
        pay(factory, alice, inv["id"], "100.01")
    assert refused.value.details["outstanding"]["amount"] == "100.00"
    pay(factory, alice, inv["id"], "100.00")
    paid = call(factory, alice, "get_invoice", inv["id"])
    assert paid["status"] == "paid" and paid["outstanding"]["amount"] == "0.00"
    assert [p["amount"]["amount"] for p in paid["payments"]] == ["21.00", "100.00"]
    with pytest.raises(Conflict):
        pay(factory, alice, inv["id"], "1.00")
    summary = call(factory, alice, "account_summary")
    assert summary["current_balance"]["amount"] == "0.00"
    assert summary["last_payment"]["amount"]["amount"] == "100.00"
    assert [e["data"]["amount"]["amount"] for e in events(factory, "payment.received")] == ["21.00", "100.00"]


def test_pitfall_17_money_as_a_json_float_or_with_too_many_decimals_is_refused(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    with pytest.raises(ValidationFailed) as floats:
        pay(factory, alice, inv["id"], 10.5)
    assert "decimal string" in json.dumps(floats.value.details)
    with pytest.raises(ValidationFailed):
        pay(factory, alice, inv["id"], "10.005")


def test_a_declined_card_is_a_402_and_changes_no_balance(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    with pytest.raises(PaymentDeclined) as declined:
        pay(factory, alice, inv["id"], "121.00", token="tok_chargeDeclined", key="k-declined")
    assert declined.value.details["decline_code"] == "card_declined"
    assert call(factory, alice, "get_invoice", inv["id"])["outstanding"]["amount"] == "121.00"
    assert ledger_total(factory, alice.customer_id) == 12100
    with pytest.raises(PaymentDeclined):   # the same key answers the same, without a new attempt
        pay(factory, alice, inv["id"], "121.00", token="tok_chargeDeclined", key="k-declined")
    assert call(factory, alice, "list_payments", {})["total"] == 1
    assert pay(factory, alice, inv["id"], "121.00", key="k-retry")["status"] == "succeeded"


def test_three_d_secure_waits_for_the_customers_answer(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    started = pay(factory, alice, inv["id"], "121.00", token="tok_threeDSecureRequired")
    assert started["status"] == "requires_action" and started["next_action"]["type"] == "three_d_secure"
    # While the first is in flight nothing more than what is left can be paid.
    with pytest.raises(Conflict):
        pay(factory, alice, inv["id"], "1.00")
    done = call(factory, alice, "confirm_payment", started["id"], {"challenge_response": "pass"})
    assert done["status"] == "succeeded"
    assert call(factory, alice, "get_invoice", inv["id"])["status"] == "paid"

    other = invoice(factory, alice)
    second = pay(factory, alice, other["id"], "121.00", token="tok_threeDSecureRequired")
    with pytest.raises(PaymentDeclined) as failed:
        call(factory, alice, "confirm_payment", second["id"], {"challenge_response": "fail"})
    assert failed.value.details["decline_code"] == "authentication_failed"
    assert call(factory, alice, "get_invoice", other["id"])["outstanding"]["amount"] == "121.00"


def test_an_unanswered_three_d_secure_check_is_cancelled_and_frees_its_amount(factory, monkeypatch):
    alice = customer(factory)
    inv = invoice(factory, alice)
    abandoned = pay(factory, alice, inv["id"], "121.00", token="tok_threeDSecureRequired")
    with pytest.raises(Conflict):              # held while the check may still be answered
        pay(factory, alice, inv["id"], "121.00")
    monkeypatch.setenv("BILLING_ACTION_TIMEOUT_SECONDS", "0")
    uow = UnitOfWork(factory, Base)
    assert payment_rules.reconcile(uow, older_than=timedelta(0)) == 1
    uow.commit()
    uow.close()
    ended = call(factory, alice, "get_payment", abandoned["id"])
    assert ended["status"] == "failed" and ended["failure_code"] == "abandoned"
    assert pay(factory, alice, inv["id"], "121.00")["status"] == "succeeded"
    with pytest.raises(Conflict):              # too late: the abandoned check cannot be answered
        call(factory, alice, "confirm_payment", abandoned["id"], {"challenge_response": "pass"})


def test_a_lost_answer_is_reconciled_once_and_never_charged_twice(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    waiting = pay(factory, alice, inv["id"], "121.00", token="tok_timeout", key="slow")
    assert waiting["status"] == "processing"
    assert call(factory, alice, "get_invoice", inv["id"])["outstanding"]["amount"] == "121.00"
    uow = UnitOfWork(factory, Base)
    payment_rules.reconcile(uow, older_than=timedelta(0))
    uow.commit()
    uow.close()
    assert call(factory, alice, "get_payment", waiting["id"])["status"] == "succeeded"
    assert call(factory, alice, "get_invoice", inv["id"])["status"] == "paid"
    provider = get_provider(engine=factory.kw["bind"])
    assert provider.charge_count() == 1
    assert pay(factory, alice, inv["id"], "121.00", token="tok_timeout", key="slow")["id"] == waiting["id"]


def test_the_same_idempotency_key_charges_once_and_another_body_is_a_conflict(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    first = pay(factory, alice, inv["id"], "50.00", key="click-1")
    again = pay(factory, alice, inv["id"], "50.00", key="click-1")
    assert again == first
    with pytest.raises(Conflict):
        pay(factory, alice, inv["id"], "60.00", key="click-1")
    assert get_provider(engine=factory.kw["bind"]).charge_count() == 1
    assert call(factory, alice, "get_invoice", inv["id"])["outstanding"]["amount"] == "71.00"


def test_a_raw_card_number_is_refused_and_kept_nowhere(factory, tmp_path):
    alice = customer(factory)
    inv = invoice(factory, alice)
    with pytest.raises(ValidationFailed) as refused:
        pay(factory, alice, inv["id"], "10.00", token="4242 4242 4242 4242")
    assert "never a card number" in json.dumps(refused.value.details)
    for spelled in ("4242\t4242\t4242\t4242", "4242.4242.4242.4242", "4242424242424242 12/29 123"):
        with pytest.raises(ValidationFailed):   # however it is typed (these were kept as "tokens")
            pay(factory, alice, inv["id"], "10.00", token=spelled)
    with pytest.raises(PaymentDeclined):       # an unknown token: the processor declines it
        pay(factory, alice, inv["id"], "10.00", token="tok_madeUp")
    dump = "\n".join(factory.kw["bind"].raw_connection().iterdump())
    assert "4242 4242" not in dump and "4242424242424242" not in dump


def test_offline_payments_credit_notes_and_refunds_keep_balance_and_invoices_in_step(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)                                             # 121.00
    with pytest.raises(Forbidden):
        call(factory, alice, "record_payment", inv["id"], {"amount": "10.00", "method": "cheque"})
    cheque = call(factory, OPERATOR, "record_payment", inv["id"],
                  {"amount": "100.00", "method": "cheque", "reference": "CHQ 000123"})
    assert cheque["status"] == "succeeded"
    with pytest.raises(Conflict):                                             # only 21.00 is owed
        call(factory, OPERATOR, "credit_invoice", inv["id"], {"amount": "30.00", "reason": "Damaged"})
    credited = call(factory, OPERATOR, "credit_invoice", inv["id"], {"amount": "21.00", "reason": "Late delivery"})
    assert credited["status"] == "paid" and credited["credit_notes"][0]["number"].startswith("CN-")
    refunded = call(factory, OPERATOR, "refund_payment", cheque["id"], {"amount": "40.00", "reason": "Goodwill"})
    assert refunded["refunded"]["amount"] == "40.00"
    after = call(factory, alice, "get_invoice", inv["id"])
    assert after["outstanding"]["amount"] == "40.00" and after["status"] == "partially_paid"
    with pytest.raises(Conflict):
        call(factory, OPERATOR, "refund_payment", cheque["id"], {"amount": "60.01"})
    assert ledger_total(factory, alice.customer_id) == 4000
    assert call(factory, alice, "account_summary")["current_balance"]["amount"] == "40.00"


def test_overdue_invoices_are_announced_once(factory):
    alice = customer(factory)
    late, on_time = invoice(factory, alice), invoice(factory, alice)
    with factory() as session, session.begin():
        session.execute(update(Invoice).where(Invoice.id == late["id"])
                        .values(due_date=datetime.now(timezone.utc).date() - timedelta(days=1)))
    for _ in range(2):
        uow = UnitOfWork(factory, Base)
        invoice_rules.mark_overdue(uow)
        uow.commit()
        uow.close()
    assert [e["data"]["invoice_id"] for e in events(factory, "invoice.overdue")] == [late["id"]]
    assert call(factory, alice, "get_invoice", late["id"])["status"] == "overdue"
    listed = call(factory, alice, "list_invoices", {"status": ["overdue"]})["items"]
    assert [x["id"] for x in listed] == [late["id"]]
    assert call(factory, alice, "account_summary")["overdue"]["amount"] == "121.00"
    assert {x["id"] for x in call(factory, alice, "list_invoices", {"status": ["open"]})["items"]} == {late["id"], on_time["id"]}


# --- statements ---------------------------------------------------------------------------------------
def test_a_statement_runs_from_the_opening_to_the_closing_balance_and_its_csv_has_no_formulas(factory):
    alice = customer(factory)
    old = invoice(factory, alice)
    with factory() as session, session.begin():   # issued last month
        earlier = datetime.now(timezone.utc) - timedelta(days=40)
        session.execute(update(LedgerEntry).where(LedgerEntry.invoice_id == old["id"]).values(occurred_at=earlier))
    inv = invoice(factory, alice, lines=[{"description": "Transport", "quantity": "1",
                                          "unit_price": "50.00", "tax_rate": "0"}])
    pay(factory, alice, inv["id"], "20.00")
    # Text a customer controls reaches the statement: the reference on its bank transfer, and a
    # credit note's reason quoting its complaint.
    call(factory, OPERATOR, "record_payment", inv["id"], {"amount": "5.00", "method": "bank_transfer",
                                                          "reference": '=HYPERLINK("http://evil.example","x")'})
    call(factory, OPERATOR, "credit_invoice", inv["id"], {"amount": "1.00", "reason": "+cmd|' /C calc'!A0"})
    today = datetime.now(timezone.utc).date()
    view = call(factory, alice, "statement", {"from": (today - timedelta(days=10)).isoformat(), "to": today.isoformat()})
    assert view["opening_balance"]["amount"] == "121.00"
    assert [e["kind"] for e in view["entries"]] == ["invoice", "payment", "payment", "credit_note"]
    assert [e["balance"]["amount"] for e in view["entries"]] == ["171.00", "151.00", "146.00", "145.00"]
    assert view["closing_balance"]["amount"] == "145.00"
    assert view["closing_balance"] == call(factory, alice, "account_summary")["current_balance"]
    text = call(factory, alice, "statement_csv", {"from": (today - timedelta(days=10)).isoformat()})["text"]
    import csv as csv_module
    cells = [cell for row in csv_module.reader(io.StringIO(text)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@"))]
    assert any("=HYPERLINK" in c for c in cells)          # kept, as text
    assert "145.00" in text.splitlines()[-1]
    # Whatever a line holds, a cell that would start a formula is written as text.
    crafted = {**view, "entries": [{**view["entries"][0], "reference": "@SUM(A1:A9)",
                                    "description": "=HYPERLINK(\"http://evil.example\")"}]}
    row = list(csv_module.reader(io.StringIO(statements_module.as_csv(crafted))))[2]
    assert row[2:4] == ["'@SUM(A1:A9)", "'=HYPERLINK(\"http://evil.example\")"]


def test_invoice_and_statement_pdfs_carry_the_figures(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    pay(factory, alice, inv["id"], "21.00")
    found = call(factory, alice, "invoice_pdf", inv["id"])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(base64.b64decode(found["base64"]))).pages)
    for figure in (inv["number"], "121.00", "21.00", "100.00", "Acme Freight", inv["due_date"]):
        assert figure in text, figure
    statement = call(factory, alice, "statement_pdf", {})
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(base64.b64decode(statement["base64"]))).pages)
    assert inv["number"] in text and "100.00" in text


# --- quotes -------------------------------------------------------------------------------------------
def test_a_quote_goes_from_request_to_booking(factory):
    alice = customer(factory)
    rate_card(factory)
    asked = call(factory, alice, "request_quote", {"order": ORDER, "message": "Two pallets, Monday"})
    assert asked["status"] == "requested" and asked["price"] is None     # no price before it is sent
    assert call(factory, OPERATOR, "get_quote", asked["id"])["price"]["lines"]   # the operator's starting point
    with pytest.raises(Conflict):
        call(factory, alice, "accept_quote", asked["id"])
    sent = call(factory, OPERATOR, "send_quote", asked["id"], {"valid_days": 7, "note": "Tail lift included"})
    assert sent["status"] == "sent" and sent["revision"] == 1 and sent["total"]["amount"]
    changed = call(factory, alice, "request_quote_changes", asked["id"], {"message": "Cheaper?"})
    assert changed["status"] == "changes_requested"
    resent = call(factory, OPERATOR, "send_quote", asked["id"], {"lines": [
        {"description": "Rotterdam - Amsterdam, all in", "quantity": "1", "unit": "trip",
         "unit_price": "150.00", "tax_rate": "21"}], "require_signature": False})
    assert resent["revision"] == 2 and resent["total"]["amount"] == "181.50"
    accepted = call(factory, alice, "accept_quote", asked["id"])
    assert accepted["status"] == "accepted" and accepted["booked"]
    assert [h["action"] for h in accepted["history"]] == ["requested", "sent", "changes_requested", "sent", "accepted"]
    [booked] = events(factory, "quote.accepted")
    assert booked["data"]["order"]["stops"][1]["address"]["city"] == "Amsterdam"
    assert booked["data"]["total"]["amount"] == "181.50"
    # The order booked from it is priced at the quote, not at the rate card.
    order_id = str(uuid.uuid4())
    call(factory, SYSTEM, "price_order", event("order.submitted", alice.customer_id, {
        "order_id": order_id, "reference": "Q", "kind": "delivery", "status": "submitted",
        "quote_id": asked["id"], "content": ORDER}))
    assert events(factory, "order.priced")[-1]["data"]["price"]["total"]["amount"] == "181.50"


def test_a_quote_is_accepted_unsigned_only_when_the_operator_allows_it_and_never_with_a_deposit(factory):
    alice = customer(factory)
    rate_card(factory)
    asked = call(factory, alice, "request_quote", {"order": ORDER})
    assert call(factory, OPERATOR, "send_quote", asked["id"], {})["require_signature"] is True     # the default
    with pytest.raises(Conflict) as refused:
        call(factory, alice, "accept_quote", asked["id"])
    assert refused.value.details["reason"] == "signature_required" and "/sign" in refused.value.message
    deposit = call(factory, OPERATOR, "send_quote", asked["id"], {"require_signature": False, "deposit_percent": "10"})
    assert deposit["require_signature"] is True and deposit["deposit"]
    with pytest.raises(Conflict, match="paying its deposit"):
        call(factory, alice, "accept_quote", asked["id"])
    assert not events(factory, "quote.accepted")
    call(factory, OPERATOR, "send_quote", asked["id"], {"require_signature": False})
    assert call(factory, alice, "accept_quote", asked["id"])["status"] == "accepted"


def test_an_expired_quote_cannot_be_accepted_and_filters_say_so(factory):
    alice = customer(factory)
    rate_card(factory)
    asked = call(factory, alice, "request_quote", {"order": ORDER})
    call(factory, OPERATOR, "send_quote", asked["id"], {})
    with factory() as session, session.begin():
        session.execute(update(Quote).values(valid_until=datetime.now(timezone.utc) - timedelta(minutes=1)))
    with pytest.raises(Conflict) as refused:
        call(factory, alice, "accept_quote", asked["id"])
    assert refused.value.details["status"] == "expired"
    assert call(factory, alice, "list_quotes", {"status": ["expired"]})["total"] == 1
    assert call(factory, alice, "list_quotes", {"status": ["sent"]})["total"] == 0
    other = call(factory, alice, "request_quote", {"order": ORDER})
    rejected = call(factory, alice, "reject_quote", other["id"], {"reason": "Too far ahead"})
    assert rejected["status"] == "rejected" and rejected["reason"] == "Too far ahead"
    assert call(factory, alice, "list_quotes", {"status": ["rejected", "expired"]})["total"] == 2
    assert not events(factory, "quote.accepted")


# --- scoping ------------------------------------------------------------------------------------------
def test_one_customer_never_reaches_anothers_billing(factory):
    alice, mallory = customer(factory), customer(factory, "Mallory")      # an admin: it may pay, just not this
    rate_card(factory)
    inv = invoice(factory, alice)
    paid = pay(factory, alice, inv["id"], "10.00")
    quote = call(factory, alice, "request_quote", {"order": ORDER})
    for method, args in (("get_invoice", (inv["id"],)), ("invoice_pdf", (inv["id"],)),
                         ("get_payment", (paid["id"],)), ("get_quote", (quote["id"],)),
                         ("accept_quote", (quote["id"],)),
                         ("reject_quote", (quote["id"], {"reason": "x"})),
                         ("statement", ({"customer_id": alice.customer_id},)),
                         ("account_summary", ({"customer_id": alice.customer_id},))):
        with pytest.raises(NotFound):
            call(factory, mallory, method, *args)
    with pytest.raises(NotFound):
        pay(factory, mallory, inv["id"], "1.00")
    assert call(factory, mallory, "list_invoices", {})["total"] == 0
    assert call(factory, mallory, "list_payments", {})["total"] == 0
    assert call(factory, mallory, "list_quotes", {})["total"] == 0
    for method, args in (("create_rate_card", ({"name": "x"},)), ("send_quote", (quote["id"], {})),
                         ("issue_invoice", ({"customer_id": mallory.customer_id, "lines": []},))):
        with pytest.raises(Forbidden):
            call(factory, mallory, method, *args)
    with pytest.raises(ValidationFailed):   # a customer cannot set what only the operator sets
        call(factory, alice, "request_quote", {"order": ORDER, "price": "1.00"})


def test_one_idempotency_key_on_two_invoices_is_refused_not_replayed(factory):
    alice = customer(factory)
    first, second = invoice(factory, alice), invoice(factory, alice)
    body = {"amount": "10.00", "method": "bank_transfer", "reference": "TRF-1"}
    paid = call(factory, OPERATOR, "record_payment", first["id"], body, "key-1")
    assert call(factory, OPERATOR, "record_payment", first["id"], body, "key-1")["id"] == paid["id"]
    with pytest.raises(Conflict, match="another request"):
        call(factory, OPERATOR, "record_payment", second["id"], body, "key-1")
    assert call(factory, alice, "get_invoice", second["id"])["payments"] == []
