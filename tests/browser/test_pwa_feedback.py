"""What the patient sees after a tap: messages where the eyes are, taps that are never lost under a
message, and one way back to today."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Clinic, join_in_browser, local_today, wait_for_screen

pytestmark = pytest.mark.browser

TRAPEZIUS = [{"muscle": "upper-trapezius", "side": "left"}]
DAY_BEFORE = "\u2039 Day before"
NEXT_DAY = "Next day \u203a"


def test_check_in_saved_without_a_soreness_says_why_in_view(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Olga")))
    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.locator(".flag-option").first.click()
    page.get_by_role("button", name="Save check-in").click()
    # Save takes the patient up to the numbers; the reason must be there too, not far below.
    expect(page.get_by_role("radio", name="0", exact=True)).to_be_focused()
    message = page.get_by_role("alert").filter(has_text="Please choose how sore you are")
    expect(message).to_be_in_viewport()
    page.get_by_role("radio", name="2", exact=True).check()
    expect(message).to_have_count(0)


def test_a_tap_on_the_message_after_a_tick_reaches_what_it_covers(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Pia")))
    page.locator("button.check").first.click()
    toast = page.locator("#toast")
    expect(toast).to_contain_text("Done:")
    box = toast.bounding_box()
    assert box is not None
    under = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#toast') === null",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert under, "a tap on the message is lost: it does not reach the screen under it"


def _daynav(page: Page) -> list[tuple[str, str]]:
    links = page.locator("nav.daynav a")
    return [(a.inner_text().strip(), a.get_attribute("href") or "") for a in links.all()]


def test_next_to_today_one_link_leads_back_to_it(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(TRAPEZIUS, treated_on=local_today() - dt.timedelta(days=3), name="Rita")
    join_in_browser(page, clinic.invite(patient))
    today = local_today()
    assert _daynav(page) == [
        (DAY_BEFORE, f"#/day/{today - dt.timedelta(days=1)}"),
        (NEXT_DAY, f"#/day/{today + dt.timedelta(days=1)}"),
    ]
    page.get_by_role("link", name=NEXT_DAY).click()
    wait_for_screen(page, "day")
    assert _daynav(page) == [
        ("Back to today", "#/today"),
        (NEXT_DAY, f"#/day/{today + dt.timedelta(days=2)}"),
    ]
    page.get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")
    page.get_by_role("link", name=DAY_BEFORE).click()
    wait_for_screen(page, "day")
    assert _daynav(page) == [
        (DAY_BEFORE, f"#/day/{today - dt.timedelta(days=2)}"),
        ("Back to today", "#/today"),
    ]
    # Further away, both neighbours and the way back.
    page.get_by_role("link", name=DAY_BEFORE).click()
    expect(page.locator("nav.daynav a")).to_have_count(3)
    page.get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")
    # The Today tab is marked as where the patient is.
    expect(page.locator("#nav").get_by_role("link", name="Today")).to_have_attribute("aria-current", "page")


def test_a_tap_on_all_saved_says_what_it_means(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Sol")))
    status = page.locator("#sync")
    expect(status).to_have_text("All saved")
    status.click()
    expect(page.locator("#toast")).to_have_text("Everything you logged has reached your clinic.")
