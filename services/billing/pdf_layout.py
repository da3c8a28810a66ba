"""What the invoice and the statement PDFs share: fonts, page template ("Page 2 of 7" footer), the
operator's branding header, table styles, a table that splits over many pages in linear time, and
the formatting of money, dates and text.

Both documents are drawn from plain JSON-able view dicts. The PDFs do no arithmetic: every figure
is printed as the billing domain computed it, only formatted (rounded to the currency's minor unit
by ``round_money``, with thousands separators), so the PDF can never disagree with the API.
"""
from __future__ import annotations

import io
import re
from datetime import datetime
from functools import partial
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (BaseDocTemplate, Flowable, Frame, HRFlowable, Image, LongTable, PageTemplate,
                                Paragraph, Spacer, Table, TableStyle)

from services.common.money import round_money, to_decimal
from services.common.pdf_fonts import fonts

PAGE_SIZE = A4
MARGIN = 15 * mm
FOOTER_HEIGHT = 12 * mm
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
DEFAULT_COLOR = "#1f4e79"
GREY = colors.HexColor("#5f6b76")
RULE_GREY = colors.HexColor("#d5dbe1")
STRIPE = colors.HexColor("#f3f5f7")

# Table cells: font size and paddings. ROW_MIN is a lower bound of a row's height, which lets
# RowsTable know how many rows can at most fit on a page without measuring them all.
CELL_SIZE = 8
PAD_X, PAD_TOP, PAD_BOTTOM = 4, 2, 3
ROW_MIN = CELL_SIZE + PAD_TOP + PAD_BOTTOM
MAX_CELL_CHARS = 1000  # ~40 wrapped lines in a narrow column: well under a page

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


# --- formatting ------------------------------------------------------------------------------

def money(value: dict | None) -> str:
    """``{"amount": "1234.5", "currency": "EUR"}`` as ``1,234.50 EUR``; None as "".
    A float amount is refused (``to_decimal``): money on the wire is a decimal string."""
    if value is None:
        return ""
    currency = str(value["currency"]).upper()
    amount = round_money(to_decimal(value["amount"]), currency)
    if amount == 0:
        amount = abs(amount)  # no "-0.00"
    return f"{amount:,} {currency}"


def is_zero(value: dict | None) -> bool:
    return value is None or to_decimal(value["amount"]) == 0


def number(value) -> str:
    """A quantity or a tax rate as a plain decimal: "12.50" -> "12.5", "1500" -> "1,500"."""
    if value is None or value == "":
        return ""
    return f"{to_decimal(value).normalize():,f}"


def day(value: str | None) -> str:
    """The date of an ISO 8601 date or datetime, as written (in the offset it carries)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).date().isoformat()
    except ValueError:
        return plain(value)


def plain(value) -> str:
    """Text for a plain table cell or a canvas string: one line, no control characters."""
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())


def markup(value) -> str:
    """Text for a Paragraph, which parses its input as markup: escaped, so a customer called
    "<b>Smith & Co</b>" is printed as such and cannot break the parser; line breaks kept."""
    lines = _CONTROL.sub(" ", str(value or "")).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br/>".join(escape(line) for line in lines)


def label(value: str | None) -> str:
    """An enum value for people: "bank_transfer" -> "Bank transfer"."""
    return plain(value).replace("_", " ").capitalize()


def address_lines(address: dict | None) -> list[str]:
    if not address:
        return []
    town = " ".join(plain(address.get(key)) for key in ("postal_code", "city") if address.get(key))
    parts = [address.get("unit"), address.get("line1"), address.get("line2"), town,
             address.get("state"), address.get("country")]
    return [plain(part) for part in parts if part and plain(part)]


# --- colours and styles ----------------------------------------------------------------------

def brand_color(branding: dict) -> colors.Color:
    value = branding.get("color") or DEFAULT_COLOR
    return colors.HexColor(value if _HEX.match(str(value)) else DEFAULT_COLOR)


def on_color(color: colors.Color) -> colors.Color:
    """Text colour readable on ``color``: white on dark brand colours, black on light ones."""
    luminance = 0.299 * color.red + 0.587 * color.green + 0.114 * color.blue
    return colors.black if luminance > 0.6 else colors.white


def styles(color: colors.Color) -> dict[str, ParagraphStyle]:
    regular, bold = fonts()
    base = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    return {
        "body": base,
        "small": ParagraphStyle("small", base, fontSize=8, leading=10.5, textColor=GREY),
        "operator": ParagraphStyle("operator", base, fontName=bold, fontSize=18, leading=22,
                                   textColor=color, spaceAfter=2),
        "title": ParagraphStyle("title", base, fontName=bold, fontSize=16, leading=20, alignment=TA_RIGHT),
        "right": ParagraphStyle("right", base, alignment=TA_RIGHT),
        "h2": ParagraphStyle("h2", base, fontName=bold, fontSize=10.5, leading=13, textColor=color,
                             spaceBefore=10, spaceAfter=4),
        "strong": ParagraphStyle("strong", base, fontName=bold),
        "cell": ParagraphStyle("cell", base, fontSize=CELL_SIZE, leading=CELL_SIZE * 1.2),
    }


def grid_style(color: colors.Color, right_from: int) -> list[tuple]:
    """A data table: coloured header row, thin rules, striped rows; columns from ``right_from``
    on (the figures) right-aligned."""
    regular, bold = fonts()
    return [
        ("FONT", (0, 0), (-1, -1), regular, CELL_SIZE),
        ("FONT", (0, 0), (-1, 0), bold, CELL_SIZE),
        ("BACKGROUND", (0, 0), (-1, 0), color),
        ("TEXTCOLOR", (0, 0), (-1, 0), on_color(color)),
        ("ALIGN", (right_from, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE_GREY),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD_X),
        ("RIGHTPADDING", (0, 0), (-1, -1), PAD_X),
        ("TOPPADDING", (0, 0), (-1, -1), PAD_TOP),
        ("BOTTOMPADDING", (0, 0), (-1, -1), PAD_BOTTOM),
    ]


def text_width(texts, bold: bool = False, size: float = CELL_SIZE) -> float:
    """The width of the widest of ``texts`` plus cell padding: sizes a column to its content."""
    font = fonts()[1 if bold else 0]
    return max((stringWidth(text, font, size) for text in set(texts)), default=0) + 2 * PAD_X


def fit(text: str, width: float, style: ParagraphStyle):
    """A cell: the plain string when it fits on one line (cheap to lay out), else a wrapping
    Paragraph (escaped). A table row cannot be taller than a page (reportlab then fails the whole
    document), so a text longer than MAX_CELL_CHARS is cut there, visibly, with an ellipsis."""
    text = plain(text)
    if len(text) > MAX_CELL_CHARS:
        text = text[:MAX_CELL_CHARS - 1] + "…"
    if stringWidth(text, style.fontName, style.fontSize) <= width - 2 * PAD_X:
        return text
    return Paragraph(markup(text), style)


def clip(text: str, width: float, font: str, size: float) -> str:
    """``text`` cut with an ellipsis to fit on one line of ``width`` (the footer)."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def key_values(rows: list[tuple], widths: tuple[float, float], style: list[tuple] = ()) -> Table:
    """Label / value pairs (document details, totals): labels left, values right-aligned."""
    regular, bold = fonts()
    table = Table([list(row) for row in rows], colWidths=list(widths), hAlign="RIGHT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), regular, 9),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD_X),
        ("RIGHTPADDING", (0, 0), (-1, -1), PAD_X),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        *style,
    ]))
    return table


def prominent_last_row(color: colors.Color) -> list[tuple]:
    """Style of the figure that matters most (outstanding or closing balance): the last row of a
    key_values table, bold and larger on the brand colour."""
    return [("FONT", (0, -1), (-1, -1), fonts()[1], 11),
            ("BACKGROUND", (0, -1), (-1, -1), color),
            ("TEXTCOLOR", (0, -1), (-1, -1), on_color(color)),
            ("TOPPADDING", (0, -1), (-1, -1), 4), ("BOTTOMPADDING", (0, -1), (-1, -1), 5)]


# --- blocks ----------------------------------------------------------------------------------

LOGO_BOX = (60 * mm, 18 * mm)          # the most a logo takes: width, height


def logo(branding: dict) -> Image | None:
    """The operator's logo (PNG or JPEG; an SVG is left out: reportlab cannot draw it) scaled
    into LOGO_BOX, or None. A logo that cannot be read leaves the name alone, not a failed PDF."""
    found = branding.get("logo")
    if not found or found.get("content_type") not in ("image/png", "image/jpeg"):
        return None
    from services.common.blobs import blob_store

    try:
        with blob_store().open(found["key"]) as stream:
            data = io.BytesIO(stream.read())
        width, height = ImageReader(data).getSize()
        scale = min(LOGO_BOX[0] / width, LOGO_BOX[1] / height)
        data.seek(0)
        picture = Image(data, width=width * scale, height=height * scale, hAlign="LEFT")
    except Exception:   # a blob gone or unreadable: the PDF still goes out, with the name
        return None
    picture.spaceAfter = 2 * mm
    return picture


def header(branding: dict, st: dict, title: list) -> list:
    """The operator's branding (name big, address lines, email, VAT id) on the left, the
    document's ``title`` flowables on the right, and a rule in the brand colour."""
    operator = [Paragraph(markup(branding.get("name")), st["operator"])]
    picture = logo(branding)
    if picture is not None:
        operator.insert(0, picture)
    details = [markup(line) for line in branding.get("address_lines") or [] if plain(line)]
    if branding.get("email"):
        details.append(markup(branding["email"]))
    if branding.get("vat_id"):
        details.append("VAT ID " + markup(branding["vat_id"]))
    if details:
        operator.append(Paragraph("<br/>".join(details), st["small"]))
    table = Table([[operator, title]], colWidths=[CONTENT_WIDTH * 0.55, CONTENT_WIDTH * 0.45])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [table, Spacer(1, 3 * mm), HRFlowable(width="100%", thickness=1.2, color=brand_color(branding)),
            Spacer(1, 4 * mm)]


def customer_block(customer: dict, heading: str, st: dict) -> list:
    """"Bill to": the customer's name, customer number and billing address."""
    lines = [f'<font name="{fonts()[1]}">{markup(customer.get("name"))}</font>']
    if customer.get("client_id"):
        lines.append("Customer no. " + markup(customer["client_id"]))
    lines += [markup(line) for line in address_lines(customer.get("billing_address"))]
    return [Paragraph(markup(heading), st["small"]), Paragraph("<br/>".join(lines), st["body"])]


def side_by_side(left, right, left_share: float = 0.5) -> Table:
    table = Table([[left, right]], colWidths=[CONTENT_WIDTH * left_share, CONTENT_WIDTH * (1 - left_share)])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return table


# --- a table over many pages -----------------------------------------------------------------

class RowsTable(Flowable):
    """A data table with its header row repeated on every page, laid out in linear time.

    A single LongTable re-measures and copies all its remaining rows at every page break, which
    is quadratic: 10,000 statement entries took ~9 s that way. This flowable builds a LongTable
    only from the rows that can at most fit in the space left (by ROW_MIN), splits that, and keeps
    the rest as a new RowsTable for the next page."""

    def __init__(self, header_row: list, rows: list, col_widths: list[float], style: list[tuple]):
        super().__init__()
        self.header_row, self.rows, self.col_widths, self.style = header_row, rows, col_widths, style
        self._table, self._table_height, self._complete = None, None, False

    def _make(self, height: float) -> tuple[LongTable, bool]:
        # The frame asks wrap() then split() with the same height: build that table once.
        if self._table is None or self._table_height != height:
            limit = int(height // ROW_MIN) + 2
            self._table = LongTable([self.header_row] + self.rows[:limit], colWidths=self.col_widths,
                                    repeatRows=1, hAlign="LEFT", style=self.style)
            self._table_height, self._complete = height, len(self.rows) <= limit
        return self._table, self._complete

    def wrap(self, avail_width, avail_height):
        table, _ = self._make(avail_height)
        self.width, self.height = table.wrap(avail_width, avail_height)
        return self.width, self.height

    def split(self, avail_width, avail_height):
        table, complete = self._make(avail_height)
        parts = table.split(avail_width, avail_height)
        if not parts:
            return []  # not even one row fits here: the frame moves us to the next page
        first = parts[0]
        used = len(first._cellvalues) - 1
        if complete and used == len(self.rows):
            return [first]
        return [first, RowsTable(self.header_row, self.rows[used:], self.col_widths, self.style)]

    def drawOn(self, canvas, x, y, _sW=0):
        self._table.drawOn(canvas, x, y, _sW)


# --- the document ----------------------------------------------------------------------------

class _NumberedCanvas(Canvas):
    """Keeps every page until the end so that the footer can say "Page 2 of 7": the total is only
    known once the last page is laid out (the usual reportlab recipe; one pass, not two builds)."""

    def __init__(self, *args, footer_left: str = "", color=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._footer_left, self._color, self._pages = footer_left, color, []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        regular, total = fonts()[0], len(self._pages)
        # Room for the left text beside the widest page number, worked out once for all pages.
        room = CONTENT_WIDTH - stringWidth(f"Page {total} of {total}", regular, 7.5) - 5 * mm
        left = clip(self._footer_left, room, regular, 7.5)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(left, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()

    def _footer(self, left: str, number: str):
        y = MARGIN * 0.6
        self.saveState()
        self.setStrokeColor(self._color)
        self.setLineWidth(0.5)
        self.line(MARGIN, y + 10, PAGE_SIZE[0] - MARGIN, y + 10)
        self.setFont(fonts()[0], 7.5)
        self.setFillColor(GREY)
        self.drawString(MARGIN, y, left)
        self.drawRightString(PAGE_SIZE[0] - MARGIN, y, number)
        self.restoreState()


def build(story: list, branding: dict, title: str) -> bytes:
    """The PDF of ``story`` on A4 with the footer "<operator> · <title>   Page n of N"."""
    buffer = io.BytesIO()
    bottom = MARGIN + FOOTER_HEIGHT * 0.5
    # A frame without padding, so that CONTENT_WIDTH is exactly the width tables may take.
    frame = Frame(MARGIN, bottom, CONTENT_WIDTH, PAGE_SIZE[1] - MARGIN - bottom, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc = BaseDocTemplate(buffer, pagesize=PAGE_SIZE, pageTemplates=[PageTemplate("page", [frame])],
                          title=plain(title), author=plain(branding.get("name")), creator="Customer portal")
    footer = " · ".join(part for part in (plain(branding.get("name")), plain(title)) if part)
    doc.build(story, canvasmaker=partial(_NumberedCanvas, footer_left=footer, color=brand_color(branding)))
    return buffer.getvalue()

