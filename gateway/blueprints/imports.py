"""Spreadsheet imports: upload a CSV or XLSX, follow its progress, read the per-row errors;
the template and glossary to fill."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from gateway.auth import caller, requires
from gateway.inputs import FileField, form_fields, query_args, upload
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES, OPERATOR_ROLES
from services.common.schemas import PageArgs, page_of
from services.orders import spreadsheet_template
from services.orders.files import content_disposition
from services.orders.schemas import (ImportAddressOut, ImportArgs, ImportConfirmIn, ImportFormIn,
                                     ImportMappingIn, ImportMappingOut, ImportMappingPatch, ImportOut,
                                     ImportPreviewFormIn,
                                     ImportPreviewOut)

blp = Blueprint("imports", __name__, url_prefix="/api/v1",
                description="Spreadsheet imports: every good row becomes a draft order.")
CUSTOMERS = tuple(sorted(CUSTOMER_ROLES))
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def start_import():
    return answer(client().call("orders", "start_import", upload(prefix="imports"),
                                form_fields("submit", "customer_id", "mapping_id"), caller=caller()), 202)


# A preview reads and checks up to IMPORT_PREVIEW_COUNT_ROWS rows: ~1 s for 10,000 CSV rows, ~2.5 s
# XLSX (bench/import_preview.py), too close to RPC_TIMEOUT on a busy machine.
PREVIEW_TIMEOUT = 30


def orders(method: str, *args, timeout: float | None = None):
    return client().call("orders", method, *args, caller=caller(), timeout=timeout)


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


@blp.route("/imports/preview", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(FileField, location="files")
@blp.arguments(ImportPreviewFormIn, location="form")
@blp.response(201, ImportPreviewOut)
def preview_import(_file, _form):
    """Upload a file to see, before anything is created, how it reads: its headers and which
    import column each gives (with your saved mapping whose headers the file has, the default
    first, or the one named by `mapping_id`), the first `rows` rows with each cell's problem (the
    checks the import applies), and the good and bad rows of the whole file when it has at most
    IMPORT_PREVIEW_COUNT_ROWS rows. The import waits in status `preview`: run it with
    `POST /imports/{id}/confirm`. The same refusals as `POST /imports` apply (422, 413)."""
    return answer(orders("preview_import", upload(prefix="imports"), form_fields("mapping_id", "rows"),
                         timeout=PREVIEW_TIMEOUT), 201)


@blp.route("/imports/<string:import_id>/confirm", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(ImportConfirmIn)
@blp.response(202, ImportOut)
def confirm_import(_payload, import_id):
    """Run a previewed import as an upload runs (follow it at `GET /imports/{id}`); 409 when the
    import is not a preview (confirmed already)."""
    return answer(orders("confirm_import", import_id, request.get_json()), 202)


@blp.route("/import-mappings", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, ImportMappingOut(many=True))
def list_mappings():
    """Your saved column mappings, the default first."""
    return answer(orders("list_import_mappings"))


@blp.route("/import-mappings", methods=["POST"])
@requires(*CUSTOMERS)
@blp.arguments(ImportMappingIn)
@blp.response(201, ImportMappingOut)
def create_mapping(_payload):
    """Save how your spreadsheet's headers map to the import's columns (`columns`: header ->
    column of `GET /imports/glossary`, `""` to ignore one). An upload whose header row has all of
    a mapping's headers is read with it; the first mapping saved is the default (mailed files)."""
    return answer(orders("create_import_mapping", request.get_json()), 201)


@blp.route("/import-mappings/<string:mapping_id>", methods=["PATCH"])
@requires(*CUSTOMERS)
@blp.arguments(ImportMappingPatch)
@blp.response(200, ImportMappingOut)
def update_mapping(_payload, mapping_id):
    """Rename a mapping, change its columns, or make it the default (`is_default: true`)."""
    return answer(orders("update_import_mapping", mapping_id, request.get_json()))


@blp.route("/import-mappings/<string:mapping_id>", methods=["DELETE"])
@requires(*CUSTOMERS)
@blp.response(204)
def delete_mapping(mapping_id):
    """Delete a mapping (imports already made with it keep their copy)."""
    return answer(orders("delete_import_mapping", mapping_id), 204)


@blp.route("/import-address", methods=["GET"])
@requires(*CUSTOMERS)
@blp.response(200, ImportAddressOut)
def import_address():
    """Your import-by-email address: CSV or XLSX attachments mailed there are imported as drafts
    with your default mapping, and the sender (one of your users) gets the result by email."""
    return answer(orders("get_import_address"))


@blp.route("/import-address", methods=["POST"])
@requires("customer_admin")
@blp.response(200, ImportAddressOut)
def rotate_import_address():
    """Customer admins: make the import address, or replace its token (the old address stops
    working at once). Mailed files are imported as the admin who did this last."""
    return answer(orders("rotate_import_address"))
