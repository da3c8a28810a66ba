"""Order spreadsheets: every file here is made in tmp_path by the test that reads it."""
import codecs
import csv
import io
import tracemalloc
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from marshmallow import ValidationError

from services.common.errors import PayloadTooLarge, ValidationFailed
from services.orders.schemas import OrderFields
from services.orders.spreadsheet import (GLOSSARY, Row, glossary, match_header, open_spreadsheet,
                                         row_to_order, safe_cell, template_csv, template_xlsx,
                                         write_csv)

HEADER = "Order ID,Address,City,Zip,Name\n"


def write(tmp_path, data, name="orders.csv"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


def rows_of(path, **kw):
    with open_spreadsheet(path, **kw) as sheet:
        return sheet, list(sheet)


def refusal(excinfo):
    return " ".join(excinfo.value.details["fields"]["file"])


def xlsx(tmp_path, rows, name="orders.xlsx", title="Orders"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            if value is not None:
                ws.cell(r, c, value)
    path = tmp_path / name
    wb.save(path)
    return str(path)


# ---- encodings and delimiters -----------------------------------------------------------

GERMAN = HEADER + "1,Bahnhofstraße 5,Zürich,8001,Jörg Müller\n2,Preis 5 €,Köln,50667,Zoë\n"


@pytest.mark.parametrize("encoding, reported", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"),
    ("utf-16-le", "utf-16"), ("utf-16-be", "utf-16"), ("cp1252", "cp1252")])
def test_common_encodings_read_the_same(tmp_path, encoding, reported):
    data = GERMAN.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # with the BOM a Windows program writes
        data = (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + data
    sheet, rows = rows_of(write(tmp_path, data))
    assert sheet.encoding == reported and sheet.format == "csv"
    assert sheet.columns == ["id", "address_line1", "city", "postal_code", "recipient_name"]
    assert rows[0].values["recipient_name"] == "Jörg Müller"
    assert rows[0].values["city"] == "Zürich" and rows[1].values["address_line1"] == "Preis 5 €"
    assert rows[0].values["id"] == "1"  # the BOM is not part of the first header


def test_utf8_with_a_bad_byte_far_down_does_not_crash(tmp_path):
    body = "".join(f"{i},Straße {i},Köln,50667,Jörg\n" for i in range(20000))
    data = (HEADER + body).encode("utf-8") + "99999,Café 1,Paris,75001,Zoé\n".encode("cp1252")
    sheet, rows = rows_of(write(tmp_path, data))
    assert sheet.encoding == "utf-8" and len(rows) == 20001
    assert rows[0].values["address_line1"] == "Straße 0"
    assert rows[-1].values["address_line1"] == "Caf\ufffd 1"
    assert sheet.warnings


def test_ascii_then_cp1252_far_down_is_read_as_cp1252(tmp_path):
    body = "".join(f"{i},Main Street {i},London,E1,Ann\n" for i in range(20000))
    data = (HEADER + body + "99999,Café 1,Besançon,25000,Zoé\n").encode("cp1252")
    sheet, rows = rows_of(write(tmp_path, data))
    assert sheet.encoding == "cp1252"
    assert rows[-1].values["city"] == "Besançon" and rows[-1].values["recipient_name"] == "Zoé"


def test_a_utf8_sequence_split_across_read_chunks_is_still_utf8(tmp_path):
    prefix = HEADER + "".join(f"{i},{'x' * 90},Paris,75001,Ann\n" for i in range(2000))
    prefix += "9," + "x" * (256 * 1024 - 1 - len(prefix) - 2)
    data = (prefix + "é,Paris,75001,Ann\n").encode("utf-8")
    assert data[256 * 1024 - 1:256 * 1024 + 1] == "é".encode("utf-8")
    sheet, rows = rows_of(write(tmp_path, data))
    assert sheet.encoding == "utf-8" and rows[-1].values["address_line1"].endswith("xé")


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_is_taken_from_the_header_line(tmp_path, delimiter):
    text = "\n".join(delimiter.join(r) for r in [
        ["Ref", "Street", "Town", "Notes"], ["A1", "Hauptstr. 1", "Berlin", "fragile"]]) + "\n"
    sheet, rows = rows_of(write(tmp_path, text))
    assert sheet.delimiter == delimiter
    assert rows[0].values == {"id": "A1", "address_line1": "Hauptstr. 1", "city": "Berlin",
                              "notes": "fragile"}


def test_excel_sep_line_names_the_delimiter_and_is_not_a_row(tmp_path):
    sheet, rows = rows_of(write(tmp_path, "sep=;\nRef;Address\nA1;Main St, 1\n"))
    assert sheet.delimiter == ";" and sheet.header_row == 1
    assert rows == [Row(2, {"id": "A1", "address_line1": "Main St, 1"})]


def test_quoted_newlines_stay_in_their_cell_and_rows_are_numbered_as_excel_shows(tmp_path):
    text = ('Ref,Address,Notes\nA1,"Main St 1\nBack door",x\nA2,Elm St 2,"line one\r\nline two"\n'
            'A3,Oak St 3,""\n')
    sheet, rows = rows_of(write(tmp_path, text))
    assert [r.number for r in rows] == [2, 3, 4]
    assert rows[0].values["address_line1"] == "Main St 1\nBack door"
    assert rows[1].values["notes"] == "line one\r\nline two"
    assert rows[2].values["notes"] == ""


def test_blank_rows_are_skipped_but_keep_their_numbers(tmp_path):
    text = "\n,,\nRef,Address\nA1,Main St 1\n\n , \nA2,Elm St 2\n"
    sheet, rows = rows_of(write(tmp_path, text))
    assert sheet.header_row == 3
    assert [(r.number, r.values["id"]) for r in rows] == [(4, "A1"), (7, "A2")]
    assert sheet.estimated_rows == 4  # the lines below the header, blank ones included


def test_short_rows_get_empty_strings_and_cells_are_stripped(tmp_path):
    sheet, rows = rows_of(write(tmp_path, "Ref,Address,City\n  A1 ,\u00a0Main St 1 \n"))
    assert rows[0].values == {"id": "A1", "address_line1": "Main St 1", "city": ""}


def test_an_unclosed_quote_is_reported_with_its_row(tmp_path):
    with open_spreadsheet(write(tmp_path, 'Ref,Address\nA1,"Main St\n' + "x" * 200000)) as sheet:
        with pytest.raises(ValidationFailed) as excinfo:
            list(sheet)
    assert "Row 2" in refusal(excinfo) and "quote" in refusal(excinfo)


# ---- headers ----------------------------------------------------------------------------

@pytest.mark.parametrize("header, name", [
    ("Address", "address_line1"), ("Address 1", "address_line1"), ("STREET", "address_line1"),
    ("address_line_1", "address_line1"), ("Address-Line.1", "address_line1"),
    ("Straße", "address_line1"), ("Address 2", "address_line2"), (" Zip ", "postal_code"),
    ("Zip code", "postal_code"), ("ZIP-CODE", "postal_code"), ("Postcode", "postal_code"),
    ("Postal code", "postal_code"), ("PLZ", "postal_code"), ("Lat", "latitude"),
    ("Lng", "longitude"), ("Lon", "longitude"), ("Long", "longitude"), ("Order ID", "id"),
    ("Reference", "id"), ("Ref.", "id"), ("Customer reference", "id"), ("ID", "id"),
    ("Packages", "package_count"), ("Package count", "package_count"), ("Qty", "package_count"),
    ("Parcels", "package_count"), ("Name", "recipient_name"), ("Recipient", "recipient_name"),
    ("Customer name", "recipient_name"), ("E-mail", "recipient_email"),
    ("Email", "recipient_email"), ("Phone", "recipient_phone"), ("Mobile", "recipient_phone"),
    ("Telephone", "recipient_phone"), ("Type", "stop_type"), ("Type of stop", "stop_type"),
    ("Stop type", "stop_type"), ("Weight", "weight_kg"), ("Weight (kg)", "weight_kg"),
    ("weight_kg", "weight_kg"), ("Length (cm)", "length_cm"), ("Apt", "unit"), ("Suite", "unit"),
    ("Unit", "unit"), ("Province", "state"), ("Region", "state"), ("County", "state"),
    ("Town", "city"), ("Comments", "notes"), ("Instructions", "notes"), ("Notes", "notes"),
    ("Items", "products"), ("Contents", "products"), ("Description", "products"),
    ("Client ID", "client_id"), ("Window start", "window_start"), ("Saved place", "place")])
def test_forgiving_header_names(header, name):
    assert match_header(header) == name


@pytest.mark.parametrize("header", ["Weight (lb)", "Length (mm)", "Colour", ""])
def test_headers_in_other_units_or_unknown_match_nothing(header):
    assert match_header(header) is None


def test_every_glossary_name_and_display_header_matches_itself():
    for column in GLOSSARY:
        assert match_header(column.name) == column.name == match_header(column.header)
    assert [c["name"] for c in glossary()] == [c.name for c in GLOSSARY]
    assert {"name", "header", "required", "description", "example", "synonyms"} <= set(glossary()[0])


def test_unknown_and_repeated_headers_are_reported_not_fatal(tmp_path):
    text = "Ref,Colour,Street,Address,Weight (lb),\nA1,red,Main St 1,Elm St 2,3,\n"
    sheet, rows = rows_of(write(tmp_path, text))
    assert sheet.unknown_headers == ["Colour", "Weight (lb)"]
    assert sheet.columns == ["id", "address_line1"] and sheet.headers["address_line1"] == "Street"
    assert rows[0].values == {"id": "A1", "address_line1": "Main St 1"}
    assert "'Address' is ignored" in sheet.warnings[0]


@pytest.mark.parametrize("header, missing", [
    ("Ref,City,Zip\n", "'Address Line 1'"), ("Ref,Lat\n", "'Longitude' column to go with 'Latitude'"),
    ("Ref,Longitude\n", "'Latitude' column to go with 'Longitude'")])
def test_a_header_without_any_address_column_is_refused(tmp_path, header, missing):
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(write(tmp_path, header + "A1,x,y\n"))
    assert missing in refusal(excinfo) and "Headers found" in refusal(excinfo)


@pytest.mark.parametrize("header", ["Ref,Lat,Lng\n", "Ref,Place\n", "Ref,Street\n"])
def test_coordinates_or_a_place_are_enough_without_an_address(tmp_path, header):
    with open_spreadsheet(write(tmp_path, header)) as sheet:
        assert list(sheet) == [] and sheet.estimated_rows == 0


def test_an_empty_file_is_refused(tmp_path):
    for data in (b"", b"\n\n ,\n"):
        with pytest.raises(ValidationFailed) as excinfo:
            open_spreadsheet(write(tmp_path, data))
        assert "empty" in refusal(excinfo)


def test_a_file_above_max_bytes_is_too_large(tmp_path):
    with pytest.raises(PayloadTooLarge):
        open_spreadsheet(write(tmp_path, GERMAN), max_bytes=10)
    with open_spreadsheet(write(tmp_path, GERMAN), max_bytes=1000) as sheet:
        assert len(list(sheet)) == 2


# ---- not a spreadsheet ------------------------------------------------------------------

def _docx():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    return out.getvalue()


def _zip():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("orders.csv", HEADER)
    return out.getvalue()


@pytest.mark.parametrize("name, data, looks_like", [
    ("orders.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n", "PDF"),
    ("orders.csv", b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x02\x00\x3e\x00", "ELF"),
    ("orders.csv", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(50) + b"PE\x00\x00",
     "Windows program"),
    ("orders.csv", b"\x89PNG\r\n\x1a\n" + bytes(20), "PNG"),
    ("orders.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), ".xls"),
    ("orders.xlsx", _docx(), "Word"), ("orders.xlsx", _zip(), "zip archive"),
    ("orders.csv", b"<!DOCTYPE html><html><body>Orders</body></html>", "web page"),
    ("orders.csv", bytes(range(256)) * 4, "binary")])
def test_other_files_are_refused_by_content_not_name(tmp_path, name, data, looks_like):
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(write(tmp_path, data, name), filename=name)
    message = refusal(excinfo)
    assert message.startswith(f"Not a spreadsheet ({name})") and looks_like in message


def test_an_xlsx_named_csv_is_read_as_xlsx(tmp_path):
    path = xlsx(tmp_path, [["Ref", "Address"], ["A1", "Main St 1"]], name="orders.csv")
    sheet, rows = rows_of(path)
    assert sheet.format == "xlsx" and rows[0].values["id"] == "A1"


# ---- XLSX -------------------------------------------------------------------------------

def test_xlsx_values_become_the_text_a_person_typed(tmp_path):
    path = xlsx(tmp_path, [
        ["Ref", "Address", "Zip", "Lat", "Lng", "Packages", "Weight", "Window start", "Window end", "Notes"],
        [1001, "Main St 1", "01067", 52.5200066, 13.404954, 3.0, 12.5,
         datetime(2026, 12, 1, 9, 30), date(2026, 12, 1), True],
        [None, " Elm St 2 ", 10178, -33.86, 151.2, 2, 0.0001, None, None, "=1+2"],
    ], title="Sheet1")
    sheet, rows = rows_of(path)
    assert sheet.format == "xlsx" and sheet.encoding is None and sheet.estimated_rows == 2
    assert rows[0] == Row(2, {
        "id": "1001", "address_line1": "Main St 1", "postal_code": "01067", "latitude": "52.5200066",
        "longitude": "13.404954", "package_count": "3", "weight_kg": "12.5",
        "window_start": "2026-12-01T09:30:00", "window_end": "2026-12-01T00:00:00", "notes": "TRUE"})
    assert rows[1].values["id"] == "" and rows[1].values["address_line1"] == "Elm St 2"
    assert rows[1].values["postal_code"] == "10178" and rows[1].values["latitude"] == "-33.86"
    assert rows[1].values["weight_kg"] == "0.0001"


def test_xlsx_without_a_dimension_is_read_whole_with_no_estimate(tmp_path):
    wb = openpyxl.Workbook(write_only=True)  # writes no <dimension>
    ws = wb.create_sheet("Orders")
    for values in [["Ref", "Address"]] + [[f"A{i}", f"Street {i}"] for i in range(300)]:
        ws.append(values)
    wb.save(tmp_path / "orders.xlsx")
    sheet, rows = rows_of(str(tmp_path / "orders.xlsx"))
    assert sheet.estimated_rows is None and len(rows) == 300 and rows[-1].number == 301


def test_xlsx_prefers_an_orders_sheet_and_numbers_rows_as_excel(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Readme"
    wb.active["A1"] = "Fill in the Orders sheet"
    orders = wb.create_sheet("ORDERS")
    orders["A3"], orders["B3"] = "Ref", "Address"
    orders["A4"], orders["B4"] = "A1", "Main St 1"
    orders["A7"], orders["B7"] = "A2", "Elm St 2"
    orders["E9"] = "   "
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    sheet, rows = rows_of(str(path))
    assert sheet.header_row == 3
    assert [(r.number, r.values["id"]) for r in rows] == [(4, "A1"), (7, "A2")]


def test_xlsx_formula_text_is_data(tmp_path):
    path = xlsx(tmp_path, [["Ref", "Address", "Notes"]])
    wb = openpyxl.load_workbook(path)
    cell = wb.active.cell(2, 3, "=HYPERLINK(\"http://evil.example\")")
    cell.data_type = "s"  # typed as text (Excel: a leading apostrophe)
    wb.active.cell(2, 1, "@SUM(A1)")
    wb.active.cell(2, 2, "+1 Main St")
    wb.save(path)
    _, rows = rows_of(path)
    assert rows[0].values == {"id": "@SUM(A1)", "address_line1": "+1 Main St",
                              "notes": "=HYPERLINK(\"http://evil.example\")"}


def _zip_with_sheet(tmp_path, sheet_xml_chunks, name="bomb.xlsx", level=None):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            for chunk in sheet_xml_chunks:
                f.write(chunk)
    return str(path)


def _rows_xml(megabytes):
    row = b'<row><c t="inlineStr"><is><t>Main St 1</t></is></c></row>'
    chunk = row * (1024 * 1024 // len(row))
    yield b"<worksheet><sheetData>"
    for _ in range(megabytes):
        yield chunk
    yield b"</sheetData></worksheet>"


@pytest.fixture
def no_openpyxl(monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("openpyxl must not see this file")
    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


def test_xlsx_zip_bomb_is_refused_without_expanding_it(tmp_path, no_openpyxl):
    path = _zip_with_sheet(tmp_path, _rows_xml(210))  # ~1 MB on disk, 210 MB inflated
    tracemalloc.start()
    try:
        with pytest.raises(ValidationFailed) as excinfo:
            open_spreadsheet(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than 200 MB" in refusal(excinfo)
    assert peak < 2 * 1024 * 1024


def test_xlsx_part_compressed_too_far_is_refused(tmp_path, no_openpyxl):
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(_zip_with_sheet(tmp_path, _rows_xml(20)))
    assert "zip bomb" in refusal(excinfo)


def test_xlsx_limits_are_parameters(tmp_path):
    path = xlsx(tmp_path, [["Ref", "Address"]] + [[f"A{i}", f"Street {i}"] for i in range(5000)])
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(path, max_uncompressed=50 * 1024)
    assert "expands to more than" in refusal(excinfo)
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(path, max_entries=3)
    assert "more than 3 parts" in refusal(excinfo)


LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                    for i in range(1, 10))
          + ']>\n<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is>'
            '</c></row></sheetData></worksheet>')


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/workbook.xml"])
def test_xlsx_with_a_dtd_or_entities_is_refused(tmp_path, no_openpyxl, part, encoding):
    good = xlsx(tmp_path, [["Ref", "Address"], ["A1", "Main St 1"]], name="good.xlsx")
    path = tmp_path / "laughs.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != part:
                dst.writestr(info, src.read(info))
        text = LAUGHS.replace('version="1.0"', f'version="1.0" encoding="{encoding}"')
        dst.writestr(part, text.encode(encoding))
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(str(path))
    assert "DTD" in refusal(excinfo)


def test_xlsx_part_with_a_prolog_padded_past_the_check_is_refused(tmp_path, no_openpyxl):
    good = xlsx(tmp_path, [["Ref", "Address"]], name="good.xlsx")
    path = tmp_path / "padded.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/workbook.xml":
                data = b"<!--" + b" " * 70000 + b"-->" + data
            dst.writestr(info, data)
    with pytest.raises(ValidationFailed) as excinfo:
        open_spreadsheet(str(path))
    assert "xl/workbook.xml declares a DTD" in refusal(excinfo)


def test_xlsx_skips_a_hidden_first_sheet(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Lookup"
    wb.active.append(["Ref", "Address"])
    wb.active.append(["HIDDEN", "x"])
    wb.active.sheet_state = "hidden"
    wb.create_sheet("Sheet2").append(["Ref", "Address"])
    wb["Sheet2"].append(["A1", "Main St 1"])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    _, rows = rows_of(str(path))
    assert [r.values["id"] for r in rows] == ["A1"]


def test_openpyxl_parses_with_defusedxml():
    from openpyxl.xml import DEFUSEDXML
    assert DEFUSEDXML is True


def test_a_damaged_xlsx_is_a_validation_failure(tmp_path):
    with open(xlsx(tmp_path, [["Ref", "Address"], ["A1", "x"]]), "rb") as f:
        data = f.read()
    with pytest.raises(ValidationFailed):
        open_spreadsheet(write(tmp_path, data[: len(data) // 2], "cut.xlsx"))


# ---- formulas and safe export -----------------------------------------------------------

def test_formula_like_cells_are_kept_as_typed_and_escaped_on_export(tmp_path):
    text = 'Ref,Address,Notes,Lat,Lng\n=1+2,@SUM(A1),"=HYPERLINK(""http://x"")",-3,+4\n'
    _, rows = rows_of(write(tmp_path, text))
    values = rows[0].values
    assert values == {"id": "=1+2", "address_line1": "@SUM(A1)", "notes": '=HYPERLINK("http://x")',
                      "latitude": "-3", "longitude": "+4"}
    assert [safe_cell(v) for v in values.values()] == [
        "'=1+2", "'@SUM(A1)", "'=HYPERLINK(\"http://x\")", "'-3", "'+4"]
    assert safe_cell("\tx") == "'\tx" and safe_cell("\rx") == "'\rx"
    assert safe_cell(-3) == "-3" and safe_cell(None) == "" and safe_cell("Main St") == "Main St"


def test_write_csv_escapes_every_cell(tmp_path):
    out = io.BytesIO()
    count = write_csv([{"row": 2, "column": "notes", "message": "=cmd|' /C calc'!A0"},
                       {"row": 3, "message": "ok"}], ["row", "column", "message"], out)
    assert count == 2
    text = out.getvalue().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["row", "column", "message"], ["2", "notes", "'=cmd|' /C calc'!A0"], ["3", "", "ok"]]
    assert not out.closed
    stream = io.StringIO(newline="")
    write_csv([{"a": "+1"}], ["a"], stream)
    assert stream.getvalue() == "a\r\n'+1\r\n"


# ---- a row as an order ------------------------------------------------------------------

def test_row_to_order_builds_the_api_payload():
    row = Row(5, {"id": "PO-1", "unit": "4B", "address_line1": "Main St 1", "address_line2": "",
                  "city": "Berlin", "postal_code": "10178", "country": "de", "latitude": "52.5",
                  "longitude": "13.4", "recipient_name": "Anna", "recipient_email": "",
                  "recipient_phone": "030 123", "stop_type": "Drop-off", "package_count": "3",
                  "products": "", "weight_kg": "4.5", "window_start": "2026-12-01 09:00",
                  "window_end": "", "notes": "Ring twice", "place": ""})
    order, fields = row_to_order(row)
    assert order == {
        "reference": "PO-1", "kind": "delivery", "notes": "Ring twice",
        "stops": [{"type": "dropoff", "address": {"unit": "4B", "line1": "Main St 1", "city": "Berlin",
                                                  "postal_code": "10178", "country": "de"},
                   "lat": "52.5", "lng": "13.4", "window_start": "2026-12-01 09:00",
                   "contact": {"name": "Anna", "phone": "030 123"}}],
        "items": [{"description": "Packages", "quantity": "3", "weight_kg": "4.5"}]}
    assert OrderFields().load(order)["stops"][0]["address"]["country"] == "DE"
    assert fields["reference"] == "id" and fields["stops.0.lat"] == "latitude"
    assert fields["stops.0.address.line1"] == "address_line1"
    assert fields["stops.0.contact.email"] == "recipient_email"
    assert fields["items.0.quantity"] == "package_count"
    assert fields["stops.0.window_start"] == "window_start"


@pytest.mark.parametrize("raw, stop_type", [
    ("", "dropoff"), ("delivery", "dropoff"), ("DROPOFF", "dropoff"), ("drop off", "dropoff"),
    ("Pickup", "pickup"), ("pick-up", "pickup"), ("Collection", "pickup"), ("teleport", "teleport")])
def test_stop_types(raw, stop_type):
    order, _ = row_to_order(Row(2, {"address_line1": "Main St 1", "stop_type": raw}))
    assert order["stops"][0]["type"] == stop_type


def test_a_bare_row_has_no_reference_and_no_item_and_a_place_is_passed_on():
    order, _ = row_to_order(Row(2, {"id": "", "place": "Main warehouse", "products": ""}))
    assert order == {"kind": "delivery", "stops": [{"type": "dropoff", "place": "Main warehouse"}],
                     "items": []}
    order, _ = row_to_order(Row(2, {"address_line1": "x", "products": "Chairs"}))
    assert order["items"] == [{"description": "Chairs", "quantity": 1}]


def test_validation_errors_point_at_the_column():
    order, fields = row_to_order(Row(9, {"address_line1": "Main St", "latitude": "north",
                                         "longitude": "13", "recipient_email": "nope",
                                         "package_count": "many", "window_start": "soon"}))
    with pytest.raises(ValidationError) as excinfo:
        OrderFields().load(order)

    def paths(errors, prefix=""):
        for key, value in errors.items():
            path = f"{prefix}{key}"
            yield from paths(value, path + ".") if isinstance(value, dict) else [path]
    columns = {fields[p] for p in paths(excinfo.value.messages)}
    assert columns == {"latitude", "recipient_email", "package_count", "window_start"}


# ---- templates --------------------------------------------------------------------------

@pytest.mark.parametrize("operator", [False, True])
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_templates_read_back_with_no_errors(tmp_path, kind, operator):
    data = (template_csv if kind == "csv" else template_xlsx)(operator=operator)
    sheet, rows = rows_of(write(tmp_path, data, f"template.{kind}"))
    expected = [c.name for c in GLOSSARY if operator or c.name != "client_id"]
    assert sheet.format == kind and sheet.columns == expected
    assert sheet.unknown_headers == [] and sheet.warnings == [] and len(rows) == 1
    order, _ = row_to_order(rows[0])
    loaded = OrderFields().load(order)
    assert loaded["reference"] == "PO-10023" and loaded["items"][0]["quantity"] == 2
    assert rows[0].values["postal_code"] == "10178" and rows[0].values["place"] == ""


def test_template_csv_has_a_bom_and_the_display_headers():
    data = template_csv()
    assert data.startswith(codecs.BOM_UTF8)
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[:3] == ["Order ID", "Unit", "Address Line 1"] and "Client ID" not in header


def test_template_xlsx_has_a_glossary_sheet():
    wb = openpyxl.load_workbook(io.BytesIO(template_xlsx()))
    assert wb.sheetnames == ["Orders", "Glossary"]
    assert wb["Orders"]["A1"].font.bold
    glossary_rows = list(wb["Glossary"].values)
    assert glossary_rows[0] == ("Column", "Required", "Description", "Example", "Accepted header names")
    line1 = next(r for r in glossary_rows if r[0] == "Address Line 1")
    assert line1[1] == "yes" and "Street" in line1[4]


# ---- streaming --------------------------------------------------------------------------

def test_a_large_csv_is_read_with_flat_memory(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("Order ID;Address;City;Postal code;Recipient;Notes\n")
        for i in range(200_000):
            f.write(f'PO-{i};Hauptstraße {i};Köln;{50000 + i % 999};Jörg Müller;"Ring; twice"\n')
    tracemalloc.start()
    try:
        count = 0
        with open_spreadsheet(str(path)) as sheet:
            assert sheet.estimated_rows == 200_000
            for row in sheet:
                count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 200_000 and row.number == 200_001 and row.values["notes"] == "Ring; twice"
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
