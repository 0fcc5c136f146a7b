"""What the console shows must hold: an invite code handed over once is not offered (or printed)
again, dates of instants are the therapist's local dates, the program editor refuses what the
server refuses and puts the server's refusals on the row they concern."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, program_ready, region, wait_view

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Checks Therapist")
    yield created
    created.close()


def test_a_code_the_patient_used_is_not_shown_or_printed_again(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Hana Handover")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
        code = page.locator("#invite-code").inner_text().replace("Invite code", "").strip()
        expect(page.locator("#handout")).to_contain_text(code)
        account.join(code).close()

        page.get_by_role("link", name="Done").click()
        wait_view(page, "patient")
        page.get_by_role("link", name="Hand over", exact=True).click()
        wait_view(page, "handover")
        expect(page.locator("#handout")).to_contain_text("Hana Handover")
        expect(page.locator("#invite-code")).to_have_count(0)
        expect(page.locator("#handout")).not_to_contain_text(code)
        expect(page.locator(".qr-card img.qr")).to_have_count(0)
        expect(page.get_by_role("button", name="Make a code")).to_be_visible()


def test_dates_of_instants_are_the_local_dates(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Dora Dateline", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    invite = account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))
    account.join(invite["code"], "Dora's phone").close()
    device = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/devices"))[0]
    created = dt.datetime.fromisoformat(patient["created_at"])
    # A zone where the local date is not the UTC date right now: fourteen hours ahead from 10:00
    # UTC, eleven behind before 11:00 (the code would show the UTC date if it sliced the instant).
    zone = "Pacific/Kiritimati" if created.astimezone(dt.UTC).hour >= 10 else "Pacific/Pago_Pago"
    tz = zoneinfo.ZoneInfo(zone)
    added = created.astimezone(tz).date()
    joined = dt.datetime.fromisoformat(device["created_at"]).astimezone(tz).date()
    assert added != created.astimezone(dt.UTC).date()
    with console_session(browser, live_server, account, page_problems, timezone_id=zone) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        expect(page.locator(".meta")).to_contain_text(f"added {added:%B} {added.day}, {added.year}")
        row = page.get_by_role("row", name="Dora's phone")
        expect(row.get_by_role("cell").first).to_have_text(f"{joined:%b} {joined.day}")

        # The printed plan's "valid until" is the local date of the code's expiry too.
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        with page.expect_response("**/invites") as made:
            page.get_by_role("button", name="Make a code").click()
        expires = dt.datetime.fromisoformat(made.value.json()["expires_at"]).astimezone(tz).date()
        expect(page.locator("#handout")).to_contain_text(f"{expires:%B} {expires.day}, {expires.year}")
