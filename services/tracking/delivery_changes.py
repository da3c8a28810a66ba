"""The recipient's side of a delivery exception (services.orders.exceptions): whoever holds a
tracking link may see whether its delivery is late or failed and ask dispatch for another time
window, leave-at instructions or another address. Tracking owns the link: it resolves the token
(a revoked or expired link is the same 404 as an unknown one) and asks orders by RPC, as the
``service`` role, with the link's order; orders keeps the rules (the recipient's stop, one request
at a time, a daily limit per stop, the validation) and the requests."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.tracking import links


def through_link(orders_rpc, session: Session, token: str, method: str, *args):
    """Orders' ``method`` for the order the token opens (its refusals come back as the platform's
    own errors: services.common.service_rpc)."""
    order = links.resolve(session, token)
    return orders_rpc(method, order.order_id, *args)
