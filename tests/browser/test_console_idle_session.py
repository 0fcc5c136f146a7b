"""A console left unused on a clinic's shared tablet: its session ends, and the next step asks for
the password over the page, keeping what the therapist had typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems
from tests.browser.console_helpers import (
    PASSWORD,
    ConsoleAccount,
    goto_view,
    open_console,
    program_ready,
    region,
    wait_view,
)

pytestmark = pytest.mark.browser


def test_a_session_left_idle_ends_and_signing_in_again_keeps_the_typed_notes(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Shared Tablet")
    patient = mine.patient("Ida Idle")
    context, page = open_console(browser, live_server, mine, page_problems)
    try:
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.get_by_label("Notes").fill("Tender on the left; recheck next week")

        # Left unused longer than the idle limit, well within the 12 hours from sign-in.
        live_server.execute(
            "UPDATE therapist_session SET last_used_at = '2000-01-01T00:00:00Z' "
            "WHERE therapist_id = (SELECT id FROM therapist WHERE email = ?)",
            (mine.email,),
        )
        page.get_by_role("button", name="Assign and hand over").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(page.locator("#main")).to_be_hidden()  # the patient's page is not left in view behind it
        dialog.get_by_label("Password").fill(PASSWORD)
        dialog.get_by_label("Password").press("Enter")
        expect(page.locator("dialog")).to_have_count(0)
        expect(page.get_by_label("Notes")).to_have_value("Tender on the left; recheck next week")
        expect(region(page, "upper-trapezius", "left")).to_have_attribute("aria-checked", "true")
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
    finally:
        context.close()
        mine.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)
