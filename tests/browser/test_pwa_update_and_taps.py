"""What a slip must not lose: a new version taking over a tab with a half-filled check-in, and a
shaky double tap on a done mark taking the mark straight back."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    join_in_browser,
    stored_records,
    wait_for_screen,
    wait_for_worker,
    wait_outbox,
)
from tests.browser.test_pwa_flow import short_hold_items
from tests.browser.test_pwa_records import server_rows, wait_rows

pytestmark = pytest.mark.browser

WORKER_VERSION = """() => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = (e) => resolve(e.data.version);
  navigator.serviceWorker.controller.postMessage({ type: "VERSION" }, [channel.port2]);
})"""


@contextlib.contextmanager
def waiting_version(live_server: LiveServer, page: Page, version: str) -> Iterator[Locator]:
    """A new version of the app on the server, found by ``page``, which shows its notice (yielded);
    the old files are back afterwards."""
    sw = live_server.pwa_dir / "sw.js"
    original = sw.read_text()
    try:
        sw.write_text(re.sub(r'const VERSION = "[^"]*";', f'const VERSION = "{version}";', original, count=1))
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        banner = page.locator("#update")
        expect(banner).to_contain_text("A new version of Unknot is ready.", timeout=10_000)
        yield banner
    finally:
        sw.write_text(original)


@contextlib.contextmanager
def new_version(live_server: LiveServer, page: Page, version: str, *reloading: Page) -> Iterator[None]:
    """A new version of the app on the server, taken over by ``page``'s Reload (``reloading``: other
    tabs that reload with it at once); the old files are back afterwards."""
    with waiting_version(live_server, page, version) as banner:
        with contextlib.ExitStack() as navigations:
            for tab in (page, *reloading):
                navigations.enter_context(tab.expect_navigation())
            banner.get_by_role("button", name="Reload").click()
        yield


def test_an_update_from_another_tab_waits_for_a_check_in_being_filled_in(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Olga")
    join_in_browser(page, clinic.invite(patient))
    other = context.new_page()
    other.goto("/#/checkin")
    wait_for_screen(other, "checkin")
    wait_for_worker(other)
    other.get_by_role("radio", name="4", exact=True).check()
    other.locator("textarea").fill("Sore after the long drive")
    # Gone if the page loads again.
    other.evaluate("() => { window.sameDocument = true; }")

    with new_version(live_server, page, "held-version"):
        wait_for_screen(page, "today")
        assert page.evaluate(WORKER_VERSION) == "held-version"

        # The tab with the check-in runs the new worker now but keeps what was typed, and says a
        # new version waits (in a live region, so a screen reader hears it).
        notice = other.locator("#update")
        expect(notice).to_contain_text("once you save or leave this screen", timeout=10_000)
        expect(notice).to_have_attribute("role", "status")
        expect(notice.get_by_role("button", name="Reload")).to_be_visible()
        assert other.evaluate("window.sameDocument") is True
        expect(other.locator("input[name=soreness]:checked")).to_have_value("4")
        expect(other.locator("textarea")).to_have_value("Sore after the long drive")
        # More typing does not let the update in either.
        other.locator("textarea").press_sequentially(" home")
        other.wait_for_timeout(300)
        assert other.evaluate("window.sameDocument") is True

        # Saved: the tab loads the new version at once, and the check-in reaches the clinic once.
        with other.expect_navigation():
            other.get_by_role("button", name="Save check-in").click()
        wait_for_screen(other, "today")
        assert other.evaluate("window.sameDocument") is None
        expect(other.locator("#update")).to_be_hidden()
        assert other.evaluate(WORKER_VERSION) == "held-version"
        wait_outbox(other, 0)
        rows = wait_rows(other, live_server, "checkin", patient.id, 1)
        assert [(r["soreness"], r["note"]) for r in rows] == [(4, "Sore after the long drive home")]
        other.wait_for_timeout(500)
        assert len(server_rows(live_server, "checkin", patient.id)) == 1
        assert [r["type"] for r in stored_records(other)] == ["checkin"]


def test_an_update_waits_only_while_a_form_is_changed(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """An untouched check-in does not hold the update back; one left for another screen lets it in."""
    patient = clinic.patient(name="Pablo")
    join_in_browser(page, clinic.invite(patient))
    untouched, left = context.new_page(), context.new_page()
    for tab in (untouched, left):
        tab.goto("/#/checkin")
        wait_for_screen(tab, "checkin")
        wait_for_worker(tab)
    left.locator("textarea").fill("Never mind")

    with new_version(live_server, page, "other-version", untouched):
        wait_for_screen(untouched, "checkin")
        expect(left.locator("#update")).to_contain_text("once you save or leave this screen", timeout=10_000)
        expect(left.locator("textarea")).to_have_value("Never mind")
        with left.expect_navigation():
            left.locator("#nav").get_by_role("link", name="Today").click()
        wait_for_screen(left, "today")
        assert left.evaluate(WORKER_VERSION) == "other-version"
        assert server_rows(live_server, "checkin", patient.id) == []


def test_an_update_waits_while_warning_sign_advice_is_on_screen(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Saved with a warning sign ticked, the check-in shows what to do: reloaded, the screen would
    be a fresh check-in and the advice gone, so the update waits until the patient leaves it."""
    patient = clinic.patient(name="Quim")
    join_in_browser(page, clinic.invite(patient))
    other = context.new_page()
    other.goto("/#/checkin")
    wait_for_screen(other, "checkin")
    wait_for_worker(other)
    other.get_by_role("radio", name="3", exact=True).check()
    other.get_by_text("Fainting, or feeling light-headed").click()
    other.evaluate("() => { window.sameDocument = true; }")

    with new_version(live_server, page, "advice-version"):
        expect(other.locator("#update")).to_contain_text("once you save or leave this screen", timeout=10_000)

        other.get_by_role("button", name="Save check-in").click()
        saved = other.locator(".checkin-saved")
        expect(saved.locator("[data-flag='fainting']")).to_contain_text("Sit or lie down")
        other.wait_for_timeout(500)
        assert other.evaluate("window.sameDocument") is True
        expect(saved).to_be_visible()
        rows = wait_rows(other, live_server, "checkin", patient.id, 1)
        assert [r["soreness"] for r in rows] == [3]

        with other.expect_navigation():
            saved.get_by_role("link", name="Back to today").click()
        wait_for_screen(other, "today")
        assert other.evaluate(WORKER_VERSION) == "advice-version"
        assert len(server_rows(live_server, "checkin", patient.id)) == 1


def test_an_update_from_another_tab_waits_for_a_running_timer(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Reloaded, a timer under way would start over and the mark it logs at its end could be cut
    short: the update waits until the timer is over (then for the pain question) or left."""
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    items, timed = short_hold_items(clinic, treated)
    timed["dosage"].update(hold_seconds=3, reps=2)
    patient = clinic.patient(treated, items=items, name="Teo")
    join_in_browser(page, clinic.invite(patient))
    other = context.new_page()
    other.goto("/#/today")
    wait_for_screen(other, "today")
    wait_for_worker(other)
    other.locator(f"li.entry[data-exercise='{timed['exercise_id']}'] a.entry-main").first.click()
    wait_for_screen(other, "ex")
    timer = other.locator("section.timer")
    timer.get_by_role("button", name="Start").click()
    expect(timer).to_have_attribute("data-phase", "hold")
    other.evaluate("() => { window.sameDocument = true; }")

    with new_version(live_server, page, "timer-version"):
        wait_for_screen(page, "today")
        notice = other.locator("#update")
        expect(notice).to_contain_text("once the timer ends or you leave this screen", timeout=10_000)
        expect(notice.get_by_role("button", name="Reload")).to_be_visible()
        assert other.evaluate("window.sameDocument") is True
        expect(timer).to_have_attribute("data-phase", re.compile("^(hold|rest)$"))

        # Over: the mark is logged and the pain question holds the update until it is left.
        expect(timer).to_have_attribute("data-phase", "done", timeout=15_000)
        done = other.locator(".done-panel")
        expect(done.get_by_role("heading", name="Well done!")).to_be_visible()
        expect(notice).to_contain_text("once you save or leave this screen")
        other.wait_for_timeout(500)
        assert other.evaluate("window.sameDocument") is True
        done.get_by_role("radio", name="3", exact=True).check()
        for _ in range(50):
            if [r["body"].get("pain") for r in stored_records(other)] == [3]:
                break
            other.wait_for_timeout(100)
        with other.expect_navigation():
            done.get_by_role("link", name="Back to today").click()
        wait_for_screen(other, "today")
        assert other.evaluate("window.sameDocument") is None
        assert other.evaluate(WORKER_VERSION) == "timer-version"
        rows = wait_rows(other, live_server, "completion", patient.id, 1)
        assert [(r["exercise_id"], r["reps_done"], r["pain"]) for r in rows] == [(timed["exercise_id"], 2, 3)]


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
