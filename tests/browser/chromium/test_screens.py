"""Every screen of the menu, for an operator and for a customer, on a desktop and on a phone:
it renders, logs no error (a CSP violation is one), and axe-core finds no serious or critical
accessibility problem. Screenshots land in tests/artifacts/browser/."""
import uuid

import pytest

from tests.browser.chromium.conftest import ADMIN, DESKTOP, PHONE
from tests.e2e.conftest import PASSWORD, invite_and_accept, post

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def menu_paths(tab) -> list[str]:
    links = tab.page.locator("nav#menu a")
    links.first.wait_for(state="attached")
    return sorted({links.nth(i).get_attribute("href") for i in range(links.count())})


def walk_menu(tab, who: str, size: str) -> list[str]:
    paths = menu_paths(tab)
    assert paths, f"{who} sees no menu"
    for path in paths:
        tab.go(path)
        tab.page.wait_for_selector("main h1")
        tab.check(f"{who}-{size}-{path.strip('/').replace('/', '-') or 'home'}")
    return paths


@pytest.fixture(scope="module")
def customer_user(stack, mailbox, admin_token):
    made = post(stack, "/api/v1/admin/customers", {"name": f"Screens {uuid.uuid4().hex[:6]}"}, admin_token).json()
    email = f"screens.{uuid.uuid4().hex[:6]}@customer.example"
    invite_and_accept(stack, mailbox, admin_token, made["id"], email, role="customer_admin")
    return email, PASSWORD


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_every_operator_screen_renders_clean(tabs, viewport, size):
    tab = tabs(viewport)
    tab.sign_in(*ADMIN)
    if size == "phone":                 # the menu folds behind its button on a phone
        toggle = tab.page.get_by_role("button", name="Menu")
        assert toggle.is_visible()
        toggle.click()
        assert tab.page.locator("nav#menu").is_visible()
    paths = walk_menu(tab, "operator", size)
    assert {"/admin/customers", "/admin/dispatch"} <= set(paths)


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_every_customer_screen_renders_clean(tabs, customer_user, viewport, size):
    tab = tabs(viewport)
    tab.sign_in(*customer_user)
    paths = walk_menu(tab, "customer", size)
    assert {"/orders", "/invoices"} <= set(paths) and not any(p.startswith("/admin") for p in paths)


def test_signed_out_pages_and_a_deep_link_go_through_sign_in(tabs, customer_user):
    tab = tabs()
    page = tab.go("/invoices")
    page.wait_for_url("**/sign-in?next=%2Finvoices")
    tab.check("signed-out-sign-in")
    tab.field("Email").fill(customer_user[0])
    tab.field("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("alert").filter(has_text="").first.wait_for()
    assert "/sign-in" in page.url
    tab.field("Password").fill(customer_user[1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/invoices")
    # the session is an HttpOnly cookie: nothing of it is visible to scripts or kept in storage
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    cookie = next(c for c in tab.context.cookies() if c["name"] == "portal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in**")
    assert not [c for c in tab.context.cookies() if c["name"] == "portal_session"]
