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


def test_a_patient_whose_phone_never_joined_has_its_own_badge(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    account = ConsoleAccount.create(live_server, "Review Therapist")
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    body = {"treated": treated, "treated_on": (local_today() - dt.timedelta(days=5)).isoformat()}
    nophone = account.patient("Nina Nophone")
    account.ok(account.api.post(f"/api/v1/patients/{nophone['id']}/plans", json=body))
    idle = account.patient("Ivo Idle")
    account.ok(account.api.post(f"/api/v1/patients/{idle['id']}/plans", json=body))
    account.join(account.ok(account.api.post(f"/api/v1/patients/{idle['id']}/invites"))["code"]).close()
    try:
        with console_session(browser, live_server, account, page_problems, viewport=DESK) as (_, page):
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            # The patient without a phone first: what the desk must do is hand over a new code.
            listed = page.locator(".attention-list > li")
            expect(listed).to_have_count(2)
            expect(listed.nth(0)).to_contain_text("Nina Nophone")
            badge = listed.nth(0).locator(".badge")
            expect(badge).to_have_attribute("data-kind", "not-joined")
            expect(badge.locator(".badge-kind")).to_have_text("App not set up")
            expect(badge.locator(".badge-detail")).to_contain_text("no phone connected since the plan was assigned on")
            expect(badge.locator(".badge-detail")).to_contain_text("hand over a new code")
            inactive = listed.nth(1).locator(".badge")
            expect(inactive.locator(".badge-kind")).to_have_text("Inactive")
            # Told apart without colour too: dashed, where the other badges are solid.
            assert badge.evaluate("b => getComputedStyle(b).borderTopStyle") == "dashed"
            assert inactive.evaluate("b => getComputedStyle(b).borderTopStyle") == "solid"
            row_badge = page.locator(f"tr[data-patient='{nophone['id']}'] .badge-kind")
            expect(row_badge).to_have_text("App not set up")
    finally:
        account.close()
