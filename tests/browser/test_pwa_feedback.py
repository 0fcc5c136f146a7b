"""What the patient sees after a tap: messages where the eyes are, and taps that are never lost
under a message."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Clinic, join_in_browser, wait_for_screen

pytestmark = pytest.mark.browser

TRAPEZIUS = [{"muscle": "upper-trapezius", "side": "left"}]


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
