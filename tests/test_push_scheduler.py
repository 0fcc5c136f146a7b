"""The reminder scheduler against a real push service on loopback, driven by a clock the tests control.

Every message goes through pywebpush to ``tests.pushservice``, which verifies the VAPID
token and decrypts the body with the subscription's private key, as a browser's push
service and the browser would. Patients, plans, devices and subscriptions are made
through the API; the scheduler under test runs on the test's loop with its own
database connection, like a second app process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import server.clock
from server.app import create_app
from server.catalog import Catalog
from server.clock import CLOCKS_APART, Clock
from server.db import open_database, reminders
from server.push import Scheduler, load_or_create
from server.push.scheduler import Report
from server.settings import Settings
from tests.conftest import make_therapist, rows, sign_in
from tests.pushservice import PushService, Subscription

Client = AsyncTestClient[Litestar]
UTC = dt.UTC
START = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday
TREATED_ON = dt.date(2026, 11, 18)
EVENING_TEXT = "Evening: 3 stretches, about 6 minutes"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Patient:
    """A patient made through the API, with joined phones and their push subscriptions."""

    id: int
    phones: list[Client] = field(default_factory=list)
    subs: list[Subscription] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    treated_on: dt.date = TREATED_ON


def plan_items(catalog: Catalog, phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three stretches in the evening and one posture habit in the morning, every day of every
    phase (an item's days stay inside its phase); nothing at midday. The first days, which have
    neither, have gentle movements and breathing instead."""

    def made_for(phase: str, kind: str) -> list[str]:
        # Ones that may be held 30 s (some sources cap a hold at 15 s; the server keeps to it).
        return [
            e.id
            for e in catalog.exercises.values()
            if e.kind == kind and phase in e.phases and (e.max_hold_seconds or 60) >= 30
        ]

    items = []
    for phase in phases:
        stretches = (made_for(phase["id"], "stretch") or made_for(phase["id"], "mobility"))[:3]
        posture = (made_for(phase["id"], "posture") or made_for(phase["id"], "stress"))[0]
        base = {"phase": phase["id"], "from_day": phase["from_day"], "to_day": phase["to_day"]}
        items.extend(
            {**base, "exercise_id": x, "slots": ["evening"], "dosage": {"sets": 1, "reps": 3, "hold_seconds": 30}}
            for x in stretches
        )
        items.append({**base, "exercise_id": posture, "slots": ["morning"], "dosage": {"minutes": 2}})
    return items


async def make_patient(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    *,
    name: str = "Ana",
    tz: str = "Europe/Berlin",
    locale: str = "en",
    devices: int = 1,
    treated_on: dt.date = TREATED_ON,
    evening_days_per_week: int = 7,
) -> Patient:
    r = await therapist.post("/api/v1/patients", json={"display_name": name, "timezone": tz, "locale": locale})
    assert r.status_code == 201, r.text
    patient = Patient(r.json()["id"], treated_on=treated_on)
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    preview = await therapist.post(
        "/api/v1/programs/preview", json={"treated": treated, "treated_on": treated_on.isoformat()}
    )
    patient.items = plan_items(catalog, preview.json()["phases"])
    for item in patient.items:
        if "evening" in item["slots"]:
            item["dosage"]["days_per_week"] = evening_days_per_week
    r = await therapist.post(
        f"/api/v1/patients/{patient.id}/plans",
        json={"treated": treated, "treated_on": treated_on.isoformat(), "items": patient.items},
    )
    assert r.status_code == 201, r.text
    for n in range(devices):
        phone = await join_phone(therapist, app, patient.id)
        key = (await phone.get("/api/v1/push/public-key")).json()["public_key"]
        sub = service.subscribe(f"{name}-{n + 1}", application_server_key=key)
        r = await phone.put("/api/v1/patient/push/subscriptions", json=sub.as_json())
        assert r.status_code == 200, r.text
        patient.phones.append(phone)
        patient.subs.append(sub)
    return patient


async def join_phone(therapist: Client, app: Litestar, patient_id: int, label: str = "Phone") -> Client:
    code = (await therapist.post(f"/api/v1/patients/{patient_id}/invites")).json()["code"]
    phone = AsyncTestClient(app=app)
    # Run the phone's requests on the app's own loop (the one its lifespan and scheduler use),
    # as a real server would, rather than on a fresh loop per request.
    phone.blocking_portal = therapist.blocking_portal
    r = await phone.post("/api/v1/patient/join", json={"code": code, "label": label})
    assert r.status_code == 201, r.text
    phone.headers["authorization"] = f"Bearer {r.json()['token']}"
    return phone


async def complete(
    phone: Client, patient: Patient, on_date: dt.date, slot: str, how_many: int, now: dt.datetime
) -> list[dict[str, Any]]:
    day = (on_date - patient.treated_on).days
    ids = [i["exercise_id"] for i in patient.items if slot in i["slots"] and i["from_day"] <= day <= i["to_day"]]
    ids = ids[:how_many]
    done = [
        {
            "id": str(uuid.uuid4()),
            "exercise_id": x,
            "on_date": on_date.isoformat(),
            "slot": slot,
            "done_at": now.isoformat(),
        }
        for x in ids
    ]
    r = await phone.post("/api/v1/patient/sync", json={"completions": done})
    assert r.status_code == 200, r.text
    return done


async def deliveries(therapist: Client, patient: Patient) -> list[dict[str, Any]]:
    r = await therapist.get(f"/api/v1/patients/{patient.id}/reminders", params={"limit": 200})
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


# --- what is sent, and to whom -------------------------------------------------------------------


async def test_exactly_the_due_reminders_go_to_every_device_with_the_right_text(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, settings: Settings
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana", devices=2)
    bruno = await make_patient(therapist, app, service, catalog, name="Bruno", tz="America/New_York", locale="es")

    assert (await scheduler.tick(utc("2026-11-20T17:59:59"))).planned == 0  # 18:59:59 in Berlin
    report = await scheduler.tick(utc("2026-11-20T18:00:00"))  # 19:00 in Berlin, 13:00 in New York
    assert (report.planned, report.sent) == (2, 2)
    received = await service.wait_for(2)
    assert sorted(r.name for r in received) == ["Ana-1", "Ana-2"]
    for message in received:
        assert message.payload == {
            "v": 1,
            "kind": "reminder",
            "slot": "evening",
            "on_date": "2026-11-20",
            "title": EVENING_TEXT,
            "body": "Tap to open today's routine.",
            "url": "/#today?slot=evening&date=2026-11-20",
            "tag": "unknot-evening-2026-11-20",
            "lang": "en",
            "count": 3,
            "minutes": 6,
        }
        assert message.ttl == settings.push_ttl_seconds
        assert message.topic == "evening"
        assert message.claims["sub"] == settings.vapid_contact
        assert message.claims["aud"] == service.origin
    # Bruno's midday has nothing in it: no message, and the log says why. (His 08:00 passed while
    # nothing ticked: far too late to send now.)
    log = sorted((d["slot"], d["status"]) for d in await deliveries(therapist, bruno))
    assert log == [("midday", "skipped"), ("morning", "missed")]

    # Ticking again sends nothing twice; Bruno's evening comes at 19:00 New York time, in Spanish.
    assert (await scheduler.tick(utc("2026-11-20T18:00:30"))).sent == 0
    await scheduler.tick(utc("2026-11-21T00:00:00"))
    received = await service.wait_for(3)
    assert [r.payload["title"] for r in received if r.name == "Bruno-1"] == [
        "Tarde y noche: 3 estiramientos, unos 6 minutos"
    ]
    # And Ana's morning the next day names her one posture habit.
    await scheduler.tick(utc("2026-11-21T07:00:00"))
    received = await service.wait_for(5)
    mornings = [r.payload["title"] for r in received if r.payload["slot"] == "morning"]
    assert mornings == ["Morning: 1 posture habit, about 3 minutes"] * 2
    assert len(received) == 5
    assert service.rejected == []
    sent = [d for d in await deliveries(therapist, ana) if d["status"] == "sent"]
    assert len(sent) == 4
    assert all(d["attempts"] == 1 and d["http_status"] == 201 for d in sent)


async def test_a_finished_slot_is_not_reminded_and_a_partly_done_one_says_what_is_left(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bea = await make_patient(therapist, app, service, catalog, name="Bea")
    await complete(ana.phones[0], ana, dt.date(2026, 11, 20), "evening", 3, START)
    await complete(bea.phones[0], bea, dt.date(2026, 11, 20), "evening", 1, START)
    # Yesterday's completions do not count for today.
    await complete(ana.phones[0], ana, dt.date(2026, 11, 19), "evening", 3, START)

    report = await scheduler.tick(utc("2026-11-20T18:00:00"))
    assert (report.sent, report.skipped) == (1, 1)
    received = await service.wait_for(1)
    assert [(r.name, r.payload["title"]) for r in received] == [("Bea-1", "Evening: 2 stretches, about 4 minutes")]
    log = await deliveries(therapist, ana)
    assert [(d["status"], d["last_error"]) for d in log] == [("skipped", "nothing left to do in this slot")]


async def test_a_completion_taken_back_is_not_done_for_the_reminder(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    done = await complete(ana.phones[0], ana, dt.date(2026, 11, 20), "evening", 3, START)
    withdrawn = {**done[0], "withdrawn_at": START.isoformat()}
    r = await ana.phones[0].post("/api/v1/patient/sync", json={"completions": [withdrawn]})
    assert r.json()["withdrawn"] == [withdrawn["id"]], r.text

    report = await scheduler.tick(utc("2026-11-20T18:00:00"))

    assert (report.sent, report.skipped) == (1, 0)
    [received] = await service.wait_for(1)
    assert received.payload["title"].startswith("Evening: 1 ")


async def test_on_the_day_of_an_edit_the_reminder_counts_the_version_the_patients_app_shows(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    day = START.date()
    await complete(ana.phones[0], ana, day, "evening", 2, START)  # two of the three evening stretches
    plan = (await therapist.get(f"/api/v1/patients/{ana.id}/plan")).json()
    n = (day - ana.treated_on).days
    evening = [i for i in ana.items if "evening" in i["slots"] and i["from_day"] <= n <= i["to_day"]]
    used = {i["exercise_id"] for i in ana.items}
    phase = evening[0]["phase"]
    spare = next(
        x
        for x, e in catalog.exercises.items()
        if x not in used and e.kind == "stretch" and phase in e.phases and (e.max_hold_seconds or 60) >= 30
    )
    # The same day, the first stretch (done) is swapped for another: less of the new version's day
    # is done, so the app goes on showing the version the patient followed today, one stretch open.
    items = [i for i in ana.items if i is not evening[0]] + [{**evening[0], "exercise_id": spare}]
    r = await therapist.put(
        f"/api/v1/patients/{ana.id}/plan", json={"plan_id": plan["id"], "version": plan["version"], "items": items}
    )
    assert r.status_code == 200, r.text
    shown = (await ana.phones[0].get(f"/api/v1/patient/today?date={day}")).json()
    assert shown["plan_version"] == 1
    open_in_app = [e["exercise_id"] for e in shown["entries"] if e["slot"] == "evening" and not e["done"]]
    assert open_in_app == [evening[2]["exercise_id"]]

    report = await scheduler.tick(utc("2026-11-20T18:00:00"))
    assert report.sent == 1
    [message] = await service.wait_for(1)
    # The new version would say two (the open stretch and the new one).
    assert (message.payload["count"], message.payload["title"]) == (1, "Evening: 1 stretch, about 2 minutes")


async def test_on_the_day_a_plan_for_a_later_visit_is_assigned_the_reminder_counts_todays_items(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    day = START.date()
    treated = [{"muscle": "masseter", "side": "both"}]
    later = (day + dt.timedelta(days=2)).isoformat()
    r = await therapist.post(f"/api/v1/patients/{ana.id}/plans", json={"treated": treated, "treated_on": later})
    assert r.status_code == 201, r.text
    # The new plan asks nothing before its visit; today the app still shows the plan that was in force.
    shown = (await ana.phones[0].get(f"/api/v1/patient/today?date={day}")).json()
    open_in_app = [e["exercise_id"] for e in shown["entries"] if e["slot"] == "evening" and not e["done"]]
    assert len(open_in_app) == 3

    report = await scheduler.tick(utc("2026-11-20T18:00:00"))
    assert report.sent == 1
    [message] = await service.wait_for(1)
    assert (message.payload["count"], message.payload["title"]) == (3, EVENING_TEXT)
    # The day after, still before the visit: the plan in force goes on, and so do its reminders.
    nextday = (await ana.phones[0].get(f"/api/v1/patient/today?date={day + dt.timedelta(days=1)}")).json()
    still_open = [e for e in nextday["entries"] if e["slot"] == "evening"]
    assert still_open
    assert nextday["day"] is not None
    report = await scheduler.tick(utc("2026-11-21T18:00:00"))
    assert report.sent == 1
    [_, message] = await service.wait_for(2)
    assert message.payload["count"] == len(still_open)


async def test_a_410_removes_the_subscription_and_the_other_device_still_gets_it(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    service.gone(ana.subs[0])
    report = await scheduler.tick(utc("2026-11-20T18:00:00"))
    assert (report.sent, report.gone) == (1, 1)
    assert [r.name for r in await service.wait_for(1)] == ["Ana-2"]
    me = (await ana.phones[1].get("/api/v1/patient/reminders")).json()
    assert me["subscriptions"] == 1
    # The log names the phone whose subscription is gone, as the other.
    first, second = sorted(d["id"] for d in (await therapist.get(f"/api/v1/patients/{ana.id}/devices")).json())
    log = await deliveries(therapist, ana)
    assert sorted((d["status"], d["http_status"], d["device_id"]) for d in log) == [
        ("gone", 410, first),
        ("sent", 201, second),
    ]
    # The next day nobody knocks on the dead endpoint again.
    await scheduler.tick(utc("2026-11-21T18:00:00"))
    assert service.attempts(ana.subs[0]) == 1
    assert service.attempts(ana.subs[1]) == 2


async def test_a_503_is_retried_with_backoff_and_then_succeeds(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], 503)
    due = utc("2026-11-20T18:00:00")
    report = await scheduler.tick(due)
    assert (report.sent, report.retried) == (0, 1)
    [pending] = await deliveries(therapist, ana)
    assert (pending["status"], pending["attempts"], pending["http_status"]) == ("pending", 1, 503)
    assert (await scheduler.tick(due + dt.timedelta(seconds=10))).sent == 0  # still backing off
    assert (await scheduler.tick(due + dt.timedelta(seconds=31))).sent == 1
    assert [r.payload["title"] for r in await service.wait_for(1)] == [EVENING_TEXT]
    assert service.attempts(ana.subs[0]) == 2
    [sent] = await deliveries(therapist, ana)
    assert (sent["status"], sent["attempts"], sent["http_status"], sent["last_error"]) == ("sent", 2, 201, "")


@pytest.mark.parametrize("done", [3, 1])
async def test_a_retry_says_what_is_left_by_then_and_is_not_sent_when_nothing_is(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, done: int
) -> None:
    """The push service answers 503 at 19:00; the patient does some of the evening before the retry."""
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], 503)
    due = utc("2026-11-20T18:00:00")
    assert (await scheduler.tick(due)).retried == 1
    await complete(ana.phones[0], ana, dt.date(2026, 11, 20), "evening", done, due + dt.timedelta(seconds=10))
    report = await scheduler.tick(due + dt.timedelta(seconds=31))
    [delivery] = await deliveries(therapist, ana)
    if done == 3:
        assert (report.sent, report.skipped) == (0, 1)
        assert service.attempts(ana.subs[0]) == 1
        assert service.received == []
        assert (delivery["status"], delivery["last_error"]) == ("skipped", "nothing left to do in this slot")
    else:
        assert report.sent == 1
        [message] = await service.wait_for(1)
        assert (message.payload["title"], message.payload["count"]) == ("Evening: 2 stretches, about 4 minutes", 2)
        assert (delivery["status"], delivery["attempts"]) == ("sent", 2)


async def test_a_push_service_that_keeps_failing_is_given_up_after_the_bound(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    settings: Settings,
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], *[503] * 20)
    due = utc("2026-11-20T18:00:00")
    for minute in range(0, 30, 2):
        await scheduler.tick(due + dt.timedelta(minutes=minute))
    assert service.attempts(ana.subs[0]) == settings.push_max_attempts
    [failed] = await deliveries(therapist, ana)
    assert failed["status"] == "failed"
    assert failed["attempts"] == settings.push_max_attempts
    assert failed["last_error"].startswith(f"gave up after {settings.push_max_attempts} attempts")
    assert service.received == []


async def test_a_missed_reminder_is_sent_late_within_the_grace_window_and_never_after(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, settings: Settings
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bruno = await make_patient(therapist, app, service, catalog, name="Bruno")
    r = await bruno.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "18:00"}]}
    )
    assert r.status_code == 200, r.text
    # The server was down from 17:55 to 19:10 (Berlin): Ana's 19:00 reminder goes out 10 minutes late,
    # Bruno's 18:00 one would be 70 minutes late, past the grace window: it is not sent at all.
    assert settings.push_grace_minutes < 70
    report = await scheduler.tick(utc("2026-11-20T18:10:00"))
    assert (report.sent, report.missed) == (1, 1)
    assert [r.name for r in await service.wait_for(1)] == ["Ana-1"]
    assert [d["status"] for d in await deliveries(therapist, ana)] == ["sent"]
    [missed] = await deliveries(therapist, bruno)
    assert (missed["status"], missed["due_at"]) == ("missed", "2026-11-20T17:00:00Z")
    await asyncio.sleep(0.05)
    assert len(service.received) == 1


async def test_quiet_hours_hold_back_a_late_reminder(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    r = await ana.phones[0].put("/api/v1/patient/reminders", json={"quiet_hours": {"start": "19:15", "end": "07:00"}})
    assert r.status_code == 200, r.text
    report = await scheduler.tick(utc("2026-11-20T18:20:00"))  # 19:20 in Berlin, 20 minutes late
    assert report.skipped == 1
    assert service.received == []
    assert [(d["status"], d["last_error"]) for d in await deliveries(therapist, ana)] == [("skipped", "quiet hours")]


async def test_a_retry_that_would_arrive_in_quiet_hours_is_not_sent(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    """Quiet hours are checked when the message goes out, not only when it was planned."""
    ana = await make_patient(therapist, app, service, catalog)
    r = await ana.phones[0].put("/api/v1/patient/reminders", json={"quiet_hours": {"start": "19:01", "end": "07:00"}})
    assert r.status_code == 200, r.text
    service.answer(ana.subs[0], 503)
    assert (await scheduler.tick(utc("2026-11-20T18:00:00"))).retried == 1  # 19:00 in Berlin
    report = await scheduler.tick(utc("2026-11-20T18:01:10"))  # the retry is due at 19:01:10, in quiet hours
    assert (report.sent, report.skipped) == (0, 1)
    assert service.attempts(ana.subs[0]) == 1
    assert [(d["status"], d["last_error"]) for d in await deliveries(therapist, ana)] == [("skipped", "quiet hours")]


async def test_saving_reminder_settings_keeps_a_reminder_that_has_come_due(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    """The scheduler was down at 19:00; at 19:05 the patient changes only the quiet hours."""
    ana = await make_patient(therapist, app, service, catalog)
    clock.fixed = utc("2026-11-20T18:05:00")
    r = await ana.phones[0].put("/api/v1/patient/reminders", json={"quiet_hours": {"start": "22:30", "end": "07:00"}})
    assert r.status_code == 200, r.text
    assert (await scheduler.tick(utc("2026-11-20T18:10:00"))).sent == 1
    assert [m.payload["on_date"] for m in await service.wait_for(1)] == ["2026-11-20"]
    # A slot the patient did change starts from its new time.
    r = await ana.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "morning", "local_time": "09:30"}]}
    )
    assert r.json()["rules"][0]["next_at"] == "2026-11-21T08:30:00Z"


async def test_a_tick_that_sends_for_a_while_records_each_message_at_the_time_it_went(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    """Claims and records use the time they happen, not the tick's start: a claim made late in a
    long tick would otherwise get a lease that is already running out, and another process would
    take it over while it is being sent."""
    ana = await make_patient(therapist, app, service, catalog)
    service.delay = 1.2
    assert (await scheduler.tick(utc("2026-11-20T18:00:00"))).sent == 1
    [sent] = await deliveries(therapist, ana)
    assert sent["sent_at"] == "2026-11-20T18:00:01Z"


async def test_a_revoked_device_and_an_archived_patient_get_no_reminders(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, settings: Settings
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana", devices=2)
    cleo = await make_patient(therapist, app, service, catalog, name="Cleo")
    devices = (await therapist.get(f"/api/v1/patients/{ana.id}/devices")).json()
    first = min(d["id"] for d in devices)
    assert (await therapist.delete(f"/api/v1/patients/{ana.id}/devices/{first}")).status_code == 204
    assert (await therapist.patch(f"/api/v1/patients/{cleo.id}", json={"archived": True})).status_code == 200
    await scheduler.tick(utc("2026-11-20T18:00:00"))
    assert [r.name for r in await service.wait_for(1)] == ["Ana-2"]
    await asyncio.sleep(0.05)
    assert len(service.received) == 1
    # A removed phone's push address and keys are not kept: only Ana's second phone has a subscription.
    kept = rows(settings, "SELECT device_id FROM push_subscription ORDER BY id")
    assert kept == [(max(d["id"] for d in devices),)]


async def test_a_new_time_zone_moves_the_reminder_to_local_time_there(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    r = await therapist.patch(f"/api/v1/patients/{ana.id}", json={"timezone": "America/New_York"})
    assert r.status_code == 200
    await scheduler.tick(utc("2026-11-20T18:00:00"))  # 19:00 in Berlin, 13:00 in New York
    assert service.received == []
    await scheduler.tick(utc("2026-11-21T00:00:00"))  # 19:00 in New York
    received = await service.wait_for(1)
    assert [(r.payload["slot"], r.payload["on_date"]) for r in received] == [("evening", "2026-11-20")]


async def test_a_patient_who_travels_sets_their_own_zone_and_gets_the_reminder_at_local_time_there(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    """Madrid to New York: the phone says so (PATCH /patient/me), not the therapist."""
    ana = await make_patient(therapist, app, service, catalog, tz="Europe/Madrid")
    r = await ana.phones[0].patch("/api/v1/patient/me", json={"timezone": "America/New_York"})
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "America/New_York"
    await scheduler.tick(utc("2026-11-20T18:00:00"))  # 19:00 in Madrid, 13:00 in New York
    assert service.received == []
    await scheduler.tick(utc("2026-11-21T00:00:00"))  # 19:00 in New York
    received = await service.wait_for(1)
    assert [(r.payload["slot"], r.payload["on_date"]) for r in received] == [("evening", "2026-11-20")]


async def test_a_language_picked_in_the_app_is_the_language_of_the_reminders(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog, locale="en")
    r = await ana.phones[0].patch("/api/v1/patient/me", json={"locale": "es"})
    assert r.status_code == 200, r.text
    await scheduler.tick(utc("2026-11-20T18:00:00"))  # 19:00 in Berlin
    received = await service.wait_for(1)
    assert [(m.payload["lang"], m.payload["title"]) for m in received] == [
        ("es", "Tarde y noche: 3 estiramientos, unos 6 minutos")
    ]


async def test_a_reminder_that_has_come_due_is_kept_when_the_patient_moves_zone(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    """The scheduler was down at 19:00 Berlin; meanwhile the therapist set Paris (the same hour)."""
    ana = await make_patient(therapist, app, service, catalog)
    r = await therapist.patch(f"/api/v1/patients/{ana.id}", json={"timezone": "Europe/Paris"})
    assert r.status_code == 200, r.text
    assert (await scheduler.tick(utc("2026-11-20T18:10:00"))).sent == 1
    assert [m.payload["on_date"] for m in await service.wait_for(1)] == ["2026-11-20"]


async def test_moving_a_reminder_later_the_same_day_does_not_send_it_twice(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    await scheduler.tick(utc("2026-11-20T18:00:00"))
    r = await ana.phones[0].put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "evening", "local_time": "21:00"}]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rules"][2]["next_at"] == "2026-11-20T20:00:00Z"
    # The device already had today's: nothing is planned for it, and the report says so.
    assert (await scheduler.tick(utc("2026-11-20T20:00:00"))).planned == 0
    await scheduler.tick(utc("2026-11-21T20:00:00"))  # and the next day at the new time
    received = await service.wait_for(2)
    assert [r.payload["on_date"] for r in received] == ["2026-11-20", "2026-11-21"]
    assert service.attempts(ana.subs[0]) == 2


# --- daylight saving ------------------------------------------------------------------------------

DST_CHANGES = [
    ("Europe/Berlin", "2026-03-28", "2026-03-28T18:00", "2026-03-29", "2026-03-29T17:00"),
    ("Europe/Berlin", "2026-10-24", "2026-10-24T17:00", "2026-10-25", "2026-10-25T18:00"),
    ("America/New_York", "2026-03-07", "2026-03-08T00:00", "2026-03-08", "2026-03-08T23:00"),
    ("America/New_York", "2026-10-31", "2026-10-31T23:00", "2026-11-01", "2026-11-02T00:00"),
]


@pytest.mark.parametrize(("tz", "before", "before_utc", "after", "after_utc"), DST_CHANGES)
async def test_a_daylight_saving_change_keeps_the_evening_reminder_at_19_local(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    tz: str,
    before: str,
    before_utc: str,
    after: str,
    after_utc: str,
) -> None:
    clock.fixed = utc(f"{before}T12:00")
    await make_patient(
        therapist, app, service, catalog, tz=tz, treated_on=dt.date.fromisoformat(before) - dt.timedelta(days=2)
    )

    def evenings() -> list[str]:
        return [r.payload["on_date"] for r in service.received if r.payload["slot"] == "evening"]

    await scheduler.tick(utc(before_utc) - dt.timedelta(seconds=1))
    await scheduler.tick(utc(before_utc))
    await service.wait_for(1)
    assert evenings() == [before]
    hour = dt.timedelta(hours=1)
    # On the day of the change 19:00 local is an hour earlier or later in UTC than the day before.
    for moment in sorted([utc(after_utc) - dt.timedelta(seconds=1), utc(before_utc) + dt.timedelta(days=1)]):
        if moment < utc(after_utc):
            await scheduler.tick(moment)
    assert evenings() == [before]
    await scheduler.tick(utc(after_utc))
    await scheduler.tick(utc(after_utc) + hour)
    await service.wait_for(2)
    assert evenings() == [before, after]
    assert service.rejected == []


# --- several schedulers ----------------------------------------------------------------------------


async def test_two_schedulers_on_one_database_send_each_reminder_exactly_once(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    settings: Settings,
) -> None:
    patients = [await make_patient(therapist, app, service, catalog, name=f"P{i}", devices=2) for i in range(4)]
    async with open_database(settings) as db:
        other = Scheduler(db, catalog, settings, load_or_create(settings.data_dir), batch=1)
        scheduler.batch = 3
        try:
            due = utc("2026-11-20T18:00:00")
            for seconds in (0, 0, 5, 40):
                moment = due + dt.timedelta(seconds=seconds)
                reports = await asyncio.gather(scheduler.tick(moment), other.tick(moment))
                assert all(isinstance(r, Report) for r in reports)
        finally:
            await other.stop()
    subs = [s for p in patients for s in p.subs]
    received = await service.wait_for(len(subs))
    await asyncio.sleep(0.05)
    assert sorted(r.name for r in service.received) == sorted(s.name for s in subs)
    assert all(service.attempts(s) == 1 for s in subs)
    assert len(received) == 8


async def crashed_claim(scheduler: Scheduler, settings: Settings, due: dt.datetime) -> list[reminders.Claimed]:
    """What a sender claims at ``due`` before it dies: the rows stay 'sending' until its lease ends."""
    return await reminders.claim(
        scheduler.db,
        due,
        lease_until=due + scheduler.lease,
        token="crashed",
        limit=10,
        max_attempts=settings.push_max_attempts,
        not_before=due - scheduler.grace,
    )


async def test_a_crashed_senders_claim_is_taken_over_after_its_lease(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    settings: Settings,
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    due = utc("2026-11-20T18:00:00")
    await scheduler.plan(due)
    # This sender claims the delivery, then dies before sending.
    lost = await crashed_claim(scheduler, settings, due)
    assert len(lost) == 1
    async with open_database(settings) as db:
        other = Scheduler(db, catalog, settings, load_or_create(settings.data_dir))
        try:
            assert (await other.tick(due + dt.timedelta(seconds=5))).sent == 0  # the claim still holds
            assert (await other.tick(due + scheduler.lease + dt.timedelta(seconds=1))).sent == 1
        finally:
            await other.stop()
    assert [r.name for r in await service.wait_for(1)] == ["Ana-1"]
    # The crashed sender coming back cannot overwrite the outcome with its stale claim.
    await reminders.record(
        scheduler.db,
        [
            {
                "id": lost[0].id,
                "claim": "crashed",
                "status": "failed",
                "sent_at": None,
                "next": None,
                "code": 500,
                "error": "x",
            }
        ],
        due,
    )
    [delivery] = await deliveries(therapist, ana)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)


# --- the loop in the app's lifespan ---------------------------------------------------------------


async def test_the_app_runs_the_scheduler_in_its_lifespan_and_stops_it_cleanly(
    settings: Settings, service: PushService, catalog: Catalog
) -> None:
    settings = msgspec.structs.replace(settings, scheduler=True, scheduler_interval_seconds=0.05)
    clock = Clock(fixed=START)
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app) as therapist:
        await make_therapist(settings, "loop@clinic.example")
        await sign_in(therapist, "loop@clinic.example")
        await make_patient(therapist, app, service, catalog)
        await asyncio.sleep(0.2)
        assert service.received == []
        clock.fixed = utc("2026-11-20T18:00:02")
        received = await service.wait_for(1, within=10)
        assert [r.payload["title"] for r in received] == [EVENING_TEXT]
        task = app.state.push._task
        assert task is not None
        assert not task.done()
    assert task.done()
    assert not task.cancelled()  # it finished its tick and left, rather than being killed


class Warnings(logging.Handler):
    """The messages logged to a logger (the app's loggers do not pass theirs on to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


@pytest.mark.parametrize("tolerance", [CLOCKS_APART, dt.timedelta(0)])
async def test_the_running_scheduler_compares_the_clocks_again_now_and_then(
    scheduler: Scheduler, settings: Settings, monkeypatch: pytest.MonkeyPatch, tolerance: dt.timedelta
) -> None:
    # `unknot serve` compares them at start; a clock that drifts or is set wrong later would send
    # reminders early, late or twice without a word. Clocks on one machine are the same clock: with
    # no tolerance at all, the round trip's fraction of a second is named, which shows the
    # comparison is really made, again and again.
    monkeypatch.setattr(server.clock, "CLOCKS_APART", tolerance)
    scheduler.clock_check_seconds = 0.05
    handler = Warnings()
    logging.getLogger("unknot.push").addHandler(handler)
    try:
        scheduler.start(Clock(fixed=START), interval=0.02)
        await asyncio.sleep(0.6)
        await scheduler.stop()
    finally:
        logging.getLogger("unknot.push").removeHandler(handler)
    if settings.database_backend == "sqlite" or tolerance:
        assert handler.said == []  # SQLite's database is on this machine: one clock
    else:
        assert len(handler.said) >= 2, handler.said
        for said in handler.said:
            assert re.fullmatch(
                r"push: this machine's clock is 0 s (ahead of|behind) the database server's; app processes whose "
                r"clocks differ send reminders early or late, and may send one twice: synchronise this machine's "
                r"clock \(NTP\)",
                said,
            ), said


async def test_a_reminder_waiting_for_a_retry_is_not_sent_once_the_patient_is_archived(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.answer(ana.subs[0], 503)
    due = utc("2026-11-20T18:00:00")
    assert (await scheduler.tick(due)).retried == 1
    assert (await therapist.patch(f"/api/v1/patients/{ana.id}", json={"archived": True})).status_code == 200
    report = await scheduler.tick(due + dt.timedelta(seconds=31))
    # Archiving disconnected the phone (its device is revoked): the retry is not sent.
    assert (report.sent, report.gone) == (0, 1)
    assert service.attempts(ana.subs[0]) == 1
    [gone] = await deliveries(therapist, ana)
    [device] = (await therapist.get(f"/api/v1/patients/{ana.id}/devices")).json()
    # The phone it was planned for is still named, removed since.
    assert (gone["status"], gone["device_id"], gone["device"]) == ("gone", device["id"], "Phone")
    # Restored later: the phone stays disconnected until it joins again, so no reminder goes to it.
    assert (await therapist.patch(f"/api/v1/patients/{ana.id}", json={"archived": False})).status_code == 200
    assert (await scheduler.tick(utc("2026-11-21T18:00:00"))).sent == 0
    assert service.attempts(ana.subs[0]) == 1


# --- reminder settings and plan changes ------------------------------------------------------------


async def add_midday(therapist: Client, patient: Patient) -> None:
    """The therapist puts the evening's exercises at midday as well."""
    plan = (await therapist.get(f"/api/v1/patients/{patient.id}/plan")).json()
    items = []
    for item in plan["program"]["items"]:
        if "evening" in item["slots"]:
            item = {**item, "slots": ["midday", "evening"], "dosage": {**item["dosage"], "times_per_day": 2}}
        items.append(item)
    r = await therapist.put(
        f"/api/v1/patients/{patient.id}/plan", json={"plan_id": plan["id"], "version": plan["version"], "items": items}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("how", ["one slot", "the app's save"])
async def test_a_slot_the_plan_takes_into_use_later_is_reminded_after_the_patient_saved_settings(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, how: str
) -> None:
    """The plan has nothing at midday when the patient moves the evening reminder; a slot they
    never turned off still reminds once the therapist puts something there."""
    ana = await make_patient(therapist, app, service, catalog)
    phone = ana.phones[0]
    if how == "one slot":
        change = {"rules": [{"slot": "evening", "local_time": "20:00"}]}
    else:  # the reminder screen sends back every slot as it showed it, and the quiet hours
        shown = (await phone.get("/api/v1/patient/reminders")).json()
        rules = [{k: r[k] for k in ("slot", "local_time", "weekdays", "enabled")} for r in shown["rules"]]
        assert [r["enabled"] for r in rules] == [True, False, True]  # midday shows as off: nothing there yet
        rules[2]["local_time"] = "20:00"
        change = {"rules": rules, "quiet_hours": shown["quiet_hours"]}
    r = await phone.put("/api/v1/patient/reminders", json=change)
    assert r.status_code == 200, r.text
    assert [(x["local_time"], x["enabled"]) for x in r.json()["rules"]] == [
        ("08:00", True),
        ("13:00", False),
        ("20:00", True),
    ]

    await add_midday(therapist, ana)
    shown = (await phone.get("/api/v1/patient/reminders")).json()
    assert [(x["slot"], x["enabled"], x["next_at"]) for x in shown["rules"]][1] == (
        "midday",
        True,
        "2026-11-21T12:00:00Z",
    )
    report = await scheduler.tick(utc("2026-11-21T12:00:00"))  # 13:00 in Berlin the next day
    assert report.sent == 1
    [message] = await service.wait_for(1)
    assert (message.payload["slot"], message.payload["on_date"]) == ("midday", "2026-11-21")
    assert message.payload["title"].startswith("Midday: ")


async def test_a_slot_the_patient_turned_off_stays_off_when_the_plan_takes_it_into_use(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    phone = ana.phones[0]
    r = await phone.put(
        "/api/v1/patient/reminders", json={"rules": [{"slot": "midday", "local_time": "12:30", "enabled": False}]}
    )
    assert r.status_code == 200, r.text
    await add_midday(therapist, ana)
    assert (await phone.get("/api/v1/patient/reminders")).json()["rules"][1]["enabled"] is False
    report = await scheduler.tick(utc("2026-11-21T12:00:00"))
    assert report.sent == 0
    assert service.received == []


class Records(logging.Handler):
    """The records logged to a logger, at warning and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_on_a_full_disk_the_running_scheduler_logs_one_line_a_tick_and_sends_once_space_is_freed(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    # It logged a whole traceback every tick (5 s) until the disk had room again.
    ana = await make_patient(therapist, app, service, catalog)
    writer = scheduler.db._writer  # type: ignore[attr-defined]
    (pages,) = await (await writer.execute("PRAGMA page_count")).fetchone()
    await writer.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own limit fails as a full disk does
    # Fill what room the deliveries' pages have left, so that the next delivery needs a new page.
    for size in (3000, 1000, 300, 100, 30, 1):
        with contextlib.suppress(sqlite3.OperationalError):
            for n in range(1000):
                await writer.execute(
                    "INSERT INTO reminder_delivery (patient_id, kind, slot, on_date, due_at, status, payload, "
                    "created_at) VALUES (?, 'test', 'evening', '2026-01-01', ?, 'expired', ?, ?)",
                    (ana.id, f"2026-01-01T00:00:{n:04}Z", "x" * size, f"2026-01-01T{size:05}{n:04}Z"),
                )
    records = Records()
    logging.getLogger("unknot.push").addHandler(records)
    try:
        scheduler.start(Clock(fixed=utc("2026-11-20T18:00:00")), interval=0.02)
        await asyncio.sleep(0.3)
        await scheduler.stop()
    finally:
        logging.getLogger("unknot.push").removeHandler(records)
    assert len(records.records) >= 2
    for record in records.records:
        assert record.getMessage() == "push scheduler: the disk that holds the database is full; free space on it"
        assert record.exc_info is None
    assert service.received == []
    # Room again: the evening's reminder goes out.
    await writer.execute("PRAGMA max_page_count = 1073741823")
    assert (await scheduler.tick(utc("2026-11-20T18:00:00"))).sent == 1
