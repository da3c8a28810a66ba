"""The invoice and statement PDFs, read back with pypdf: the figures a customer reads must really
be in the document, in the right row, on the right page."""
import io
import os
import time
from decimal import Decimal

import pytest
from pypdf import PdfReader

from services.common import pdf_fonts
from services.billing.invoice_pdf import render_invoice
from services.billing.pdf_layout import money
from services.billing.statement_pdf import render_statement

BRANDING = {"name": "Demo Logistics", "address_lines": ["1 Dock Road", "Rotterdam"],
            "email": "billing@demo.example", "vat_id": "NL123", "color": "#1f4e79"}
ADDRESS = {"unit": "Unit 4", "line1": "Hauptstraße 5", "line2": "Hinterhof", "city": "Köln",
           "state": "NRW", "postal_code": "50667", "country": "DE"}
CUSTOMER = {"id": "c-1", "name": "Zoë Müller Ødegård GmbH", "client_id": "C-0042", "billing_address": ADDRESS}
LINE_HEADER = ["#", "Description", "Qty", "Unit", "Unit price", "Tax %", "Net"]
ENTRY_HEADER = ["Date", "Reference", "Description", "Debit", "Credit", "Balance"]


def eur(amount):
    return {"amount": amount, "currency": "EUR"}


def line(position, description, quantity, unit, price, rate, net, tax):
    return {"position": position, "description": description, "quantity": quantity, "unit": unit,
            "unit_price": eur(price), "tax_rate": rate, "net": eur(net), "tax": eur(tax),
            "total": eur(str(Decimal(net) + Decimal(tax)))}


def invoice(**changes):
    view = {
        "id": "i-1", "number": "INV-2026-000001", "status": "partially_paid", "currency": "EUR",
        "customer": CUSTOMER, "issued_at": "2026-12-03T10:00:00+00:00", "due_date": "2027-01-02",
        "terms": "Payment due within 30 days of the invoice date.",
        "order_id": "o-1", "order_reference": "PO-7781", "notes": "Delivered to gate 4.",
        "lines": [line(1, "Distance", "12.5", "km", "98.76", "20", "1234.50", "246.90"),
                  line(2, "Waiting time", "2", "h", "40.00", "20", "80.00", "16.00"),
                  line(3, "Ferry ticket", "1", "pc", "55.00", "7", "55.00", "3.85")],
        "net": eur("1369.50"), "tax": eur("266.75"), "total": eur("1636.25"),
        "taxes": [{"rate": "20", "net": eur("1314.50"), "tax": eur("262.90")},
                  {"rate": "7", "net": eur("55.00"), "tax": eur("3.85")}],
        "paid": eur("600.00"), "credited": eur("55.00"), "refunded": eur("25.00"), "outstanding": eur("1006.25"),
        "payments": [
            {"id": "p-1", "received_at": "2026-12-10T09:00:00+00:00", "method": "bank_transfer",
             "reference": "SEPA-991", "amount": eur("500.00"), "refunded": eur("25.00"), "status": "succeeded"},
            {"id": "p-2", "received_at": "2026-12-20T15:30:00+00:00", "method": "card",
             "reference": None, "amount": eur("100.00"), "refunded": eur("0.00"), "status": "succeeded"}],
        "credit_notes": [{"id": "cn-1", "number": "CN-2026-000001", "issued_at": "2026-12-12T08:00:00+00:00",
                          "amount": eur("55.00"), "reason": "Ferry not used"}],
        "overdue": False,
    }
    view.update(changes)
    return view


def statement(entries, **changes):
    view = {"customer": CUSTOMER, "currency": "EUR", "from": "2026-01-01", "to": "2026-12-31",
            "generated_at": "2027-01-01T06:00:00+00:00",
            "opening_balance": eur("100.00"), "closing_balance": eur("1036.25"), "entries": entries,
            "totals": {"invoiced": eur("1636.25"), "paid": eur("600.00"), "credited": eur("55.00"),
                       "refunded": eur("25.00")}}
    view.update(changes)
    return view


def entry(date, kind, reference, description, balance, debit=None, credit=None):
    return {"date": date, "kind": kind, "reference": reference, "description": description,
            "debit": eur(debit) if debit else None, "credit": eur(credit) if credit else None,
            "balance": eur(balance)}


def text_of(data, pages=None):
    reader = PdfReader(io.BytesIO(data))
    chosen = reader.pages if pages is None else [reader.pages[i] for i in pages]
    return "\n".join(page.extract_text() for page in chosen)


def rows_of(page):
    """The page's text as rows, top to bottom, each row's pieces left to right: pieces whose
    baselines are within 2 points are one row (the cells of one table row)."""
    pieces = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            pieces.append((cm[5] + tm[5] * cm[3], cm[4] + tm[4] * cm[0], text.strip()))

    page.extract_text(visitor_text=visit)
    rows = []
    for y, x, text in sorted(pieces, key=lambda p: (-p[0], p[1])):
        if rows and rows[-1][0] - y <= 2:
            rows[-1][1].append((x, text))
        else:
            rows.append((y, [(x, text)]))
    return [[text for _, text in sorted(cells)] for _, cells in rows]


def all_rows(data, pages=None):
    reader = PdfReader(io.BytesIO(data))
    indexes = range(len(reader.pages)) if pages is None else pages
    return [rows_of(reader.pages[i]) for i in indexes]


def has_row(rows, cells):
    """Some row holds ``cells`` side by side (rows of tables placed side by side may merge)."""
    n = len(cells)
    return any(row[i:i + n] == cells for row in rows for i in range(len(row) - n + 1))


def fonts_of(data):
    page = PdfReader(io.BytesIO(data)).pages[0]
    return {str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()}


# --- invoice ---------------------------------------------------------------------------------

def test_the_invoice_shows_every_figure_in_its_row():
    data = render_invoice(invoice(), BRANDING)
    assert data.startswith(b"%PDF")
    text = text_of(data)
    [rows] = all_rows(data)

    for expected in ["Demo Logistics", "1 Dock Road", "Rotterdam", "billing@demo.example", "VAT ID NL123",
                     "Invoice INV-2026-000001", "Zoë Müller Ødegård GmbH", "Customer no. C-0042",
                     "Unit 4", "Hauptstraße 5", "Hinterhof", "50667 Köln", "NRW", "DE",
                     "Payment due within 30 days of the invoice date.", "Delivered to gate 4.",
                     "PARTIALLY PAID", "Page 1 of 1"]:
        assert expected in text, expected
    assert has_row(rows, ["Invoice date", "2026-12-03"])
    assert has_row(rows, ["Due date", "2027-01-02"])
    assert has_row(rows, ["Order reference", "PO-7781"])
    assert has_row(rows, LINE_HEADER)
    assert has_row(rows, ["1", "Distance", "12.5", "km", "98.76 EUR", "20%", "1,234.50 EUR"])
    assert has_row(rows, ["2", "Waiting time", "2", "h", "40.00 EUR", "20%", "80.00 EUR"])
    assert has_row(rows, ["3", "Ferry ticket", "1", "pc", "55.00 EUR", "7%", "55.00 EUR"])
    # the tax per rate, and the totals beside it
    assert has_row(rows, ["20%", "1,314.50 EUR", "262.90 EUR"])
    assert has_row(rows, ["7%", "55.00 EUR", "3.85 EUR"])
    for label, amount in [("Net", "1,369.50 EUR"), ("Tax", "266.75 EUR"), ("Total", "1,636.25 EUR"),
                          ("Paid", "600.00 EUR"), ("Credited", "55.00 EUR"), ("Refunded", "25.00 EUR"),
                          ("Outstanding balance", "1,006.25 EUR")]:
        assert has_row(rows, [label, amount]), label
    # payment history: a refund shows beside its payment, a zero refund is left blank
    assert has_row(rows, ["2026-12-10", "Bank transfer", "SEPA-991", "500.00 EUR", "25.00 EUR"])
    assert ["2026-12-20", "Card", "100.00 EUR"] in rows
    assert has_row(rows, ["CN-2026-000001", "2026-12-12", "Ferry not used", "55.00 EUR"])
    assert "Please pay 1,006.25 EUR by 2027-01-02, quoting INV-2026-000001." in text


def test_the_status_mark_says_paid_or_overdue():
    paid = text_of(render_invoice(invoice(status="paid", outstanding=eur("0.00"), payments=[]), BRANDING))
    assert "PAID" in paid.split() and "OVERDUE" not in paid
    assert "No payments received." in paid
    assert "Please pay" not in paid  # nothing left to pay

    late = text_of(render_invoice(invoice(status="partially_paid", overdue=True), BRANDING))
    assert "OVERDUE" in late.split()


def test_an_invoice_without_address_order_or_notes_still_renders():
    view = invoice(customer={**CUSTOMER, "billing_address": None}, order_id=None, order_reference=None,
                   notes=None, credit_notes=[])
    # only the name is required; absent or empty details and a bad colour are left out
    bare = {"name": "Solo Carrier", "address_lines": [], "email": None, "vat_id": None, "color": "teal!"}
    text = text_of(render_invoice(view, bare))
    assert "Solo Carrier" in text and "Zoë Müller Ødegård GmbH" in text and "VAT ID" not in text
    assert "Order reference" not in text and "Credit notes" not in text and "Notes" not in text


def test_a_200_line_invoice_repeats_the_table_header_and_ends_with_the_totals():
    lines = [line(i, f"Stop {i} delivery", "1", "pc", "10.00", "20", "10.00", "2.00") for i in range(1, 201)]
    data = render_invoice(invoice(lines=lines, net=eur("2000.00"), tax=eur("400.00"), total=eur("2400.00"),
                                  outstanding=eur("1775.00")), BRANDING)
    pages = all_rows(data)
    assert len(pages) > 2

    seen = []
    for number, rows in enumerate(pages, start=1):
        assert [f"Page {number} of {len(pages)}"] in [row[-1:] for row in rows]
        positions = [i for i, row in enumerate(rows) if row[:2] == [row[0], f"Stop {row[0]} delivery"]]
        if positions:  # a page with lines shows the header row above them
            assert LINE_HEADER in rows[:positions[0]]
            seen += [int(rows[i][0]) for i in positions]
    assert seen == list(range(1, 201))  # each line once, in order

    last = pages[-1]
    assert has_row(last, ["Outstanding balance", "1,775.00 EUR"])
    last_line = next(i for i, row in enumerate(last) if row[:1] == ["200"])
    totals = next(i for i, row in enumerate(last) if has_row([row], ["Total", "2,400.00 EUR"]))
    assert totals > last_line
    assert not any(has_row(rows, ["Outstanding balance", "1,775.00 EUR"]) for rows in pages[:-1])


def test_an_overlong_description_is_cut_visibly_instead_of_failing_the_document():
    # a table row taller than a page would make reportlab give up on the whole PDF
    huge = "pallet " * 2000
    view = invoice(lines=[line(1, huge, "1", "pc", "5.00", "20", "5.00", "1.00")],
                   customer={**CUSTOMER, "name": "N" * 400})
    text = " ".join(text_of(render_invoice(view, BRANDING)).split())
    assert "pallet pallet" in text and "…" in text
    assert "5.00 EUR" in text and "Outstanding balance" in text


def test_markup_in_names_and_text_is_printed_literally():
    name = "<b>Smith</b> & Sons <font size=40>Ltd</font> <unclosed"
    view = invoice(customer={**CUSTOMER, "name": name},
                   lines=[line(1, "Pallets <i>fragile</i> & wet", "1", "pc", "5.00", "20", "5.00", "1.00")],
                   notes="Gate <br/> code 4 & 5", terms="Pay <b>now</b> & then")
    data = render_invoice(view, {**BRANDING, "name": "Fast & <Furious>", "vat_id": "<NL>"})
    text = " ".join(text_of(data).split())  # a long name may wrap
    for literal in [name, "Pallets <i>fragile</i> & wet", "Gate <br/> code 4 & 5", "Pay <b>now</b> & then",
                    "Fast & <Furious>", "VAT ID <NL>"]:
        assert literal in text, literal

    text = text_of(render_statement(statement([], customer={**CUSTOMER, "name": name}), BRANDING))
    assert name in " ".join(text.split())


def test_latin_names_render_with_the_embedded_font_when_present():
    if not os.path.isfile(os.path.join(pdf_fonts._DEJAVU_DIR, "DejaVuSans.ttf")):
        pytest.skip("DejaVu Sans is not installed here")
    name = "Łódź Čapek Őrs Straße Ødegård Zoë"
    data = render_invoice(invoice(customer={**CUSTOMER, "name": name}), BRANDING)
    assert name in text_of(data)
    assert any("DejaVu" in font for font in fonts_of(data))


def test_without_dejavu_helvetica_still_renders_western_latin(monkeypatch, tmp_path):
    monkeypatch.setattr(pdf_fonts, "_DEJAVU_DIR", str(tmp_path))
    pdf_fonts.fonts.cache_clear()
    try:
        data = render_invoice(invoice(), BRANDING)
    finally:
        monkeypatch.undo()
        pdf_fonts.fonts.cache_clear()
    assert fonts_of(data) <= {"/Helvetica", "/Helvetica-Bold"}
    text = text_of(data)
    assert "Zoë Müller Ødegård GmbH" in text and "Hauptstraße 5" in text


def test_money_is_rounded_to_the_currency_and_never_a_float():
    assert money(eur("1234.5")) == "1,234.50 EUR"
    assert money(eur("1234567.005")) == "1,234,567.01 EUR"  # half up, as by hand
    assert money(eur("-0.001")) == "0.00 EUR"
    assert money({"amount": "1234", "currency": "JPY"}) == "1,234 JPY"
    assert money({"amount": "1.2345", "currency": "KWD"}) == "1.235 KWD"
    with pytest.raises(TypeError):
        render_invoice(invoice(total={"amount": 1636.25, "currency": "EUR"}), BRANDING)


# --- statement -------------------------------------------------------------------------------

def test_the_statement_lists_each_entry_in_order_with_its_running_balance():
    entries = [
        entry("2026-12-03T10:00:00+00:00", "invoice", "INV-2026-000001", "Invoice", "1736.25", debit="1636.25"),
        entry("2026-12-10T09:00:00+00:00", "payment", "SEPA-991", "Payment by bank transfer", "1236.25",
              credit="500.00"),
        entry("2026-12-12T08:00:00+00:00", "credit_note", "CN-2026-000001", "Ferry not used", "1181.25",
              credit="55.00"),
        entry("2026-12-15T08:00:00+00:00", "refund", "SEPA-991", "", "1206.25", debit="25.00"),
        entry("2026-12-20T15:30:00+00:00", "payment", "CARD-1", "Payment by card", "1106.25", credit="100.00"),
    ]
    data = render_statement(statement(entries, closing_balance=eur("1106.25")), BRANDING)
    text = text_of(data)
    [rows] = all_rows(data)

    for expected in ["Demo Logistics", "Statement of account", "Zoë Müller Ødegård GmbH", "Hauptstraße 5",
                     "50667 Köln", "Customer no. C-0042", "Page 1 of 1"]:
        assert expected in text, expected
    assert has_row(rows, ["Period", "2026-01-01 to 2026-12-31"])
    assert has_row(rows, ["Opening balance", "100.00 EUR"])
    expected_rows = [
        ENTRY_HEADER,
        ["2026-01-01", "Opening balance", "100.00 EUR"],
        ["2026-12-03", "INV-2026-000001", "Invoice", "1,636.25 EUR", "1,736.25 EUR"],
        ["2026-12-10", "SEPA-991", "Payment by bank transfer", "500.00 EUR", "1,236.25 EUR"],
        ["2026-12-12", "CN-2026-000001", "Ferry not used", "55.00 EUR", "1,181.25 EUR"],
        ["2026-12-15", "SEPA-991", "Refund", "25.00 EUR", "1,206.25 EUR"],  # no description: its kind
        ["2026-12-20", "CARD-1", "Payment by card", "100.00 EUR", "1,106.25 EUR"],
    ]
    start = rows.index(ENTRY_HEADER)
    assert rows[start:start + len(expected_rows)] == expected_rows
    # debit and credit in their own columns: a credit sits right of where a debit would
    x = {}
    PdfReader(io.BytesIO(data)).pages[0].extract_text(
        visitor_text=lambda t, cm, tm, f, s: x.setdefault(t.strip(), cm[4] + tm[4] * cm[0]))
    assert x["1,636.25 EUR"] < x["500.00 EUR"] < x["1,236.25 EUR"]

    for label, amount in [("Invoiced", "1,636.25 EUR"), ("Paid", "600.00 EUR"), ("Credited", "55.00 EUR"),
                          ("Refunded", "25.00 EUR"), ("Closing balance", "1,106.25 EUR")]:
        assert has_row(rows, [label, amount]), label
    summary = max(i for i, row in enumerate(rows) if row == ["Closing balance", "1,106.25 EUR"])
    assert summary > start + len(expected_rows)


def test_an_empty_statement_and_a_long_description():
    text = " ".join(text_of(render_statement(statement([]), BRANDING)).split())
    assert "No transactions in this period." in text and "Closing balance 1,036.25 EUR" in text

    long = "Invoice for the move of 33 pallets from Rotterdam to Köln, with tail-lift and waiting time"
    data = render_statement(statement([entry("2026-02-01", "invoice", "INV-2026-000009", long, "1100.00",
                                             debit="1000.00")]), BRANDING)
    assert long in " ".join(text_of(data).split())  # wrapped in its cell, not cut off


def test_a_statement_of_10000_entries_spans_pages_with_the_header_on_each():
    entries, balance = [], 0
    for i in range(10_000):
        balance += 10
        entries.append(entry(f"2026-{i * 12 // 10_000 + 1:02d}-15T10:00:00+00:00", "invoice", f"INV-2026-{i + 1:06d}",
                             "Invoice", f"{balance}.00", debit="10.00"))
    view = statement(entries, opening_balance=eur("0.00"), closing_balance=eur(f"{balance}.00"))
    started = time.perf_counter()
    data = render_statement(view, BRANDING)
    print(f"\n10,000-entry statement: {time.perf_counter() - started:.2f} s, "
          f"{len(PdfReader(io.BytesIO(data)).pages)} pages, {len(data) / 1e6:.1f} MB")

    total = len(PdfReader(io.BytesIO(data)).pages)
    assert total > 100
    # reading every page back takes longer than rendering: check the first two, one in the
    # middle and the last
    sample = [0, 1, total // 2, total - 1]
    numbers = []
    for index, rows in zip(sample, all_rows(data, sample)):
        assert ENTRY_HEADER in rows, index
        assert [f"Page {index + 1} of {total}"] in [row[-1:] for row in rows]
        numbers.append([int(row[1][-6:]) for row in rows if len(row) == 5 and row[1].startswith("INV-")])
    first, second, _, last = numbers
    assert first[0] == 1 and second[0] == first[-1] + 1  # nothing lost at the page break
    assert last[-1] == 10_000
    assert ["2026-12-15", "INV-2026-010000", "Invoice", "10.00 EUR", "100,000.00 EUR"] in all_rows(data, [total - 1])[0]
    assert "Closing balance" in text_of(data, [total - 1])
