"""CO2e per order by the GLEC Framework v3 / ISO 14083 method (services.orders.emissions)."""
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from services.common.caller import DISPATCHER, CallerContext
from services.common.errors import Forbidden, NotFound, ValidationFailed
from services.orders import emissions
from services.orders.models import Base, EmissionFactor
from tests.unit.test_orders import OPERATOR, _driver, call, customer, located


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/orders.db")
    Base.metadata.create_all(engine)
    make = sessionmaker(engine, expire_on_commit=False)
    with make() as session, session.begin():            # what migration 0010 seeds
        session.add_all(EmissionFactor(**row) for row in emissions.default_factor_rows())
    yield make
    engine.dispose()


def test_glec_worked_example_tonne_km_times_intensity():
    """The GLEC Framework's calculation for one road transport leg, built from GLEC's published
    default intensity values (no worked example with numbers was retrievable from the reference
    search: it found the GLEC Framework v3.0 document, "Global Logistics Emissions Council
    Framework for Logistics Emissions Accounting and Reporting V3.0", Smart Freight Centre 2023,
    https://www.scribd.com/document/693546871/GLEC-Framework-Global-Logistics-Emission-Council-v3,
    and its FAQ's steps, http://www.smartfreightcentre.org/glecframework/faq: tonne-km of the
    shipment x the emission intensity of its transport operation category).

    10 t shipped 500 km (planned distance known) on an articulated truck 34-40 t, average/mixed
    load, diesel, Europe, at GLEC's default 76 g CO2e/tkm WTW:
    10 t x 500 km = 5,000 tkm; 5,000 tkm x 76 g/tkm = 380,000 g = 380 kg CO2e."""
    factor = emissions.Factor("articulated_34_40t", Decimal("76"))
    figure = emissions.co2e(Decimal("500"), factor, Decimal("10000"))
    assert figure["tonne_km"] == Decimal("5000.000")
    assert figure["co2e_kg"] == Decimal("380.000")
    assert figure["mass_t"] == Decimal("10.000") and figure["load_source"] == "items"
    # The seeded factor is that GLEC value.
    assert emissions.DEFAULT_FACTORS["articulated_34_40t"][1] == "76"


def test_distance_is_great_circle_times_the_glec_road_factor():
    # One degree of latitude along a meridian is 111.195 km on the mean Earth sphere.
    assert emissions.great_circle_km((50.0, 0.0), (51.0, 0.0)) == pytest.approx(111.195, abs=0.001)
    km = emissions.planned_km([(50.0, 0.0), (51.0, 0.0), (50.0, 0.0)])
    assert float(km) == pytest.approx(2 * 111.195 * 1.05, abs=0.01)
    assert emissions.planned_km([(50.0, 0.0)]) is None


def test_unknown_load_uses_the_vehicle_types_default_and_says_so():
    factor = emissions.Factor("van", Decimal("587"), default_load_kg=Decimal("250"))
    assert emissions.shipment_kg([(3, None), (2, None)]) is None
    figure = emissions.co2e(Decimal("100"), factor, None)
    assert figure["load_source"] == "default"
    assert figure["tonne_km"] == Decimal("25.000") and figure["co2e_kg"] == Decimal("14.675")
    assert emissions.shipment_kg([(3, Decimal("12.5")), (2, None)]) == Decimal("37.5")


def test_passengers_count_in_passenger_km():
    bus = emissions.Factor("bus", Decimal("30"), unit=emissions.PASSENGER_KM)
    figure = emissions.co2e(Decimal("200"), bus, passengers=40)
    assert figure["passenger_km"] == Decimal("8000.000") and figure["co2e_kg"] == Decimal("240.000")
    assert figure["tonne_km"] is None


def test_an_order_gets_its_figure_on_submit_and_the_routes_vehicle_on_scheduling(factory):
    alice = customer(factory)
    draft = call(factory, alice, "create_order", located())
    assert draft["co2e_kg"] is None and draft["emissions"] is None           # drafts have none
    order = call(factory, alice, "submit_order", draft["id"])
    leeds_york = emissions.great_circle_km((53.7997, -1.5492), (53.959, -1.0815)) * 1.05
    kept = order["emissions"]
    assert kept["vehicle_type"] == emissions.DEFAULT_VEHICLE_TYPE and kept["load_source"] == "items"
    assert Decimal(kept["distance_km"]) == Decimal(str(round(leeds_york, 1)))
    # 3 boxes of 12.5 kg (the envelopes have no weight) = 0.0375 t, at 206 g/tkm
    assert float(order["co2e_kg"]) == pytest.approx(leeds_york * 0.0375 * 206 / 1000, abs=0.001)
    assert order["emissions_on"] == "2026-12-01"

    _driver(factory, "drv-1")
    route = call(factory, OPERATOR, "create_route", {"name": "R1", "day": "2026-12-01", "driver_id": "drv-1",
                                                      "vehicle_type": "van"})
    call(factory, OPERATOR, "schedule_orders", route["id"], {"order_ids": [order["id"]]})
    on_van = call(factory, alice, "get_order", order["id"])
    assert on_van["emissions"]["vehicle_type"] == "van" and on_van["emissions"]["intensity_g_per_unit"] == "587.000"
    call(factory, OPERATOR, "update_route", route["id"], {"vehicle_type": "rigid_3_5_7_5t"})
    assert call(factory, alice, "get_order", order["id"])["emissions"]["vehicle_type"] == "rigid_3_5_7_5t"
    call(factory, OPERATOR, "unschedule_order", route["id"], order["id"])
    assert call(factory, alice, "get_order", order["id"])["emissions"]["vehicle_type"] == emissions.DEFAULT_VEHICLE_TYPE
    with pytest.raises(ValidationFailed):
        call(factory, OPERATOR, "update_route", route["id"], {"vehicle_type": "spaceship"})
    call(factory, OPERATOR, "cancel_order", order["id"])
    assert call(factory, alice, "get_order", order["id"])["co2e_kg"] is None   # cancelled: none


def test_operator_factors_are_editable_by_admins_and_apply_to_the_next_computation(factory):
    factors = call(factory, CallerContext(role=DISPATCHER, user_id="op-2"), "list_emission_factors")
    assert {f["vehicle_type"] for f in factors} == set(emissions.DEFAULT_FACTORS)
    with pytest.raises(Forbidden):
        call(factory, CallerContext(role=DISPATCHER, user_id="op-2"), "save_emission_factor", "van", {"intensity": "1"})
    alice = customer(factory)
    with pytest.raises(Forbidden):
        call(factory, alice, "list_emission_factors")
    saved = call(factory, OPERATOR, "save_emission_factor", emissions.DEFAULT_VEHICLE_TYPE,
                 {"intensity": "412", "source": "our fleet's 2025 fuel records"})
    assert saved["intensity"] == "412.000" and saved["updated_by"] == "op-1"
    order = call(factory, alice, "create_order", located(submit=True))
    assert order["emissions"]["intensity_g_per_unit"] == "412.000"
    assert order["emissions"]["factor_source"] == "our fleet's 2025 fuel records"
    with pytest.raises(ValidationFailed):
        call(factory, OPERATOR, "save_emission_factor", "x" * 65, {"label": "Long", "intensity": "1"})
    with pytest.raises(ValidationFailed):                 # a new type needs its label and value
        call(factory, OPERATOR, "save_emission_factor", "e_van", {"intensity": "50"})
    added = call(factory, OPERATOR, "save_emission_factor", "e_van",
                 {"label": "Electric van", "intensity": "50", "default_load_kg": "200"})
    assert added["unit"] == "tkm"


def _submitted(factory, who, **extra):
    body = located(submit=True, **extra)
    created = call(factory, who, "create_order", body)
    return call(factory, OPERATOR, "get_order", created["id"])


def test_monthly_sums_and_csv_are_the_callers_customers_only(factory):
    alice, bob = customer(factory), customer(factory)
    a1 = _submitted(factory, alice, reference="=HYPERLINK(\"http://evil\")")
    a2 = _submitted(factory, alice)
    b1 = _submitted(factory, bob)
    call(factory, alice, "create_order", located())                       # a draft: not counted
    mine = call(factory, alice, "emissions_monthly", {})
    assert json.loads(json.dumps(mine)) == mine                             # what RPC can carry
    assert [m["month"] for m in mine["months"]] == ["2026-12"]
    assert mine["months"][0]["orders"] == 2
    assert Decimal(mine["total_co2e_kg"]) == Decimal(a1["co2e_kg"]) + Decimal(a2["co2e_kg"])
    assert call(factory, alice, "emissions_monthly", {"from": "2027-01-01"})["months"] == []
    with pytest.raises(NotFound):
        call(factory, alice, "emissions_monthly", {"customer_id": bob.customer_id})
    staff = call(factory, OPERATOR, "emissions_monthly", {"customer_id": bob.customer_id})
    assert Decimal(staff["total_co2e_kg"]) == Decimal(b1["co2e_kg"])
    assert call(factory, OPERATOR, "emissions_monthly", {})["months"][0]["orders"] == 3
    with pytest.raises(ValidationFailed):
        call(factory, alice, "emissions_monthly", {"from": "2026-12-31", "to": "2026-12-01"})

    exported = call(factory, alice, "emissions_csv", {"from": "2026-12-01", "to": "2026-12-31"})
    lines = exported["text"].splitlines()
    assert lines[0].startswith("reference,status,transport_day,vehicle_type,distance_km")
    assert len(lines) == 3 and exported["filename"] == "emissions-2026-12-01-2026-12-31.csv"
    assert any(line.startswith("\"'=HYPERLINK") for line in lines)        # never a formula
    assert b1["reference"] not in exported["text"]
    assert f",{a2['co2e_kg']}," in exported["text"]                         # a number, not text
    assert uuid.UUID(a1["id"])
