"""Reminders already planned, when the patient changes their slot, or their browser changes hands.

Driven as in tests/test_push_scheduler.py: patients through the API, a scheduler on the test's
loop with a clock the test sets, and a real push service on loopback that decrypts every message.
Both backends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.catalog import Catalog
from server.clock import Clock
from server.push import Report, Scheduler
from server.push.ics import CalendarRule, calendar
from server.settings import Settings
from tests.pushservice import PushService, Subscription
from tests.test_content_permanence import GONE, without_exercise
from tests.test_push_scheduler import (
    EVENING_TEXT,
    START,
    TREATED_ON,
    Client,
    crashed_claim,
    deliveries,
    join_phone,
    make_patient,
    plan_items,
    utc,
)

DUE = utc("2026-11-20T18:00:00")  # Friday 19:00 in Berlin
NOT_FRIDAY = ["mon", "tue", "wed", "thu", "sat", "sun"]


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Hours pass between one step and the next here, the therapist signed in at the start: their
    session's idle limit is not what these tests are about."""
    return msgspec.structs.replace(settings, session_idle_minutes=12 * 60)


# --- a retry waiting when the patient changes the slot ---------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"enabled": False}, {"weekdays": NOT_FRIDAY}],
    ids=["turned-off", "friday-removed"],
)
async def test_a_retry_is_not_sent_once_the_patient_turned_that_reminder_off_for_the_day(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    change: dict[str, Any],
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], 503)
    assert (await scheduler.tick(DUE)).retried == 1
    clock.fixed = DUE + dt.timedelta(seconds=5)
    rule = {"slot": "evening", "local_time": "19:00", **change}
    r = await ana.phones[0].put("/api/v1/patient/reminders", json={"rules": [rule]})
    assert r.status_code == 200, r.text
    for later in (31, 120, 600):
        assert (await scheduler.tick(DUE + dt.timedelta(seconds=later))).sent == 0
    assert service.attempts(ana.subs[0]) == 1
    assert service.received == []
    [closed] = await deliveries(therapist, ana)
    assert (closed["status"], closed["attempts"], closed["last_error"]) == ("skipped", 1, "settings changed")


async def test_a_reminder_moved_later_after_a_failed_attempt_comes_once_at_the_new_time(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], 503)
    assert (await scheduler.tick(DUE)).retried == 1
    clock.fixed = DUE + dt.timedelta(seconds=5)
    r = await ana.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "21:00"}]}
    )
    assert r.status_code == 200, r.text
    # Nothing when the old time's retry would have gone.
    assert (await scheduler.tick(DUE + dt.timedelta(seconds=31))).sent == 0
    assert service.attempts(ana.subs[0]) == 1
    # One message at 21:00 local, for today.
    report = await scheduler.tick(utc("2026-11-20T20:00:00"))
    assert (report.planned, report.sent) == (1, 1)
    [message] = await service.wait_for(1)
    assert (message.payload["on_date"], message.payload["title"]) == ("2026-11-20", EVENING_TEXT)
    assert (await scheduler.tick(utc("2026-11-20T20:10:00"))).sent == 0
    assert service.attempts(ana.subs[0]) == 2
    sent, closed = await deliveries(therapist, ana)
    assert (sent["status"], sent["due_at"]) == ("sent", "2026-11-20T20:00:00Z")
    assert (closed["status"], closed["due_at"], closed["last_error"]) == (
        "skipped",
        "2026-11-20T18:00:00Z",
        "settings changed",
    )


async def test_changing_only_the_quiet_hours_leaves_a_waiting_retry_alone(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], 503)
    assert (await scheduler.tick(DUE)).retried == 1
    clock.fixed = DUE + dt.timedelta(seconds=5)
    rules = [{"slot": "evening", "local_time": "19:00"}]
    r = await ana.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": rules, "quiet_hours": {"start": "23:00", "end": "06:00"}}
    )
    assert r.status_code == 200, r.text
    assert (await scheduler.tick(DUE + dt.timedelta(seconds=31))).sent == 1
    assert [m.payload["title"] for m in await service.wait_for(1)] == [EVENING_TEXT]


# --- a browser handed from one patient to the next ------------------------------------------------


async def test_a_handed_over_browser_gets_the_new_patients_reminder_not_the_old_ones_retry(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    # Bea reads Spanish, so her reminder is told apart from Ana's.
    bea = await make_patient(therapist, app, service, catalog, name="Bea", locale="es", devices=0)
    browser = ana.subs[0]
    service.answer(browser, 503)
    assert (await scheduler.tick(DUE)).retried == 1
    clock.fixed = DUE + dt.timedelta(seconds=10)
    phone = await join_phone(therapist, app, bea.id)
    r = await phone.put("/api/v1/patient/push/subscriptions", json=browser.as_json())
    assert r.status_code == 200, r.text
    # Ana's retry is not shown to Bea.
    assert (await scheduler.tick(DUE + dt.timedelta(seconds=31))).sent == 0
    assert service.attempts(browser) == 1
    # Bea, who joined after 19:00, has her evening at 19:30 today: it is not held back by Ana's.
    r = await phone.put("/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "19:30"}]})
    assert r.status_code == 200, r.text
    report = await scheduler.tick(utc("2026-11-20T18:30:00"))
    assert (report.planned, report.sent) == (1, 1)
    [message] = await service.wait_for(1)
    assert message.payload["title"].startswith("Tarde")  # Bea's own, in Spanish
    assert service.attempts(browser) == 2  # Ana's failed one, then Bea's
    [ana_s] = await deliveries(therapist, ana)
    assert (ana_s["status"], ana_s["last_error"]) == ("skipped", "the device was handed to another patient")
    [bea_s] = await deliveries(therapist, bea)
    assert (bea_s["status"], bea_s["on_date"]) == ("sent", "2026-11-20")


async def test_a_handed_over_browser_gets_the_new_patients_reminder_the_day_the_old_one_had_theirs(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bea = await make_patient(therapist, app, service, catalog, name="Bea", locale="es", devices=0)
    browser = ana.subs[0]
    assert (await scheduler.tick(DUE)).sent == 1
    clock.fixed = DUE + dt.timedelta(minutes=5)
    phone = await join_phone(therapist, app, bea.id)
    r = await phone.put("/api/v1/patient/push/subscriptions", json=browser.as_json())
    assert r.status_code == 200, r.text
    r = await phone.put("/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "21:00"}]})
    assert r.status_code == 200, r.text
    report = await scheduler.tick(utc("2026-11-20T20:00:00"))
    assert (report.planned, report.sent) == (1, 1)
    first, second = await service.wait_for(2)
    assert first.payload["title"] == EVENING_TEXT
    assert second.payload["title"].startswith("Tarde")
    assert second.payload["on_date"] == "2026-11-20"
    [bea_s] = await deliveries(therapist, bea)
    assert bea_s["status"] == "sent"


# --- the calendar file -------------------------------------------------------------------------


def _starts(ics: str) -> dict[str, dt.date]:
    """The first day of each event, by its UID's slot."""
    found, uid = {}, ""
    for line in ics.split("\r\n"):
        if line.startswith("UID:"):
            uid = line.split("-")[-1].split("@")[0]
        elif line.startswith("DTSTART;TZID="):
            found[uid] = dt.datetime.strptime(line.split(":")[-1], "%Y%m%dT%H%M%S").date()
    return found


async def test_the_calendar_has_no_event_whose_first_day_is_after_the_plan_ends(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    program = (await therapist.get(f"/api/v1/patients/{ana.id}/plan")).json()["program"]
    days = max(p["to_day"] for p in program["phases"]) + 1
    until = dt.date.fromisoformat(program["treated_on"]) + dt.timedelta(days=days - 1)
    clock.fixed = dt.datetime.combine(until - dt.timedelta(days=1), dt.time(9), tzinfo=dt.UTC)
    weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    left = {weekdays[(until - dt.timedelta(days=k)).weekday()] for k in range(2)}
    later = next(d for d in weekdays if d not in left)  # next comes only after the plan's last day
    rules = [{"slot": "evening", "local_time": "19:00", "weekdays": [later]}]
    r = await ana.phones[0].put("/api/v1/patient/reminders", json={"rules": rules})
    assert r.status_code == 200, r.text
    ics = (await ana.phones[0].get("/api/v1/patient/reminders.ics")).text
    starts = _starts(ics)
    assert "evening" not in starts
    assert starts == {"morning": until - dt.timedelta(days=1)}  # the morning habit runs to the end
    assert ics.count("BEGIN:VEVENT") == 1


def test_a_calendar_rule_whose_first_day_is_after_until_is_left_out() -> None:
    now = dt.datetime(2026, 12, 28, 9, tzinfo=dt.UTC)
    common = {"patient_key": "1:2", "timezone": "Europe/Berlin", "lang": "en", "now": now, "app_url": "https://x.test"}
    # Monday 28 December to Tuesday 29 December: a Wednesday rule would first fall on the 30th.
    rules = [CalendarRule("evening", "19:00", ["wed"]), CalendarRule("morning", "08:00", ["tue"])]
    ics = calendar(rules=rules, starts_on=dt.date(2026, 12, 28), until=dt.date(2026, 12, 29), **common)
    assert _starts(ics) == {"morning": dt.date(2026, 12, 29)}
    # Without an end, the Wednesday rule starts on the first Wednesday.
    ics = calendar(rules=rules, starts_on=dt.date(2026, 12, 28), until=None, **common)
    assert _starts(ics) == {"evening": dt.date(2026, 12, 30), "morning": dt.date(2026, 12, 29)}


async def test_a_reminder_in_a_crashed_senders_hands_is_not_sent_to_the_browsers_new_owner(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    settings: Settings,
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bea = await make_patient(therapist, app, service, catalog, name="Bea", locale="es", devices=0)
    browser = ana.subs[0]
    await scheduler.plan(DUE)
    # A sender claims Ana's reminder and dies before sending: the row stays 'sending' until its lease ends.
    [lost] = await crashed_claim(scheduler, settings, DUE)
    clock.fixed = DUE + dt.timedelta(seconds=10)
    phone = await join_phone(therapist, app, bea.id)
    r = await phone.put("/api/v1/patient/push/subscriptions", json=browser.as_json())
    assert r.status_code == 200, r.text
    report = await scheduler.tick(DUE + scheduler.lease + dt.timedelta(seconds=1))
    assert (report.sent, report.skipped, report.gone) == (0, 1, 0)
    assert service.attempts(browser) == 0
    [ana_s] = await deliveries(therapist, ana)
    assert (ana_s["id"], ana_s["status"]) == (lost.id, "skipped")
    assert ana_s["last_error"] == "the device was handed to another patient"
    # The browser itself is kept, now Bea's: her reminder tomorrow reaches it.
    assert (await scheduler.tick(utc("2026-11-21T18:00:00"))).sent == 1
    [message] = await service.wait_for(1)
    assert message.payload["title"].startswith("Tarde")


# --- a send in flight when the patient changes the slot ----------------------------------------------


async def _sending_at_19(
    scheduler: Scheduler, service: PushService, sub: Subscription, answer: int, delay: float
) -> asyncio.Task[Report]:
    """The 19:00 tick, returned once its message for ``sub`` reached the push service, which holds
    it ``delay`` seconds before answering ``answer``."""
    if answer != 201:
        service.answer(sub, answer)
    service.delay = delay
    ticking = asyncio.create_task(scheduler.tick(DUE))
    deadline = asyncio.get_running_loop().time() + 10
    while service.attempts(sub) == 0:
        assert asyncio.get_running_loop().time() < deadline, "the reminder never reached the push service"
        await asyncio.sleep(0.01)
    return ticking


IN_FLIGHT = [
    ("turned-off", {"enabled": False}, 503),
    ("friday-removed", {"weekdays": NOT_FRIDAY}, 429),
    ("moved-later", {"local_time": "21:00"}, 503),
    ("turned-off", {"enabled": False}, 201),
]


@pytest.mark.parametrize(("name", "change", "answer"), IN_FLIGHT, ids=[f"{n}-{a}" for n, _, a in IN_FLIGHT])
async def test_a_send_in_flight_when_the_patient_changes_the_slot_is_closed_if_it_fails_not_retried(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    name: str,
    change: dict[str, Any],
    answer: int,
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    ticking = await _sending_at_19(scheduler, service, ana.subs[0], answer, delay=0.5)
    # The request runs to its end on the app's loop while this one, the scheduler's, waits: the
    # change is stored while the send is still waiting for its answer.
    clock.fixed = DUE + dt.timedelta(seconds=1)
    rule = {"slot": "evening", "local_time": "19:00", **change}
    r = await ana.phones[0].put("/api/v1/patient/reminders", json={"rules": [rule]})
    assert r.status_code == 200, r.text
    report = await ticking
    service.delay = 0
    [delivery] = await deliveries(therapist, ana)
    if answer == 201:  # due when it was claimed: sent is sent
        assert (report.sent, report.skipped) == (1, 0)
        assert (delivery["status"], delivery["attempts"]) == ("sent", 1)
    else:
        assert (report.retried, report.skipped) == (0, 1)
        assert (delivery["status"], delivery["attempts"], delivery["http_status"], delivery["last_error"]) == (
            "skipped",
            1,
            answer,
            "settings changed",
        )
    for later in (31, 120, 600):
        assert (await scheduler.tick(DUE + dt.timedelta(seconds=later))).sent == 0
    assert service.attempts(ana.subs[0]) == 1
    if name == "moved-later":
        # The closed one does not hold back today's reminder at the new time, 21:00 in Berlin.
        report = await scheduler.tick(utc("2026-11-20T20:00:00"))
        assert (report.planned, report.sent) == (1, 1)
        [message] = await service.wait_for(1)
        assert (message.payload["on_date"], message.payload["title"]) == ("2026-11-20", EVENING_TEXT)
        assert service.attempts(ana.subs[0]) == 2
    else:
        assert len(service.received) == (1 if answer == 201 else 0)


@pytest.mark.parametrize("answer", [503, 201])
async def test_a_time_that_comes_due_while_the_old_times_send_is_out_is_planned_once_that_send_ends(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    answer: int,
) -> None:
    # Two processes: one still waits on a slow push service with the 19:00 reminder when the
    # patient moves the slot to 19:01, and the other process's scheduler plans at 19:01.
    ana = await make_patient(therapist, app, service, catalog)
    ticking = await _sending_at_19(scheduler, service, ana.subs[0], answer, delay=1.0)
    clock.fixed = DUE + dt.timedelta(seconds=30)
    r = await ana.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "19:01"}]}
    )
    assert r.status_code == 200, r.text
    moved = DUE + dt.timedelta(seconds=61)
    assert (await scheduler.plan(moved)).planned == 0  # the device's reminder of the day is still out
    assert not ticking.done()
    await ticking
    service.delay = 0
    report = await scheduler.tick(moved + dt.timedelta(seconds=5))
    if answer == 201:  # it arrived: the patient had this slot's reminder today
        assert (report.planned, report.sent) == (0, 0)
        assert [d["status"] for d in await deliveries(therapist, ana)] == ["sent"]
    else:  # it failed and was closed: 19:01's goes instead of none at all
        assert (report.planned, report.sent) == (1, 1)
        [message] = await service.wait_for(1)
        assert (message.payload["on_date"], message.payload["title"]) == ("2026-11-20", EVENING_TEXT)
        assert [(d["status"], d["due_at"]) for d in await deliveries(therapist, ana)] == [
            ("sent", "2026-11-20T18:01:00Z"),
            ("skipped", "2026-11-20T18:00:00Z"),
        ]
    assert (await scheduler.tick(moved + dt.timedelta(minutes=5))).planned == 0
    assert service.attempts(ana.subs[0]) == (1 if answer == 201 else 2)


async def test_a_reminder_in_a_crashed_senders_hands_is_closed_not_taken_over_once_its_slot_changed(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    settings: Settings,
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    await scheduler.plan(DUE)
    # A sender claims the reminder and dies before sending: the row stays 'sending' until its lease ends.
    [lost] = await crashed_claim(scheduler, settings, DUE)
    clock.fixed = DUE + dt.timedelta(seconds=10)
    r = await ana.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "19:00", "enabled": False}]}
    )
    assert r.status_code == 200, r.text
    assert (await scheduler.tick(DUE + scheduler.lease + dt.timedelta(seconds=1))).sent == 0
    assert service.attempts(ana.subs[0]) == 0
    [closed] = await deliveries(therapist, ana)
    assert (closed["id"], closed["status"], closed["last_error"]) == (lost.id, "skipped", "settings changed")


# --- the language, when the patient picks another before a retry --------------------------------------


async def test_a_retry_goes_out_in_the_language_the_patient_picked_since(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog, locale="en")
    service.answer(ana.subs[0], 503)
    assert (await scheduler.tick(DUE)).retried == 1
    clock.fixed = DUE + dt.timedelta(seconds=5)
    r = await ana.phones[0].patch("/api/v1/patient/me", json={"locale": "es"})
    assert r.status_code == 200, r.text
    assert (await scheduler.tick(DUE + dt.timedelta(seconds=31))).sent == 1
    [message] = await service.wait_for(1)
    assert (message.payload["lang"], message.payload["title"], message.payload["body"]) == (
        "es",
        "Tarde y noche: 3 estiramientos, unos 6 minutos",
        "Toque para abrir la rutina de hoy.",
    )


# --- the calendar counts what the phone shows ---------------------------------------------------------


def _reminded_days(ics: str) -> dict[str, set[dt.date]]:
    """The local days each event (by its UID's slot) goes off, from DTSTART, BYDAY, UNTIL and EXDATE."""
    byday = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
    found: dict[str, set[dt.date]] = {}
    for event in ics.replace("\r\n ", "").split("BEGIN:VEVENT\r\n")[1:]:
        fields = [line.split(":", 1) for line in event.split("\r\n") if ":" in line]
        slot = next(v for k, v in fields if k == "UID").split("-")[-1].split("@")[0]
        tz = ZoneInfo(next(k for k, _ in fields if k.startswith("DTSTART;TZID=")).split("=", 1)[1])
        first = dt.datetime.strptime(next(v for k, v in fields if k.startswith("DTSTART")), "%Y%m%dT%H%M%S").date()
        rule = dict(p.split("=") for p in next(v for k, v in fields if k == "RRULE").split(";"))
        last = dt.datetime.strptime(rule["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).astimezone(tz).date()
        weekdays = {byday[d] for d in rule["BYDAY"].split(",")}
        skipped = {dt.datetime.strptime(v, "%Y%m%dT%H%M%S").date() for k, v in fields if k.startswith("EXDATE")}
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        found[slot] = {d for d in days if d.weekday() in weekdays and d not in skipped}
    return found


async def test_the_calendar_reminds_on_the_days_the_phone_shows_something_in_the_slot(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
) -> None:
    """A process whose content lacks an exercise a plan uses (see tests/test_content_permanence.py)
    leaves it out on the phone; its calendar file must too. Here that exercise is all the plan has
    at midday."""
    reduced = create_app(msgspec.structs.replace(settings, plans_dir=str(without_exercise(tmp_path, GONE))), clock)
    async with AsyncTestClient(app=reduced):
        r = await therapist.post("/api/v1/patients", json={"display_name": "Ana", "timezone": "Europe/Berlin"})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        treated = [{"muscle": "upper-trapezius", "side": "left"}]
        preview = await therapist.post(
            "/api/v1/programs/preview", json={"treated": treated, "treated_on": TREATED_ON.isoformat()}
        )
        phases = preview.json()["phases"]
        items = [i for i in plan_items(catalog, phases) if i["exercise_id"] != GONE]
        items += [
            {
                "phase": p["id"],
                "from_day": p["from_day"],
                "to_day": p["to_day"],
                "exercise_id": GONE,
                "slots": ["midday"],
                "dosage": {"sets": 1, "reps": 3, "hold_seconds": 15},
            }
            for p in phases
            if p["id"] in catalog.exercises[GONE].phases
        ]
        r = await therapist.post(
            f"/api/v1/patients/{pid}/plans",
            json={"treated": treated, "treated_on": TREATED_ON.isoformat(), "items": items},
        )
        assert r.status_code == 201, r.text
        joined = await join_phone(therapist, app, pid)
        phone = AsyncTestClient(app=reduced)
        phone.headers["authorization"] = joined.headers["authorization"]

        r = await phone.get("/api/v1/patient/reminders.ics")
        assert r.status_code == 200, r.text
        reminded = _reminded_days(r.text)
        last = TREATED_ON + dt.timedelta(days=max(p["to_day"] for p in phases))
        shown: dict[str, set[dt.date]] = {}
        day = START.date()
        while day <= last:
            r = await phone.get(f"/api/v1/patient/today?date={day}")
            assert r.status_code == 200, r.text
            for entry in r.json()["entries"]:
                shown.setdefault(entry["slot"], set()).add(day)
            day += dt.timedelta(days=1)
        assert "midday" not in shown
        assert set(shown) == {"morning", "evening"}
        assert reminded == shown
