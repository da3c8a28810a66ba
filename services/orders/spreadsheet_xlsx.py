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
            for info in infos:
                with archive.open(info) as part:
                    start = part.read(64 * 1024)
                if not _prolog_is_safe(start):
                    raise _refuse(f"The workbook part {info.filename} declares a DTD or entities, "
                                  "which workbooks never need; it is refused.")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        # RuntimeError: an encrypted part; NotImplementedError: a compression zipfile lacks
        raise _refuse(f"The workbook is damaged: {exc}.") from None


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
