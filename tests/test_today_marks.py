"""Today's routine marks what the patient logged on the day shown, by the patient's own date.

On PostgreSQL the device's identity brings the active plan and the completions of the UTC date
before, of and after the request along (one round trip); a day outside those is read on its own.
At the fixed time below the three time zones put the patient's today at each end of that window
(the 26th in Pago Pago, the 28th in Kiritimati) and in its middle.
"""

from __future__ import annotations

import datetime as dt

import pytest
from litestar.testing import AsyncTestClient

from server.clock import Clock, local_date
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient

NOW = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.UTC)
ZONES = ["Pacific/Pago_Pago", "Europe/Madrid", "Pacific/Kiritimati"]  # UTC-11, +1, +14


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=NOW)


async def marked(phone: Client, day: dt.date | None = None) -> set[tuple[str, str]]:
    """The (exercise, slot) pairs Today marks done on ``day`` (None: today, as the app asks)."""
    r = await phone.get("/api/v1/patient/today" + (f"?date={day.isoformat()}" if day else ""))
    assert r.status_code == 200, r.text
    return {(e["exercise_id"], e["slot"]) for e in r.json()["entries"] if e["done"]}


def logged_at(exercise_id: str, day: dt.date, slot: str) -> dict[str, object]:
    return {**completion(exercise_id, day, slot), "done_at": (NOW - dt.timedelta(minutes=5)).isoformat()}


async def items(phone: Client, day: dt.date) -> list[tuple[str, str]]:
    r = await phone.get(f"/api/v1/patient/today?date={day.isoformat()}")
    return [(e["exercise_id"], e["slot"]) for e in r.json()["entries"]]


@pytest.mark.parametrize("zone", ZONES)
async def test_each_day_shows_only_what_was_logged_on_it_in_the_patients_own_time_zone(
    therapist: Client, other_client: Client, zone: str
) -> None:
    phone = other_client
    patient = await create_patient(therapist, tz=zone)
    today = local_date(NOW, zone)
    assert abs((today - NOW.date()).days) == (zone != "Europe/Madrid")
    await assign(therapist, patient["id"], today - dt.timedelta(days=6))
    await join(therapist, phone, patient["id"])
    assert await marked(phone) == set()
    # A different item on each logged day, and a day between them with nothing logged.
    logged = {
        today: (await items(phone, today))[0],
        today - dt.timedelta(days=2): (await items(phone, today - dt.timedelta(days=2)))[1],
        today - dt.timedelta(days=5): (await items(phone, today - dt.timedelta(days=5)))[-1],
    }
    r = await phone.post(
        "/api/v1/patient/sync",
        json={"completions": [logged_at(x, day, slot) for day, (x, slot) in logged.items()], "checkins": []},
    )
    assert r.status_code == 200, r.text

    assert await marked(phone) == {logged[today]}
    for back in range(6):
        day = today - dt.timedelta(days=back)
        assert await marked(phone, day) == ({logged[day]} if day in logged else set()), day


async def test_a_patient_with_no_plan_yet_gets_an_empty_day_and_a_removed_phone_nothing(
    therapist: Client, other_client: Client
) -> None:
    phone = other_client
    patient = await create_patient(therapist, tz="Pacific/Kiritimati")
    await join(therapist, phone, patient["id"])
    r = await phone.get("/api/v1/patient/today")
    assert r.status_code == 200, r.text
    assert (r.json()["entries"], r.json()["plan_version"]) == ([], None)

    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert (await therapist.delete(f"/api/v1/patients/{patient['id']}/devices/{devices[0]['id']}")).status_code == 204
    assert (await phone.get("/api/v1/patient/today")).status_code == 401


async def test_an_edit_shows_on_the_phones_next_request(therapist: Client, other_client: Client, clock: Clock) -> None:
    phone = other_client
    patient = await create_patient(therapist, tz="Pacific/Kiritimati")
    plan = await assign(therapist, patient["id"], local_date(NOW, "Pacific/Kiritimati") - dt.timedelta(days=6))
    await join(therapist, phone, patient["id"])
    before = (await phone.get("/api/v1/patient/today")).json()
    assert before["plan_version"] == 1
    # The process now knows the first version's program; the edit takes an exercise of today out.
    gone = before["entries"][0]["exercise_id"]
    kept = [i for i in plan["program"]["items"] if i["exercise_id"] != gone]
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan", json={"plan_id": plan["id"], "version": 1, "items": kept}
    )
    assert r.status_code == 200, r.text
    after = (await phone.get("/api/v1/patient/today")).json()
    assert after["plan_version"] == 2
    assert gone not in {e["exercise_id"] for e in after["entries"]}
    # The next day only the edited version was in force: its program is what the process reads.
    clock.fixed = NOW + dt.timedelta(days=1)
    next_day = (await phone.get("/api/v1/patient/today")).json()
    assert next_day["plan_version"] == 2
    assert next_day["entries"]
    assert gone not in {e["exercise_id"] for e in next_day["entries"]}
