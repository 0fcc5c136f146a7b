"""Red flags on the attention list: urgent signs apart, when they were reported, and marking a
flagged check-in as handled (stored once, audited in its transaction, owned patients only)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.settings import Settings
from tests.conftest import make_therapist, rows, sign_in
from tests.test_flow_therapist_patient import assign, create_patient, join
from tests.test_records_api import joined_patient

Client = AsyncTestClient[Litestar]


def moment(hours_ago: float) -> str:
    """A UTC instant as the server stores it (seconds, ``Z``)."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return at.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def flagged(on_date: dt.date, red_flags: list[str], hours_ago: float = 1) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "on_date": on_date.isoformat(),
        "soreness": 3,
        "red_flags": red_flags,
        "done_at": moment(hours_ago),
    }


async def sync(phone: Client, *checkins: dict[str, Any]) -> None:
    r = await phone.post("/api/v1/patient/sync", json={"checkins": list(checkins)})
    assert r.status_code == 200, r.text


async def reasons_of(therapist: Client, patient_id: int) -> dict[str, dict[str, Any]]:
    """The patient's attention reasons by kind ({} when the patient is not on the list)."""
    attention = (await therapist.get("/api/v1/attention")).json()
    found = [a for a in attention if a["patient_id"] == patient_id]
    return {r["kind"]: r for r in found[0]["reasons"]} if found else {}


def handled_url(patient_id: int, checkin_id: str) -> str:
    return f"/api/v1/patients/{patient_id}/checkins/{checkin_id}/handled"


def stored(settings: Settings, checkin_id: str) -> tuple[Any, ...]:
    return rows(
        settings, "SELECT handled_at, handled_by, handled_note FROM checkin WHERE id = :id", {"id": checkin_id}
    )[0]


def audited(settings: Settings, patient_id: int) -> list[tuple[str, str]]:
    return rows(
        settings,
        "SELECT action, detail FROM audit WHERE patient_id = :pid AND action = 'checkin.handled' ORDER BY id",
        {"pid": patient_id},
    )


async def test_an_urgent_sign_is_its_own_reason_with_when_it_was_reported(
    therapist: Client, other_client: Client
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    older = flagged(today, ["fainting"], hours_ago=5)
    newer = flagged(today, ["chest-pain-any-time", "fainting"], hours_ago=2)
    await sync(other_client, older, newer)

    reasons = await reasons_of(therapist, patient["id"])
    assert list(reasons) == ["urgent", "red-flag"]  # the most pressing first
    urgent = reasons["urgent"]
    assert urgent["detail"].startswith("Chest pain at any time")
    assert "Fainting" not in urgent["detail"]
    assert (urgent["reported_at"], urgent["reported_on"]) == (newer["done_at"], today.isoformat())
    other = reasons["red-flag"]
    assert other["detail"].startswith("reported: Fainting")
    assert "Chest pain" not in other["detail"]
    assert other["reported_at"] == newer["done_at"]  # the latest check-in that reported it
    [item] = [a for a in (await therapist.get("/api/v1/attention")).json() if a["patient_id"] == patient["id"]]
    assert item["timezone"] == patient["timezone"]

    records = (await therapist.get(f"/api/v1/patients/{patient['id']}/records")).json()
    assert records["urgent_signs"] == ["chest-pain-any-time"]
    assert records["handled"] == []


async def test_several_signs_in_one_reason_read_as_sentences(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    await sync(other_client, flagged(today, ["fainting", "infection-signs"]))
    reasons = await reasons_of(therapist, patient["id"])
    assert reasons["red-flag"]["detail"] == (
        "reported: Fainting, or feeling light-headed or about to faint. "
        "Fever, or redness that spreads, warmth, swelling or pus around a needle site."
    )


async def test_a_handled_check_in_stops_raising_the_badge_until_a_new_flag(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    pid = patient["id"]
    urgent = flagged(today, ["breathing-chest-pain"], hours_ago=3)
    await sync(other_client, urgent)
    assert set(await reasons_of(therapist, pid)) == {"urgent"}

    r = await therapist.post(handled_url(pid, urgent["id"]), json={"note": "  Called her; seen at A&E, fine.  "})
    assert r.status_code == 200, r.text
    mark = r.json()
    me = (await therapist.get("/api/v1/auth/me")).json()["therapist"]
    assert mark["checkin_id"] == urgent["id"]
    assert (mark["therapist_id"], mark["therapist_name"]) == (me["id"], me["name"])
    assert mark["note"] == "Called her; seen at A&E, fine."
    assert await reasons_of(therapist, pid) == {}

    # Still in the records, marked: the check-ins table says when and by whom.
    records = (await therapist.get(f"/api/v1/patients/{pid}/records")).json()
    assert [c["id"] for c in records["checkins"]] == [urgent["id"]]
    assert records["handled"] == [mark]
    export = (await therapist.get(f"/api/v1/patients/{pid}/export.json")).json()
    assert export["checkins_handled"] == [mark]

    # Once: a repeat (another note, a double click) answers the first mark and is not audited again.
    again = await therapist.post(handled_url(pid, urgent["id"]), json={"note": "again"})
    assert again.status_code == 200, again.text
    assert again.json() == mark
    assert (await therapist.post(handled_url(pid, urgent["id"]), json={})).json() == mark
    assert stored(settings, urgent["id"]) == (mark["at"], me["id"], "Called her; seen at A&E, fine.")
    assert audited(settings, pid) == [("checkin.handled", urgent["id"])]
    trail = (await therapist.get(f"/api/v1/patients/{pid}/audit")).json()
    assert ("checkin.handled", me["id"], urgent["id"]) in [(a["action"], a["therapist_id"], a["detail"]) for a in trail]

    # A repeat of the check-in from the phone (a retried sync) leaves the mark alone.
    await sync(other_client, urgent)
    assert stored(settings, urgent["id"])[0] == mark["at"]
    assert await reasons_of(therapist, pid) == {}

    # A new flag raises it again, with its own time; the handled one stays out of it.
    later = flagged(today, ["fainting"], hours_ago=1)
    await sync(other_client, later)
    reasons = await reasons_of(therapist, pid)
    assert set(reasons) == {"red-flag"}
    assert reasons["red-flag"]["reported_at"] == later["done_at"]
    assert "Shortness of breath" not in reasons["red-flag"]["detail"]


async def test_without_a_note_the_mark_has_an_empty_one(therapist: Client, other_client: Client) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    check = flagged(today, ["fainting"])
    await sync(other_client, check)
    r = await therapist.post(handled_url(patient["id"], check["id"]), json={})
    assert r.status_code == 200, r.text
    assert r.json()["note"] == ""


async def test_bad_marks_are_refused_naming_the_field_and_change_nothing(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    pid = patient["id"]
    check = flagged(today, ["fainting"])
    calm = {**flagged(today, []), "soreness": 2}
    await sync(other_client, check, calm)
    url = handled_url(pid, check["id"])

    for body, field in (
        ({"note": "x" * 201}, "note"),
        ({"note": "bad\x00note"}, "note"),
        ({"note": 5}, "note"),
        ({"notes": "typo"}, "notes"),
    ):
        r = await therapist.post(url, json=body)
        assert r.status_code == 400, (body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], (body, r.text)
    r = await therapist.post(url, content=b"note", headers={"content-type": "text/plain"})
    assert r.status_code == 415, r.text
    r = await therapist.post(handled_url(pid, "not-a-uuid"), json={})
    assert r.status_code == 404, r.text  # no route: a check-in id is a UUID
    r = await therapist.post(handled_url(pid, str(uuid.uuid4())), json={})
    assert r.status_code == 404, r.text
    assert r.json()["detail"].startswith("no check-in")
    r = await therapist.post(handled_url(pid, calm["id"]), json={})
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["checkin_id"]

    # Another patient of the same therapist does not reach this patient's check-in.
    second = await create_patient(therapist, name="Second Patient")
    r = await therapist.post(handled_url(second["id"], check["id"]), json={})
    assert r.status_code == 404, r.text

    # Without the CSRF token, a change is refused.
    token = therapist.headers.pop("x-csrf-token")
    r = await therapist.post(url, json={})
    therapist.headers["x-csrf-token"] = token
    assert r.status_code == 403, r.text

    # An archived patient is a conflict, like every other change to them.
    assert (await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": True})).status_code == 200
    r = await therapist.post(url, json={})
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["patient_id"]

    for c in (check, calm):
        assert stored(settings, c["id"]) == (None, None, "")
    assert audited(settings, pid) == []


async def test_another_therapist_cannot_mark_a_patients_flag(
    therapist: Client, other_client: Client, settings: Settings, app: Litestar
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    check = flagged(today, ["chest-pain-any-time"])
    await sync(other_client, check)
    await make_therapist(settings, "bob@elsewhere.example", "Bob")
    bob = AsyncTestClient(app=app)
    await sign_in(bob, "bob@elsewhere.example")
    r = await bob.post(handled_url(patient["id"], check["id"]), json={"note": "mine now"})
    assert r.status_code == 404, r.text
    assert "Chest pain" not in r.text
    assert stored(settings, check["id"]) == (None, None, "")
    assert audited(settings, patient["id"]) == []
    assert set(await reasons_of(therapist, patient["id"])) == {"urgent"}


async def test_erasing_the_patient_leaves_no_mark_behind(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    pid = patient["id"]
    check = flagged(today, ["fainting"])
    await sync(other_client, check)
    r = await therapist.post(handled_url(pid, check["id"]), json={"note": "called"})
    assert r.status_code == 200, r.text
    assert (await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{pid}")).status_code == 204
    assert rows(settings, "SELECT count(*) FROM checkin WHERE id = :id", {"id": check["id"]}) == [(0,)]
    assert rows(settings, "SELECT action FROM audit WHERE patient_id = :pid", {"pid": pid}) == [("patient.erase",)]
    assert rows(settings, "SELECT count(*) FROM audit WHERE detail = :id", {"id": check["id"]}) == [(0,)]


async def test_the_csv_export_says_which_check_ins_were_handled_and_by_whom(
    therapist: Client, other_client: Client
) -> None:
    patient, _, today = await joined_patient(therapist, other_client)
    handled, waiting = flagged(today, ["fainting"], hours_ago=3), flagged(today, ["infection-signs"])
    await sync(other_client, handled, waiting)
    r = await therapist.post(handled_url(patient["id"], handled["id"]), json={"note": "=called, all well"})
    assert r.status_code == 200, r.text
    mark = r.json()

    r = await therapist.get(f"/api/v1/patients/{patient['id']}/records.csv")
    assert r.status_code == 200, r.text
    found = {row["id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    row = found[handled["id"]]
    # The note stays text in a spreadsheet, as every free text of the export does.
    assert (row["handled_at"], row["handled_by"], row["handled_note"]) == (
        mark["at"],
        mark["therapist_name"],
        "'=called, all well",
    )
    assert (found[waiting["id"]]["handled_at"], found[waiting["id"]]["handled_by"]) == ("", "")


async def test_the_attention_list_puts_the_most_pressing_patients_first(
    therapist: Client, other_client: Client
) -> None:
    # By name the urgent sign would come last, after a patient in pain and one with a red flag.
    today = dt.datetime.now(dt.UTC).date()
    patients = {}
    for name, check in (
        ("Ana Pain", {**flagged(today, []), "soreness": 9}),
        ("Bea Flag", flagged(today, ["fainting"])),
        ("Zoe Urgent", flagged(today, ["chest-pain-any-time"])),
    ):
        patient = await create_patient(therapist, name=name)
        await assign(therapist, patient["id"], today - dt.timedelta(days=1))
        await join(therapist, other_client, patient["id"])
        await sync(other_client, check)
        patients[patient["id"]] = name

    attention = (await therapist.get("/api/v1/attention")).json()
    listed = [(patients[a["patient_id"]], a["reasons"][0]["kind"]) for a in attention if a["patient_id"] in patients]
    assert listed == [("Zoe Urgent", "urgent"), ("Bea Flag", "red-flag"), ("Ana Pain", "pain")]
