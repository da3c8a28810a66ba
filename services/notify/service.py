"""The notify service: entrypoints only. It hears every event (one handler, one queue), and
pumps its two outgoing queues: emails and webhook deliveries."""
from __future__ import annotations

from services.common.config import env_float
from services.common.database import Database
from services.common.caller import personal
from services.common.entrypoints import event_handler, rpc
from services.common.events import CATALOGUE
from services.common.live import LiveUpdates
from services.common.pump import AfterCommit, pump
from services.common.schemas import load
from services.common.service import PortalService
from services.common.service_rpc import ServiceRpc
from services.notify import directory, email_queue, event_log, fanout, feed, preferences, webhooks
from services.notify.models import Base
from services.notify.schemas import (DeliveryListArgs, EmailListArgs, FeedArgs, FollowIn, ReadAllIn,
                                     WebhookIn, WebhookListArgs, WebhookPatch)


class Service(PortalService):
    name = "notify"
    db = Database(Base)
    after_commit = AfterCommit()
    live = LiveUpdates(feed.EXCHANGE)
    identity = ServiceRpc("identity")

    # The name is kept from the foundation's event log: renaming it would orphan its queue
    # (PITFALLS 8). It does all of notify's work for an event, in one transaction.
    @event_handler(*CATALOGUE)
    def log_event(self, event: dict) -> None:
        outcome = fanout.handle(self.db.session, event, self.identity)
        if outcome.emails:
            self.after_commit.wake("send_emails")
        if outcome.webhooks:
            self.after_commit.wake("deliver_webhooks")
        for row in outcome.notifications:
            self.after_commit.call(lambda row=row: self.live.publish(feed.routing_key(row.user_id),
                                                                     feed.live_message(row)))

    @pump(interval=env_float("NOTIFY_PUMP_SECONDS"), parallel=4)
    def send_emails(self) -> bool:
        return email_queue.pump(self.db)

    @pump(interval=env_float("NOTIFY_PUMP_SECONDS"), parallel=4)
    def deliver_webhooks(self) -> bool:
        return webhooks.pump(self.db)

    @rpc
    def recent_events(self, customer_id: str | None = None, limit: int = 50) -> list[dict]:
        return event_log.recent(self.db.session, self.caller, customer_id, limit)

    # --- the in-app feed -------------------------------------------------------------------
    @rpc
    def list_notifications(self, args: dict) -> dict:
        return feed.listing(self.db.session, self.caller, load(FeedArgs, args))

    @rpc
    def unread_count(self) -> dict:
        return {"unread": feed.unread(self.db.session, self.caller)}

    @personal
    @rpc
    def mark_read(self, notification_id: str) -> dict:
        return feed.mark_read(self.db.session, self.caller, notification_id)

    @personal
    @rpc
    def mark_all_read(self, payload: dict) -> dict:
        return feed.mark_all_read(self.db.session, self.caller, load(ReadAllIn, payload)["before"])

    # --- preferences ---------------------------------------------------------------------------
    @rpc
    def get_preferences(self) -> dict:
        return preferences.choices(self.db.session, self.caller)

    @personal
    @rpc
    def set_preferences(self, payload: dict) -> dict:
        return preferences.change(self.db.session, self.caller, payload)

    @rpc
    def unsubscribe_info(self, token: str) -> dict:
        return preferences.read_token(self.db.session, token)

    @rpc
    def unsubscribe(self, token: str, everything: bool = False) -> dict:
        return preferences.unsubscribe(self.db.session, token, everything)

    @rpc
    def following(self) -> dict:
        return directory.following(self.db.session, self.caller)

    @rpc
    def follow(self, payload: dict) -> dict:
        return directory.follow(self.db.session, self.caller, load(FollowIn, payload)["customer_id"])

    @rpc
    def unfollow(self, customer_id: str) -> dict:
        return directory.unfollow(self.db.session, self.caller, customer_id)

    @rpc
    def list_emails(self, args: dict) -> dict:
        return email_queue.listing(self.db.session, self.caller, load(EmailListArgs, args))

    # --- webhooks --------------------------------------------------------------------------------
    @rpc
    def list_webhooks(self, args: dict) -> dict:
        return webhooks.listing(self.db.session, self.caller, load(WebhookListArgs, args))

    @rpc
    def create_webhook(self, payload: dict) -> dict:
        return webhooks.create(self.db.session, self.caller, load(WebhookIn, payload))

    @rpc
    def get_webhook(self, endpoint_id: str) -> dict:
        return webhooks.get(self.db.session, self.caller, endpoint_id)

    @rpc
    def update_webhook(self, endpoint_id: str, payload: dict) -> dict:
        return webhooks.change(self.db.session, self.caller, endpoint_id, load(WebhookPatch, payload))

    @rpc
    def delete_webhook(self, endpoint_id: str) -> None:
        webhooks.delete(self.db.session, self.caller, endpoint_id)

    @rpc
    def webhook_deliveries(self, endpoint_id: str, args: dict) -> dict:
        return webhooks.deliveries(self.db.session, self.caller, endpoint_id, load(DeliveryListArgs, args))

    @rpc
    def test_webhook(self, endpoint_id: str) -> dict:
        found = webhooks.send_test(self.db.session, self.caller, endpoint_id)
        self.after_commit.wake("deliver_webhooks")
        return found

    @rpc
    def replay_delivery(self, endpoint_id: str, delivery_id: str) -> dict:
        found = webhooks.replay(self.db.session, self.caller, endpoint_id, delivery_id)
        self.after_commit.wake("deliver_webhooks")
        return found
