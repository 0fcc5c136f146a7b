"""What the patient is told of the outbox reaches a screen reader (a polite live region that
speaks only when the status changes), and a joined phone asks the browser to keep its storage
(unsent records, the offline plan) without ever depending on the answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Clinic, join_in_browser, wait_for_screen, wait_outbox

pytestmark = pytest.mark.browser

# Counts changes to the sync status's content (what a live region reads out), not its attributes.
WATCH_SYNC = """() => {
  window.__syncChanges = 0;
  new MutationObserver((changes) => { window.__syncChanges += changes.length; })
    .observe(document.getElementById("sync"), { childList: true, characterData: true, subtree: true });
}"""


def sync_changes(page: Page) -> int:
    return page.evaluate("() => window.__syncChanges")


def test_the_sync_status_is_a_polite_live_region_that_speaks_only_on_a_change(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    patient = clinic.patient(name="Screen Reader")
    join_in_browser(page, clinic.invite(patient))
    status = page.locator("#sync")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_attribute("aria-atomic", "true")
    expect(status).to_have_text("All saved")

    # Redraws that change nothing (other screens, the network coming and going) say nothing.
    page.evaluate(WATCH_SYNC)
    for link in ("Progress", "More", "Today"):
        page.locator("#nav").get_by_role("link", name=link).click()
        page.wait_for_timeout(200)
    page.evaluate("() => { window.dispatchEvent(new Event('online')); }")
    page.wait_for_timeout(300)
    assert sync_changes(page) == 0

    # A record waiting is said, once.
    context.set_offline(True)
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    expect(status).to_contain_text("1")
    changed = sync_changes(page)
    assert changed >= 1
    page.locator("#nav").get_by_role("link", name="Progress").click()
    wait_for_screen(page, "progress")
    page.wait_for_timeout(300)
    assert sync_changes(page) == changed


# The browser's answer to persist(), made up by each test; the calls are counted.
PERSIST = """(answer) => {
  window.__persistCalls = 0;
  const storage = navigator.storage;
  if (answer === "missing") {
    Object.defineProperty(storage, "persist", { value: undefined, configurable: true });
    return;
  }
  storage.persisted = () => Promise.resolve(false);
  storage.persist = () => {
    window.__persistCalls += 1;
    if (answer === "throws") throw new DOMException("not allowed", "NotAllowedError");
    if (answer === "rejects") return Promise.reject(new DOMException("not allowed", "NotAllowedError"));
    return Promise.resolve(answer === "granted");
  };
}"""


def persist_calls(page: Page) -> int:
    return page.evaluate("() => window.__persistCalls")


@pytest.mark.parametrize("answer", ["refused", "granted"])
def test_a_joined_phone_asks_the_browser_to_keep_its_storage(page: Page, clinic: Clinic, answer: str) -> None:
    page.add_init_script(f"({PERSIST})({answer!r})")
    page.goto("/")
    wait_for_screen(page, "join")
    page.wait_for_timeout(300)
    assert persist_calls(page) == 0  # nothing to keep before joining

    join_in_browser(page, clinic.invite(clinic.patient(name=f"Keep {answer}")))
    page.wait_for_function("() => window.__persistCalls === 1")

    # Asked again at the next start (it may have been refused); the app works either way.
    page.reload()
    wait_for_screen(page, "today")
    page.wait_for_function("() => window.__persistCalls === 1")
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 0)


@pytest.mark.parametrize("answer", ["throws", "rejects", "missing"])
def test_a_browser_that_will_not_keep_storage_changes_nothing(page: Page, clinic: Clinic, answer: str) -> None:
    # No page error (the fixture fails the test on one), and the app joins, logs and sends.
    page.add_init_script(f"({PERSIST})({answer!r})")
    join_in_browser(page, clinic.invite(clinic.patient(name=f"No keep {answer}")))
    page.reload()
    wait_for_screen(page, "today")
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 0)
    expect(page.locator("#toast")).not_to_contain_text("Could not be saved")
