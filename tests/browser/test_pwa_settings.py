"""The patient's own time zone and language, set from the app (PATCH /api/v1/patient/me).

- A patient who travels: the phone's zone (the browser context's ``timezone_id``) keeps other
  hours than the patient's, so Today asks once whether to use it; Yes changes the patient's
  zone on the server, Not now is not asked again for that pair of zones; offline, Yes counts on the
  phone at once and reaches the server once back online.
- A language picked on More goes to the server (reminders are written in it), at once when
  online, when back online when picked offline.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    check_a11y,
    join_in_browser,
    new_context,
    wait_for_screen,
    wait_outbox,
)

pytestmark = pytest.mark.browser

PROMPT = "Your phone is set to New York time; reminders use Madrid time. Use New York time?"


def patient_row(server: LiveServer, patient_id: int) -> tuple[str, str]:
    row = server.rows("SELECT timezone, locale FROM patient WHERE id = ?", (patient_id,))[0]
    return row["timezone"], row["locale"]


def eventually(check: Callable[[], Any], expected: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := check()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert got == expected


@pytest.fixture
def phone_in(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> Iterator[Callable[..., BrowserContext]]:
    """A browser profile whose clock is in a zone of the test's choosing."""
    made: list[BrowserContext] = []

    def make(zone: str) -> BrowserContext:
        ctx = new_context(browser, live_server, timezone_id=zone)
        ctx.on("page", page_problems.watch)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def joined(clinic: Clinic, context: BrowserContext, **patient: Any) -> tuple[Page, Any]:
    someone = clinic.patient(**patient)
    page = context.new_page()
    join_in_browser(page, clinic.invite(someone))
    return page, someone


def test_a_traveller_is_asked_and_yes_moves_their_zone_on_the_server(
    clinic: Clinic, live_server: LiveServer, phone_in: Callable[..., BrowserContext]
) -> None:
    page, patient = joined(clinic, phone_in("America/New_York"), timezone="Europe/Madrid")
    prompt = page.locator(".zone-prompt")
    expect(prompt).to_contain_text(PROMPT)
    check_a11y(page, "today with the time zone question")
    prompt.get_by_role("button", name="Yes, use New York time").click()
    expect(prompt).to_have_count(0)
    assert patient_row(live_server, patient.id)[0] == "America/New_York"
    # The reminder screen says which zone its times are in now.
    page.goto("/#/reminders")
    wait_for_screen(page, "reminders")
    # In words, not as the zone's id; More's tab stays marked on its screen.
    expect(page.get_by_text("Times are in your time zone: Eastern Time (New York).")).to_be_visible()
    expect(page.locator("#nav").get_by_role("link", name="More")).to_have_attribute("aria-current", "page")
    # The therapist's view reads the same record.
    assert clinic.http.get(f"/api/v1/patients/{patient.id}").json()["timezone"] == "America/New_York"
    page.goto("/#/today")
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".zone-prompt")).to_have_count(0)


def test_not_now_is_not_asked_again_and_changes_nothing(
    clinic: Clinic, live_server: LiveServer, phone_in: Callable[..., BrowserContext]
) -> None:
    page, patient = joined(clinic, phone_in("America/New_York"), timezone="Europe/Madrid")
    page.locator(".zone-prompt").get_by_role("button", name="Not now").click()
    expect(page.locator(".zone-prompt")).to_have_count(0)
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator(".zone-prompt")).to_have_count(0)
    assert patient_row(live_server, patient.id)[0] == "Europe/Madrid"


def test_a_zone_with_the_same_hours_is_not_asked_about(clinic: Clinic, phone_in: Callable[..., BrowserContext]) -> None:
    page, _ = joined(clinic, phone_in("Europe/Paris"), timezone="Europe/Madrid")
    expect(page.locator(".phase")).to_be_visible()
    expect(page.locator(".zone-prompt")).to_have_count(0)


def test_a_traveller_offline_who_says_yes_sees_and_logs_the_day_where_they_are(
    clinic: Clinic, live_server: LiveServer, phone_in: Callable[..., BrowserContext]
) -> None:
    """Friday 20:30 in New York is Saturday 02:30 in Madrid: Today showed Saturday, and offline the
    question only said it needed a connection, so the evening's ticks went to Saturday."""
    new_york = zoneinfo.ZoneInfo("America/New_York")
    evening = dt.datetime.now(new_york).replace(hour=20, minute=30, second=0, microsecond=0)
    there, madrid = evening.date(), evening.date() + dt.timedelta(days=1)
    context = phone_in("America/New_York")
    page = context.new_page()
    page.clock.install(time=evening)
    patient = clinic.patient(timezone="Europe/Madrid", treated_on=there - dt.timedelta(days=3))
    join_in_browser(page, clinic.invite(patient))
    expect(page.locator(".eyebrow").first).to_have_text(long_date(madrid))
    context.set_offline(True)

    prompt = page.locator(".zone-prompt")
    # The question says which day is which: the reminders were all it named.
    expect(prompt.locator(".zone-days")).to_have_text(
        f"Today in this app is {long_date(madrid)} (Madrid time); where you are, it is {long_date(there)}."
    )
    prompt.get_by_role("button", name="Yes, use New York time").click()
    expect(page.locator("#toast")).to_contain_text(
        "Today now follows New York time on this phone. Your reminders will too once you are back online."
    )
    expect(prompt).to_have_count(0)
    expect(page.locator(".eyebrow").first).to_have_text(long_date(there))
    page.locator("button.check").first.click()
    wait_outbox(page, 1)
    # Still so when the app opens again offline (the worker's stored answers have Madrid).
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".eyebrow").first).to_have_text(long_date(there))
    expect(page.locator(".zone-prompt")).to_have_count(0)
    assert patient_row(live_server, patient.id)[0] == "Europe/Madrid"

    # Back online: the server takes the zone (the clinic sees it) and the tick keeps its day.
    context.set_offline(False)
    eventually(lambda: patient_row(live_server, patient.id)[0], "America/New_York")
    # Past the seconds a tick waits to be taken back (the app's clock is the test's).
    page.clock.fast_forward("01:00")
    wait_outbox(page, 0)
    eventually(
        lambda: [
            r["on_date"] for r in live_server.rows("SELECT on_date FROM completion WHERE patient_id = ?", (patient.id,))
        ],
        [there.isoformat()],
    )
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".eyebrow").first).to_have_text(long_date(there))
    expect(page.locator(".zone-prompt")).to_have_count(0)


def long_date(day: dt.date) -> str:
    """A date as Today's eyebrow says it in English, e.g. "Friday, November 27"."""
    return f"{day:%A}, {day:%B} {day.day}"


def test_a_language_picked_in_the_app_is_the_patients_language_on_the_server(
    clinic: Clinic, live_server: LiveServer, context: BrowserContext
) -> None:
    page, patient = joined(clinic, context, locale="en")
    page.goto("/#/more")
    wait_for_screen(page, "more")
    page.get_by_role("button", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    eventually(lambda: patient_row(live_server, patient.id)[1], "es")
    # Picked offline: sent once back online.
    context.set_offline(True)
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    time.sleep(0.5)
    assert patient_row(live_server, patient.id)[1] == "es"
    context.set_offline(False)
    eventually(lambda: patient_row(live_server, patient.id)[1], "en")
