"""The patient's phone offline and across time, as patients live with it: a phone whose clock is
set wrong, days offline with the worker answering from what it stored, a second phone logging
while the first is offline, a new version taking over offline."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import (
    TIMEZONE,
    Clinic,
    LiveServer,
    PageProblems,
    check_a11y,
    join_in_browser,
    local_today,
    new_context,
    screenshot,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.test_pwa_settings import long_date
from tests.browser.test_pwa_update_and_taps import WORKER_VERSION

pytestmark = pytest.mark.browser

MADRID = zoneinfo.ZoneInfo(TIMEZONE)


def test_a_phone_clock_a_day_behind_is_said_until_it_is_put_right(page: Page, clinic: Clinic) -> None:
    """The app's days follow the phone's clock: a day behind, Today showed yesterday and its ticks
    went to yesterday at the clinic, without a word."""
    today = local_today()
    patient = clinic.patient(name="Clock", treated_on=today - dt.timedelta(days=3))
    now = dt.datetime.now(MADRID)
    page.clock.install(time=now - dt.timedelta(days=1))
    join_in_browser(page, clinic.invite(patient))

    card = page.locator(".clock-off")
    expect(card).to_contain_text("Check the date and time on this phone")
    yesterday = today - dt.timedelta(days=1)
    said = f"clock says {long_date(yesterday)} at .*, but it is {long_date(today)} at "
    expect(card).to_contain_text(re.compile(said))
    expect(card).to_contain_text("set the date and time in your phone's settings")
    screenshot(page, "today-clock-off")
    check_a11y(page, "today with the clock card")
    # Other days do not repeat it.
    page.get_by_role("link", name=re.compile("Day before")).click()
    wait_for_screen(page, "day")
    expect(page.locator(".clock-off")).to_have_count(0)
    page.get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")
    expect(card).to_be_visible()

    # Put right while the app is open: the card goes within a minute, and Today is today.
    page.clock.set_system_time(dt.datetime.now(MADRID))
    page.clock.run_for(61_000)
    expect(card).to_have_count(0)
    expect(page.locator(".eyebrow").first).to_have_text(long_date(today))


def test_a_phone_clock_ahead_is_said_too_and_a_right_one_is_not(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    patient = clinic.patient(name="Ahead")
    page.clock.install(time=dt.datetime.now(MADRID) + dt.timedelta(hours=3))
    join_in_browser(page, clinic.invite(patient))
    expect(page.locator(".clock-off")).to_contain_text("Check the date and time on this phone")
    page.clock.set_system_time(dt.datetime.now(MADRID) + dt.timedelta(minutes=2))
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".phase")).to_be_visible()
    page.wait_for_timeout(500)
    expect(page.locator(".clock-off")).to_have_count(0)

    # A captive portal answering in the server's place, with a clock of its own: not the clinic's.
    two_days_on = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    # (Routed for the whole profile: the worker's own requests too.)
    context.route(
        "**/api/v1/patient/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html", headers={"Date": two_days_on}, body="<p>Log in</p>"
        ),
    )
    with page.expect_response("**/api/v1/patient/plan?*"):
        context.set_offline(True)
        context.set_offline(False)
    page.wait_for_timeout(500)
    expect(page.locator(".clock-off")).to_have_count(0)


def test_days_offline_with_a_right_clock_are_not_taken_for_a_wrong_clock(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """Offline, the worker answers with the copies it stored, whose Date is as old as they are: two
    days on, the phone must not be told its clock is wrong for that."""
    today = local_today()
    patient = clinic.patient(name="Away", treated_on=today - dt.timedelta(days=1))
    page.clock.install(time=dt.datetime.now(MADRID))
    join_in_browser(page, clinic.invite(patient))
    # Opened again online: the worker, in control now, stores its answers.
    with page.expect_response("**/api/v1/patient/plan?*"):
        page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".clock-off")).to_have_count(0)
    context.set_offline(True)
    page.clock.set_system_time(dt.datetime.now(MADRID) + dt.timedelta(days=2))
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".eyebrow").first).to_have_text(long_date(today + dt.timedelta(days=2)))
    # The worker answered with its stored copy (a failed request would tell nothing).
    answered = page.evaluate(
        """async () => {
          const token = await globalThis.unknotCore.get("token");
          const res = await fetch("/api/v1/patient/me", { headers: { Authorization: `Bearer ${token}` } });
          return res.status;
        }"""
    )
    assert answered == 200
    page.wait_for_timeout(1000)
    expect(page.locator(".clock-off")).to_have_count(0)


def test_back_online_the_phone_shows_what_the_patients_other_phone_logged_meanwhile(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    patient = clinic.patient(name="Two Phones")
    phones = [new_context(browser, live_server) for _ in range(2)]
    try:
        first, second = (page_problems.watch(ctx.new_page()) for ctx in phones)
        for phone in (first, second):
            join_in_browser(phone, clinic.invite(patient))
        phones[0].set_offline(True)
        second.locator("button.check").first.click()
        second.locator("#sync").click()  # sent now, not after the seconds to take a tap back
        wait_outbox(second, 0)
        assert len(live_server.rows("SELECT id FROM completion WHERE patient_id = ?", (patient.id,))) == 1

        phones[0].set_offline(False)
        # Playwright lets the page go online before the service worker, whose requests can still
        # fail (it then answers with its stored copies) when the page hears "online": under load,
        # the log read then was the stored one. Once the worker reaches the server, the browser's
        # "online" is heard again, as it is when a real phone's network comes back.
        first.wait_for_function(
            "() => fetch('/api/v1/ping', { cache: 'no-store' }).then((r) => r.ok, () => false)", polling=200
        )
        first.evaluate("() => window.dispatchEvent(new Event('online'))")
        expect(first.locator("li.entry").first).to_have_class(re.compile(r"\bdone\b"))
        expect(first.locator(".summary")).to_have_text(re.compile(r"^1 of \d+ done$"))
    finally:
        for ctx in phones:
            ctx.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def test_days_offline_ticking_and_checking_in_reach_the_clinic_once_and_the_patient_is_told(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Three days offline: an exercise and a check-in each day, the app opened again on the way.
    Back online, everything arrives once, each on its own day, and the patient hears that it did
    (the header only turned from "6 to send" to "All saved")."""
    today = local_today()
    days = [today - dt.timedelta(days=n) for n in (3, 2, 1)]
    patient = clinic.patient(name="Away For Days", treated_on=today - dt.timedelta(days=4))
    page.clock.install(time=dt.datetime.combine(days[0], dt.time(9, 0), MADRID))
    join_in_browser(page, clinic.invite(patient))
    context.set_offline(True)
    for n, day in enumerate(days):
        expect(page.locator(".eyebrow").first).to_have_text(long_date(day))
        page.locator("button.check").first.click()
        page.locator("#nav").get_by_role("link", name="Check-in").click()
        wait_for_screen(page, "checkin")
        page.get_by_role("radio", name="3", exact=True).check()
        page.get_by_role("button", name="Save check-in").click()
        wait_for_screen(page, "today")
        wait_outbox(page, 2 * (n + 1))
        if n == 1:
            # The phone was restarted in between: the app opens from the worker with all of it.
            page.reload()
            wait_for_screen(page, "today")
            wait_outbox(page, 4)
        page.clock.fast_forward("24:00:00")
    expect(page.locator(".eyebrow").first).to_have_text(long_date(today))
    # No word of arrival while nothing has arrived.
    expect(page.locator("#toast")).not_to_contain_text("reached your clinic")

    context.set_offline(False)
    wait_outbox(page, 0)
    expect(page.locator("#toast")).to_contain_text("Back online: 6 records kept on this phone reached your clinic.")
    expect(page.locator("#sync")).to_have_text("All saved")
    page.locator("#sync").click()  # sent again on request: nothing more arrives
    page.wait_for_timeout(1000)
    completions = live_server.rows(
        "SELECT on_date FROM completion WHERE patient_id = ? ORDER BY on_date", (patient.id,)
    )
    checkins = live_server.rows("SELECT on_date FROM checkin WHERE patient_id = ? ORDER BY on_date", (patient.id,))
    expected = [d.isoformat() for d in days]
    assert [r["on_date"] for r in completions] == expected
    assert [r["on_date"] for r in checkins] == expected
    # A tick once online again is not announced as an arrival.
    page.evaluate("() => document.getElementById('toast').replaceChildren()")
    page.locator("button.check").first.click()
    page.locator("#sync").click()
    wait_outbox(page, 0)
    page.wait_for_timeout(500)
    expect(page.locator("#toast")).not_to_contain_text("Back online")


def test_a_new_version_taking_over_offline_keeps_the_records_waiting_and_sends_them_once(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """The update was found online; the patient went offline, ticked, and closed the app. Opened
    again offline, the new worker takes over from its own cache with the records still there."""
    patient = clinic.patient(name="Updated Offline")
    join_in_browser(page, clinic.invite(patient))
    sw = live_server.pwa_dir / "sw.js"
    original = sw.read_text()
    try:
        sw.write_text(re.sub(r'const VERSION = "[^"]*";', 'const VERSION = "offline-update";', original, count=1))
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        expect(page.locator("#update")).to_contain_text("A new version of Unknot is ready.", timeout=10_000)
        context.set_offline(True)
        for n in range(2):
            page.locator("button.check").nth(n).click()
        wait_outbox(page, 2)
        page.close()

        again = context.new_page()
        again.goto("/")
        wait_for_screen(again, "today")
        assert again.evaluate(WORKER_VERSION) == "offline-update"
        expect(again.locator("#update")).to_be_hidden()
        wait_outbox(again, 2)
        expect(again.locator("li.entry.done")).to_have_count(2)

        context.set_offline(False)
        wait_outbox(again, 0)
        again.locator("#sync").click()
        again.wait_for_timeout(500)
        rows = live_server.rows("SELECT id FROM completion WHERE patient_id = ?", (patient.id,))
        assert len(rows) == 2
    finally:
        sw.write_text(original)
