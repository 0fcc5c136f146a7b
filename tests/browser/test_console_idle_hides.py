"""A console left untouched on a clinic's shared tablet hides the patient's page once the session's
idle limit has passed (before anyone touches it), asks for the password over it, and gives the page
back as it was, typed notes and all."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, PageProblems
from tests.browser.console_helpers import (
    PASSWORD,
    ConsoleAccount,
    console_session,
    goto_view,
    program_ready,
    region,
    wait_view,
)

pytestmark = pytest.mark.browser

# The live server's UNKNOT_SESSION_IDLE_MINUTES (tests/browser/conftest.py), in ms.
IDLE_MS = 720 * 60_000
MINUTE = 60_000


def seen(page: Page) -> str:
    """What the page shows: its title and the text on screen (innerText leaves hidden parts out)."""
    return page.title() + "\n" + page.locator("body").inner_text()


def test_a_console_left_untouched_hides_the_patient_and_gives_the_page_back_on_signing_in(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Shared Tablet")
    patient = mine.patient("Hana Hidden")
    with console_session(browser, live_server, mine, page_problems) as (_context, page):
        page.clock.install()
        page.reload()  # the console's timers from now on run on the test's clock
        wait_view(page, "patients")
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.get_by_label("Notes").fill("Tender on the left; recheck next week")
        assert "Hana Hidden" in seen(page)

        # In use: every touch or key starts the idle time again.
        page.clock.fast_forward(IDLE_MS - MINUTE)
        expect(page.locator("dialog")).to_have_count(0)
        page.get_by_label("Notes").press("End")
        page.clock.fast_forward(IDLE_MS - MINUTE)
        expect(page.locator("dialog")).to_have_count(0)
        assert "Hana Hidden" in seen(page)

        # Then left alone past the limit: nobody touched the tablet, and the patient is gone from it.
        page.clock.fast_forward(2 * MINUTE)
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(page.locator("#main")).to_be_hidden()
        assert "Hana Hidden" not in seen(page)
        assert "Hana Hidden" not in page.locator("body").aria_snapshot()

        dialog.get_by_label("Password").fill(PASSWORD)
        dialog.get_by_label("Password").press("Enter")
        expect(page.locator("dialog")).to_have_count(0)
        expect(page.locator("#main")).to_be_visible()
        expect(page.get_by_label("Notes")).to_have_value("Tender on the left; recheck next week")
        expect(region(page, "upper-trapezius", "left")).to_have_attribute("aria-checked", "true")
        assert "Hana Hidden" in seen(page)
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
    mine.close()


def test_signing_in_as_someone_else_on_the_hidden_page_never_shows_it_again(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Shared Tablet")
    colleague = ConsoleAccount.create(live_server, "Colleague")
    patient = mine.patient("Hana Hidden")
    with console_session(browser, live_server, mine, page_problems) as (_context, page):
        page.clock.install()
        page.reload()
        wait_view(page, "patients")
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        page.get_by_role("button", name="Archive").click()  # the question is left open, naming her
        expect(page.get_by_role("dialog")).to_contain_text("Archive Hana Hidden?")
        page.clock.fast_forward(IDLE_MS + MINUTE)
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        assert "Hana Hidden" not in seen(page)
        assert "Hana Hidden" not in page.locator("body").aria_snapshot()
        dialog.get_by_label("Email").fill(colleague.email)
        dialog.get_by_label("Password").fill(PASSWORD)
        dialog.get_by_label("Password").press("Enter")
        wait_view(page, "patients")
        expect(page.locator("#main")).to_be_visible()
        assert "Hana Hidden" not in seen(page)
    assert mine.ok(mine.api.get(f"/api/v1/patients/{patient['id']}"))["archived_at"] is None  # "no" to the question
    mine.close()
    colleague.close()
