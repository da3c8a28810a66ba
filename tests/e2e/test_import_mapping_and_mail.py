"""Imports with the customer's own columns over HTTP (issue 11): a saved mapping, the preview
with every problem marked and nothing created until confirmed, and import by email through a
real SMTP client to orders-mail-imports: unknown tokens refused at RCPT, a message without a
spreadsheet refused at DATA, a good file imported as drafts and its result emailed to the sender."""
import os
import signal
import smtplib
import socket
import uuid
from email.message import EmailMessage

import pytest
import requests

from tests.conftest import free_port, wait_for
from tests.e2e.conftest import auth, get, invite_and_accept, post
from tests.e2e.test_orders_flows import wait_import

pytestmark = pytest.mark.e2e

COLUMNS = {"Beleg": "id", "Lieferadresse": "address_line1", "Ort": "city", "Kunde": "recipient_name",
           "Stück": "package_count", "Intern": ""}
FILE = ("Beleg;Lieferadresse;Ort;Kunde;Stück;Intern\n"
        "M-1;1 Hauptstr;Bonn;Ann;2;x\n"
        "M-2;;Bonn;Bob;zwei;y\n").encode()


@pytest.fixture(scope="module")
def erp(stack, mailbox, admin_token):
    customer = post(stack, "/api/v1/admin/customers", {"name": f"ERP {uuid.uuid4().hex[:6]}"}, admin_token).json()
    email = f"erp.{uuid.uuid4().hex[:6]}@erp.example"
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"], email, "customer_admin")
    wait_for(lambda: get(stack, "/api/v1/orders", token).status_code == 200, timeout=20,
             what="orders to know the customer")
    return {"customer": customer, "token": token, "email": email}


def test_a_saved_mapping_a_preview_and_its_confirmation(stack, erp):
    token = erp["token"]
    saved = post(stack, "/api/v1/import-mappings", {"name": "ERP export", "columns": COLUMNS}, token)
    assert saved.status_code == 201 and saved.json()["is_default"]
    shown = requests.post(f"{stack.base}/api/v1/imports/preview", files={"file": ("erp.csv", FILE, "text/csv")},
                          data={"rows": "5"}, headers=auth(token), timeout=30)
    assert shown.status_code == 201, shown.text
    body = shown.json()
    assert body["import"]["status"] == "preview" and body["import"]["mapping_name"] == "ERP export"
    assert [r["errors"] for r in body["rows"]][0] == []
    assert {e["column"] for e in body["rows"][1]["errors"]} == {"address_line1", "package_count"}
    assert (body["good_rows"], body["bad_rows"], body["whole_file"]) == (1, 1, True)
    job = body["import"]
    assert get(stack, f"/api/v1/orders?import_id={job['id']}", token).json()["items"] == []
    confirmed = post(stack, f"/api/v1/imports/{job['id']}/confirm", {}, token)
    assert confirmed.status_code == 202 and confirmed.json()["status"] == "queued"
    assert post(stack, f"/api/v1/imports/{job['id']}/confirm", {}, token).status_code == 409
    done = wait_import(stack, token, job)
    assert (done["created"], done["error_count"]) == (1, 2)


def _message(to: str, sender: str, *files) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "Orders for today"
    message.set_content("Please import the attached file.")
    for name, data in files:
        message.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return message


def test_import_by_email_with_a_real_smtp_client(stack, erp, mailbox):
    token = erp["token"]
    post(stack, "/api/v1/import-mappings", {"name": "Mail", "columns": COLUMNS, "is_default": True}, token)
    made = post(stack, "/api/v1/import-address", {}, token)
    assert made.status_code == 200
    address = made.json()["address"]
    assert get(stack, "/api/v1/import-address", token).json()["address"] == address
    port = int(stack.env["IMPORT_MAIL_BIND"].rsplit(":", 1)[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        unknown = address.replace("import+", "import+0")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(_message(unknown, erp["email"], ("o.csv", FILE)))
        assert refused.value.recipients[unknown][0] == 550
        with pytest.raises(smtplib.SMTPDataError) as no_file:
            smtp.send_message(_message(address, erp["email"]))
        assert no_file.value.smtp_code == 550 and b"No CSV or XLSX" in no_file.value.smtp_error
        smtp.send_message(_message(address, erp["email"], ("orders.csv", FILE)))
    mailed = next(i for i in get(stack, "/api/v1/imports", token).json()["items"] if i["source"] == "email")
    done = wait_import(stack, token, mailed)
    assert done["status"] == "done" and done["mapping_name"] == "Mail" and done["unchanged"] + done["created"] == 1
    # the sender (one of the customer's users) hears the result through notify
    wait_for(lambda: any(m["To"] == erp["email"] and m["Subject"].startswith("Your import finished")
                         and done["id"] in m.get_body(("plain",)).get_content() for m in mailbox.messages),
             timeout=30, what="the result emailed to the sender")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_mail_too_large_is_refused(stack, erp):
    """Too large, two ways: an attachment over MAX_UPLOAD_BYTES (the listener's own check) and a
    message over what an upload can be as base64 (the SMTP layer's limit). A listener of its own
    with a small MAX_UPLOAD_BYTES, so the test sends kilobytes, not 25 MB."""
    address = post(stack, "/api/v1/import-address", {}, erp["token"]).json()["address"]
    port = free_port()
    proc = stack.run("mail-small", "-m", "services.common.run", "orders-mail-imports",
                     env={"MAX_UPLOAD_BYTES": "4096", "IMPORT_MAIL_BIND": f"127.0.0.1:{port}"})
    try:
        wait_for(lambda: _listening(port), timeout=30, what="the second mail listener")
        big = FILE + b"M-3;3 Hauptstr;Bonn;Cy;1;z\n" * 200            # ~5 KB > 4 KB
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as over:
                smtp.send_message(_message(address, erp["email"], ("big.csv", big)))
            assert over.value.smtp_code == 552 and b"larger than the upload limit" in over.value.smtp_error
        huge = b"x" * (1 << 20) + b"x" * 8192                           # over 4 KB * 4/3 + 1 MB
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused,
                                smtplib.SMTPServerDisconnected)) as message_over:
                smtp.send_message(_message(address, erp["email"], ("huge.csv", huge)))
            assert getattr(message_over.value, "smtp_code", 552) == 552
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
