"""CO2e per order (GLEC Framework v3 / ISO 14083): the monthly sums and the CSV of a period for a
customer (staff: any customer's, or all), and the operator's emission factors per vehicle type.
Each order's own figure is in its answer (`co2e_kg`, `emissions`)."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from gateway.auth import operator, requires
from gateway.blueprints.orders import ANYONE, orders
from gateway.inputs import query_args
from gateway.rpc import answer
from services.common.caller import OPERATOR_ADMIN
from services.orders.files import content_disposition
from services.orders.schemas import (EmissionFactorIn, EmissionFactorOut, EmissionsArgs,
                                     MonthlyEmissionsOut)

blp = Blueprint("emissions", __name__, url_prefix="/api/v1",
                description="CO2e per order (GLEC v3 / ISO 14083): monthly sums, CSV, the operator's factors.")


@blp.route("/emissions/monthly", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(EmissionsArgs, location="query")
@blp.response(200, MonthlyEmissionsOut)
def monthly(_args):
    """kg CO2e per calendar month of the transport day (`from`..`to`, inclusive days), summed over
    your orders that have a figure (submitted and later; not drafts or cancelled ones). Operator
    staff: one customer's with `customer_id`, else every customer's."""
    return answer(orders("emissions_monthly", query_args()))


@blp.route("/emissions.csv", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(EmissionsArgs, location="query")
@blp.response(200, description="One row per order: its CO2e and every input (UTF-8, no cell is a formula).")
def export_csv(_args):
    """The orders of `from`..`to` with their CO2e, distance, load, tonne-km, vehicle type,
    intensity and its source, for a spreadsheet or a sustainability report."""
    found = orders("emissions_csv", query_args())
    return Response("\ufeff" + found["text"], mimetype="text/csv",
                    headers={"Content-Disposition": content_disposition(found["filename"]),
                             "Cache-Control": "private, no-store"})


@blp.route("/admin/emission-factors", methods=["GET"])
@operator()
@blp.response(200, EmissionFactorOut(many=True))
def list_factors():
    """Emission intensity per vehicle type (g CO2e WTW per tonne-km, or per passenger-km), the
    load assumed when an order's items have no weight, and where each value comes from."""
    return answer(orders("list_emission_factors"))


@blp.route("/admin/emission-factors/<string:vehicle_type>", methods=["PUT"])
@operator(OPERATOR_ADMIN)
@blp.arguments(EmissionFactorIn)
@blp.response(200, EmissionFactorOut)
def save_factor(_payload, vehicle_type):
    """Change a vehicle type's factor, or add a type (then `label` and `intensity` are needed).
    Orders computed from now on use it; delivered orders keep the figure they had."""
    return answer(orders("save_emission_factor", vehicle_type, request.get_json()))
