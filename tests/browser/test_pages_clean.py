"""Every page of the patient app and the console loads with no console error and no CSP violation.

The server's Content-Security-Policy has no 'unsafe-inline': an inline script or style anywhere
would show up here as a violation (issue 10).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from tests.browser.conftest import Clinic, LiveServer, join_in_browser, new_context, wait_for_worker
from tests.browser.console_helpers import PASSWORD, ConsoleAccount, goto_view, wait_view

pytestmark = pytest.mark.browser

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


# The console asks who is signed in when it opens; signed out, that answer is a 401 by design.
EXPECTED = {("/api/v1/auth/me", "401")}


class Watch:
    """Console errors, page errors and CSP violations of one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.add_init_script(WATCH)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if any(url.endswith(path) and f"status of {status}" in message.text for path, status in EXPECTED):
            return
        self.errors.append(f"console error at {url}: {message.text}")

    def check(self, where: str) -> None:
        self.page.wait_for_timeout(150)
        violations = self.page.evaluate("window.__violations || []")
        assert not violations, f"{where}: CSP violations {violations}"
        assert not self.errors, f"{where}: {self.errors}"


@pytest.fixture
def fresh(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = new_context(browser, live_server)
    yield context
    context.close()


def test_every_patient_screen_is_clean(fresh: BrowserContext, clinic: Clinic) -> None:
    page = fresh.new_page()
    watch = Watch(page)
    page.goto("/")
    watch.check("join screen")
    join_in_browser(page, clinic.invite(clinic.patient(name="Clean Carla")))
    wait_for_worker(page)
    watch.check("today")
    for hash_ in ("#/checkin", "#/progress", "#/more", "#/reminders", "#/help", "#/today"):
        page.evaluate("h => { location.hash = h; }", hash_)
        page.wait_for_load_state("networkidle")
        watch.check(hash_)
    page.locator("li.entry a, li.entry button.open, li.entry .title").first.click()
    page.wait_for_load_state("networkidle")
    watch.check("exercise")
    page.reload()
    page.wait_for_load_state("networkidle")
    watch.check("reload under the service worker")


def test_every_console_view_is_clean(browser: Browser, live_server: LiveServer) -> None:
    account = ConsoleAccount.create(live_server, name="Clean Console")
    patient = account.patient("Clean Carlos", treated=[{"muscle": "scalenes", "side": "left"}])
    context = new_context(browser, live_server, service_workers="block")
    try:
        page = context.new_page()
        watch = Watch(page)
        page.goto("/console/")
        wait_view(page, "signin")
        watch.check("sign-in")
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        wait_view(page, "patients")
        watch.check("patients")
        pid = patient["id"]
        for hash_, view in (
            (f"#/patients/{pid}", "patient"),
            (f"#/patients/{pid}/treat", "treat"),
            (f"#/patients/{pid}/handover", "handover"),
            ("#/help", "help"),
            ("#/account", "account"),
        ):
            goto_view(page, hash_, view)
            page.wait_for_load_state("networkidle")
            watch.check(view)
    finally:
        context.close()
        account.close()
