"""Sites (cost centres) of a customer on its orders: which site an order may name, and which
orders a user limited to some sites sees.

The customer's admin keeps the list of sites (identity; our copy is ``CustomerSettings.sites``).
An order names one by its code, matched without regard to case and stored as the customer
spells it, so filters and reports group one site under one code. A user limited to sites
(``caller.sites``) must name one of its own, and sees only the orders of its sites: another
site's order answers 404, exactly like another customer's."""
from __future__ import annotations

from sqlalchemy import false, or_, select

from services.common.caller import CallerContext
from services.common.errors import NotFound, ValidationFailed
from services.orders.models import CustomerSettings, Order


def codes(settings: CustomerSettings) -> list[str]:
    return [site["code"] for site in settings.sites or [] if site.get("code")]


def check_site(settings: CustomerSettings, caller: CallerContext, given: str | None) -> str | None:
    """The site code an order is stored with, or a 422 naming the ``site`` field."""
    given = (given or "").strip() or None
    if given is None:
        if caller.sites is not None:
            raise ValidationFailed.of({"site": [
                f"Required: you book for these sites only: {', '.join(caller.sites)}."]})
        return None
    known = {code.casefold(): code for code in codes(settings)}
    code = known.get(given.casefold())
    if code is None:
        choice = f" Use one of: {', '.join(known.values())}." if known else " This account has no sites."
        raise ValidationFailed.of({"site": [f"No such site {given!r}.{choice}"]})
    if not caller.sees_site(code):
        raise ValidationFailed.of({"site": [
            f"You book for these sites only: {', '.join(caller.sites)}."]})
    return code


def visible(caller: CallerContext):
    """The WHERE clause that keeps a site-limited caller to its sites' orders (None: no limit)."""
    if caller.sites is None:
        return None
    return Order.site.in_(caller.sites) if caller.sites else false()


def require_visible(caller: CallerContext, order: Order | None, what: str = "order") -> None:
    """404 when the order belongs to a site the caller does not see (or does not exist)."""
    if order is None or not caller.sees_site(order.site):
        raise NotFound(f"No such {what}.")


def of_visible_orders(caller: CallerContext, query, order_id_column, *, loose: bool = False):
    """``query`` of what hangs on orders (documents, requests, exceptions, conversations) kept to
    the orders a site-limited caller sees; ``loose``: rows on no order (a support thread) stay."""
    limited = visible(caller)
    if limited is None:
        return query
    mine = order_id_column.in_(select(Order.id).where(limited))
    return query.where(or_(order_id_column.is_(None), mine) if loose else mine)


def require_visible_order(session, caller: CallerContext, order_id: str | None, what: str, *,
                          loose: bool = False) -> None:
    """404 (as ``No such <what>``) when a thing hung on an order lies outside the caller's
    sites; ``loose``: a thing on no order (a support thread) is the whole customer's."""
    if caller.sites is None or (order_id is None and loose):
        return
    require_visible(caller, session.get(Order, order_id) if order_id else None, what)
