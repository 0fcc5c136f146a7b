"""Reminders as a patient meets them, found walking the app: what a test reminder says, and
when. Driven as in tests/test_push_scheduler.py: patients through the API, a clock the test sets,
and a real push service on loopback that decrypts every message. Both backends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar

from server.catalog import Catalog
from server.clock import Clock
from server.programs import RoutineEntry
from server.push.message import summary
from tests.conftest import sign_in
from tests.pushservice import PushService
from tests.test_push_scheduler import EVENING_TEXT, START, Client, complete, make_patient, utc


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)  # Friday 2026-11-20 12:00 UTC, 13:00 in Berlin


async def test_a_test_reminder_says_what_a_reminder_would_never_all_done_of_a_slot_with_nothing_in_it(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, clock: Clock
) -> None:
    """At 13:00 the midday slot's time has come, but the plan has nothing at midday (the Reminders
    screen shows midday off): the test said "Midday: all done for today" to a patient who had done
    nothing, and whose evening still held three stretches."""
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bruno = await make_patient(therapist, app, service, catalog, name="Bruno", locale="es")

    r = await ana.phones[0].post("/api/v1/patient/push/test")
    assert r.status_code == 200, r.text
    [message] = await service.wait_for(1)
    # The reminder that comes next, as it will look.
    assert (message.payload["slot"], message.payload["title"]) == ("evening", EVENING_TEXT)
    assert message.payload["body"] == "Test reminder. This is how your reminders will look."
    assert message.payload["url"] == "/#today?slot=evening&date=2026-11-20"

    # Everything of the day done: "all done" is true now, of the slot whose time came last.
    clock.fixed = utc("2026-11-20T19:30:00")  # 20:30 in Berlin
    await complete(ana.phones[0], ana, START.date(), "morning", 1, clock.fixed)
    await complete(ana.phones[0], ana, START.date(), "evening", 3, clock.fixed)
    payload = (await ana.phones[0].post("/api/v1/patient/push/test")).json()["payload"]
    assert (payload["slot"], payload["title"], payload["count"]) == ("evening", "Evening: all done for today", 0)

    # Long after the plan ended nothing is planned: not "all done", but why none will come.
    clock.fixed = utc("2027-03-20T19:30:00")
    payload = (await ana.phones[0].post("/api/v1/patient/push/test")).json()["payload"]
    assert (payload["title"], payload["body"]) == (
        "Test reminder",
        "Reminders work on this phone. Nothing is planned for today, so none will come today.",
    )
    payload = (await bruno.phones[0].post("/api/v1/patient/push/test")).json()["payload"]
    assert (payload["title"], payload["body"]) == (
        "Recordatorio de prueba",
        "Los recordatorios funcionan en este teléfono. Hoy no hay nada previsto, así que hoy no recibirá ninguno.",
    )
    received = await service.wait_for(4)
    assert [m.payload["kind"] for m in received] == ["test"] * 4
    assert service.rejected == []
    assert dt.date.fromisoformat(payload["on_date"]) == dt.date(2027, 3, 20)


async def test_the_next_reminder_shown_is_one_that_can_come_never_a_day_without_that_slot_or_after_the_plan(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, clock: Clock
) -> None:
    """The Reminders card in the console (and GET /patient/reminders) gave each slot's next time
    by the clock alone: "Next: Saturday 19:00" for a Saturday without evening exercises, and a
    time every day after the plan had ended, when the scheduler sends none."""
    ana = await make_patient(therapist, app, service, catalog, name="Ana", evening_days_per_week=4)
    berlin = ZoneInfo("Europe/Berlin")

    def evening_of(day: dt.date) -> str:
        return (
            dt.datetime.combine(day, dt.time(19), tzinfo=berlin).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        )

    async def evening_next(phone: Client) -> str | None:
        return (await phone.get("/api/v1/patient/reminders")).json()["rules"][2]["next_at"]

    async def evening_on(day: dt.date) -> list[dict[str, Any]]:
        entries = (await ana.phones[0].get(f"/api/v1/patient/today?date={day}")).json()["entries"]
        return [e for e in entries if e["slot"] == "evening"]

    async def first_evening_from(day: dt.date) -> dt.date:
        """The first day from ``day`` whose evening the app shows something in."""
        while not await evening_on(day):
            day += dt.timedelta(days=1)
        return day

    skipped = 0
    for n in range(7):
        day = START.date() + dt.timedelta(days=n)
        clock.fixed = START + dt.timedelta(days=n)  # 13:00 in Berlin
        following = await first_evening_from(day)
        skipped += following != day
        assert await evening_next(ana.phones[0]) == evening_of(following), day
        await sign_in(therapist, "ana@clinic.example")  # a day later: the session has ended
        view = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()
        assert view["rules"][2]["next_at"] == evening_of(following)
    assert skipped  # four evenings a week: some days have none

    # An evening done early: no reminder comes tonight, and none is said to.
    day = await first_evening_from(START.date() + dt.timedelta(days=7))
    clock.fixed = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    assert await evening_next(ana.phones[0]) == evening_of(day)
    done = [
        {"id": str(uuid.uuid4()), "exercise_id": e["exercise_id"], "on_date": str(day), "slot": "evening"}
        | {"done_at": clock.fixed.isoformat()}
        for e in await evening_on(day)
    ]
    assert (await ana.phones[0].post("/api/v1/patient/sync", json={"completions": done})).status_code == 200
    assert await evening_next(ana.phones[0]) == evening_of(await first_evening_from(day + dt.timedelta(days=1)))

    # After the plan's last day nothing more comes, and nothing is said to.
    last = max(i["to_day"] for i in ana.items)
    clock.fixed = utc(f"{ana.treated_on + dt.timedelta(days=last + 1)}T12:00:00")
    assert [r["next_at"] for r in (await ana.phones[0].get("/api/v1/patient/reminders")).json()["rules"]] == [None] * 3
    await sign_in(therapist, "ana@clinic.example")
    view = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()
    assert view["on"] is True
    assert [r["next_at"] for r in view["rules"]] == [None] * 3


def test_the_first_days_reminder_says_which_are_aftercare_steps_not_four_exercises(catalog: Catalog) -> None:
    """The evening of the needling day and the day after holds an easy walk and drinking water
    (aftercare), slow breathing and shoulder rolls: the reminder called all four "exercises",
    about 22 minutes of them, to a patient who is sore."""
    evening = [
        RoutineEntry(i, x, "evening", catalog.exercises[x].dosage)
        for i, x in enumerate(["shoulder-rolls", "aftercare-gentle-walk", "aftercare-fluids", "slow-breathing"])
    ]
    assert summary("evening", evening, catalog, "en")[0] == (
        "Evening: 2 aftercare steps and 2 exercises, about 22 minutes"
    )
    assert summary("evening", evening, catalog, "es")[0] == (
        "Tarde y noche: 2 cuidados y 2 ejercicios, unos 22 minutos"
    )
    # One aftercare step among two other kinds.
    one = [e for e in evening if e.exercise_id != "aftercare-gentle-walk"]
    assert summary("evening", one, catalog, "en")[0].startswith("Evening: 1 aftercare step and 2 exercises, ")
    # Three kinds, none of them aftercare: exercises all.
    stretch = next(x for x, e in catalog.exercises.items() if e.kind == "stretch")
    others = [*one[:1], one[2], RoutineEntry(9, stretch, "evening", catalog.exercises[stretch].dosage)]
    assert summary("evening", others, catalog, "en")[0].startswith("Evening: 3 exercises, ")
