"""Saved payment methods: a card a customer chose to keep ("save this card" when paying), kept
as the processor's token plus what a person needs to recognise it (brand, last 4, expiry).
Never a card number, never a CVC: the token is all the platform ever held.

Everyone of the customer who may pay sees them and may pay with one; customer admins choose
the default and delete them (and choose the one auto-pay uses, services/billing/autopay.py)."""
from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, CallerContext
from services.common.errors import Conflict
from services.common.scoping import get_owned, owned
from services.billing.models import AutoPay, Payment, SavedPaymentMethod
from services.billing.providers import PaymentProvider, ProviderError

log = logging.getLogger(__name__)


def listing(session: Session, caller: CallerContext) -> dict:
    caller.require(*CUSTOMER_ROLES)
    found = session.scalars(owned(caller, SavedPaymentMethod)
                            .order_by(SavedPaymentMethod.is_default.desc(), SavedPaymentMethod.created_at)).all()
    return {"items": [view(m) for m in found]}


def owned_method(session: Session, caller: CallerContext, method_id: str, lock: bool = False) -> SavedPaymentMethod:
    return get_owned(session, caller, SavedPaymentMethod, method_id, "saved payment method", lock=lock)


def token_of(session: Session, caller: CallerContext, method_id: str) -> str:
    """The processor's token of one of the caller's saved methods (404 for anyone else's)."""
    return owned_method(session, caller, method_id).token


def set_default(session: Session, caller: CallerContext, method_id: str) -> dict:
    caller.require(CUSTOMER_ADMIN)
    method = owned_method(session, caller, method_id, lock=True)
    session.execute(update(SavedPaymentMethod).where(SavedPaymentMethod.customer_id == method.customer_id,
                                                     SavedPaymentMethod.id != method.id).values(is_default=False))
    method.is_default = True
    return view(method)


def delete(session: Session, caller: CallerContext, method_id: str) -> dict:
    caller.require(CUSTOMER_ADMIN)
    method = owned_method(session, caller, method_id, lock=True)
    autopay = session.get(AutoPay, method.customer_id)
    if autopay is not None and autopay.payment_method_id == method.id and autopay.enabled:
        raise Conflict("Auto-pay charges this card: choose another card for auto-pay or turn it off first.",
                       {"payment_method_id": method.id})
    if autopay is not None and autopay.payment_method_id == method.id:
        autopay.payment_method_id = None
        session.flush()         # before the delete: the foreign key still points at the card
    session.delete(method)
    session.flush()
    if method.is_default:       # the oldest remaining card becomes the default
        oldest = session.scalar(select(SavedPaymentMethod).where(
            SavedPaymentMethod.customer_id == method.customer_id).order_by(SavedPaymentMethod.created_at).limit(1))
        if oldest is not None:
            oldest.is_default = True
    return {"id": method_id, "deleted": True}


def remember(session: Session, payment: Payment, card: dict | None,
             processor: PaymentProvider) -> SavedPaymentMethod | None:
    """Keep the card of a payment that succeeded with "save this card" (once per token); the
    customer's first saved card becomes its default."""
    token = payment.payment_method
    if not token:
        return None
    found = session.scalar(select(SavedPaymentMethod).where(
        SavedPaymentMethod.customer_id == payment.customer_id, SavedPaymentMethod.provider == payment.provider,
        SavedPaymentMethod.token == token))
    if found is not None:
        return found
    try:
        details = processor.describe_method(token) or {}
    except ProviderError as exc:      # the card is kept all the same, without its expiry
        log.warning("payment %s: the processor did not describe the card: %s", payment.id, exc)
        details = {}
    details = {**(card or {}), **{k: v for k, v in details.items() if v is not None}}
    first = session.scalar(select(SavedPaymentMethod.id).where(
        SavedPaymentMethod.customer_id == payment.customer_id).limit(1)) is None
    method = SavedPaymentMethod(customer_id=payment.customer_id, provider=payment.provider or "test",
                                token=token, brand=details.get("brand"), last4=details.get("last4"),
                                exp_month=details.get("exp_month"), exp_year=details.get("exp_year"),
                                is_default=first, created_by=payment.recorded_by)
    session.add(method)
    session.flush()
    return method


def view(method: SavedPaymentMethod) -> dict:
    brand = (method.brand or "card").replace("_", " ").title()
    expiry = (f"{method.exp_month:02d}/{method.exp_year % 100:02d}"
              if method.exp_month and method.exp_year else None)
    return {"id": method.id, "brand": method.brand, "last4": method.last4,
            "exp_month": method.exp_month, "exp_year": method.exp_year, "expiry": expiry,
            "label": f"{brand} ending {method.last4}" if method.last4 else brand,
            "is_default": method.is_default, "created_at": method.created_at.isoformat()}
