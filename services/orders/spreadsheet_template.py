"""The columns of an order spreadsheet, the templates customers fill in, and safe CSV export.

``GLOSSARY`` is the one list of columns: header matching (``spreadsheet.py``), both templates,
the glossary sheet and the API docs are all made from it, so they cannot drift apart.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any, Iterable


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    description: str
    example: str
    synonyms: tuple[str, ...] = ()
    required: bool = False


GLOSSARY: tuple[Column, ...] = (
    Column("id", "Order ID", "Your own reference for the order, up to 64 characters. Left empty, "
           "the portal gives the order a reference.", "PO-10023",
           ("ID", "Order", "Order number", "Order no", "Reference", "Ref", "Reference number",
            "Customer reference", "Your reference", "Shipment ID", "Delivery ID")),
    Column("client_id", "Client ID", "Operator imports only: the client id of the customer the "
           "order is for. Customers leave it out.", "ACME-01",
           ("Client", "Client code", "Customer ID", "Customer code", "Account", "Account ID",
            "Account number")),
    Column("unit", "Unit", "Apartment, suite, flat or unit number.", "4B",
           ("Apt", "Apartment", "Suite", "Flat", "Unit number", "Apt/Suite", "Apartment/Suite")),
    Column("address_line1", "Address Line 1", "Street and house number. Required unless the row "
           "has a Place, or Latitude and Longitude.", "Alexanderplatz 1",
           ("Address", "Address 1", "Street", "Street address", "Street and number",
            "Delivery address", "Line 1", "Strasse", "Straße", "Adresse"), required=True),
    Column("address_line2", "Address Line 2", "More of the address: building, floor, company.",
           "Building C, 3rd floor",
           ("Address 2", "Line 2", "Additional address", "Address supplement")),
    Column("city", "City", "City or town.", "Berlin", ("Town", "Ort", "Stadt", "Ville", "Locality")),
    Column("state", "State", "State, province, region or county.", "Berlin",
           ("Province", "Region", "County", "State/Province", "Bundesland")),
    Column("postal_code", "Postal Code", "Postal or ZIP code, kept as text (leading zeros stay).",
           "10178", ("Zip", "Zip code", "Zipcode", "Postcode", "Post code", "Postal",
                     "Zip/Postal code", "PLZ", "Postleitzahl", "Code postal")),
    Column("country", "Country", "Two-letter country code (ISO 3166), e.g. DE, GB, US.", "DE",
           ("Country code", "Land", "Pays", "ISO country")),
    Column("latitude", "Latitude", "Decimal degrees, -90 to 90. With Longitude, the address "
           "columns may stay empty.", "52.5219", ("Lat", "GPS latitude")),
    Column("longitude", "Longitude", "Decimal degrees, -180 to 180.", "13.4132",
           ("Lng", "Lon", "Long", "GPS longitude")),
    Column("notes", "Notes", "Instructions for the driver or our team.",
           "Ring twice; leave with the concierge if out.",
           ("Note", "Comments", "Comment", "Instructions", "Delivery instructions",
            "Driver notes", "Remarks", "Bemerkung")),
    Column("recipient_name", "Recipient Name", "Who receives the delivery.", "Anna Schmidt",
           ("Name", "Recipient", "Customer name", "Customer", "Contact", "Contact name",
            "Consignee", "Full name")),
    Column("recipient_email", "Recipient Email", "The recipient's email, for delivery updates.",
           "anna.schmidt@example.com",
           ("Email", "E-mail", "Email address", "Customer email", "Contact email", "Mail")),
    Column("recipient_phone", "Recipient Phone", "The recipient's phone, for the driver.",
           "030 1234567", ("Phone", "Phone number", "Mobile", "Mobile number", "Telephone", "Tel",
                           "Cell", "Customer phone", "Contact phone", "Telefon")),
    Column("stop_type", "Stop Type", "delivery (or dropoff) or pickup; empty means delivery.",
           "delivery", ("Type", "Type of stop", "Delivery or pickup", "Pickup or delivery")),
    Column("package_count", "Package Count", "How many packages; empty means 1.", "2",
           ("Packages", "Package qty", "Parcels", "Parcel count", "Qty", "Quantity",
            "Number of packages", "Pieces", "Colli")),
    Column("products", "Products", "What is delivered. Empty with a package count or weight "
           "given, the item is called \"Packages\".", "Office chairs",
           ("Items", "Contents", "Description", "Goods", "Product", "Item description",
            "Package description")),
    Column("weight_kg", "Weight (kg)", "Total weight in kilograms.", "12.5",
           ("Weight", "Weight kgs", "Gross weight", "Total weight")),
    Column("length_cm", "Length (cm)", "Package length in centimetres.", "60", ("Length", "Len")),
    Column("width_cm", "Width (cm)", "Package width in centimetres.", "40", ("Width",)),
    Column("height_cm", "Height (cm)", "Package height in centimetres.", "35", ("Height",)),
    Column("window_start", "Window Start", "Earliest arrival: YYYY-MM-DD HH:MM, or ISO 8601 "
           "with an offset (2026-12-01T09:00:00+01:00).", "2026-12-01 09:00",
           ("Time window start", "Earliest", "Earliest time", "Earliest arrival", "Start time",
            "Time from", "Delivery from", "Not before")),
    Column("window_end", "Window End", "Latest arrival, in the same form as Window Start.",
           "2026-12-01 12:00",
           ("Time window end", "Latest", "Latest time", "Latest arrival", "End time", "Time to",
            "Delivery by", "Deadline", "Not after")),
    Column("place", "Place", "The name of a place saved in your address book; its address is "
           "used and the address columns may stay empty.", "Main warehouse",
           ("Saved place", "Place name", "Address book", "Location name")),
    Column("site", "Site", "The code of one of your sites (cost centres) the order is booked for; "
           "required when your user is limited to some sites.", "HQ",
           ("Site code", "Cost centre", "Cost center", "Cost centre code", "Cost center code",
            "Kostenstelle", "Centre de coût")),
)

# Not in the template's example row: a place name the customer has not saved, or another
# customer's id, would make the untouched template fail its own import.
_BLANK_IN_EXAMPLE = {"place", "client_id", "site"}     # site: the account may have none
# Excel would turn these into numbers (losing leading zeros, or "+" of a phone) if typed in a
# General-formatted column.
_TEXT_COLUMNS = {"id", "client_id", "unit", "postal_code", "recipient_phone"}
_NUMBER_COLUMNS = {"latitude", "longitude", "package_count", "weight_kg", "length_cm",
                   "width_cm", "height_cm"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def glossary() -> list[dict[str, Any]]:
    return [{"name": c.name, "header": c.header, "required": c.required,
             "description": c.description, "example": c.example, "synonyms": list(c.synonyms)}
            for c in GLOSSARY]


def _template_columns(operator: bool) -> list[Column]:
    return [c for c in GLOSSARY if operator or c.name != "client_id"]


def template_csv(*, operator: bool = False) -> bytes:
    """The CSV to fill: UTF-8 with a BOM, since Excel reads a BOM-less file as the PC's code page."""
    columns = _template_columns(operator)
    out = io.BytesIO()
    write_csv([{c.header: "" if c.name in _BLANK_IN_EXAMPLE else c.example for c in columns}],
              [c.header for c in columns], out)
    return out.getvalue()


def template_xlsx(*, operator: bool = False) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    columns = _template_columns(operator)
    wb = Workbook()
    orders = wb.active
    orders.title = "Orders"
    orders.append([c.header for c in columns])
    orders.append([_example_cell(c) for c in columns])
    bold = Font(bold=True)
    for i, column in enumerate(columns, start=1):
        orders.cell(1, i).font = bold
        letter = get_column_letter(i)
        orders.column_dimensions[letter].width = max(12, len(column.header) + 2,
                                                     len(column.example) + 2)
        if column.name in _TEXT_COLUMNS:
            orders.cell(2, i).number_format = "@"
            # The column's style is what Excel gives the cells a customer types in later.
            orders.column_dimensions[letter].number_format = "@"
    orders.freeze_panes = "A2"

    sheet = wb.create_sheet("Glossary")
    sheet.append(["Column", "Required", "Description", "Example", "Accepted header names"])
    for column in columns:
        sheet.append([column.header, "yes" if column.required else "", column.description,
                      column.example, ", ".join((column.name,) + column.synonyms)])
    for cell in sheet[1]:
        cell.font = bold
    for letter, width in zip("ABCDE", (18, 10, 60, 26, 60), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _example_cell(column: Column) -> Any:
    if column.name in _BLANK_IN_EXAMPLE:
        return None
    if column.name in _NUMBER_COLUMNS:
        # Real numbers, as a customer's own sheet would hold them.
        return float(column.example) if "." in column.example else int(column.example)
    return column.example


def safe_cell(value: Any) -> str:
    """Text for a cell of an exported CSV that a spreadsheet app will not run as a formula
    (OWASP "CSV injection"): such text gets a leading apostrophe. Numbers stay as they are, so
    -3 exports as -3 while the text "-3" exports as '-3."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(rows: Iterable[dict[str, Any]], columns: list[str], fileobj: IO) -> int:
    """Write a header of ``columns`` and then ``rows``, every cell through ``safe_cell``.

    A text stream is written as it is; a binary one gets UTF-8 with a BOM, for Excel.
    Returns the number of rows written.
    """
    text = fileobj if isinstance(fileobj, io.TextIOBase) else io.TextIOWrapper(
        fileobj, encoding="utf-8-sig", newline="", write_through=True)
    count = 0
    try:
        writer = csv.writer(text)
        writer.writerow([safe_cell(c) for c in columns])
        for row in rows:
            writer.writerow([safe_cell(row.get(c)) for c in columns])
            count += 1
    finally:
        if text is not fileobj:
            text.flush()
            text.detach()  # the caller owns ``fileobj``: leave it open
    return count
