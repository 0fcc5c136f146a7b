"""A console page the browser kept while another page was shown (the back-forward cache) and
brought back by Back asks whose session the browser holds now: it was told nothing meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, PageProblems
from tests.browser.console_helpers import PASSWORD, ConsoleAccount, console_session, goto_view, seen, wait_view

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium as conftest's, with the back-forward cache Playwright turns off by default."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, ignore_default_args=["--disable-back-forward-cache"]
        )
        yield browser
        browser.close()


def away(page: Page) -> None:
    """Open another page of the site in this tab (the console's page goes into the cache)."""
    page.evaluate("() => { window.__kept = true; }")
    page.goto("/api/v1/health")


def back(page: Page) -> None:
    """Back to the console: the very page from the cache, not one loaded anew (which would find
    the session by itself)."""
    page.go_back(wait_until="commit")  # a page from the cache fires no load event
    page.wait_for_function("() => window.__kept === true")


def test_a_page_back_from_the_cache_finds_another_therapist_signed_in(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Cached Therapist")
    colleague = ConsoleAccount.create(live_server, "Meanwhile Colleague")
    patient = mine.patient("Clara Cached")
    colleague.patient("Mateo Meanwhile")
    with console_session(browser, live_server, mine, page_problems) as (context, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        away(page)
        # Meanwhile the colleague signs in in this browser; no tab of the console is there to say so.
        login = {"email": colleague.email, "password": PASSWORD}
        assert context.request.post("/api/v1/auth/login", data=login).ok
        back(page)

        wait_view(page, "patients")
        expect(page.locator("#who")).to_have_text("Meanwhile Colleague")
        expect(page.locator("#toast")).to_contain_text("Meanwhile Colleague signed in in another tab")
        expect(page.get_by_text("Mateo Meanwhile")).to_be_visible()
        assert "Clara Cached" not in seen(page)
    mine.close()
    colleague.close()


def test_a_page_back_from_the_cache_finds_the_session_ended(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Ended Meanwhile")
    patient = mine.patient("Elena Ended")
    with console_session(browser, live_server, mine, page_problems) as (context, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        page.get_by_label("Notes").fill("Kept under the dialog")
        away(page)
        context.clear_cookies()  # the session gone meanwhile, and no tab of the console saw it go
        back(page)

        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(page.locator("#main")).to_be_hidden()
        assert "Elena Ended" not in seen(page)
        dialog.get_by_label("Password").fill(PASSWORD)
        dialog.get_by_label("Password").press("Enter")
        expect(page.locator("dialog")).to_have_count(0)
        expect(page.get_by_label("Notes")).to_have_value("Kept under the dialog")
    mine.close()
