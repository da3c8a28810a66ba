"""What orders accepts as a document, told from the file's bytes.

``sniff`` decides a file's type from its first bytes (magic numbers), never from its name or
the content type the browser sent; the name only tells CSV from plain text, which no bytes can.
The signatures are written out here rather than taken from a detection library: this is an
allow-list (a security check), so it should accept exactly what it names. The pure-Python
libraries guess instead: puremagic ranks candidates and weighs in the file's extension,
filetype (no release since 2022) calls any zip with ``word/`` in its first bytes a .docx and
knows no text formats; either way we would still need our own code for OOXML, text, HTML/SVG
and the messages that say *why* a file is refused.

``safe_filename`` makes the name we keep and show; ``content_disposition`` the header of a
download; ``thumbnail`` a small JPEG of an image (Pillow, imported only there).
"""
from __future__ import annotations

import codecs
import io
import logging
import re
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from typing import BinaryIO
from urllib.parse import quote

from services.common.errors import ValidationFailed

log = logging.getLogger(__name__)

PDF = "application/pdf"
PNG, JPEG, GIF, WEBP, TIFF = "image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff"
HEIC, HEIF = "image/heic", "image/heif"
TEXT, CSV = "text/plain", "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# Accepted content types and their file extensions (the first is the one given to a name
# without a fitting extension).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"),
    GIF: (".gif",),
    WEBP: (".webp",),
    TIFF: (".tif", ".tiff"),
    HEIC: (".heic",),
    HEIF: (".heif", ".heic"),
    TEXT: (".txt", ".text", ".log", ".tsv"),
    CSV: (".csv",),
    XLSX: (".xlsx",),
    DOCX: (".docx",),
}
ALLOWED = frozenset(EXTENSIONS)
IMAGES = frozenset(t for t in ALLOWED if t.startswith("image/"))
THUMBNAILED = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP", TIFF: "TIFF"}  # Pillow formats

WHAT_WE_TAKE = ("PDF, images (JPEG, PNG, GIF, WebP, TIFF, HEIC), text or CSV files, "
                "and Word or Excel files (.docx, .xlsx)")


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.of({"file": [message]}, message)


# --- sniffing ----------------------------------------------------------------------------------
def _expected(filename: str | None) -> str:
    """What the name promises, for messages only ("..., not an image")."""
    ext = _extension(filename or "")
    for types, noun in (((PNG, JPEG, GIF, WEBP, TIFF, HEIC, HEIF), "an image"), ((PDF,), "a PDF document"),
                        ((XLSX,), "an Excel file"), ((DOCX,), "a Word document"),
                        ((TEXT,), "a text file"), ((CSV,), "a CSV file")):
        if any(ext in EXTENSIONS[t] for t in types):
            return noun
    if ext in (".bmp", ".svg", ".ico", ".avif"):
        return "an image"
    return "a document"


def _is_windows_program(head: bytes) -> bool:
    """"MZ" and a DOS header: a PE offset that lands on "PE\\0\\0", or the binary header itself
    (a text file may well start with the letters MZ)."""
    if not head.startswith(b"MZ"):
        return False
    if len(head) >= 0x40:
        (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
        if head[pe_offset:pe_offset + 4] == b"PE\0\0":
            return True
    return b"\0" in head[:64]


# Refused whatever the name says: (test on the head, what the file is).
_PROGRAMS: tuple[tuple[object, str], ...] = (
    (_is_windows_program, "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    ((b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"), "a macOS program"),
    (b"\xca\xfe\xba\xbe", "a program (macOS or Java)"),
    (b"\0asm", "a program (WebAssembly)"),
    (b"dex\n", "an Android program"),
    (b"#!", "a script (a program)"),
    (b"L\0\0\0\x01\x14\x02\0", "a Windows shortcut"),
)
_OTHERS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
     "an old-style Office file (.doc, .xls, .msg) or a password-protected one, which can carry "
     "macros; save it as PDF, .docx or .xlsx"),
    ((b"{\\rtf",), "a Rich Text (RTF) document, which can carry embedded programs; save it as PDF or .docx"),
    ((b"%!PS",), "a PostScript file; save it as PDF"),
    ((b"Rar!\x1a\x07",), "a RAR archive; send the files in it one by one"),
    ((b"7z\xbc\xaf\x27\x1c",), "a 7-Zip archive; send the files in it one by one"),
    ((b"\x1f\x8b",), "a gzip archive; send the files in it one by one"),
    (tuple(b"BZh%d1AY&SY" % level for level in range(1, 10)), "a bzip2 archive; send the files in it one by one"),
    ((b"\xfd7zXZ\0",), "an xz archive; send the files in it one by one"),
    ((b"8BPS",), "a Photoshop file; save it as PNG or JPEG"),
    ((b"\0\0\x01\0",), "an icon file; send a PNG or JPEG instead"),
    ((b"ID3\x02", b"ID3\x03", b"ID3\x04", b"OggS\0", b"fLaC\0"), "an audio file"),
    ((b"\x1a\x45\xdf\xa3",), "a video"),
)


def _matches(test: object, head: bytes) -> bool:
    if callable(test):
        return bool(test(head))
    if isinstance(test, tuple):
        return any(head.startswith(t) for t in test)
    return head.startswith(test)  # type: ignore[arg-type]


_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}


def _ftyp(head: bytes) -> str:
    """ISO base media files (HEIC photos; also MP4/MOV videos and AVIF) by their brands."""
    box = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    brands = {major} | {head[i:i + 4] for i in range(16, min(box, len(head)) - 3, 4)}
    if major in _HEIC_BRANDS or (major in (b"mif1", b"msf1") and brands & _HEIC_BRANDS):
        return HEIC
    if brands & {b"avif", b"avis"}:
        raise _refuse("The file is an AVIF image, which is not accepted; send a JPEG or PNG.")
    if major in (b"mif1", b"msf1"):
        return HEIF
    if major in (b"M4A ", b"M4B ", b"M4P "):
        raise _refuse("The file is an audio file, which is not accepted.")
    raise _refuse("The file is a video, which is not accepted; send a photo (JPEG, PNG) or a PDF.")


def sniff(head: bytes, filename: str | None, *, stream: BinaryIO | None = None) -> str:
    """The content type of a file from its first bytes (8 KB is plenty), one of ``ALLOWED``, or
    ValidationFailed ``{"file": [why]}``. ``filename`` tells CSV from plain text and words the
    message; it never makes a file acceptable. Given the whole file as a seekable ``stream``, a
    zip is checked by its central directory (a Word or Excel file, no macros); from the head
    alone by the entries at its start."""
    head = bytes(head)
    if not head:
        raise _refuse("The file is empty.")
    expected = _expected(filename)
    for test, what in _PROGRAMS:
        if _matches(test, head):
            raise _refuse(f"The file is {what}, not {expected}.")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith((b"II*\0", b"MM\0*")):
        return TIFF
    pdf_at = head.find(b"%PDF-", 0, 1024)
    if pdf_at == 0 or (pdf_at > 0 and not head[:pdf_at].strip(b" \t\r\n\f\0\xef\xbb\xbf")):
        return PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip(head, stream, expected)
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    for starts, what in _OTHERS:
        if head.startswith(starts):
            raise _refuse(f"The file is {what}.")
    if head.startswith(b"RIFF") and head[8:12] in (b"WAVE", b"AVI "):
        raise _refuse("The file is an audio file or a video, which is not accepted.")
    if head.startswith(b"BM") and len(head) >= 14 and head[6:10] == b"\0\0\0\0":
        raise _refuse("The file is a BMP image, which is not accepted; save it as PNG or JPEG.")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise _refuse("The file is a tar archive; send the files in it one by one.")
    return _text(head, filename, expected)


# --- text --------------------------------------------------------------------------------------
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\0\0", "utf-32-le"), (b"\0\0\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_ALLOWED_CONTROLS = set("\t\n\r\f\v\x1a")
_MARKUP = re.compile(r"<\s*(script|html|head|body|iframe|frame|object|embed|svg|meta|link|style|form)\b",
                     re.IGNORECASE)


def _decode(head: bytes) -> str | None:
    """The head as text, or None when it is binary. A cut multi-byte character at the end of the
    head is fine; no BOM and not UTF-8 is read as Windows-1252/Latin-1 (old Excel exports)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            try:
                return codecs.getincrementaldecoder(encoding)().decode(head[len(bom):])
            except UnicodeDecodeError:
                return None
    if b"\0" in head:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        pass
    try:
        return head.decode("cp1252")
    except UnicodeDecodeError:
        return head.decode("latin-1")


def _text(head: bytes, filename: str | None, expected: str) -> str:
    text = _decode(head)
    if text is not None:
        controls = sum(1 for ch in text if (ch < " " or "\x7f" <= ch < "\xa0") and ch not in _ALLOWED_CONTROLS)
        if "\0" in text or controls > max(2, len(text) // 100):
            text = None
    if text is None:
        raise _refuse(f"The file type is not accepted ({expected} was expected). "
                      f"Accepted are {WHAT_WE_TAKE}.")
    start = text.lstrip()[:1024].lower()
    if start.startswith(("<svg", "<!doctype svg")) or (start.startswith("<?xml") and "<svg" in start):
        raise _refuse("The file is an SVG image, which can carry scripts; send a PNG or JPEG instead.")
    if start.startswith("<") and re.match(r"<[a-z!?]", start):
        if start.startswith("<?xml") and not _MARKUP.search(text[:4096]):
            raise _refuse("The file is an XML file, which is not accepted; send it as PDF or text.")
        raise _refuse("The file is a web page (HTML), which can carry scripts; save it as PDF.")
    if _MARKUP.search(text[:1024]):
        raise _refuse("The file contains web page (HTML) code, which can carry scripts; save it as PDF.")
    return CSV if _extension(filename or "") == ".csv" else TEXT


# --- zip: Word and Excel files -----------------------------------------------------------------
_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
}
_MAX_CONTENT_TYPES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _entries_in_head(head: bytes) -> tuple[list[str], bytes | None]:
    """The names of the zip entries that start within ``head`` (walking the local headers), and
    ``[Content_Types].xml`` when it lies whole within it. A zip written as a stream (Apache
    POI, most Java and Go writers) gives the sizes after each entry's data: the walk goes on at
    the next local header found, or at the end of the deflate stream of the one entry we read."""
    names: list[str] = []
    content_types = None
    offset = 0
    while offset + _LOCAL_HEADER.size <= len(head) and len(names) < 1000:
        (sig, _v, flags, method, _t, _d, _crc, csize, _usize, nlen, xlen) = _LOCAL_HEADER.unpack_from(head, offset)
        if sig != b"PK\x03\x04":
            break
        start = offset + _LOCAL_HEADER.size
        if start + nlen > len(head):
            break
        name = head[start:start + nlen].decode("utf-8" if flags & 0x800 else "cp437", "replace")
        names.append(name)
        data_at = start + nlen + xlen
        sized = not (flags & 0x08 and csize == 0) and csize != 0xFFFFFFFF
        wanted = name == "[Content_Types].xml" and not flags & 0x01
        if wanted and method == 0 and sized and data_at + csize <= len(head):
            content_types = head[data_at:data_at + csize][:_MAX_CONTENT_TYPES]
        elif wanted and method == 8:
            inflate = zlib.decompressobj(-15)
            raw = head[data_at:data_at + csize] if sized else head[data_at:]
            try:
                text = inflate.decompress(raw, _MAX_CONTENT_TYPES)
            except zlib.error:
                text = b""
            if inflate.eof:
                content_types = text
        if sized:
            offset = data_at + csize
        else:
            offset = head.find(b"PK\x03\x04", data_at)
            if offset < 0:
                break
    return names, content_types


def _entries_in_file(stream: BinaryIO) -> tuple[list[str], bytes | None]:
    position = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            content_types = None
            try:
                info = archive.getinfo("[Content_Types].xml")
            except KeyError:
                info = None
            if info is not None and info.file_size <= _MAX_CONTENT_TYPES and not info.flag_bits & 0x01:
                content_types = archive.read(info)
            return names, content_types
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, ValueError):
        raise _refuse("The file is a damaged zip archive.") from None
    finally:
        stream.seek(position)


def _zip(head: bytes, stream: BinaryIO | None, expected: str) -> str:
    whole = stream is not None and stream.seekable()
    if whole:
        names, content_types = _entries_in_file(stream)
    else:
        names, content_types = _entries_in_head(head)
    lowered = [n.lower() for n in names]
    if any(n.endswith("vbaproject.bin") for n in lowered) or (
            content_types and b"macroEnabled" in content_types):
        raise _refuse("The file is a macro-enabled Office file (.xlsm, .docm), which can carry "
                      "programs; save it as .xlsx or .docx.")
    if content_types is not None:
        declared = {ct.decode("ascii", "replace")
                    for ct in re.findall(rb"""ContentType\s*=\s*["']([^"']+)["']""", content_types)}
        found = {_MAIN_PARTS[t] for t in declared if t in _MAIN_PARTS}
        if len(found) == 1:
            return found.pop()
        if any(t.endswith("template.main+xml") for t in declared):
            raise _refuse("The file is an Office template; save it as .xlsx or .docx.")
    elif not whole:
        # The head alone, [Content_Types].xml not in it (openpyxl writes it last): the parts
        # that are tell an Excel file from a Word file.
        tops = {n.split("/", 1)[0] for n in lowered if "/" in n}
        kinds = ({XLSX} if "xl" in tops else set()) | ({DOCX} if "word" in tops else set())
        if len(kinds) == 1:
            return kinds.pop()
    if any(n.startswith("ppt/") for n in lowered):
        raise _refuse("The file is a PowerPoint file, which is not accepted; save it as PDF.")
    if "meta-inf/manifest.mf" in lowered or "androidmanifest.xml" in lowered:
        raise _refuse(f"The file is a Java or Android program, not {expected}.")
    if "mimetype" in lowered and any(n.startswith("meta-inf/") for n in lowered):
        raise _refuse("The file is an OpenDocument or e-book file; save it as PDF, .docx or .xlsx.")
    raise _refuse(f"The file is a zip archive, not {expected}; send the files in it one by one.")


# --- names ------------------------------------------------------------------------------------
MAX_NAME = 120
_SAFE_PUNCTUATION = set("-_.,()[]&+@'!~=")
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$",
             *(f"COM{i}" for i in "0123456789¹²³"), *(f"LPT{i}" for i in "0123456789¹²³")}
# Extensions that are replaced (not kept before the right one) when they do not fit the type.
_KNOWN_EXTENSIONS = {e for exts in EXTENSIONS.values() for e in exts} | {
    ".exe", ".dll", ".com", ".bat", ".cmd", ".scr", ".msi", ".ps1", ".sh", ".js", ".mjs", ".vbs",
    ".jar", ".apk", ".app", ".html", ".htm", ".xhtml", ".svg", ".svgz", ".xml", ".php", ".doc", ".xls",
    ".ppt", ".pptx", ".docm", ".xlsm", ".zip", ".rar", ".7z", ".gz", ".tar", ".mp4", ".mov", ".mp3",
    ".bmp", ".ico", ".avif", ".json", ".rtf", ".odt", ".ods", ".bin", ".dat", ".tmp", ".lnk", ".url"}


def _extension(name: str) -> str:
    match = re.search(r"(\.[A-Za-z0-9]{1,10})$", name)
    return match.group(1).lower() if match else ""


def _clean(name: str) -> str:
    """Letters, marks and digits of any script, spaces and a few safe punctuation marks; other
    visible characters become "_", invisible ones (controls, bidi overrides) go."""
    out = []
    for ch in unicodedata.normalize("NFC", name):
        category = unicodedata.category(ch)
        if category[0] in "LMN" or category == "Pd" or ch in _SAFE_PUNCTUATION:
            out.append(ch)
        elif category[0] == "Z" or ch in "\t\n\r":
            out.append(" ")
        elif category[0] == "C":
            continue
        else:
            out.append("_")
    cleaned = re.sub(r"\s+", " ", "".join(out))
    return re.sub(r"_{2,}", "_", cleaned)


def safe_filename(name: str | None, content_type: str) -> str:
    """The name to keep and show for a file of ``content_type`` (one of ``ALLOWED``): the last
    path component of ``name``, cleaned, at most 120 characters, with an extension that fits the
    type ("../../etc/passwd" -> "passwd.txt", "scan.png" holding a JPEG -> "scan.jpg")."""
    extensions = EXTENSIONS.get(content_type)
    if extensions is None:
        raise ValueError(f"{content_type} is not an accepted content type")
    base = _clean(re.split(r"[\\/]", name or "")[-1]).rstrip(" .")
    ext = _extension(base)
    if ext and ext in extensions:
        stem = base[:-len(ext)]
    else:
        stem = base[:-len(ext)] if ext in _KNOWN_EXTENSIONS else base
        ext = extensions[0]
    stem = stem.strip(" ._-")
    if not stem:
        stem = "document"
    if stem.split(".")[0].strip().upper() in _RESERVED:
        stem = "_" + stem
    stem = stem[:MAX_NAME - len(ext)].rstrip(" .")
    return stem + ext


def content_disposition(filename: str | None, disposition: str = "attachment") -> str:
    """A Content-Disposition value for a download (RFC 6266): an ASCII ``filename`` for old
    clients and the exact name as ``filename*`` in UTF-8, with nothing in either that could end
    the header or the parameter."""
    if disposition not in ("attachment", "inline"):
        raise ValueError("disposition is attachment or inline")
    name = _clean(re.split(r"[\\/]", filename or "")[-1])[:255].strip(" .") or "download"
    fallback = []
    for ch in name:
        if ch.isascii():
            fallback.append(ch if ch not in "\"\\%;" else "_")
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", ch) if c.isascii() and c.isprintable())
        fallback.append(plain or "_")
    ascii_name = re.sub(r"_{2,}", "_", "".join(fallback))
    ext = _extension(ascii_name)
    stem = ascii_name[:len(ascii_name) - len(ext)].strip(" ._-")
    ascii_name = (stem or "download") + ext
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


# --- thumbnails -------------------------------------------------------------------------------
def _too_large(width: int, height: int, limit: int) -> ValidationFailed:
    return _refuse(f"The image is too large to open: {width:,} × {height:,} pixels; the most "
                   f"accepted is {limit / 1e6:.0f} megapixels.")


def thumbnail(stream: BinaryIO, content_type: str, size: int = 320) -> bytes | None:
    """A JPEG at most ``size`` pixels wide and high, upright as the EXIF orientation says, of an
    image of ``content_type`` (as ``sniff`` found it); None for anything else and for an image
    Pillow cannot decode (a damaged file: it is kept, it just has no thumbnail). An image of
    more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels is refused before it is decoded
    (ValidationFailed): a decompression bomb costs neither time nor memory."""
    fmt = THUMBNAILED.get(content_type)
    if fmt is None:
        return None
    from PIL import Image, ImageOps

    size = max(16, min(int(size), 2048))
    limit = Image.MAX_IMAGE_PIXELS
    spooled = None
    if not stream.seekable():
        spooled = tempfile.SpooledTemporaryFile(max_size=8 << 20)
        while chunk := stream.read(1 << 20):
            spooled.write(chunk)
        spooled.seek(0)
        stream = spooled  # type: ignore[assignment]
    try:
        with Image.open(stream, formats=[fmt]) as image:
            width, height = image.size
            if limit and width * height > limit:
                raise _too_large(width, height, limit)
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA")
            elif image.mode == "1":
                image = image.convert("L")
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
            image = ImageOps.exif_transpose(image) or image
            if image.mode in ("RGBA", "LA", "La", "RGBa"):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, "white")
                flat.paste(rgba, mask=rgba.getchannel("A"))
                image = flat
            elif image.mode.startswith("I") or image.mode == "F":
                image = image.point(lambda v: v / 256).convert("L") if image.mode.startswith("I;16") \
                    else image.convert("L")
            if image.mode != "RGB":
                image = image.convert("RGB")
            out = io.BytesIO()
            image.save(out, "JPEG", quality=82, optimize=True)
            return out.getvalue()
    except Image.DecompressionBombError:
        raise _refuse(f"The image is too large to open; the most accepted is "
                      f"{(limit or 0) / 1e6:.0f} megapixels.") from None
    except ValidationFailed:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError, IndexError,
            KeyError, TypeError, ZeroDivisionError) as exc:
        log.info("no thumbnail for a %s that Pillow cannot decode: %s", content_type, exc)
        return None
    finally:
        if spooled is not None:
            spooled.close()
