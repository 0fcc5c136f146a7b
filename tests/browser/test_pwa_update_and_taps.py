"""What a slip must not lose: a shaky double tap on a done mark taking the mark straight back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    join_in_browser,
    stored_records,
    wait_outbox,
)
from tests.browser.test_pwa_records import server_rows, wait_rows

pytestmark = pytest.mark.browser


def test_a_double_tap_on_a_done_mark_leaves_it_done(page: Page, clinic: Clinic, live_server: LiveServer) -> None:
    patient = clinic.patient(name="Rosa")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    first = page.locator("li.entry").first
    entry = page.locator(
        f"li.entry[data-exercise='{first.get_attribute('data-exercise')}'][data-slot='{first.get_attribute('data-slot')}']"
    )
    check = entry.locator("button.check")

    # Two taps 100 ms apart, the second after the first has been stored and the mark drawn again.
    check.click()
    expect(check).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(100)
    check.click()
    page.wait_for_timeout(300)
    expect(check).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#toast")).not_to_contain_text("Taken back")
    assert len(stored_records(page)) == 1

    # A tap well after the first is meant: the mark is taken back, as before.
    page.clock.run_for(1_500)
    check.click()
    expect(page.locator("#toast")).to_contain_text("Taken back")
    expect(check).to_have_attribute("aria-pressed", "false")
    wait_outbox(page, 0)
    assert stored_records(page) == []

    # A real double click, then the mark is sent: the clinic gets it once.
    page.clock.run_for(1_500)
    check.dblclick()
    page.wait_for_timeout(300)
    expect(check).to_have_attribute("aria-pressed", "true")
    wait_outbox(page, 1)
    page.clock.run_for(9_000)
    wait_outbox(page, 0)
    assert len(wait_rows(page, live_server, "completion", patient.id, 1)) == 1
    page.wait_for_timeout(300)
    assert len(server_rows(live_server, "completion", patient.id)) == 1
    assert [r["state"] for r in stored_records(page)] == ["sent"]
