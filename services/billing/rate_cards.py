"""Rate cards (the operator's prices) and choosing the one that prices an order: the
customer's own card for the order's kind, else its card for any kind, else the default card
for the kind, else the default for any kind."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.errors import NotFound
from services.common.schemas import dump
from services.common.scoping import paged
from services.billing import pricing
from services.billing.rate_card_schemas import RateCardOut
from services.billing.models import RateCard

FIELDS = ("name", "customer_id", "kind", "currency", "tax_rate", "base_fee", "per_km", "per_kg",
          "per_package", "per_hour", "per_day", "minimum", "road_factor", "timezone",
          "surcharges", "active")


def card_dict(card: RateCard) -> dict:
    """The card as ``services.billing.pricing`` reads it."""
    return {"id": card.id, **{name: getattr(card, name) for name in FIELDS},
            "created_at": card.created_at, "updated_at": card.updated_at}


def view(card: RateCard) -> dict:
    return dump(RateCardOut, card_dict(card))


def _storable(data: dict) -> dict:
    """Surcharges live in a JSON column: their decimals are kept as strings, exactly."""
    out = {k: v for k, v in data.items() if k in FIELDS}
    if "surcharges" in out:
        out["surcharges"] = [{k: str(v) if isinstance(v, Decimal) else v for k, v in s.items()}
                             for s in out["surcharges"] or []]
    return out


def create(session: Session, caller: CallerContext, data: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    card = RateCard(**_storable(data))
    session.add(card)
    session.flush()
    return view(card)


def update(session: Session, caller: CallerContext, card_id: str, data: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    card = session.get(RateCard, card_id, with_for_update=True)
    if card is None:
        raise NotFound("No such rate card.")
    for name, value in _storable(data).items():
        setattr(card, name, value)
    session.flush()
    return view(card)


def get(session: Session, caller: CallerContext, card_id: str) -> dict:
    caller.require_operator()
    card = session.get(RateCard, card_id)
    if card is None:
        raise NotFound("No such rate card.")
    return view(card)


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    caller.require_operator()
    query = select(RateCard)
    if args.get("customer_id"):
        query = query.where(RateCard.customer_id == args["customer_id"])
    if args.get("active") is not None:
        query = query.where(RateCard.active == args["active"])
    return paged(session, query.order_by(RateCard.customer_id.is_(None), RateCard.name), args, transform=view)


def choose(session: Session, customer_id: str, kind: str | None) -> RateCard | None:
    own_first = case((RateCard.customer_id.is_(None), 1), else_=0)
    kind_first = case((RateCard.kind.is_(None), 1), else_=0)
    return session.scalar(
        select(RateCard).where(RateCard.active.is_(True),
                               or_(RateCard.customer_id == customer_id, RateCard.customer_id.is_(None)),
                               or_(RateCard.kind == kind, RateCard.kind.is_(None)))
        .order_by(own_first, kind_first, RateCard.updated_at.desc()).limit(1))


def price_content(session: Session, customer_id: str, content: dict) -> pricing.Price | None:
    """The price of an order (its content as the order API writes it), or None when no rate
    card applies to this customer and kind."""
    card = choose(session, customer_id, content.get("kind"))
    if card is None:
        return None
    facts = pricing.facts_of(content, Decimal(card.road_factor or "1.3"))
    return pricing.price(card_dict(card), facts)


def preview(session: Session, caller: CallerContext, customer_id: str, content: dict) -> dict:
    """What an order would cost (the operator pricing a request; the webbooker's estimate)."""
    customer_id = caller.scope(customer_id)
    price = price_content(session, customer_id, content)
    return {"price": price.wire() if price else None}
