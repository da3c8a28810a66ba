"""Browser tests: Debian's Chromium (never a browser downloaded by a test tool) driven by
Playwright against the whole platform, started as in tests/e2e (its fixtures are reused, so this
package gets its own stack). Each tab records console errors and CSP violations, runs axe-core
(from gateway/web/node_modules, installed by the README's commands) and saves screenshots to
tests/artifacts/browser/."""
import os
import re
import shutil
from pathlib import Path

import pytest

from services.common.config import ROOT
from tests.e2e import conftest as e2e

# The e2e package's fixtures, so that this package starts a stack of its own the same way.
stack, mailbox, oidc_provider, admin_token = e2e.stack, e2e.mailbox, e2e.oidc_provider, e2e.admin_token
ADMIN = e2e.ADMIN

CHROMIUM = os.environ.get("PORTAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Path(ROOT, "gateway/web/node_modules/axe-core/axe.min.js")
ARTIFACTS = Path(ROOT, "tests/artifacts/browser")
# The flags a root, headless, offline machine needs (no sandbox as root; no calls to Google).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM:
        pytest.skip("no Chromium: install Debian's chromium package (bin/portal test does, as root)")
    if not AXE.exists():
        pytest.fail("axe-core is missing: bin/portal test installs gateway/web's npm packages")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class Tab:
    """One signed-in (or not) browser context with a page, watching what goes wrong in it."""

    def __init__(self, browser, base: str, viewport=DESKTOP):
        self.context = browser.new_context(base_url=base, viewport=viewport, accept_downloads=True)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        # CSP violations are counted from the page's own securitypolicyviolation events, which
        # name the script that caused them: axe-core, evaluated by the test, names none.
        self.context.add_init_script("""window.__csp = [];
            document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
                `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} from ${e.sourceFile || '?'}:${e.lineNumber}`
                + (e.sourceFile ? '' : ' (test)')));""")
        # An API refusal (a 422 next to a field, a declined card) is part of a screen's work;
        # a 5xx, or an asset that is missing, is a defect. The browser's own "Failed to load
        # resource" lines are judged from the responses instead.
        self.page.on("console", lambda m: m.type == "error" and "Content Security Policy" not in m.text
                     and not m.text.startswith("Failed to load resource")
                     and self.problems.append(f"console: {m.text}"))
        self.page.on("response", lambda r: (r.status >= 500 or (r.status >= 400 and "/api/" not in r.url))
                     and self.problems.append(f"HTTP {r.status}: {r.request.method} {r.url}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def go(self, path: str):
        self.page.goto(path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def shot(self, name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def axe(self) -> list[str]:
        """Serious and critical accessibility violations on the page as it is now."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            # evaluated, not a <script> tag: the page's CSP (rightly) refuses inline scripts
            self.page.evaluate(AXE.read_text() + "\n;0")
        return self.page.evaluate("""() => axe.run(document, {resultTypes: ['violations']}).then(r =>
            r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
             .map(v => `${v.id}: ${v.help} @ ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`))""")

    def check(self, name: str):
        """Screenshot, then: no console error, no CSP violation, no serious axe violation."""
        self.shot(name)
        csp = [v for v in self.page.evaluate("window.__csp || []") if not v.endswith("(test)")]
        problems = list(self.problems) + [f"CSP: {v}" for v in csp]
        violations = self.axe()
        self.problems.clear()
        self.page.evaluate("window.__csp = []")
        assert not problems, f"{name}: {problems}"
        assert not violations, f"{name}: accessibility: {violations}"

    def field(self, label: str, root=None):
        """The field labelled exactly ``label`` (a required field's label ends in ' *')."""
        return (root or self.page).get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))

    def button(self, name: str, root=None):
        return (root or self.page).get_by_role("button", name=name, exact=True)

    def sign_in(self, email: str, password: str):
        page = self.go("/sign-in")
        self.field("Email").fill(email)
        self.field("Password").fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(lambda url: "/sign-in" not in url)
        page.locator("header .who").wait_for()      # the signed-in header is drawn
        page.locator("main h1").wait_for()
        return page

    def close(self):
        self.context.close()


@pytest.fixture
def tabs(browser, stack):
    opened: list[Tab] = []

    def open_tab(viewport=DESKTOP) -> Tab:
        tab = Tab(browser, stack.base, viewport)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


@pytest.fixture(scope="package")
def admin_credentials():
    return ADMIN
