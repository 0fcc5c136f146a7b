"""The therapist console in real Chromium against the real server: the common path within its
documented number of clicks and key presses, the QR code read back, the printed plan (its warning
signs under their own hours), an adjusted dosage assigned, and the patient's own logging shown back
to the therapist."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.bench.harness import ROOT
from tests.browser.conftest import LiveServer, PageProblems, local_today, screenshot, serve
from tests.browser.console_helpers import (
    ConsoleAccount,
    budget,
    console_session,
    count_inputs,
    counted,
    goto_view,
    open_console,
    pdf_pages,
    program_ready,
    read_qr,
    region,
    wait_view,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Flow Therapist")
    yield created
    created.close()


def test_common_path_from_new_patient_to_printed_plan_stays_within_its_documented_length(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    with console_session(browser, live_server, account, page_problems) as (_, page):
        limit = budget(page)
        goto_view(page, "#/", "patients")
        # Printing opens the browser's dialog; record that it was asked for instead.
        page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
        count_inputs(page)

        page.get_by_label("Name", exact=True).click()
        page.keyboard.type("Walk-in Wanda")
        page.keyboard.press("Enter")
        wait_view(page, "treat")
        expect(page.locator("#treated-on")).to_have_value(local_today().isoformat())
        region(page, "upper-trapezius", "left").click()
        region(page, "levator-scapulae", "right").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.locator("#assign").click()
        wait_view(page, "handover")
        expect(page.locator("#print")).to_be_focused()
        page.locator("#print").click()

        used = counted(page)
        assert page.evaluate("() => window.__printed") == 1
        assert used["typed"] == len("Walk-in Wanda"), used["log"]
        assert used["clicks"] <= limit["clicks"], f"{used['clicks']} clicks > {limit['clicks']}: {used['log']}"
        assert used["keys"] <= limit["keys"], f"{used['keys']} key presses > {limit['keys']}: {used['log']}"

        # What was assigned is what was picked.
        patient_id = int(page.url.split("/patients/")[1].split("/")[0])
        plan = account.active_plan(patient_id)
        assert {(t["muscle"], t["side"]) for t in plan["program"]["treated"]} == {
            ("upper-trapezius", "left"),
            ("levator-scapulae", "right"),
        }

        # The large QR code reads back as the invite link shown next to it.
        link = page.locator("#invite-link").get_attribute("href")
        assert link is not None
        assert link.startswith(f"{live_server.url}/#join=")
        assert read_qr(page.locator(".qr-card img.qr")) == link
        code = page.locator("#invite-code").inner_text().replace("Invite code", "").strip()
        assert link.endswith(code)

        # The print view: the plan and nothing of the console around it, on four pages (the console
        # README's bound for two muscles, each exercise with its steps, feel and stop rule).
        page.emulate_media(media="print")
        expect(page.locator(".bar")).to_be_hidden()
        expect(page.locator(".qr-card")).to_be_hidden()
        sheet = page.locator("#handout")
        expect(sheet).to_be_visible()
        expect(sheet).to_contain_text("Walk-in Wanda")
        expect(sheet).to_contain_text("Your first week")
        expect(sheet).to_contain_text(code)
        shown = page.evaluate(
            "() => [...document.querySelectorAll('#handout .handout-exercise')].map(e => e.dataset.exercise)"
        )
        first_days = [i for i in plan["program"]["items"] if i["from_day"] <= 6]
        assert shown, "the first days' routine is printed"
        assert set(shown) == {i["exercise_id"] for i in first_days}
        expect(sheet).to_contain_text("Aftercare: the first 48 hours")
        expect(sheet).to_contain_text("Warning signs")
        expect(sheet).to_contain_text("collapsed lung")  # the chest-wall red flag of the trapezius
        assert read_qr(page.locator("#handout img.qr")) == link
        screenshot(page, "console-print-view", full_page=True)
        assert 1 <= pdf_pages(page.pdf(format="A4")) <= 4


# Fourteen muscles from nearly every region, so the first week holds many different exercises (44,
# on 54 lines over its two phases) and the precautions of all three kinds.
FOURTEEN = [
    "upper-trapezius",
    "scalenes",
    "masseter",
    "infraspinatus",
    "pectoralis-major",
    "wrist-extensors",
    "quadratus-lumborum",
    "gluteus-medius",
    "piriformis",
    "iliopsoas",
    "hamstrings",
    "vastus-lateralis",
    "gastrocnemius",
    "tibialis-anterior",
]


def test_a_fourteen_muscle_plan_in_spanish_prints_every_dose_and_warning_within_its_pages(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient(
        "Catorce Músculos", locale="es", treated=[{"muscle": m, "side": "right"} for m in FOURTEEN]
    )
    sheet_data = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/handout"))
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.get_by_role("button", name="Make a code").click()  # the QR block, as right after assigning
        expect(page.locator("#handout img.qr")).to_be_visible()
        page.emulate_media(media="print")
        sheet = page.locator("#handout")
        # Each exercise's doses in its block, after its title.
        blocks = page.evaluate(
            """() => [...document.querySelectorAll('#handout .handout-exercise')].map((b) =>
                 [b.querySelector('h5').textContent, [...b.querySelectorAll('.dose')].map((d) => d.textContent)])"""
        )
        first_week = [i for i in sheet_data["items"] if i["from_day"] <= 6]
        assert len(first_week) >= 50
        for item in first_week:
            assert any(
                title.startswith(item["title"]) and any(item["dosage_text"] in dose for dose in doses)
                for title, doses in blocks
            ), item
        signs = page.locator("#handout .handout-flags li")
        expect(signs).to_have_count(len(sheet_data["red_flags"]))
        for flag in sheet_data["red_flags"]:
            expect(sheet).to_contain_text(flag["sign"])
            expect(sheet).to_contain_text(flag["action"])
        expect(sheet).to_contain_text(sheet_data["aftercare"]["disclaimer"])  # the stop rules
        # Whom to contact, at the top and with the warning signs ("contacte con la clínica").
        contact = page.locator("#handout .handout-contact")
        expect(contact).to_have_count(2)
        expect(contact.first).to_have_text(f"Su terapeuta: {sheet_data['therapist_name']}")
        # Twelve pages at most (five before each exercise said how to do it): the parts every plan
        # prints (the head with 14 names, the QR code, the aftercare, the warning signs) fill over a
        # page, and the 44 exercises with their steps, feel and stop rules, in two columns at
        # 9.5 pt, about ten more. The page count per plan is in test_console_handout.py too.
        assert pdf_pages(page.pdf(format="A4")) <= 12


@pytest.fixture(scope="module")
def own_windows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """A server of its own whose content gives the nerve warning sign 72 hours, while the aftercare
    and the chest-wall sign keep 48 (every sign in plans/ has 48 now, so only different content
    tells a sign's own window from the aftercare's)."""
    tmp = tmp_path_factory.mktemp("windows")
    plans = tmp / "plans"
    shutil.copytree(ROOT / "plans", plans)
    aftercare = plans / "aftercare.toml"
    text = aftercare.read_text()
    changed = text.replace('precaution = "nerve"\nhours = 48\n', 'precaution = "nerve"\nhours = 72\n')
    assert changed != text, "the nerve sign's hours are not where this test expects them"
    aftercare.write_text(changed)
    with serve(tmp, plans_dir=str(plans)) as server:
        yield server, aftercare


WINDOW_WORDS = {
    "en": ("In the first {} hours after treatment", "At any time"),
    "es": ("En las primeras {} horas después del tratamiento", "En cualquier momento"),
}


@pytest.mark.parametrize("locale", ["en", "es"])
def test_each_printed_warning_sign_is_under_its_own_hours_not_the_aftercares(
    browser: Browser, own_windows: tuple[LiveServer, Path], page_problems: PageProblems, locale: str
) -> None:
    server, aftercare = own_windows
    content = tomllib.loads(aftercare.read_text())
    # Scalenes: chest-wall and nerve precautions, no vessel one.
    precautions = {"chest-wall", "nerve"}
    windows = {
        f["id"]: (f.get("hours") or content["hours"]) if "precaution" in f else None
        for f in content["red_flags"]
        if f.get("precaution", "chest-wall") in precautions
    }
    assert windows["nerve-numbness-weakness"] != content["hours"], "a sign with a window of its own is needed"
    within, any_time = WINDOW_WORDS[locale]
    account = ConsoleAccount.create(server, "Windows Therapist")
    patient = account.patient("Sara Scalenes", locale=locale, treated=[{"muscle": "scalenes", "side": "right"}])
    context, page = open_console(browser, server, account, page_problems)
    try:
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        # Each sign with the heading of the group it is printed in.
        shown = page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('#handout .handout-flags li[data-flag]')]
                 .map((li) => [li.dataset.flag, li.closest('ul').previousElementSibling.textContent]))"""
        )
        assert shown == {flag: within.format(hours) if hours else any_time for flag, hours in windows.items()}
        headings = page.locator("#handout .handout-flags h4").all_inner_texts()
        assert headings == [*(within.format(n) for n in sorted({n for n in windows.values() if n})), any_time]
    finally:
        context.close()
        account.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def test_adjusted_dosage_is_assigned_and_what_the_patient_logs_shows_on_their_page(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Dosage Dora")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "infraspinatus", "right").click()
        region(page, "gluteus-medius", "left").click()
        expect(page.locator(".chip")).to_have_count(2)
        first = program_ready(page).locator(".item").first
        expect(first).to_be_visible()
        exercise_id = first.get_attribute("data-exercise")
        first.get_by_role("button", name="Dosage of").click()
        expect(first.get_by_label("Sets")).to_be_focused()
        first.get_by_label("Reps").fill("12")
        expect(first.locator(".item-dose")).to_contain_text("12 repetitions")
        first.get_by_role("button", name="Midday").click()
        page.locator("#assign").click()
        wait_view(page, "handover")

        plan = account.active_plan(patient["id"])
        assigned = plan["program"]["items"][0]
        assert assigned["exercise_id"] == exercise_id
        assert assigned["dosage"]["reps"] == 12
        assert "midday" in assigned["slots"]
        assert {(t["muscle"], t["side"]) for t in plan["program"]["treated"]} == {
            ("infraspinatus", "right"),
            ("gluteus-medius", "left"),
        }

        # The patient scans the code (read back from the screen) and logs the adjusted exercise.
        link = read_qr(page.locator(".qr-card img.qr"))
        assert "#join=" in link
        phone = account.join(link.split("#join=")[1])
        today = local_today()
        done = {
            "id": str(uuid.uuid4()),
            "exercise_id": exercise_id,
            "on_date": today.isoformat(),
            "slot": assigned["slots"][0],
            "done_at": dt.datetime.now(dt.UTC).isoformat(),
            "reps_done": 12,
            "pain": 2,
        }
        checkin = {
            "id": str(uuid.uuid4()),
            "on_date": today.isoformat(),
            "soreness": 8,
            "red_flags": ["fainting"],
            "note": "felt faint once",
            "done_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        r = phone.post("/api/v1/patient/sync", json={"completions": [done], "checkins": [checkin]})
        assert r.status_code == 200, r.text
        phone.close()

        goto_view(page, f"#/patients/{patient['id']}", "patient")
        row = page.locator(f"tr[data-completion='{done['id']}']")
        expect(row).to_be_visible()
        title = page.evaluate("id => document.querySelector(`tr[data-completion='${id}'] th`).textContent", done["id"])
        catalog = live_server_exercise(live_server, exercise_id)
        assert title == catalog["title"]
        expect(row).to_contain_text("12 reps")
        expect(row).to_contain_text("2/10")
        # The count is over the days the page asks for, which it says (not "since" a first record).
        expect(page.get_by_text("1 exercise logged in the last 90 days (from ")).to_be_visible()
        expect(page.locator(".calendar td.today")).to_have_class("day s-partial today")
        expect(page.get_by_role("heading", name="Check-ins")).to_be_visible()
        expect(page.locator("tr.flagged")).to_contain_text("Fainting")
        expect(page.locator(".view-patient > .badges")).to_contain_text("Red flag")
        expect(page.locator(".trend desc")).to_contain_text("latest 8")
        expect(page.locator("#card-devices")).to_be_visible()
        expect(page.get_by_role("button", name="Remove Test phone")).to_be_visible()

        # The CSV export behind the button carries the same records, under the server's file name.
        with page.expect_download() as saved:
            page.get_by_role("button", name="Export CSV").click()
        assert re.fullmatch(rf"unknot-patient-{patient['id']}-\d{{4}}-\d\d-\d\d\.csv", saved.value.suggested_filename)
        with open(saved.value.path(), encoding="utf-8-sig") as file:  # as a spreadsheet reads it
            rows = list(csv.DictReader(io.StringIO(file.read())))
        assert {r["id"] for r in rows} == {done["id"], checkin["id"]}

        # And the patient list shows the week's adherence, the soreness and the attention badge,
        # from one request for all patients (not one per patient).
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url.split("/api/v1")[1]) if "adherence" in r.url else None)
        goto_view(page, "#/", "patients")
        line = page.locator(f"tr[data-patient='{patient['id']}']")
        expect(line).to_contain_text("8/10")
        expect(line).to_contain_text("Red flag")
        expect(line).to_contain_text("just now")
        expect(line.locator("meter")).to_have_count(1)
        page.wait_for_selector(".view-patients[data-loaded]")
        assert asked == ["/adherence"]


def live_server_exercise(server: LiveServer, exercise_id: str) -> dict[str, str]:
    import httpx

    return httpx.get(f"{server.url}/api/v1/catalog/exercises/{exercise_id}", timeout=10).json()


BUSY = "The database is busy; nothing was changed, retry"
# server/api/errors.py's words when PostgreSQL's connection was lost while COMMIT was on its way.
UNSURE = (
    "the connection to the database was lost while saving: it may or may not have been saved; "
    "check before sending it again"
)


def busy_the_first_time(detail: str = BUSY) -> tuple[Callable[[Route], None], list[int]]:
    """A route handler answering its first POST 503 with ``detail`` and letting the rest through,
    and the count of POSTs it saw."""
    hits = [0]

    def handle(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        hits[0] += 1
        if hits[0] == 1:
            body = {"status": 503, "detail": detail, "errors": [], "code": "database_unavailable"}
            route.fulfill(status=503, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    return handle, hits


def test_a_failed_invite_is_made_again_without_assigning_the_plan_twice(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Ines Invite")
    busy_once, hits = busy_the_first_time()
    with console_session(browser, live_server, account, page_problems) as (_, page):
        page.route("**/api/v1/patients/*/invites", busy_once)
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.get_by_role("button", name="Assign and hand over").click()
        problem = page.locator(".view-treat > [role=alert]")
        expect(problem).to_contain_text(f"The plan is assigned; the code could not be made yet. {BUSY}.")
        assert len(account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/plans"))) == 1
        page.get_by_role("button", name="Make the code and hand over").click()
        wait_view(page, "handover")
        assert hits == [2]
        assert len(account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/plans"))) == 1
        expect(page.locator("#invite-code")).to_be_visible()


def test_a_save_that_may_or_may_not_be_stored_is_said_in_the_servers_words_and_never_sent_again_by_itself(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Uri Unsure")
    new_patient, created = busy_the_first_time(UNSURE)
    invite, invited = busy_the_first_time(UNSURE)
    sign_out, signed_out = busy_the_first_time("the database cannot be reached; nothing was changed, try again later")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        page.route("**/api/v1/patients", new_patient)
        page.route("**/api/v1/patients/*/invites", invite)
        page.route("**/api/v1/auth/logout", sign_out)

        page.get_by_label("Name", exact=True).fill("Vera Maybe")
        page.get_by_label("Name", exact=True).press("Enter")
        expect(page.locator(".view-patients [role=alert]")).to_have_text(UNSURE)

        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.get_by_role("button", name="Assign and hand over").click()
        expect(page.locator(".view-treat > [role=alert]")).to_contain_text(
            "The plan is assigned; the code could not be made yet. The connection to the database was lost "
            "while saving: it may or may not have been saved; check before sending it again. Try again"
        )

        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#toast")).to_have_text(
            "Signing out failed: the database cannot be reached; nothing was changed, try again later"
        )
        expect(page.locator("#who")).to_be_visible()
        page.wait_for_timeout(1_000)  # time for a retry the console must not make
        assert (created, invited, signed_out) == ([1], [1], [1])
    assert len(account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/plans"))) == 1


def test_a_failed_program_preview_is_asked_for_again_when_assigning(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Pablo Preview")
    busy_once, hits = busy_the_first_time()
    with console_session(browser, live_server, account, page_problems) as (_, page):
        page.route("**/api/v1/programs/preview", busy_once)
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        expect(page.locator("#program-editor")).to_have_attribute("data-state", "error")
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
        assert hits == [2]
        plan = account.active_plan(patient["id"])
        assert [(t["muscle"], t["side"]) for t in plan["program"]["treated"]] == [("upper-trapezius", "left")]


def test_a_program_for_a_condition_adds_its_exercises_and_is_assigned_with_them(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Nora Neck")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        added = program_ready(page).locator(".item[data-exercise='chin-tuck']")
        expect(added).to_have_count(0)
        box = page.locator("#conditions")
        expect(box.locator("summary")).to_have_text("For a condition (optional)")
        box.locator("summary").click()
        # Those linked to the chosen muscle come first, each saying what it adds.
        linked = box.get_by_role("group", name="Linked to the chosen muscles")
        expect(linked.get_by_role("checkbox", name="Neck pain", exact=True)).to_be_visible()
        expect(linked.get_by_role("checkbox", name="Neck pain", exact=True)).to_have_accessible_description(
            "adds Chin tuck, Shoulders-down check"
        )
        others = box.get_by_role("group", name="Other conditions")
        expect(others.get_by_role("checkbox", name="Neck pain", exact=True)).to_have_count(0)
        linked.get_by_role("checkbox", name="Neck pain", exact=True).check()
        expect(box.locator("summary")).to_have_text("For: Neck pain")
        program_ready(page)
        expect(added.first).to_be_visible()
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
    items = {i["exercise_id"] for i in account.active_plan(patient["id"])["program"]["items"]}
    assert {"chin-tuck", "shoulders-down-check"} <= items
