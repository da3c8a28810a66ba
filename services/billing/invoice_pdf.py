"""The invoice PDF, drawn from the invoice view dict (the one the API returns) and the operator's
branding. Layout and formatting shared with the statement live in ``pdf_layout``."""
from __future__ import annotations

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table

from services.billing.pdf_layout import (CONTENT_WIDTH, RowsTable, brand_color, build, customer_block,
                                         day, fit, fonts, grid_style, header, is_zero, key_values,
                                         label, markup, money, number, plain, prominent_last_row,
                                         side_by_side, styles, text_width)

# The mark next to the title: its text and colour per status.
_MARKS = {"paid": ("PAID", "#2e7d32"), "overdue": ("OVERDUE", "#c62828"),
          "credited": ("CREDITED", "#5f6b76"), "partially_paid": ("PARTIALLY PAID", "#b26a00"),
          "open": ("OPEN", None)}


def render_invoice(view: dict, branding: dict) -> bytes:
    """The invoice ``view`` as a PDF (bytes) under the operator's ``branding``."""
    color = brand_color(branding)
    st = styles(color)
    title = f"Invoice {plain(view['number'])}"
    story = header(branding, st, [Paragraph(markup(title), st["title"]), _mark(view, color)])
    story.append(side_by_side(customer_block(view["customer"], "Bill to", st), _details(view),
                              left_share=0.55))
    story.append(Spacer(1, 6 * mm))
    story.append(_lines(view, color, st))
    story.append(Spacer(1, 4 * mm))
    # The tax summary and the totals stay together, after the last line.
    story.append(KeepTogether([side_by_side(_tax_summary(view, color), _totals(view, color), 0.5)]))
    story += _payments(view, color, st)
    story += _credit_notes(view, color, st)
    story += _terms(view, st)
    return build(story, branding, title)


def _mark(view: dict, color) -> Table:
    status = view.get("status") or "open"
    if view.get("overdue") and status not in ("paid", "credited"):
        status = "overdue"  # a partially paid invoice past its due date is overdue first
    text, hex_color = _MARKS.get(status, (label(status).upper(), None))
    mark_color = colors.HexColor(hex_color) if hex_color else color
    table = Table([[text]], hAlign="RIGHT")
    table.setStyle([("FONT", (0, 0), (-1, -1), fonts()[1], 11),
                    ("TEXTCOLOR", (0, 0), (-1, -1), mark_color),
                    ("BOX", (0, 0), (-1, -1), 1.2, mark_color),
                    ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 4)])
    return table


def _details(view: dict) -> Table:
    rows = [("Invoice number", plain(view["number"])),
            ("Invoice date", day(view.get("issued_at"))),
            ("Due date", day(view.get("due_date")))]
    if view.get("order_reference"):
        rows.append(("Order reference", plain(view["order_reference"])))
    elif view.get("order_id"):
        rows.append(("Order", plain(view["order_id"])))
    rows += [("Status", label(view.get("status"))), ("Currency", plain(view.get("currency")))]
    return key_values(rows, (CONTENT_WIDTH * 0.2, CONTENT_WIDTH * 0.25),
                      [("FONT", (0, 0), (0, -1), fonts()[1], 9)])


def _lines(view: dict, color, st) -> RowsTable:
    head = ["#", "Description", "Qty", "Unit", "Unit price", "Tax %", "Net"]
    texts = [(str(line.get("position", "")), number(line.get("quantity")), plain(line.get("unit")),
              money(line.get("unit_price")), _rate(line.get("tax_rate")), money(line.get("net")))
             for line in view["lines"]]
    # Every column but the description is as wide as its widest entry; the description gets the rest.
    widths = [text_width([head[i]] + [t[n] for t in texts], bold=True)
              for i, n in ((0, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5))]
    description_width = CONTENT_WIDTH - sum(widths)
    rows = [[t[0], fit(line.get("description"), description_width, st["cell"]), *t[1:]]
            for t, line in zip(texts, view["lines"])]
    return RowsTable(head, rows, [widths[0], description_width, *widths[1:]], grid_style(color, 2))


def _rate(rate) -> str:
    return f"{number(rate)}%" if rate not in (None, "") else ""


def _tax_summary(view: dict, color) -> Table:
    rows = [["Tax rate", "Net", "Tax"]]
    rows += [[_rate(t.get("rate")), money(t.get("net")), money(t.get("tax"))] for t in view.get("taxes") or []]
    width = CONTENT_WIDTH * 0.45
    table = Table(rows, colWidths=[width * 0.26, width * 0.37, width * 0.37], hAlign="LEFT")
    table.setStyle(grid_style(color, 1))
    return table


def _totals(view: dict, color) -> Table:
    rows = [("Net", money(view["net"])), ("Tax", money(view["tax"])), ("Total", money(view["total"])),
            ("Paid", money(view.get("paid"))), ("Credited", money(view.get("credited"))),
            ("Refunded", money(view.get("refunded"))), ("Outstanding balance", money(view["outstanding"]))]
    return key_values(rows, (CONTENT_WIDTH * 0.24, CONTENT_WIDTH * 0.24),
                      [("FONT", (0, 2), (-1, 2), fonts()[1], 9),
                       ("LINEABOVE", (0, 2), (-1, 2), 0.5, color),
                       *prominent_last_row(color)])


def _payments(view: dict, color, st) -> list:
    payments = view.get("payments") or []
    if not payments:
        return [Paragraph("Payments", st["h2"]), Paragraph("No payments received.", st["small"])]
    head = ["Date", "Method", "Reference", "Amount", "Refunded"]
    rows = [[day(p.get("received_at")), label(p.get("method")), plain(p.get("reference")),
             money(p["amount"]), "" if is_zero(p.get("refunded")) else money(p["refunded"])]
            for p in payments]
    return [Paragraph("Payments", st["h2"]), _table(head, rows, reference_col=2, right_from=3, color=color,
                                                    st=st)]


def _credit_notes(view: dict, color, st) -> list:
    notes = view.get("credit_notes") or []
    if not notes:
        return []
    head = ["Number", "Date", "Reason", "Amount"]
    rows = [[plain(n.get("number")), day(n.get("issued_at")), plain(n.get("reason")), money(n["amount"])]
            for n in notes]
    return [Paragraph("Credit notes", st["h2"]), _table(head, rows, reference_col=2, right_from=3,
                                                        color=color, st=st)]


def _table(head: list, rows: list, reference_col: int, right_from: int, color, st) -> RowsTable:
    """A small data table whose ``reference_col`` takes the width the others leave (and wraps)."""
    widths = [text_width([head[i]] + [r[i] for r in rows], bold=True) for i in range(len(head))]
    widths[reference_col] = CONTENT_WIDTH - sum(w for i, w in enumerate(widths) if i != reference_col)
    for row in rows:
        row[reference_col] = fit(row[reference_col], widths[reference_col], st["cell"])
    return RowsTable(head, rows, widths, grid_style(color, right_from))


def _terms(view: dict, st) -> list:
    story = [Paragraph("Terms", st["h2"])]
    if view.get("terms"):
        story.append(Paragraph(markup(view["terms"]), st["body"]))
    if view.get("due_date") and not is_zero(view.get("outstanding")):
        story.append(Paragraph(f"Please pay {markup(money(view['outstanding']))} by "
                               f"{markup(day(view['due_date']))}, quoting {markup(view['number'])}.",
                               st["body"]))
    if view.get("notes"):
        story += [Paragraph("Notes", st["h2"]), Paragraph(markup(view["notes"]), st["body"])]
    return story
