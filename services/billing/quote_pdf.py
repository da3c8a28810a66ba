"""The quote PDF (one revision, as the customer is asked to sign it) and the signed copy: the
same pages followed by the signature block (typed name, drawn signature, when, from where, and
the SHA-256 of the document signed). Drawn from the quote view dict and the operator's branding."""
from __future__ import annotations

import io

from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Paragraph, Spacer

from services.billing.invoice_pdf import _table
from services.billing.pdf_layout import (CONTENT_WIDTH, brand_color, build, customer_block, day, fonts,
                                         header, key_values, label, markup, money, number, plain,
                                         prominent_last_row, side_by_side, styles)

SIGNATURE_BOX = (70 * mm, 28 * mm)


def render_quote(view: dict, branding: dict, signature: dict | None = None) -> bytes:
    """The quote ``view`` (with its ``customer``) as a PDF; with ``signature`` (the signature
    record plus its ``png`` bytes), the signed copy."""
    color = brand_color(branding)
    st = styles(color)
    title = f"Quote {plain(view['number'])}"
    story = header(branding, st, [Paragraph(markup(title), st["title"])])
    story.append(side_by_side(customer_block(view.get("customer") or {}, "Quote for", st), _details(view),
                              left_share=0.55))
    story.append(Spacer(1, 6 * mm))
    price = view.get("price") or {}
    rows = [[plain(line.get("description")), number(line.get("quantity")), plain(line.get("unit")),
             money(line.get("unit_price")), money(line.get("net"))] for line in price.get("lines") or []]
    story.append(_table(["Description", "Qty", "Unit", "Unit price", "Net"], rows, reference_col=0,
                        right_from=1, color=color, st=st))
    story.append(Spacer(1, 4 * mm))
    totals = [("Net", money(price.get("net"))), ("Tax", money(price.get("tax"))), ("Total", money(price.get("total")))]
    if view.get("deposit"):
        totals.insert(0, ("Deposit on signing", money(view["deposit"])))   # the last row stays the total
    story.append(key_values(totals,
                            (CONTENT_WIDTH * 0.24, CONTENT_WIDTH * 0.24), prominent_last_row(color)))
    if view.get("note"):
        story += [Paragraph("Notes", st["h2"]), Paragraph(markup(view["note"]), st["body"])]
    if signature is not None:
        story.append(KeepTogether(_signature_block(signature, st)))
    return build(story, branding, title)


def _details(view: dict):
    rows = [("Quote number", plain(view["number"])), ("Revision", str(view.get("revision") or "")),
            ("Sent", day(view.get("sent_at"))), ("Valid until", day(view.get("valid_until"))),
            ("Kind", label((view.get("order") or {}).get("kind")))]
    return key_values(rows, (CONTENT_WIDTH * 0.2, CONTENT_WIDTH * 0.25),
                      [("FONT", (0, 0), (0, -1), fonts()[1], 9)])


def _signature_block(signature: dict, st: dict) -> list:
    drawn = Image(io.BytesIO(signature["png"]), hAlign="LEFT")
    scale = min(SIGNATURE_BOX[0] / drawn.imageWidth, SIGNATURE_BOX[1] / drawn.imageHeight)
    drawn.drawWidth, drawn.drawHeight = drawn.imageWidth * scale, drawn.imageHeight * scale
    rows = [("Signed by", plain(signature["full_name"])), ("Signed at", plain(signature["signed_at"])),
            ("From", plain(" · ".join(p for p in (signature.get("origin_network"), signature.get("user_agent")) if p))),
            ("Revision", str(signature["revision"]))]
    if signature.get("deposit"):
        card = signature.get("card") or {}
        rows.append(("Deposit paid", " ".join(p for p in (money(signature["deposit"]), plain(card.get("brand")),
                                                          plain(card.get("last4"))) if p)))
    return [Spacer(1, 8 * mm), Paragraph("Accepted and signed", st["h2"]), drawn,
            key_values(rows, (CONTENT_WIDTH * 0.2, CONTENT_WIDTH * 0.6)),
            Paragraph("SHA-256 of the document signed: " + markup(signature["document_sha256"]), st["small"])]
