"""What orders accepts as a document: sniffing real minimal files, names, downloads, thumbnails."""
import io
import struct
import zipfile
import zlib

import pytest
from openpyxl import Workbook
from PIL import Image
from werkzeug.http import parse_options_header

from services.common.errors import ValidationFailed
from services.orders import files
from services.orders.files import (ALLOWED, CSV, DOCX, GIF, HEIC, HEIF, JPEG, PDF, PNG, TEXT, TIFF, WEBP,
                                   XLSX, content_disposition, safe_filename, sniff, thumbnail)

HEAD = 8192  # what services/orders/documents.py reads


def image_bytes(fmt: str, size=(64, 48), mode="RGB", color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def minimal_pdf() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def xlsx_bytes(rows: int = 3) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["reference", "city", "weight_kg"])
    for i in range(rows):
        sheet.append([f"PO-{i:06d}", f"City {i * 7919 % 10007}", i * 1.5])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def content_types(*overrides: tuple[str, str]) -> bytes:
    parts = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{parts}</Types>').encode()


def docx_bytes() -> bytes:
    return zip_bytes({
        "[Content_Types].xml": content_types((
            "/word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")),
        "_rels/.rels": b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       b'relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                             b'<w:body><w:p><w:r><w:t>Bill of lading</w:t></w:r></w:p></w:body></w:document>',
    })


def windows_program() -> bytes:
    header = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(0x40 - 14))
    struct.pack_into("<I", header, 0x3C, 0x80)
    return bytes(header) + bytes(0x80 - len(header)) + b"PE\0\0" + bytes(200)


def sniffed(data: bytes, name: str | None = None, *, whole: bool = False) -> str:
    return sniff(data[:HEAD], name, stream=io.BytesIO(data) if whole else None)


def refusal(data: bytes, name: str | None = None, *, whole: bool = False) -> str:
    with pytest.raises(ValidationFailed) as caught:
        sniffed(data, name, whole=whole)
    assert caught.value.status == 422
    (message,) = caught.value.details["fields"]["file"]
    return message


# --- sniff: what is accepted -------------------------------------------------------------------
@pytest.mark.parametrize("data,name,expected", [
    (image_bytes("PNG"), "photo.png", PNG),
    (image_bytes("JPEG"), "photo.jpg", JPEG),
    (image_bytes("GIF"), "anim.gif", GIF),
    (image_bytes("WEBP"), "pic.webp", WEBP),
    (image_bytes("TIFF"), "scan.tif", TIFF),
    (image_bytes("TIFF", compression="tiff_lzw"), "scan.tiff", TIFF),
    (minimal_pdf(), "bol.pdf", PDF),
    (b"\n\n  " + minimal_pdf(), "bol.pdf", PDF),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40), "IMG_0001.HEIC", HEIC),
    (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf" + bytes(40), "IMG_0002.heic", HEIC),
    (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1" + bytes(40), "x.heif", HEIF),
    (b"reference,city\nPO-1,Berlin\n", "orders.csv", CSV),
    (b"reference,city\nPO-1,Berlin\n", "orders.CSV", CSV),
    (b"reference,city\nPO-1,Berlin\n", "orders.txt", TEXT),
    (b"reference,city\nPO-1,Berlin\n", None, TEXT),
    ("Grüße aus Köln – 配送 🚚\n".encode(), "note.txt", TEXT),
    ("caf\xe9 \u201cquoted\u201d\r\n".encode("cp1252"), "old.txt", TEXT),
    ("\ufeffUnicode text\tfrom Excel\r\n".encode("utf-16-le"), "export.txt", TEXT),
    (b"\xef\xbb\xbfreference;ort\nPO-1;M\xc3\xbcnchen\n", "bom.csv", CSV),
    (b"MZ Logistics,Berlin,10115\nAB Cargo,Hamburg,20095\n", "carriers.csv", CSV),  # not a program
    (b"Price < 100 and > 50; see <b>terms</b>\n", "note.txt", TEXT),
    (xlsx_bytes(), "orders.xlsx", XLSX),
    (docx_bytes(), "letter.docx", DOCX),
])
def test_sniff_accepts(data, name, expected):
    assert expected in ALLOWED
    assert sniffed(data, name) == expected
    assert sniffed(data, name, whole=True) == expected
    assert sniffed(data, "innocent-looking.bin") in (expected, TEXT)  # the name never decides


def test_a_multibyte_character_cut_by_the_head_is_still_text():
    data = ("ü" * 10_000).encode()
    assert sniff(data[:HEAD - 1], "long.txt") == TEXT


def test_xlsx_whose_content_types_lie_beyond_the_head():
    """openpyxl writes [Content_Types].xml last: from the head alone the parts under xl/ tell;
    with the whole file the central directory does."""
    data = xlsx_bytes(rows=20_000)
    assert len(data) > 10 * HEAD and b"[Content_Types].xml" not in data[:HEAD]
    assert sniffed(data, "big.xlsx") == XLSX
    assert sniffed(data, "big.xlsx", whole=True) == XLSX


class WriteOnly(io.RawIOBase):
    """A destination zipfile cannot seek in: it writes sizes after each entry (as Apache POI does)."""

    def __init__(self):
        self.data = io.BytesIO()

    def writable(self):
        return True

    def write(self, b):
        return self.data.write(b)


def streamed(entries: dict[str, bytes]) -> bytes:
    out = WriteOnly()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            with archive.open(name, "w") as entry:
                entry.write(data)
    return out.data.getvalue()


def test_zips_written_as_a_stream():
    ct = content_types(("/xl/workbook.xml",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"))
    xlsx = streamed({"_rels/.rels": b"<Relationships/>" * 50, "[Content_Types].xml": ct,
                     "xl/workbook.xml": b"<workbook/>"})
    assert xlsx[6] & 0x08  # sizes come after the data
    assert sniffed(xlsx, "export.xlsx") == XLSX
    assert sniffed(xlsx, "export.xlsx", whole=True) == XLSX
    macro = streamed({"docProps/app.xml": b"<Properties/>", "xl/workbook.xml": b"<workbook/>",
                      "xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"})
    assert "macro" in refusal(macro, "export.xlsx")


def test_the_name_does_not_change_the_type():
    assert sniffed(image_bytes("PNG"), "report.pdf") == PNG
    assert sniffed(minimal_pdf(), None) == PDF


# --- sniff: what is refused --------------------------------------------------------------------
def test_executable_renamed_png():
    message = refusal(windows_program(), "photo.png")
    assert message == "The file is a Windows program, not an image."


@pytest.mark.parametrize("data,name,words", [
    (b"", "empty.pdf", "empty"),
    (windows_program(), "invoice.pdf", "Windows program, not a PDF"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(80), "x.csv", "Windows program"),
    (b"\x7fELF\x02\x01\x01\x00" + bytes(120), "scan.jpg", "Linux program, not an image"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(64), None, "macOS program"),
    (b"#!/bin/sh\nrm -rf /\n", "notes.txt", "script"),
    (b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "page.txt", "web page"),
    (b"\n  <html><head><title>x</title></head></html>", "x.csv", "web page"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "logo.png", "SVG"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>', None, "SVG"),
    (b'<?xml version="1.0"?><order><ref>1</ref></order>', "order.xml", "XML"),
    (b"reference,notes\nPO-1,<script>steal()</script>\n", "orders.csv", "HTML"),
    (zip_bytes({"notes.txt": b"hello", "photo.jpg": b"\xff\xd8\xff"}), "docs.zip", "zip archive"),
    (zip_bytes({"notes.txt": b"hello"}), "orders.xlsx", "zip archive, not an Excel file"),
    (zip_bytes({"META-INF/MANIFEST.MF": b"Main-Class: X", "X.class": b"\xca\xfe\xba\xbe"}), "a.docx", "Java"),
    (zip_bytes({"[Content_Types].xml": content_types(
        ("/xl/workbook.xml", "application/vnd.ms-excel.sheet.macroEnabled.main+xml")),
        "xl/workbook.xml": b"<workbook/>", "xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}), "orders.xlsx", "macro"),
    (zip_bytes({"[Content_Types].xml": content_types(
        ("/ppt/presentation.xml",
         "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")),
        "ppt/presentation.xml": b"<p/>"}), "deck.pptx", "PowerPoint"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old.xls", "old-style Office"),
    (b"{\\rtf1\\ansi hello}", "letter.rtf", "RTF"),
    (b"\x1f\x8b\x08\x00" + bytes(40), "a.csv.gz", "gzip"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(40), "clip.mp4", "video"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(40), "x.avif", "AVIF"),
    (image_bytes("BMP"), "scan.bmp", "BMP"),
    (bytes(range(256)) * 8, "data.csv", "not accepted"),
    (b"\x00" * 100, "blank.txt", "not accepted"),
])
def test_sniff_refuses(data, name, words):
    assert words.lower() in refusal(data, name).lower()
    if data:
        assert words.lower() in refusal(data, name, whole=True).lower()


def test_ooxml_without_content_types_is_refused_when_the_whole_file_is_known():
    fake = zip_bytes({"xl/workbook.xml": b"<workbook/>", "payload.exe": b"MZ"})
    assert "zip archive" in refusal(fake, "orders.xlsx", whole=True)


def test_damaged_zip_is_refused_when_the_whole_file_is_known():
    data = xlsx_bytes()
    assert "damaged" in refusal(data[:len(data) // 2], "orders.xlsx", whole=True)


# --- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,content_type,expected", [
    ("../../etc/passwd", TEXT, "passwd.txt"),
    ("C:\\Users\\me\\Invoice 2024.PDF", PDF, "Invoice 2024.pdf"),
    ("report.exe", PDF, "report.pdf"),
    ("scan.png", JPEG, "scan.jpg"),
    ("photo.jpeg", JPEG, "photo.jpeg"),
    ("Lieferschein Müller – März.pdf", PDF, "Lieferschein Müller – März.pdf"),
    ("配送伝票.pdf", PDF, "配送伝票.pdf"),
    ("e\u0301te\u0301.txt", TEXT, "\u00e9t\u00e9.txt"),  # NFC
    ("photo\u202egnp.exe", PNG, "photognp.png"),  # a right-to-left override goes
    ("x\x00y\r\n.pdf", PDF, "xy.pdf"),
    ('what?<>|*":.txt', TEXT, "what.txt"),
    ('a<b>c|d.txt', TEXT, "a_b_c_d.txt"),
    ("report.pdf. . ", PDF, "report.pdf"),
    ("invoice.2024", PDF, "invoice.2024.pdf"),
    (".htaccess", TEXT, "htaccess.txt"),
    ("-rf.csv", CSV, "rf.csv"),
    ("CON.txt", TEXT, "_CON.txt"),
    ("nul", TEXT, "_nul.txt"),
    ("lpt1.tar.csv", CSV, "_lpt1.tar.csv"),
    (None, PDF, "document.pdf"),
    ("", CSV, "document.csv"),
    ("../..", PNG, "document.png"),
    ("   .pdf", PDF, "document.pdf"),
    ("orders.xlsx", XLSX, "orders.xlsx"),
    ("orders.xls", XLSX, "orders.xlsx"),
])
def test_safe_filename(name, content_type, expected):
    assert safe_filename(name, content_type) == expected


def test_safe_filename_length():
    name = safe_filename("ü" * 300 + ".pdf", PDF)
    assert len(name) == 120 and name.endswith("ü.pdf")
    assert len(safe_filename("a" * 119 + " .x.pdf", PDF)) <= 120


def test_safe_filename_needs_an_accepted_type():
    with pytest.raises(ValueError):
        safe_filename("page.html", "text/html")


def test_every_allowed_type_has_extensions():
    assert set(files.EXTENSIONS) == ALLOWED
    for content_type in ALLOWED:
        assert safe_filename("x", content_type).startswith("x.")


# --- Content-Disposition -----------------------------------------------------------------------
@pytest.mark.parametrize("name,ascii_name", [
    ("Lieferschein Müller.pdf", "Lieferschein Muller.pdf"),
    ("配送伝票.pdf", "download.pdf"),
    ("Größe.csv", "Gro_e.csv"),
    ("plain-name_1.txt", "plain-name_1.txt"),
    ('evil";\r\nSet-Cookie: a=b.pdf', "evil_ Set-Cookie_ a=b.pdf"),
    ("100% done.txt", "100_ done.txt"),
    ("../../etc/passwd", "passwd"),
    (None, "download"),
])
def test_content_disposition(name, ascii_name):
    value = content_disposition(name)
    assert "\r" not in value and "\n" not in value and value.isascii()
    assert value.startswith("attachment; ")
    kind, params = parse_options_header(value)
    assert kind == "attachment"
    assert params["filename"] == files._clean((name or "").replace("\\", "/").split("/")[-1]).strip(" .") \
        or params["filename"] == "download"  # werkzeug prefers filename*: the exact name
    assert f'filename="{ascii_name}"' in value


def test_content_disposition_keeps_the_unicode_name():
    value = content_disposition("配送伝票 März.pdf")
    assert value == ("attachment; filename=\"Marz.pdf\"; "
                     "filename*=UTF-8''%E9%85%8D%E9%80%81%E4%BC%9D%E7%A5%A8%20M%C3%A4rz.pdf")
    assert parse_options_header(value)[1]["filename"] == "配送伝票 März.pdf"
    assert content_disposition("a.png", "inline").startswith("inline; ")
    with pytest.raises(ValueError):
        content_disposition("a.png", "form-data")


# --- thumbnails --------------------------------------------------------------------------------
def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def test_thumbnail_of_a_large_image_is_bounded():
    thumb = thumbnail(io.BytesIO(image_bytes("JPEG", size=(4000, 3000))), JPEG)
    assert decoded(thumb).size == (320, 240)
    assert len(thumb) < 20_000
    assert decoded(thumbnail(io.BytesIO(image_bytes("PNG", size=(900, 3000))), PNG, size=200)).size == (60, 200)


@pytest.mark.parametrize("fmt,content_type,mode,color", [
    ("PNG", PNG, "RGBA", (0, 0, 255, 0)),
    ("PNG", PNG, "P", 3),
    ("PNG", PNG, "I;16", 40000),
    ("GIF", GIF, "P", 5),
    ("WEBP", WEBP, "RGB", (1, 2, 3)),
    ("TIFF", TIFF, "CMYK", (0, 255, 0, 0)),
    ("TIFF", TIFF, "1", 1),
    ("JPEG", JPEG, "L", 128),
])
def test_thumbnail_of_every_mode_is_a_small_rgb_jpeg(fmt, content_type, mode, color):
    image = decoded(thumbnail(io.BytesIO(image_bytes(fmt, size=(500, 250), mode=mode, color=color)), content_type))
    assert image.mode == "RGB" and image.size == (320, 160)


def test_transparent_areas_become_white():
    image = decoded(thumbnail(io.BytesIO(image_bytes("PNG", mode="RGBA", color=(0, 0, 0, 0))), PNG))
    assert min(image.getpixel((10, 10))) > 240


def test_thumbnail_follows_exif_orientation():
    """Stored 200x100, left red and right blue, with orientation 6 (turn 90 degrees clockwise to
    show): the thumbnail stands 100x200 with red on top."""
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    thumb = decoded(thumbnail(io.BytesIO(out.getvalue()), JPEG))
    assert thumb.size == (100, 200)
    top, bottom = thumb.getpixel((50, 20)), thumb.getpixel((50, 180))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused():
    data = png_claiming(100_000, 100_000)
    assert len(data) < 200 and sniff(data, "x.png") == PNG
    with pytest.raises(ValidationFailed) as caught:
        thumbnail(io.BytesIO(data), PNG)
    assert "too large" in caught.value.details["fields"]["file"][0]


def test_image_over_max_image_pixels_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.warns(Image.DecompressionBombWarning):
        with pytest.raises(ValidationFailed) as caught:
            thumbnail(io.BytesIO(image_bytes("PNG", size=(40, 40))), PNG)
    assert "40 × 40 pixels" in caught.value.message


def test_no_thumbnail_for_other_types_or_damaged_images():
    assert thumbnail(io.BytesIO(minimal_pdf()), PDF) is None
    assert thumbnail(io.BytesIO(b"\x00\x00\x00\x18ftypheic"), HEIC) is None
    assert thumbnail(io.BytesIO(b"a,b\n"), CSV) is None
    broken = image_bytes("JPEG", size=(300, 300))[:400]
    assert thumbnail(io.BytesIO(broken), JPEG) is None
    # a PNG the sniffer saw is opened as a PNG only, whatever else it might parse as
    assert thumbnail(io.BytesIO(image_bytes("GIF")), PNG) is None


def test_thumbnail_from_a_stream_that_cannot_seek():
    class OneWay(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    stream = OneWay(image_bytes("JPEG", size=(640, 480)))
    assert not stream.seekable()
    assert decoded(thumbnail(stream, JPEG)).size == (320, 240)
