"""What the patient sees after a tap: taps that are never lost under a message."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Clinic, join_in_browser

pytestmark = pytest.mark.browser

TRAPEZIUS = [{"muscle": "upper-trapezius", "side": "left"}]


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
