"""A console left untouched on a clinic's shared tablet hides the patient's page once the session's
idle limit has passed (before anyone touches it), asks for the password over it, and gives the page
back as it was, typed notes and all. The page's deadline is the server's: keys and taps keep the
session alive (typing a long note without saving), the console's tabs share their use, and the end
12 hours after sign-in hides the page at that moment too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, PageProblems, serve
from tests.browser.console_helpers import (
    PASSWORD,
    ConsoleAccount,
    api_calls,
    console_session,
    goto_view,
    program_ready,
    region,
    seen,
    wait_view,
)

pytestmark = pytest.mark.browser

IDLE_MINUTES = 10
IDLE_MS = IDLE_MINUTES * 60_000
MINUTE = 60_000


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own, whose sessions end after IDLE_MINUTES unused (the shared one's
    limit is the 12 hours a whole run may need)."""
    with serve(tmp_path_factory.mktemp("idle"), session_idle_minutes=str(IDLE_MINUTES)) as server:
        yield server


def test_a_console_left_untouched_hides_the_patient_and_gives_the_page_back_on_signing_in(
    browser: Browser, idle_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(idle_server, "Shared Tablet")
    patient = mine.patient("Hana Hidden")
    with console_session(browser, idle_server, mine, page_problems) as (_context, page):
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
    browser: Browser, idle_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(idle_server, "Shared Tablet")
    colleague = ConsoleAccount.create(idle_server, "Colleague")
    patient = mine.patient("Hana Hidden")
    with console_session(browser, idle_server, mine, page_problems) as (_context, page):
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


def time_passes(page: Page, server: LiveServer, account: ConsoleAccount, minutes: int) -> None:
    """``minutes`` pass on the page's clock, and at the server: the account's sessions were last
    used, and end, as much earlier (the server runs on the real clock)."""
    page.clock.fast_forward(minutes * MINUTE)
    server.execute(
        "UPDATE therapist_session SET last_used_at = strftime('%Y-%m-%dT%H:%M:%SZ', last_used_at, :ago), "
        "expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', expires_at, :ago) "
        "WHERE therapist_id = (SELECT id FROM therapist WHERE email = :email)",
        {"ago": f"-{minutes} minutes", "email": account.email},
    )


def test_typing_a_long_note_keeps_the_session_and_an_untouched_page_still_ends_it(
    browser: Browser, idle_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(idle_server, "Slow Writer")
    patient = mine.patient("Tomas Typing")
    with console_session(browser, idle_server, mine, page_problems) as (_context, page):
        page.clock.install()
        page.reload()
        wait_view(page, "patients")
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        notes = page.get_by_label("Notes")
        notes.fill("Tender on the left")
        # Typing for longer than the idle limit, and saving nothing meanwhile.
        for _ in range(9):
            time_passes(page, idle_server, mine, 2)
            notes.press_sequentially(".")
        expect(page.locator("dialog")).to_have_count(0)
        expect(notes).to_have_value("Tender on the left.........")
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
        expect(page.locator("dialog")).to_have_count(0)

        # Then nobody touches the page: nothing is sent, and the session ends as before.
        calls = api_calls(page)
        time_passes(page, idle_server, mine, IDLE_MINUTES + 1)
        expect(page.get_by_role("dialog")).to_contain_text("Your session has ended")
        assert calls == []
        assert page.request.get("/api/v1/auth/me").status == 401
    mine.close()


def test_a_tab_left_alone_stays_open_while_another_tab_keeps_the_session_in_use(
    browser: Browser, idle_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(idle_server, "Two Tabs")
    patient = mine.patient("Wanda Window")
    with console_session(browser, idle_server, mine, page_problems) as (context, in_use):
        context.clock.install()
        in_use.reload()
        wait_view(in_use, "patients")
        alone = context.new_page()
        alone.goto(f"/console/#/patients/{patient['id']}/treat")
        wait_view(alone, "treat")
        region(alone, "upper-trapezius", "left").click()
        expect(program_ready(alone).locator(".item").first).to_be_visible()
        alone.get_by_label("Notes").fill("Written in the other tab")

        for _ in range(6):  # 12 minutes of use in one tab, none in the other
            context.clock.fast_forward(2 * MINUTE)
            in_use.keyboard.press("Shift")
        expect(alone.locator("dialog")).to_have_count(0)
        expect(alone.locator("#main")).to_be_visible()
        assert "Wanda Window" in seen(alone)
        alone.get_by_role("button", name="Assign and hand over").click()
        wait_view(alone, "handover")
        expect(alone.locator("dialog")).to_have_count(0)

        # Both left alone: both hide the page.
        context.clock.fast_forward(IDLE_MS + MINUTE)
        for tab in (in_use, alone):
            expect(tab.get_by_role("dialog")).to_contain_text("Your session has ended")
            expect(tab.locator("#main")).to_be_hidden()
        assert "Wanda Window" not in seen(alone)
    mine.close()


def test_the_end_12_hours_after_sign_in_hides_the_page_at_that_moment(
    browser: Browser, idle_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(idle_server, "Long Day")
    patient = mine.patient("Lena Late")
    with console_session(browser, idle_server, mine, page_problems) as (_context, page):
        # The session's 12 hours are nearly over (the server's clock cannot be moved).
        idle_server.execute(
            "UPDATE therapist_session SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+15 minutes') "
            "WHERE therapist_id = (SELECT id FROM therapist WHERE email = ?)",
            (mine.email,),
        )
        page.clock.install()
        page.reload()
        wait_view(page, "patients")
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        notes = page.get_by_label("Notes")
        for _ in range(3):  # in use all along
            page.clock.fast_forward(4 * MINUTE)
            notes.press_sequentially(".")
        expect(page.locator("dialog")).to_have_count(0)

        calls = api_calls(page)
        page.clock.fast_forward(4 * MINUTE)
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(dialog.get_by_label("Password")).to_be_focused()
        expect(page.locator("#main")).to_be_hidden()
        assert "Lena Late" not in seen(page)
        assert calls == []  # the page knew by itself, before any call found out
    mine.close()
