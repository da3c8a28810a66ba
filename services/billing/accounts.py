"""Billing's copy of each customer (name, client id, billing address), fed by identity's
``customer.created`` / ``customer.updated``, and the terms billing applies to it."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.config import env, env_int
from services.common.errors import NotFound
from services.billing.models import Account


def apply_customer_event(session: Session, event: dict) -> None:
    data = event["data"]
    account = session.get(Account, data["customer_id"], with_for_update=True)
    if account is None:
        account = Account(customer_id=data["customer_id"], name=data["name"])
        session.add(account)
    account.name = data["name"]
    account.client_id = data.get("client_id")
    account.is_active = data.get("is_active", True)
    if "billing_address" in data:
        account.billing_address = data["billing_address"]


def get(session: Session, customer_id: str) -> Account:
    """The account of a customer billing has heard of; 404 otherwise (the same answer as for a
    customer that does not exist)."""
    account = session.get(Account, customer_id)
    if account is None:
        raise NotFound("No such customer.")
    return account


def currency_of(account: Account | None) -> str:
    return (account.currency if account and account.currency else env("BILLING_CURRENCY")).upper()


def terms_days(account: Account | None) -> int:
    if account is not None and account.payment_terms_days is not None:
        return account.payment_terms_days
    return env_int("BILLING_PAYMENT_TERMS_DAYS")


def snapshot(account: Account) -> dict:
    """What an invoice keeps of its customer as it was on the day it was issued."""
    return {"id": account.customer_id, "name": account.name, "client_id": account.client_id,
            "billing_address": account.billing_address}
