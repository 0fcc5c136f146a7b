"""A day is judged by what the plan asked that day: plan edits and newer treatments do not rewrite
the past, and days the plan asked nothing of never make a patient inactive. Checked in every
therapist view that judges days: the calendar, the streak, the list's week and the attention list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.catalog import Catalog
from server.clock import Clock
from tests.conftest import sign_in
from tests.test_flow_therapist_patient import assign, create_patient, join

Client = AsyncTestClient[Litestar]

# Tuesday 2026-11-24, 09:00 in Madrid, where the patients live.
TREATED = dt.date(2026, 11, 24)
START = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


async def move_to(clock: Clock, therapist: Client, moment: dt.datetime) -> None:
    """Let time pass; the therapist signs in again (a session lasts 12 hours)."""
    clock.fixed = moment
    await sign_in(therapist, "ana@clinic.example")


async def treated_then(
    therapist: Client, phone: Client, clock: Clock, moment: dt.datetime, treated_on: dt.date
) -> dict[str, Any]:
    """At ``moment``, a new patient treated on ``treated_on`` with the plan assigned and ``phone`` joined."""
    await move_to(clock, therapist, moment)
    patient = await create_patient(therapist)
    await assign(therapist, patient["id"], treated_on)
    await join(therapist, phone, patient["id"])
    return patient


async def log_all_due(phone: Client, clock: Clock, *days: dt.date) -> int:
    """The patient logs everything their app shows as due on ``days``; returns how many items."""
    completions = []
    for day in days:
        routine = (await phone.get("/api/v1/patient/today", params={"date": day.isoformat()})).json()
        completions += [
            {
                "id": str(uuid.uuid4()),
                "exercise_id": e["exercise_id"],
                "on_date": day.isoformat(),
                "slot": e["slot"],
                "done_at": clock.now().isoformat(),
            }
            for e in routine["entries"]
        ]
    r = await phone.post("/api/v1/patient/sync", json={"completions": completions})
    assert r.status_code == 200, r.text
    return len(completions)


async def views(therapist: Client, patient_id: int) -> tuple[dict[str, dict[str, Any]], int, dict[str, Any]]:
    """The detail calendar by date, the streak, and the patient's row of the list."""
    detail = (await therapist.get(f"/api/v1/patients/{patient_id}/adherence", params={"days": 14})).json()
    [row] = [o for o in (await therapist.get("/api/v1/adherence")).json() if o["patient_id"] == patient_id]
    return {d["on_date"]: d for d in detail["days"]}, detail["streak"], row


async def treated_and_logged(therapist: Client, phone: Client, clock: Clock) -> tuple[dict[str, Any], dict[str, Any]]:
    """A patient treated on 24 Nov who did everything due on 24 and 25 Nov; it is now 26 Nov."""
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], TREATED)
    await join(therapist, phone, patient["id"])
    await move_to(clock, therapist, START + dt.timedelta(days=2))
    await log_all_due(phone, clock, TREATED, TREATED + dt.timedelta(days=1))
    return patient, plan


def full(day: dict[str, Any]) -> bool:
    return bool(day["expected"]) and day["done"] == day["expected"]


async def test_an_edit_of_the_plan_does_not_rewrite_the_days_before_it(
    therapist: Client, other_client: Client, clock: Clock, catalog: Catalog
) -> None:
    patient, plan = await treated_and_logged(therapist, other_client, clock)
    days, streak, row = await views(therapist, patient["id"])
    past = [days["2026-11-24"], days["2026-11-25"]]
    assert all(full(d) for d in past)
    assert streak == 2

    # One more item in each of the first two phases (days 0-1 and from today, day 2): from today on
    # it is asked, before it was not.
    items = plan["program"]["items"]
    phases = plan["program"]["phases"]
    used = {i["exercise_id"] for i in items}
    spare = (x for x, e in catalog.exercises.items() if x not in used and e.max_hold_seconds is None)
    added = []
    for day in (0, 2):
        phase = next(p for p in phases if p["from_day"] <= day <= p["to_day"])
        like = next(i for i in items if i["phase"] == phase["id"])
        item = {**like, "exercise_id": next(spare), "from_day": phase["from_day"], "to_day": phase["to_day"]}
        added.append({**item, "dosage": {**like["dosage"], "days_per_week": 7}})
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan",
        json={"plan_id": plan["id"], "version": 1, "items": [*items, *added]},
    )
    assert r.status_code == 200, r.text

    after, streak_after, row_after = await views(therapist, patient["id"])
    assert [after["2026-11-24"], after["2026-11-25"]] == past
    assert streak_after == 2
    # The week so far is the days before (unchanged) and what is done of today (still open).
    assert row_after["week"] == row["week"]
    more = len(added[1]["slots"])  # today asks the new item at each of its times of day
    today = after["2026-11-26"]
    assert today["expected"] == days["2026-11-26"]["expected"] + more  # the edit counts from the day it was made


async def test_a_newer_treatment_keeps_the_days_the_old_plan_covered(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    patient, _ = await treated_and_logged(therapist, other_client, clock)
    days, _, row = await views(therapist, patient["id"])
    done = days["2026-11-24"]["done"] + days["2026-11-25"]["done"]
    assert row["week"]["done"] == done > 0

    # A follow-up visit today: the new treatment's plan takes over from today.
    await assign(therapist, patient["id"], TREATED + dt.timedelta(days=2))
    after, streak_after, row_after = await views(therapist, patient["id"])
    assert [after["2026-11-24"], after["2026-11-25"]] == [days["2026-11-24"], days["2026-11-25"]]
    assert streak_after == 2
    assert row_after["has_plan"] is True
    assert row_after["week"]["done"] == done
    assert row_after["week"]["expected"] >= done

    # The patient follows the new plan today: today counts by it, and the run goes on.
    new_today = await log_all_due(other_client, clock, TREATED + dt.timedelta(days=2))
    after, streak_after, _ = await views(therapist, patient["id"])
    assert after["2026-11-26"] == {**after["2026-11-26"], "expected": new_today, "done": new_today}
    assert streak_after == 3


async def attention_of(therapist: Client, patient_id: int) -> list[tuple[str, str]]:
    found = [a for a in (await therapist.get("/api/v1/attention")).json() if a["patient_id"] == patient_id]
    return [(r["kind"], r["detail"]) for r in found[0]["reasons"]] if found else []


async def test_a_patient_who_finished_the_program_is_not_inactive(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    # Treated on 1 Sep; the program's last day is day 41, 12 Oct, and the patient logged it.
    await move_to(clock, therapist, dt.datetime(2026, 10, 12, 18, 0, tzinfo=dt.UTC))
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], dt.date(2026, 9, 1))
    assert max(p["to_day"] for p in plan["program"]["phases"]) == 41
    await join(therapist, other_client, patient["id"])
    assert await log_all_due(other_client, clock, dt.date(2026, 10, 12))

    await move_to(clock, therapist, dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC))
    assert await attention_of(therapist, patient["id"]) == []
    [row] = [o for o in (await therapist.get("/api/v1/adherence")).json() if o["patient_id"] == patient["id"]]
    assert row["week"]["expected"] == 0  # "nothing due", as the attention list now agrees


async def test_inactive_counts_only_days_something_was_due(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    # Treated on 1 Sep, last logged on 8 Oct: 9, 10 and 11 Oct were due and let pass (12 Oct is today).
    patient = await treated_then(
        therapist, other_client, clock, dt.datetime(2026, 10, 8, 18, 0, tzinfo=dt.UTC), dt.date(2026, 9, 1)
    )
    await log_all_due(other_client, clock, dt.date(2026, 10, 8))

    await move_to(clock, therapist, dt.datetime(2026, 10, 11, 10, 0, tzinfo=dt.UTC))
    assert await attention_of(therapist, patient["id"]) == []  # two days missed: not yet
    await move_to(clock, therapist, dt.datetime(2026, 10, 12, 10, 0, tzinfo=dt.UTC))
    assert await attention_of(therapist, patient["id"]) == [("inactive", "no activity on 3 days with something due")]
    # Long after the program ended: its last day, 12 Oct, let pass too, and nothing was due since.
    await move_to(clock, therapist, dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC))
    assert await attention_of(therapist, patient["id"]) == [("inactive", "no activity on 4 days with something due")]


async def test_a_plan_for_a_visit_still_ahead_leaves_the_current_plan_in_force_until_then(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    patient = await create_patient(therapist)
    first = await assign(therapist, patient["id"], TREATED)
    await join(therapist, other_client, patient["id"])
    await log_all_due(other_client, clock, TREATED)
    # The next day the therapist prepares the plan for a visit on 10 Dec, for another muscle.
    await move_to(clock, therapist, START + dt.timedelta(days=1))
    visit = dt.date(2026, 12, 10)
    await assign(therapist, patient["id"], visit, treated=[{"muscle": "masseter", "side": "both"}])

    # Until the visit the patient's phone goes on with the current plan, then the new one starts.
    before, on, after = await phone_days(
        other_client, visit - dt.timedelta(days=1), visit, visit + dt.timedelta(days=1)
    )
    first_items = {i["exercise_id"] for i in first["program"]["items"]}
    assert before["day"] == (visit - dt.timedelta(days=1) - TREATED).days
    assert before["entries"]
    assert {e["exercise_id"] for e in before["entries"]} <= first_items
    assert (on["day"], after["day"]) == (0, 1)
    assert on["plan_version"] == 1
    assert on["entries"]
    bundle = (await other_client.get("/api/v1/patient/plan")).json()
    assert bundle["since"] == visit.isoformat()
    assert [(e["plan_id"], e["until"]) for e in bundle["earlier"]] == [(first["id"], "2026-12-09")]

    # The therapist's views judge those days by the plan in force: nothing logged since 24 Nov.
    await move_to(clock, therapist, dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC))
    days, streak, row = await views(therapist, patient["id"])
    assert full(days["2026-11-24"])
    assert days["2026-12-04"]["expected"]
    assert not days["2026-12-04"]["done"]
    assert streak == 0
    assert row["week"]["expected"] > 0
    assert ("inactive", "no activity on 10 days with something due") in await attention_of(therapist, patient["id"])


async def test_two_plans_prepared_ahead_end_the_current_plan_at_the_earlier_visit(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    patient = await create_patient(therapist)
    first = await assign(therapist, patient["id"], TREATED)
    await join(therapist, other_client, patient["id"])
    # A plan for a visit on 10 Dec, then (the visit moved forward) one for 5 Dec.
    await move_to(clock, therapist, START + dt.timedelta(days=1))
    await assign(therapist, patient["id"], dt.date(2026, 12, 10), treated=[{"muscle": "masseter", "side": "both"}])
    await move_to(clock, therapist, START + dt.timedelta(days=2))
    sooner = await assign(
        therapist, patient["id"], dt.date(2026, 12, 5), treated=[{"muscle": "temporalis", "side": "both"}]
    )

    # The current plan runs until the day before the sooner visit, never beside the plan made for it.
    bundle = (await other_client.get("/api/v1/patient/plan")).json()
    assert bundle["since"] == "2026-12-05"
    assert [(e["plan_id"], e["until"]) for e in bundle["earlier"]] == [(first["id"], "2026-12-04")]
    before, on, later = await phone_days(other_client, dt.date(2026, 12, 4), dt.date(2026, 12, 5), dt.date(2026, 12, 9))
    first_items = {i["exercise_id"] for i in first["program"]["items"]}
    assert before["entries"]
    assert {e["exercise_id"] for e in before["entries"]} <= first_items
    assert (on["day"], later["day"]) == (0, 4)
    assert later["entries"]
    assert {e["exercise_id"] for e in later["entries"]} <= {i["exercise_id"] for i in sooner["program"]["items"]}


async def phone_days(phone: Client, *days: dt.date) -> list[dict[str, Any]]:
    return [(await phone.get("/api/v1/patient/today", params={"date": d.isoformat()})).json() for d in days]


async def test_the_patient_sees_days_before_an_edit_or_a_follow_up_as_they_were(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    patient, plan = await treated_and_logged(therapist, other_client, clock)
    past = (TREATED, TREATED + dt.timedelta(days=1))
    before = await phone_days(other_client, *past)
    assert all(d["entries"] and all(e["done"] for e in d["entries"]) for d in before)

    # An edit today (the plan was made on 24 Nov): every item now rests 4 days a week.
    items = [{**i, "dosage": {**i["dosage"], "days_per_week": 3}} for i in plan["program"]["items"]]
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan", json={"plan_id": plan["id"], "version": 1, "items": items}
    )
    assert r.status_code == 200, r.text
    assert await phone_days(other_client, *past) == before
    bundle = (await other_client.get("/api/v1/patient/plan")).json()
    assert bundle["since"] == "2026-11-26"
    assert [(e["version"], e["since"], e["until"]) for e in bundle["earlier"]] == [(1, "2026-11-24", "2026-11-26")]

    # A follow-up visit today, for another muscle: the days before it keep the old plan's items.
    await assign(
        therapist, patient["id"], TREATED + dt.timedelta(days=2), treated=[{"muscle": "masseter", "side": "both"}]
    )
    assert await phone_days(other_client, *past) == before
    bundle = (await other_client.get("/api/v1/patient/plan")).json()
    assert [(e["plan_id"], e["version"]) for e in bundle["earlier"]] == [(plan["id"], 1), (plan["id"], 2)]
    assert {e["exercise_id"] for d in before for e in d["entries"]} <= set(bundle["exercises"])
    assert "upper-trapezius" in bundle["muscles"]
    # Today both plans were in force: with nothing logged yet, the new one is shown.
    [today] = await phone_days(other_client, TREATED + dt.timedelta(days=2))
    assert today["plan_version"] == 1
    assert today["day"] == 0


async def test_a_streak_longer_than_the_days_asked_for_is_counted_whole(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    # Treated on 1 Sep, everything logged up to 20 Sep (20 days); the console asks for 7 days.
    patient = await treated_then(
        therapist, other_client, clock, dt.datetime(2026, 9, 20, 18, 0, tzinfo=dt.UTC), dt.date(2026, 9, 1)
    )
    await log_all_due(other_client, clock, *(dt.date(2026, 9, 1) + dt.timedelta(days=n) for n in range(20)))
    url = f"/api/v1/patients/{patient['id']}/adherence"
    assert (await therapist.get(url, params={"days": 7})).json()["streak"] == 20
    assert (await therapist.get(url, params={"days": 30})).json()["streak"] == 20
    # This morning (still open) and the days before, from the week's start, are what the week asks so far.
    week = (await therapist.get(url, params={"days": 7})).json()["weeks"][-1]
    assert (week["week_start"], week["rate"]) == ("2026-09-14", 1.0)


async def test_the_week_so_far_does_not_count_what_is_left_of_today(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    # Monday 30 Nov, 08:00 in Madrid: the whole week (today) is still ahead; nothing is missed yet.
    patient = await treated_then(
        therapist, other_client, clock, dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC), dt.date(2026, 11, 30)
    )
    [row] = [o for o in (await therapist.get("/api/v1/adherence")).json() if o["patient_id"] == patient["id"]]
    assert (row["week"]["done"], row["week"]["expected"]) == (0, 0)
    # The morning's items done: the week so far is all done, though the evening's are still ahead.
    today = (await other_client.get("/api/v1/patient/today")).json()
    morning = [e for e in today["entries"] if e["slot"] == "morning"]
    assert 0 < len(morning) < len(today["entries"])
    done = [
        {
            "id": str(uuid.uuid4()),
            "exercise_id": e["exercise_id"],
            "on_date": "2026-11-30",
            "slot": "morning",
            "done_at": clock.now().isoformat(),
        }
        for e in morning
    ]
    assert (await other_client.post("/api/v1/patient/sync", json={"completions": done})).status_code == 200
    [row] = [o for o in (await therapist.get("/api/v1/adherence")).json() if o["patient_id"] == patient["id"]]
    assert (row["week"]["done"], row["week"]["expected"], row["week"]["rate"]) == (len(morning), len(morning), 1.0)
    detail = (await therapist.get(f"/api/v1/patients/{patient['id']}/adherence")).json()
    assert detail["weeks"][-1] == row["week"]
    assert detail["days"][-1]["expected"] == len(today["entries"])  # the day itself still shows all it asks


async def test_the_list_says_when_a_plan_prepared_for_a_booked_visit_starts(therapist: Client) -> None:
    # On Tuesday 24 Nov: one patient's first plan is for a visit on 1 Dec, another has a plan now
    # and a follow-up prepared for 1 Dec. Only the first has nothing asked until then.
    ahead = await create_patient(therapist, "Ahead Only")
    await assign(therapist, ahead["id"], dt.date(2026, 12, 1))
    current = await create_patient(therapist, "Current And Ahead")
    await assign(therapist, current["id"], TREATED)
    await assign(therapist, current["id"], dt.date(2026, 12, 1))

    rows = {o["patient_id"]: o for o in (await therapist.get("/api/v1/adherence")).json()}
    assert (rows[ahead["id"]]["has_plan"], rows[ahead["id"]]["week"], rows[ahead["id"]]["starts_on"]) == (
        True,
        None,
        "2026-12-01",
    )
    assert rows[current["id"]]["week"] is not None  # judged by the plan in force (today still open)
    assert rows[current["id"]]["starts_on"] is None
