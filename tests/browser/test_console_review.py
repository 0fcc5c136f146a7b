"""A therapist's weekly review of a caseload on a desk (1366x768): the patient list's figures."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems, local_today
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view

pytestmark = pytest.mark.browser

DESK = {"width": 1366, "height": 768}


def test_the_list_says_when_a_plan_prepared_for_a_booked_visit_starts(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    account = ConsoleAccount.create(live_server, "Review Therapist")
    visit = local_today() + dt.timedelta(days=6)
    ahead = account.patient("Tomás Ahead")
    body = {"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": visit.isoformat()}
    account.ok(account.api.post(f"/api/v1/patients/{ahead['id']}/plans", json=body))
    today = account.patient("Tina Today", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    try:
        with console_session(browser, live_server, account, page_problems, viewport=DESK) as (_, page):
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            # Not "nothing counted yet", as for a patient treated today who has done nothing yet.
            week = page.locator(f"tr[data-patient='{ahead['id']}'] td[data-label='This week']")
            expect(week).to_have_text(f"starts {visit:%b} {visit.day}")
            other = page.locator(f"tr[data-patient='{today['id']}'] td[data-label='This week']")
            expect(other).to_have_text("nothing counted yet")
    finally:
        account.close()


def test_the_adherence_card_of_a_plan_prepared_ahead_says_when_it_starts(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    account = ConsoleAccount.create(live_server, "Review Therapist")
    visit = local_today() + dt.timedelta(days=6)
    ahead = account.patient("Tomás Ahead")
    body = {"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": visit.isoformat()}
    account.ok(account.api.post(f"/api/v1/patients/{ahead['id']}/plans", json=body))
    try:
        with console_session(browser, live_server, account, page_problems, viewport=DESK) as (_, page):
            goto_view(page, f"#/patients/{ahead['id']}", "patient")
            # Not "No active plan in these weeks." above a Plan card that says it starts next week.
            expect(page.locator("#adherence-ahead")).to_have_text(
                f"The plan starts on {visit:%B} {visit.day}, {visit.year}: nothing is asked before."
            )
    finally:
        account.close()
