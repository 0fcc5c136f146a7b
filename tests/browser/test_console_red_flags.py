"""A patient's red flags in the console: an urgent sign said in words with when it was reported (in
the patient's time zone), marked as handled from the check-ins table, and the list badge gone
until a new flag."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems, check_a11y, local_today
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, wait_view

pytestmark = pytest.mark.browser

ZONE = "Europe/Madrid"  # the zone ConsoleAccount.patient gives


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Flag Therapist")
    yield created
    created.close()


def report(phone: httpx.Client, red_flags: list[str], hours_ago: float) -> dict[str, Any]:
    """A check-in with ``red_flags`` sent from the patient's phone, made ``hours_ago``."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=hours_ago)
    checkin = {
        "id": str(uuid.uuid4()),
        "on_date": local_today(ZONE).isoformat(),
        "soreness": 6,
        "red_flags": red_flags,
        "done_at": at.isoformat().replace("+00:00", "Z"),
    }
    r = phone.post("/api/v1/patient/sync", json={"checkins": [checkin]})
    assert r.status_code == 200, r.text
    return checkin


def joined(account: ConsoleAccount, name: str) -> tuple[int, httpx.Client]:
    """A new patient treated near the chest, and their joined phone."""
    patient = account.patient(name, treated=[{"muscle": "scalenes", "side": "left"}])
    return patient["id"], account.joined_phone(patient["id"])


def in_zone(instant: str) -> tuple[str, str]:
    """The date and the time of day the console writes for ``instant`` in the patient's zone
    (Intl's "medium" date, "short" time, in English)."""
    at = dt.datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(zoneinfo.ZoneInfo(ZONE))
    return f"{at:%b} {at.day}, {at.year}", f"{(at.hour % 12) or 12}:{at:%M}"


def test_an_urgent_flag_shows_with_its_time_and_once_handled_leaves_the_list_until_a_new_flag(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    pid, phone = joined(account, "Rafa Redflag")
    urgent = report(phone, ["chest-pain-any-time"], hours_ago=2)
    date_text, time_text = in_zone(urgent["done_at"])

    with console_session(browser, live_server, account, page_problems) as (_, page):
        page.wait_for_selector(".view-patients[data-loaded]")
        line = page.locator(f"tr[data-patient='{pid}']")
        badge = line.locator(".badge[data-kind='urgent']")
        expect(badge).to_contain_text("Urgent: Chest pain at any time")
        expect(badge.locator("time")).to_contain_text(f"reported {date_text}")
        expect(badge.locator("time")).to_contain_text(time_text)
        expect(badge.locator("time")).to_have_attribute("datetime", urgent["done_at"])
        expect(line.locator(".badge[data-kind='red-flag']")).to_have_count(0)
        expect(page.locator(".attention-list")).to_contain_text("Urgent: Chest pain")
        check_a11y(page, "patient list with an urgent flag")

        goto_view(page, f"#/patients/{pid}", "patient")
        expect(page.locator(".view-patient > .badges .badge[data-kind='urgent']")).to_contain_text(date_text)
        row = page.locator(f"tr[data-checkin='{urgent['id']}']")
        expect(row.locator(".flags li.urgent")).to_contain_text("Urgent: Chest pain at any time")
        row.get_by_role("button", name="as handled").click()
        note = row.get_by_label("Note (optional)")
        expect(note).to_be_focused()
        check_a11y(page, "patient page, marking a flag as handled")
        note.fill("Called: seen at A&E, all clear")
        # A note typed and not yet saved is not thrown away by a link without asking.
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Patients").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Stay on this screen").click()
        expect(note).to_have_value("Called: seen at A&E, all clear")
        # Marked as handled, the page reloads without asking.
        row.get_by_role("button", name="Mark as handled", exact=True).click()

        wait_view(page, "patient")
        row = page.locator(f"tr[data-checkin='{urgent['id']}']")
        expect(row).to_contain_text("Handled ")
        expect(row).to_contain_text(f"by {account.name}")
        expect(row).to_contain_text("Called: seen at A&E, all clear")
        expect(row.get_by_role("button")).to_have_count(0)
        expect(page.locator(".view-patient > .badges")).to_have_count(0)
        expect(page.locator("tr[data-action='checkin.handled']")).to_contain_text("Red flags marked as handled")
        expect(page.locator("tr[data-action='checkin.handled']")).to_contain_text("check-in of")

        # Back on the list the patient no longer needs attention for it.
        goto_view(page, "#/", "patients")
        page.wait_for_selector(".view-patients[data-loaded]")
        line = page.locator(f"tr[data-patient='{pid}']")
        expect(line.locator(".badge")).to_have_count(0)

        # A new flag raises it again, with its own time.
        later = report(phone, ["fainting"], hours_ago=0.5)
        goto_view(page, f"#/patients/{pid}", "patient")
        goto_view(page, "#/", "patients")
        page.wait_for_selector(".view-patients[data-loaded]")
        line = page.locator(f"tr[data-patient='{pid}']")
        flag = line.locator(".badge[data-kind='red-flag']")
        expect(flag).to_contain_text("Fainting")
        expect(flag.locator("time")).to_have_attribute("datetime", later["done_at"])
        expect(line.locator(".badge[data-kind='urgent']")).to_have_count(0)
    phone.close()


def test_archiving_a_patient_with_red_flags_not_handled_says_so_first(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    pid, phone = joined(account, "Arno Archive")
    report(phone, ["fainting"], hours_ago=3)
    report(phone, ["swollen-calf"], hours_ago=1)
    phone.close()

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{pid}", "patient")
        page.get_by_role("button", name="Archive", exact=True).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(
            "2 check-ins with warning signs are not marked as handled, and cannot be once the patient is archived."
        )
        dialog.get_by_role("button", name="Cancel").click()
        # Once one is handled, the other is still named; the patient is not archived meanwhile.
        page.locator("tr[data-checkin]").first.get_by_role("button", name="as handled").click()
        page.get_by_role("button", name="Mark as handled", exact=True).click()
        wait_view(page, "patient")
        expect(page.locator("tr.flagged.handled")).to_have_count(1)
        page.get_by_role("button", name="Archive", exact=True).click()
        expect(page.get_by_role("dialog")).to_contain_text("One check-in with warning signs is not marked as handled")


def test_an_older_flag_not_yet_handled_stays_in_the_check_ins_table_past_the_latest_30(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    pid, phone = joined(account, "Cleo Checkins")
    old = report(phone, ["fainting"], hours_ago=40)
    for n in range(31):
        report(phone, [], hours_ago=30 - n * 0.5)
    phone.close()

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{pid}", "patient")
        expect(page.locator("tr[data-checkin]")).to_have_count(31)
        expect(page.locator(".view-patient")).to_contain_text("The latest 30 of 32 check-ins are shown")
        row = page.locator(f"tr[data-checkin='{old['id']}']")
        row.get_by_role("button", name="as handled").click()
        page.get_by_role("button", name="Mark as handled", exact=True).click()
        wait_view(page, "patient")
        # Handled, it leaves the table like any other check-in past the latest 30.
        expect(page.locator("tr[data-checkin]")).to_have_count(30)
        expect(page.locator(f"tr[data-checkin='{old['id']}']")).to_have_count(0)


def test_two_flagged_check_ins_of_one_day_are_told_apart_by_their_time(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """Both rows said "Nov 27" and both buttons were "Mark the red flags of Nov 27 as handled": a
    keyboard or screen reader user could not tell which check-in they were marking."""
    pid, phone = joined(account, "Dora Dos")
    morning = report(phone, ["fainting"], hours_ago=3)
    later = report(phone, ["swollen-calf"], hours_ago=1)
    phone.close()

    def when(checkin: dict[str, Any]) -> str:
        at = dt.datetime.fromisoformat(checkin["done_at"].replace("Z", "+00:00")).astimezone(zoneinfo.ZoneInfo(ZONE))
        day = dt.date.fromisoformat(checkin["on_date"])
        return f"{day:%b} {day.day}, {in_zone(checkin['done_at'])[1]} {at:%p}"

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{pid}", "patient")
        for checkin in (morning, later):
            row = page.locator(f"tr[data-checkin='{checkin['id']}']")
            expect(row.get_by_role("rowheader")).to_have_text(when(checkin))
            expect(row.get_by_role("button", name=f"Mark the red flags of {when(checkin)} as handled")).to_be_visible()
        page.get_by_role("button", name=f"Mark the red flags of {when(morning)} as handled").click()
        page.get_by_role("button", name="Mark as handled", exact=True).click()
        wait_view(page, "patient")
        expect(page.locator("#toast")).to_have_text(f"The red flags of {when(morning)} are marked as handled.")
        expect(page.locator(f"tr[data-checkin='{morning['id']}']")).to_contain_text("Handled ")
        expect(page.locator(f"tr[data-checkin='{later['id']}']").get_by_role("button")).to_have_count(1)
