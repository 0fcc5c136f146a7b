"""The attention list of a busy caseload: a patient without a phone connected now (none ever joined,
or every one was removed, expired unused or disconnected on archiving) is "not joined" (the clinic
hands over a new code), not "inactive", and the reason says which; and within those two kinds the
patients come the most days let pass first.
Runs on SQLite and PostgreSQL, like every database test."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.clock import Clock
from server.settings import Settings
from tests.conftest import rows
from tests.test_adherence_history import START, TREATED, log_all_due, move_to
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]


@pytest.fixture
def clock() -> Clock:
    # Tuesday 24 Nov 2026, 09:00 in Madrid, where the patients live.
    return Clock(fixed=START)


def at(day: int, hour: int = 10) -> dt.datetime:
    """A moment of November 2026 or, past 30, of December (UTC)."""
    return dt.datetime(2026, 11, 24, hour, tzinfo=dt.UTC) + dt.timedelta(days=day - 24)


async def attention(therapist: Client) -> list[dict[str, Any]]:
    return (await therapist.get("/api/v1/attention")).json()


async def reasons_of(therapist: Client, patient_id: int) -> list[tuple[str, str]]:
    found = [a for a in await attention(therapist) if a["patient_id"] == patient_id]
    return [(r["kind"], r["detail"]) for r in found[0]["reasons"]] if found else []


async def phone_of(app: Litestar, therapist: Client, patient_id: int) -> Client:
    phone = AsyncTestClient(app=app)
    await join(therapist, phone, patient_id)
    return phone


async def test_a_patient_whose_phone_never_joined_is_not_joined_not_inactive(therapist: Client, clock: Clock) -> None:
    patient = await create_patient(therapist, "Nora Nophone")
    await assign(therapist, patient["id"], TREATED)
    # An invite made and never used is no phone.
    assert (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).status_code == 201

    await move_to(clock, therapist, at(26))
    assert await reasons_of(therapist, patient["id"]) == []  # two days due let pass: not yet
    await move_to(clock, therapist, at(27))
    assert await reasons_of(therapist, patient["id"]) == [
        ("not-joined", "none since the plan was assigned on November 24, 2026: hand over a new code")
    ]
    [item] = [a for a in await attention(therapist) if a["patient_id"] == patient["id"]]
    assert item["reasons"][0]["assigned_on"] == "2026-11-24"
    # A follow-up plan later does not move the day the first one was assigned.
    await move_to(clock, therapist, at(30))
    await assign(therapist, patient["id"], dt.date(2026, 11, 30), treated=[{"muscle": "masseter", "side": "both"}])
    [(kind, detail)] = await reasons_of(therapist, patient["id"])
    assert (kind, detail.split(" on ")[-1]) == ("not-joined", "November 24, 2026: hand over a new code")


async def test_a_plan_assigned_late_at_night_is_dated_where_the_patient_lives(therapist: Client, clock: Clock) -> None:
    # 23:30 UTC on 23 Nov is already 24 Nov in Madrid.
    await move_to(clock, therapist, dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC))
    patient = await create_patient(therapist, "Late Assignment")
    await assign(therapist, patient["id"], TREATED)
    await move_to(clock, therapist, at(28))
    [item] = [a for a in await attention(therapist) if a["patient_id"] == patient["id"]]
    assert (item["reasons"][0]["kind"], item["reasons"][0]["assigned_on"]) == ("not-joined", "2026-11-24")


async def devices_of(therapist: Client, patient_id: int) -> list[dict[str, Any]]:
    return (await therapist.get(f"/api/v1/patients/{patient_id}/devices")).json()


async def remove(therapist: Client, patient_id: int, device_id: int) -> None:
    assert (await therapist.delete(f"/api/v1/patients/{patient_id}/devices/{device_id}")).status_code == 204


async def test_a_patient_whose_phone_was_removed_needs_a_new_code(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    # The patient had the app and used it; their phone was removed later (lost, say): they cannot
    # log anything until the clinic hands over a new code, so they are not merely inactive.
    patient = await create_patient(therapist, "Rita Removed")
    await assign(therapist, patient["id"], TREATED)
    await join(therapist, other_client, patient["id"])
    await log_all_due(other_client, clock, TREATED)
    [device] = await devices_of(therapist, patient["id"])
    await remove(therapist, patient["id"], device["id"])

    await move_to(clock, therapist, at(27))  # two days due let pass: not yet
    assert await reasons_of(therapist, patient["id"]) == []
    await move_to(clock, therapist, at(28))
    assert await reasons_of(therapist, patient["id"]) == [
        ("not-joined", "the phone was removed on November 24, 2026; none connected since: hand over a new code")
    ]
    [item] = [a for a in await attention(therapist) if a["patient_id"] == patient["id"]]
    assert (item["reasons"][0]["removed_on"], item["reasons"][0]["assigned_on"]) == ("2026-11-24", None)


async def test_a_patient_whose_last_phone_expired_unused_is_told_apart_from_a_removal(
    therapist: Client, app: Litestar, clock: Clock, settings: Settings
) -> None:
    patient = await create_patient(therapist, "Enzo Expired")
    await assign(therapist, patient["id"], TREATED)
    lost_phone = await phone_of(app, therapist, patient["id"])
    idle_phone = await phone_of(app, therapist, patient["id"])
    await log_all_due(idle_phone, clock, TREATED)
    removed, unused = sorted(await devices_of(therapist, patient["id"]), key=lambda d: d["id"])
    await remove(therapist, patient["id"], removed["id"])
    assert (await lost_phone.get("/api/v1/patient/me")).status_code == 401
    # The other phone last used longer ago than UNKNOT_DEVICE_IDLE_DAYS: its next request expires it.
    rows(settings, "UPDATE patient_device SET last_seen_at = '2020-01-01T00:00:00Z' WHERE id = :id", unused)
    await move_to(clock, therapist, at(25))
    assert (await idle_phone.get("/api/v1/patient/me")).status_code == 401

    await move_to(clock, therapist, at(28))
    assert await reasons_of(therapist, patient["id"]) == [
        (
            "not-joined",
            "the phone expired on November 25, 2026 (unused too long); none connected since: hand over a new code",
        )
    ]
    [item] = [a for a in await attention(therapist) if a["patient_id"] == patient["id"]]
    assert item["reasons"][0]["removed_on"] == "2026-11-25"


async def test_a_patient_with_one_of_two_phones_removed_is_inactive_until_both_are(
    therapist: Client, app: Litestar, clock: Clock
) -> None:
    patient = await create_patient(therapist, "Pia Twophones")
    await assign(therapist, patient["id"], TREATED)
    first = await phone_of(app, therapist, patient["id"])
    await phone_of(app, therapist, patient["id"])
    await log_all_due(first, clock, TREATED)
    older, newer = sorted(await devices_of(therapist, patient["id"]), key=lambda d: d["id"])
    await remove(therapist, patient["id"], older["id"])

    await move_to(clock, therapist, at(28))  # a phone still connected: only days let pass
    assert await reasons_of(therapist, patient["id"]) == [("inactive", "no activity on 3 days with something due")]
    # 23:30 UTC on 28 Nov is already 29 Nov in Madrid: the day is the patient's.
    await move_to(clock, therapist, dt.datetime(2026, 11, 28, 23, 30, tzinfo=dt.UTC))
    await remove(therapist, patient["id"], newer["id"])
    assert await reasons_of(therapist, patient["id"]) == [
        ("not-joined", "the phone was removed on November 29, 2026; none connected since: hand over a new code")
    ]


async def test_a_new_phone_after_a_removed_one_makes_the_patient_inactive_again(
    therapist: Client, app: Litestar, other_client: Client, clock: Clock
) -> None:
    patient = await create_patient(therapist, "Lola Lost")
    await assign(therapist, patient["id"], TREATED)
    await join(therapist, other_client, patient["id"])
    await log_all_due(other_client, clock, TREATED)
    [device] = await devices_of(therapist, patient["id"])
    await remove(therapist, patient["id"], device["id"])
    await move_to(clock, therapist, at(28))
    assert [k for k, _ in await reasons_of(therapist, patient["id"])] == ["not-joined"]
    await phone_of(app, therapist, patient["id"])
    assert await reasons_of(therapist, patient["id"]) == [("inactive", "no activity on 3 days with something due")]


async def test_an_archived_and_restored_patient_needs_a_new_code(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    # Archiving disconnects the patient's phones; restoring does not connect them again.
    patient = await create_patient(therapist, "Ruth Restored")
    await assign(therapist, patient["id"], TREATED)
    await join(therapist, other_client, patient["id"])
    await log_all_due(other_client, clock, TREATED)
    await move_to(clock, therapist, at(25, 15))
    for archived in (True, False):
        r = await therapist.patch(f"/api/v1/patients/{patient['id']}", json={"archived": archived})
        assert r.status_code == 200, r.text
    assert [d["revoked_at"] is not None for d in await devices_of(therapist, patient["id"])] == [True]

    await move_to(clock, therapist, at(28))
    assert await reasons_of(therapist, patient["id"]) == [
        ("not-joined", "the phone was removed on November 25, 2026; none connected since: hand over a new code")
    ]


async def test_a_joined_patient_who_never_logged_is_inactive(
    therapist: Client, other_client: Client, clock: Clock
) -> None:
    patient = await create_patient(therapist, "Jon Joined")
    await assign(therapist, patient["id"], TREATED)
    await join(therapist, other_client, patient["id"])
    await move_to(clock, therapist, at(27))
    assert await reasons_of(therapist, patient["id"]) == [("inactive", "no activity on 3 days with something due")]


async def test_no_phone_comes_after_high_pain_and_before_inactivity(
    therapist: Client, app: Litestar, clock: Clock
) -> None:
    # All treated on Tuesday 24 Nov; it is Saturday 28 Nov when the therapist looks.
    names = ("Ana Idle", "Dora Nophone", "Eva Pain")
    patients = {}
    for name in names:
        patients[name] = await create_patient(therapist, name)
        await assign(therapist, patients[name]["id"], TREATED)
    await phone_of(app, therapist, patients["Ana Idle"]["id"])
    phone = await phone_of(app, therapist, patients["Eva Pain"]["id"])
    await move_to(clock, therapist, at(28))
    entry = (await phone.get("/api/v1/patient/today")).json()["entries"][0]
    hurt = completion(entry["exercise_id"], at(28).date(), entry["slot"], pain=8)
    hurt["done_at"] = clock.now().isoformat()
    assert (await phone.post("/api/v1/patient/sync", json={"completions": [hurt]})).status_code == 200

    order = [(a["display_name"], [r["kind"] for r in a["reasons"]]) for a in await attention(therapist)]
    assert order == [("Eva Pain", ["pain"]), ("Dora Nophone", ["not-joined"]), ("Ana Idle", ["inactive"])]


async def test_the_inactive_come_the_most_days_let_pass_first_then_by_name(
    therapist: Client, app: Litestar, clock: Clock
) -> None:
    # All treated on Tuesday 24 Nov; it is Tuesday 1 Dec when the therapist looks.
    names = ("Ana Recent", "Bea Longer", "Carla Longer")
    phones = {}
    for name in names:
        patient = await create_patient(therapist, name)
        await assign(therapist, patient["id"], TREATED)
        phones[name] = await phone_of(app, therapist, patient["id"])
        await log_all_due(phones[name], clock, TREATED)
    await move_to(clock, therapist, at(27, 18))
    await log_all_due(phones["Ana Recent"], clock, *(at(d).date() for d in range(25, 28)))

    await move_to(clock, therapist, at(32))
    found = [(a["display_name"], [(r["kind"], r["detail"]) for r in a["reasons"]]) for a in await attention(therapist)]
    assert found == [
        ("Bea Longer", [("inactive", "no activity on 7 days with something due")]),  # a tie: by name
        ("Carla Longer", [("inactive", "no activity on 7 days with something due")]),
        ("Ana Recent", [("inactive", "no activity on 4 days with something due")]),
    ]


async def test_the_patients_without_a_phone_come_the_longest_first(therapist: Client, clock: Clock) -> None:
    later = await create_patient(therapist, "Abel Later")
    await move_to(clock, therapist, at(24, 8))
    await assign(therapist, later["id"], dt.date(2026, 11, 26))  # a visit booked for Thursday
    earlier = await create_patient(therapist, "Zoe Earlier")
    await assign(therapist, earlier["id"], TREATED)
    await move_to(clock, therapist, at(30))
    found = [(a["display_name"], a["reasons"][0]["kind"]) for a in await attention(therapist)]
    assert found == [("Zoe Earlier", "not-joined"), ("Abel Later", "not-joined")]  # 6 days let pass, then 4
