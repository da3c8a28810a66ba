"""Paying several invoices at once, saving the card, auto-pay on issue and account credit, over
HTTP against the running stack (issue 11): the auto-pay charge follows billing's own
``invoice.issued`` on the real bus."""
import uuid

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e


def customer(stack, mailbox, admin_token, name, role="customer_admin"):
    made = post(stack, "/api/v1/admin/customers", {"name": f"{name} {uuid.uuid4().hex[:6]}"}, admin_token).json()
    token = invite_and_accept(stack, mailbox, admin_token, made["id"], f"{role}.{uuid.uuid4().hex[:6]}@pay.example", role)
    wait_for(lambda: get(stack, "/api/v1/account/summary", token).status_code == 200, timeout=20,
             what="billing to know the customer")
    return made["id"], token


def issue(stack, admin_token, customer_id, amount):
    made = post(stack, "/api/v1/admin/invoices", {"customer_id": customer_id, "lines": [
        {"description": "Transport", "quantity": "1", "unit_price": amount, "tax_rate": "0"}]}, admin_token)
    assert made.status_code == 201, made.text
    return made.json()


def pay_several(stack, token, body, key):
    return requests.post(f"{stack.base}/api/v1/payments", json=body, timeout=40,
                         headers={**auth(token), "Idempotency-Key": key})


def test_pay_several_save_the_card_then_auto_pay_uses_credit_first_and_charges_once(stack, mailbox, admin_token):
    customer_id, token = customer(stack, mailbox, admin_token, "Autopay")
    _, nosy = customer(stack, mailbox, admin_token, "Nosy")
    first, second = issue(stack, admin_token, customer_id, "40.00"), issue(stack, admin_token, customer_id, "60.00")
    body = {"invoice_ids": [first["id"], second["id"]], "amount": "100.00", "payment_method": "tok_visa",
            "save_card": True}

    assert pay_several(stack, nosy, body, "nosy-1").status_code == 404        # not theirs
    paid = pay_several(stack, token, body, "both-1")
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded" and len(paid.json()["payments"]) == 2
    assert pay_several(stack, token, body, "both-1").json() == paid.json()    # a replay
    again = pay_several(stack, token, body, "both-2")                         # already paid: nothing charged
    assert again.status_code == 409 and first["number"] in again.json()["error"]["message"]
    charged = get(stack, "/api/v1/payments?status=succeeded", token).json()["items"]
    assert sorted(p["amount"]["amount"] for p in charged) == ["40.00", "60.00"]

    cards = get(stack, "/api/v1/payment-methods", token).json()["items"]
    assert [(c["brand"], c["last4"], c["is_default"]) for c in cards] == [("visa", "4242", True)]
    assert get(stack, "/api/v1/payment-methods", nosy).json()["items"] == []
    turned_on = requests.put(f"{stack.base}/api/v1/autopay", json={"enabled": True}, headers=auth(token), timeout=15)
    assert turned_on.status_code == 200 and turned_on.json()["payment_method"]["id"] == cards[0]["id"]

    # 15.00 of credit from a credit note on a paid invoice, then an invoice of 50.00 on auto-pay.
    credited = post(stack, f"/api/v1/admin/invoices/{first['id']}/credit-notes",
                    {"amount": "15.00", "reason": "Late", "excess_to_credit": True}, admin_token)
    assert credited.status_code == 201, credited.text
    assert get(stack, "/api/v1/account/summary", token).json()["credit_balance"]["amount"] == "15.00"
    third = issue(stack, admin_token, customer_id, "50.00")
    assert third["outstanding"]["amount"] == "35.00"                          # credit used on issue
    settled = wait_for(lambda: (lambda inv: inv if inv["status"] == "paid" else None)(
        get(stack, f"/api/v1/invoices/{third['id']}", token).json()), timeout=30, what="auto-pay to charge the invoice")
    assert sorted((p["method"], p["amount"]["amount"]) for p in settled["payments"]) == [
        ("account_credit", "15.00"), ("card", "35.00")]
    summary = get(stack, "/api/v1/account/summary", token).json()
    assert summary["credit_balance"]["amount"] == "0.00" and summary["current_balance"]["amount"] == "0.00"

    # Auto-pay off, then the card can go (PostgreSQL checks the foreign key from auto-pay to it).
    assert requests.put(f"{stack.base}/api/v1/autopay", json={"enabled": False}, headers=auth(token),
                        timeout=15).json()["enabled"] is False
    assert requests.delete(f"{stack.base}/api/v1/payment-methods/{cards[0]['id']}", headers=auth(token),
                           timeout=15).status_code == 200
    assert get(stack, "/api/v1/payment-methods", token).json()["items"] == []
