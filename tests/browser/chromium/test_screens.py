"""Every screen of the menu, for an operator and for a customer, on a desktop and on a phone:
it renders, logs no error (a CSP violation is one), and axe-core finds no serious or critical
accessibility problem. Screenshots land in tests/artifacts/browser/."""
import re
import uuid

import pytest
import requests

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
def customer_booker(stack, mailbox, admin_token):
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
def test_every_customer_screen_renders_clean(tabs, customer_booker, viewport, size):
    tab = tabs(viewport)
    tab.sign_in(*customer_booker)
    paths = walk_menu(tab, "customer", size)
    assert {"/orders", "/invoices"} <= set(paths) and not any(p.startswith("/admin") for p in paths)


def test_signed_out_pages_and_a_deep_link_go_through_sign_in(tabs, customer_booker):
    tab = tabs()
    page = tab.go("/invoices")
    page.wait_for_url("**/sign-in?next=%2Finvoices")
    tab.check("signed-out-sign-in")
    tab.field("Email").fill(customer_booker[0])
    tab.field("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("alert").filter(has_text="").first.wait_for()
    assert "/sign-in" in page.url
    tab.field("Password").fill(customer_booker[1])
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


def test_keyboard_alone_signs_in_and_works_the_bell(tabs, customer_booker):
    tab = tabs()
    page = tab.go("/sign-in")
    for _ in range(12):                      # from the top of the page to the email field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "email":
            break
    page.keyboard.type(customer_booker[0])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "password"
    page.keyboard.type(customer_booker[1])
    page.keyboard.press("Enter")
    page.locator("header .who").wait_for()
    bell = page.get_by_role("button", name=re.compile("^Notifications"))
    bell.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("button", name="Mark all read")
    panel.wait_for()
    tab.check("bell-open")
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent").startswith("Notifications")


def test_sso_through_the_portal_signs_the_browser_in_or_says_why_not(tabs, stack, oidc_provider, customer_booker):
    def provider_user(email):
        sub = f"sub-{uuid.uuid4().hex[:8]}"
        assert requests.put(f"{oidc_provider}/users/{sub}", json={"email": email, "email_verified": True},
                            timeout=10).status_code < 300
        return sub

    def round_trip(tab, sub):
        page = tab.go("/sign-in?next=%2Finvoices")
        page.get_by_role("link", name="Sign in with Mock").click()
        page.wait_for_url(f"{oidc_provider}/**")
        page.locator("input[name=sub]").fill(sub)
        page.locator("form").first.evaluate("f => f.submit()")
        page.wait_for_url(f"{stack.base}/**")
        return page

    tab = tabs()
    page = round_trip(tab, provider_user(customer_booker[0]))
    page.wait_for_url("**/invoices")
    page.locator("header .who").wait_for()
    tab.check("sso-signed-in")
    stranger = tabs()
    page = round_trip(stranger, provider_user(f"stranger.{uuid.uuid4().hex[:6]}@nowhere.example"))
    page.wait_for_url("**/sign-in?sso_error=**")
    page.get_by_role("alert").filter(has_text="invitation").wait_for()
    assert not [c for c in stranger.context.cookies() if c["name"] == "portal_session"]
