"""Quotes: a customer asks for a price for an order it describes; the operator prices it (from
the rate card, adjusted by hand when needed) and sends it with an expiry; the customer accepts
(orders books it from ``quote.accepted``), rejects with a reason, or asks for changes, which
sends it back to the operator for a new revision. Every step is kept in the quote's history.

    requested ──send──> sent ──accept──> accepted (booked)
        ^                 │ ├──reject──> rejected
        └─ changes_requested <┘ └──(valid_until passes)──> expired
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ROLES, CallerContext
from services.common.config import env_int
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, ValidationFailed
from services.common.scoping import get_owned, owned, paged
from services.common.money import to_minor, wire_minor
from services.billing import accounts, pricing, rate_cards
from services.billing.models import Quote, QuoteEvent
from services.billing.numbering import next_number

REQUESTED, SENT, ACCEPTED = "requested", "sent", "accepted"
REJECTED, CHANGES, EXPIRED = "rejected", "changes_requested", "expired"
OPEN_TO_OPERATOR = (REQUESTED, CHANGES)


def _history(quote: Quote, action: str, caller: CallerContext, note: str | None = None) -> None:
    quote.history.append(QuoteEvent(action=action, revision=quote.revision, by_role=caller.role,
                                    by_user_id=caller.user_id, note=note, at=utcnow(),
                                    total_minor=quote.total_minor, valid_until=quote.valid_until))


def _event(uow: UnitOfWork, event_type: str, quote: Quote, **extra) -> None:
    data = {"quote_id": quote.id, "number": quote.number, "status": quote.status,
            "total": wire_minor(quote.total_minor, quote.currency) if quote.total_minor is not None else None,
            "valid_until": quote.valid_until.isoformat() if quote.valid_until else None, **extra}
    uow.emit(event_type, data, customer_id=quote.customer_id)


def own_site(caller: CallerContext, content: dict | None) -> dict | None:
    """A user limited to sites asks for quotes for one of its sites (the booking it becomes must
    be one it sees). Billing keeps no list of the customer's sites: the caller's own, spelled as
    identity keeps them, are enough to check and to spell the code; orders checks the rest when
    it books."""
    if caller.sites is None or content is None:
        return content
    given = str(content.get("site") or "").strip()
    code = {site.casefold(): site for site in caller.sites}.get(given.casefold())
    if code is None:
        raise ValidationFailed.of({"order": {"site": [
            f"{'Required' if not given else 'Not one of your sites'}: you ask for these sites only: "
            f"{', '.join(caller.sites)}."]}})
    return {**content, "site": code}


def request(uow: UnitOfWork, caller: CallerContext, data: dict) -> dict:
    """A customer asks for a quote (an operator may open one for a customer too). The rate
    card's price is worked out at once as the operator's starting point; the customer sees a
    price only once the quote is sent."""
    customer_id = caller.scope(data.get("customer_id"))
    if customer_id is None:
        raise ValidationFailed.of({"customer_id": ["Name the customer the quote is for."]})
    accounts.get(uow.session, customer_id)
    content = own_site(caller, data["order"])
    suggested = rate_cards.price_content(uow.session, customer_id, content)
    now = utcnow()
    quote = Quote(number=next_number(uow.session, "quote", now), customer_id=customer_id, status=REQUESTED, revision=0,
                  order_id=data.get("order_id"), content=content, message=data.get("message"),
                  price=suggested.wire() if suggested else None,
                  currency=suggested.currency if suggested else None, requested_by=caller.user_id,
                  created_at=now)
    uow.session.add(quote)
    _history(quote, "requested", caller, data.get("message"))
    uow.session.flush()
    _event(uow, "quote.requested", quote)
    return view(quote, caller)


def send(uow: UnitOfWork, caller: CallerContext, quote_id: str, data: dict) -> dict:
    """The operator prices the request and sends it: the rate card's price, or the lines given
    (an adjusted price), valid for ``valid_days`` (default BILLING_QUOTE_VALID_DAYS)."""
    caller.require_operator()
    quote = _locked(uow.session, caller, quote_id)
    if quote.status not in OPEN_TO_OPERATOR + (SENT,):
        raise Conflict(f"Quote {quote.number} is {quote.status.replace('_', ' ')}: it cannot be sent again.",
                       {"status": quote.status})
    price = rate_cards.price_content(uow.session, quote.customer_id, quote.content)
    if data.get("lines"):
        currency = data.get("currency") or (price.currency if price else
                                            accounts.currency_of(accounts.get(uow.session, quote.customer_id)))
        price = pricing.adjusted(price or pricing.Price.of(currency, ()), data["lines"])
    if price is None:
        raise ValidationFailed.of({"lines": ["No rate card applies to this customer and kind of order: "
                                             "give the quote's lines."]})
    if price.total <= 0:
        raise ValidationFailed.of({"lines": ["A quote's total must be more than zero."]})
    now = utcnow()
    quote.price, quote.currency = price.wire(), price.currency
    quote.total_minor = to_minor(price.total, price.currency)
    quote.valid_until = data.get("valid_until") or now + timedelta(
        days=data.get("valid_days") or env_int("BILLING_QUOTE_VALID_DAYS"))
    if quote.valid_until <= now:
        raise ValidationFailed.of({"valid_until": ["A quote must be valid for some time from now."]})
    quote.deposit_percent, quote.deposit_minor = deposit(quote.total_minor, quote.currency, data)
    quote.require_signature = bool(data.get("require_signature", True) or quote.deposit_minor)
    quote.revision += 1
    quote.status, quote.sent_at, quote.operator_note = SENT, now, data.get("note")
    _history(quote, "sent", caller, data.get("note"))
    _event(uow, "quote.sent", quote)
    return view(quote, caller)


def deposit(total_minor: int, currency: str, data: dict) -> tuple[Decimal | None, int | None]:
    """The deposit a sent quote asks for, paid by card when it is signed: an amount, or a
    percent of the total (rounded half up to the minor unit); none unless given at each send."""
    if data.get("deposit_percent") is not None:
        minor = int((Decimal(total_minor) * data["deposit_percent"] / 100).quantize(Decimal(1), ROUND_HALF_UP))
        return data["deposit_percent"], max(minor, 1)
    if data.get("deposit_amount") is not None:
        minor = to_minor(data["deposit_amount"], currency)
        if minor > total_minor:
            raise ValidationFailed.of({"deposit_amount": ["The deposit cannot be more than the quote's total."]})
        return None, minor
    return None, None


def _expired(quote: Quote, now: datetime) -> bool:
    return quote.status == SENT and quote.valid_until is not None and quote.valid_until <= now


def accept(uow: UnitOfWork, caller: CallerContext, quote_id: str) -> dict:
    caller.require(*CUSTOMER_ROLES)
    quote = _locked(uow.session, caller, quote_id)
    check_acceptable(quote)
    if quote.require_signature or quote.deposit_minor:
        # Without this a quote with a deposit was accepted here unsigned, and the deposit unpaid.
        raise Conflict(f"Quote {quote.number} is accepted by signing it"
                       f"{' and paying its deposit' if quote.deposit_minor else ''}: read its document "
                       f"(GET /quotes/{quote.id}/document) and POST /quotes/{quote.id}/sign.",
                       {"reason": "signature_required"})
    return accepted(uow, caller, quote)


def check_acceptable(quote: Quote) -> None:
    """409 unless the quote is sent and still valid."""
    now = utcnow()
    if _expired(quote, now):
        raise Conflict(f"Quote {quote.number} expired on {quote.valid_until:%Y-%m-%d %H:%M} UTC: "
                       f"ask for a new quote.", {"status": EXPIRED, "valid_until": quote.valid_until.isoformat()})
    if quote.status != SENT:
        raise Conflict(f"Quote {quote.number} is {quote.status.replace('_', ' ')}: only a sent quote can be accepted.",
                       {"status": quote.status})


def accepted(uow: UnitOfWork, caller: CallerContext, quote: Quote, note: str | None = None, **extra) -> dict:
    """Mark a checked quote accepted (orders books it from the event)."""
    quote.status, quote.decided_at = ACCEPTED, utcnow()
    _history(quote, "accepted", caller, note)
    _event(uow, "quote.accepted", quote, order_id=quote.order_id, order=quote.content, **extra)
    return view(quote, caller)


def reject(uow: UnitOfWork, caller: CallerContext, quote_id: str, reason: str) -> dict:
    caller.require(*CUSTOMER_ROLES)
    quote = _locked(uow.session, caller, quote_id)
    if quote.status not in (REQUESTED, SENT, CHANGES) or _expired(quote, utcnow()):
        raise Conflict(f"Quote {quote.number} is {_status(quote, utcnow()).replace('_', ' ')}: it cannot be rejected now.",
                       {"status": _status(quote, utcnow())})
    quote.status, quote.decided_at, quote.reason = REJECTED, utcnow(), reason
    _history(quote, "rejected", caller, reason)
    _event(uow, "quote.rejected", quote, reason=reason)
    return view(quote, caller)


def request_changes(uow: UnitOfWork, caller: CallerContext, quote_id: str, data: dict) -> dict:
    """The customer asks for changes (a new revision): what it wrote, and optionally the order
    as it wants it now. The operator sends the quote again."""
    caller.require(*CUSTOMER_ROLES)
    quote = _locked(uow.session, caller, quote_id)
    if quote.status != SENT:
        raise Conflict(f"Quote {quote.number} is {_status(quote, utcnow()).replace('_', ' ')}: changes can be "
                       f"asked for on a sent quote.", {"status": _status(quote, utcnow())})
    quote.status, quote.message = CHANGES, data["message"]
    if data.get("order"):
        quote.content = own_site(caller, data["order"])
    _history(quote, "changes_requested", caller, data["message"])
    _event(uow, "quote.changes_requested", quote)
    return view(quote, caller)


def expire(uow: UnitOfWork, caller: CallerContext) -> int:
    """Mark sent quotes past their validity as expired (the accept rule already refuses them;
    this makes the list and the filters say so)."""
    now = utcnow()
    query = select(Quote).where(Quote.status == SENT, Quote.valid_until <= now).limit(500)
    if uow.session.bind.dialect.name == "postgresql":
        # Every billing instance runs this timer: without the lock two running at the same
        # moment could both take a quote and write "expired" into its history twice.
        query = query.with_for_update(skip_locked=True)
    found = uow.session.scalars(query).all()
    for quote in found:
        quote.status = EXPIRED
        _history(quote, "expired", caller)
    return len(found)


# --- reading -----------------------------------------------------------------------------------------
def _locked(session: Session, caller: CallerContext, quote_id: str) -> Quote:
    return get_owned(session, caller, Quote, quote_id, "quote", lock=True)


def get(session: Session, caller: CallerContext, quote_id: str) -> dict:
    return view(get_owned(session, caller, Quote, quote_id, "quote"), caller)


def _status(quote: Quote, now: datetime) -> str:
    return EXPIRED if _expired(quote, now) else quote.status


def view(quote: Quote, caller: CallerContext, history: bool = True) -> dict:
    """A quote as its reader may see it: a customer sees no price before the quote is sent
    (the rate card's suggestion is the operator's working figure)."""
    now = utcnow()
    priced = quote.status not in OPEN_TO_OPERATOR or quote.revision > 0
    show_price = caller.is_operator or (priced and quote.total_minor is not None)
    out = {"id": quote.id, "number": quote.number, "customer_id": quote.customer_id,
           "status": _status(quote, now), "revision": quote.revision, "order_id": quote.order_id,
           "order": quote.content, "message": quote.message,
           "price": quote.price if show_price else None,
           "total": wire_minor(quote.total_minor, quote.currency)
           if show_price and quote.total_minor is not None else None,
           "valid_until": _iso(quote.valid_until), "note": quote.operator_note, "reason": quote.reason,
           "created_at": _iso(quote.created_at), "sent_at": _iso(quote.sent_at),
           "decided_at": _iso(quote.decided_at), "booked": quote.status == ACCEPTED,
           "deposit": wire_minor(quote.deposit_minor, quote.currency)
           if show_price and quote.deposit_minor and quote.currency else None,
           "require_signature": bool(quote.require_signature or quote.deposit_minor)}
    if history:
        out["history"] = [{"at": _iso(h.at), "action": h.action, "revision": h.revision,
                           "by": "operator" if h.by_role in ("operator_admin", "dispatcher") else
                           "customer" if h.by_role in CUSTOMER_ROLES else "system",
                           "note": h.note,
                           "total": wire_minor(h.total_minor, quote.currency)
                           if h.total_minor is not None and quote.currency and (caller.is_operator or h.action != "requested") else None,
                           "valid_until": _iso(h.valid_until)} for h in quote.history]
    return out


SORTS = {"created_at": Quote.created_at, "valid_until": Quote.valid_until, "number": Quote.number,
         "total": Quote.total_minor}


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = owned(caller, Quote, args.get("customer_id"))
    now = utcnow()
    wanted = {"accepted" if s == "booked" else s for s in args.get("status") or []}
    if wanted:
        conditions = []
        for status in wanted - {SENT, EXPIRED}:
            conditions.append(Quote.status == status)
        if SENT in wanted:
            conditions.append(and_(Quote.status == SENT, Quote.valid_until > now))
        if EXPIRED in wanted:
            conditions.append(or_(Quote.status == EXPIRED, and_(Quote.status == SENT, Quote.valid_until <= now)))
        query = query.where(or_(*conditions))
    if args.get("from"):
        query = query.where(Quote.created_at >= _day(args["from"]))
    if args.get("to"):
        query = query.where(Quote.created_at < _day(args["to"]) + timedelta(days=1))
    sort = args.get("sort") or "-created_at"
    column = SORTS[sort.lstrip("-")]
    query = query.order_by(column.desc() if sort.startswith("-") else column.asc(), Quote.number.desc())
    return paged(session, query, args, transform=lambda q: view(q, caller, history=False))


def _day(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None

