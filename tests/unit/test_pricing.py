"""The pricing engine (services/billing/pricing.py) and its schemas, on worked examples whose
figures are checked by hand in the comments."""
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from marshmallow import ValidationError

from services.billing.pricing import (NOTE_NO_DISTANCE, Facts, Price, adjusted, facts_of, price)
from services.billing.rate_card_schemas import (PriceLineIn, PriceOut, RateCardIn, RateCardOut,
                                                SurchargeIn)

ROTTERDAM = {"type": "pickup", "lat": 51.9225, "lng": 4.4792}
AMSTERDAM = {"type": "dropoff", "lat": 52.3676, "lng": 4.9041}
OUT_OF_HOURS = {"name": "Out of hours", "type": "out_of_hours", "percent": "25", "start": "18:00", "end": "07:00"}
WEEKEND = {"name": "Weekend", "type": "weekend", "percent": "50"}
FUEL = {"name": "Fuel", "type": "percent", "percent": "8"}
TAIL_LIFT = {"name": "Tail lift", "type": "fixed", "amount": "15.00"}


def card(**fields):
    return {"id": "card-1", "currency": "EUR", "tax_rate": "0", "timezone": "Europe/Amsterdam",
            "road_factor": "1.3", "surcharges": [], **fields}


def facts(**fields):
    base = dict(kind="delivery", distance_km=D(0), weight_kg=D(0), packages=0, hours=None, days=None,
                starts_at=None, stops=2)
    return Facts(**{**base, **fields})


def lines(p: Price) -> dict:
    return {line.code: line.net for line in p.lines}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# ---- facts ---------------------------------------------------------------------------------

def test_rotterdam_to_amsterdam_delivery():
    order = {"kind": "delivery", "stops": [ROTTERDAM, AMSTERDAM],
             "items": [{"description": "pallet", "quantity": 3, "weight_kg": "40"}]}
    f = facts_of(order, D("1.3"))
    # By hand (flat-earth check of the haversine, fine at this scale): 1 degree = 111.195 km;
    # dlat = 0.4451 deg = 49.49 km; dlng = 0.4249 deg x cos(52.145 deg) = 0.4249 x 0.6137 x 111.195
    # = 28.99 km; sqrt(49.49^2 + 28.99^2) = sqrt(2449.3 + 840.4) = 57.36 km as the crow flies;
    # x 1.3 road factor = 74.57 -> 74.6 km.
    assert f.distance_km == D("74.6")
    assert (f.weight_kg, f.packages, f.stops) == (D("120"), 3, 2)      # 3 x 40 kg
    p = price(card(tax_rate="21", base_fee="25", per_km="1.10", per_kg="0.05"), f)
    # base 25.00; 74.6 km x 1.10 = 82.06; 120 kg x 0.05 = 6.00; net 113.06
    # tax 21%: 5.25 + 17.2326 -> 17.23 + 1.26 = 23.74; total 136.80
    assert lines(p) == {"base_fee": D("25.00"), "distance": D("82.06"), "weight": D("6.00")}
    assert (p.net, p.tax, p.total) == (D("113.06"), D("23.74"), D("136.80"))
    assert p.notes == () and p.rate_card_id == "card-1"
    assert [line.unit for line in p.lines] == ["order", "km", "kg"]


def test_facts_from_typed_values_and_loose_items():
    order = {"kind": "delivery", "pickup_at": datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc),
             "stops": [{**ROTTERDAM, "lat": D("51.9225"), "lng": "4.4792"}, AMSTERDAM],
             "items": [{"quantity": "2", "weight_kg": 2.5},      # a JSON float weight: 2.5 exactly
                       {"weight_kg": D("1.250")},               # quantity defaults to 1
                       {"quantity": 4}]}                          # no weight: counted, not weighed
    f = facts_of(order, D("1.3"))
    assert f.weight_kg == D("6.250") and f.packages == 7            # 2 x 2.5 + 1.25; 2 + 1 + 4
    assert f.distance_km == D("74.6") and f.starts_at == datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


def test_missing_coordinates_price_without_distance_and_say_so():
    order = {"kind": "delivery", "stops": [ROTTERDAM, {"type": "dropoff", "lat": None, "lng": None}], "items": []}
    f = facts_of(order, D("1.3"))
    assert f.distance_km is None
    p = price(card(base_fee="25", per_km="1.10"), f)
    assert lines(p) == {"base_fee": D("25.00")} and p.notes == (NOTE_NO_DISTANCE,)
    # A card with no per-km rate has nothing to say about it.
    assert price(card(base_fee="25"), f).notes == ()


def test_charter_hours_round_up_to_the_quarter_with_one_hour_minimum():
    def hours(end: str, **extra):
        order = {"kind": "booking", "pickup_at": "2024-05-06T08:00:00+02:00", **extra,
                 "stops": [{"type": "pickup", "lat": 52.0, "lng": 4.0},
                           {"type": "dropoff", "lat": 52.0, "lng": 4.0, "window_end": end}]}
        return facts_of(order, D("1.3")).hours
    assert hours("2024-05-06T10:05:00+02:00") == D("2.25")   # 2 h 05 -> 2 h 15
    assert hours("2024-05-06T11:00:00+02:00") == D("3")      # exactly 3 h stays 3 h
    assert hours("2024-05-06T06:01:00Z") == D("1")           # 08:01 local: 1 min -> 1 h
    assert hours("2024-05-06T08:20:00+02:00") == D("1")      # 20 min -> the 1 h minimum
    # No pickup_at: the first stop's window start instead (09:00 -> 10:05 = 1 h 05 -> 1.25 h).
    no_pickup = {"kind": "booking", "stops": [
        {"type": "pickup", "lat": 52.0, "lng": 4.0, "window_start": "2024-05-06T09:00:00+02:00"},
        {"type": "dropoff", "lat": 52.1, "lng": 4.0, "window_end": "2024-05-06T10:05:00+02:00"}]}
    f = facts_of(no_pickup, D("1.3"))
    assert f.hours == D("1.25")
    p = price(card(per_hour="60", tax_rate="9"), facts(kind="booking", hours=D("2.25")))
    assert lines(p) == {"hours": D("135.00")} and p.tax == D("12.15")   # 2.25 x 60; 135 x 9%


def test_booking_without_an_end_time_is_priced_without_hours_and_noted():
    order = {"kind": "booking", "pickup_at": "2024-05-06T08:00:00+02:00",
             "stops": [{"type": "pickup", "lat": 52.0, "lng": 4.0}]}
    f = facts_of(order, D("1.3"))
    assert f.hours is None and f.distance_km == D("0.0")              # one stop: nowhere to go
    p = price(card(base_fee="40", per_hour="60"), f)
    assert lines(p) == {"base_fee": D("40.00")} and "Duration unknown" in p.notes[0]


def test_rental_days_are_inclusive():
    def days(start, end):
        return facts_of({"kind": "rental", "rental_start": start, "rental_end": end,
                         "items": [{"quantity": 2}]}, D("1.3")).days
    assert days("2024-05-01", "2024-05-07") == 7           # 1st..7th inclusive
    assert days(date(2024, 5, 1), date(2024, 5, 1)) == 1   # same day is one day
    assert days("2024-02-28", "2024-03-01") == 3           # 28, 29 (leap year), 1
    assert days("2024-05-01", None) is None
    p = price(card(per_day="12.50"), facts(kind="rental", days=7, packages=2))
    assert lines(p) == {"days": D("87.50")}                # 7 x 12.50
    unknown = price(card(per_day="12.50", minimum="20"), facts(kind="rental", days=None))
    assert lines(unknown) == {"minimum": D("20.00")} and "Rental period unknown" in unknown.notes[0]


# ---- minimum and surcharges ----------------------------------------------------------------

def test_minimum_tops_up_and_percent_surcharges_apply_after_it():
    p = price(card(base_fee="25", per_km="1.10", minimum="50", surcharges=[FUEL]), facts(distance_km=D("10.0")))
    # 25 + 10 x 1.10 = 36.00 < 50 -> minimum line 14.00; fuel 8% of 50.00 = 4.00; net 54.00
    assert lines(p) == {"base_fee": D("25.00"), "distance": D("11.00"), "minimum": D("14.00"),
                        "surcharge:Fuel": D("4.00")}
    assert p.net == D("54.00")
    above = price(card(base_fee="25", per_km="1.10", minimum="50"), facts(distance_km=D("30.0")))
    assert "minimum" not in lines(above) and above.net == D("58.00")   # 25 + 33 >= 50
    # Nothing chargeable at all: the minimum is the price.
    assert lines(price(card(minimum="35"), facts())) == {"minimum": D("35.00")}


def test_percent_surcharges_share_one_base_and_fixed_ones_are_not_surcharged():
    surcharges = [FUEL, TAIL_LIFT, {**WEEKEND, "name": "Rush", "type": "percent", "percent": "10"}]
    p = price(card(base_fee="100", surcharges=surcharges), facts())
    # fuel 8% of 100 = 8.00; tail lift 15.00; rush 10% of 100 = 10.00 (not of 108 or 123)
    assert lines(p) == {"base_fee": D("100.00"), "surcharge:Fuel": D("8.00"),
                        "surcharge:Tail lift": D("15.00"), "surcharge:Rush": D("10.00")}
    assert p.net == D("133.00")
    assert price(card(base_fee="100", surcharges=surcharges[::-1]), facts()).net == p.net
    fuel = p.lines[1]
    assert (fuel.quantity, fuel.unit, fuel.unit_price) == (D("8"), "%", D("1"))   # 8 x 1% of 100


@pytest.mark.parametrize("starts_at, applies", [
    # 2024-03-31 is the spring-forward date: from 03:00 local Amsterdam is UTC+2.
    (utc("2024-03-31T05:30"), False),   # 07:30 CEST: the window has closed (UTC+1 would say 06:30)
    (utc("2024-03-31T04:30"), True),    # 06:30 CEST
    (utc("2024-03-31T00:30"), True),    # 01:30 CET, after midnight: the window wraps
    (utc("2024-03-28T05:30"), True),    # a Thursday before it: 06:30 CET
    # 2024-10-27 falls back: from 03:00 local it is UTC+1 again.
    (utc("2024-10-27T16:30"), False),   # 17:30 CET (UTC+2 would say 18:30)
    (utc("2024-10-27T17:00"), True),    # 18:00 CET: the start is inside
    (utc("2024-10-29T06:00"), False),   # 07:00 CET: the end is outside
    (utc("2024-10-29T22:30"), True),    # 23:30 CET
    (utc("2024-10-29T11:00"), False),   # noon
])
def test_out_of_hours_in_the_cards_timezone(starts_at, applies):
    p = price(card(base_fee="100", surcharges=[OUT_OF_HOURS]), facts(starts_at=starts_at))
    assert lines(p).get("surcharge:Out of hours") == (D("25.00") if applies else None)


def test_a_daytime_window_does_not_wrap():
    day = {**OUT_OF_HOURS, "name": "Peak", "start": "07:00", "end": "09:00"}
    assert "surcharge:Peak" in lines(price(card(base_fee="100", surcharges=[day]),
                                           facts(starts_at=utc("2024-05-06T06:30"))))   # 08:30 CEST
    assert "surcharge:Peak" not in lines(price(card(base_fee="100", surcharges=[day]),
                                               facts(starts_at=utc("2024-05-06T07:30"))))  # 09:30


def test_weekend_is_the_local_calendar_day():
    surcharged = card(base_fee="80", surcharges=[WEEKEND])
    # Friday 22:30 UTC is Saturday 00:30 in Amsterdam (CEST): weekend, 50% of 80 = 40.00.
    assert lines(price(surcharged, facts(starts_at=utc("2024-05-31T22:30"))))["surcharge:Weekend"] == D("40.00")
    # Sunday 22:30 UTC is Monday 00:30 there: not the weekend.
    assert "surcharge:Weekend" not in lines(price(surcharged, facts(starts_at=utc("2024-06-02T22:30"))))
    # No start time: cannot tell, so not charged, and the note says so.
    p = price(surcharged, facts())
    assert lines(p) == {"base_fee": D("80.00")}
    assert p.notes == ("Start time unknown: the Weekend surcharge was not applied.",)


def test_all_surcharges_together_on_a_weekend_night():
    f = facts_of({"kind": "delivery", "pickup_at": "2024-06-01T21:00:00Z", "stops": [ROTTERDAM, AMSTERDAM],
                  "items": [{"quantity": 3, "weight_kg": "40"}]}, D("1.3"))
    p = price(card(tax_rate="21", base_fee="25", per_km="1.10", per_kg="0.05", minimum="50",
                   surcharges=[OUT_OF_HOURS, WEEKEND, FUEL, TAIL_LIFT]), f)
    # Saturday 23:00 CEST. Charges 113.06 (above the minimum of 50);
    # out of hours 25% = 28.265 -> 28.27; weekend 50% = 56.53; fuel 8% = 9.0448 -> 9.04; tail lift 15.00
    assert lines(p) == {"base_fee": D("25.00"), "distance": D("82.06"), "weight": D("6.00"),
                        "surcharge:Out of hours": D("28.27"), "surcharge:Weekend": D("56.53"),
                        "surcharge:Fuel": D("9.04"), "surcharge:Tail lift": D("15.00")}
    # net 221.90; tax per line 5.25 + 17.23 + 1.26 + 5.94 + 11.87 + 1.90 + 3.15 = 46.60
    assert (p.net, p.tax, p.total) == (D("221.90"), D("46.60"), D("268.50"))
    assert sum(line.total for line in p.lines) == p.total


# ---- rounding and currencies ---------------------------------------------------------------

def test_half_cents_round_up_and_totals_are_sums_of_rounded_lines():
    # 0.1 kg x 0.05 = 0.005 -> 0.01 (banker's rounding would give 0.00)
    assert lines(price(card(per_kg="0.05"), facts(weight_kg=D("0.1"))))["weight"] == D("0.01")
    # 12.50 x 21% = 2.625 -> 2.63 (banker's: 2.62)
    assert price(card(base_fee="12.50", tax_rate="21"), facts()).tax == D("2.63")
    # Two lines of 0.10 at 5%: each tax 0.005 -> 0.01; the total tax is their sum 0.02, not
    # round(0.20 x 5%) = 0.01, so the lines add up to the total printed under them.
    p = price(card(base_fee="0.10", per_package="0.10", tax_rate="5"), facts(packages=1))
    assert [line.tax for line in p.lines] == [D("0.01"), D("0.01")] and p.tax == D("0.02")


def test_jpy_has_no_minor_unit():
    p = price(card(currency="JPY", tax_rate="10", base_fee="3000", per_package="12.5"), facts(packages=1))
    # 3000; 1 x 12.5 = 12.5 -> 13 (half up); tax 300 + 1.3 -> 1 = 301; total 3013 + 301 = 3314
    assert lines(p) == {"base_fee": D("3000"), "packages": D("13")}
    assert (p.net, p.tax, p.total) == (D("3013"), D("301"), D("3314"))
    wire = p.wire()
    assert wire["total"] == {"amount": "3314", "currency": "JPY"}
    assert wire["lines"][1]["unit_price"] == {"amount": "12.5", "currency": "JPY"}   # a rate, unrounded


def test_a_float_in_the_card_is_refused():
    with pytest.raises(TypeError):
        price(card(per_km=1.1), facts(distance_km=D("10.0")))


# ---- wire and adjustments ------------------------------------------------------------------

def test_wire_round_trip_and_schema():
    f = facts(distance_km=None, weight_kg=D("7.5"), starts_at=utc("2024-06-01T10:00"))
    p = price(card(tax_rate="21", base_fee="25", per_km="1.10", per_kg="0.125", surcharges=[WEEKEND, TAIL_LIFT]), f)
    wire = json.loads(json.dumps(p.wire()))   # JSON-able as it is
    assert Price.from_wire(wire) == p
    assert wire["lines"][1] == {"code": "weight", "description": "Weight", "quantity": "7.5", "unit": "kg",
                                "unit_price": {"amount": "0.125", "currency": "EUR"}, "tax_rate": "21",
                                "net": {"amount": "0.94", "currency": "EUR"},     # 0.9375 -> 0.94
                                "tax": {"amount": "0.20", "currency": "EUR"},     # 0.1974 -> 0.20
                                "total": {"amount": "1.14", "currency": "EUR"}}
    assert wire["notes"] == [NOTE_NO_DISTANCE] and wire["rate_card_id"] == "card-1"
    assert PriceOut().dump(wire) == wire


def test_adjusted_replaces_the_lines():
    p = price(card(base_fee="25", per_km="1.10"), facts(distance_km=None))
    edited = adjusted(p, [
        {"description": "Agreed trip price", "quantity": "1", "unit": "trip", "unit_price": "180.00", "tax_rate": "21"},
        {"code": "discount", "description": "Loyalty", "quantity": "1", "unit": "order",
         "unit_price": {"amount": "-10", "currency": "EUR"}, "tax_rate": "21"},
        {"description": "Waiting", "quantity": "0.5", "unit": "h", "unit_price": D("45.01"), "tax_rate": D("0")}])
    # 180.00 (tax 37.80); -10.00 (tax -2.10); 0.5 x 45.01 = 22.505 -> 22.51 (no tax)
    assert [(line.code, line.net, line.tax) for line in edited.lines] == [
        ("manual", D("180.00"), D("37.80")), ("discount", D("-10.00"), D("-2.10")), ("manual", D("22.51"), D("0"))]
    assert (edited.net, edited.tax, edited.total) == (D("192.51"), D("35.70"), D("228.21"))
    assert edited.notes == () and edited.rate_card_id == "card-1" and edited.currency == "EUR"
    # An edit of the wire form of the lines prices them the same as before.
    assert adjusted(p, p.wire()["lines"]).lines == p.lines
    with pytest.raises(TypeError):
        adjusted(p, [{"description": "x", "quantity": "1", "unit": "h", "unit_price": 9.99, "tax_rate": "0"}])
    with pytest.raises(ValueError):
        adjusted(p, [{"description": "x", "quantity": "1", "unit": "h",
                      "unit_price": {"amount": "9", "currency": "USD"}, "tax_rate": "0"}])


# ---- schemas -------------------------------------------------------------------------------

def errors_of(schema, data) -> dict:
    with pytest.raises(ValidationError) as caught:
        schema().load(data)
    return caught.value.messages


def test_rate_card_in_defaults_and_decimals():
    loaded = RateCardIn().load({"name": "Standard", "per_km": "1.10", "timezone": "Europe/Amsterdam",
                                "surcharges": [OUT_OF_HOURS, WEEKEND, FUEL, TAIL_LIFT]})
    assert loaded["per_km"] == D("1.10") and loaded["base_fee"] is None
    assert (loaded["currency"], loaded["tax_rate"], loaded["road_factor"], loaded["active"]) == (
        "EUR", D("0"), D("1.3"), True)
    assert loaded["customer_id"] is None and loaded["kind"] is None
    assert loaded["surcharges"][3] == {"name": "Tail lift", "type": "fixed", "amount": D("15.00")}


def test_rate_card_in_refuses_bad_input():
    assert "per_km" in errors_of(RateCardIn, {"name": "x", "per_km": 1.1})            # a float for money
    assert "discount" in errors_of(RateCardIn, {"name": "x", "discount": "5"})        # unknown field
    assert "timezone" in errors_of(RateCardIn, {"name": "x", "timezone": "Mars/Olympus_Mons"})
    assert "timezone" in errors_of(RateCardIn, {"name": "x", "timezone": "../../etc/passwd"})
    assert "name" in errors_of(RateCardIn, {})
    assert "road_factor" in errors_of(RateCardIn, {"name": "x", "road_factor": "0.9"})
    assert "tax_rate" in errors_of(RateCardIn, {"name": "x", "tax_rate": "101"})
    assert "base_fee" in errors_of(RateCardIn, {"name": "x", "base_fee": "-1"})
    assert "per_km" in errors_of(RateCardIn, {"name": "x", "per_km": "0.12345"})     # the column keeps 4 places
    assert "minimum" in errors_of(RateCardIn, {"name": "x", "minimum": "10000000000"})
    assert "road_factor" in errors_of(RateCardIn, {"name": "x", "road_factor": "1.255"})
    assert "currency" in errors_of(RateCardIn, {"name": "x", "currency": "EURO"})
    assert "kind" in errors_of(RateCardIn, {"name": "x", "kind": "charter"})
    assert "surcharges" in errors_of(RateCardIn, {"name": "x", "surcharges": [FUEL, FUEL]})   # twice the same name


def test_surcharge_fields_fit_their_type():
    assert set(errors_of(SurchargeIn, {"name": "Night", "type": "out_of_hours", "percent": "25"})) == {"start", "end"}
    assert "end" in errors_of(SurchargeIn, {**OUT_OF_HOURS, "end": "24:00"})
    assert "end" in errors_of(SurchargeIn, {**OUT_OF_HOURS, "end": "18:00"})   # an empty window
    assert "amount" in errors_of(SurchargeIn, {"name": "Lift", "type": "fixed"})
    assert set(errors_of(SurchargeIn, {**FUEL, "amount": "5"})) == {"amount"}
    assert "percent" in errors_of(SurchargeIn, {"name": "Weekend", "type": "weekend"})
    assert "percent" in errors_of(SurchargeIn, {**FUEL, "percent": 8.5})           # a float
    assert "type" in errors_of(SurchargeIn, {"name": "x", "type": "holiday", "percent": "5"})


def test_price_line_in():
    assert PriceLineIn().load({"description": "Agreed", "quantity": "1", "unit_price": "-5.00", "tax_rate": "21"}) == {
        "description": "Agreed", "quantity": D("1"), "unit": "unit", "unit_price": D("-5.00"), "tax_rate": D("21")}
    line = {"description": "x", "quantity": "1", "unit_price": "1", "tax_rate": "0"}
    assert "unit_price" in errors_of(PriceLineIn, {**line, "unit_price": 9.99})     # a float for money
    assert "net" in errors_of(PriceLineIn, {**line, "net": "1"})                    # not the caller's to set


def test_rate_card_out_shows_decimals_as_strings():
    stored = {"id": "c1", "name": "Standard", "customer_id": None, "kind": "delivery", "currency": "EUR",
              "tax_rate": D("21"), "base_fee": D("25.00"), "per_km": D("1.10"), "per_kg": None, "per_package": None,
              "per_hour": None, "per_day": None, "minimum": D("50"), "road_factor": D("1.3"),
              "timezone": "Europe/Amsterdam", "surcharges": [{"name": "Fuel", "type": "percent", "percent": D("8")}],
              "active": True, "created_at": datetime(2024, 5, 1, tzinfo=timezone.utc),
              "updated_at": datetime(2024, 5, 1, tzinfo=timezone.utc) + timedelta(hours=1)}
    out = RateCardOut().dump(stored)
    assert (out["base_fee"], out["per_km"], out["per_kg"], out["road_factor"]) == ("25.00", "1.10", None, "1.3")
    assert out["surcharges"] == [{"name": "Fuel", "type": "percent", "percent": "8"}]
    assert out["created_at"] == "2024-05-01T00:00:00+00:00"
