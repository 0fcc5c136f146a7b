"""Whom "contact your clinic" means: the Warning signs and the check-in name the therapist and the
clinic, with its number to call, from the plan stored on the phone (so offline too); and soreness
that has lasted beyond the three days the aftercare calls usual is said to be for the clinic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    join_in_browser,
    local_today,
    new_context,
    screenshot,
    serve,
    wait_for_screen,
)

pytestmark = pytest.mark.browser

PHONE_NUMBER = "+34 910 000 000"


@pytest.fixture(scope="module")
def clinic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose clinic has set its name and number (the shared one has neither)."""
    tmp: Path = tmp_path_factory.mktemp("contact")
    with serve(tmp, clinic_name="Clínica Norte", clinic_phone=PHONE_NUMBER) as server:
        yield server


@pytest.fixture(scope="module")
def north(clinic_server: LiveServer) -> Iterator[Clinic]:
    client = Clinic(clinic_server)
    yield client
    client.close()


def test_warning_signs_and_a_ticked_sign_say_whom_to_call_even_offline(
    browser: Browser, clinic_server: LiveServer, north: Clinic, page_problems: PageProblems
) -> None:
    patient = north.patient(name="Carla Contact")
    context = new_context(browser, clinic_server)
    context.on("page", page_problems.watch)
    page = context.new_page()
    try:
        join_in_browser(page, north.invite(patient))
        context.set_offline(True)
        page.goto(f"{clinic_server.url}/#/help")
        wait_for_screen(page, "help")
        card = page.locator(".contact")
        expect(card.get_by_role("heading", name="Your clinic")).to_be_visible()
        expect(card).to_contain_text("Clínica Norte")
        expect(card).to_contain_text("Your therapist: Browser Tests")
        call = card.get_by_role("link", name=f"Call {PHONE_NUMBER}")
        expect(call).to_have_attribute("href", "tel:+34910000000")
        screenshot(page, "help-contact")

        page.goto(f"{clinic_server.url}/#/checkin")
        wait_for_screen(page, "checkin")
        expect(page.locator(".contact")).to_be_hidden()  # nothing ticked: nothing to call about yet
        page.get_by_role("radio", name="2", exact=True).check()
        page.get_by_text("Fainting, or feeling light-headed").click()
        expect(page.locator(".flag-advice .contact")).to_be_visible()
        expect(page.locator(".flag-advice .contact")).to_contain_text("Clínica Norte")
        page.get_by_role("button", name="Save check-in").click()
        saved = page.locator(".checkin-saved")
        expect(saved.get_by_role("link", name=f"Call {PHONE_NUMBER}")).to_be_visible()
        assert not page_problems.errors, page_problems.errors
    finally:
        context.close()


@pytest.mark.parametrize(
    ("days_ago", "advice"),
    [
        (2, "usually settles within about three days"),
        (3, "usually settles within about three days"),
        (4, "more than three days since your treatment"),
    ],
)
def test_soreness_advice_follows_the_days_since_needling(
    browser: Browser, clinic_server: LiveServer, north: Clinic, page_problems: PageProblems, days_ago: int, advice: str
) -> None:
    patient = north.patient(name=f"Sara Day{days_ago}", treated_on=local_today() - dt.timedelta(days=days_ago))
    context = new_context(browser, clinic_server)
    context.on("page", page_problems.watch)
    page = context.new_page()
    try:
        join_in_browser(page, north.invite(patient))
        page.goto(f"{clinic_server.url}/#/checkin")
        wait_for_screen(page, "checkin")
        page.get_by_role("radio", name="6", exact=True).check()
        expect(page.locator(".advice")).to_contain_text(advice)
        # Mild soreness is fine on any day.
        page.get_by_role("radio", name="2", exact=True).check()
        expect(page.locator(".advice")).to_contain_text("Some soreness is normal")
        assert not page_problems.errors, page_problems.errors
    finally:
        context.close()
