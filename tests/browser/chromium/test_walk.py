"""The walk of issue 8, as a new customer and the operator's staff would do it, in Chromium:
the operator invites a customer -> the customer accepts from the email -> books an order ->
imports a spreadsheet with bad rows -> submits the good drafts -> the operator schedules them
onto a driver's route and starts it -> a simulated driver app drives it -> the customer watches
status, ETA and map change live, sees the proof of delivery, pays the invoice and downloads its
PDF. Every main screen is screenshotted and checked (console, CSP, axe) on the way."""
import re
import uuid
from datetime import date

import pytest
import requests

from tests.browser.chromium.conftest import ADMIN, PHONE
from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, get, post, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Two addresses in Amsterdam, about 1.5 km apart, kept in the customer's address book.
PICKUP = {"name": "Our warehouse", "address": {"line1": "Czaar Peterstraat 2", "city": "Amsterdam",
                                               "postal_code": "1018 PE", "country": "NL"},
          "lat": 52.3700, "lng": 4.9270}
DROPOFF = {"name": "City shop", "address": {"line1": "Kalverstraat 92", "city": "Amsterdam",
                                            "postal_code": "1012 PH", "country": "NL"},
           "lat": 52.3705, "lng": 4.8910}


def import_csv(tag: str) -> bytes:
    header = "Order ID,Street,Town,Postcode,Recipient,Email,Packages,Weight (kg),Lat,Lng,Notes\n"
    rows = [f"{tag}-I1,Damrak 1,Amsterdam,1012 LG,Ann,ann@shop.example,2,3.5,52.3760,4.8980,",
            f"{tag}-I2,,Amsterdam,1012 LG,Bob,not-an-email,1,,,,",                    # no street, bad email
            f"{tag}-I3,Rokin 50,Amsterdam,1012 KV,Cas,,two,,,,",                      # packages not a number
            f"{tag}-I4,Spui 21,Amsterdam,1012 WX,Dee,dee@shop.example,1,1.2,52.3686,4.8900,"]
    return (header + "\n".join(rows) + "\n").encode()


def choose(select, text: str):
    """Pick the option of a <select> whose text contains ``text``."""
    select.select_option(select.locator("option", has_text=text).first.get_attribute("value"))


@pytest.fixture(scope="module")
def operator_setup(stack, admin_token):
    """What the walk takes as given: a default rate card (orders get a price and are invoiced on
    delivery) and a driver with its app."""
    card = post(stack, "/api/v1/admin/rate-cards", {
        "name": "Walk city courier", "currency": "EUR", "tax_rate": "21", "base_fee": "12.50",
        "per_km": "1.20", "per_kg": "0.04", "per_package": "0.75", "minimum": "20.00",
        "timezone": "Europe/Amsterdam"}, admin_token)
    assert card.status_code == 201, card.text
    driver = post(stack, "/api/v1/admin/drivers", {"name": f"Walk Driver {uuid.uuid4().hex[:4]}"}, admin_token)
    assert driver.status_code == 201, driver.text
    return driver.json()


def test_invite_book_import_schedule_drive_watch_and_pay(tabs, stack, mailbox, admin_token, operator_setup):
    tag = f"W{uuid.uuid4().hex[:5].upper()}"
    email = f"walk.{tag.lower()}@customer.example"

    # --- the operator creates the customer and invites its first user -----------------------
    op = tabs()
    op.sign_in(*ADMIN)
    op.check("01-operator-home")
    page = op.go("/admin/customers")
    op.button("New customer").click()
    op.field("Company name").fill(f"Walk Freight {tag}")
    op.field("Location sharing").select_option("exact")
    op.button("Create customer").click()
    page.wait_for_url(re.compile(r"/admin/customers/[0-9a-f-]{36}$"))
    page.get_by_role("heading", level=1).filter(has_text=f"Walk Freight {tag}").wait_for()
    op.field("Email addresses").fill(email)
    op.field("Role").select_option("customer_admin")
    op.button("Send invites").click()
    page.get_by_text(email).first.wait_for()
    op.check("02-operator-customer")

    # --- the customer accepts from the email ---------------------------------------------------
    body = mailbox.wait_for(email).get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"(http\S+accept-invite#token=\S+)", body)[1]
    me = tabs()
    page = me.go(link)
    me.field("Your name").fill("Robin Walker")
    me.field("Password").fill(PASSWORD)
    me.check("03-accept-invite")
    me.button("Create my account").click()
    page.wait_for_url(f"{stack.base}/")
    page.get_by_role("heading", level=1).wait_for()
    me.check("04-customer-home")
    token = sign_in(stack, email)
    for place in (PICKUP, DROPOFF):          # the address book (places) holds the coordinates
        assert post(stack, "/api/v1/places", place, token).status_code == 201

    # --- books an order with the webbooker (an error first, next to its field) ----------------
    page = me.go("/orders/new")
    me.field("Your reference").fill(f"{tag}-BOOK")
    stops = page.locator("fieldset.book-stop")
    stops.nth(0).get_by_label(re.compile(r"^Type")).select_option("pickup")
    choose(stops.nth(0).get_by_label(re.compile(r"^Saved place")), "Our warehouse")
    choose(stops.nth(1).get_by_label(re.compile(r"^Saved place")), "City shop")
    stops.nth(1).get_by_label(re.compile(r"^Contact email")).fill("not-an-email")
    me.field("What").fill("Two boxes of tiles")
    me.button("Submit order").click()
    error = stops.nth(1).locator(".field .error").filter(has_text=re.compile("email", re.I))
    error.wait_for()
    me.check("05-webbooker-field-error")
    stops.nth(1).get_by_label(re.compile(r"^Contact email")).fill("shop@city.example")
    me.button("Submit order").click()
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    booked_id = page.url.rsplit("/", 1)[1]
    page.locator(".order-status").get_by_text("Submitted").wait_for()
    me.check("06-order-submitted")

    # --- imports a spreadsheet with bad rows, then submits the good drafts ---------------------
    page = me.go("/imports")
    me.field("Spreadsheet (CSV or XLSX)").set_input_files(
        {"name": "orders.csv", "mimeType": "text/csv", "buffer": import_csv(tag)})
    me.button("Upload").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]{36}$"))
    me.button("Submit for delivery").wait_for(timeout=60_000)
    errors_table = page.locator("table").filter(has_text="not-an-email").or_(
        page.locator("table").filter(has_text=re.compile("email", re.I))).first
    errors_table.wait_for()
    me.check("07-import-errors")
    page.get_by_label(re.compile("^Select all")).check()
    me.button("Submit for delivery").click()
    page.get_by_text(re.compile(r"2 orders submitted for delivery")).wait_for()
    me.check("08-import-submitted")

    # --- the customer watches the booked order (live from here on) ----------------------------
    page = me.go(f"/orders/{booked_id}")
    page.locator(".leaflet-container").wait_for()

    # --- the operator schedules the three orders onto the driver's route and starts it --------
    page = op.go("/admin/dispatch")
    for ref in (f"{tag}-BOOK", f"{tag}-I1", f"{tag}-I4"):
        page.get_by_label(f"Select order {ref}").check()
    choose(op.field("Route"), "New route")
    op.field("Route name").fill(f"Walk {tag}")
    choose(op.field("Driver"), operator_setup["name"])
    op.button("Schedule").click()
    # The route's own section, by its heading: the unassigned orders' card names the route too
    # (in its Route choice) whenever another test left an order unassigned.
    route = page.locator("section.route").filter(has=page.get_by_role("heading", name=f"Walk {tag}", exact=True))
    route.wait_for()
    op.check("09-dispatch-scheduled")
    route.get_by_role("button", name="Start route").click()
    op.button("Start route", page.locator("dialog")).click()
    route.locator(".badge").filter(has_text=re.compile("Started|In progress|Active", re.I)).first.wait_for()
    op.check("10-dispatch-started")

    # --- a simulated driver app drives it ------------------------------------------------------
    stack.run("drivers", "-m", "services.tracking.driver.simulator", "--time-scale", "40",
              "--interval", "0.5", "--dwell", "1", "--once")
    page = me.page
    status = page.locator(".order-status")
    status.get_by_text("In transit").wait_for(timeout=60_000)      # pushed over SSE: no reload
    # the driver's marker moves on the map, and the sentence beside it says where and when
    page.locator(".leaflet-container .map-driver").wait_for(timeout=60_000)
    page.locator(".map-text").filter(has_text=re.compile(r"(Driver|driver has arrived)")).wait_for()
    page.locator(".stop-list li").filter(has_text=re.compile(r"ETA\s*\d{1,2}[:.]\d{2}")).first.wait_for(timeout=60_000)
    me.check("11-order-live-map")
    # the operator's team writes about the order: the thread shows it without a reload
    note = f"Driver {tag} is close, please have the dock free."
    assert post(stack, f"/api/v1/orders/{booked_id}/messages", {"body": note}, admin_token).status_code == 201
    page.locator(".messages").get_by_text(note).wait_for(timeout=30_000)
    status.get_by_text("Delivered").wait_for(timeout=180_000)
    pod = page.locator("section.card").filter(has=page.get_by_role("heading", name="Proof of delivery"))
    pod.locator("img").first.wait_for(timeout=30_000)
    me.check("12-order-delivered-pod")

    # --- pays the invoice of the booked order and downloads its PDF -----------------------------
    def invoice():
        found = get(stack, f"/api/v1/invoices?order_id={booked_id}", token).json()["items"]
        return found[0] if found else None
    issued = wait_for(invoice, timeout=60, what="the delivered order's invoice")
    page = me.go("/invoices")
    me.check("13-invoices")
    page = me.go(f"/invoices/{issued['id']}")
    me.button("Pay now").click()
    me.field("Name on card").fill("Robin Walker")
    me.field("Card number").fill("4000 0000 0000 0002")            # declined first
    me.field("Expiry (MM/YY)").fill(f"12/{(date.today().year + 2) % 100:02d}")
    me.field("CVC").fill("123")
    me.button("Pay by card").click()
    page.get_by_role("alert").filter(has_text=re.compile("declined", re.I)).wait_for()
    me.field("Card number").fill("4242 4242 4242 4242")    # the form forgot the card: type it again
    me.field("Expiry (MM/YY)").fill(f"12/{(date.today().year + 2) % 100:02d}")
    me.field("CVC").fill("123")
    me.button("Pay by card").click()
    page.get_by_text(re.compile("Payment received")).first.wait_for(timeout=30_000)
    wait_for(lambda: get(stack, f"/api/v1/invoices/{issued['id']}", token).json()["status"] == "paid",
             timeout=30, what="the invoice to be paid")
    me.go(f"/invoices/{issued['id']}")
    page.locator(".badge").filter(has_text="Paid").first.wait_for()
    me.check("14-invoice-paid")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert open(download.value.path(), "rb").read(5) == b"%PDF-"

    # --- the public tracking link, on a phone ----------------------------------------------------
    made = post(stack, f"/api/v1/orders/{booked_id}/tracking-links", {}, token)
    assert made.status_code == 201, made.text
    public = tabs(PHONE)
    public.go(made.json()["url"].replace(stack.base, ""))
    public.page.get_by_text(re.compile("Delivered", re.I)).first.wait_for()
    public.check("15-public-tracking-phone")
    assert requests.get(made.json()["url"], timeout=10).headers["Content-Security-Policy"].startswith("default-src 'none'")
