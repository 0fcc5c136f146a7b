"""Requests that meet a conflicting state get a 409 naming the field, never a 500, and change nothing."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.clock import iso
from server.settings import Settings
from tests.conftest import make_therapist, rows, sign_in
from tests.test_flow_therapist_patient import assign, completion, create_patient, joined_phones

Client = AsyncTestClient[Litestar]
TODAY = dt.datetime.now(dt.UTC).date()


async def test_an_archived_patients_plan_cannot_be_edited(therapist: Client) -> None:
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], TODAY)
    await therapist.patch(f"/api/v1/patients/{patient['id']}", json={"archived": True})
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan",
        json={"plan_id": plan["id"], "version": 1, "items": plan["program"]["items"]},
    )
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "patient_id"
    await therapist.patch(f"/api/v1/patients/{patient['id']}", json={"archived": False})
    assert (await therapist.get(f"/api/v1/patients/{patient['id']}/plan")).json()["version"] == 1


async def test_an_edit_of_a_plan_a_newer_treatment_replaced_is_a_409_and_keeps_the_new_plan(
    therapist: Client,
) -> None:
    """Tab A adjusts plan 1 (version 1); tab B assigns a new treatment (a new plan, also version 1);
    A's save must not put the old items into the new plan."""
    patient = await create_patient(therapist)
    old = await assign(therapist, patient["id"], TODAY)
    new = (
        await therapist.post(
            f"/api/v1/patients/{patient['id']}/plans",
            json={"treated": [{"muscle": "gastrocnemius", "side": "right"}], "treated_on": TODAY.isoformat()},
        )
    ).json()
    assert (new["version"], new["id"] != old["id"]) == (1, True)
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan",
        json={"plan_id": old["id"], "version": 1, "items": old["program"]["items"][:1]},
    )
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "plan_id"
    assert "newer treatment" in r.json()["detail"]
    active = (await therapist.get(f"/api/v1/patients/{patient['id']}/plan")).json()
    assert (active["id"], active["version"], active["program"]) == (new["id"], 1, new["program"])


async def test_a_record_id_another_patient_holds_is_a_409_and_nothing_of_the_batch_is_stored(
    therapist: Client, app: Litestar, settings: Settings
) -> None:
    """The phone would otherwise send the record for ever: the server skips it as a repeat, yet
    never holds it for this patient."""
    first, second = await joined_phones(therapist, app, ["Ana", "Bea"], TODAY)
    taken = completion("neck-side-bend-stretch", TODAY, "evening")
    assert (await first.post("/api/v1/patient/sync", json={"completions": [taken]})).status_code == 200

    fresh = completion("neck-side-bend-stretch", TODAY, "morning")
    r = await second.post("/api/v1/patient/sync", json={"completions": [fresh, dict(taken, slot="midday")]})
    assert r.status_code == 409, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("completions[1].id", "id_in_use")]
    assert rows(settings, "SELECT id, slot FROM completion") == [(taken["id"], "evening")]


async def test_an_erased_patients_id_is_never_given_to_another(
    therapist: Client, app: Litestar, settings: Settings
) -> None:
    """The audit trail keeps the erased patient's id: a new patient under it would inherit that history."""
    gone = await create_patient(therapist, "Erased")
    assert (await therapist.patch(f"/api/v1/patients/{gone['id']}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{gone['id']}")).status_code == 204
    await make_therapist(settings, "bo@clinic.example", "Bo")
    colleague = AsyncTestClient(app=app)
    await sign_in(colleague, "bo@clinic.example")
    new = await create_patient(colleague, "New")
    assert new["id"] != gone["id"]
    audit = (await colleague.get(f"/api/v1/patients/{new['id']}/audit")).json()
    assert [e["action"] for e in audit] == ["patient.create"]


def test_stored_times_keep_four_digit_years_so_they_sort_as_time_does() -> None:
    assert iso(dt.datetime(999, 6, 1, tzinfo=dt.UTC)) == "0999-06-01T00:00:00Z"
    assert iso(dt.datetime(2026, 11, 26, 7, 5, 9, 123456, tzinfo=dt.UTC)) == "2026-11-26T07:05:09Z"
