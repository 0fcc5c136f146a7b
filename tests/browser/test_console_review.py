"""A therapist's weekly review of a caseload on a desk (1366x768): the patient list's figures."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, PageProblems, check_a11y, local_today
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, wait_view

pytestmark = pytest.mark.browser

DESK = {"width": 1366, "height": 768}


def test_the_list_says_when_a_plan_prepared_for_a_booked_visit_starts(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    account = ConsoleAccount.create(live_server, "Review Therapist")
    visit = local_today() + dt.timedelta(days=6)
    ahead = account.patient("Tomás Ahead", treated=[{"muscle": "upper-trapezius", "side": "left"}], treated_on=visit)
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
    ahead = account.patient("Tomás Ahead", treated=[{"muscle": "upper-trapezius", "side": "left"}], treated_on=visit)
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
    five_days_ago = local_today() - dt.timedelta(days=5)
    nophone = account.patient("Nina Nophone", treated=treated, treated_on=five_days_ago)
    idle = account.patient("Ivo Idle", treated=treated, treated_on=five_days_ago)
    account.joined_phone(idle["id"]).close()
    try:
        with console_session(browser, live_server, account, page_problems, viewport=DESK) as (_, page):
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            # The patient without a phone first: what the desk must do is hand over a new code.
            listed = page.locator(".attention-list > li")
            expect(listed).to_have_count(2)
            expect(listed.nth(0)).to_contain_text("Nina Nophone")
            badge = listed.nth(0).locator(".badge")
            expect(badge).to_have_attribute("data-kind", "not-joined")
            expect(badge.locator(".badge-kind")).to_have_text("No phone connected")
            expect(badge.locator(".badge-detail")).to_contain_text("none since the plan was assigned on")
            expect(badge.locator(".badge-detail")).to_contain_text("hand over a new code")
            inactive = listed.nth(1).locator(".badge")
            expect(inactive.locator(".badge-kind")).to_have_text("Inactive")
            # Told apart without colour too: dashed, where the other badges are solid.
            assert badge.evaluate("b => getComputedStyle(b).borderTopStyle") == "dashed"
            assert inactive.evaluate("b => getComputedStyle(b).borderTopStyle") == "solid"
            row_badge = page.locator(f"tr[data-patient='{nophone['id']}'] .badge-kind")
            expect(row_badge).to_have_text("No phone connected")
    finally:
        account.close()


def checked_in(phone: httpx.Client, soreness: int, hours_ago: float) -> None:
    """A check-in from the patient's phone, made ``hours_ago`` (on that day in Madrid)."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=hours_ago)
    on_date = at.astimezone(zoneinfo.ZoneInfo("Europe/Madrid")).date()
    checkin = {
        "id": str(uuid.uuid4()),
        "on_date": on_date.isoformat(),
        "soreness": soreness,
        "red_flags": [],
        "done_at": at.isoformat().replace("+00:00", "Z"),
    }
    assert phone.post("/api/v1/patient/sync", json={"checkins": [checkin]}).status_code == 200


def did_today(phone: httpx.Client) -> None:
    """The patient does everything their app shows for today, an hour ago."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    day = local_today().isoformat()
    today = phone.get("/api/v1/patient/today", params={"date": day}).json()
    done = [
        {
            "id": str(uuid.uuid4()),
            "exercise_id": e["exercise_id"],
            "on_date": day,
            "slot": e["slot"],
            "done_at": at.isoformat().replace("+00:00", "Z"),
        }
        for e in today["entries"]
    ]
    assert done
    assert phone.post("/api/v1/patient/sync", json={"completions": done}).status_code == 200


def listed(page: Page) -> list[str]:
    return page.locator("#patient-table tbody .patient-link").all_inner_texts()


def sorts(page: Page) -> dict[str, str | None]:
    """Each sortable header's aria-sort."""
    headers = page.locator("#patient-table thead th:has(button.sort)")
    return {th.inner_text().rstrip("▲▼↕ \n"): th.get_attribute("aria-sort") for th in headers.all()}


def by_figure(rows: dict[str, Any], names: dict[int, str], figure: Any, descending: bool) -> list[str]:
    """The names in a figure's order (None last either way; ties by name, as the server lists them)."""
    with_figure = [(figure(r), names[pid]) for pid, r in rows.items() if figure(r) is not None]
    ordered = sorted(with_figure, key=lambda f: f[1])
    ordered.sort(key=lambda f: f[0], reverse=descending)  # stable either way: ties stay by name
    return [n for _, n in ordered] + sorted(names[pid] for pid, r in rows.items() if figure(r) is None)


def week_rate(row: dict[str, Any]) -> float | None:
    """The week so far as the list shows it, or None for "no plan", "starts …", "nothing counted yet"."""
    week = row["week"]
    return week["rate"] if row["has_plan"] and not row["starts_on"] and week and week["expected"] else None


def test_the_patient_table_sorts_by_its_headers_and_keeps_the_choice(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    account = ConsoleAccount.create(live_server, "Review Therapist")
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    ten_days_ago = local_today() - dt.timedelta(days=10)
    # Soreness and when each last did something: Ada 5 (a day ago), Bruno 2 (3 days ago), Carmen
    # 8 (2 hours ago); Dario joined and did nothing; Elena has no plan.
    patients = {}
    for name, soreness, hours_ago in (("Ada", 5, 26), ("Bruno", 2, 72), ("Carmen", 8, 2), ("Dario", None, None)):
        patients[name] = account.patient(f"{name} Sort", treated=treated, treated_on=ten_days_ago)
        phone = account.joined_phone(patients[name]["id"])
        if soreness is not None and hours_ago is not None:
            checked_in(phone, soreness, hours_ago)
        if name == "Carmen":  # and everything of today: the only week above 0%
            did_today(phone)
        phone.close()
    patients["Elena"] = account.patient("Elena Sort")
    names = {p["id"]: p["display_name"] for p in patients.values()}
    week_rows = {r["patient_id"]: r for r in account.ok(account.api.get("/api/v1/adherence"))}
    try:
        with console_session(browser, live_server, account, page_problems, viewport=DESK) as (_, page):
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            alphabetical = ["Ada Sort", "Bruno Sort", "Carmen Sort", "Dario Sort", "Elena Sort"]
            assert listed(page) == alphabetical
            unsorted = {"This week": None, "Latest soreness": None, "Last activity": None}
            assert sorts(page) == {"Patient": "ascending", **unsorted}

            # The highest soreness first on the first click, the lowest on the second; none last both times.
            soreness = page.get_by_role("button", name="Latest soreness", exact=True)
            soreness.click()
            assert listed(page) == ["Carmen Sort", "Ada Sort", "Bruno Sort", "Dario Sort", "Elena Sort"]
            assert sorts(page)["Latest soreness"] == "descending"
            assert sorts(page)["Patient"] is None
            soreness.click()
            assert listed(page) == ["Bruno Sort", "Ada Sort", "Carmen Sort", "Dario Sort", "Elena Sort"]
            assert sorts(page)["Latest soreness"] == "ascending"
            expect(page.locator("#patient-table caption")).to_have_text(
                "Your patients, sorted by Latest soreness, lowest first"
            )

            # From the keyboard: the longest silence first (Enter), then the most recent (Space).
            activity = page.get_by_role("button", name="Last activity", exact=True)
            activity.focus()
            page.keyboard.press("Enter")
            assert listed(page) == ["Bruno Sort", "Ada Sort", "Carmen Sort", "Dario Sort", "Elena Sort"]
            assert sorts(page)["Last activity"] == "ascending"
            page.keyboard.press("Space")
            assert listed(page) == ["Carmen Sort", "Ada Sort", "Bruno Sort", "Dario Sort", "Elena Sort"]
            assert sorts(page)["Last activity"] == "descending"
            expect(activity).to_be_focused()

            # This week: the lowest adherence first, as the server counts it (a patient without a
            # plan, or with nothing counted yet, last).
            page.get_by_role("button", name="This week", exact=True).click()
            assert listed(page) == by_figure(week_rows, names, week_rate, descending=False)
            assert listed(page)[-1] == "Elena Sort"
            assert listed(page) != alphabetical  # Carmen's week is the only one above 0% (or the only one)
            check_a11y(page, "the patient list sorted by this week")

            # Coming back to the list, and in a new visit, the choice stays.
            goto_view(page, f"#/patients/{patients['Ada']['id']}", "patient")
            goto_view(page, "#/", "patients")
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            assert sorts(page)["This week"] == "ascending"
            assert listed(page) == by_figure(week_rows, names, week_rate, descending=False)
            page.get_by_role("button", name="Patient", exact=True).click()
            page.get_by_role("button", name="Patient", exact=True).click()
            page.reload()
            wait_view(page, "patients")
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            assert sorts(page)["Patient"] == "descending"
            assert listed(page) == list(reversed(alphabetical))
    finally:
        account.close()


def test_on_a_narrow_screen_the_cards_sort_from_a_sort_by_list(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    # Under 760 px the rows are cards and the headers are hidden: "Sort by" changes the same sort.
    account = ConsoleAccount.create(live_server, "Narrow Therapist")
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    for name, soreness in (("Ada", 5), ("Bruno", 2), ("Carmen", 8), ("Dario", None)):
        patient = account.patient(f"{name} Card", treated=treated, treated_on=local_today() - dt.timedelta(days=3))
        phone = account.joined_phone(patient["id"])
        if soreness is not None:
            checked_in(phone, soreness, hours_ago=2)
        phone.close()
    alphabetical = ["Ada Card", "Bruno Card", "Carmen Card", "Dario Card"]
    try:
        with console_session(browser, live_server, account, page_problems, viewport=DESK) as (_, page):
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            pick = page.get_by_label("Sort by", exact=True)
            expect(pick).to_be_hidden()  # the headers sort on a desk

            page.set_viewport_size({"width": 600, "height": 900})
            expect(pick).to_be_visible()
            head = page.locator("#patient-table thead").bounding_box()
            assert head is not None
            assert head["height"] <= 1  # the headers are visually hidden
            expect(pick).to_have_value("name ascending")
            assert listed(page) == alphabetical
            options = pick.locator("option").all_inner_texts()
            assert options[:4] == [
                "Patient, A to Z",
                "Patient, Z to A",
                "This week, lowest first",
                "This week, highest first",
            ]
            assert "Latest soreness, highest first" in options

            pick.select_option(label="Latest soreness, highest first")
            assert listed(page) == ["Carmen Card", "Ada Card", "Bruno Card", "Dario Card"]  # none last
            # The same sort as the headers': their aria-sort, the caption and the kept choice.
            assert sorts(page)["Latest soreness"] == "descending"
            assert sorts(page)["Patient"] is None
            expect(page.locator("#patient-table caption")).to_have_text(
                "Your patients, sorted by Latest soreness, highest first"
            )
            kept = page.evaluate("() => JSON.parse(localStorage.getItem('unknot.console.patient-sort'))")
            assert kept == {"key": "soreness", "dir": "descending"}

            # From the keyboard: the next choice down is the other way.
            pick.focus()
            page.keyboard.press("ArrowDown")
            expect(pick).to_have_value("soreness ascending")
            assert listed(page) == ["Bruno Card", "Ada Card", "Carmen Card", "Dario Card"]
            expect(pick).to_be_focused()
            check_a11y(page, "the patient cards on a narrow screen")

            page.reload()
            wait_view(page, "patients")
            expect(page.locator(".view-patients")).to_have_attribute("data-loaded", "true")
            expect(pick).to_have_value("soreness ascending")
            assert listed(page) == ["Bruno Card", "Ada Card", "Carmen Card", "Dario Card"]

            # A header clicked on a desk shows in the list too.
            page.set_viewport_size(DESK)
            expect(pick).to_be_hidden()
            page.get_by_role("button", name="Patient", exact=True).click()
            assert listed(page) == alphabetical
            page.set_viewport_size({"width": 600, "height": 900})
            expect(pick).to_have_value("name ascending")
    finally:
        account.close()
