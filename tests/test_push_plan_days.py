"""Reminders only on the days a plan has: nothing logged after it ends (the therapist is told when
it ended instead), and a plan prepared ahead of a booked visit does not remind of its aftercare
before the visit can have happened. Driven as in tests/test_push_scheduler.py: patients through the
API, a clock the test sets, a real push service on loopback. Both backends.
"""

from __future__ import annotations

import datetime as dt

import pytest
from litestar import Litestar

from server.catalog import Catalog
from server.clock import Clock
from server.push import Scheduler
from server.settings import Settings
from tests.conftest import rows, sign_in
from tests.pushservice import PushService
from tests.test_push_rule_changes import _reminded_days
from tests.test_push_scheduler import (
    START,
    TREATED_ON,
    Client,
    complete,
    deliveries,
    make_patient,
    plan_items,
    utc,
)

TREATED = [{"muscle": "upper-trapezius", "side": "left"}]


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)  # Friday 2026-11-20 12:00 UTC, 13:00 in Berlin


async def phases_of(therapist: Client, treated_on: dt.date) -> list[dict[str, object]]:
    r = await therapist.post(
        "/api/v1/programs/preview", json={"treated": TREATED, "treated_on": treated_on.isoformat()}
    )
    assert r.status_code == 200, r.text
    return r.json()["phases"]


async def test_after_the_plans_last_day_nothing_more_is_logged_and_the_therapist_sees_when_it_ended(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    days = max(int(p["to_day"]) for p in await phases_of(therapist, TREATED_ON)) + 1  # type: ignore[call-overload]
    last_day = START.date()  # Friday 2026-11-20 is the plan's last day
    ana = await make_patient(therapist, app, service, catalog, treated_on=last_day - dt.timedelta(days=days - 1))

    report = await scheduler.tick(utc("2026-11-20T18:00:00"))  # 19:00 in Berlin: the last evening
    assert report.sent == 1
    before = await deliveries(therapist, ana)
    # Three more days of every reminder time: nothing to remind of, and nothing to log.
    for day in ("2026-11-21", "2026-11-22", "2026-11-23"):
        for hour in ("07:00", "12:00", "18:00"):
            report = await scheduler.tick(utc(f"{day}T{hour}:00"))
            assert (report.planned, report.skipped, report.missed) == (0, 0, 0)
    assert await deliveries(therapist, ana) == before
    assert len(await service.wait_for(1)) == 1

    clock.fixed = utc("2026-11-20T18:30:00")  # after the last evening
    await sign_in(therapist, "ana@clinic.example")  # hours later: the idle session has ended
    r = await therapist.get(f"/api/v1/patients/{ana.id}/reminders")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plan_last_day"] == last_day.isoformat()
    assert all(rule["next_at"] is None for rule in body["rules"])
    assert (body["on"], body["coming"], body["not_coming"]) == (True, False, "nothing_more")  # still its last day

    clock.fixed = utc("2026-11-21T08:00:00")  # the day after its last day
    await sign_in(therapist, "ana@clinic.example")
    body = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()
    assert (body["on"], body["coming"], body["not_coming"]) == (True, False, "plan_ended")


async def test_a_plan_prepared_for_a_booked_visit_reminds_on_the_visit_day_only_in_the_evening(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    settings: Settings,
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    visit = START.date() + dt.timedelta(days=2)  # Sunday 2026-11-22; the plan is made on Friday
    items = plan_items(catalog, await phases_of(therapist, visit))  # a morning habit and evening stretches, day 0 too
    r = await therapist.post(
        f"/api/v1/patients/{ana.id}/plans",
        json={"treated": TREATED, "treated_on": visit.isoformat(), "items": items},
    )
    assert r.status_code == 201, r.text
    shown = (await ana.phones[0].get(f"/api/v1/patient/today?date={visit}")).json()
    assert {e["slot"] for e in shown["entries"]} == {"morning", "evening"}

    # What the patient (and the therapist: the same rules) is told comes next: Saturday's morning
    # (the plan in force until the visit), then Monday's; the visit day's evening.
    r = await ana.phones[0].get("/api/v1/patient/reminders")
    assert r.status_code == 200, r.text
    next_at = {rule["slot"]: rule["next_at"] for rule in r.json()["rules"]}
    assert next_at["morning"] == "2026-11-21T07:00:00Z"
    await scheduler.tick(utc("2026-11-21T07:00:00"))
    assert [m.payload["on_date"] for m in await service.wait_for(1)] == ["2026-11-21"]
    clock.fixed = utc("2026-11-21T07:00:01")
    r = await ana.phones[0].get("/api/v1/patient/reminders")
    next_at = {rule["slot"]: rule["next_at"] for rule in r.json()["rules"]}
    assert next_at["morning"] == "2026-11-23T07:00:00Z"

    # The visit day: no morning reminder (the visit may be later that day), nothing logged for it;
    # the evening one comes.
    report = await scheduler.tick(utc("2026-11-22T07:00:00"))
    assert report.planned == 0
    logged = "SELECT slot, status FROM reminder_delivery WHERE patient_id = :p AND on_date = :d"
    assert rows(settings, logged, {"p": ana.id, "d": visit.isoformat()}) == []
    clock.fixed = utc("2026-11-22T07:00:01")
    r = await ana.phones[0].get("/api/v1/patient/reminders")
    next_at = {rule["slot"]: rule["next_at"] for rule in r.json()["rules"]}
    assert (next_at["morning"], next_at["evening"]) == ("2026-11-23T07:00:00Z", "2026-11-22T18:00:00Z")
    report = await scheduler.tick(utc("2026-11-22T18:00:00"))
    assert report.sent == 1
    messages = await service.wait_for(2)
    assert [(m.payload["slot"], m.payload["on_date"]) for m in messages[1:]] == [("evening", visit.isoformat())]
    # The next morning, the plan's second day, reminds as usual.
    await scheduler.tick(utc("2026-11-23T07:00:00"))
    messages = await service.wait_for(3)
    assert [(m.payload["slot"], m.payload["on_date"]) for m in messages[2:]] == [("morning", "2026-11-23")]

    # The calendar file says the same: the visit day's evening, not its morning.
    r = await ana.phones[0].get("/api/v1/patient/reminders.ics")
    assert r.status_code == 200, r.text
    reminded = _reminded_days(r.text)
    assert visit in reminded["evening"]
    assert visit not in reminded["morning"]
    assert visit + dt.timedelta(days=1) in reminded["morning"]


async def test_a_plan_entered_on_the_visit_day_reminds_at_that_days_times_still_to_come(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    # Made on Friday at 12:00 UTC (13:00 in Berlin) for a visit that day: the evening reminds.
    today = START.date()
    ana = await make_patient(therapist, app, service, catalog, treated_on=today)
    r = await ana.phones[0].get("/api/v1/patient/reminders")
    next_at = {rule["slot"]: rule["next_at"] for rule in r.json()["rules"]}
    assert next_at["evening"] == "2026-11-20T18:00:00Z"
    report = await scheduler.tick(utc("2026-11-20T18:00:00"))
    assert report.sent == 1


async def test_a_first_plan_prepared_for_a_booked_visit_says_no_reminder_comes_before_the_visit(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    # The patient's first plan, made on Friday for a visit on Monday: nothing of it to do before.
    visit = START.date() + dt.timedelta(days=3)
    ana = await make_patient(therapist, app, service, catalog, treated_on=visit)
    for who in (ana.phones[0], therapist):
        path = "/api/v1/patient/reminders" if who is not therapist else f"/api/v1/patients/{ana.id}/reminders"
        r = await who.get(path)
        assert r.status_code == 200, r.text
        next_at = {rule["slot"]: rule["next_at"] for rule in r.json()["rules"]}
        # The visit day's evening first; its morning only the day after (see the test above).
        assert (next_at["evening"], next_at["morning"]) == ("2026-11-23T18:00:00Z", "2026-11-24T07:00:00Z")
    for day in ("2026-11-21", "2026-11-22"):
        for hour in ("07:00", "12:00", "18:00"):
            report = await scheduler.tick(utc(f"{day}T{hour}:00"))
            assert (report.planned, report.skipped, report.missed) == (0, 0, 0)
    report = await scheduler.tick(utc("2026-11-23T18:00:00"))
    assert report.sent == 1


async def test_the_log_tells_a_time_of_day_with_nothing_planned_from_one_the_patient_had_done(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)  # mornings and evenings, nothing at midday
    await complete(ana.phones[0], ana, START.date(), "evening", 3, START)
    await scheduler.tick(utc("2026-11-20T18:00:00"))  # 19:00 in Berlin
    await scheduler.tick(utc("2026-11-21T12:00:00"))  # 13:00 the next day (the patient joined at 13:00 today)
    log = {d["slot"]: (d["status"], d["last_error"]) for d in await deliveries(therapist, ana)}
    del log["morning"]  # missed: no tick at 08:00
    assert log == {
        "midday": ("skipped", "nothing planned at this time of day"),
        "evening": ("skipped", "nothing left to do in this slot"),
    }


async def test_the_calendar_file_keeps_the_replaced_plans_days_until_a_prepared_plans_visit(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    visit = START.date() + dt.timedelta(days=2)  # Sunday; today is Friday
    items = plan_items(catalog, await phases_of(therapist, visit))
    r = await therapist.post(
        f"/api/v1/patients/{ana.id}/plans",
        json={"treated": TREATED, "treated_on": visit.isoformat(), "items": items},
    )
    assert r.status_code == 201, r.text
    r = await ana.phones[0].get("/api/v1/patient/reminders.ics")
    assert r.status_code == 200, r.text
    reminded = _reminded_days(r.text)
    friday, saturday = START.date(), START.date() + dt.timedelta(days=1)
    # Friday and Saturday: the plan in force until the visit, as the push reminders; Sunday, the
    # visit day, only the evening; then the new plan.
    assert {friday, saturday, visit, visit + dt.timedelta(days=1)} <= reminded["evening"]
    assert {friday, saturday, visit + dt.timedelta(days=1)} <= reminded["morning"]
    assert visit not in reminded["morning"]
