"""The Reminders screen as a patient meets it, found walking the app: whether it lets them
understand why a reminder did or did not come. Real Chromium against the real server."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    TIMEZONE,
    Clinic,
    LiveServer,
    PageProblems,
    Patient,
    check_a11y,
    join_in_browser,
    local_today,
    new_context,
    screenshot,
    wait_for_screen,
)
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view
from tests.browser.test_console_checks import NECK, SUBSCRIPTION
from tests.browser.test_pwa_lang_shell import more_language
from tests.browser.test_pwa_push import EXISTING_SUBSCRIPTION, open_reminders, subscriptions_in_db, wait_until
from tests.pushservice import PushService, Subscription

pytestmark = pytest.mark.browser

WHEN_EN = (
    "A reminder comes only when something at that time of day is still to do: not once you have done it, "
    "and not on a day with nothing planned then."
)


def open_reminders_es(page: Page) -> None:
    page.locator("#nav").get_by_role("link", name="Más").click()
    wait_for_screen(page, "more")
    page.get_by_role("link", name="Configurar recordatorios").click()
    wait_for_screen(page, "reminders")
    expect(page.locator("fieldset[data-slot]")).to_have_count(3)


def test_the_reminders_screen_says_when_reminders_come_and_that_none_come_once_the_program_is_complete(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    """Reminders are sent only for a time of day with something left, and never after the program
    ends; the screen said only "Reminders are on for this phone", so a patient who got none after
    doing their exercises early, or after the last day, could only think them broken."""
    context = new_context(browser, live_server)
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        patient = clinic.patient(name="Rosa", treated_on=local_today() - dt.timedelta(days=90))
        join_in_browser(page, clinic.invite(patient))
        expect(page.locator("main")).to_contain_text("Your program is complete.")
        open_reminders(page)
        expect(page.get_by_text(WHEN_EN)).to_be_visible()
        note = page.locator(".push-status .push-plan")
        expect(note).to_be_visible()
        expect(note).to_have_text(
            "Your program is complete, so no more reminders come. "
            "If your clinic gives you a new program, they start again by themselves."
        )
        check_a11y(page, "reminders (program complete)")

        # The calendar file would hold no event: the screen says so instead of "Downloaded. Open the
        # file to add the times to your calendar." over a file that adds nothing.
        downloads: list[object] = []
        page.on("download", lambda d: downloads.append(d))
        page.get_by_role("button", name="Download calendar file").click()
        expect(page.locator(".calendar [role=status]")).to_have_text(
            "There is nothing to add to your calendar: no reminder time has exercises from today on."
        )
        page.wait_for_timeout(300)
        assert downloads == []
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_a_program_that_starts_later_says_when_reminders_begin_in_spanish_and_a_current_one_says_nothing(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    starts = local_today() + dt.timedelta(days=3)
    context = new_context(browser, live_server, locale="es-ES")
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        patient = clinic.patient(name="Lucía", locale="es", treated_on=starts)
        join_in_browser(page, clinic.invite(patient))
        open_reminders_es(page)
        when = page.get_by_text("Solo recibirá un aviso cuando le quede algo por hacer a esa hora del día")
        expect(when).to_be_visible()
        note = page.locator(".push-status .push-plan")
        expect(note).to_have_text(
            re.compile(
                rf"^Su programa empieza el .*\b{starts.day}\b.*\. Los recordatorios llegarán a partir de ese día\.$"
            ),
        )

        # The clinic moves the visit to today: the plan in force has something today, and nothing needs saying.
        r = clinic.http.post(
            f"/api/v1/patients/{patient.id}/plans",
            json={"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": local_today().isoformat()},
        )
        assert r.is_success, r.text
        page.reload()
        wait_for_screen(page, "reminders")
        page.locator("#nav").get_by_role("link", name="Hoy").click()
        wait_for_screen(page, "today")
        expect(page.locator("main")).to_contain_text("Día 1:")
        open_reminders_es(page)
        expect(page.locator(".push-status .push-plan")).to_be_hidden()
        check_a11y(page, "reminders (es, program current)")
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_without_a_program_the_reminders_screen_says_they_start_once_the_clinic_has_made_it(
    page: Page, clinic: Clinic
) -> None:
    """With no program yet the screen said nothing of it (only, once turned on, "Reminders are on
    for this phone"), and no reminder came without a word why."""
    page.goto(clinic.invite(clinic.patient(name="Nadia", plan=False))["link"])
    wait_for_screen(page, "waiting")
    open_reminders(page)
    note = page.locator(".push-status .push-plan")
    expect(note).to_have_text("Your clinic has not set up your program yet. Reminders start once it has.")
    more_language(page, "Español")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    open_reminders_es(page)
    expect(note).to_have_text(
        "Su clínica todavía no ha preparado su programa. Los recordatorios empezarán cuando lo haya hecho."
    )


@contextlib.contextmanager
def subscribed(
    browser: Browser,
    server: LiveServer,
    clinic: Clinic,
    problems: PageProblems,
    service: PushService,
    name: str,
    renewed: Subscription | None = None,
) -> Iterator[tuple[Page, Subscription, Patient]]:
    """A joined phone whose browser holds a subscription at the local push service (see
    EXISTING_SUBSCRIPTION), stored on the server, on the Reminders screen. With ``renewed``, the
    browser's next ``subscribe()`` gives that one."""
    key = httpx.get(f"{server.url}/api/v1/push/public-key").json()["public_key"]
    sub = service.subscribe(name, application_server_key=key)
    held: dict[str, object] = {"endpoint": sub.endpoint, "key": key, **sub.as_json()["keys"]}
    if renewed is not None:
        held["renewed"] = {"endpoint": renewed.endpoint, **renewed.as_json()["keys"]}
    context = new_context(browser, server, permissions=["notifications"])
    context.on("page", problems.watch)
    context.add_init_script(EXISTING_SUBSCRIPTION.replace("ARGS", json.dumps(held)))
    try:
        page = context.new_page()
        patient = clinic.patient(name=name)
        join_in_browser(page, clinic.invite(patient))
        wait_until(lambda: sub.endpoint in subscriptions_in_db(server, patient.id), "not stored", page)
        open_reminders(page)
        expect(page.locator(".push-status")).to_have_attribute("data-push-state", "on")
        yield page, sub, patient
    finally:
        context.close()
    assert not problems.errors, problems.errors


def test_a_test_reminder_the_push_service_is_too_busy_for_says_to_try_later_not_to_turn_reminders_off_and_on(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, service: PushService
) -> None:
    """The phone's push service answered 503 (or nothing in time): the screen said "could not be
    delivered. Turn reminders off and on again", which makes a new subscription and helps nothing."""
    with subscribed(browser, live_server, clinic, page_problems, service, "Rosa") as (page, sub, patient):
        status = page.locator(".push-status")
        said = status.locator("[role=status]")
        test = status.get_by_role("button", name="Send me a test reminder")

        # A slow push service: the screen says what is happening meanwhile, not nothing for seconds.
        service.delay = 2.0
        test.click()
        expect(said).to_have_text("Sending a test reminder…")
        expect(said).to_have_text("A test reminder is on its way to this phone. It should appear in a few seconds.")
        service.delay = 0.0

        service.answer(sub, 503)
        test.click()
        expect(said).to_have_text(
            "The service that brings reminders to this phone did not answer just now. "
            "Try the test again in a few minutes."
        )
        # And it was right: a little later the same subscription takes it.
        test.click()
        expect(said).to_have_text("A test reminder is on its way to this phone. It should appear in a few seconds.")
        assert [m["kind"] for m in service.messages(sub)] == ["test", "test"]

        # A subscription its push service calls gone does need a new one.
        service.gone(sub)
        test.click()
        expect(said).to_have_text(
            "The test reminder could not be delivered to this phone. Turn reminders off and on again here."
        )
        assert subscriptions_in_db(live_server, patient.id) == {}
        assert service.rejected == []


def test_a_test_reminder_says_first_what_became_of_it_on_this_phone_then_on_the_patients_other_phones(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, service: PushService
) -> None:
    """The screen said "on its way" when any phone got the test, even when the one in the patient's
    hand did not: they waited for a notification that was never coming."""
    with subscribed(browser, live_server, clinic, page_problems, service, "Inés") as (page, sub, patient):
        # The patient's other phone, joined and subscribed too.
        key = httpx.get(f"{live_server.url}/api/v1/push/public-key").json()["public_key"]
        other = service.subscribe("Inés, other phone", application_server_key=key)
        token = clinic.join(patient, "Other phone")
        r = httpx.put(
            f"{live_server.url}/api/v1/patient/push/subscriptions",
            json=other.as_json(),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        status = page.locator(".push-status")
        said = status.locator("[role=status]")
        test = status.get_by_role("button", name="Send me a test reminder")

        def tested() -> list[dict[str, object]]:
            with page.expect_response(lambda r: r.url.endswith("/api/v1/patient/push/test")) as answer:
                test.click()
            assert answer.value.status == 200
            return answer.value.json()["results"]

        assert sorted((r["this_device"], r["status"]) for r in tested()) == [(False, "sent"), (True, "sent")]
        expect(said).to_have_text(
            "A test reminder is on its way to this phone and to 1 other phone. It should appear in a few seconds."
        )

        # This phone's push service is busy; the other phone's took it.
        service.answer(sub, 503)
        tested()
        expect(said).to_have_text(
            "The service that brings reminders to this phone did not answer just now. "
            "Try the test again in a few minutes. It is on its way to 1 other phone."
        )

        # This phone's subscription is gone (the server drops it); the other phone's took it.
        service.gone(sub)
        tested()
        failed = (
            "The test reminder could not be delivered to this phone. Turn reminders off and on again here. "
            "It is on its way to 1 other phone."
        )
        expect(said).to_have_text(failed)
        screenshot(page, "reminders-test-not-this-phone")
        # Tried again: the server no longer has this phone at all, and it is still not "on its way".
        results = tested()
        assert [(r["this_device"], r["status"]) for r in results] == [(False, "sent")]
        expect(said).to_have_text(failed)
        assert [m["kind"] for m in service.messages(other)] == ["test"] * 4

        # In Spanish.
        page.locator("#nav").get_by_role("link", name="More").click()
        wait_for_screen(page, "more")
        page.get_by_role("button", name="Español").click()
        expect(page.locator("html")).to_have_attribute("lang", "es")
        open_reminders_es(page)
        status.get_by_role("button", name="Enviarme un recordatorio de prueba").click()
        expect(said).to_have_text(
            "No se pudo entregar el recordatorio de prueba a este teléfono. Desactive los recordatorios aquí "
            "y vuelva a activarlos. Está en camino a 1 teléfono más."
        )


def test_with_every_time_of_day_turned_off_the_screen_does_not_say_reminders_are_on(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, service: PushService
) -> None:
    """A patient who stops reminders by unticking "Remind me" for each time of day, rather than with
    "Turn off reminders on this phone", was told "Reminders are on for this phone." above it."""
    with subscribed(browser, live_server, clinic, page_problems, service, "Tomás") as (page, _, _):
        state = page.locator(".push-status .push-state")
        expect(state).to_have_text("Reminders are on for this phone.")
        # And when the next one comes: the first time that can remind (the server's next_at).
        with page.expect_response(lambda r: r.url.endswith("/api/v1/patient/reminders")) as answer:
            page.reload()
        wait_for_screen(page, "reminders")
        rules = [r for r in answer.value.json()["rules"] if r["enabled"] and r["next_at"]]
        first = min(rules, key=lambda r: r["next_at"])
        at = dt.datetime.fromisoformat(first["next_at"]).astimezone(ZoneInfo(TIMEZONE))
        day = "today" if at.date() == local_today() else f"{at:%A}, {at:%B} {at.day}"
        slot = {"morning": "Morning", "midday": "Midday", "evening": "Evening"}[first["slot"]]
        next_line = page.locator(".push-status .push-next")
        expect(next_line).to_have_text(re.compile(rf"^Next reminder: {slot}, {day} at {at:%-I:%M}\s{at:%p}\.$"))
        for slot in ("morning", "midday", "evening"):
            page.locator(f"fieldset[data-slot='{slot}']").get_by_role("checkbox", name="Remind me").uncheck()
        page.get_by_role("button", name="Save times").click()
        expect(page.locator(".times-form [role=status]")).to_have_text("Your times are saved.")
        expect(state).to_have_text(
            "Reminders are on for this phone, but every time of day below is off, so none will come. "
            "Tick “Remind me” for a time of day to get them."
        )
        expect(next_line).to_be_hidden()
        page.reload()
        wait_for_screen(page, "reminders")
        expect(state).to_contain_text("but every time of day below is off")
        page.locator("fieldset[data-slot='evening']").get_by_role("checkbox", name="Remind me").check()
        page.get_by_role("button", name="Save times").click()
        expect(state).to_have_text("Reminders are on for this phone.")
        expect(next_line).to_have_text(re.compile(r"^Next reminder: Evening, .+ at 7:00\sPM\.$"))


def test_the_console_says_no_reminder_is_coming_once_the_plan_has_ended(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    """The Reminders card said "On" and gave each time of day a next reminder the day after the
    plan had ended, when the scheduler sends none, and "On" for a patient without a plan; the
    therapist could not tell."""
    account = ConsoleAccount.create(live_server, "Walk Therapist")
    try:
        ended = account.patient("Olga Over", treated=NECK, treated_on=local_today() - dt.timedelta(days=90))
        current = account.patient("Carmen Current", treated=NECK)
        waiting = account.patient("Nora Noplan")
        for patient in (ended, current, waiting):
            with account.joined_phone(patient["id"]) as phone:
                sub = {**SUBSCRIPTION, "endpoint": f"{SUBSCRIPTION['endpoint']}-{patient['id']}"}
                assert phone.put("/api/v1/patient/push/subscriptions", json=sub).status_code == 200
        with console_session(browser, live_server, account, page_problems) as (_, page):
            goto_view(page, f"#/patients/{ended['id']}", "patient")
            card = page.get_by_role("region", name="Reminders")
            expect(card.locator("strong").first).to_have_text("Ended with the plan")
            # Why: the plan has ended (tests/browser/test_console_reminders.py checks the date said).
            expect(card).to_contain_text("No reminder is coming: the plan ended on ")
            for cell in page.get_by_role("table", name="Reminder times").locator("tbody td:last-child").all():
                expect(cell).to_have_text("—")
            goto_view(page, f"#/patients/{current['id']}", "patient")
            card = page.get_by_role("region", name="Reminders")
            expect(page.get_by_role("table", name="Reminder times")).to_be_visible()
            expect(card.locator("strong").first).to_have_text("On")
            expect(card).not_to_contain_text("No reminder is coming")
            goto_view(page, f"#/patients/{waiting['id']}", "patient")
            card = page.get_by_role("region", name="Reminders")
            expect(card.locator("strong").first).to_have_text("Waiting for a plan")
            expect(card).to_contain_text("No reminder is coming: the patient has no plan yet.")
    finally:
        account.close()
