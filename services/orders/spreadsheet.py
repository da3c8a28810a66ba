"""Reading customers' order spreadsheets (CSV or XLSX) one row at a time, and turning a row into
the API's order payload. Pure Python: no nameko, no database.

Memory stays flat whatever the size: CSV is decoded and split as a stream; XLSX goes through
openpyxl's read-only mode, after the zip's declared sizes and XML prologs are checked.
"""
from __future__ import annotations

import codecs
import csv
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from services.common.errors import PayloadTooLarge, ValidationFailed
from services.orders.spreadsheet_xlsx import HINT as _HINT
from services.orders.spreadsheet_xlsx import MB
from services.orders.spreadsheet_xlsx import open_xlsx
from services.orders.spreadsheet_template import (GLOSSARY, Column, glossary, safe_cell,
                                                  template_csv, template_xlsx, write_csv)

__all__ = ["FIELD_COLUMNS", "GLOSSARY", "Column", "Row", "Spreadsheet", "fitting_mapping", "glossary",
           "match_header",
           "open_spreadsheet", "row_to_order", "safe_cell", "template_csv", "template_xlsx",
           "write_csv"]

_CHUNK = 256 * 1024


def _normal(header: str) -> str:
    # "Weight (kg)", "weight_kg" and "WEIGHT-KG" all become "weightkg"; ß becomes ss.
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", header).casefold())


def _lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for column in GLOSSARY:
        for text in (column.name, column.header) + column.synonyms:
            key = _normal(text)
            if found.setdefault(key, column.name) != column.name:
                raise RuntimeError(f"header {text!r} is claimed by {found[key]} and {column.name}")
    return found


_HEADERS = _lookup()
_DISPLAY = {c.name: c.header for c in GLOSSARY}


def match_header(text: str) -> str | None:
    """The canonical column a header names, or None."""
    return _HEADERS.get(_normal(text)) if text else None


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet app shows it
    values: dict[str, str]


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.of({"file": [message]}, message)


class Spreadsheet:
    """The header's facts, and ``iter()`` for the rows below it. Each iteration reads the file
    again from its start, so a caller may count first and import after."""

    def __init__(self, source: Any, fmt: str, encoding: str | None = None,
                 delimiter: str | None = None, mappings: Sequence[dict[str, str]] = ()):
        self._source = source
        self._mappings = mappings
        self.strict_mapping = False   # True: the (one) mapping was chosen, the header must fit it
        self.lenient_header = False   # True: a header without an address column is told, not refused
        self.header_problem: str | None = None
        self.mapping: dict[str, str] | None = None   # the one of ``mappings`` the header fits
        self.header_cells: list[str] = []
        self.format, self.encoding, self.delimiter = fmt, encoding, delimiter
        self.warnings: list[str] = []
        self.estimated_rows: int | None = None
        self.header_row = 0
        self.columns: list[str] = []
        self.headers: dict[str, str] = {}  # canonical name -> the header as the file spells it
        self.unknown_headers: list[str] = []
        self._index: list[tuple[str, int]] = []

    def _read_header(self) -> None:
        records = self._source.records(1)
        try:
            number, cells = next((n, c) for n, c in records if any(c))
        except StopIteration:
            raise _refuse("The file is empty: it has no header row.") from None
        finally:
            records.close()
        self.header_row = number
        self.header_cells = [c for c in cells if c]
        self.mapping = fitting_mapping(self._mappings, cells)
        if self.strict_mapping and self.mapping is None:
            present = {_normal(c) for c in cells if c}
            missing = ", ".join(repr(h) for h in self._mappings[0] if _normal(h) not in present)
            raise ValidationFailed.of({"mapping_id": [
                f"The file's header row lacks this mapping's headers {missing}."]})
        mapped = {_normal(h): f for h, f in self.mapping.items()} if self.mapping else {}
        for i, text in enumerate(cells):
            key = _normal(text)
            name = (mapped[key] or None) if key in mapped else match_header(text)
            if name is None:
                if text:
                    self.unknown_headers.append(text)
            elif name in self.headers:
                self.warnings.append(f"Column {text!r} is ignored: {self.headers[name]!r} "
                                     f"already gives the {_DISPLAY[name]}.")
            else:
                self.headers[name] = text
                self.columns.append(name)
                self._index.append((name, i))
        try:
            _check_header(set(self.columns), cells)
        except ValidationFailed as exc:
            if not self.lenient_header:
                raise
            self.header_problem = exc.message   # a preview still shows the headers, to map them

    def __iter__(self) -> Iterator[Row]:
        for number, cells in self._source.records(self.header_row + 1):
            if any(cells):
                yield Row(number, {name: cells[i] if i < len(cells) else ""
                                   for name, i in self._index})

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> "Spreadsheet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def fitting_mapping(mappings: Sequence[dict[str, str]], cells: list[str]) -> dict[str, str] | None:
    """The first mapping (header -> column, "" to ignore a header) all of whose headers the
    header row has, compared as ``match_header`` does (case, spaces and punctuation aside)."""
    present = {_normal(c) for c in cells if c}
    return next((m for m in mappings if m and all(_normal(h) in present for h in m)), None)


def _check_header(found: set[str], cells: list[str]) -> None:
    if "address_line1" in found or "place" in found or {"latitude", "longitude"} <= found:
        return
    shown = ", ".join(repr(c) for c in cells if c) or "none"
    if found & {"latitude", "longitude"}:
        have, lack = ("latitude", "longitude") if "latitude" in found else ("longitude", "latitude")
        missing = (f"a {_DISPLAY[lack]!r} column to go with {_DISPLAY[have]!r}, "
                   "or an 'Address Line 1' column")
    else:
        missing = "an 'Address Line 1' column (or 'Place', or 'Latitude' and 'Longitude')"
    raise _refuse(f"The header row has no address column: add {missing}. Headers found: {shown}.")


def open_spreadsheet(path: str, filename: str | None = None, *, max_bytes: int | None = None,
                     max_uncompressed: int = 200 * MB, max_entries: int = 1000,
                     max_ratio: int = 100, mappings: Sequence[dict[str, str]] = (),
                     strict_mapping: bool = False, lenient_header: bool = False) -> Spreadsheet:
    """Open a CSV or XLSX file, judged by its content (``filename`` only names it in messages).
    ``mappings``: the customer's saved header mappings; the first the header row fits is used
    (``sheet.mapping``), other headers are matched to the template's names and synonyms.

    Refusals of content raise ``ValidationFailed`` with ``{"file": [message]}``; a file above
    ``max_bytes`` raises ``PayloadTooLarge``. The ``max_*`` limits guard XLSX against zip bombs.
    """
    size = os.path.getsize(path)
    if max_bytes is not None and size > max_bytes:
        raise PayloadTooLarge(f"The file is {size / MB:.1f} MB; the limit is {max_bytes / MB:.1f} MB.")
    with open(path, "rb") as f:
        head = f.read(8192)
    kind = _sniff(head, filename)
    if kind == "zip":
        sheet = _open_xlsx(path, filename, max_uncompressed, max_entries, max_ratio)
    else:
        sheet = _open_csv(path, head)
    sheet._mappings, sheet.strict_mapping = mappings, strict_mapping and bool(mappings)
    sheet.lenient_header = lenient_header
    try:
        sheet._read_header()
    except BaseException:
        sheet.close()
        raise
    if sheet.estimated_rows is not None:  # rows below the header, blank ones included
        sheet.estimated_rows = max(0, sheet.estimated_rows - sheet.header_row)
    return sheet


# ---- what the file is -------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_MAGIC = ((b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"GIF8", "a GIF image"), (b"\x7fELF", "a program (ELF executable)"),
          (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 (.xls) workbook, a password-protected workbook "
                                "or another old Office document"),
          (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
          (b"{\\rtf", "an RTF document"))


def _sniff(head: bytes, filename: str | None) -> str:
    """'zip' or 'text'; anything else is refused with what it looks like."""
    def refuse(what: str) -> ValidationFailed:
        named = f" ({filename})" if filename else ""
        return _refuse(f"Not a spreadsheet{named}: it looks like {what}. {_HINT}")

    if not head:
        raise _refuse("The file is empty.")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise refuse(what)
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return "text"
    if head.startswith(b"MZ") and b"\x00" in head:
        raise refuse("a Windows program (.exe)")
    start = head.lstrip().lower()
    if start.startswith((b"<html", b"<!doctype html")):
        raise refuse("a web page (HTML)")
    if start.startswith(b"<?xml"):
        raise refuse("an XML document (an Excel 2003 XML spreadsheet?)")
    controls = sum(1 for b in head if b < 32 and b not in b"\t\n\r\x0c")
    if b"\x00" in head or controls > len(head) // 100:
        raise refuse("a binary file")
    return "text"


# ---- CSV --------------------------------------------------------------------------------

class _CsvSource:
    def __init__(self, path: str, encoding: str, delimiter: str, sep_line: bool):
        self.path, self.encoding, self.delimiter, self.sep_line = path, encoding, delimiter, sep_line

    def close(self) -> None:
        pass  # each ``records`` opens and closes the file

    def records(self, start: int) -> Iterator[tuple[int, list[str]]]:
        # errors="replace": the encoding was judged on the whole file or a sample of it; a
        # stray byte shows as U+FFFD in its cell rather than failing the import.
        with open(self.path, encoding=self.encoding, errors="replace", newline="") as f:
            # A record is a row in Excel's view: a quoted newline stays inside its cell.
            number = 0
            reader = csv.reader(f, delimiter=self.delimiter, strict=False)
            if self.sep_line:  # Excel reads "sep=;" as a setting, not as row 1
                next(reader, None)
            try:
                for number, cells in enumerate(reader, start=1):
                    if number >= start:
                        yield number, [c.strip() for c in cells]
            except csv.Error as exc:
                raise _refuse(f"Row {number + 1} cannot be read ({exc}); look for an unclosed "
                              f"quote (\") in it or the row above.") from None


def _open_csv(path: str, head: bytes) -> Spreadsheet:
    encoding = next((name for bom, name in _BOMS if head.startswith(bom)), None)
    newlines, encoding, warning = _scan(path, encoding)
    delimiter, sep_line = _delimiter(path, encoding)
    sheet = Spreadsheet(_CsvSource(path, encoding, delimiter, sep_line), "csv", encoding, delimiter)
    sheet.estimated_rows = newlines - sep_line
    if warning:
        sheet.warnings.append(warning)
    return sheet


def _scan(path: str, encoding: str | None) -> tuple[int, str, str | None]:
    """One fast binary pass: count the lines (for progress) and, when no BOM named the
    encoding, check the whole file is UTF-8, since a sample can be clean while row 80,000
    holds a Windows-1252 "é"."""
    lines, last, utf8_seen, bad_at = 0, b"", False, None
    wide = (encoding or "").startswith(("utf-16", "utf-32"))
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            # A line ends in \n, \r\n or a lone \r (old Mac exports; csv reads all three).
            # Counting \n alone made a 1,000,000-row file of \r endings "1 row", which passed
            # the upload's row limit and kept the import worker busy for minutes
            # (tests/attack/test_hostile_uploads.py).
            # (Not for UTF-16/32, where \r\n is not these two bytes side by side.)
            lines += chunk.count(b"\n")
            if not wide:
                lines += chunk.count(b"\r") - chunk.count(b"\r\n")
                if last == b"\r" and chunk[:1] == b"\n":
                    lines -= 1   # a \r\n split across two chunks
            # ASCII chunks are skipped unless a sequence is split across the chunk edge.
            if encoding is None and bad_at is None and (
                    not chunk or not chunk.isascii() or decoder.getstate()[0]):
                try:
                    decoder.decode(chunk, final=not chunk)
                    utf8_seen = utf8_seen or not chunk.isascii()
                except UnicodeDecodeError as exc:
                    bad_at = offset + exc.start
                    utf8_seen = utf8_seen or not chunk[:exc.start].isascii()
            if not chunk:
                break
            offset += len(chunk)
            last = chunk[-1:]
    lines += 1 if last not in (b"\n", b"\r" if not wide else b"\n", b"") else 0
    if encoding is not None:
        return lines, encoding, None
    if bad_at is None:
        return lines, "utf-8", None
    if utf8_seen:
        # Real UTF-8 with a few broken bytes (e.g. two exports pasted together): keep UTF-8.
        return lines, "utf-8", "Some characters could not be read and show as \ufffd."
    return lines, _legacy_encoding(path, bad_at), None


def _legacy_encoding(path: str, bad_at: int) -> str:
    from charset_normalizer import from_bytes

    with open(path, "rb") as f:
        sample = f.read(32 * 1024)
        f.seek(max(0, bad_at - 1024))
        sample += b"\n" + f.read(32 * 1024)
    # Excel's "CSV" on a Western Windows is cp1252, and a few accented names are too little for
    # charset_normalizer to tell it from its neighbours: it read "Crème brûlée" as cp1250
    # ("Crčme brűlée") and "Zoë Ångström" as "Zoë Ĺngström", stored without a word
    # (tests/attack/test_hostile_uploads.py). So cp1252 wins whenever its reading looks like
    # Western text; the guess is asked only when it does not (Cyrillic, Greek, Polish...).
    if _looks_western(sample):
        return "cp1252"
    best = from_bytes(sample).best()
    if best is None or "cp1252" in best.could_be_from_charset or best.encoding.startswith("utf"):
        # Not Western, yet the guess is: Central European (cp1250) when that reads as letters.
        return "cp1250" if _few_accents(sample, "cp1250") else "cp1252"
    return best.encoding


def _few_accents(sample: bytes, encoding: str) -> bool:
    try:
        text = sample.decode(encoding)
    except UnicodeDecodeError:
        return False
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(1 for ch in letters if not ch.isascii()) <= 0.3 * len(letters)


_EAST = "¹¿¥¯¼¾ª£"   # cp1250's ą ż Ą Ż Ľ ľ Ş Ł as cp1252 reads them


def _looks_western(sample: bytes) -> bool:
    """Read as cp1252, is this plausibly Western European text? Few letters outside ASCII (a
    Cyrillic or Greek file read so is almost all "accented" letters) and no symbols inside words
    (a Polish "Łódź" read so is "£ódŸ", "ą" is "¹")."""
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False        # bytes cp1252 leaves undefined
    if not _few_accents(sample, "cp1252"):
        return False
    accented = sum(1 for ch in text if ch.isalpha() and not ch.isascii())
    symbols = sum(1 for a, ch, b in zip(text, text[1:], text[2:])
                  if not ch.isascii() and not ch.isalpha() and (
                      (a.isalpha() and b.isalpha()) or (ch in _EAST and (a.isalpha() or b.isalpha()))))
    return symbols <= 0.02 * max(accented, 1)


def _delimiter(path: str, encoding: str) -> tuple[str, bool]:
    """The delimiter, from the header line; and whether an Excel "sep=" line names it."""
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        sample = f.read(64 * 1024)
    line = next((ln for ln in sample.splitlines() if ln.strip()), "")
    if sep := re.fullmatch(r"sep=(.)", sample.splitlines()[0] if sample else ""):
        return sep.group(1), True
    outside = re.sub(r'"[^"]*"', "", line)  # a quoted header may hold a delimiter
    counts = {d: outside.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])  # ties go to the first: ","
    return (best if counts[best] else ","), False


# ---- XLSX (spreadsheet_xlsx.py) ---------------------------------------------------------

def _open_xlsx(path: str, filename: str | None, max_uncompressed: int, max_entries: int,
               max_ratio: int) -> Spreadsheet:
    source, estimate = open_xlsx(path, filename, max_uncompressed, max_entries, max_ratio)
    result = Spreadsheet(source, "xlsx")
    result.estimated_rows = estimate
    return result


# ---- a row as the API's order -----------------------------------------------------------

_STOP_TYPES = {"": "dropoff", "delivery": "dropoff", "deliver": "dropoff", "dropoff": "dropoff",
               "drop": "dropoff", "pickup": "pickup", "collection": "pickup", "collect": "pickup"}
_ADDRESS = {"unit": "unit", "line1": "address_line1", "line2": "address_line2", "city": "city",
            "state": "state", "postal_code": "postal_code", "country": "country"}
_CONTACT = {"name": "recipient_name", "phone": "recipient_phone", "email": "recipient_email"}
_STOP = {"lat": "latitude", "lng": "longitude", "window_start": "window_start",
         "window_end": "window_end", "place": "place"}
_ITEM = {"quantity": "package_count", "weight_kg": "weight_kg", "length_cm": "length_cm",
         "width_cm": "width_cm", "height_cm": "height_cm"}
FIELD_COLUMNS: dict[str, str] = {
    "reference": "id", "notes": "notes", "site": "site", "stops.0.type": "stop_type",
    "stops.0.address": "address_line1", "stops.0.contact": "recipient_name",
    "items.0.description": "products",
    **{f"stops.0.address.{k}": v for k, v in _ADDRESS.items()},
    **{f"stops.0.contact.{k}": v for k, v in _CONTACT.items()},
    **{f"stops.0.{k}": v for k, v in _STOP.items()},
    **{f"items.0.{k}": v for k, v in _ITEM.items()},
}


def row_to_order(row: Row) -> tuple[dict[str, Any], dict[str, str]]:
    """The order payload of one row, values left as text for the schema to parse, and which
    column each payload field came from (marshmallow's error path -> canonical column)."""
    v = row.values

    def given(mapping: dict[str, str]) -> dict[str, str]:
        return {key: v[col] for key, col in mapping.items() if v.get(col)}

    raw_type = v.get("stop_type", "")
    stop: dict[str, Any] = {"type": _STOP_TYPES.get(re.sub(r"[\s_-]+", "", raw_type.lower()), raw_type)}
    if address := given(_ADDRESS):
        stop["address"] = address
    stop.update(given(_STOP))
    if contact := given(_CONTACT):
        stop["contact"] = contact
    order: dict[str, Any] = {"kind": "delivery", "stops": [stop], "items": []}
    if v.get("id"):
        order["reference"] = v["id"]
    if v.get("notes"):
        order["notes"] = v["notes"]
    if v.get("site"):
        order["site"] = v["site"]
    item = given(_ITEM)
    if item or v.get("products"):
        order["items"].append({"description": v.get("products") or "Packages",
                               "quantity": item.pop("quantity", 1), **item})
    return order, dict(FIELD_COLUMNS)
