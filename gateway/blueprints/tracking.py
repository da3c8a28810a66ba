"""Tracking: an order's status, ETAs and the driver's location (under the customer's sharing
level, decided by the tracking service), live as Server-Sent Events, tracking links anyone
can open without signing in (``/t/<token>``) with their access log, and the recipients' feedback
given through them."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint as FlaskBlueprint
from flask import Response, request, send_from_directory, stream_with_context
from flask_smorest import Blueprint

from gateway import live
from gateway.auth import caller, client_address, operator, requires
from gateway.blueprints.web import html_page, tile_origin
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES, OPERATOR_ROLES
from services.common.schemas import page_of
from services.orders.schemas import DeliveryChangeIn, RecipientExceptionOut
from services.tracking.link_access import visitor_of
from services.tracking.schemas import (DriverPositionOut, FeedbackAveragesOut, FeedbackFilterArgs, FeedbackIn,
                                       FeedbackListArgs, FeedbackOut, LinkAccessesOut, LinkIn, OrderFeedbackOut,
                                       PublicFeedbackOut, PublicTrackingOut, TrackingLinkOut, TrackingOut,
                                       TrackingStatsOut)

blp = Blueprint("tracking", __name__, url_prefix="/api/v1",
                description="Tracking: status, ETAs, location, live streams and tracking links.")
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
WEB = Path(__file__).resolve().parent.parent / "web"
SSE_DOC = {"responses": {"200": {"description": "`text/event-stream`: events `tracking` (data: the tracking "
                                                "view, id: its version) and `end`.",
                                 "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
           "parameters": [{"in": "header", "name": "Last-Event-ID", "schema": {"type": "string"},
                           "description": "Resume: only views newer than this version are sent."}]}


def tracking(method: str, *args, **kwargs):
    return client().call("tracking", method, *args, caller=caller(), **kwargs)


def visitor() -> dict:
    """Whoever opens a tracking link, coarsely (a /24 or /48 network, the browser's family): the
    full address and user agent never leave the gateway."""
    return visitor_of(client_address(), request.headers.get("User-Agent"))


def _stream(order_id: str, first: dict, renew, pick: str) -> Response:
    body = live.events(order_id, first, renew, pick, live.last_event_id(request.headers.get("Last-Event-ID")))
    return Response(stream_with_context(body), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@blp.route("/orders/<string:order_id>/tracking", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, TrackingOut)
def order_tracking(order_id):
    """Status, each stop's ETA (and whether it will be late) and the driver's location, as far as
    the operator shares it with you: `exact`, `approximate` (`precision_m` >= 1000) or not at all
    (`location: null`). Location shows only while the order is in transit and the driver is not
    at another customer's stop first."""
    return answer(tracking("order_tracking", order_id))


@blp.route("/orders/<string:order_id>/stream", methods=["GET"])
@requires(*ANYONE)
@blp.doc(**SSE_DOC)
def order_stream(order_id):
    """The order's tracking view, live (Server-Sent Events): a `tracking` event whenever its
    status, an ETA or the location changes, keep-alive comments while nothing does, and `end`
    once it is delivered, failed or cancelled. Reconnect with `Last-Event-ID` to resume."""
    first = tracking("watch", order_id)
    return _stream(first["order_id"], first, lambda: tracking("watch", order_id), "view")


@blp.route("/orders/<string:order_id>/tracking-links", methods=["POST"])
@requires(*ANYONE)
@blp.arguments(LinkIn)
@blp.response(201, TrackingLinkOut)
def create_link(_payload, order_id):
    """A link anyone can open without signing in (`url`, shown this once): the order's status,
    ETAs and location under your sharing level, nothing else. It stops working when revoked, or
    a while after delivery."""
    return answer(tracking("create_link", order_id, request.get_json()), 201)


@blp.route("/orders/<string:order_id>/tracking-links", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, TrackingLinkOut(many=True))
def list_links(order_id):
    """The order's tracking links (without their tokens)."""
    return answer(tracking("list_links", order_id))


@blp.route("/tracking-links/<string:link_id>", methods=["DELETE"])
@requires(*ANYONE)
@blp.response(204)
def revoke_link(link_id):
    """Revoke a tracking link: it stops working at once."""
    return answer(tracking("revoke_link", link_id), 204)


@blp.route("/tracking-links/<string:link_id>/accesses", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, LinkAccessesOut)
def link_accesses(link_id):
    """Who opened the link, coarsely: when, the network (a /24 or /48, never the address) and the
    browser's family; the latest openings and how many there were. A page load counts once
    (its polls and live stream extend that visit); kept as long as the position history."""
    return answer(tracking("link_accesses", link_id))


@blp.route("/public/track/<string:token>", methods=["GET"])
@blp.response(200, PublicTrackingOut)
def public_tracking(token):
    """No sign-in: what a tracking link shows (status, ETAs, location under the customer's
    sharing level). An unknown, revoked or expired link is 404. Each opening is logged for the
    link's customer with a coarse origin (`/tracking-links/{id}/accesses`)."""
    return answer(tracking("public_tracking", token, visitor=visitor())["view"])


@blp.route("/public/track/<string:token>/stream", methods=["GET"])
@blp.doc(**SSE_DOC)
def public_stream(token):
    """No sign-in: the tracking link's view, live (as `/orders/{id}/stream`)."""
    first = tracking("public_tracking", token, watch=True, visitor=visitor())
    return _stream(first["order_id"], first["view"],
                   lambda: tracking("public_tracking", token, watch=True)["view"], "public")


# The public feedback routes read no credentials: the token is the capability, and a browser
# signed in to the portal (the customer trying its own link) needs no CSRF token to rate.
@blp.route("/public/track/<string:token>/feedback", methods=["GET"])
@blp.response(200, PublicFeedbackOut)
def public_feedback(token):
    """No sign-in: whether the recipient may rate the delivery through this link (`open` once
    the order is delivered), or what this link gave."""
    return answer(client().call("tracking", "public_feedback", token))


@blp.route("/public/track/<string:token>/feedback", methods=["POST"])
@blp.arguments(FeedbackIn)
@blp.response(201, PublicFeedbackOut)
@blp.alt_response(200, schema=PublicFeedbackOut, description="Changed: the link that gave it, within 10 minutes.")
def give_feedback(_payload, token):
    """No sign-in: rate the delivery (1-5) with an optional plain-text comment, once it is
    delivered. One feedback per order: the link that gave it may change it for 10 minutes
    (200); after that, or from another link, 409 (`details.reason`: `given`); before delivery
    409 (`not_delivered`); a revoked or expired link 404."""
    given = client().call("tracking", "give_feedback", token, request.get_json())
    return answer(given["view"], 201 if given["created"] else 200)


# The recipient acting on a late or failed delivery: public like feedback (the token is the
# capability); tracking resolves the link and asks orders (services.tracking.delivery_changes).
@blp.route("/public/track/<string:token>/exception", methods=["GET"])
@blp.response(200, RecipientExceptionOut)
def public_exception(token):
    """No sign-in: whether the delivery is late or its attempt failed (`exception`, null if
    neither), what may be asked (`exception.actions`) and the change last asked through a link
    with its answer (`request`)."""
    return answer(client().call("tracking", "public_exception", token))


@blp.route("/public/track/<string:token>/exception", methods=["POST"])
@blp.arguments(DeliveryChangeIn)
@blp.response(201, RecipientExceptionOut)
def ask_delivery_change(_payload, token):
    """No sign-in: ask the sender's dispatch for another time window, leave-at instructions or
    another address for this delivery (the recipient's stop only). 409 when there is nothing to
    change or a request already waits, 429 after 3 requests a day, 404 for a revoked or expired
    link."""
    return answer(client().call("tracking", "ask_delivery_change", token, request.get_json()), 201)


@blp.route("/orders/<string:order_id>/feedback", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, OrderFeedbackOut)
def order_feedback(order_id):
    """The recipient's rating and comment of this delivery, given through a tracking link
    (read-only); `feedback: null` until given."""
    return answer(tracking("order_feedback", order_id))


@blp.route("/admin/feedback", methods=["GET"])
@operator()
@blp.arguments(FeedbackListArgs, location="query")
@blp.response(200, page_of(FeedbackOut))
def list_feedback(_args):
    """Recipients' feedback across customers, newest first; filter by `customer_id`,
    `driver_id` (the route's driver) and `rating`."""
    return answer(tracking("list_feedback", query_args()))


@blp.route("/admin/feedback/averages", methods=["GET"])
@operator()
@blp.arguments(FeedbackFilterArgs, location="query")
@blp.response(200, FeedbackAveragesOut)
def feedback_averages(_args):
    """The average rating overall, per customer and per driver (best first), under the list's
    filters."""
    return answer(tracking("feedback_averages", query_args()))


@blp.route("/admin/tracking/stats", methods=["GET"])
@requires(*sorted(OPERATOR_ROLES))
@blp.response(200, TrackingStatsOut)    # documented: the document had no 200 here (Schemathesis)
def stats():
    """Driver messages refused (by reason: bad JSON, bad credential, another driver's stop ...),
    how many drivers report, the oldest position kept."""
    return answer(tracking("stats"))


@blp.route("/admin/drivers/positions", methods=["GET"])
@requires(*sorted(OPERATOR_ROLES))
@blp.response(200, DriverPositionOut(many=True))
def driver_positions():
    """Every driver's latest position, exact (operator staff only)."""
    return answer(tracking("driver_positions"))


# --- the public tracking page (outside the API document) -------------------------------------------
page = FlaskBlueprint("tracking_page", __name__)
# The page loads the portal's map module and Leaflet from /assets (this origin) and, when one is
# set, the map tiles' host (MAP_TILE_URL, read at start like the portal's policy).
def page_csp() -> str:
    """The tracking page's policy: this origin only, and the map tile server when one is set."""
    tiles = tile_origin()
    return ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"img-src 'self' data:{' ' + tiles if tiles else ''}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@page.route("/t/<string:token>")
def tracking_page(token):
    return html_page(WEB / "track.html"), 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                       "X-Robots-Tag": "noindex"}


@page.route("/t/static/<path:name>")
def tracking_static(name):
    return send_from_directory(WEB / "track", name)
