"""Rate cards and prices on the wire: what an operator may send (``*In``, strict) and what the
API shows (``*Out``). The rules that use them live in ``pricing.py``."""
from __future__ import annotations

from decimal import Decimal
from functools import cache
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from services.common.money import CURRENCY, DecimalString, MoneySchema
from services.common.schemas import StrictSchema

KINDS = ("delivery", "booking", "rental")
SURCHARGE_TYPES = ("percent", "weekend", "out_of_hours", "fixed")
PERCENT_TYPES = ("percent", "weekend", "out_of_hours")
HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use a 24-hour time such as 18:00.")
NOT_NEGATIVE = validate.Range(min=0)


def fits(digits: int, places: int):
    """Refuse what the rate_cards columns (Numeric(digits, places)) would silently round or
    overflow: a rate of 0.12345/km must be a clear 422, not 0.1235 later."""
    def check(value: Decimal) -> None:
        if value.as_tuple().exponent < -places:
            raise ValidationError(f"Use at most {places} decimal places.")
        if abs(value) >= Decimal(10) ** (digits - places):
            raise ValidationError("Too large.")
    return check


Charge = lambda: DecimalString(allow_none=True, load_default=None,  # noqa: E731
                               validate=[NOT_NEGATIVE, fits(14, 4)])


@cache
def _zones() -> frozenset[str]:
    # Read once: listing the tz database walks the filesystem.
    return frozenset(available_timezones())


class SurchargeIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(required=True, validate=validate.OneOf(SURCHARGE_TYPES))
    percent = DecimalString(validate=validate.Range(min=0, max=1000))
    amount = DecimalString(validate=NOT_NEGATIVE)
    start = fields.String(validate=HHMM)
    end = fields.String(validate=HHMM)

    @validates_schema(skip_on_field_errors=True)
    def fits_type(self, data, **_):
        kind, errors = data["type"], {}
        needed = ({"percent"} if kind in PERCENT_TYPES else {"amount"}) | (
            {"start", "end"} if kind == "out_of_hours" else set())
        for name in ("percent", "amount", "start", "end"):
            if name in needed and data.get(name) is None:
                errors[name] = [f"Required for a {kind} surcharge."]
            elif name not in needed and name in data:
                # Refused rather than ignored: an amount on a percent surcharge is a mistake.
                errors[name] = [f"Not used by a {kind} surcharge."]
        if kind == "out_of_hours" and not errors and data["start"] == data["end"]:
            errors["end"] = ["The window must not start and end at the same time."]
        if errors:
            raise ValidationError(errors)


class RateCardIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # No customer: the default card for every customer. No kind: for any kind of order.
    customer_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=36))
    kind = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(KINDS))
    currency = fields.String(load_default="EUR", validate=CURRENCY)
    tax_rate = DecimalString(load_default=Decimal("0"), validate=[validate.Range(min=0, max=100), fits(7, 3)])
    base_fee = Charge()
    per_km = Charge()
    per_kg = Charge()
    per_package = Charge()
    per_hour = Charge()
    per_day = Charge()
    minimum = Charge()
    road_factor = DecimalString(load_default=Decimal("1.3"), validate=[validate.Range(min=1, max=3), fits(4, 2)])
    timezone = fields.String(load_default="UTC")
    surcharges = fields.List(fields.Nested(SurchargeIn), load_default=list, validate=validate.Length(max=20))
    active = fields.Boolean(load_default=True)

    @validates("timezone")
    def known_zone(self, value, **_):
        if value not in _zones():
            raise ValidationError("Use a time zone name such as Europe/Amsterdam.")

    @validates("surcharges")
    def distinct_names(self, value, **_):
        # .get: a surcharge whose own name failed validation arrives here without one (a
        # KeyError was a 500; found by Schemathesis, tests/attack/test_schemathesis.py).
        names = [s.get("name") for s in value]
        if len(set(names)) != len(names):
            # A surcharge's line code is surcharge:<name>; two of one name could not be told apart.
            raise ValidationError("Give each surcharge its own name.")


class SurchargeOut(Schema):
    name = fields.String()
    type = fields.String()
    percent = DecimalString(allow_none=True)
    amount = DecimalString(allow_none=True)
    start = fields.String(allow_none=True)
    end = fields.String(allow_none=True)


class RateCardOut(Schema):
    id = fields.String()
    name = fields.String()
    customer_id = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)
    currency = fields.String()
    tax_rate = DecimalString()
    base_fee = DecimalString(allow_none=True)
    per_km = DecimalString(allow_none=True)
    per_kg = DecimalString(allow_none=True)
    per_package = DecimalString(allow_none=True)
    per_hour = DecimalString(allow_none=True)
    per_day = DecimalString(allow_none=True)
    minimum = DecimalString(allow_none=True)
    road_factor = DecimalString()
    timezone = fields.String()
    surcharges = fields.List(fields.Nested(SurchargeOut))
    active = fields.Boolean()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class PriceLineIn(StrictSchema):
    """One line of an operator's edit of a quote (``pricing.adjusted``)."""
    code = fields.String(validate=validate.Length(min=1, max=100))   # "manual" when not given
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    quantity = DecimalString(required=True, validate=NOT_NEGATIVE)
    unit = fields.String(load_default="unit", validate=validate.Length(min=1, max=20))
    unit_price = DecimalString(required=True)    # may be negative: a discount line
    tax_rate = DecimalString(required=True, validate=validate.Range(min=0, max=100))


class PriceLineOut(Schema):
    code = fields.String()
    description = fields.String()
    quantity = DecimalString()
    unit = fields.String()
    unit_price = fields.Nested(MoneySchema)   # unrounded: a rate such as 0.125/km
    tax_rate = DecimalString()
    net = fields.Nested(MoneySchema)
    tax = fields.Nested(MoneySchema)
    total = fields.Nested(MoneySchema)


class PriceOut(Schema):
    """``Price.wire()``, documented."""
    currency = fields.String()
    rate_card_id = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(PriceLineOut))
    net = fields.Nested(MoneySchema)
    tax = fields.Nested(MoneySchema)
    total = fields.Nested(MoneySchema)
    notes = fields.List(fields.String())
