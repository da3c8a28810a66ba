"""Spreadsheet imports: upload a CSV or XLSX, follow its progress, read the per-row errors;
the template and glossary to fill."""
from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from gateway.auth import caller, requires
from gateway.inputs import FileField, form_fields, query_args, upload
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES, OPERATOR_ROLES
from services.common.schemas import PageArgs, page_of
from services.orders import spreadsheet_template
from services.orders.files import content_disposition
from services.orders.schemas import ImportArgs, ImportFormIn, ImportOut

blp = Blueprint("imports", __name__, url_prefix="/api/v1",
                description="Spreadsheet imports: every good row becomes a draft order.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def start_import():
    return answer(client().call("orders", "start_import", upload(prefix="imports"),
                                form_fields("submit", "customer_id"), caller=caller()), 202)


@blp.route("/imports", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(FileField, location="files")
@blp.arguments(ImportFormIn, location="form")
@blp.response(202, ImportOut)
def create_import(_file, _form):
    """Upload a CSV (any common encoding and delimiter) or XLSX with one order per row. A file we
    cannot read is refused at once (422); otherwise the import runs in the background: follow it
    at `GET /imports/{id}`. Rows become drafts (or submitted orders with `submit=true`); the
    same file imported again creates no duplicates."""
    return start_import()


@blp.route("/imports", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(ImportOut))
def list_imports(_args):
    """Your imports, newest first (without their error lists)."""
    return answer(client().call("orders", "list_imports", query_args(), caller=caller()))


@blp.route("/imports/template.csv", methods=["GET"])
@blp.response(200, description="The CSV template (UTF-8 with BOM, opens right in Excel).")
def template_csv():
    """The spreadsheet to fill, as CSV: the columns and an example row."""
    return Response(spreadsheet_template.template_csv(), mimetype="text/csv",
                    headers={"Content-Disposition": content_disposition("orders-template.csv")})


@blp.route("/imports/template.xlsx", methods=["GET"])
@blp.response(200, description="The XLSX template with a Glossary sheet.")
def template_xlsx():
    """The spreadsheet to fill, as XLSX: an Orders sheet and a Glossary sheet."""
    return Response(spreadsheet_template.template_xlsx(), mimetype=XLSX,
                    headers={"Content-Disposition": content_disposition("orders-template.xlsx")})


@blp.route("/imports/glossary", methods=["GET"])
@blp.response(200, description="Every column: its header, what it holds, the headers we also accept.")
def glossary():
    """The columns an import understands, with the other header names it accepts."""
    return answer(spreadsheet_template.glossary())


@blp.route("/imports/<string:import_id>", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(ImportArgs, location="query")
@blp.response(200, ImportOut)
def get_import(_args, import_id):
    """An import's progress (`processed_rows` of `total_rows`) and its errors, one per bad row and
    column (page through them with `errors_page`)."""
    return answer(client().call("orders", "get_import", import_id, query_args(), caller=caller()))


@blp.route("/imports/<string:import_id>/errors.csv", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, description="The errors as CSV, safe to open in a spreadsheet.")
def import_errors(import_id):
    """Download an import's errors as CSV (row, column, message)."""
    text = client().call("orders", "import_error_report", import_id, caller=caller())
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": content_disposition(f"import-{import_id}-errors.csv")})
