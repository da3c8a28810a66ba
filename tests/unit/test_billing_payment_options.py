"""Paying several invoices at once, saved cards, auto-pay on issue and account credit, through
the billing service's entrypoints on SQLite with the test card processor (issue 11)."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.billing import payments as payment_rules
from services.billing.models import Base, LedgerEntry, Payment, SavedPaymentMethod
from services.billing.providers import get_provider
from services.common.caller import CUSTOMER_BOOKER, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Conflict, Forbidden, NotFound, PaymentDeclined, ValidationFailed
from tests.unit import test_billing
from tests.unit.test_billing import OPERATOR, call, customer, event, events, invoice

factory = test_billing.factory      # the same fixture: a fresh SQLite billing database per test


def pay_several(factory, who, ids, key=None, **body):
    if "saved_method_id" not in body:
        body.setdefault("payment_method", "tok_visa")
    return call(factory, who, "pay_invoices", {"invoice_ids": ids, **body}, idempotency_key=key)


def ledger(factory, customer_id):
    with factory() as session:
        return session.execute(select(LedgerEntry.kind, LedgerEntry.amount_minor, LedgerEntry.invoice_id)
                               .where(LedgerEntry.customer_id == customer_id).order_by(LedgerEntry.seq)).all()


def charges(factory):
    return get_provider(engine=factory.kw["bind"]).charge_count()


def issued(factory, who, amount="100.00"):
    """An invoice issued, and billing's own invoice.issued handler run on its event (auto-pay)."""
    inv = invoice(factory, who, [{"description": "Transport", "quantity": "1", "unit_price": amount, "tax_rate": "0"}])
    announced = [e for e in events(factory, "invoice.issued") if e["data"]["invoice_id"] == inv["id"]][0]
    call(factory, CallerContext(role="service"), "autopay_invoice", announced)
    return inv, announced


# --- several invoices, one charge -----------------------------------------------------------------
def test_several_invoices_are_paid_with_one_charge_allocated_to_each(factory):
    alice = customer(factory)
    first, second = invoice(factory, alice), invoice(factory, alice)
    paid = pay_several(factory, alice, [first["id"], second["id"]], key="both", amount="242.00")
    assert paid["status"] == "succeeded" and paid["amount"]["amount"] == "242.00"
    assert sorted(p["invoice_id"] for p in paid["payments"]) == sorted([first["id"], second["id"]])
    assert charges(factory) == 1                                    # one charge at the processor
    for inv in (first, second):
        assert call(factory, alice, "get_invoice", inv["id"])["status"] == "paid"
    payments = [row for row in ledger(factory, alice.customer_id) if row.kind == "payment"]
    assert sorted((r.invoice_id, r.amount_minor) for r in payments) == sorted(
        [(first["id"], -12100), (second["id"], -12100)])           # a ledger row per invoice
    assert pay_several(factory, alice, [first["id"], second["id"]], key="both", amount="242.00") == paid
    assert charges(factory) == 1                                    # the replay charged nothing
    with pytest.raises(Conflict):                                   # the same key, another request
        pay_several(factory, alice, [first["id"]], key="both")


def test_paying_several_refuses_paid_and_foreign_invoices_and_a_decline_pays_none(factory):
    alice, bob = customer(factory), customer(factory, "Bob Ltd")
    done, open_one, bobs = invoice(factory, alice), invoice(factory, alice), invoice(factory, bob)
    pay_several(factory, alice, [done["id"]])
    with pytest.raises(Conflict) as refused:
        pay_several(factory, alice, [done["id"], open_one["id"]])
    assert done["number"] in refused.value.message and refused.value.details["invoice_ids"] == [done["id"]]
    with pytest.raises(NotFound) as hidden:
        pay_several(factory, alice, [open_one["id"], bobs["id"]])
    assert hidden.value.details["invoice_ids"] == [bobs["id"]]
    with pytest.raises(Conflict):                                   # the total changed since it was shown
        pay_several(factory, alice, [open_one["id"]], amount="100.00")
    with pytest.raises(ValidationFailed):
        pay_several(factory, alice, [open_one["id"], open_one["id"]])
    other = invoice(factory, alice)
    with pytest.raises(PaymentDeclined):
        pay_several(factory, alice, [open_one["id"], other["id"]], payment_method="tok_chargeDeclined")
    for inv in (open_one, other):
        assert call(factory, alice, "get_invoice", inv["id"])["outstanding"]["amount"] == "121.00"
    assert charges(factory) == 1                                    # only the first batch
    assert call(factory, bob, "get_invoice", bobs["id"])["status"] == "open"


def test_a_batch_that_needs_three_d_secure_settles_every_invoice_when_confirmed(factory):
    alice = customer(factory)
    first, second = invoice(factory, alice), invoice(factory, alice)
    waiting = pay_several(factory, alice, [first["id"], second["id"]], payment_method="tok_threeDSecureRequired")
    assert waiting["status"] == "requires_action"
    done = call(factory, alice, "confirm_payment", waiting["payment_id"], {"challenge_response": "pass"})
    assert done["status"] == "succeeded"
    assert {call(factory, alice, "get_invoice", i["id"])["status"] for i in (first, second)} == {"paid"}


def test_a_batch_whose_answer_was_lost_is_reconciled_as_one_charge(factory):
    alice = customer(factory)
    first, second = invoice(factory, alice), invoice(factory, alice)
    waiting = pay_several(factory, alice, [first["id"], second["id"]], payment_method="tok_timeout")
    assert {p["status"] for p in waiting["payments"]} == {"processing"}
    uow = UnitOfWork(factory, Base)
    payment_rules.reconcile(uow, older_than=timedelta(0))
    uow.commit()
    uow.close()
    assert {call(factory, alice, "get_invoice", i["id"])["status"] for i in (first, second)} == {"paid"}
    assert charges(factory) == 1 and len(events(factory, "payment.received")) == 2


# --- saved cards ----------------------------------------------------------------------------------------
def test_a_saved_card_keeps_only_its_token_and_display_data_and_pays_later(factory):
    alice = customer(factory)
    first = invoice(factory, alice)
    call(factory, alice, "pay_invoice", first["id"], {"amount": "121.00", "payment_method": "tok_mastercard",
                                                        "save_card": True})
    saved = call(factory, alice, "list_payment_methods")["items"]
    assert [(m["brand"], m["last4"], m["is_default"]) for m in saved] == [("mastercard", "4444", True)]
    assert saved[0]["expiry"] and "token" not in saved[0]
    second = invoice(factory, alice)
    paid = call(factory, alice, "pay_invoice", second["id"], {"amount": "121.00", "saved_method_id": saved[0]["id"]})
    assert paid["status"] == "succeeded" and paid["card"]["last4"] == "4444"
    with pytest.raises(ValidationFailed):                           # a token or a saved card, not both
        call(factory, alice, "pay_invoice", second["id"], {"amount": "1.00", "payment_method": "tok_visa",
                                                             "saved_method_id": saved[0]["id"]})
    dump = "\n".join(factory.kw["bind"].raw_connection().iterdump())
    assert "5555555555554444" not in dump and "5555 5555 5555 4444" not in dump


def test_saved_cards_belong_to_their_customer_and_only_its_admins_manage_them(factory):
    alice, bob = customer(factory), customer(factory, "Bob Ltd")
    for token in ("tok_visa", "tok_amex"):
        inv = invoice(factory, alice)
        call(factory, alice, "pay_invoice", inv["id"], {"amount": "121.00", "payment_method": token, "save_card": True})
    visa, amex = call(factory, alice, "list_payment_methods")["items"]
    clerk = CallerContext(role=CUSTOMER_BOOKER, user_id=str(uuid.uuid4()), customer_id=alice.customer_id)
    assert len(call(factory, clerk, "list_payment_methods")["items"]) == 2   # a clerk may pay with them
    with pytest.raises(Forbidden):
        call(factory, clerk, "delete_payment_method", visa["id"])
    assert call(factory, bob, "list_payment_methods")["items"] == []
    with pytest.raises(NotFound):
        call(factory, bob, "delete_payment_method", visa["id"])
    with pytest.raises(NotFound):
        call(factory, bob, "pay_invoice", invoice(factory, bob)["id"], {"amount": "1.00", "saved_method_id": visa["id"]})
    assert call(factory, alice, "set_default_payment_method", amex["id"])["is_default"] is True
    call(factory, alice, "delete_payment_method", amex["id"])
    assert [(m["id"], m["is_default"]) for m in call(factory, alice, "list_payment_methods")["items"]] == [(visa["id"], True)]


# --- auto-pay -------------------------------------------------------------------------------------------
def with_saved_card(factory, who, token="tok_visa"):
    inv = invoice(factory, who)
    call(factory, who, "pay_invoice", inv["id"], {"amount": "121.00", "payment_method": token, "save_card": True})
    return call(factory, who, "list_payment_methods")["items"][0]


def test_auto_pay_charges_an_issued_invoice_once_even_when_the_event_comes_twice(factory):
    alice = customer(factory)
    with pytest.raises(ValidationFailed):                           # no saved card yet
        call(factory, alice, "update_autopay", {"enabled": True})
    card = with_saved_card(factory, alice)
    clerk = CallerContext(role=CUSTOMER_BOOKER, user_id="u2", customer_id=alice.customer_id)
    with pytest.raises(Forbidden):
        call(factory, clerk, "update_autopay", {"enabled": True})
    assert call(factory, alice, "update_autopay", {"enabled": True})["payment_method"]["id"] == card["id"]
    before = charges(factory)
    inv, announced = issued(factory, alice)
    assert call(factory, alice, "get_invoice", inv["id"])["status"] == "paid"
    call(factory, CallerContext(role="service"), "autopay_invoice", announced)   # redelivered
    assert charges(factory) == before + 1
    with pytest.raises(Conflict):                                   # auto-pay's card stays while it is on
        call(factory, alice, "delete_payment_method", card["id"])
    call(factory, alice, "update_autopay", {"enabled": False})
    call(factory, alice, "delete_payment_method", card["id"])
    assert call(factory, alice, "get_autopay")["payment_method"] is None


def test_a_failed_auto_pay_leaves_the_invoice_open_and_is_announced_and_shown(factory):
    alice = customer(factory)
    card = with_saved_card(factory, alice)
    call(factory, alice, "update_autopay", {"enabled": True, "payment_method_id": card["id"]})
    with factory() as session, session.begin():                     # the card has been cancelled since
        session.execute(update(SavedPaymentMethod).values(token="tok_insufficientFunds"))
    inv, _ = issued(factory, alice)
    assert call(factory, alice, "get_invoice", inv["id"])["status"] == "open"
    failed = [e for e in events(factory, "payment.failed") if e["data"]["invoice_id"] == inv["id"]]
    assert len(failed) == 1 and failed[0]["data"]["autopay"] and failed[0]["data"]["failure_code"] == "insufficient_funds"
    shown = call(factory, alice, "get_autopay")["recent_failures"]
    assert [(f["invoice_id"], f["failure_code"]) for f in shown] == [(inv["id"], "insufficient_funds")]


# --- account credit --------------------------------------------------------------------------------------
def test_credit_beyond_what_is_owed_becomes_account_credit_used_on_the_next_invoices_before_auto_pay(factory):
    alice = customer(factory)
    card = with_saved_card(factory, alice)                          # its invoice is paid
    paid_one = call(factory, alice, "list_invoices", {})["items"][0]
    with pytest.raises(Conflict):                                   # unchanged without asking for credit
        call(factory, OPERATOR, "credit_invoice", paid_one["id"], {"amount": "30.00", "reason": "Damaged"})
    call(factory, OPERATOR, "credit_invoice", paid_one["id"], {"amount": "30.00", "reason": "Damaged",
                                                               "excess_to_credit": True})
    summary = call(factory, alice, "account_summary")
    assert summary["credit_balance"]["amount"] == "30.00" and summary["current_balance"]["amount"] == "-30.00"
    call(factory, alice, "update_autopay", {"enabled": True, "payment_method_id": card["id"]})
    before = charges(factory)
    small, _ = issued(factory, alice, "20.00")                      # paid by credit alone: no charge
    assert call(factory, alice, "get_invoice", small["id"])["status"] == "paid" and charges(factory) == before
    big, _ = issued(factory, alice, "50.00")                        # 10.00 of credit, 40.00 charged
    view = call(factory, alice, "get_invoice", big["id"])
    assert view["status"] == "paid"
    assert sorted((p["method"], p["amount"]["amount"]) for p in view["payments"]) == [
        ("account_credit", "10.00"), ("card", "40.00")]
    assert charges(factory) == before + 1
    kinds = [row.kind for row in ledger(factory, alice.customer_id) if row.invoice_id == big["id"]]
    assert kinds == ["invoice", "payment", "credit_used", "payment"]
    summary = call(factory, alice, "account_summary")
    assert summary["credit_balance"]["amount"] == "0.00" and summary["current_balance"]["amount"] == "0.00"


def test_an_overpayment_recorded_by_the_operator_becomes_account_credit(factory):
    alice = customer(factory)
    inv = invoice(factory, alice)
    with pytest.raises(Conflict):
        call(factory, OPERATOR, "record_payment", inv["id"], {"amount": "150.00", "method": "bank_transfer"})
    received = call(factory, OPERATOR, "record_payment", inv["id"], {"amount": "150.00", "method": "bank_transfer",
                                                                      "excess_to_credit": True})
    assert call(factory, alice, "get_invoice", inv["id"])["status"] == "paid"
    assert call(factory, alice, "account_summary")["credit_balance"]["amount"] == "29.00"
    with pytest.raises(Conflict):                                   # the credit part is not refunded here
        call(factory, OPERATOR, "refund_payment", received["id"], {"amount": "130.00"})
    statement = call(factory, alice, "statement", {})
    assert statement["closing_balance"]["amount"] == "-29.00"
    assert statement["totals"]["account_credit"]["amount"] == "29.00"
    with factory() as session:
        assert session.scalar(select(Payment.amount_minor).where(Payment.id == received["id"])) == 15000


def test_a_failed_auto_pay_becomes_an_email_and_an_in_app_notice_for_the_customer(tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from services.notify import models as notify_models
    from services.notify.emails import render
    from services.notify.notices import CUSTOMER, notices
    from services.notify.preferences import CUSTOMER_DEFAULTS

    engine = create_engine(f"sqlite:///{tmp_path}/notify.db")
    notify_models.Base.metadata.create_all(engine)
    data = {"payment_id": "p-1", "invoice_id": "i-1", "amount": {"amount": "35.00", "currency": "EUR"},
            "autopay": True, "invoice_number": "INV-2026-000007", "failure_code": "insufficient_funds",
            "failure_message": "Your card has insufficient funds.", "card": "Visa ending 4242"}
    with Session(engine) as session:
        [notice] = notices(session, event("payment.failed", str(uuid.uuid4()), data))
    assert (notice.audience, notice.kind, notice.link) == (CUSTOMER, "payment_failed", "/invoices/i-1")
    assert CUSTOMER_DEFAULTS["payment.failed"]["email"] is True
    email = render(notice.kind, notice.context, recipient_name="Ann")
    assert "INV-2026-000007" in email.subject and "insufficient funds" in email.text
