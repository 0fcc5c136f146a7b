"""Taking back a completion after it was sent: a repeat of it with ``withdrawn_at`` (see server/db/logs.py).

The completion stays, as a tombstone: kept in the history (``withdrawn_at`` set), counted nowhere
(Today's marks, adherence, pain, activity, the patient list), whichever of the two arrives first
and however often either is replayed. Ticking again is a new completion that counts once.
Both backends, the real app.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.clock import Clock
from server.settings import Settings
from tests.conftest import rows
from tests.test_flow_therapist_patient import assign, create_patient, join

Client = AsyncTestClient[Litestar]

NOW = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.UTC)
TODAY = NOW.date()  # in Madrid too at this hour


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=NOW)


def tick(
    exercise_id: str, slot: str, on_date: dt.date = TODAY, pain: int | None = None, minutes_ago: int = 10
) -> dict[str, Any]:
    """A completion as the phone logs it, a few minutes ago."""
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "exercise_id": exercise_id,
        "on_date": on_date.isoformat(),
        "slot": slot,
        "done_at": (NOW - dt.timedelta(minutes=minutes_ago)).isoformat(),
    }
    if pain is not None:
        record["pain"] = pain
    return record


def take_back(record: dict[str, Any], minutes_ago: int = 5) -> dict[str, Any]:
    """The phone's take-back of ``record``: the completion again, with when it was taken back."""
    return {**record, "withdrawn_at": (NOW - dt.timedelta(minutes=minutes_ago)).isoformat()}


async def sync(phone: Client, *completions: dict[str, Any]) -> dict[str, Any]:
    r = await phone.post("/api/v1/patient/sync", json={"completions": list(completions)})
    assert r.status_code == 200, r.text
    return r.json()


async def marked(phone: Client, day: dt.date = TODAY) -> set[tuple[str, str]]:
    r = await phone.get(f"/api/v1/patient/today?date={day.isoformat()}")
    assert r.status_code == 200, r.text
    return {(e["exercise_id"], e["slot"]) for e in r.json()["entries"] if e["done"]}


async def entries(phone: Client, day: dt.date = TODAY) -> list[tuple[str, str]]:
    r = await phone.get(f"/api/v1/patient/today?date={day.isoformat()}")
    return [(e["exercise_id"], e["slot"]) for e in r.json()["entries"]]


async def done_on(therapist: Client, patient_id: int, day: dt.date = TODAY) -> int:
    r = await therapist.get(f"/api/v1/patients/{patient_id}/adherence", params={"days": 7})
    assert r.status_code == 200, r.text
    return {d["on_date"]: d["done"] for d in r.json()["days"]}[day.isoformat()]


def stored(settings: Settings, completion_id: str) -> list[tuple[Any, ...]]:
    return rows(settings, "SELECT id, pain, withdrawn_at FROM completion WHERE id = :id", {"id": completion_id})


@pytest.fixture
async def joined(therapist: Client, other_client: Client) -> dict[str, Any]:
    """A patient treated three days ago, with ``other_client`` as their phone."""
    patient = await create_patient(therapist)
    await assign(therapist, patient["id"], TODAY - dt.timedelta(days=3))
    await join(therapist, other_client, patient["id"])
    return {"id": patient["id"], "phone": other_client}


async def test_a_sent_completion_taken_back_counts_nowhere_and_stays_in_the_history(
    therapist: Client, joined: dict[str, Any], settings: Settings
) -> None:
    phone, pid = joined["phone"], joined["id"]
    x, slot = (await entries(phone))[0]
    done = tick(x, slot, pain=9)
    assert (await sync(phone, done))["withdrawn"] == []
    assert (x, slot) in await marked(phone)
    assert await done_on(therapist, pid) == 1

    answer = await sync(phone, take_back(done))

    assert answer["completions"] == [done["id"]]
    assert answer["withdrawn"] == [done["id"]]
    assert await marked(phone) == set()
    adherence = (await therapist.get(f"/api/v1/patients/{pid}/adherence", params={"days": 7})).json()
    assert {d["on_date"]: d["done"] for d in adherence["days"]}[TODAY.isoformat()] == 0
    assert adherence["pain"] == [], "its pain answer is taken back with it"
    assert adherence["last_activity"] is None, "a mis-tap taken back is no activity"
    attention = (await therapist.get("/api/v1/attention")).json()
    assert all("pain" not in {r["kind"] for r in a["reasons"]} for a in attention if a["patient_id"] == pid)
    [row] = [p for p in (await therapist.get("/api/v1/adherence")).json() if p["patient_id"] == pid]
    assert row["week"]["done"] == 0
    # Kept in the history: the patient's log, the therapist's records, the CSV and the export.
    [logged] = (await phone.get(f"/api/v1/patient/log?from={TODAY}&to={TODAY}")).json()["completions"]
    assert (logged["id"], logged["withdrawn_at"]) == (done["id"], "2026-11-27T10:25:00Z")
    [shown] = (await therapist.get(f"/api/v1/patients/{pid}/records")).json()["completions"]
    assert shown["withdrawn_at"] == "2026-11-27T10:25:00Z"
    exported = (await therapist.get(f"/api/v1/patients/{pid}/records.csv")).content.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["id"], r["withdrawn_at"]) for r in table] == [(done["id"], "2026-11-27T10:25:00Z")]
    export = (await therapist.get(f"/api/v1/patients/{pid}/export.json")).json()
    assert [c["withdrawn_at"] for c in export["completions"]] == ["2026-11-27T10:25:00Z"]
    assert stored(settings, done["id"]) == [(done["id"], 9, "2026-11-27T10:25:00Z")]


async def test_a_take_back_arriving_before_its_completion_stores_it_taken_back(
    therapist: Client, joined: dict[str, Any], settings: Settings
) -> None:
    phone, pid = joined["phone"], joined["id"]
    x, slot = (await entries(phone))[0]
    done = tick(x, slot)

    # The take-back (from a send whose earlier answer was lost, or another tab) comes first...
    assert (await sync(phone, take_back(done)))["withdrawn"] == [done["id"]]
    assert await marked(phone) == set()
    # ...and the completion itself afterwards, from any outbox copy: nothing counts.
    for _ in range(2):
        answer = await sync(phone, done)
        assert (answer["completions"], answer["withdrawn"]) == ([done["id"]], [done["id"]])
    assert await marked(phone) == set()
    assert await done_on(therapist, pid) == 0
    assert stored(settings, done["id"]) == [(done["id"], None, "2026-11-27T10:25:00Z")]


async def test_replays_of_either_record_change_nothing_and_the_first_take_back_time_stands(
    therapist: Client, joined: dict[str, Any], settings: Settings
) -> None:
    phone, pid = joined["phone"], joined["id"]
    x, slot = (await entries(phone))[0]
    done = tick(x, slot)
    await sync(phone, done)
    await sync(phone, take_back(done, minutes_ago=5))
    before = rows(settings, "SELECT * FROM completion")

    await sync(phone, take_back(done, minutes_ago=5))
    await sync(phone, take_back(done, minutes_ago=1))  # another copy, taken back again later
    await sync(phone, done)

    assert rows(settings, "SELECT * FROM completion") == before
    assert stored(settings, done["id"]) == [(done["id"], None, "2026-11-27T10:25:00Z")]
    assert await done_on(therapist, pid) == 0


async def test_a_pain_answer_sent_after_the_take_back_follows_the_completion(
    therapist: Client, joined: dict[str, Any], settings: Settings
) -> None:
    phone, pid = joined["phone"], joined["id"]
    x, slot = (await entries(phone))[0]
    done = tick(x, slot)
    await sync(phone, done)
    await sync(phone, take_back(done))

    # The phone's fill-in (a repeat with the pain answer) was already on its way.
    answer = await sync(phone, {**done, "pain": 8})

    assert answer["pains"] == {done["id"]: 8}
    assert answer["withdrawn"] == [done["id"]]
    adherence = (await therapist.get(f"/api/v1/patients/{pid}/adherence", params={"days": 7})).json()
    assert adherence["pain"] == []
    attention = (await therapist.get("/api/v1/attention")).json()
    assert all("pain" not in {r["kind"] for r in a["reasons"]} for a in attention if a["patient_id"] == pid)


async def test_ticking_again_after_a_take_back_counts_once(
    therapist: Client, joined: dict[str, Any], settings: Settings
) -> None:
    phone, pid = joined["phone"], joined["id"]
    (x, slot), (y, other) = (await entries(phone))[:2]
    first = tick(x, slot)
    await sync(phone, first, tick(y, other))
    await sync(phone, take_back(first))
    assert await done_on(therapist, pid) == 1

    # Ticked after the take-back (taken back 5 minutes ago).
    again = tick(x, slot, minutes_ago=2)
    await sync(phone, again)
    # Old copies of the first tick and of its take-back arrive late, and the new tick again.
    await sync(phone, first, again)
    await sync(phone, take_back(first))

    assert await marked(phone) == {(x, slot), (y, other)}
    assert await done_on(therapist, pid) == 2
    counted = rows(
        settings, "SELECT count(*) FROM completion WHERE withdrawn_at IS NULL AND exercise_id = :x", {"x": x}
    )
    assert counted == [(1,)]
    # Taken back once more, the item is not done again.
    await sync(phone, take_back(again))
    assert await marked(phone) == {(y, other)}
    assert await done_on(therapist, pid) == 1


async def test_a_take_back_in_the_same_batch_as_its_completion_is_refused_as_a_repeated_id(
    joined: dict[str, Any], settings: Settings
) -> None:
    phone = joined["phone"]
    x, slot = (await entries(phone))[0]
    done = tick(x, slot)
    r = await phone.post("/api/v1/patient/sync", json={"completions": [done, take_back(done)]})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["completions[1].id"]
    assert rows(settings, "SELECT count(*) FROM completion") == [(0,)]


async def test_another_patients_phone_cannot_take_back_someone_elses_completion(
    therapist: Client, joined: dict[str, Any], app: Litestar, settings: Settings
) -> None:
    phone, pid = joined["phone"], joined["id"]
    x, slot = (await entries(phone))[0]
    done = tick(x, slot)
    await sync(phone, done)
    other = await create_patient(therapist, name="Someone Else")
    await assign(therapist, other["id"], TODAY - dt.timedelta(days=3))
    stranger = AsyncTestClient(app=app)
    await join(therapist, stranger, other["id"])
    before = rows(settings, "SELECT * FROM completion")

    r = await stranger.post("/api/v1/patient/sync", json={"completions": [take_back(done)]})

    # As for any record: an id another patient's record holds is a 409 naming it.
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["completions[0].id"]
    assert rows(settings, "SELECT * FROM completion") == before
    assert await marked(stranger) == set()
    assert (x, slot) in await marked(phone)
    assert await done_on(therapist, pid) == 1


async def test_a_past_day_can_be_taken_back_within_the_dates_sync_takes(
    therapist: Client, joined: dict[str, Any]
) -> None:
    phone, pid = joined["phone"], joined["id"]
    yesterday = TODAY - dt.timedelta(days=1)
    x, slot = (await entries(phone, yesterday))[0]
    done = tick(x, slot, on_date=yesterday)
    await sync(phone, done)
    assert await done_on(therapist, pid, yesterday) == 1

    await sync(phone, take_back(done))

    assert await marked(phone, yesterday) == set()
    assert await done_on(therapist, pid, yesterday) == 0


async def test_a_take_back_on_one_phone_takes_back_what_another_phone_logged_before_it(
    therapist: Client, joined: dict[str, Any], app: Litestar, settings: Settings
) -> None:
    """Two phones joined for one patient each ticked the same exercise offline; the patient takes it
    back on the first, which never heard of the second's record. Whichever arrives last, the
    exercise is not done for the clinic, and the second phone learns it from its answer or log."""
    first, pid = joined["phone"], joined["id"]
    second = AsyncTestClient(app=app)
    await join(therapist, second, pid)
    (x, slot), (y, other) = (await entries(first))[:2]
    mine, theirs = tick(x, slot, minutes_ago=12), tick(x, slot, minutes_ago=8)
    late_mine, late_theirs = tick(y, other, minutes_ago=12), tick(y, other, minutes_ago=8)
    await sync(first, mine, late_mine)
    await sync(second, theirs)
    assert await done_on(therapist, pid) == 2

    # Taken back on the first phone (5 minutes ago): the second phone's record goes with it.
    answer = await sync(first, take_back(mine))
    assert answer["withdrawn"] == [mine["id"]]
    assert await marked(first) == {(y, other)}
    assert await marked(second) == {(y, other)}
    assert stored(settings, theirs["id"]) == [(theirs["id"], None, "2026-11-27T10:25:00Z")]
    logged = (await second.get(f"/api/v1/patient/log?from={TODAY}&to={TODAY}")).json()["completions"]
    assert {c["id"]: c["withdrawn_at"] for c in logged}[theirs["id"]] == "2026-11-27T10:25:00Z"

    # The other way round: the take-back is at the clinic before the second phone's record arrives.
    await sync(first, take_back(late_mine))
    answer = await sync(second, late_theirs)
    assert (answer["completions"], answer["withdrawn"]) == ([late_theirs["id"]], [late_theirs["id"]])
    assert await marked(second) == set()
    assert await done_on(therapist, pid) == 0

    # Ticked again after the take-back, on either phone: it counts, once per exercise.
    again = tick(x, slot, minutes_ago=2)
    await sync(second, again)
    await sync(first, take_back(mine))  # a late copy of the take-back changes nothing now
    assert await marked(first) == {(x, slot)}
    assert await done_on(therapist, pid) == 1
    assert stored(settings, again["id"]) == [(again["id"], None, None)]
    # Another day, another time of day, another patient: untouched.
    yesterday = TODAY - dt.timedelta(days=1)
    before = tick(x, slot, on_date=yesterday, minutes_ago=20)
    await sync(second, before)
    await sync(first, take_back(tick(x, slot, minutes_ago=30)))
    assert await done_on(therapist, pid, yesterday) == 1
