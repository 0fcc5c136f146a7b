"""The console's tabs share one session cookie: signing out in one tab hides the patient's page in
the others at once, and once another therapist signs in in any tab of the browser, no tab goes on
showing the first therapist's patient under the new session (told by the tab that signed in, or
found by a tab's keep-alive, GET /auth/me)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems
from tests.browser.console_helpers import (
    PASSWORD,
    ConsoleAccount,
    api_calls,
    console_session,
    goto_view,
    seen,
    sign_in,
    wait_view,
)

pytestmark = pytest.mark.browser

MINUTE = 60_000


def test_signing_out_in_one_tab_hides_the_patient_in_the_others_at_once(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Two Tabs Out")
    patient = mine.patient("Sofia Signout")
    with console_session(browser, live_server, mine, page_problems) as (context, first):
        other = context.new_page()
        other.goto(f"/console/#/patients/{patient['id']}/treat")
        wait_view(other, "treat")
        other.get_by_label("Notes").fill("Typed before the other tab signed out")
        calls = api_calls(other)

        first.get_by_role("button", name="Sign out").click()
        wait_view(first, "signin")
        dialog = other.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(dialog).to_contain_text("You signed out in another tab.")
        expect(other.locator("#main")).to_be_hidden()
        assert "Sofia Signout" not in seen(other)
        assert calls == []  # told by the other tab, not by a call refused later

        # The same therapist signing in there again finds the page as it was.
        dialog.get_by_label("Password").fill(PASSWORD)
        dialog.get_by_label("Password").press("Enter")
        expect(other.locator("dialog")).to_have_count(0)
        expect(other.get_by_label("Notes")).to_have_value("Typed before the other tab signed out")
    mine.close()


def test_another_therapist_signing_in_in_another_tab_takes_the_patient_off_this_one_at_once(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "First Therapist")
    colleague = ConsoleAccount.create(live_server, "Second Therapist")
    patient = mine.patient("Pablo Private")
    colleague.patient("Carla Colleague")
    with console_session(browser, live_server, mine, page_problems) as (context, first):
        goto_view(first, f"#/patients/{patient['id']}", "patient")
        # A second tab left on the sign-in screen (opened before the first signed in).
        context.clear_cookies()
        other = context.new_page()
        other.goto("/console/")
        sign_in(other, colleague)

        # Nobody touches the first tab: it shows the colleague's patients, and says why.
        wait_view(first, "patients")
        expect(first.locator("#who")).to_have_text("Second Therapist")
        expect(first.locator("#toast")).to_contain_text(
            "Second Therapist signed in in another tab of this browser: these are their patients."
        )
        expect(first.get_by_text("Carla Colleague")).to_be_visible()
        assert "Pablo Private" not in seen(first)
        assert "First Therapist" not in seen(first)
    mine.close()
    colleague.close()


def test_a_keep_alive_answer_naming_another_therapist_takes_the_patient_off_the_page(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Keep Alive Therapist")
    colleague = ConsoleAccount.create(live_server, "Colleague Elsewhere")
    patient = mine.patient("Kira Kept")
    with console_session(browser, live_server, mine, page_problems) as (context, page):
        context.clock.install()
        page.reload()
        wait_view(page, "patients")
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        page.get_by_label("Notes").fill("Not the colleague's to see")
        # The colleague signs in in this browser without a tab of the console telling the others.
        login = {"email": colleague.email, "password": PASSWORD}
        assert context.request.post("/api/v1/auth/login", data=login).ok
        expect(page.get_by_text("Kira Kept").first).to_be_visible()

        # A few minutes on, the therapist types: the keep-alive's answer names the colleague.
        calls = api_calls(page)
        context.clock.fast_forward(6 * MINUTE)
        page.get_by_label("Notes").press("End")
        wait_view(page, "patients")
        assert any(call.endswith("/api/v1/auth/me") for call in calls)
        expect(page.locator("#who")).to_have_text("Colleague Elsewhere")
        expect(page.locator("#toast")).to_contain_text("Colleague Elsewhere signed in in another tab")
        assert "Kira Kept" not in seen(page)
        assert "Not the colleague's to see" not in page.content()
    mine.close()
    colleague.close()


def test_a_tab_that_cannot_ask_whose_session_it_is_now_hides_the_patient(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Unsure Therapist")
    colleague = ConsoleAccount.create(live_server, "Sure Colleague")
    patient = mine.patient("Uma Unsure")
    with console_session(browser, live_server, mine, page_problems) as (context, first):
        goto_view(first, f"#/patients/{patient['id']}", "patient")
        first.route("**/api/v1/auth/me", lambda route: route.abort())  # this tab's network fails
        context.clear_cookies()
        other = context.new_page()
        other.goto("/console/")
        sign_in(other, colleague)

        dialog = first.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(first.locator("#main")).to_be_hidden()
        assert "Uma Unsure" not in seen(first)
    mine.close()
    colleague.close()


def test_signing_in_again_in_one_tab_gives_the_others_their_page_back(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Back Again")
    patient = mine.patient("Bruno Back")
    with console_session(browser, live_server, mine, page_problems) as (context, first):
        other = context.new_page()
        other.goto(f"/console/#/patients/{patient['id']}/treat")
        wait_view(other, "treat")
        other.get_by_label("Notes").fill("Typed before signing out")
        first.get_by_role("button", name="Sign out").click()
        wait_view(first, "signin")
        expect(other.get_by_role("dialog")).to_contain_text("Your session has ended")
        third = context.new_page()  # opened while signed out: the sign-in screen
        third.goto("/console/")
        wait_view(third, "signin")

        sign_in(first, mine)

        # The tab asking for the password has its page back as it was, without the password.
        expect(other.locator("dialog")).to_have_count(0)
        expect(other.locator("#main")).to_be_visible()
        expect(other.get_by_label("Notes")).to_have_value("Typed before signing out")
        expect(other.locator("#toast")).to_contain_text("Signed in again in another tab of this browser.")
        # The tab on the sign-in screen shows the therapist's patients.
        wait_view(third, "patients")
        expect(third.locator("#who")).to_have_text("Back Again")
        expect(third.get_by_text("Bruno Back")).to_be_visible()
        expect(third.locator("#toast")).to_contain_text("Signed in in another tab of this browser.")
    mine.close()


def test_another_therapist_signing_in_takes_the_page_from_a_tab_asking_for_the_password(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Asked Therapist")
    colleague = ConsoleAccount.create(live_server, "Next Therapist")
    patient = mine.patient("Petra Private")
    colleague.patient("Nina Next")
    with console_session(browser, live_server, mine, page_problems) as (context, first):
        other = context.new_page()
        other.goto(f"/console/#/patients/{patient['id']}/treat")
        wait_view(other, "treat")
        other.get_by_label("Notes").fill("Not the next therapist's to see")
        first.get_by_role("button", name="Sign out").click()
        wait_view(first, "signin")
        expect(other.get_by_role("dialog")).to_contain_text("Your session has ended")

        sign_in(first, colleague)

        wait_view(other, "patients")
        expect(other.locator("dialog")).to_have_count(0)
        expect(other.locator("#who")).to_have_text("Next Therapist")
        expect(other.locator("#toast")).to_contain_text(
            "Next Therapist signed in in another tab of this browser: these are their patients."
        )
        expect(other.get_by_text("Nina Next")).to_be_visible()
        assert "Petra Private" not in seen(other)
        assert "Not the next therapist's to see" not in other.content()
    mine.close()
    colleague.close()


def test_a_change_refused_under_another_therapists_session_shows_their_patients(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Refused Therapist")
    colleague = ConsoleAccount.create(live_server, "Quiet Colleague")
    patient = mine.patient("Rita Refused")
    colleague.patient("Quentin Quiet")
    with console_session(browser, live_server, mine, page_problems) as (context, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        # The colleague signs in in this browser without a tab of the console telling the others.
        login = {"email": colleague.email, "password": PASSWORD}
        assert context.request.post("/api/v1/auth/login", data=login).ok

        page.get_by_role("button", name="Edit details").click()
        page.get_by_label("Name").fill("Rita Renamed")
        page.get_by_role("button", name="Save details").click()

        wait_view(page, "patients")
        expect(page.locator("dialog")).to_have_count(0)
        expect(page.locator("#who")).to_have_text("Quiet Colleague")
        expect(page.locator("#toast")).to_contain_text("Quiet Colleague signed in in another tab of this browser")
        expect(page.get_by_text("Quentin Quiet")).to_be_visible()
        assert "Rita" not in seen(page)
        assert mine.ok(mine.api.get(f"/api/v1/patients/{patient['id']}"))["display_name"] == "Rita Refused"
    mine.close()
    colleague.close()


# A tab that hears nothing from the others (as one the browser froze in the background when
# another therapist signed in): its messages still go out.
DEAF = """Object.defineProperty(BroadcastChannel.prototype, "onmessage", {
  configurable: true, get() { return null; }, set() {},
});"""


def test_sign_out_in_a_tab_whose_session_another_therapist_took_shows_theirs_and_signs_nobody_out(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    """Sign out in a tab that missed another therapist's sign-in told every tab "signed out": the
    colleague's tabs hid their pages under a password question, though their session was live."""
    mine = ConsoleAccount.create(live_server, "Unaware Therapist")
    colleague = ConsoleAccount.create(live_server, "Live Colleague")
    patient = mine.patient("Ulla Unaware")
    colleague.patient("Lena Live")
    with console_session(browser, live_server, mine, page_problems) as (context, first):
        first.add_init_script(DEAF)
        first.reload()
        goto_view(first, f"#/patients/{patient['id']}", "patient")
        context.clear_cookies()
        other = context.new_page()
        other.goto("/console/")
        sign_in(other, colleague)
        expect(first.get_by_text("Ulla Unaware").first).to_be_visible()  # it did not hear

        first.get_by_role("button", name="Sign out").click()
        wait_view(first, "patients")
        expect(first.locator("#who")).to_have_text("Live Colleague")
        expect(first.locator("#toast")).to_contain_text(
            "Live Colleague signed in in another tab of this browser: these are their patients."
        )
        assert "Ulla Unaware" not in seen(first)
        # The colleague's tab goes on as it was, under their session, still live.
        other.wait_for_timeout(500)
        expect(other.locator("dialog")).to_have_count(0)
        expect(other.get_by_text("Lena Live")).to_be_visible()
        me = context.request.get("/api/v1/auth/me")
        assert me.ok
        assert me.json()["therapist"]["name"] == "Live Colleague"
    mine.close()
    colleague.close()
