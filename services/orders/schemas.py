"""The orders service's payloads: one schema per shape, used by the gateway (OpenAPI, first
validation) and by the service (the second validation, and every dump)."""
from __future__ import annotations

from datetime import timezone

from marshmallow import (INCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate,
                         validates_schema)

from services.common.esign import SignatureOut
from services.common.money import MoneySchema
from services.common.schemas import MAX_PAGE, PageArgs, StrictSchema

KINDS = ("delivery", "booking", "rental")
STATUSES = ("draft", "pending_approval", "submitted", "scheduled", "in_transit", "delivered", "failed",
            "cancelled")
STOP_TYPES = ("pickup", "dropoff")
DOCUMENT_KINDS = ("document", "bill_of_lading", "label", "photo", "invoice", "customs")
SORTS = ("created_at", "updated_at", "reference", "status", "window_start")
LIST_COLUMNS = ("reference", "kind", "status", "created_at", "updated_at", "pickup", "dropoff",
                "recipient", "city", "window_start", "window_end", "eta", "packages", "weight_kg",
                "stop_count", "customer_name", "route", "price_total", "site")

Text = lambda n, **kw: fields.String(validate=validate.Length(max=n), **kw)  # noqa: E731
When = lambda **kw: fields.AwareDateTime(default_timezone=timezone.utc, **kw)  # noqa: E731
Positive = lambda places, **kw: fields.Decimal(  # noqa: E731
    places=places, as_string=True, allow_none=True, validate=validate.Range(min=0, min_inclusive=False), **kw)


def _blank_to_none(data, names):
    """Empty strings from forms and spreadsheets mean "not given"."""
    if isinstance(data, dict):
        return {k: (None if k in names and v == "" else v) for k, v in data.items()}
    return data


class AddressIn(StrictSchema):
    unit = Text(40, allow_none=True)
    line1 = Text(200, allow_none=True)
    line2 = Text(200, allow_none=True)
    city = Text(100, allow_none=True)
    state = Text(100, allow_none=True)
    postal_code = Text(20, allow_none=True)
    country = fields.String(allow_none=True, validate=validate.Regexp(
        r"^[A-Za-z]{2}$", error="Use the two-letter country code (ISO 3166)."))

    @post_load
    def upper_country(self, data, **_):
        if data.get("country"):
            data["country"] = data["country"].upper()
        return data


class ContactIn(StrictSchema):
    name = Text(200, allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Regexp(
        r"^\+?[0-9 ()./-]{4,30}$", error="Not a phone number."))
    email = fields.Email(allow_none=True)

    @pre_load
    def blanks(self, data, **_):
        return _blank_to_none(data, {"name", "phone", "email"})


class StopIn(StrictSchema):
    type = fields.String(load_default="dropoff", validate=validate.OneOf(STOP_TYPES))
    address = fields.Nested(AddressIn, load_default=dict)
    lat = fields.Float(allow_none=True, validate=validate.Range(-90, 90))
    lng = fields.Float(allow_none=True, validate=validate.Range(-180, 180))
    window_start = When(allow_none=True)
    window_end = When(allow_none=True)
    contact = fields.Nested(ContactIn, load_default=dict)
    notes = Text(2000, allow_none=True)
    place_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    # A saved place by name (spreadsheets); resolved to place_id by the service.
    place = Text(120, allow_none=True, load_only=True)

    @pre_load
    def blanks(self, data, **_):
        return _blank_to_none(data, {"lat", "lng", "window_start", "window_end", "place_id", "place"})

    @validates_schema(skip_on_field_errors=False)   # report a missing address with a bad email
    def where_and_when(self, data, **_):
        errors = {}
        if (data.get("lat") is None) != (data.get("lng") is None):
            errors["lat" if data.get("lat") is None else "lng"] = ["Give both latitude and longitude."]
        has_place = data.get("place_id") or data.get("place")
        if not has_place and not (data.get("address") or {}).get("line1") and data.get("lat") is None:
            errors["address"] = {"line1": ["An address (or coordinates, or a saved place) is required."]}
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end <= start:
            errors["window_end"] = ["The window must end after it starts."]
        if errors:
            raise ValidationError(errors)


class ItemIn(StrictSchema):
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    weight_kg = Positive(3)
    length_cm = Positive(1)
    width_cm = Positive(1)
    height_cm = Positive(1)

    @pre_load
    def blanks(self, data, **_):
        return _blank_to_none(data, {"weight_kg", "length_cm", "width_cm", "height_cm"})


REFERENCE = validate.Regexp(r"^[^\x00-\x1f]{1,64}$", error="Use 1 to 64 printable characters.")


class OrderFields(StrictSchema):
    reference = fields.String(validate=REFERENCE)
    kind = fields.String(load_default="delivery", validate=validate.OneOf(KINDS))
    stops = fields.List(fields.Nested(StopIn), validate=validate.Length(max=50), load_default=list)
    items = fields.List(fields.Nested(ItemIn), validate=validate.Length(max=200), load_default=list)
    notes = Text(4000, allow_none=True)
    pickup_at = When(allow_none=True)
    passengers = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=500))
    vehicle_type = Text(64, allow_none=True)
    rental_start = fields.Date(allow_none=True)
    rental_end = fields.Date(allow_none=True)
    site = Text(32, allow_none=True, metadata={"description": (
        "One of the customer's site (cost centre) codes, any case; required from a user limited to sites.")})


class OrderIn(OrderFields):
    submit = fields.Boolean(load_default=False)
    # Operator staff create orders for a customer; a customer's own calls never carry it.
    customer_id = fields.String(validate=validate.Length(max=36))


class OrderPatch(OrderFields):
    """Any subset of the order's fields; ``stops`` and ``items``, when given, replace the lists."""


# Every part but line1 is optional on input, and answers carry it as null when not given: the
# document says so (a non-nullable string here was contradicted by every answer, Schemathesis).
class AddressOut(Schema):
    unit = fields.String(allow_none=True)
    line1 = fields.String(allow_none=True)
    line2 = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class ContactOut(Schema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)


class StopOut(Schema):
    id = fields.String()
    position = fields.Integer()
    type = fields.String()
    address = fields.Nested(AddressOut)
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    window_start = fields.DateTime(allow_none=True)
    window_end = fields.DateTime(allow_none=True)
    contact = fields.Nested(ContactOut)
    notes = fields.String(allow_none=True)
    place_id = fields.String(allow_none=True)
    status = fields.String()
    eta = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    pod = fields.Dict(allow_none=True)


class ItemOut(Schema):
    id = fields.String()
    description = fields.String()
    quantity = fields.Integer()
    weight_kg = fields.Decimal(as_string=True, allow_none=True)
    length_cm = fields.Decimal(as_string=True, allow_none=True)
    width_cm = fields.Decimal(as_string=True, allow_none=True)
    height_cm = fields.Decimal(as_string=True, allow_none=True)


class StatusChangeOut(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    at = fields.DateTime()
    by_role = fields.String()
    by_user_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class OrderPriceOut(Schema):
    """An order's price: billing's, from the operator's rate card (``order.priced``), or the
    total of the quote the order was booked from (``source: quote``). Also checks the price
    billing announces before it is kept (other fields pass through)."""
    class Meta:
        unknown = INCLUDE

    currency = fields.String(metadata={"example": "EUR"})
    rate_card_id = fields.String(allow_none=True)
    lines = fields.List(fields.Dict(), metadata={"description": (
        "`{code, description, quantity, unit, unit_price, tax_rate, net, tax, total}` per charge.")})
    net = fields.Nested(MoneySchema, allow_none=True)
    tax = fields.Nested(MoneySchema, allow_none=True)
    total = fields.Nested(MoneySchema, allow_none=True)
    notes = fields.List(fields.String(), metadata={"description": "What the price could not take into account."})
    source = fields.String(metadata={"description": "`quote` when it is the total of the accepted quote."})
    quote_number = fields.String(allow_none=True)


class OrderEmissionsOut(Schema):
    """How an order's CO2e was computed (services.orders.emissions): activity x intensity."""
    co2e_kg = fields.String(metadata={"description": "kg CO2e (decimal)."})
    distance_km = fields.String()
    distance_source = fields.String(metadata={"description": "`driven`, or `great-circle x 1.05` (GLEC road default)."})
    mass_t = fields.String(allow_none=True)
    load_source = fields.String(metadata={"description": "`items` (their weights), `passengers` or `default`."})
    tonne_km = fields.String(allow_none=True)
    passenger_km = fields.String(allow_none=True)
    vehicle_type = fields.String()
    intensity_g_per_unit = fields.String(metadata={"description": "g CO2e per tonne-km (or passenger-km)."})
    unit = fields.String(metadata={"description": "`tkm` or `pkm`."})
    factor_source = fields.String()
    method = fields.String()
    computed_at = fields.String()


class OrderOut(Schema):
    id = fields.String()
    customer_id = fields.String()
    reference = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "One of " + ", ".join(STATUSES) + "; pending_approval: above "
                                     "the customer's approval limit, waiting for one of its admins."})
    notes = fields.String(allow_none=True)
    source = fields.String()
    site = fields.String(allow_none=True, metadata={"description": "The customer's site (cost centre) code."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    pickup_at = fields.DateTime(allow_none=True)
    passengers = fields.Integer(allow_none=True)
    vehicle_type = fields.String(allow_none=True)
    rental_start = fields.Date(allow_none=True)
    rental_end = fields.Date(allow_none=True)
    depot_id = fields.String(allow_none=True)
    route_id = fields.String(allow_none=True)
    import_id = fields.String(allow_none=True)
    quote_id = fields.String(allow_none=True)
    price = fields.Nested(OrderPriceOut, allow_none=True, metadata={"description": (
        "The price from the operator's rate card (net, tax, total, lines), or null until it is priced.")})
    priced_at = fields.DateTime(allow_none=True, metadata={"description": "When the price was set."})
    co2e_kg = fields.Decimal(as_string=True, allow_none=True, metadata={"description": (
        "kg CO2e well-to-wheel by the GLEC v3 / ISO 14083 method (`emissions` has the inputs); "
        "null for drafts, cancelled orders and orders without coordinates.")})
    emissions = fields.Nested(OrderEmissionsOut, allow_none=True)
    emissions_on = fields.Date(allow_none=True, metadata={"description": "The day the CO2e counts in."})
    stops = fields.List(fields.Nested(StopOut))
    items = fields.List(fields.Nested(ItemOut))
    history = fields.List(fields.Nested(StatusChangeOut))
    allowed_actions = fields.List(fields.String(), metadata={
        "description": "What the caller may do now: edit, submit, withdraw, cancel, reschedule; "
                       "approve and decline (a customer admin, on an order in pending_approval)."})


class OrderSummaryOut(Schema):
    """One line of the orders list: no stops or items, only what the columns show."""
    id = fields.String()
    customer_id = fields.String()
    reference = fields.String()
    kind = fields.String()
    status = fields.String()
    site = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    route_id = fields.String(allow_none=True)
    import_id = fields.String(allow_none=True)
    pickup = fields.String(allow_none=True)
    dropoff = fields.String(allow_none=True)
    recipient = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    # Kept as ISO text on the order row (its summary), so passed through as is.
    window_start = fields.String(allow_none=True, metadata={"format": "date-time"})
    window_end = fields.String(allow_none=True, metadata={"format": "date-time"})
    eta = fields.String(allow_none=True, metadata={
        "format": "date-time", "description": "The next open stop's ETA, from tracking (null until known)."})
    late = fields.Boolean(metadata={"description": "The next open stop will miss its time window."})
    stop_count = fields.Integer()
    packages = fields.Integer()
    weight_kg = fields.String(allow_none=True)
    price_total = fields.Nested(MoneySchema, allow_none=True, metadata={
        "description": "The price's total, or null until the order is priced."})
    customer_name = fields.String(allow_none=True, metadata={
        "description": "The customer's name: in operator staff's lists only."})


class OrderPage(Schema):
    items = fields.List(fields.Nested(OrderSummaryOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={
        "description": "Matching orders; with a text search or date range counted up to 10,000."})
    total_exact = fields.Boolean(required=True, metadata={
        "description": "False when there are more than `total` matches (a search counted up to its cap)."})


class OrderListArgs(PageArgs):
    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)),
                         metadata={"description": "Repeat or comma-separate to ask for several."})
    kind = fields.String(validate=validate.OneOf(KINDS))
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "Text in the reference, an address or a recipient."})
    created_from = When()
    created_to = When()
    import_id = fields.String(validate=validate.Length(min=1, max=36),
                              metadata={"description": "Only the orders made by this spreadsheet import."})
    site = fields.String(validate=validate.Length(min=1, max=32),
                         metadata={"description": "Only the orders of this site (cost centre) code, any case."})
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(
        SORTS + tuple(f"-{s}" for s in SORTS)))

    @pre_load
    def split_status(self, data, **_):
        # "status=a,b" and "status=a&status=b" alike (the gateway's query parsing hands a list)
        data = dict(data)
        raw = data.get("status")
        if isinstance(raw, (str, list, tuple)):
            parts = [raw] if isinstance(raw, str) else raw
            data["status"] = [s for part in parts for s in str(part).split(",") if s]
        return data

    @validates_schema
    def range_order(self, data, **_):
        if data.get("created_from") and data.get("created_to") and data["created_to"] < data["created_from"]:
            raise ValidationError({"created_to": ["Must not be before created_from."]})


class AdminOrderListArgs(OrderListArgs):
    customer_id = fields.String(validate=validate.Length(max=36))
    unassigned = fields.Boolean(metadata={"description": "Submitted orders not yet on a route."})
    route_id = fields.String(validate=validate.Length(max=36))


class IdsIn(StrictSchema):
    ids = fields.List(fields.String(validate=validate.Length(max=36)), required=True,
                      validate=validate.Length(min=1, max=1000))


class BulkResultOut(Schema):
    submitted = fields.List(fields.Nested(OrderSummaryOut))
    errors = fields.List(fields.Dict(), metadata={"description": "`{id, code, message}` per order left as it was."})


class ReasonIn(StrictSchema):
    reason = Text(1000, allow_none=True)


class DeclineIn(StrictSchema):
    """Why an admin sends an order waiting for approval back to its booker (kept in its history)."""
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))

    @pre_load
    def trimmed(self, data, **_):
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            return {**data, "reason": data["reason"].strip()}
        return data


class ListViewIn(StrictSchema):
    columns = fields.List(fields.String(validate=validate.OneOf(LIST_COLUMNS)), required=True,
                          validate=validate.Length(min=1, max=len(LIST_COLUMNS)))
    sort = fields.String(allow_none=True, validate=validate.OneOf(SORTS + tuple(f"-{s}" for s in SORTS)))
    per_page = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=200))


class ListViewOut(Schema):
    columns = fields.List(fields.String())
    sort = fields.String(allow_none=True)
    per_page = fields.Integer(allow_none=True)
    available_columns = fields.List(fields.String())


class RescheduleIn(StrictSchema):
    stop_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    window_start = When(required=True)
    window_end = When(required=True)
    note = Text(1000, allow_none=True)

    @validates_schema
    def window(self, data, **_):
        if data["window_end"] <= data["window_start"]:
            raise ValidationError({"window_end": ["The window must end after it starts."]})


class ChangeRequestOut(Schema):
    """A delivery-change request as whoever asked it sees it (the tracking page's recipient too)."""
    id = fields.String()
    kind = fields.String(metadata={"description": "window | instructions | address"})
    window_start = fields.DateTime(allow_none=True)
    window_end = fields.DateTime(allow_none=True)
    instructions = fields.String(allow_none=True)
    address = fields.Dict(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)


class RescheduleOut(ChangeRequestOut):
    customer_id = fields.String()
    order_id = fields.String()
    stop_id = fields.String(allow_none=True)
    exception_id = fields.String(allow_none=True)
    requested_via = fields.String(metadata={"description": "portal | tracking_link"})
    note = fields.String(allow_none=True)


# --- delivery exceptions (services.orders.exceptions) -----------------------------------------
class ChangeAddressIn(AddressIn):
    """A changed delivery address: as the web booker asks it, street, city and country at least."""

    @validates_schema
    def complete(self, data, **_):
        missing = {k: ["Required for a delivery address."] for k in ("line1", "city", "country") if not data.get(k)}
        if missing:
            raise ValidationError(missing)


class DeliveryChangeIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["window", "instructions", "address"]))
    window_start = When(allow_none=True)
    window_end = When(allow_none=True)
    instructions = Text(500, allow_none=True, metadata={"description": "Where to leave it (plain text)."})
    address = fields.Nested(ChangeAddressIn, allow_none=True)
    note = Text(1000, allow_none=True)

    @validates_schema
    def what(self, data, **_):
        kind = data["kind"]
        if kind == "window":
            if not data.get("window_start") or not data.get("window_end"):
                raise ValidationError({"window_start": ["A new window needs its start and end."]})
            if data["window_end"] <= data["window_start"]:
                raise ValidationError({"window_end": ["The window must end after it starts."]})
        elif kind == "instructions" and not (data.get("instructions") or "").strip():
            raise ValidationError({"instructions": ["Say where to leave it."]})
        elif kind == "address" and not data.get("address"):
            raise ValidationError({"address": ["Give the new address."]})


class ExceptionListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["open", "resolved"]))
    order_id = fields.String(validate=validate.Length(max=36))


class RecipientExceptionItemOut(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "late | failed_attempt"})
    status = fields.String(metadata={"description": "open | resolved"})
    created_at = fields.DateTime()
    actions = fields.List(fields.String(), metadata={
        "description": "What may be asked now: window, instructions, address (none while a request waits)."})


class ExceptionOut(RecipientExceptionItemOut):
    customer_id = fields.String()
    order_id = fields.String()
    stop_id = fields.String()
    resolved_at = fields.DateTime(allow_none=True)
    reference = fields.String(allow_none=True)
    request = fields.Nested(RescheduleOut, allow_none=True, metadata={"description": "The latest change asked."})


class RecipientExceptionOut(Schema):
    """What the tracking page shows its recipient: the exception of its stop, if any, and the
    change last asked through a link, without the customer's ids."""
    exception = fields.Nested(RecipientExceptionItemOut, allow_none=True)
    request = fields.Nested(ChangeRequestOut, allow_none=True)


class DecisionIn(StrictSchema):
    accept = fields.Boolean(required=True)
    reason = Text(1000, allow_none=True)


# --- address book ---------------------------------------------------------------------------
class PlaceIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    kind = fields.String(load_default="recipient", validate=validate.OneOf(["pickup", "recipient"]))
    address = fields.Nested(AddressIn, load_default=dict)
    lat = fields.Float(allow_none=True, validate=validate.Range(-90, 90))
    lng = fields.Float(allow_none=True, validate=validate.Range(-180, 180))
    contact = fields.Nested(ContactIn, load_default=dict)
    notes = Text(2000, allow_none=True)


class PlaceOut(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    address = fields.Nested(AddressOut)
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    contact = fields.Nested(ContactOut)
    notes = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PlaceListArgs(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=100))
    kind = fields.String(validate=validate.OneOf(["pickup", "recipient"]))


# --- imports ----------------------------------------------------------------------------------
class ImportErrorOut(Schema):
    row = fields.Integer()
    column = fields.String(allow_none=True)
    message = fields.String()


class ImportOut(Schema):
    id = fields.String()
    customer_id = fields.String()
    status = fields.String(metadata={"description": "preview (waits for confirm) | queued | running | done | failed"})
    filename = fields.String()
    format = fields.String(allow_none=True)
    size = fields.Integer()
    total_rows = fields.Integer(allow_none=True)
    processed_rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer(metadata={"description": "Rows already imported exactly so (no duplicates)."})
    error_count = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorOut))
    unknown_headers = fields.List(fields.String())
    failure = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    mapping_name = fields.String(allow_none=True, metadata={"description": "The saved mapping the file was read with."})
    source = fields.String(metadata={"description": "upload | email"})


class ImportArgs(StrictSchema):
    errors_page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))   # an OFFSET: bounded
    errors_per_page = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class ImportFormIn(StrictSchema):
    """The non-file fields of the multipart upload."""
    submit = fields.Boolean(load_default=False, metadata={
        "description": "Submit the imported orders at once instead of leaving them as drafts."})
    customer_id = fields.String(validate=validate.Length(max=36), metadata={
        "description": "Operator imports only: the customer, when the file has no client_id column."})
    mapping_id = fields.String(validate=validate.Length(max=36), metadata={
        "description": "Read the file with this saved column mapping (else the first saved mapping "
                       "whose headers the file has, the default first; else the template's headers)."})


class ImportPreviewFormIn(StrictSchema):
    """The non-file fields of a preview upload."""
    mapping_id = fields.String(validate=validate.Length(max=36))
    rows = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100),
                          metadata={"description": "How many rows to show."})


class ImportConfirmIn(StrictSchema):
    submit = fields.Boolean(load_default=False, metadata={
        "description": "Submit the imported orders at once instead of leaving them as drafts."})


class ImportPreviewCellOut(Schema):
    column = fields.String()
    value = fields.String()


class ImportPreviewRowOut(Schema):
    row = fields.Integer(metadata={"description": "The row number as the spreadsheet app shows it."})
    values = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "Import column -> the cell's text."})
    errors = fields.List(fields.Nested(ImportErrorOut))


class ImportPreviewOut(Schema):
    """What the import would do, before anything is created: confirm with
    `POST /imports/{id}/confirm`."""
    import_ = fields.Nested(ImportOut, data_key="import", allow_none=True, metadata={
        "description": "The import waiting in status preview; null when the headers cannot be read as "
                       "they are (see `problem`): map them (`POST /import-mappings`) and preview again."})
    problem = fields.String(allow_none=True, metadata={
        "description": "Why the file cannot be imported as it is (no address column found)."})
    headers = fields.List(fields.String(), metadata={"description": "The file's header row."})
    columns = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Import column -> the header it is read from."})
    suggested_mapping = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Header -> import column as the template's names and synonyms read them "
                       "(\"\": not understood): a start for a mapping."})
    rows = fields.List(fields.Nested(ImportPreviewRowOut))
    warnings = fields.List(fields.String())
    checked_rows = fields.Integer(metadata={"description": "Rows checked: the whole file when it is "
                                                           "small enough (IMPORT_PREVIEW_COUNT_ROWS)."})
    whole_file = fields.Boolean(metadata={"description": "Whether good_rows and bad_rows count the whole file."})
    good_rows = fields.Integer()
    bad_rows = fields.Integer()


def _mapping_columns(**kw) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)), values=fields.String(validate=validate.Length(max=32)),
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The file's header -> the import column (GET /imports/glossary names; "
                                 "\"\" ignores the header)."}, **kw)


class ImportMappingIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    columns = _mapping_columns(required=True)
    is_default = fields.Boolean(load_default=False, metadata={
        "description": "The mapping mailed files are read with, and the first tried on upload."})


class ImportMappingPatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=80))
    columns = _mapping_columns()
    is_default = fields.Boolean(metadata={"description": "true: make this the default mapping."})


class ImportMappingOut(Schema):
    id = fields.String()
    name = fields.String()
    columns = fields.Dict(keys=fields.String(), values=fields.String())
    is_default = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ImportAddressOut(Schema):
    address = fields.String(allow_none=True, metadata={
        "description": "Mail CSV or XLSX attachments here to import them (null: none yet; "
                       "a customer admin makes one with POST /import-address)."})
    rotated_at = fields.DateTime(allow_none=True)


# --- documents --------------------------------------------------------------------------------
class DocumentFormIn(StrictSchema):
    kind = fields.String(load_default="document", validate=validate.OneOf(DOCUMENT_KINDS))


class DocumentOut(Schema):
    id = fields.String()
    order_id = fields.String()
    stop_id = fields.String(allow_none=True)
    kind = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String(allow_none=True)
    has_thumbnail = fields.Boolean()
    uploaded_by_role = fields.String()
    created_at = fields.DateTime()


# --- conversations ----------------------------------------------------------------------------
class MessageIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10000))


class ConversationIn(MessageIn):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    customer_id = fields.String(validate=validate.Length(max=36))   # operator staff only


class MessageOut(Schema):
    id = fields.String()
    conversation_id = fields.String()
    author_id = fields.String(allow_none=True)
    author_role = fields.String()
    author_side = fields.String()
    body = fields.String()
    created_at = fields.DateTime()


class ConversationOut(Schema):
    id = fields.String()
    customer_id = fields.String()
    order_id = fields.String(allow_none=True)
    subject = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    last_message_at = fields.DateTime()
    message_count = fields.Integer()


class ConversationDetailOut(ConversationOut):
    messages = fields.List(fields.Nested(MessageOut))


class ConversationListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["open", "closed"]))
    customer_id = fields.String(validate=validate.Length(max=36))
    about = fields.String(validate=validate.OneOf(["order", "support"]))


class ConversationPatch(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(["open", "closed"]))


# --- dispatch ---------------------------------------------------------------------------------
class DepotIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    address = fields.Nested(AddressIn, load_default=dict)
    lat = fields.Float(allow_none=True, validate=validate.Range(-90, 90))
    lng = fields.Float(allow_none=True, validate=validate.Range(-180, 180))


class DepotOut(Schema):
    id = fields.String()
    name = fields.String()
    address = fields.Nested(AddressOut)
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    created_at = fields.DateTime()


VehicleType = lambda **kw: fields.String(allow_none=True, validate=validate.Length(max=64), metadata={  # noqa: E731
    "description": "The vehicle type of an emission factor (`GET /admin/emission-factors`): the orders' CO2e."}, **kw)


class RouteIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    day = fields.Date(required=True)
    depot_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    driver_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    vehicle_type = VehicleType()


class RoutePatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    driver_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    vehicle_type = VehicleType()


class RouteOrdersIn(StrictSchema):
    order_ids = fields.List(fields.String(validate=validate.Length(max=36)), required=True,
                            validate=validate.Length(min=1, max=500))


class RouteOut(Schema):
    id = fields.String()
    name = fields.String()
    day = fields.Date()
    depot_id = fields.String(allow_none=True)
    driver_id = fields.String(allow_none=True)
    driver_name = fields.String(allow_none=True)
    vehicle_type = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    order_count = fields.Integer()
    orders = fields.List(fields.Nested(OrderSummaryOut))


class RouteListArgs(PageArgs):
    day = fields.Date()
    status = fields.String(validate=validate.OneOf(["planned", "started", "finished"]))
    driver_id = fields.String(validate=validate.Length(max=36))


# --- rentals ----------------------------------------------------------------------------------
class RentalItemIn(StrictSchema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    quantity_out = fields.Integer(required=True, validate=validate.Range(min=1, max=100000))
    since = fields.Date()


class RentalContractIn(StrictSchema):
    customer_id = fields.String(required=True, validate=validate.Length(max=36))
    number = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._/-]{1,32}$"))
    order_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    site = Text(200, allow_none=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(allow_none=True)
    items = fields.List(fields.Nested(RentalItemIn), required=True, validate=validate.Length(min=1, max=200))


class RentalItemOut(Schema):
    id = fields.String()
    item = fields.String()
    description = fields.String()
    quantity_out = fields.Integer()
    since = fields.Date()
    pending_call_off = fields.Integer(metadata={"description": "Quantity asked off rent, not yet confirmed."})


class CallOffLineIn(StrictSchema):
    rental_item_id = fields.String(required=True, validate=validate.Length(max=36))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=100000))


class CallOffIn(StrictSchema):
    lines = fields.List(fields.Nested(CallOffLineIn), required=True, validate=validate.Length(min=1, max=200))
    off_on = fields.Date(required=True, metadata={"description": "The day the items go off rent."})
    contact = fields.Nested(ContactIn, load_default=dict)
    note = Text(2000, allow_none=True)


class CallOffOut(Schema):
    id = fields.String()
    contract_id = fields.String()
    customer_id = fields.String()
    lines = fields.List(fields.Dict())
    off_on = fields.Date()
    contact = fields.Nested(ContactOut)
    note = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)


class RentalSignatureOut(SignatureOut):
    contract_id = fields.String()


class RentalDocumentOut(Schema):
    version = fields.Integer(metadata={"description": "1 for the first document attached; each new one counts up."})
    sha256 = fields.String(metadata={"description": "The SHA-256 of the PDF's bytes: what a signature is given against."})
    size = fields.Integer()
    pages = fields.Integer()
    filename = fields.String(allow_none=True)
    attached_at = fields.String()
    signature = fields.Nested(RentalSignatureOut, allow_none=True, metadata={"description": "Null: not signed yet."})


class RentalContractOut(Schema):
    id = fields.String()
    customer_id = fields.String()
    number = fields.String()
    order_id = fields.String(allow_none=True)
    site = fields.String(allow_none=True)
    status = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    items = fields.List(fields.Nested(RentalItemOut))
    call_offs = fields.List(fields.Nested(CallOffOut))
    document = fields.Nested(RentalDocumentOut, allow_none=True, metadata={
        "description": "The contract document to sign (`GET /rentals/{id}/document.pdf`); null: none attached."})


class RentalListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["active", "closed"]))
    customer_id = fields.String(validate=validate.Length(max=36))


class CallOffListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["requested", "confirmed", "declined"]))
    customer_id = fields.String(validate=validate.Length(max=36))


class RequestListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["requested", "accepted", "declined"]))
    customer_id = fields.String(validate=validate.Length(max=36))


# --- CO2e (services.orders.emissions) -----------------------------------------------------------
class EmissionFactorIn(StrictSchema):
    label = fields.String(validate=validate.Length(min=1, max=120))
    intensity = fields.Decimal(places=3, as_string=True, validate=validate.Range(min=0, max=100000), metadata={
        "description": "g CO2e well-to-wheel per tonne-km (per passenger-km for `unit: pkm`)."})
    unit = fields.String(validate=validate.OneOf(["tkm", "pkm"]))
    default_load_kg = fields.Decimal(places=1, as_string=True, allow_none=True,
                                     validate=validate.Range(min=0, max=100000), metadata={
        "description": "The load assumed when an order's items have no weight."})
    source = fields.String(validate=validate.Length(max=500), metadata={"description": "Where the value comes from."})


class EmissionFactorOut(Schema):
    vehicle_type = fields.String()
    label = fields.String()
    intensity = fields.Decimal(as_string=True)
    unit = fields.String()
    default_load_kg = fields.Decimal(as_string=True, allow_none=True)
    source = fields.String()
    updated_at = fields.DateTime()
    updated_by = fields.String(allow_none=True)


class EmissionsArgs(StrictSchema):
    from_ = fields.Date(data_key="from", attribute="from", load_default=None,
                        metadata={"description": "First transport day (inclusive), YYYY-MM-DD."})
    to = fields.Date(load_default=None, metadata={"description": "Last transport day (inclusive), YYYY-MM-DD."})
    customer_id = fields.String(load_default=None, validate=validate.Length(max=36),
                                metadata={"description": "Operator staff: whose (default: every customer)."})


class MonthEmissionsOut(Schema):
    month = fields.String(metadata={"example": "2026-12"})
    orders = fields.Integer()
    co2e_kg = fields.Decimal(as_string=True)


class MonthlyEmissionsOut(Schema):
    months = fields.List(fields.Nested(MonthEmissionsOut))
    total_co2e_kg = fields.Decimal(as_string=True)
    unit = fields.String()
    method = fields.String()
    from_ = fields.Date(data_key="from", attribute="from", allow_none=True)
    to = fields.Date(allow_none=True)


# --- book again and recurring orders (services.orders.repeat, services.orders.recurring) ------
FREQUENCIES = ("weekdays", "weekly", "every_n_days")
TIME_OF_DAY = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="Use HH:MM (24 hours).")


class WindowIn(StrictSchema):
    window_start = When(allow_none=True)
    window_end = When(allow_none=True)


class RepeatIn(StrictSchema):
    """Book an order again: on the day ``on`` (its times of day kept), or with new windows per
    stop (``windows``, in stop order); neither: the next working day."""
    on = fields.Date(allow_none=True)
    windows = fields.List(fields.Nested(WindowIn), validate=validate.Length(max=50))
    pickup_at = When(allow_none=True)
    reference = fields.String(validate=REFERENCE)
    submit = fields.Boolean(load_default=False)


class RecurringFields(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    frequency = fields.String(validate=validate.OneOf(FREQUENCIES))
    weekdays = fields.List(fields.Integer(validate=validate.Range(0, 6)), validate=validate.Length(max=7))
    interval_days = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=366))
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    time_of_day = fields.String(validate=TIME_OF_DAY)
    submit = fields.Boolean()


class RecurringIn(RecurringFields):
    """Save a schedule from one of your orders: every weekday, some days of the week (0 = Monday),
    or every N days from ``starts_on``; created as drafts, or submitted with ``submit``."""
    order_id = fields.String(required=True, validate=validate.Length(max=36))
    frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    starts_on = fields.Date(required=True)


class RecurringPatch(RecurringFields):
    """Edit a schedule; ``paused`` stops it until set back to false."""
    paused = fields.Boolean()


class RecurringOut(Schema):
    id = fields.String()
    name = fields.String()
    order_id = fields.String(allow_none=True)
    frequency = fields.String()
    weekdays = fields.List(fields.Integer())
    interval_days = fields.Integer(allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    time_of_day = fields.String()
    submit = fields.Boolean()
    paused = fields.Boolean()
    next_on = fields.Date(allow_none=True)
    last_error = fields.String(allow_none=True)
    dropoff = fields.String(allow_none=True, metadata={"description": "Where the order goes (its last stop)."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

