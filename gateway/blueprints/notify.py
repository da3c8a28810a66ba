"""Notifications and integrations: the in-app feed (and its live stream), notification
preferences, partner webhooks with their delivery log, operator staff following customers, the
record of emails, and the unsubscribe page that email links open without signing in."""
from __future__ import annotations

from html import escape

from flask import Blueprint as FlaskBlueprint
from flask import Response, jsonify, request, stream_with_context
from flask_smorest import Blueprint

from gateway import live
from services.common.caller import personal
from gateway.auth import caller, operator, requires
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import API_KEY, CUSTOMER_ADMIN, CUSTOMER_ROLES, OPERATOR_ADMIN, OPERATOR_ROLES
from services.common.errors import NotFound
from services.common.schemas import page_of
from services.notify import payloads
from services.notify.schemas import (PREFERENCES_DOC, DeliveryListArgs, DeliveryOut, EmailListArgs, EmailOut,
                                     FeedArgs, FeedPage, FollowIn, FollowingOut, NotificationOut, ReadAllIn,
                                     UnreadOut, WebhookCreatedOut, WebhookIn, WebhookListArgs, WebhookOut,
                                     WebhookPatch)

blp = Blueprint("notify", __name__, url_prefix="/api/v1",
                description="Notifications (in-app feed, preferences) and integrations (webhooks).")
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
PEOPLE = tuple(sorted((CUSTOMER_ROLES - {API_KEY}) | OPERATOR_ROLES))     # who has a feed
MANAGERS = (CUSTOMER_ADMIN, API_KEY, OPERATOR_ADMIN)
STAFF = tuple(sorted(OPERATOR_ROLES))


def notify(method: str, *args, **kwargs):
    return client().call("notify", method, *args, caller=caller(), **kwargs)


# --- the feed ---------------------------------------------------------------------------------
@blp.route("/notifications", methods=["GET"])
@requires(*PEOPLE)
@blp.arguments(FeedArgs, location="query")
@blp.response(200, FeedPage)
def list_notifications(_args):
    """Your notifications, newest first, with your unread count; `unread=true` for only those."""
    return answer(notify("list_notifications", query_args()))


@blp.route("/notifications/unread-count", methods=["GET"])
@requires(*PEOPLE)
@blp.response(200, UnreadOut)
def unread_count():
    """How many notifications you have not read (the bell's number)."""
    return answer(notify("unread_count"))


@blp.route("/notifications/<string:notification_id>/read", methods=["POST"])
@requires(*PEOPLE)
@blp.response(200, NotificationOut)
@personal
def mark_read(notification_id):
    """Mark one notification read."""
    return answer(notify("mark_read", notification_id))


@blp.route("/notifications/read-all", methods=["POST"])
@requires(*PEOPLE)
@blp.arguments(ReadAllIn)
@blp.response(200, UnreadOut)
@personal
def mark_all_read(_payload):
    """Mark all (or all up to `before`) read."""
    return answer(notify("mark_all_read", request.get_json(silent=True) or {}))


@blp.route("/notifications/stream", methods=["GET"])
@requires(*PEOPLE)
@blp.doc(responses={"200": {"description": "`text/event-stream`: `unread` (the count on opening), then a "
                                           "`notification` event for each new notification.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
def notification_stream():
    """Your notifications live (Server-Sent Events), for the portal's bell."""
    who = caller()
    count = notify("unread_count")["unread"]
    return Response(stream_with_context(live.feed_events(who.user_id, count)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- preferences -------------------------------------------------------------------------------
@blp.route("/me/notification-preferences", methods=["GET"])
@requires(*PEOPLE)
@blp.doc(responses={"200": {"description": "Your choices", "content": {"application/json": {"schema": PREFERENCES_DOC}}}})
def get_preferences():
    """Which notifications you get, per event type, in the app and by email."""
    return jsonify(notify("get_preferences"))


@blp.route("/me/notification-preferences", methods=["PUT"])
@requires(*PEOPLE)
@blp.doc(requestBody={"content": {"application/json": {"schema": PREFERENCES_DOC}}},
         responses={"200": {"description": "All your choices after the change",
                            "content": {"application/json": {"schema": PREFERENCES_DOC}}}})
@personal
def set_preferences():
    """Change some choices (`{"order.status_changed": {"email": false}}`); the others stay."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = {"_schema": body}
    return jsonify(notify("set_preferences", body))


# --- webhooks ------------------------------------------------------------------------------------
def _list_webhooks():
    return answer(notify("list_webhooks", query_args()))


def _create_webhook():
    return answer(notify("create_webhook", request.get_json()), 201)


@blp.route("/webhooks/event-types", methods=["GET"])
@requires(*ANYONE)
@blp.doc(responses={"200": {"description": "`{event_types: [...]}`: what your webhooks may subscribe to."}})
def webhook_event_types():
    """The event types a webhook of yours may receive (operator staff also get `customer.*`);
    `*` in a webhook's `events` means all of them, including types added later."""
    return jsonify({"event_types": list(payloads.offered(caller().is_operator))})


@blp.route("/webhooks", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(WebhookListArgs, location="query")
@blp.response(200, page_of(WebhookOut))
def list_webhooks(_args):
    """Your webhooks (operator staff: all, or one customer's with `customer_id`)."""
    return _list_webhooks()


@blp.route("/webhooks", methods=["POST"])
@requires(*MANAGERS)
@blp.arguments(WebhookIn)
@blp.response(201, WebhookCreatedOut)
def create_webhook(_payload):
    """Register a URL for the event types you choose. The answer shows the signing secret
    (`whsec_...`) once; deliveries follow Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`). The URL must be https and reach a public address."""
    return _create_webhook()


@blp.route("/webhooks/<string:endpoint_id>", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, WebhookOut)
def get_webhook(endpoint_id):
    """One webhook."""
    return answer(notify("get_webhook", endpoint_id))


@blp.route("/webhooks/<string:endpoint_id>", methods=["PATCH"])
@requires(*MANAGERS)
@blp.arguments(WebhookPatch)
@blp.response(200, WebhookOut)
def update_webhook(_payload, endpoint_id):
    """Change the URL, the events or the description; `enabled: true` switches a disabled one on."""
    return answer(notify("update_webhook", endpoint_id, request.get_json()))


@blp.route("/webhooks/<string:endpoint_id>", methods=["DELETE"])
@requires(*MANAGERS)
@blp.response(204)
def delete_webhook(endpoint_id):
    """Delete a webhook; what it still had pending is cancelled."""
    notify("delete_webhook", endpoint_id)
    return "", 204


@blp.route("/webhooks/<string:endpoint_id>/deliveries", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(DeliveryListArgs, location="query")
@blp.response(200, page_of(DeliveryOut))
def webhook_deliveries(_args, endpoint_id):
    """The delivery log, newest first: status, attempts with response codes; `status=failed`."""
    return answer(notify("webhook_deliveries", endpoint_id, query_args()))


@blp.route("/webhooks/<string:endpoint_id>/test", methods=["POST"])
@requires(*MANAGERS)
@blp.response(202, DeliveryOut)
def test_webhook(endpoint_id):
    """Send a `webhook.test` event now; follow it in the delivery log."""
    return answer(notify("test_webhook", endpoint_id), 202)


@blp.route("/webhooks/<string:endpoint_id>/deliveries/<string:delivery_id>/replay", methods=["POST"])
@requires(*MANAGERS)
@blp.response(202, DeliveryOut)
def replay_delivery(endpoint_id, delivery_id):
    """Send a past delivery again (same `webhook-id`, so a receiver that has it can drop it)."""
    return answer(notify("replay_delivery", endpoint_id, delivery_id), 202)


@blp.route("/admin/webhooks", methods=["GET"])
@operator()
@blp.arguments(WebhookListArgs, location="query")
@blp.response(200, page_of(WebhookOut))
def admin_list_webhooks(_args):
    """Every customer's webhooks and the operator's own (`customer_id` narrows)."""
    return _list_webhooks()


@blp.route("/admin/webhooks", methods=["POST"])
@operator(OPERATOR_ADMIN)
@blp.arguments(WebhookIn)
@blp.response(201, WebhookCreatedOut)
def admin_create_webhook(_payload):
    """A partner webhook for every customer's events (or one customer's, with `customer_id`)."""
    return _create_webhook()


# --- operator staff: following, emails ---------------------------------------------------------
@blp.route("/admin/following", methods=["GET"])
@operator()
@blp.response(200, FollowingOut)
def following():
    """The customers whose events you are told about."""
    return answer(notify("following"))


@blp.route("/admin/following", methods=["POST"])
@operator()
@blp.arguments(FollowIn)
@blp.response(200, FollowingOut)
def follow(_payload):
    """Follow a customer (`*`: every customer): its questions, quote requests and messages reach you."""
    return answer(notify("follow", request.get_json()))


@blp.route("/admin/following/<string:customer_id>", methods=["DELETE"])
@operator()
@blp.response(200, FollowingOut)
def unfollow(customer_id):
    """Stop following a customer."""
    return answer(notify("unfollow", customer_id))


@blp.route("/admin/emails", methods=["GET"])
@operator()
@blp.arguments(EmailListArgs, location="query")
@blp.response(200, page_of(EmailOut))
def emails(_args):
    """Every email the platform sent or is trying to: status (queued, sent, bounced, failed),
    attempts, the server's last answer. Bodies are not shown."""
    return answer(notify("list_emails", query_args()))


# --- unsubscribe (no sign-in: the link in the email is the credential) ------------------------
page = FlaskBlueprint("unsubscribe_page", __name__)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width,initial-scale=1'><title>{escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
            "button{font-size:1rem;padding:.6rem 1rem;margin:.25rem 0}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@page.route("/unsubscribe/<string:token>", methods=["GET"])
def unsubscribe_page(token):
    """A page, not an action: mail scanners open links, and must not unsubscribe anyone."""
    try:
        found = client().call("notify", "unsubscribe_info", token)
    except NotFound:
        return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
    what = escape(found["event_type"])
    return _page("Unsubscribe", (
        f"<p>Stop emails about <strong>{what}</strong> to {escape(found['email'])}?</p>"
        f"<form method=post><button name=scope value=one>Stop these emails</button><br>"
        f"<button name=scope value=all>Stop all notification emails</button></form>"
        "<p>Notifications in the portal stay; you can change both in your profile.</p>"))


@page.route("/unsubscribe/<string:token>", methods=["POST"])
def unsubscribe(token):
    """The form's answer, and RFC 8058 one-click (``List-Unsubscribe=One-Click``) from mail apps."""
    everything = request.form.get("scope") == "all"
    try:
        found = client().call("notify", "unsubscribe", token, everything)
    except NotFound:
        return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
    what = "any notification emails" if everything else f"emails about {escape(found['event_type'])}"
    return _page("Unsubscribed", f"<p>{escape(found['email'])} will not get {what} any more.</p>")
