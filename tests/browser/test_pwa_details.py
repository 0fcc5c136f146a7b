"""Small things a review of the patient app found: an address with a date no calendar has, done
circles of a day still to come, tab labels on the narrowest phones, repeated items a screen
reader must tell apart, and the Sound button's state seen without colour."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Clinic,
    join_in_browser,
    wait_for_screen,
)

pytestmark = pytest.mark.browser

TRAPEZIUS = [{"muscle": "upper-trapezius", "side": "left"}]


def visit(page: Page, hash_: str, screen: str) -> None:
    page.evaluate("h => { location.hash = h; }", hash_)
    wait_for_screen(page, screen)


def test_an_address_with_a_date_no_calendar_has_shows_today(page: Page, clinic: Clinic) -> None:
    """A mangled or impossible date shows Today (an exercise: "not found"), never a page error (the
    page fixture fails on one) and never another day."""
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Rosa")))
    exercise = page.locator("li.entry[data-slot='morning']").first.get_attribute("data-exercise")
    today_heading = "Hello Rosa"
    for address in ("#/day/garbage", "#/day/2026-02-30", "#/day/2026-13-01", "#/day/0000-01-01"):
        # From another screen, so a screen left as it was would show.
        visit(page, "#/progress", "progress")
        page.evaluate("h => { location.hash = h; }", address)
        expect(page.locator("h1")).to_have_text(today_heading)
        assert page.evaluate("location.hash") == "#/today", address
        expect(page.locator("#nav a[href='#/today']")).to_have_attribute("aria-current", "page")

    visit(page, "#/progress", "progress")
    page.evaluate("h => { location.hash = h; }", "#/checkin/2026-02-30")
    wait_for_screen(page, "checkin")
    assert page.evaluate("location.hash") == "#/checkin"

    # A reminder for a day that does not exist opens Today.
    visit(page, "#/progress", "progress")
    page.evaluate("h => { location.hash = h; }", "#today?slot=morning&date=2026-02-30")
    expect(page.locator("h1")).to_have_text(today_heading)
    assert page.evaluate("location.hash") == "#/today"

    for date in ("garbage", "2026-02-30"):
        visit(page, "#/progress", "progress")
        page.evaluate("h => { location.hash = h; }", f"#/ex/{date}/morning/{exercise}")
        expect(page.locator("h1")).to_have_text("We could not find this.")
        expect(page.get_by_role("link", name="Back to today")).to_be_visible()
