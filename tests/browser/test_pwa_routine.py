"""The app computes any day's routine offline: it must agree with the server, day by day."""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Clinic, Patient, join_in_browser, local_today, wait_for_screen

pytestmark = pytest.mark.browser

# Runs in the page: the app's own routine.js against GET /today for every day of the plan,
# from two days before the oldest version the bundle carries starts to two days after it ends.
COMPARE = """async ({ token, lang }) => {
  const { routineFor, programDays } = await import("/js/routine.js");
  const { addDays, dayNumber } = await import("/js/dates.js");
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  const bundle = await (await fetch(`/api/v1/patient/plan?lang=${lang}`, auth)).json();
  const start = [bundle.program, ...(bundle.earlier || []).map((e) => e.program)].map((p) => p.treated_on).sort()[0];
  const days = programDays(bundle.program) + dayNumber(bundle.program.treated_on) - dayNumber(start);
  const problems = [];
  const shown = {};
  let compared = 0;
  let withEntries = 0;
  for (let d = -2; d < days + 2; d++) {
    const date = addDays(start, d);
    const server = await (await fetch(`/api/v1/patient/today?date=${date}&lang=${lang}`, auth)).json();
    const mine = routineFor(bundle, date);
    const shape = (r, titles) => JSON.stringify({
      day: r.day, phase: r.phase, phase_name: r.phase_name, aftercare: r.aftercare,
      red_flags: titles ? r.red_flags.map((f) => f.id) : r.red_flags,
      entries: r.entries.map((e) => ({
        exercise_id: e.exercise_id, slot: e.slot, side: e.side, dosage: e.dosage,
        title: titles ? e.title : bundle.exercises[e.exercise_id].title,
        kind: titles ? e.kind : bundle.exercises[e.exercise_id].kind,
      })),
    });
    const a = shape(server, true);
    const b = shape(mine, false);
    if (a !== b) problems.push({ date, server: a, app: b });
    shown[date] = a;
    compared += 1;
    if (mine.entries.length) withEntries += 1;
  }
  return { problems, compared, withEntries, days, shown, earlier: (bundle.earlier || []).length };
}"""


def rest_days_items(clinic: Clinic, treated: list[dict[str, str]], treated_on: dt.date) -> list[dict]:
    """The generated items with some done fewer than 7 days a week, so resting days are compared too."""
    items = copy.deepcopy(clinic.preview(treated, treated_on))
    for i, item in enumerate(items):
        if i % 3 == 1:
            item["dosage"]["days_per_week"] = 3
        elif i % 3 == 2:
            item["dosage"]["days_per_week"] = 5
    return items


@pytest.mark.parametrize(
    ("treated", "edited", "lang"),
    [
        # chest-wall precaution: the breathing red flag for the first 48 hours only
        ([{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "pectoralis-major", "side": "right"}], True, "en"),
        ([{"muscle": "masseter", "side": "both"}], False, "es"),
    ],
    ids=["chest-wall-rest-days-en", "jaw-generated-es"],
)
def test_app_routine_matches_the_server_for_every_day(
    page: Page, clinic: Clinic, treated: list[dict[str, str]], edited: bool, lang: str
) -> None:
    treated_on = local_today() - dt.timedelta(days=3)
    items = rest_days_items(clinic, treated, treated_on) if edited else None
    patient = clinic.patient(treated, treated_on, items=items, locale=lang)
    token = clinic.join(patient)
    page.goto("/")
    wait_for_screen(page, "join")
    result = page.evaluate(COMPARE, {"token": token, "lang": lang})
    assert result["compared"] == result["days"] + 4
    assert result["withEntries"] >= result["days"] // 2
    assert not result["problems"], result["problems"][:3]


def compare(page: Page, token: str, lang: str = "en") -> dict:
    result = page.evaluate(COMPARE, {"token": token, "lang": lang})
    assert result["compared"] == result["days"] + 4
    assert not result["problems"], result["problems"][:3]
    return result


def made_on_treatment_day(clinic: Clinic, patient: Patient) -> None:
    """Set-up: the patient's plan was made (and its version saved) on its treatment day, at noon UTC,
    not today (an edit on the day a plan is made counts back to the treatment date)."""
    at = f"{patient.treated_on.isoformat()}T12:00:00Z"
    assert patient.plan is not None
    clinic.server.execute("UPDATE plan SET created_at = ?, updated_at = ? WHERE id = ?", (at, at, patient.plan["id"]))
    clinic.server.execute("UPDATE plan_version SET saved_at = ? WHERE plan_id = ?", (at, patient.plan["id"]))


def test_app_and_server_show_days_before_an_edit_by_the_version_then(page: Page, clinic: Clinic) -> None:
    today = local_today()
    treated = [{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "pectoralis-major", "side": "right"}]
    patient = clinic.patient(treated, today - dt.timedelta(days=3))
    made_on_treatment_day(clinic, patient)
    token = clinic.join(patient)
    page.goto("/")
    wait_for_screen(page, "join")
    before = compare(page, token)["shown"]

    # Today every item rests on some days of each week: the days before today are still asked in full.
    assert patient.plan is not None
    items = rest_days_items(clinic, treated, patient.treated_on)
    body = {"plan_id": patient.plan["id"], "version": patient.plan["version"], "items": items}
    r = clinic.http.put(f"/api/v1/patients/{patient.id}/plan", json=body)
    assert r.status_code == 200, r.text

    result = compare(page, token)
    assert result["earlier"] == 1
    past = [(today - dt.timedelta(days=d)).isoformat() for d in (3, 2, 1)]
    assert [result["shown"][d] for d in past] == [before[d] for d in past]
    assert any(result["shown"][d] != before[d] for d in before if d > today.isoformat())


def test_app_and_server_show_days_before_a_follow_up_by_the_plan_then(page: Page, clinic: Clinic) -> None:
    today = local_today()
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], today - dt.timedelta(days=5))
    made_on_treatment_day(clinic, patient)
    token = clinic.join(patient)
    page.goto("/")
    wait_for_screen(page, "join")
    before = compare(page, token)["shown"]

    # A follow-up visit yesterday, entered today: its plan counts from yesterday; the old one up to today.
    clinic._ok(
        clinic.http.post(
            f"/api/v1/patients/{patient.id}/plans",
            json={
                "treated": [{"muscle": "masseter", "side": "both"}],
                "treated_on": (today - dt.timedelta(days=1)).isoformat(),
            },
        )
    )
    result = compare(page, token)
    assert result["earlier"] == 1
    past = [(today - dt.timedelta(days=d)).isoformat() for d in (5, 4, 3, 2)]
    assert [result["shown"][d] for d in past] == [before[d] for d in past]
    assert result["shown"][today.isoformat()] != before[today.isoformat()]  # the new plan, asking something


def test_progress_after_a_follow_up_shows_the_week_by_the_plans_then(page: Page, clinic: Clinic) -> None:
    today = local_today()
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], today - dt.timedelta(days=4))
    made_on_treatment_day(clinic, patient)
    # On another phone the patient did everything due on the four days before today.
    token = clinic.join(patient, "Old phone")
    auth = {"Authorization": f"Bearer {token}"}
    completions = []
    for back in (4, 3, 2, 1):
        day = (today - dt.timedelta(days=back)).isoformat()
        routine = httpx.get(f"{clinic.server.url}/api/v1/patient/today", params={"date": day}, headers=auth).json()
        assert routine["entries"]
        completions += [
            {
                "id": str(uuid.uuid4()),
                "exercise_id": e["exercise_id"],
                "on_date": day,
                "slot": e["slot"],
                "done_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            for e in routine["entries"]
        ]
    r = httpx.post(f"{clinic.server.url}/api/v1/patient/sync", json={"completions": completions}, headers=auth)
    assert r.status_code == 200, r.text
    # A follow-up visit today: a new plan for other muscles.
    clinic._ok(
        clinic.http.post(
            f"/api/v1/patients/{patient.id}/plans",
            json={"treated": [{"muscle": "masseter", "side": "both"}], "treated_on": today.isoformat()},
        )
    )

    join_in_browser(page, clinic.invite(patient))
    page.evaluate("h => { location.hash = h; }", "#/progress")
    wait_for_screen(page, "progress")
    week = page.locator("ol.week > li")
    # The two days before the first treatment are left out: nothing was planned or checked in.
    expect(week).to_have_count(5)
    expect(week.first.locator("a")).to_have_attribute("href", f"#/day/{(today - dt.timedelta(days=4)).isoformat()}")
    full = page.locator("ol.week > li.full")
    expect(full).to_have_count(4)  # the four days before the visit, by the plan in force then
    for i in range(4):
        expect(full.nth(i).locator(".week-count")).to_have_text(re.compile(r"^(\d+) of \1 done$"))
    expect(week.last.locator(".week-count")).to_have_text(re.compile(r"^0 of [1-9]\d* done$"))  # today: the new plan
    expect(page.locator(".streak-number")).to_have_text("4")

    # The day before shows what was asked and done then, not "Your program starts on ...".
    yesterday = today - dt.timedelta(days=1)
    page.evaluate("h => { location.hash = h; }", f"#/day/{yesterday}")
    wait_for_screen(page, "day")
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 4: "))
    expect(page.locator("button.check:not(.on)")).to_have_count(0)
    expect(page.locator("button.check.on")).not_to_have_count(0)


def test_after_the_program_ends_today_says_so_without_counting_signs_to_watch(page: Page, clinic: Clinic) -> None:
    treated_on = local_today() - dt.timedelta(days=200)
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], treated_on)
    join_in_browser(page, clinic.invite(patient))
    expect(page.locator(".phase")).to_have_text("Your program is complete. Keep up the habits that helped you.")
    expect(page.locator(".warn-card")).to_have_count(0)
    expect(page.locator("#warn")).to_be_visible()  # the warning signs stay one tap away


def test_once_the_program_is_over_today_stops_asking_for_the_daily_check_in(page: Page, clinic: Clinic) -> None:
    """The check-in prompt showed every day for good after the plan's last day; the Check-in tab
    still takes one (a patient may still feel something, or have a warning sign)."""
    # Day 42 (0-based 41): the plan's last day, still asked.
    last = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], local_today() - dt.timedelta(days=41))
    join_in_browser(page, clinic.invite(last))
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 42: "))
    expect(page.get_by_role("link", name=re.compile(r"^How are you today\?"))).to_be_visible()

    # The day after it: the program is complete, and Today no longer asks.
    over = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], local_today() - dt.timedelta(days=42))
    join_in_browser(page, clinic.invite(over))
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Your program is complete\."))
    expect(page.get_by_text("How are you today?")).to_have_count(0)
    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.get_by_role("radio", name="3", exact=True).check()
    page.get_by_role("button", name="Save check-in").click()
    wait_for_screen(page, "today")
    expect(page.locator("#toast")).to_have_text("Check-in saved.")


def test_today_says_what_the_stage_is_for_open_on_its_first_day(page: Page, clinic: Clinic) -> None:
    # Day 28: the first of "Keeping it up", where the doses drop on purpose.
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], local_today() - dt.timedelta(days=28))
    join_in_browser(page, clinic.invite(patient))
    info = page.locator("details.phase-info")
    expect(info.locator(".phase")).to_have_text("Day 29: Keeping it up")
    expect(info).to_have_attribute("open", "")
    expect(info.locator(".phase-about")).to_contain_text("This is planned, not a step back.")
    expect(page.locator(".warn-card")).to_contain_text("signs to watch for today")
    # The next day it is there on request.
    page.evaluate("h => { location.hash = h; }", f"#/day/{(local_today() + dt.timedelta(days=1)).isoformat()}")
    wait_for_screen(page, "day")
    expect(page.locator(".warn-card")).to_have_count(0)  # "for today" is said on today only
    expect(info).not_to_have_attribute("open", "")
    expect(info.locator(".phase-about")).to_be_hidden()
    info.get_by_text("What this stage is for").click()
    expect(info.locator(".phase-about")).to_be_visible()


def test_a_plan_for_a_booked_visit_leaves_todays_exercises_until_it_starts(page: Page, clinic: Clinic) -> None:
    today = local_today()
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], today - dt.timedelta(days=3))
    visit = today + dt.timedelta(days=3)
    clinic._ok(
        clinic.http.post(
            f"/api/v1/patients/{patient.id}/plans",
            json={"treated": [{"muscle": "masseter", "side": "both"}], "treated_on": visit.isoformat()},
        )
    )
    join_in_browser(page, clinic.invite(patient))
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 4: "))
    expect(page.locator("li.entry").first).to_be_visible()
    expect(page.locator(".next-plan")).to_have_text(
        re.compile(r"^Your new program starts on .+\. Until then, keep to this one\.$")
    )
    # On the visit's day the new plan starts: day 1 of it, and no note.
    page.evaluate("h => { location.hash = h; }", f"#/day/{visit.isoformat()}")
    wait_for_screen(page, "day")
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 1: "))
    expect(page.locator(".next-plan")).to_have_count(0)
