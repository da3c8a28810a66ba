"""Sign and accept, and recurring orders, in Chromium. A customer admin signs a sent quote by
drawing with the mouse on the dialog's canvas (an empty canvas is refused on the screen and signs
nothing), and a quote that asks for a deposit is signed and paid with a test card; the screen
shows who signed and when, and the API keeps the hash of the document the dialog showed. A
customer booker saves a schedule from an order, sees its next run, pauses and edits it; the API
agrees at each step. Console, CSP and axe are checked on each screen."""
import uuid
from datetime import date, timedelta

import pytest

from tests.conftest import wait_for
from tests.e2e import test_billing_flows
from tests.e2e.conftest import PASSWORD, get, invite_and_accept, post
from tests.e2e.test_quote_signing import send

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# fmt.date / fmt.dateTime of gateway/web/portal/lib/dom.js, evaluated in the page: what the
# screen must show for a value the API answered.
SHOWN_DATE = """iso => new Intl.DateTimeFormat(navigator.language || 'en-GB', {dateStyle: 'medium'})
    .format(new Date(iso + 'T12:00:00'))"""
SHOWN_TIME = """iso => new Intl.DateTimeFormat(navigator.language || 'en-GB', {dateStyle: 'medium', timeStyle: 'short'})
    .format(new Date(iso))"""
SHOWN_MONEY = """([amount, currency]) => new Intl.NumberFormat(navigator.language || 'en-GB',
    {style: 'currency', currency}).format(Number(amount))"""


def _person(stack, mailbox, admin_token, customer_id, role):
    email = f"{role}.{uuid.uuid4().hex[:6]}@sign.example"
    token = invite_and_accept(stack, mailbox, admin_token, customer_id, email, role)
    return {"email": email, "password": PASSWORD, "token": token, "customer_id": customer_id}


@pytest.fixture(scope="module")
def customer(stack, mailbox, admin_token):
    """A customer with a rate card, as tests/e2e/test_billing_flows' acme (customer_admin waits
    for billing to know it)."""
    made = post(stack, "/api/v1/admin/customers", {"name": f"Signing {uuid.uuid4().hex[:6]}"}, admin_token).json()
    card = post(stack, "/api/v1/admin/rate-cards", {
        "name": "Signing deliveries", "customer_id": made["id"], "kind": "delivery", "currency": "EUR",
        "tax_rate": "21", "base_fee": "25.00", "per_km": "1.10", "per_kg": "0.05", "minimum": "40.00",
        "timezone": "Europe/Amsterdam"}, admin_token)
    assert card.status_code == 201, card.text
    return made


@pytest.fixture(scope="module")
def customer_admin(stack, mailbox, admin_token, customer):
    person = _person(stack, mailbox, admin_token, customer["id"], "customer_admin")
    wait_for(lambda: get(stack, "/api/v1/account/summary", person["token"]).status_code == 200, timeout=20,
             what="billing to know the customer")
    return person


@pytest.fixture(scope="module")
def customer_booker(stack, mailbox, admin_token, customer):
    return _person(stack, mailbox, admin_token, customer["id"], "customer_booker")


def sent_quote(stack, admin_token, token, reference, deposit_percent=None):
    quote = post(stack, "/api/v1/quotes", {"order": {**test_billing_flows.ORDER, "reference": reference}}, token)
    assert quote.status_code == 201, quote.text
    quote = quote.json()
    if deposit_percent is None:
        send(stack, admin_token, quote["id"], "150.00")
    else:
        sent = post(stack, f"/api/v1/admin/quotes/{quote['id']}/send", {"lines": [
            {"description": "Rotterdam - Amsterdam, all in", "quantity": "1", "unit": "trip",
             "unit_price": "150.00", "tax_rate": "21"}], "valid_days": 7, "deposit_percent": deposit_percent},
            admin_token)
        assert sent.status_code == 200, sent.text
    return quote


def booked_and_cancelled(stack, token, reference):
    """Orders books the signed quote (its quote.accepted event); the order is then cancelled so
    that no unassigned order of this module is left on the shared stack's dispatch screen
    (test_walk.py schedules from that screen)."""
    booked = wait_for(lambda: next(iter(get(stack, "/api/v1/orders", token, params={"q": reference}).json()["items"]),
                                   None), timeout=20, what="orders to book the signed quote")
    assert booked["status"] == "submitted"
    cancelled = post(stack, f"/api/v1/orders/{booked['id']}/cancel", {"reason": "browser test done"}, token)
    assert cancelled.status_code == 200, cancelled.text


def draw_on(page, canvas):
    """A signature stroke with the mouse: down, a zigzag of moves, up (the pad listens to pointer events)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.7)
    page.mouse.down()
    for fx, fy in ((0.25, 0.3), (0.4, 0.75), (0.55, 0.35), (0.7, 0.7), (0.9, 0.4)):
        page.mouse.move(x + w * fx, y + h * fy, steps=6)
    page.mouse.up()


def fact(root, label):
    """The value of a ``ui.facts`` row (<dt>label</dt><dd>value</dd>)."""
    return root.locator("dt", has_text=label).locator("xpath=following-sibling::dd[1]")


def open_sign_dialog(tab, quote_id, button):
    page = tab.go(f"/quotes/{quote_id}")
    page.get_by_role("button", name=button, exact=True).click()
    dialog = page.get_by_role("dialog", name="Sign and accept")
    dialog.locator("canvas.signature-pad").wait_for()
    return page, dialog


def signature_card(page):
    card = page.locator("section.card").filter(has=page.get_by_role("heading", name="Signature", exact=True))
    card.wait_for()
    return card


def test_a_customer_admin_draws_a_signature_and_accepts_a_quote(tabs, stack, admin_token, customer_admin):
    token = customer_admin["token"]
    reference = f"SIGN-DRAWN-{uuid.uuid4().hex[:4]}"
    quote = sent_quote(stack, admin_token, token, reference)
    shown = get(stack, f"/api/v1/quotes/{quote['id']}/document", token).json()
    tab = tabs()
    tab.sign_in(customer_admin["email"], customer_admin["password"])
    page, dialog = open_sign_dialog(tab, quote["id"], "Sign and accept")
    # the dialog names the document it signs: the start of the hash the API gave for it
    assert dialog.get_by_text(f"Document fingerprint (SHA-256): {shown['sha256'][:16]}…").is_visible()
    tab.check("quote-sign-dialog")

    # Name and consent but an empty canvas: refused on the screen, nothing is sent.
    tab.field("Your full name", dialog).fill("Anna de Vries")
    dialog.get_by_label("I have read this quote and accept it with my electronic signature.").check()
    tab.button("Sign and accept", dialog).click()
    alert = dialog.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == 'Draw your signature, or press "Sign with my typed name".'
    assert dialog.is_visible()
    tab.check("quote-sign-empty-canvas")
    assert get(stack, f"/api/v1/quotes/{quote['id']}", token).json()["status"] == "sent"
    assert get(stack, f"/api/v1/quotes/{quote['id']}/signature", token).status_code == 404

    draw_on(page, dialog.locator("canvas.signature-pad"))
    # the canvas holds ink now (what is sent is that PNG)
    assert dialog.locator("canvas.signature-pad").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)")
    tab.button("Sign and accept", dialog).click()
    dialog.wait_for(state="detached")
    page.get_by_role("status").filter(has_text="signed and accepted").first.wait_for()

    card = signature_card(page)
    record = get(stack, f"/api/v1/quotes/{quote['id']}/signature", token).json()
    assert record["full_name"] == "Anna de Vries" and record["document_sha256"] == shown["sha256"]
    assert record["revision"] == shown["revision"] and record["deposit"] is None
    assert fact(card, "Signed by").inner_text() == "Anna de Vries"
    assert fact(card, "Signed at").inner_text() == page.evaluate(SHOWN_TIME, record["signed_at"])
    assert fact(card, "Document SHA-256").inner_text() == shown["sha256"]
    assert page.locator(".badge").first.inner_text() == "Accepted"
    assert get(stack, f"/api/v1/quotes/{quote['id']}", token).json()["status"] == "accepted"
    # the signed copy (the PDF with the drawn signature) can be downloaded
    assert get(stack, f"/api/v1/quotes/{quote['id']}/signed.pdf", token).status_code == 200
    assert page.get_by_role("button", name="Sign and accept", exact=True).count() == 0
    tab.check("quote-signed")
    booked_and_cancelled(stack, token, reference)


def test_a_quote_with_a_deposit_is_signed_and_paid_with_a_test_card(tabs, stack, admin_token, customer_admin):
    token = customer_admin["token"]
    reference = f"SIGN-DEPOSIT-{uuid.uuid4().hex[:4]}"
    quote = sent_quote(stack, admin_token, token, reference, deposit_percent="20")
    shown = get(stack, f"/api/v1/quotes/{quote['id']}/document", token).json()
    tab = tabs()
    tab.sign_in(customer_admin["email"], customer_admin["password"])
    page, dialog = open_sign_dialog(tab, quote["id"], "Sign, accept and pay the deposit")
    euros = page.evaluate(SHOWN_MONEY, ["36.30", "EUR"])           # 20 % of 181.50
    deposit = dialog.get_by_role("group", name=f"Deposit: {euros} by card, charged when you sign")
    assert deposit.is_visible(), dialog.inner_text()
    tab.field("Your full name", dialog).fill("Bram Jansen")
    draw_on(page, dialog.locator("canvas.signature-pad"))
    tab.field("Name on card", dialog).fill("B Jansen")
    tab.field("Card number", dialog).fill("4242 4242 4242 4242")
    tab.field("Expiry (MM/YY)", dialog).fill(f"12/{(date.today().year + 3) % 100:02d}")
    tab.field("CVC", dialog).fill("123")
    dialog.get_by_label("I have read this quote and accept it with my electronic signature.").check()
    tab.check("quote-sign-deposit-dialog")
    tab.button("Sign and accept", dialog).click()
    dialog.wait_for(state="detached")

    card = signature_card(page)
    record = get(stack, f"/api/v1/quotes/{quote['id']}/signature", token).json()
    assert record["full_name"] == "Bram Jansen" and record["document_sha256"] == shown["sha256"]
    assert record["deposit"] == {"amount": "36.30", "currency": "EUR"} and record["card"]["last4"] == "4242"
    assert fact(card, "Signed by").inner_text() == "Bram Jansen"
    assert fact(card, "Signed at").inner_text() == page.evaluate(SHOWN_TIME, record["signed_at"])
    paid = fact(card, "Deposit paid").inner_text()
    assert paid.startswith(euros) and paid.endswith("4242)"), paid
    assert get(stack, f"/api/v1/quotes/{quote['id']}", token).json()["status"] == "accepted"
    tab.check("quote-signed-deposit")
    booked_and_cancelled(stack, token, reference)


def next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def test_a_customer_booker_schedules_pauses_and_edits_a_recurring_order(tabs, stack, customer_booker):
    token = customer_booker["token"]
    order = post(stack, "/api/v1/orders", {"reference": f"REC-{uuid.uuid4().hex[:4]}", "stops": [
        {"type": "pickup", "address": {"line1": "1 Depot Way", "city": "Leeds"}},
        {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull"},
         "window_start": "2026-11-02T09:00:00+00:00", "window_end": "2026-11-02T11:00:00+00:00"}],
        "items": [{"description": "Crates", "quantity": 4}]}, token)
    assert order.status_code == 201, order.text
    order = order.json()
    # A Wednesday weeks ahead: the timer (a day's lead) books nothing while the test runs, and
    # "every weekday" and "every Monday" have different next runs.
    starts = next_weekday(date.today() + timedelta(days=14), 2)
    name = f"Hull shop {uuid.uuid4().hex[:4]}"

    tab = tabs()
    tab.sign_in(customer_booker["email"], customer_booker["password"])
    page = tab.go(f"/orders/{order['id']}")
    page.get_by_role("link", name="Repeat on a schedule").click()
    page.wait_for_url("**/recurring-orders/new?order=*")
    page.get_by_role("heading", name=f"Repeat {order['reference']} on a schedule").wait_for()
    tab.field("Name").fill(name)
    tab.field("Repeat").select_option("weekdays")
    tab.field("Starts on").fill(starts.isoformat())
    tab.field("First time of the day").fill("07:30")
    tab.check("recurring-new")
    tab.button("Save schedule").click()
    page.wait_for_url("**/recurring-orders")

    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    row.wait_for()
    saved = get(stack, "/api/v1/recurring-orders", token).json()["items"]
    schedule = next(s for s in saved if s["name"] == name)
    assert {k: schedule[k] for k in ("order_id", "frequency", "starts_on", "time_of_day", "paused", "next_on")} == {
        "order_id": order["id"], "frequency": "weekdays", "starts_on": starts.isoformat(), "time_of_day": "07:30",
        "paused": False, "next_on": starts.isoformat()}
    assert row.locator("td[data-label=Repeats]").inner_text() == "Every weekday at 07:30"
    assert row.locator("td[data-label=Next]").inner_text() == page.evaluate(SHOWN_DATE, starts.isoformat())
    tab.check("recurring-list")

    tab.button("Pause", row).click()
    row.get_by_role("button", name="Resume", exact=True).wait_for()
    assert row.locator("td[data-label=Next]").inner_text() == "Paused"
    assert get(stack, f"/api/v1/recurring-orders/{schedule['id']}", token).json()["paused"] is True

    # Edit while paused: every Monday at 09:15; it stays paused.
    row.get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, exact=True).wait_for()
    tab.field("Repeat").select_option("weekly")
    tab.field("Monday").check()
    tab.field("First time of the day").fill("09:15")
    tab.check("recurring-edit")
    tab.button("Save changes").click()
    page.wait_for_url("**/recurring-orders")
    row.wait_for()
    edited = get(stack, f"/api/v1/recurring-orders/{schedule['id']}", token).json()
    assert {k: edited[k] for k in ("frequency", "weekdays", "time_of_day", "paused", "starts_on")} == {
        "frequency": "weekly", "weekdays": [0], "time_of_day": "09:15", "paused": True, "starts_on": starts.isoformat()}
    assert row.locator("td[data-label=Repeats]").inner_text() == "Every Monday at 09:15"
    assert row.locator("td[data-label=Next]").inner_text() == "Paused"

    # Resumed, its next run is the first Monday from its start.
    tab.button("Resume", row).click()
    row.get_by_role("button", name="Pause", exact=True).wait_for()
    monday = next_weekday(starts, 0)
    resumed = get(stack, f"/api/v1/recurring-orders/{schedule['id']}", token).json()
    assert resumed["paused"] is False and resumed["next_on"] == monday.isoformat()
    assert row.locator("td[data-label=Next]").inner_text() == page.evaluate(SHOWN_DATE, monday.isoformat())
    tab.check("recurring-resumed")
