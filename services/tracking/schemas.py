"""marshmallow schemas of the tracking service's inputs and outputs."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from services.common.schemas import PageArgs, Several, StrictSchema

MAX_ID = 36


class LinkIn(StrictSchema):
    label = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))


class ImageIn(StrictSchema):
    content_type = fields.String(required=True, validate=validate.OneOf(["image/jpeg", "image/png"]))
    data = fields.String(required=True)


class PodIn(StrictSchema):
    recipient_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    comments = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    photos = fields.List(fields.Nested(ImageIn), load_default=list, validate=validate.Length(max=5))
    signature = fields.Nested(ImageIn, load_default=None, allow_none=True)


class JsonNumber(fields.Float):
    """A JSON number: a string or a boolean that could pass for one is refused, as the ingest
    worker refuses it."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (str, bool)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class DriverMessage(Schema):
    """What a driver app sends: fields a newer app adds are ignored, not refused (apps in drivers'
    pockets update at their own pace)."""

    class Meta:
        unknown = EXCLUDE


class LocationIn(DriverMessage):
    """``driver.<id>.location``: where the driver is. The ingest worker checks positions with the
    faster ``reports.read_location``; a test holds the two to the same answers."""
    lat = JsonNumber(required=True, validate=validate.Range(-90, 90))
    lng = JsonNumber(required=True, validate=validate.Range(-180, 180))
    speed_mps = JsonNumber(load_default=None, allow_none=True, validate=validate.Range(0, 150))
    heading = JsonNumber(load_default=None, allow_none=True, validate=validate.Range(0, 360))
    accuracy_m = JsonNumber(load_default=None, allow_none=True, validate=validate.Range(0, 100_000))
    recorded_at = fields.AwareDateTime(required=True, metadata={
        "description": "ISO 8601 with offset; refused beyond TRACKING_MAX_SKEW_SECONDS in the future or "
                       "TRACKING_MAX_AGE_HOURS in the past."})


class StopReportIn(DriverMessage):
    """``driver.<id>.stop``: a driver arrived at, completed or failed a stop of its route."""
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID))
    stop_id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID))
    status = fields.String(required=True, validate=validate.OneOf(["arrived", "completed", "failed"]))
    at = fields.String(load_default=None, allow_none=True)     # checked by reports._moment
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    pod = fields.Nested(PodIn, load_default=None, allow_none=True)


class LocationOut(StrictSchema):
    lat = fields.Float()
    lng = fields.Float()
    precision_m = fields.Integer(allow_none=True)
    recorded_at = fields.String()


class PublicStopOut(StrictSchema):
    type = fields.String()
    status = fields.String()
    eta = fields.String(allow_none=True)
    late = fields.Boolean(metadata={"description": "The stop will miss its time window."})
    arrived_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)


class TrackingStopOut(PublicStopOut):
    id = fields.String()
    window_start = fields.String(allow_none=True)
    window_end = fields.String(allow_none=True)


class TrackingOut(StrictSchema):
    order_id = fields.String()
    status = fields.String()
    version = fields.Integer(metadata={"description": "Increases with every change; the SSE event id."})
    stops = fields.List(fields.Nested(TrackingStopOut))
    location = fields.Nested(LocationOut, allow_none=True,
                             metadata={"description": "Under the customer's sharing level; null when not shared."})


class PublicTrackingOut(StrictSchema):
    status = fields.String()
    version = fields.Integer()
    stops = fields.List(fields.Nested(PublicStopOut))
    location = fields.Nested(LocationOut, allow_none=True)


class TrackingLinkOut(StrictSchema):
    id = fields.String()
    order_id = fields.String()
    label = fields.String(allow_none=True)
    created_at = fields.String()
    created_by_role = fields.String()
    revoked_at = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True)
    last_opened_at = fields.String(allow_none=True)
    opened_count = fields.Integer(metadata={"description": "How many times the link was opened (one page load "
                                                           "or visit each), within the retention period."})
    active = fields.Boolean()
    token = fields.String(metadata={"description": "Shown once, when the link is made."})
    url = fields.String(metadata={"description": "The public page; shown once."})


# --- who opened a link (link_access.py) ----------------------------------------------------------
class VisitorIn(StrictSchema):
    """What the gateway tells about whoever opened a link: already coarse."""
    network = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    browser = fields.String(load_default="Unknown", validate=validate.Length(max=32))


class LinkAccessOut(StrictSchema):
    opened_at = fields.String()
    last_seen_at = fields.String(metadata={"description": "The visit's last poll or reload within a few minutes."})
    network = fields.String(allow_none=True, metadata={"description": "Where from, coarsely: a /24 (IPv4) or /48 "
                                                                      "(IPv6) network, never the address."})
    browser = fields.String(metadata={"description": "The browser's family (Firefox, Safari, Chrome ...)."})


class LinkAccessesOut(StrictSchema):
    link_id = fields.String()
    total = fields.Integer(metadata={"description": "Openings within the retention period."})
    items = fields.List(fields.Nested(LinkAccessOut), metadata={"description": "The latest openings, newest first."})


# --- recipient feedback (feedback.py) --------------------------------------------------------------
class FeedbackIn(StrictSchema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5),
                            metadata={"description": "1 (poor) to 5 (excellent)."})
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000),
                            metadata={"description": "Plain text, optional."})


class RatingOut(StrictSchema):
    rating = fields.Integer()
    comment = fields.String(allow_none=True)
    created_at = fields.String()


class GivenFeedbackOut(RatingOut):
    editable_until = fields.String(allow_none=True, metadata={"description": "Until when this link may change it."})


class PublicFeedbackOut(StrictSchema):
    state = fields.String(validate=validate.OneOf(["not_delivered", "open", "editable", "given"]), metadata={
        "description": "`open`: the order is delivered and no feedback was given yet; `editable`: given through "
                       "this link, which may still change it; `given`: given, closed."})
    feedback = fields.Nested(GivenFeedbackOut, allow_none=True,
                             metadata={"description": "What this link gave; null for the other links."})


class OrderFeedbackItemOut(RatingOut):
    updated_at = fields.String()
    link_id = fields.String(allow_none=True)
    link_label = fields.String(allow_none=True)


class OrderFeedbackOut(StrictSchema):
    feedback = fields.Nested(OrderFeedbackItemOut, allow_none=True,
                             metadata={"description": "null until the recipient rates the delivery."})


class FeedbackOut(OrderFeedbackItemOut):
    id = fields.String()
    order_id = fields.String()
    order_reference = fields.String(allow_none=True)
    customer_id = fields.String()
    driver_id = fields.String(allow_none=True)


class FeedbackFilterArgs(StrictSchema):
    customer_id = fields.String(load_default=None, validate=validate.Length(max=MAX_ID))
    driver_id = fields.String(load_default=None, validate=validate.Length(max=MAX_ID))
    rating = Several(fields.Integer(validate=validate.Range(1, 5)), load_default=None,
                     metadata={"description": "One or several ratings, e.g. `1,2`."})


class FeedbackListArgs(PageArgs, FeedbackFilterArgs):
    pass


class AverageOut(StrictSchema):
    count = fields.Integer()
    average = fields.Float(allow_none=True)


class GroupAverageOut(AverageOut):
    id = fields.String(metadata={"description": "The customer's or the driver's id."})


class FeedbackAveragesOut(StrictSchema):
    overall = fields.Nested(AverageOut)
    by_customer = fields.List(fields.Nested(GroupAverageOut))
    by_driver = fields.List(fields.Nested(GroupAverageOut))


# --- operator reports (documented in the OpenAPI document; the service builds them in reports.py)
class RejectionOut(StrictSchema):
    count = fields.Integer()
    last_at = fields.String()
    last_detail = fields.String(allow_none=True)


class TrackingStatsOut(StrictSchema):
    rejected = fields.Dict(keys=fields.String(), values=fields.Nested(RejectionOut),
                           metadata={"description": "By reason: bad JSON, bad credential, another driver's stop ..."})
    rejected_total = fields.Integer()
    drivers_reporting = fields.Integer()
    oldest_position = fields.String(allow_none=True)


class DriverPositionOut(StrictSchema):
    driver_id = fields.String()
    lat = fields.Float()
    lng = fields.Float()
    speed_mps = fields.Float(allow_none=True)
    heading = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    recorded_at = fields.String()
    learned_speed_mps = fields.Float(allow_none=True)
