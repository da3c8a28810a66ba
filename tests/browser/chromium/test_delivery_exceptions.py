"""The recipient's side of a failed delivery in Chromium: the tracking page (no sign-in) shows
the problem and a labelled form, asks the sender for leave-at instructions and shows that the
request waits; console, CSP and axe clean before and after."""
import pytest

from tests.conftest import wait_for
from tests.e2e.conftest import get
from tests.e2e.test_delivery_exceptions import failed_delivery

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_the_recipient_asks_where_to_leave_a_failed_delivery_on_the_tracking_page(tabs, stack, mailbox, admin_token,
                                                                                  amqp_uri):
    ours, made, link, _drop = failed_delivery(stack, mailbox, admin_token, amqp_uri)
    wait_for(lambda: get(stack, "/api/v1/delivery-exceptions", ours["token"], params={"status": "open"}).json()["total"],
             timeout=20, what="orders to open the exception")
    tab = tabs()
    page = tab.go(f"/t/{link['token']}")
    section = page.locator("#exception-section")
    section.get_by_role("heading", name="We could not deliver your parcel.").wait_for()
    tab.check("track-exception-form")
    page.get_by_label("What would help?").select_option("instructions")
    page.get_by_label("Leave it (e.g. with the neighbour at number 12)").fill("With the neighbour at number 12")
    section.get_by_role("button", name="Send to the sender").click()
    section.get_by_text("waiting for the sender's answer").wait_for()
    assert section.get_by_role("button", name="Send to the sender").count() == 0
    tab.check("track-exception-asked")
