"""The statement of account PDF, drawn from the statement view dict and the operator's branding.

A statement can hold thousands of entries, so its table is made of plain strings (a Paragraph per
cell costs ~10x more to lay out); only a description or reference too long for its column is
wrapped in a Paragraph. The table is a ``RowsTable``: header repeated on each page, linear time."""
from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer

from services.billing.pdf_layout import (CONTENT_WIDTH, RowsTable, brand_color, build, customer_block,
                                         day, fit, fonts, grid_style, header, key_values, label,
                                         markup, money, plain, prominent_last_row, side_by_side,
                                         styles, text_width)

HEAD = ["Date", "Reference", "Description", "Debit", "Credit", "Balance"]
MAX_REFERENCE_WIDTH = 110  # points; a longer reference wraps rather than squeezing the description


def render_statement(view: dict, branding: dict) -> bytes:
    """The statement ``view`` as a PDF (bytes) under the operator's ``branding``."""
    color = brand_color(branding)
    st = styles(color)
    period = f"{day(view['from'])} to {day(view['to'])}"
    customer = plain(view["customer"].get("name"))
    title = f"Statement for {customer}, {period}"
    story = header(branding, st, [Paragraph("Statement of account", st["title"]),
                                  Paragraph(markup(period), st["right"])])
    details = key_values([("Period", period), ("Generated", day(view.get("generated_at"))),
                          ("Currency", plain(view.get("currency"))),
                          ("Opening balance", money(view["opening_balance"])),
                          ("Closing balance", money(view["closing_balance"]))],
                         (CONTENT_WIDTH * 0.2, CONTENT_WIDTH * 0.28),
                         [("FONT", (0, 0), (0, -1), fonts()[1], 9)])
    story.append(side_by_side(customer_block(view["customer"], "Statement for", st), details, 0.52))
    story.append(Spacer(1, 6 * mm))
    story.append(_entries(view, color, st))
    story.append(Spacer(1, 4 * mm))
    story.append(KeepTogether([Paragraph("Summary", st["h2"]), _summary(view, color)]))
    return build(story, branding, title)


def _entries(view: dict, color, st) -> RowsTable:
    # The opening balance is the first row, so the running balance reads on from it.
    texts = [[day(view["from"]), "", "Opening balance", "", "", money(view["opening_balance"])]]
    for entry in view["entries"]:
        texts.append([day(entry.get("date")), plain(entry.get("reference")),
                      plain(entry.get("description")) or label(entry.get("kind")),
                      money(entry.get("debit")), money(entry.get("credit")), money(entry["balance"])])
    if not view["entries"]:
        texts.append(["", "", "No transactions in this period.", "", "", ""])
    widths = [text_width([HEAD[i]] + [row[i] for row in texts], bold=True) for i in range(len(HEAD))]
    widths[1] = min(widths[1], MAX_REFERENCE_WIDTH)
    widths[2] = CONTENT_WIDTH - sum(w for i, w in enumerate(widths) if i != 2)
    for row in texts:
        row[1] = fit(row[1], widths[1], st["cell"])
        row[2] = fit(row[2], widths[2], st["cell"])
    return RowsTable(HEAD, texts, widths, grid_style(color, 3))


def _summary(view: dict, color):
    totals = view.get("totals") or {}
    rows = [("Opening balance", money(view["opening_balance"])),
            ("Invoiced", money(totals.get("invoiced"))), ("Paid", money(totals.get("paid"))),
            ("Credited", money(totals.get("credited"))), ("Refunded", money(totals.get("refunded"))),
            ("Closing balance", money(view["closing_balance"]))]
    return key_values(rows, (CONTENT_WIDTH * 0.24, CONTENT_WIDTH * 0.24), prominent_last_row(color))
