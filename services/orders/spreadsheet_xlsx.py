"""The XLSX half of reading order spreadsheets (``spreadsheet.py`` holds the rest): the zip and
XML checks that come before openpyxl sees a byte (PITFALLS 18: zip bombs, entity expansion), and
openpyxl's read-only mode made to start reading at once."""
from __future__ import annotations

import os
import re
import struct
import zipfile
import zlib
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, Any, Iterator
from xml.parsers import expat

from services.common.errors import ValidationFailed

MB = 1024 * 1024
HINT = "Upload the orders as .csv or .xlsx (Excel: File > Save As > Excel Workbook or CSV UTF-8)."


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.of({"file": [message]}, message)


class XlsxSource:
    def __init__(self, file: IO[bytes], workbook: Any, sheet: Any):
        self.file, self.workbook, self.sheet = file, workbook, sheet

    def records(self, start: int) -> Iterator[tuple[int, list[str]]]:
        try:
            rows = self.sheet.iter_rows(min_row=start, values_only=True)
            for number, values in enumerate(rows, start=start):
                yield number, [_text(v) for v in values]
        except MemoryError:
            raise
        except Exception as exc:  # openpyxl raises many kinds on a damaged sheet
            raise _unreadable(exc) from None

    def close(self) -> None:
        self.workbook.close()
        self.file.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value).strip()


def _unreadable(exc: Exception) -> ValidationFailed:
    return _refuse(f"The workbook could not be read ({type(exc).__name__}: {exc}).")


def open_xlsx(path: str, filename: str | None, max_uncompressed: int, max_entries: int,
              max_ratio: int) -> tuple[XlsxSource, int | None]:
    """The first visible sheet (or one named Orders) as a row source, and its row estimate."""
    import openpyxl
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:
        raise RuntimeError("defusedxml must be installed (and OPENPYXL_DEFUSEDXML not False) to read XLSX")
    _quick_dimensions()
    _check_zip(path, filename, max_uncompressed, max_entries, max_ratio)
    # A file object, not the path: openpyxl would refuse a workbook for its name (orders.csv).
    file = open(path, "rb")
    try:
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except MemoryError:
        file.close()
        raise
    except Exception as exc:
        file.close()
        raise _unreadable(exc) from None
    try:
        sheets = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"] or workbook.worksheets
        if not sheets:
            raise _refuse("The workbook has no worksheet.")
        sheet = next((ws for ws in sheets if re.sub(r"[^a-z]", "", ws.title.lower()) in ("orders", "order")), sheets[0])
        # Some writers put "A1" for every sheet: then there is no estimate.
        estimate = sheet.max_row if (sheet.max_row or 0) > 1 else None
        # A writer's dimension can be wrong; without it openpyxl reads every cell there is.
        sheet.reset_dimensions()
    except BaseException:
        workbook.close()
        file.close()
        raise
    return XlsxSource(file, workbook, sheet), estimate


def _quick_dimensions() -> None:
    """openpyxl's read-only sheets look for <dimension> in *end* events, so a sheet without one
    (openpyxl's own write-only output, many generators) is parsed whole before its first row is
    read: a third of the time of a 100,000-row import. Same answer, from start events, stopping
    at <sheetData>."""
    from openpyxl.utils import range_boundaries
    from openpyxl.worksheet import _reader
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    from openpyxl.xml.functions import iterparse

    def _get_size(self: Any) -> None:
        with self._get_source() as src:
            for _, element in iterparse(src, events=("start",)):
                if element.tag == _reader.DATA_TAG:
                    return
                if element.tag == _reader.DIMENSION_TAG and element.get("ref"):
                    (self._min_column, self._min_row, self._max_column,
                     self._max_row) = range_boundaries(element.get("ref"))
                    return

    if not getattr(ReadOnlyWorksheet, "_quick_size", False):
        ReadOnlyWorksheet._get_size, ReadOnlyWorksheet._quick_size = _get_size, True


def _zip_entries(path: str) -> int:
    """The entry count the zip declares, read before zipfile builds one object per entry."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - 65557))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return -1
        count = struct.unpack("<H", tail[at + 10:at + 12])[0]
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        if count == 0xFFFF and locator >= 0:  # zip64 keeps the real count elsewhere
            f.seek(struct.unpack("<Q", tail[locator + 8:locator + 16])[0] + 32)
            count = struct.unpack("<Q", f.read(8))[0]
    return count


def _check_zip(path: str, filename: str | None, max_uncompressed: int, max_entries: int,
               max_ratio: int) -> None:
    too_many = _refuse(f"The workbook has more than {max_entries} parts; it is not an ordinary workbook.")
    if _zip_entries(path) > max_entries:
        raise too_many
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                what = ("a Word document (.docx)" if "word/document.xml" in names else
                        "a PowerPoint presentation" if "ppt/presentation.xml" in names else
                        "an OpenDocument file (.ods/.odt)" if "mimetype" in names else
                        "a zip archive")
                named = f" ({filename})" if filename else ""
                raise _refuse(f"Not a spreadsheet{named}: it looks like {what}. {HINT}")
            if len(infos) > max_entries:
                raise too_many
            # zipfile stops inflating at each entry's declared size, so the declared sizes
            # bound what openpyxl can ever expand.
            if sum(i.file_size for i in infos) > max_uncompressed:
                raise _refuse(f"The workbook expands to more than {max_uncompressed // MB} MB; "
                              "split it into smaller files.")
            for info in infos:
                if info.file_size > MB and info.file_size > max_ratio * max(info.compress_size, 1):
                    raise _refuse(f"The workbook part {info.filename} is compressed {max_ratio}-fold "
                                  "or more; it looks like a zip bomb.")
            strings = 0
            for info in infos:
                with archive.open(info) as part:
                    start = part.read(64 * 1024)
                    if not _prolog_is_safe(start):
                        raise _refuse(f"The workbook part {info.filename} declares a DTD or entities, "
                                      "which workbooks never need; it is refused.")
                    strings += _scan_part(part, start, info.filename, MAX_SHARED_STRINGS - strings)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        # RuntimeError: an encrypted part; NotImplementedError: a compression zipfile lacks
        raise _refuse(f"The workbook is damaged: {exc}.") from None


# Excel's own limits. A sheet within the size and ratio limits above can still be a bomb of
# another kind, found by tests/attack/test_hostile_uploads.py: openpyxl builds a whole <row>
# before it yields it (a 0.5 MB upload of one row of a million empty <c/> cells took 900 MB and
# 47 s), fills every missing row number up to a row's r="..." (a 2 KB file with r="900000000"
# kept the import worker busy for hours), and reads every shared string into a list at open
# (a 4 MB upload of 2,000,000 tiny strings: more than two minutes inside the upload check).
# So every part is streamed once through zlib and a few C-level regex scans, with no Python per
# cell, before openpyxl sees it.
MAX_ROW_NUMBER = 1_048_576
MAX_COLUMNS = 16_384
MAX_ROW_ELEMENTS = 8 * MAX_COLUMNS   # a cell is 2-4 elements (<c><is><t>), rich text a few more
MAX_SHARED_STRINGS = 1_000_000   # openpyxl: about 20 s and 150 MB a million
_NAME = rb"<(?:[A-Za-z_][\w.-]*:)?"
_ROW_TAG = re.compile(_NAME + rb"row(?=[\s/>])([^<>]*)>")
_DATA_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>")
_ROW_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?row\s*>")
_STRING_TAG = re.compile(rb"<[A-Za-z_][\w.-]*:si(?=[\s/>])")   # a prefixed <x:si>
_R_ATTR = re.compile(rb"""(?:^|\s)r\s*=\s*["']\s*([^"']*?)\s*["']""")
_SCAN_CHUNK = 1024 * 1024


def _row_number(attrs: bytes) -> float | None:
    found = _R_ATTR.search(attrs)
    if not found:
        return None
    try:
        return float(found.group(1))   # openpyxl takes r="1e9" as row 1,000,000,000
    except ValueError:
        return None                    # openpyxl refuses it itself


def _count_strings(data: bytes) -> int:
    """The <si> (shared string) elements in ``data``: bytes.count for the usual spellings, the
    regex only for a prefixed one (a regex over millions of matches costs seconds)."""
    found = sum(data.count(b"<si" + end) for end in (b">", b" ", b"/", b"\t", b"\n", b"\r"))
    return found + (len(_STRING_TAG.findall(data)) if b":si" in data else 0)


def _too_many_strings() -> ValidationFailed:
    return _refuse(f"The workbook holds more than {MAX_SHARED_STRINGS:,} different texts; "
                   "split it into smaller files.")


def _start_tags(data: bytes, start: int, end: int) -> int:
    return data.count(b"<", start, end) - data.count(b"</", start, end)


def _check_row(elements: int, nested: bool) -> None:
    # openpyxl makes a cell of every element in a row, whatever its name: count them all.
    if nested:
        raise _refuse("The worksheet has a row inside a row; it is not an ordinary workbook.")
    if elements > MAX_ROW_ELEMENTS:
        raise _refuse(f"A row of the worksheet is larger than any Excel row can be (Excel has "
                      f"{MAX_COLUMNS:,} columns); it is not an ordinary workbook.")


def _scan_part(part: IO[bytes], start: bytes, name: str, strings_left: int) -> int:
    """Stream one part (``start`` already read) and refuse what would blow up openpyxl: a row
    number past Excel's last row, more rows than Excel has, a row larger than Excel's columns
    allow (or anything that large between rows), a row inside a row, more shared strings than
    ``strings_left``. Returns the shared strings found."""
    rows = strings = elements = 0
    open_row = in_sheet = False
    tail: int | None = None
    carry = b""
    chunk = start
    while chunk:
        data = carry + chunk
        # A tag cut at the chunk's end waits for the next chunk (a tag is never this long).
        cut = data.rfind(b"<")
        if cut >= 0 and data.find(b">", cut) < 0:
            data, carry = data[:cut], data[cut:]
            if len(carry) > 64 * 1024:
                raise _refuse(f"The workbook part {name} holds a tag longer than 64 KB; it is refused.")
        else:
            carry = b""
        # Rows are counted from a worksheet's <sheetData> on; other parts hold no rows. After
        # </sheetData> come lists openpyxl reads whole (hyperlinks, merged cells): one an
        # Excel row at most.
        if tail is not None:
            tail += _start_tags(data, 0, len(data))
        in_sheet = in_sheet or (tail is None and b"sheetData" in data)
        if in_sheet:
            ended = _DATA_END.search(data)
            stop = ended.start() if ended else len(data)
            at = 0
            for row in _ROW_TAG.finditer(data, 0, stop):
                # The stretch before this row tag: the previous row's content (or what lies
                # between rows), which openpyxl holds whole. A row never starts inside a row.
                elements += _start_tags(data, at, row.start())
                _check_row(elements, open_row and not _ROW_END.search(data, at, row.start()))
                elements, at = 0, row.end()
                open_row = not row.group(0).endswith(b"/>")
                rows += 1
                number = _row_number(row.group(1))
                if (number is not None and number > MAX_ROW_NUMBER) or rows > MAX_ROW_NUMBER:
                    raise _refuse(f"The worksheet goes past row {MAX_ROW_NUMBER:,}, Excel's last row; "
                                  "it is not an ordinary workbook.")
            elements += _start_tags(data, at, stop)
            if open_row and _ROW_END.search(data, at, stop):
                open_row = False
            _check_row(elements, False)
            if ended:
                in_sheet, tail = False, _start_tags(data, stop, len(data))
        if tail is not None and tail > MAX_ROW_NUMBER:
            raise _refuse(f"The worksheet lists more than {MAX_ROW_NUMBER:,} things after its cells "
                          "(links, merged cells); it is not an ordinary workbook.")
        strings += _count_strings(data)
        if strings > strings_left:
            raise _too_many_strings()
        chunk = part.read(_SCAN_CHUNK)
    return strings


class _Doctype(Exception):
    pass


class _Root(Exception):
    pass


def _prolog_is_safe(start: bytes) -> bool:
    """No DTD before the root element, judged by expat, the parser openpyxl's ElementTree uses,
    so an odd encoding cannot hide one; plus a plain look for the two words."""
    lowered = start.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        return False
    if not start.strip():
        return True
    parser = expat.ParserCreate()

    def doctype(*_: Any) -> None:
        raise _Doctype

    def root(*_: Any) -> None:
        raise _Root

    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = doctype
    parser.StartElementHandler = root
    try:
        parser.Parse(start, False)
    except _Root:
        return True
    except _Doctype:
        return False
    except expat.ExpatError:
        return True  # not XML (an image), or XML that openpyxl's parser refuses on its own
    return False  # no root element within 64 KB: a padded prolog, hiding who knows what
