"""Tracking: an order's status, ETAs and the driver's location (under the customer's sharing
level, decided by the tracking service), live as Server-Sent Events, and tracking links anyone
can open without signing in (``/t/<token>``)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint as FlaskBlueprint
from flask import Response, request, send_from_directory, stream_with_context
from flask_smorest import Blueprint

from gateway import live
from gateway.auth import caller, requires
from gateway.blueprints.web import html_page, tile_origin
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES, OPERATOR_ROLES
from services.tracking.schemas import (DriverPositionOut, LinkIn, PublicTrackingOut, TrackingLinkOut,
                                       TrackingOut, TrackingStatsOut)

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


@blp.route("/public/track/<string:token>", methods=["GET"])
@blp.response(200, PublicTrackingOut)
def public_tracking(token):
    """No sign-in: what a tracking link shows (status, ETAs, location under the customer's
    sharing level). An unknown, revoked or expired link is 404."""
    return answer(tracking("public_tracking", token)["view"])


@blp.route("/public/track/<string:token>/stream", methods=["GET"])
@blp.doc(**SSE_DOC)
def public_stream(token):
    """No sign-in: the tracking link's view, live (as `/orders/{id}/stream`)."""
    first = tracking("public_tracking", token, watch=True)
    return _stream(first["order_id"], first["view"],
                   lambda: tracking("public_tracking", token, watch=True)["view"], "public")


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
