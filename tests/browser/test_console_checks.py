"""What the console shows must hold: an invite code handed over once is not offered (or printed)
again, dates of instants are the therapist's local dates, the program editor refuses what the
server refuses and puts the server's refusals on the row they concern."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.browser.conftest import LiveServer, PageProblems, check_a11y, local_today
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


# A browser's push subscription (a real P-256 key; the live server is in development, so a local
# endpoint is taken; nothing is sent to it during the test).
SUBSCRIPTION = {
    "endpoint": "http://127.0.0.1:9/push/console-checks",
    "keys": {
        "p256dh": "BMUQ7gkSTNiOzjgK9ypA6A-vTXbqOCor-hk7re9D46xbqQJ_5Jzlk_CIA-tp0Bbq8RrdFl0JJDsWiuw1-CLpiJM",
        "auth": "0kBnYKownSsAyn_7zPE0-w",
    },
}


def test_dates_of_instants_are_the_local_dates(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Dora Dateline", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    invite = account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))
    with account.join(invite["code"], "Dora's phone") as phone:
        # Subscribed, so reminders are on and the card says when each goes next (nothing is due today).
        assert phone.put("/api/v1/patient/push/subscriptions", json=SUBSCRIPTION).status_code in (200, 201)
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
        # The reminders' "Next" is in the patient's zone (Madrid), as the card says, not the browser's.
        reminders = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/reminders"))
        rule = next(r for r in reminders["rules"] if r["enabled"] and r["next_at"])
        at = dt.datetime.fromisoformat(rule["next_at"]).astimezone(zoneinfo.ZoneInfo(reminders["timezone"]))
        assert f"{at:%H:%M}" == rule["local_time"]
        rule_row = page.get_by_role("table", name="Reminder times").get_by_role("row", name=rule["local_time"])
        when = re.compile(rf"{at.day}, {at.year}, {at:%-I:%M}\s{at:%p}$")
        expect(rule_row.get_by_role("cell").last).to_have_text(when)

        # The printed plan's "valid until" is the local date of the code's expiry too.
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        with page.expect_response("**/invites") as made:
            page.get_by_role("button", name="Make a code").click()
        expires = dt.datetime.fromisoformat(made.value.json()["expires_at"]).astimezone(tz).date()
        expect(page.locator("#handout")).to_contain_text(f"{expires:%B} {expires.day}, {expires.year}")


NECK = [{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "scalenes", "side": "right"}]


def test_the_hold_field_takes_only_what_the_server_takes_for_that_exercise(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Hugo Hold", treated=NECK)
    exercises = account.ok(account.api.get("/api/v1/catalog/exercises"))
    caps = {e["id"]: e["max_hold_seconds"] for e in exercises}
    assert caps["neck-side-bend-stretch"] == 60
    assert caps["scalene-stretch"] == 15
    floors = {e["id"]: e["min_hold_seconds"] for e in exercises}
    assert floors["neck-side-bend-stretch"] == floors["scalene-stretch"] == 10
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        for exercise, cap in (("neck-side-bend-stretch", 60), ("scalene-stretch", 15)):
            row = page.locator(f".phase-mobility .item[data-exercise='{exercise}']")
            row.locator("[data-action=edit]").click()
            hold = row.get_by_label("Hold (s)")
            expect(hold).to_have_attribute("max", str(cap))
            # Typed key by key, "90" passes through "9": the field keeps the text typed, says why
            # it is refused, and saving (Ctrl+Enter from the field) does not send the "9".
            dose = row.locator("[data-role=dose]").inner_text()
            hold.select_text()
            hold.press_sequentially("90")
            expect(hold).to_have_accessible_description(f"At most {cap} s for this exercise.")
            expect(row.locator("[data-role=dose]")).to_have_text(dose)
            if cap == 15:
                sets = row.get_by_label("Sets")
                sets.select_text()
                sets.press_sequentially("12")
                sets.press("Tab")
                expect(sets).to_have_value("12")
                expect(sets).to_have_accessible_description("At most 10.")
                page.get_by_role("button", name="Save changes").click()
                expect(sets).to_be_focused()
                expect(page.get_by_role("alert")).to_contain_text(
                    "Deep side-of-neck stretch (Gentle stretching), Sets: at most 10."
                )
                sets.fill("2")
            else:
                hold.press("Control+Enter")
                expect(hold).to_be_focused()
            expect(hold).to_have_value("90")
            expect(hold).to_have_attribute("aria-invalid", "true")
            expect(page.get_by_role("alert")).to_contain_text("Nothing was saved.")
            expect(page.locator("body")).to_have_attribute("data-view", "plan")
            hold.fill(str(cap))
            expect(hold).to_have_attribute("aria-invalid", "false")
            # Nor a stretch held for no time: at least the 10 s stretching needs.
            expect(hold).to_have_attribute("min", "10")
            hold.fill("0")
            expect(hold).to_have_accessible_description("At least 10 s for this exercise.")
            expect(hold).to_have_attribute("aria-invalid", "true")
            hold.fill(str(cap))
            # The template's 30 repetitions, not the 50 a dosage could say.
            reps = row.get_by_label("Reps")
            expect(reps).to_have_attribute("max", "30")
            reps.fill("31")
            expect(reps).to_have_attribute("aria-invalid", "true")
            reps.fill("5")
            # Days outside the item's phase (days 3-7 as the patient counts them) are refused as the
            # server refuses them.
            row.get_by_label("To day").fill("8")
            expect(row.get_by_label("To day")).to_have_attribute("aria-invalid", "true")
            row.get_by_label("To day").fill("7")
        page.get_by_role("button", name="Save changes").click()
        wait_view(page, "patient")
    items = account.active_plan(patient["id"])["program"]["items"]
    holds = {i["exercise_id"]: i["dosage"]["hold_seconds"] for i in items if i["phase"] == "mobility"}
    assert (holds["neck-side-bend-stretch"], holds["scalene-stretch"]) == (60, 15)


def test_an_item_the_server_refuses_is_marked_on_its_row_with_its_phase_opened(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Rita Row", treated=NECK)
    items = account.active_plan(patient["id"])["program"]["items"]
    # A refusal the console's own checks cannot meet (another client's, or content changed since
    # the page loaded): the request is changed on its way to the real server.
    late = max(i for i, item in enumerate(items) if item["phase"] == "maintenance" and item["dosage"]["hold_seconds"])
    title = {e["id"]: e["title"] for e in account.ok(account.api.get("/api/v1/catalog/exercises"))}[
        items[late]["exercise_id"]
    ]

    def too_long(route: Route) -> None:
        body = route.request.post_data_json
        body["items"][late]["dosage"]["hold_seconds"] = 90
        route.continue_(post_data=json.dumps(body))

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        phase = page.locator("details.phase-maintenance")
        expect(phase).not_to_have_attribute("open", "")
        page.route(
            "**/api/v1/patients/*/plan",
            lambda route: too_long(route) if route.request.method == "PUT" else route.continue_(),
        )
        page.locator(".phase-mobility [data-action=slot][aria-pressed=false]").first.click()
        page.get_by_role("button", name="Save changes").click()
        hold = (
            phase.locator(".item")
            .nth(late - items.index(next(i for i in items if i["phase"] == "maintenance")))
            .get_by_label("Hold (s)")
        )
        expect(phase).to_have_attribute("open", "")
        expect(hold).to_be_focused()
        expect(hold).to_have_attribute("aria-invalid", "true")
        expect(hold).to_have_accessible_description(
            re.compile(f"{re.escape(title)} .*Hold \\(s\\): must be at most \\d+")
        )
        alert = page.locator(".view-plan > [role=alert]")
        expect(alert).to_contain_text(f"Nothing was saved. {title}")
        expect(alert).not_to_contain_text("item 1")
        expect(alert).not_to_contain_text(f"item {late + 1}")
    assert account.active_plan(patient["id"])["version"] == 1


def test_a_program_with_no_items_is_refused_in_plain_words(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Nora Nothing", treated=NECK)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        while page.locator("#program-editor [data-action=remove]").count():
            page.locator("#program-editor [data-action=remove]").first.dispatch_event("click")
        page.get_by_role("button", name="Save changes").click()
        alert = page.locator(".view-plan > [role=alert]")
        expect(alert).to_have_text(re.compile(r"^The program has no exercises left.*Add at least one\.$"))
        expect(alert).to_be_focused()
        # The explainer puts msgspec's length messages in words too (another client's empty list).
        plain = page.evaluate(
            """async () => (await import("/console/js/ui.js")).plainMessage("Expected `array` of length >= 1")"""
        )
        assert plain == "needs at least one item"
        page.get_by_role("link", name=re.compile("Nora Nothing")).click()
        page.get_by_role("button", name="Leave without saving").click()
        wait_view(page, "patient")
    assert account.active_plan(patient["id"])["version"] == 1


def test_a_treatment_dated_after_today_says_the_patient_is_left_without_exercises_until_then(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Dora Date", treated=NECK)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        ahead = page.locator("#date-ahead")
        expect(ahead).to_have_text("")
        later = dt.date.today() + dt.timedelta(days=7)
        page.get_by_label("Treated on").fill(later.isoformat())
        expect(ahead).to_contain_text("the current plan goes on until the day before, and this one starts that day")
        check_a11y(page, "treatment dated after today")
        page.get_by_label("Treated on").fill(dt.date.today().isoformat())
        expect(ahead).to_have_text("")
        # The dates the server takes, and a past date whose program (42 days) has ended is said.
        today = local_today()
        expect(page.get_by_label("Treated on")).to_have_attribute("min", (today - dt.timedelta(days=800)).isoformat())
        expect(page.get_by_label("Treated on")).to_have_attribute("max", (today + dt.timedelta(days=366)).isoformat())
        region(page, "upper-trapezius", "left").click()
        page.get_by_label("Treated on").fill((today - dt.timedelta(days=100)).isoformat())
        program_ready(page)
        expect(ahead).to_contain_text("this program ended on")
        page.get_by_label("Treated on").fill((today - dt.timedelta(days=10)).isoformat())
        expect(ahead).to_have_text("")


# The patient page's table cells whose text is one short word ("9/10", "done"), each with the number
# of lines the browser drew that text on (text for screen readers only left out).
SHORT_CELLS = """() => [...document.querySelectorAll(".data td, .data th")]
  .map((cell) => {
    const tops = new Set();
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let text = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim() || node.parentElement.closest(".sr-only")) continue;
      text += node.textContent.trim();
      range.selectNodeContents(node);
      for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
    }
    return [text, tops.size];
  })
  .filter(([text]) => text && text.length <= 8 && !/\\s/.test(text))"""


def test_the_patient_page_keeps_short_values_whole_and_long_notes_inside_their_card(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    # A therapist of its own: the list's counts below are of this test's patients alone.
    account = ConsoleAccount.create(live_server, "Layout Therapist")
    link = "https://clinic.example/handouts?sheet=" + "a1b2c3d4" * 30  # pasted, with nowhere to break
    patient = account.patient("Lena Layout")
    body = {"treated": [{"muscle": "upper-trapezius", "side": "right"}], "treated_on": local_today().isoformat()}
    account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/plans", json={**body, "notes": link}))
    phone = account.join(
        account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))["code"], "Lena's phone"
    )
    now = dt.datetime.now(dt.UTC).isoformat()
    checkins = [
        {
            "id": f"00000000-0000-4000-8000-00000000000{n}",
            "on_date": local_today().isoformat(),
            "soreness": n + 7,
            "note": "Woke up stiff; the neck felt tight after a long day at the desk, better after the stretch.",
            "done_at": now,
        }
        for n in (1, 2)
    ]
    assert phone.post("/api/v1/patient/sync", json={"checkins": checkins}).status_code == 200
    phone.close()
    try:
        with console_session(browser, live_server, account, page_problems, viewport={"width": 1366, "height": 768}) as (
            _,
            page,
        ):
            expect(page.locator("#patient-count")).to_have_text("1 patient.")
            # A name left empty is marked on its field, as the server's refusals are.
            page.get_by_label("Name", exact=True).fill("  ")
            page.get_by_role("button", name="Add and record treatment").click()
            name = page.get_by_label("Name", exact=True)
            expect(name).to_have_attribute("aria-invalid", "true")
            expect(name).to_be_focused()
            expect(page.locator(".field-error")).to_have_text("Name: type the patient's name first.")

            goto_view(page, f"#/patients/{patient['id']}", "patient")
            expect(page.get_by_role("heading", name="Check-ins")).to_be_visible()
            cells = page.evaluate(SHORT_CELLS)
            assert ["9/10", 1] in cells, cells
            assert all(lines == 1 for _, lines in cells), [c for c in cells if c[1] != 1]
            plan = page.get_by_role("region", name="Plan")
            expect(plan).to_contain_text("a1b2c3d4a1b2c3d4")
            assert plan.evaluate("card => card.scrollWidth <= card.clientWidth"), "the note runs out of its card"

            # No phone subscribed to reminders: they are off, and no reminder time is said to be next.
            reminders = page.get_by_role("table", name="Reminder times")
            expect(page.get_by_role("region", name="Reminders")).to_contain_text("Off")
            for cell in reminders.locator("tbody td:last-child").all():
                expect(cell).to_have_text("—")

            # The phone's joining is in the history, by the patient, with the phone's name.
            page.get_by_text("What was done to this patient's records").click()
            joined = page.get_by_role("table", name="Audit trail, newest first").locator(
                "tr[data-action='device.join']"
            )
            expect(joined.locator("th")).to_have_text("Phone joined with a code")
            expect(joined).to_contain_text("The patient")
            expect(joined.locator("td:last-child")).to_have_text("Lena's phone")

            account.ok(account.api.patch(f"/api/v1/patients/{patient['id']}", json={"archived": True}))
            goto_view(page, "#/?archived", "patients")
            expect(page.locator("#patient-count")).to_have_text("1 archived patient.")
    finally:
        account.close()


def test_each_item_is_dosed_with_the_fields_it_uses_and_its_details_name_the_muscles(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Fiona Fields")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        editor = program_ready(page)

        def fields(exercise_id: str) -> list[str]:
            row = editor.locator(f".item[data-exercise='{exercise_id}']").first
            row.get_by_role("button", name="Dosage of").click()
            return row.locator(".item-edit label").all_inner_texts()

        # A habit has nothing to count; a walk has minutes; a held stretch sets, reps and a hold.
        assert fields("aftercare-fluids") == ["Days a week", "From day", "To day"]
        assert fields("aftercare-gentle-walk") == ["Minutes", "Days a week", "From day", "To day"]
        stretch = editor.locator(".item[data-exercise='neck-side-bend-stretch']").first
        expect(stretch).to_be_visible()
        assert fields("neck-side-bend-stretch") == ["Sets", "Reps", "Hold (s)", "Days a week", "From day", "To day"]
        stretch.locator("button.item-title").click()
        expect(stretch.locator(".item-details")).to_contain_text("Works on: Upper trapezius (top of the shoulder)")


def test_the_plan_card_says_when_a_plan_for_a_booked_visit_starts_and_what_runs_until_then(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Vera Visit", treated=NECK)
    visit, sooner = local_today() + dt.timedelta(days=5), local_today() + dt.timedelta(days=2)
    body = {"treated": [{"muscle": "masseter", "side": "both"}], "treated_on": visit.isoformat()}
    account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/plans", json=body))
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")

        def long(day: dt.date) -> str:
            return page.evaluate(
                "d => new Intl.DateTimeFormat('en', {dateStyle: 'long'}).format(new Date(d + 'T12:00'))",
                day.isoformat(),
            )

        expect(page.locator("#plan-ahead")).to_have_text(
            f"Starts on {long(visit)}. Until then the patient keeps the plan treated on {long(local_today())}."
        )
        # The visit moved forward: the plan prepared for the later date never runs, the current one does.
        body = {"treated": [{"muscle": "temporalis", "side": "both"}], "treated_on": sooner.isoformat()}
        account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/plans", json=body))
        page.reload()
        wait_view(page, "patient")
        expect(page.locator("#plan-ahead")).to_have_text(
            f"Starts on {long(sooner)}. Until then the patient keeps the plan treated on {long(local_today())}."
        )


def test_on_a_plans_first_day_the_list_says_nothing_is_counted_yet_not_that_nothing_is_due(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Dani Dayzero", treated=NECK)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        page.wait_for_selector(".view-patients[data-loaded]")
        week = page.locator(f"tr[data-patient='{patient['id']}'] td[data-label='This week']")
        expect(week).to_have_text("nothing counted yet")
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        expect(page.locator(".view-patient")).to_contain_text(re.compile(r"0/\d+ today"))


def test_the_editor_counts_plan_days_as_the_patient_does_the_day_of_needling_being_day_1(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """Therapist and patient talk of the same "day 3": the app and the printed plan call the day
    of needling day 1, so the editor does too (the API's day 0)."""
    patient = account.patient("Dana Day", treated=NECK)
    phases = {p["id"]: p for p in account.active_plan(patient["id"])["program"]["phases"]}
    mobility = phases["mobility"]
    assert (phases["aftercare"]["from_day"], mobility["from_day"], mobility["to_day"]) == (0, 2, 6)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        expect(page.locator("details.phase-aftercare > summary")).to_contain_text("Days 1\u20132 · ")
        expect(page.locator("details.phase-mobility > summary")).to_contain_text("Days 3\u20137 · ")
        row = page.locator(".phase-mobility .item[data-exercise='scalene-stretch']")
        expect(row.locator(".item-meta")).to_contain_text("Days 3\u20137")
        row.locator("[data-action=edit]").click()
        first, last = row.get_by_label("From day"), row.get_by_label("To day")
        expect(first).to_have_value("3")
        expect(last).to_have_value("7")
        expect(last).to_have_attribute("min", "3")
        expect(last).to_have_attribute("max", "7")
        last.fill("2")
        expect(last).to_have_accessible_description("This phase is days 3\u20137.")
        last.fill("4")
        expect(first).to_have_accessible_description("")
        first.fill("5")
        expect(first).to_have_accessible_description("Not after the last day (4).")
        first.fill("4")
        expect(row.locator(".item-meta")).to_contain_text("Day 4")
        page.get_by_role("button", name="Save changes").click()
        wait_view(page, "patient")
    items = account.active_plan(patient["id"])["program"]["items"]
    saved = next(i for i in items if i["exercise_id"] == "scalene-stretch" and i["phase"] == "mobility")
    assert (saved["from_day"], saved["to_day"]) == (3, 3)
