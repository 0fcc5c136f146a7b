"""What the header's outbox status (#sync) says while a record waits on the phone, in real
Chromium against the real server.

Found walking the patient app: a tick on Today showed "1 to send" for 8 s while the phone was
online, only because the app holds it back for a tap to take it back (and a done exercise for its
pain answer): nothing was wrong with the network, but the header looked as if something were.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Clinic, LiveServer, join_in_browser, wait_for_screen, wait_outbox
from tests.browser.test_pwa_outbox_faults import server_completions
from tests.browser.test_pwa_records import MARK_DONE, open_exercise

pytestmark = pytest.mark.browser


def test_a_record_held_for_the_patient_online_is_not_to_send_and_offline_it_is(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Calm")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    status = page.locator("#sync")
    checks = page.locator("li.entry button.check")

    # Online, a tick waits 8 s for a tap to take it back: on the phone (data-count), not "to send".
    checks.nth(0).click()
    expect(status).to_have_attribute("data-count", "1")
    expect(status).to_have_text("All saved")
    expect(status).not_to_have_class(re.compile(r"\bwaiting\b"))
    page.clock.run_for(9_000)
    wait_outbox(page, 0)
    assert len(server_completions(live_server, patient.id)) == 1

    # Gone offline while one is held: now it waits for the network, and the header says so.
    checks.nth(1).click()
    expect(status).to_have_attribute("data-count", "1")
    expect(status).to_have_text("All saved")
    context.set_offline(True)
    expect(status).to_have_text("1 to send")
    expect(status).to_have_class(re.compile(r"\bwaiting\b"))
    # Offline from the start: said at once, and still after the 8 s.
    checks.nth(2).click()
    expect(status).to_have_text("2 to send")
    page.clock.run_for(9_000)
    expect(status).to_have_text("2 to send")
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    expect(page.locator(".outbox-detail")).to_have_text(
        "2 records are kept on this phone and wait to be sent to your clinic."
    )
    context.set_offline(False)
    wait_outbox(page, 0)
    expect(status).to_have_text("All saved")
    assert len(server_completions(live_server, patient.id)) == 3

    # A done exercise waits for its pain answer: not "to send" either, here or on More.
    page.locator("#nav").get_by_role("link", name="Today").click()
    wait_for_screen(page, "today")
    open_exercise(page, 3)
    page.get_by_role("button", name=MARK_DONE).click()
    expect(page.locator(".done-panel")).to_be_visible()
    expect(status).to_have_attribute("data-count", "1")
    expect(status).to_have_text("All saved")
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    wait_outbox(page, 0)
    assert len(server_completions(live_server, patient.id)) == 4
