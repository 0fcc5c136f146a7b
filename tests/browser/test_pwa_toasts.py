"""The app's short messages at the foot of the screen (app.toast), in real Chromium on a clock the
test moves: each one stays long enough to read, two at once each keep their own time, and each is
put in the live region once.

Found walking the patient app: "Español needs an internet connection the first time..." went after
4 s, like "Saved", too short to read.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Clinic, join_in_browser, screenshot, stored_records, wait_for_screen
from tests.browser.test_pwa_lang_shell import more_language, wait_shell_langs
from tests.browser.test_pwa_outbox_faults import wait_until

pytestmark = pytest.mark.browser

LONG = "Español needs an internet connection the first time. Connect and try again; after that it works offline too."
SHORT = "Everything you logged has reached your clinic."


def live_region(page: Page) -> dict[str, object]:
    """How the browser tells screen readers to read #toast (its live-region properties)."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        found = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#toast"})["nodeId"]
        nodes = cdp.send("Accessibility.getPartialAXTree", {"nodeId": found, "fetchRelatives": False})["nodes"]
        [node] = [n for n in nodes if n.get("role", {}).get("value") == "status"]
    finally:
        cdp.detach()
    return {p["name"]: p["value"].get("value") for p in node.get("properties", [])}


def shown(page: Page) -> list[str]:
    return page.locator("#toast p").all_text_contents()


def test_a_long_message_stays_long_enough_to_read_and_two_at_once_keep_their_own_time(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    page.clock.install()
    join_in_browser(page, clinic.invite(clinic.patient(name="Reader")))
    wait_shell_langs(page, ["/i18n/en.js"])
    context.set_offline(True)
    toast = page.locator("#toast")

    # 4 s and 60 ms a character: about 11 s for this one.
    more_language(page, "Español")
    expect(toast).to_have_text(LONG)
    page.clock.run_for(8_000)
    assert shown(page) == [LONG]
    page.clock.run_for(3_500)
    expect(toast).to_have_text("")

    # Two at once: both shown, each once (the live region reads each addition once); the short
    # one goes first, the long one stays its own time.
    page.get_by_role("button", name="Español").click()
    expect(toast).to_have_text(LONG)
    page.locator("#sync").click()
    expect(toast.locator("p")).to_have_count(2)
    assert shown(page) == [LONG, SHORT]
    screenshot(page, "toast-two-at-once")
    # Each read out once: only what is added, not the whole region again (role=status alone is
    # atomic, so the first message was read again with the second).
    said = live_region(page)
    assert (said["live"], said["atomic"], said["relevant"]) == ("polite", False, "additions text"), said
    # Told apart: a line between them.
    assert toast.locator("p").nth(1).evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"
    page.clock.run_for(7_500)
    assert shown(page) == [LONG]
    page.clock.run_for(4_000)
    expect(toast).to_have_text("")


def test_a_message_about_a_screen_goes_when_another_screen_opens_and_one_for_the_next_screen_stays(
    page: Page, clinic: Clinic
) -> None:
    """The "Done: ..." of a tick on Today stayed up for seconds on the exercise opened next, over its
    first steps on a 320 px phone."""
    page.clock.install()
    page.set_viewport_size({"width": 320, "height": 640})
    join_in_browser(page, clinic.invite(clinic.patient(name="Tidy")))
    toast = page.locator("#toast")
    page.locator("li.entry button.check").first.click()
    expect(toast).to_have_text(re.compile(r"^Done: "))
    page.locator("li.entry a.entry-main").nth(1).click()
    wait_for_screen(page, "ex")
    expect(toast).to_have_text("")

    # A message the next screen is for stays with it: a check-in saved, then Today.
    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.get_by_role("radio", name="2", exact=True).check()
    page.get_by_role("button", name="Save check-in").click()
    wait_for_screen(page, "today")
    expect(toast).to_have_text("Check-in saved.")
    # A message said on the screen now open stays beside it.
    page.locator("li.entry button.check").nth(1).click()
    expect(toast.locator("p")).to_have_count(2)
    expect(toast.locator("p").nth(1)).to_have_text(re.compile(r"^Done: "))


# Holds this phone's storage (a write transaction kept busy) until window.release() is called, so
# a tap's work waits there as on a slow phone.
HOLD_STORAGE = """() => new Promise((resolve, reject) => {
  const r = indexedDB.open("unknot");
  r.onsuccess = () => {
    const db = r.result;
    const kv = db.transaction(["kv", "records"], "readwrite").objectStore("kv");
    let held = true;
    window.release = () => { held = false; };
    const spin = () => { if (held) kv.get("token").onsuccess = spin; else db.close(); };
    spin();
    resolve();
  };
  r.onerror = () => reject(r.error);
})"""


def test_a_message_about_a_tap_is_not_said_on_a_screen_opened_before_the_tap_was_done(
    page: Page, clinic: Clinic
) -> None:
    """ "Done: ..." of a tick on Today, and "Not now"'s word of where reminders are, were said once
    the phone had stored the tap, on whatever screen was open by then (a slow phone, a quick
    patient), and stayed there as if about it."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Quick")))
    toast = page.locator("#toast")
    check = page.locator("li.entry button.check").first
    page.evaluate(HOLD_STORAGE)
    check.click()
    page.locator("#nav").get_by_role("link", name="Progress").click()
    wait_for_screen(page, "progress")
    page.evaluate("window.release()")
    wait_until(page, lambda: len(stored_records(page)) == 1, "the tick stored")
    page.wait_for_timeout(300)
    expect(toast).to_have_text("")
    page.locator("#nav").get_by_role("link", name="Today").click()
    wait_for_screen(page, "today")
    expect(check).to_have_attribute("aria-pressed", "true")

    # Today's invitation to set reminders, turned down: said on Today, not on the screen opened since.
    expect(page.locator("body")).to_have_attribute("data-push", "off", timeout=15_000)
    page.evaluate(HOLD_STORAGE)
    page.get_by_role("button", name="Not now").click()
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    page.evaluate("window.release()")
    page.wait_for_timeout(500)
    expect(toast).to_have_text("")
