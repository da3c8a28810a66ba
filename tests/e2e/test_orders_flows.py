"""Orders over HTTP against the running stack: the webbooker, spreadsheet imports through the
import worker, documents in the blob store, dispatch to delivered (the stop event published on
the real bus, as tracking will), conversations and rentals."""
import io
import uuid

import pytest
import requests
from kombu import Connection, Exchange, Producer

from services.common.events import EXCHANGE, make_envelope
from tests.conftest import wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post

pytestmark = pytest.mark.e2e

HEADER = "ID,Address Line 1,City,Zip,Country,Recipient Name,Recipient Email,Package Count,Weight (kg),Latitude,Longitude\n"


@pytest.fixture(scope="module")
def acme(stack, mailbox, admin_token):
    customer = post(stack, "/api/v1/admin/customers", {"name": f"Orders {uuid.uuid4().hex[:6]}"}, admin_token).json()
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"],
                              f"booker.{uuid.uuid4().hex[:6]}@acme.example", "customer_admin")
    wait_for(lambda: get(stack, "/api/v1/orders", token).status_code == 200, timeout=20,
             what="orders to know the customer")
    return {"customer": customer, "token": token}


def order_body(reference=None, **extra):
    body = {"stops": [{"type": "pickup", "address": {"line1": "1 Mill Lane", "city": "Leeds"}},
                      {"type": "dropoff", "address": {"line1": "9 Quay St", "city": "Hull", "country": "GB"},
                       "lat": 53.74, "lng": -0.33, "contact": {"name": "Mo Dock", "phone": "+44 1482 111222"},
                       "window_start": "2026-12-01T09:00:00Z", "window_end": "2026-12-01T11:00:00Z"}],
            "items": [{"description": "Parcels", "quantity": 2, "weight_kg": "4.2"}], **extra}
    if reference:
        body["reference"] = reference
    return body


def wait_import(stack, token, job):
    def done():
        nonlocal job
        job = get(stack, f"/api/v1/imports/{job['id']}", token).json()
        return job["status"] in ("done", "failed")
    wait_for(done, timeout=60, interval=0.3, what="the import to finish")
    return job


def test_webbooker_order_life_and_clear_errors(stack, acme):
    token = acme["token"]
    keyed = {**auth(token), "Idempotency-Key": "wb-1"}
    created = requests.post(f"{stack.base}/api/v1/orders", json=order_body("WB-1"), headers=keyed, timeout=15)
    assert created.status_code == 201, created.text
    order = created.json()
    again = requests.post(f"{stack.base}/api/v1/orders", json=order_body("WB-1"), headers=keyed, timeout=15)
    assert again.status_code == 201 and again.json()["id"] == order["id"]
    bad = post(stack, "/api/v1/orders", {**order_body(), "items": [{"description": "x", "quantity": -1}],
                                         "customer_id": str(uuid.uuid4())}, token)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"
    assert get(stack, "/api/v1/orders?q=quay", token).json()["total"] >= 1
    submitted = post(stack, f"/api/v1/orders/{order['id']}/submit", None, token)
    assert submitted.json()["status"] == "submitted"
    patch = requests.patch(f"{stack.base}/api/v1/orders/{order['id']}", json={"notes": "x"}, headers=auth(token), timeout=10)
    assert patch.status_code == 409 and patch.json()["error"]["details"]["status"] == "submitted"
    assert post(stack, f"/api/v1/orders/{order['id']}/withdraw", None, token).json()["status"] == "draft"
    cancelled = post(stack, f"/api/v1/orders/{order['id']}/cancel", {"reason": "changed plans"}, token).json()
    assert cancelled["status"] == "cancelled" and cancelled["history"][-1]["note"] == "changed plans"
    view = requests.put(f"{stack.base}/api/v1/orders/view", json={"columns": ["status", "reference"]},
                        headers=auth(token), timeout=10)
    assert view.status_code == 200 and get(stack, "/api/v1/orders/view", token).json()["columns"] == ["status", "reference"]


def test_spreadsheet_import_keeps_good_rows_reports_bad_ones_and_never_duplicates(stack, acme, admin_token):
    token = acme["token"]
    rows = ("IMP-1,1 Long Road,York,YO1 1AA,GB,Ann,ann@example.com,2,3.5,,\n"
            "IMP-2,,York,YO1 1AB,GB,Bob,not-an-email,1,,,\n"                    # no address, bad email
            "IMP-3,3 Long Road,York,YO1 1AC,GB,=HYPERLINK(\"http://evil\"),,1,,95,0\n"   # latitude out of range
            "IMP-4,4 Long Road,York,YO1 1AD,GB,Dee,,x,,,\n")                     # packages not a number
    content = ("\ufeff" + HEADER.replace(",", ";") + rows.replace(",", ";")).encode("cp1252", errors="replace")
    sent = requests.post(f"{stack.base}/api/v1/imports", files={"file": ("orders.csv", content, "text/csv")},
                         headers=auth(token), timeout=30)
    assert sent.status_code == 202, sent.text
    job = wait_import(stack, token, sent.json())
    assert job["status"] == "done" and job["created"] == 1 and job["processed_rows"] == 4
    problems = {(e["row"], e["column"]) for e in job["errors"]}
    assert (3, "address_line1") in problems and (3, "recipient_email") in problems
    assert (4, "latitude") in problems and (5, "package_count") in problems
    drafts = get(stack, "/api/v1/orders?status=draft&q=imp-", token).json()
    assert [o["reference"] for o in drafts["items"]] == ["IMP-1"]
    report = get(stack, f"/api/v1/imports/{job['id']}/errors.csv", token)
    assert report.status_code == 200 and "\n=" not in report.text and ",=" not in report.text
    again = wait_import(stack, token, requests.post(
        f"{stack.base}/api/v1/imports", files={"file": ("orders.csv", content, "text/csv")},
        headers=auth(token), timeout=30).json())
    assert again["created"] == 0 and again["unchanged"] == 1
    result = post(stack, "/api/v1/orders/submit", {"ids": [drafts["items"][0]["id"]]}, token).json()
    assert len(result["submitted"]) == 1 and result["errors"] == []


def test_xlsx_import_and_the_templates(stack, acme):
    from openpyxl import Workbook, load_workbook

    token = acme["token"]
    template = get(stack, "/api/v1/imports/template.xlsx", token)
    assert template.status_code == 200
    sheets = load_workbook(io.BytesIO(template.content), read_only=True).sheetnames
    assert "Glossary" in sheets
    assert get(stack, "/api/v1/imports/template.csv", token).content.startswith(b"\xef\xbb\xbf")
    book = Workbook()
    sheet = book.active
    sheet.append(["Order ID", "Street", "Town", "Postcode", "Name", "Parcels"])
    for n in range(25):
        sheet.append([f"X-{n}", f"{n} Side Street", "Ely", "CB7 4AA", f"Person {n}", n % 3 + 1])
    data = io.BytesIO()
    book.save(data)
    sent = requests.post(f"{stack.base}/api/v1/imports", files={"file": ("book.xlsx", data.getvalue())},
                         data={"submit": "true"}, headers=auth(token), timeout=30)
    assert sent.status_code == 202, sent.text
    job = wait_import(stack, token, sent.json())
    assert job["created"] == 25 and job["error_count"] == 0
    assert get(stack, "/api/v1/orders?status=submitted&q=side+street", token).json()["total"] == 25


def test_files_that_are_not_spreadsheets_are_refused_at_once(stack, acme, admin_token):
    token = acme["token"]
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    refused = requests.post(f"{stack.base}/api/v1/imports", files={"file": ("orders.xlsx", pdf)},
                            headers=auth(token), timeout=30)
    assert refused.status_code == 422 and "file" in refused.json()["error"]["details"]["fields"]
    customer = acme["customer"]
    requests.patch(f"{stack.base}/api/v1/admin/customers/{customer['id']}", json={"allow_order_upload": False},
                   headers=auth(admin_token), timeout=10).raise_for_status()
    try:
        def forbidden():
            answer = requests.post(f"{stack.base}/api/v1/imports", files={"file": ("o.csv", HEADER.encode())},
                                   headers=auth(token), timeout=30)
            return answer.status_code == 403
        wait_for(forbidden, timeout=20, what="uploads to be switched off")
    finally:
        requests.patch(f"{stack.base}/api/v1/admin/customers/{customer['id']}", json={"allow_order_upload": True},
                       headers=auth(admin_token), timeout=10).raise_for_status()


def test_documents_are_sniffed_stored_and_served(stack, acme):
    from PIL import Image

    token = acme["token"]
    order = post(stack, "/api/v1/orders", order_body(), token).json()
    image = io.BytesIO()
    Image.new("RGB", (1200, 800), (10, 120, 200)).save(image, "PNG")
    sent = requests.post(f"{stack.base}/api/v1/orders/{order['id']}/documents",
                         files={"file": ("../../etc/photo of dock.png", image.getvalue())}, data={"kind": "photo"},
                         headers=auth(token), timeout=30)
    assert sent.status_code == 201, sent.text
    doc = sent.json()
    assert doc["content_type"] == "image/png" and "/" not in doc["filename"] and doc["has_thumbnail"]
    content = get(stack, f"/api/v1/documents/{doc['id']}/content", token)
    assert content.status_code == 200 and content.content == image.getvalue()
    assert content.headers["Content-Type"] == "image/png"
    thumb = get(stack, f"/api/v1/documents/{doc['id']}/thumbnail", token)
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size[0] <= 320
    program = requests.post(f"{stack.base}/api/v1/orders/{order['id']}/documents",
                            files={"file": ("cat.png", b"MZ\x90\x00" + b"\x00" * 200)},
                            headers=auth(token), timeout=30)
    assert program.status_code == 422
    assert [d["id"] for d in get(stack, f"/api/v1/orders/{order['id']}/documents", token).json()] == [doc["id"]]


def publish_stop_event(amqp_uri, customer_id, data):
    envelope = make_envelope("stop.completed", data, customer_id)
    with Connection(amqp_uri) as conn:
        Producer(conn.channel()).publish(envelope, serializer="json", routing_key="stop.completed",
                                         exchange=Exchange(EXCHANGE, "topic", durable=True),
                                         message_id=envelope["id"], delivery_mode=2)


def test_dispatch_to_delivered_with_the_conversation(stack, acme, admin_token, amqp_uri):
    token = acme["token"]
    order = post(stack, "/api/v1/orders", order_body(submit=True), token).json()
    assert post(stack, f"/api/v1/orders/{order['id']}/messages", {"body": "Please call first"}, token).status_code == 201
    answer = post(stack, f"/api/v1/orders/{order['id']}/messages", {"body": "Will do"}, admin_token)
    assert answer.status_code == 201 and answer.json()["author_side"] == "operator"
    unassigned = get(stack, "/api/v1/admin/orders?unassigned=true&per_page=200", admin_token).json()
    assert order["id"] in [o["id"] for o in unassigned["items"]]
    depot = post(stack, "/api/v1/admin/depots", {"name": f"Depot {uuid.uuid4().hex[:4]}",
                                                  "address": {"line1": "Yard 1"}}, admin_token).json()
    driver = post(stack, "/api/v1/admin/drivers", {"name": "Dana Driver"}, admin_token).json()

    def route_made():
        made = post(stack, "/api/v1/admin/routes", {"name": "Hull run", "day": "2026-12-01",
                                                     "depot_id": depot["id"], "driver_id": driver["id"]}, admin_token)
        return made.json() if made.status_code == 201 else None
    route = wait_for(route_made, timeout=20, what="orders to learn the new driver")
    scheduled = post(stack, f"/api/v1/admin/routes/{route['id']}/orders", {"order_ids": [order["id"]]}, admin_token)
    assert scheduled.status_code == 200, scheduled.text
    assert post(stack, f"/api/v1/orders/{order['id']}/withdraw", None, token).status_code == 409
    assert post(stack, f"/api/v1/admin/routes/{route['id']}/start", None, admin_token).json()["status"] == "started"
    assert post(stack, f"/api/v1/orders/{order['id']}/cancel", {}, token).status_code == 409
    for stop in get(stack, f"/api/v1/orders/{order['id']}", token).json()["stops"]:
        publish_stop_event(amqp_uri, acme["customer"]["id"], {
            "order_id": order["id"], "stop_id": stop["id"], "driver_id": driver["id"], "status": "completed",
            "completed_at": "2026-12-01T10:00:00+00:00", "pod": {"recipient_name": "Mo", "photos": []}})
    wait_for(lambda: get(stack, f"/api/v1/orders/{order['id']}", token).json()["status"] == "delivered",
             timeout=20, what="the order to be delivered")
    history = [h["to_status"] for h in get(stack, f"/api/v1/orders/{order['id']}", token).json()["history"]]
    assert history == ["draft", "submitted", "scheduled", "in_transit", "delivered"]


def test_rentals_call_off_and_confirm(stack, acme, admin_token):
    token = acme["token"]
    contract = post(stack, "/api/v1/admin/rentals", {
        "customer_id": acme["customer"]["id"], "starts_on": "2026-11-01",
        "items": [{"item": "CRANE-1", "description": "Mini crane", "quantity_out": 2}]}, admin_token)
    assert contract.status_code == 201, contract.text
    contract = contract.json()
    mine = get(stack, "/api/v1/rentals", token).json()
    assert [c["number"] for c in mine["items"]] == [contract["number"]]
    call_off = post(stack, f"/api/v1/rentals/{contract['id']}/call-off", {
        "off_on": "2026-12-10", "lines": [{"rental_item_id": contract["items"][0]["id"], "quantity": 2}],
        "contact": {"name": "Site lead"}}, token)
    assert call_off.status_code == 201, call_off.text
    confirmed = post(stack, f"/api/v1/admin/rentals/call-offs/{call_off.json()['id']}/confirm", None, admin_token)
    assert confirmed.json()["status"] == "confirmed"
    assert get(stack, f"/api/v1/rentals/{contract['id']}", token).json()["status"] == "closed"
