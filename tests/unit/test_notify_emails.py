"""The notify service's email templates, rendered the way recipients get them: every kind in
both parts, subjects naming what the email is about, absolute links into the portal, customers'
text escaped in HTML and literal in plain text, the unsubscribe line only where it belongs, the
operator's branding (and a hostile brand colour refused), times in the operator's time zone."""
import re

import pytest
from jinja2 import UndefinedError

from services.notify import emails
from services.notify.emails import KINDS, TRANSACTIONAL, render

PORTAL = "https://portal.example.com"
ORDER = {"id": "0b9f2c4e-5d6a-4f1e-9c3b-2a7d8e6f1a00", "reference": "PO-4471", "kind": "delivery"}
EUR = {"amount": "1234.50", "currency": "EUR"}

SAMPLES = {
    "invite": {"customer_name": "Acme Retail", "link": f"{PORTAL}/accept-invite#token=secret",
               "expires_at": "2026-12-03T14:05:00Z"},
    "activation": {"email": "ann@acme.example", "password": "Tmp-9f3k-Qx", "sign_in_url": f"{PORTAL}/sign-in"},
    "password_reset": {"link": f"{PORTAL}/reset-password#token=secret", "valid_minutes": 30},
    "order_submitted": {"order": ORDER},
    "order_scheduled": {"order": ORDER, "first_window_start": "2026-12-03T08:00:00Z",
                        "first_window_end": "2026-12-03T10:00:00Z"},
    "order_out_for_delivery": {"order": ORDER, "eta": "2026-12-03T09:15:00Z"},
    "order_delivered": {"order": ORDER, "delivered_at": "2026-12-03T09:20:00Z",
                        "pod": {"recipient_name": "J. Jansen", "comments": "Left at reception",
                                "photos": 2, "signed": True}},
    "order_failed": {"order": ORDER, "reason": "Nobody at the address", "failed_at": "2026-12-03T09:20:00Z"},
    "order_cancelled": {"order": ORDER},
    "order_late": {"order": ORDER, "eta": "2026-12-03T11:30:00Z", "window_end": "2026-12-03T10:00:00Z"},
    "order_approval_requested": {"order": ORDER, "total": EUR, "limit": {"amount": "1000.00", "currency": "EUR"}},
    "order_approval_decided": {"order": ORDER, "approved": False, "reason": "Use the <cheaper> carrier"},
    "message_posted": {"order": ORDER, "conversation_id": "c-1", "subject": "Pallet count",
                       "preview": "Can you bring\ntwo extra pallets?", "from_operator": True},
    "quote_sent": {"quote": {"id": "q-1", "number": "Q-2026-0012", "total": EUR, "valid_until": "2026-12-17"}},
    "quote_requested": {"quote": {"id": "q-1", "number": "Q-2026-0012"}, "customer_name": "Acme Retail",
                        "changes": False},
    "invoice_issued": {"invoice": {"id": "i-1", "number": "INV-2026-0042", "total": EUR, "due_date": "2027-01-02"}},
    "invoice_overdue": {"invoice": {"id": "i-1", "number": "INV-2026-0042", "total": EUR, "due_date": "2027-01-02"}},
    "payment_received": {"payment": {"id": "p-1", "amount": EUR, "invoice_id": "i-1",
                                     "invoice_number": "INV-2026-0042"}},
    "payment_failed": {"payment": {"id": "p-2", "amount": EUR, "invoice_id": "i-1", "invoice_number": "INV-2026-0042",
                                   "card": "Visa ending 4242", "failure_message": "Your card has insufficient funds."}},
    "import_finished": {"import_": {"id": "imp-1", "created": 48, "errors": 2}},
    "request_received": {"what": "reschedule", "customer_name": "Acme Retail", "order": ORDER, "request_id": "r-1"},
    "terms_published": {"version": 3},
    "webhook_disabled": {"endpoint": {"id": "wh-1", "url": "https://hooks.acme.example/portal"},
                         "reason": "20 deliveries failed in a row", "last_status_code": 503},
}
# The link each kind's call to action opens.
LINKS = {"terms_published": "/#terms",
         "order_submitted": f"/orders/{ORDER['id']}", "order_approval_requested": f"/orders/{ORDER['id']}",
         "order_approval_decided": f"/orders/{ORDER['id']}", "quote_sent": "/quotes/q-1",
         "quote_requested": "/quotes/q-1", "invoice_issued": "/invoices/i-1",
         "invoice_overdue": "/invoices/i-1", "payment_received": "/invoices/i-1", "payment_failed": "/invoices/i-1",
         "import_finished": "/imports/imp-1", "message_posted": "/conversations/c-1",
         "webhook_disabled": "/profile/webhooks/wh-1", "request_received": "/admin/requests/r-1"}


@pytest.fixture(autouse=True)
def branding(monkeypatch):
    monkeypatch.setenv("PORTAL_OPERATOR_NAME", "Northwind Freight")
    monkeypatch.setenv("PORTAL_URL", PORTAL + "/")
    monkeypatch.setenv("PORTAL_BRAND_COLOR", "#aa3300")
    monkeypatch.setenv("PORTAL_TIMEZONE", "UTC")
    monkeypatch.delenv("BILLING_EMAIL", raising=False)


def with_order(kind: str, **order) -> dict:
    return {**SAMPLES[kind], "order": {**ORDER, **order}}


def test_every_kind_has_a_sample():
    """A new kind without a sample here would go untested."""
    assert KINDS == set(SAMPLES)
    assert TRANSACTIONAL == {"invite", "activation", "password_reset", "webhook_disabled"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_both_parts(kind):
    """Subject, text and HTML are all there, greet the recipient and carry the operator's name,
    and the call to action opens an absolute link into the portal."""
    email = render(kind, SAMPLES[kind], recipient_name="Ann")
    assert email.subject and "\n" not in email.subject
    assert email.text.startswith("Hello Ann,\n")
    assert "<p>Hello Ann,</p>" in email.html
    assert "Northwind Freight" in email.text and "Northwind Freight" in email.html
    assert f"<title>{email.subject}</title>" in email.html
    assert "{{" not in email.text + email.html and "{%" not in email.text + email.html
    hrefs = re.findall(r'href="([^"]+)"', email.html)
    assert hrefs and all(h.startswith(PORTAL + "/") for h in hrefs)
    assert re.search(r": https://portal\.example\.com/\S+\n", email.text)   # the link written out
    if kind in LINKS:
        assert f'href="{PORTAL}{LINKS[kind]}"' in email.html
        assert f"{PORTAL}{LINKS[kind]}\n" in email.text


def test_greeting_without_a_name():
    email = render("order_cancelled", SAMPLES["order_cancelled"])
    assert email.text.startswith("Hello,\n") and "<p>Hello,</p>" in email.html


@pytest.mark.parametrize("kind", ["order_submitted", "order_scheduled", "order_delivered",
                                  "order_failed", "order_cancelled", "order_late"])
def test_order_subjects_name_the_reference(kind):
    """People tell orders apart by their own reference; without one, by the start of the id."""
    assert "PO-4471" in render(kind, SAMPLES[kind]).subject
    assert "0b9f2c4e" in render(kind, with_order(kind, reference=None)).subject


def test_subjects_of_billing_emails_name_the_document():
    assert render("invoice_issued", SAMPLES["invoice_issued"]).subject == "Invoice INV-2026-0042 from Northwind Freight"
    assert render("invoice_overdue", SAMPLES["invoice_overdue"]).subject == "Invoice INV-2026-0042 is overdue"
    assert render("quote_sent", SAMPLES["quote_sent"]).subject == "Quote Q-2026-0012 from Northwind Freight"
    assert render("payment_received", SAMPLES["payment_received"]).subject == "Payment of EUR 1,234.50 received"
    assert render("invite", SAMPLES["invite"]).subject == (
        "Northwind Freight invites you to the Acme Retail customer portal")


def test_out_for_delivery_subject_says_the_eta_when_known():
    assert render("order_out_for_delivery", SAMPLES["order_out_for_delivery"]).subject == (
        "Order PO-4471 is out for delivery, expected Thu 3 Dec 2026, 09:15 UTC")
    unknown = render("order_out_for_delivery", {**SAMPLES["order_out_for_delivery"], "eta": None})
    assert unknown.subject == "Order PO-4471 is out for delivery"


def test_customer_text_is_escaped_in_html_and_literal_in_text():
    """A reference, a name or a message is whatever a customer typed: markup in it must show as
    text in the HTML part (never run), and unchanged in the plain part."""
    script = "<script>alert(1)</script>"
    name = 'Tom & "Jerry" <co>'
    email = render("order_delivered", {**with_order("order_delivered", reference=script),
                                       "pod": {"recipient_name": name, "comments": script,
                                               "photos": 0, "signed": False}},
                   recipient_name=name)
    assert script not in email.html and "<co>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Tom &amp; &#34;Jerry&#34; &lt;co&gt;" in email.html
    assert script in email.text and f"Hello {name}," in email.text and f"Received by: {name}" in email.text
    assert script in email.subject
    preview = render("message_posted", {**SAMPLES["message_posted"], "preview": '<img src=x onerror="1">'})
    assert "<img" not in preview.html and '> <img src=x onerror="1">' in preview.text


def test_a_value_with_newlines_keeps_the_subject_on_one_line():
    email = render("message_posted", {**SAMPLES["message_posted"], "order": None,
                                      "subject": "Hi\r\nBcc: victim@example.com"})
    assert email.subject == "New message from Northwind Freight: Hi Bcc: victim@example.com"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unsubscribe_line_only_outside_transactional_emails(kind):
    """Invitations, passwords and a disabled webhook are sent whatever the settings say, so they
    offer no unsubscribe; every other email does when it is given the link."""
    url = f"{PORTAL}/unsubscribe?token=abc&kind={kind}"
    email = render(kind, SAMPLES[kind], unsubscribe_url=url)
    if kind in TRANSACTIONAL:
        assert "Unsubscribe" not in email.text and "Unsubscribe" not in email.html
    else:
        assert ("You receive this email because of your notification settings. "
                f"Unsubscribe from these emails: {url}") in email.text
        assert f'href="{url.replace("&", "&amp;")}"' in email.html
    assert "Unsubscribe" not in render(kind, SAMPLES[kind]).text


def test_a_long_subject_is_cut(monkeypatch):
    """A webhook URL may be 2,000 characters; the subject stops at MAX_SUBJECT with an ellipsis."""
    context = {**SAMPLES["webhook_disabled"], "endpoint": {"id": "wh-1", "url": "https://x.example/" + "a" * 2000}}
    subject = render("webhook_disabled", context).subject
    assert len(subject) == emails.MAX_SUBJECT and subject.endswith("a\u2026")


def test_payment_without_an_invoice_links_to_the_payments():
    payment = {**SAMPLES["payment_received"]["payment"], "invoice_id": None, "invoice_number": None}
    email = render("payment_received", {"payment": payment})
    assert f"View your payments: {PORTAL}/payments\n" in email.text
    assert "received your payment of EUR 1,234.50. Thank you." in email.text


def test_billing_contact_in_the_footer(monkeypatch):
    assert "Questions?" not in render("invoice_issued", SAMPLES["invoice_issued"]).text
    monkeypatch.setenv("BILLING_EMAIL", "billing@northwind.example")
    email = render("invoice_issued", SAMPLES["invoice_issued"])
    assert "Questions? Write to billing@northwind.example" in email.text
    assert 'href="mailto:billing@northwind.example"' in email.html


def test_brand_colour_and_a_hostile_one(monkeypatch):
    """The colour goes into style attributes, where HTML escaping cannot stop CSS: anything but
    a hex colour is replaced by the default."""
    assert "background:#aa3300;" in render("order_submitted", SAMPLES["order_submitted"]).html
    monkeypatch.setenv("PORTAL_BRAND_COLOR", "red;background:url(x)")
    html = render("order_submitted", SAMPLES["order_submitted"]).html
    assert "url(x)" not in html and "background:#1f4e79;" in html


def test_times_in_the_portal_time_zone(monkeypatch):
    """14:05Z on a winter day is 15:05 in Amsterdam; dates follow the zone too."""
    monkeypatch.setenv("PORTAL_TIMEZONE", "Europe/Amsterdam")
    context = {**SAMPLES["order_out_for_delivery"], "eta": "2026-12-03T14:05:00Z"}
    email = render("order_out_for_delivery", context)
    assert "Expected arrival: Thu 3 Dec 2026, 15:05 CET." in email.text
    assert email.subject.endswith("expected Thu 3 Dec 2026, 15:05 CET")
    assert emails.day("2026-12-31T23:30:00+00:00") == "1 January 2027"
    assert emails.day("2026-12-31") == "31 December 2026"
    monkeypatch.setenv("PORTAL_TIMEZONE", "America/New_York")
    assert "Thu 3 Dec 2026, 09:05 EST" in render("order_out_for_delivery", context).text


def test_late_order_without_a_new_eta():
    email = render("order_late", {**SAMPLES["order_late"], "eta": None})
    assert "Expected arrival: not known yet." in email.text


def test_money_separates_thousands_and_keeps_the_decimals():
    assert emails.money({"amount": "1234567.50", "currency": "EUR"}) == "EUR 1,234,567.50"
    assert emails.money({"amount": "150000", "currency": "JPY"}) == "JPY 150,000"
    assert emails.money({"amount": "12.345", "currency": "KWD"}) == "KWD 12.345"
    assert emails.money(None) == ""
    assert "Amount: EUR 1,234.50\n" in render("invoice_issued", SAMPLES["invoice_issued"]).text


def test_delivery_proof_and_import_counts_read_naturally():
    delivered = render("order_delivered", SAMPLES["order_delivered"]).text
    assert "Received by: J. Jansen" in delivered and "Comments: Left at reception" in delivered
    assert "The proof of delivery is on the order page: 2 photos and a signature." in delivered
    one_photo = {**SAMPLES["order_delivered"], "pod": {"recipient_name": None, "comments": None,
                                                        "photos": 1, "signed": False}}
    assert "on the order page: 1 photo." in render("order_delivered", one_photo).text
    assert render("import_finished", SAMPLES["import_finished"]).subject == (
        "Your import finished: 48 orders created, 2 rows with errors")
    clean = render("import_finished", {"import_": {"id": "imp-1", "created": 1, "errors": 0}})
    assert clean.subject == "Your import finished: 1 order created, no errors"


def test_activation_says_the_password_is_temporary():
    email = render("activation", SAMPLES["activation"])
    assert "Temporary password: Tmp-9f3k-Qx" in email.text
    assert "choose your own when you first sign in" in email.text
    assert f'href="{PORTAL}/sign-in"' in email.html


def test_missing_context_key_fails_loudly():
    """StrictUndefined: a forgotten key is a bug in the caller, not a blank in someone's email."""
    with pytest.raises(UndefinedError):
        render("invoice_issued", {})
    with pytest.raises(UndefinedError):
        render("order_late", {"order": ORDER, "eta": None})   # window_end missing


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown email kind"):
        render("order_teleported", {"order": ORDER})
