"""The tracking service: entrypoints only. Positions and stop reports from the driver apps are
consumed by the ingest worker (``services.tracking.ingest``, a process of its own); this service
keeps the orders' facts, answers reads, keeps tracking links (with their access log and the
recipients' feedback) and deletes old history."""
from __future__ import annotations

from nameko.timer import timer

from services.common.caller import personal
from services.common.database import Database
from services.common.live import LiveUpdates
from services.common.entrypoints import event_handler, rpc
from services.common.schemas import load
from services.common.service import PortalService
from services.common.service_rpc import ServiceRpc
from services.orders.schemas import DeliveryChangeIn
from services.tracking import delivery_changes
from services.tracking import assignments, feedback, link_access, links, live, reports, retention, views
from services.tracking.models import Base
from services.tracking.schemas import FeedbackFilterArgs, FeedbackIn, FeedbackListArgs, LinkIn, VisitorIn


class Service(PortalService):
    name = "tracking"
    db = Database(Base)
    live_updates = LiveUpdates(live.EXCHANGE)
    orders = ServiceRpc("orders")

    # --- facts from other services ------------------------------------------------------------
    @event_handler("customer.created", "customer.updated")
    def keep_sharing(self, event: dict) -> None:
        assignments.apply_customer_event(self.db.session, event)

    @event_handler("order.created", "order.scheduled", "order.status_changed")
    def follow_orders(self, event: dict) -> None:
        session = self.db.session
        order = assignments.apply_order_event(session, event)
        if live.watched(session, [order.order_id]):
            self.live_updates.publish(live.routing_key(order.order_id),
                                      live.message(views.seen_from_db(session, order)))

    # --- reads --------------------------------------------------------------------------------
    @rpc
    def order_tracking(self, order_id: str) -> dict:
        session = self.db.session
        return views.customer_view(views.seen_from_db(session, links.get_order(session, self.caller, order_id)))

    # personal: a read that also writes its own bookkeeping (the watch on the order, the
    # link's opening), which a read-only caller (a viewer) may do too.
    @personal
    @rpc
    def watch(self, order_id: str) -> dict:
        """The order's view, and a watch on it: live updates flow while the stream renews it."""
        session = self.db.session
        order = links.get_order(session, self.caller, order_id)
        live.watch(session, order.order_id)
        return views.customer_view(views.seen_from_db(session, order))

    @personal
    @rpc
    def public_tracking(self, token: str, watch: bool = False, visitor: dict | None = None) -> dict:
        """The link's view; ``visitor`` (coarse origin) logs an opening, ``watch`` renews a stream."""
        session = self.db.session
        order = links.resolve(session, token, load(VisitorIn, visitor) if visitor is not None else None)
        if watch:
            live.watch(session, order.order_id)
        return {"order_id": order.order_id, "view": views.public_view(views.seen_from_db(session, order))}

    # --- tracking links -----------------------------------------------------------------------
    @rpc
    def create_link(self, order_id: str, payload: dict) -> dict:
        return links.create(self.db.session, self.caller, order_id, load(LinkIn, payload))

    @rpc
    def list_links(self, order_id: str) -> list:
        return links.listing(self.db.session, self.caller, order_id)

    @rpc
    def revoke_link(self, link_id: str) -> None:
        links.revoke(self.db.session, self.caller, link_id)

    @rpc
    def link_accesses(self, link_id: str) -> dict:
        session = self.db.session
        return link_access.listing(session, links.get_link(session, self.caller, link_id))

    # --- recipient feedback -------------------------------------------------------------------
    @rpc
    def public_feedback(self, token: str) -> dict:
        return feedback.public_state(self.db.session, token)

    @rpc
    def give_feedback(self, token: str, payload: dict) -> dict:
        state, created = feedback.give(self.db, token, load(FeedbackIn, payload))
        return {"created": created, "view": state}

    # --- the recipient acting on a delivery exception (services.tracking.delivery_changes) -----
    @rpc
    def public_exception(self, token: str) -> dict:
        return delivery_changes.through_link(self.orders, self.db.session, token, "recipient_exception")

    @rpc
    def ask_delivery_change(self, token: str, payload: dict) -> dict:
        load(DeliveryChangeIn, payload)              # refused here before the link is looked up
        return delivery_changes.through_link(self.orders, self.db.session, token, "recipient_delivery_change",
                                             payload)

    @rpc
    def order_feedback(self, order_id: str) -> dict:
        return feedback.of_order(self.db.session, self.caller, order_id)

    @rpc
    def list_feedback(self, args: dict) -> dict:
        self.caller.require_operator()
        return feedback.listing(self.db.session, self.caller, load(FeedbackListArgs, args))

    @rpc
    def feedback_averages(self, args: dict) -> dict:
        self.caller.require_operator()
        return feedback.averages(self.db.session, self.caller, load(FeedbackFilterArgs, args))

    # --- operator -----------------------------------------------------------------------------
    @rpc
    def stats(self) -> dict:
        self.caller.require_operator()
        return reports.stats(self.db.session)

    @rpc
    def driver_positions(self) -> list:
        self.caller.require_operator()
        return reports.latest_positions(self.db.session)

    @timer(interval=600)
    def forget_old_positions(self) -> None:
        retention.purge(self.db)
        retention.forget_rejected(self.config["AMQP_URI"])
