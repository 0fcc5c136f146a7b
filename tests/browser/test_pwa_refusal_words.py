"""Why the clinic's system refused a record, told in the patient's language: the server gives each
refusal a code beside its English message, and More words it for the patient. A code this app has
no words for (a newer server) shows the server's message, as before."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    join_in_browser,
    new_context,
    stored_records,
    wait_for_screen,
)
from tests.browser.test_pwa_lang_shell import more_language, without

pytestmark = pytest.mark.browser

SYNC = "**/api/v1/patient/sync"
FUTURE_ES = (
    "Cuando lo anotó, la fecha de este teléfono iba por delante de la de hoy, y el sistema de su clínica "
    "no pudo guardarlo. Sigue guardado en este teléfono. Compruebe que la fecha y la hora de este teléfono "
    "son correctas y cuéntele a su clínica lo que hizo."
)


@pytest.fixture
def spanish_page(browser: Browser, live_server: LiveServer, page_problems: PageProblems) -> Iterator[Page]:
    """A phone whose browser speaks Spanish."""
    context = new_context(browser, live_server, locale="es-ES")
    context.on("page", page_problems.watch)
    yield context.new_page()
    context.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def server_completions(server: LiveServer, patient_id: int) -> list:
    return server.rows("SELECT id FROM completion WHERE patient_id = ?", (patient_id,))


def test_a_spanish_patient_reads_in_spanish_why_the_clinic_refused_a_record(
    spanish_page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    page = spanish_page
    patient = clinic.patient(name="Lucía Reloj", locale="es")
    # This phone's clock runs two days fast: the real server refuses the record as in the future.
    page.clock.install(time=dt.datetime.now(dt.UTC) + dt.timedelta(days=2, hours=1))
    join_in_browser(page, clinic.invite(patient))
    page.locator("button.check").first.click()
    status = page.locator("#sync")
    expect(status).to_have_attribute("data-rejected", "1", timeout=15_000)
    expect(status).to_have_text("1 sin guardar")
    [record] = stored_records(page)
    # The clinic's English words stay with the record; the code is what the app words.
    assert (record["state"], record["error"], record["code"]) == ("rejected", "date is out of range", "in_the_future")

    status.click()
    wait_for_screen(page, "more")
    refused = page.locator(".outbox-refused")
    expect(refused.locator("li .refusal")).to_have_text(FUTURE_ES)
    expect(refused).not_to_contain_text("out of range")
    expect(refused).not_to_contain_text("El sistema de la clínica indicó")
    # The reason says what to do: the general advice is not said again under the list.
    expect(refused.locator(":scope > p")).to_have_count(1)
    # Still listed, still on the phone, nothing at the clinic; tried again, it stays refused with its reason.
    refused.get_by_role("button", name="Intentar de nuevo").click()
    page.clock.fast_forward(2_000)
    expect(status).to_have_attribute("data-rejected", "1")
    expect(refused.locator("li .refusal")).to_have_text(FUTURE_ES)
    assert not server_completions(live_server, patient.id)


def test_a_reason_the_app_has_no_words_for_shows_the_servers_message(
    spanish_page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Two refusals: one the app words in Spanish, one from a newer server with a code this app does
    not know, shown as the clinic's own words with the general advice."""
    page = spanish_page
    patient = clinic.patient(name="Lucía Nueva", locale="es")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    refusals = [
        {"field": "completions[0].done_at", "message": "is in the future", "code": "in_the_future"},
        {"field": "completions[0].slot", "message": "is not in the plan that day", "code": "a_newer_reason"},
    ]
    calls = {"n": 0}

    def handle(route: Route) -> None:
        calls["n"] += 1
        if calls["n"] <= len(refusals):
            error = refusals[calls["n"] - 1]
            body = {"status": 422, "detail": f"{error['field']}: {error['message']}", "errors": [error]}
            route.fulfill(status=422, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    page.route(SYNC, handle)
    status = page.locator("#sync")
    checks = page.locator("button.check")
    checks.nth(0).click()
    page.clock.fast_forward(9_000)
    expect(status).to_have_attribute("data-rejected", "1")
    checks.nth(1).click()
    page.clock.fast_forward(9_000)
    expect(status).to_have_attribute("data-rejected", "2")
    assert sorted(r.get("code") for r in stored_records(page)) == ["a_newer_reason", "in_the_future"]

    status.click()
    wait_for_screen(page, "more")
    refused = page.locator(".outbox-refused")
    reasons = refused.locator("li .refusal")
    expect(reasons).to_have_count(2)
    expect(reasons.filter(has_text="Cuando lo anotó")).to_have_text(FUTURE_ES)
    expect(reasons.filter(has_text="indicó")).to_have_text(
        "El sistema de la clínica indicó: «is not in the plan that day»"
    )
    expect(refused).to_contain_text("Compruebe que la fecha y la hora de este teléfono son correctas")
    expect(refused.locator(":scope > p")).to_have_count(2)
    assert not server_completions(live_server, patient.id)


def test_a_refused_check_in_with_a_warning_sign_says_the_clinic_has_not_seen_it(page: Page, clinic: Clinic) -> None:
    """Refused for any reason (here the phone's clock), a check-in's warning signs have not reached
    the clinic either: the patient is told not to wait, with the way to the Warning signs page."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Flora Flag")))
    error = {"field": "checkins[0].done_at", "message": "is in the future", "code": "in_the_future"}

    def refuse_check_ins(route: Route) -> None:
        if json.loads(route.request.post_data or "{}").get("checkins"):
            body = {"status": 422, "detail": "checkins[0].done_at: is in the future", "errors": [error]}
            route.fulfill(status=422, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    page.route(SYNC, refuse_check_ins)
    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.get_by_role("radio", name="4", exact=True).check()
    page.get_by_text("Fainting, or feeling light-headed").click()
    page.get_by_role("button", name="Save check-in").click()
    status = page.locator("#sync")
    expect(status).to_have_attribute("data-rejected", "1", timeout=15_000)

    status.click()
    wait_for_screen(page, "more")
    unseen = page.locator(".outbox-refused li .refusal-flags")
    expect(unseen).to_have_text(
        "Your clinic has not seen the warning signs you marked in it. If you still have one, do now what the "
        "Warning signs page says: do not wait."
    )
    unseen.click()
    wait_for_screen(page, "help")


def test_a_reason_missing_from_the_language_file_is_said_in_the_apps_english_words(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """A Spanish file lacking a refusal's text (a newer version's) showed the server's bare English
    message with the general advice, though the phone had the app's English words for it (as t()
    says any other text the file lacks)."""
    context.route("**/i18n/es.js", without("refusal_in_the_future"))
    page.clock.install()
    join_in_browser(page, clinic.invite(clinic.patient(name="Lucy Later")))
    more_language(page, "Español")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    error = {"field": "completions[0].done_at", "message": "is in the future", "code": "in_the_future"}
    body = {"status": 422, "detail": "completions[0].done_at: is in the future", "errors": [error]}
    page.route(SYNC, lambda route: route.fulfill(status=422, json=body))
    page.locator("#nav").get_by_role("link", name="Hoy").click()
    wait_for_screen(page, "today")
    page.locator("button.check").first.click()
    page.clock.fast_forward(9_000)
    status = page.locator("#sync")
    expect(status).to_have_attribute("data-rejected", "1")

    status.click()
    wait_for_screen(page, "more")
    refused = page.locator(".outbox-refused")
    expect(refused.locator("li .refusal")).to_have_text(re.compile(r"^The date on this phone was ahead of today"))
    expect(refused).not_to_contain_text("indicó")
    expect(refused.locator(":scope > p")).to_have_count(1)
