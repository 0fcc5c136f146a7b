"""The therapist's view of a patient's records: CSV export, recent records as JSON, the printable handout."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.api.records import CSV_COLUMNS
from server.settings import Settings
from tests.conftest import make_therapist, sign_in
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]


def checkin(on_date: dt.date, soreness: int, red_flags: list[str] | None = None, note: str = "") -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "on_date": on_date.isoformat(),
        "soreness": soreness,
        "red_flags": red_flags or [],
        "note": note,
        "done_at": dt.datetime.now(dt.UTC).isoformat(),
    }


async def logged_patient(therapist: Client, phone: Client) -> tuple[dict[str, object], dict[str, object], dict]:
    today = dt.datetime.now(dt.UTC).date()
    patient = await create_patient(therapist, name="Maria Lopez")
    plan = await assign(therapist, patient["id"], today - dt.timedelta(days=1))
    await join(therapist, phone, patient["id"])
    item = plan["program"]["items"][0]
    done = completion(item["exercise_id"], today, item["slots"][0], pain=3)
    done["note"] = '=HYPERLINK("http://evil.example")'
    check = checkin(today, 4, ["fainting"], note="a bit dizzy, better now")
    r = await phone.post("/api/v1/patient/sync", json={"completions": [done], "checkins": [check]})
    assert r.status_code == 200, r.text
    return patient, done, check


async def test_csv_export_holds_the_patients_completions_and_checkins(therapist: Client, other_client: Client) -> None:
    patient, done, check = await logged_patient(therapist, other_client)

    r = await therapist.get(f"/api/v1/patients/{patient['id']}/records.csv")

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_kind = {row["record"]: row for row in rows}
    assert set(by_kind) == {"completion", "checkin"}
    c = by_kind["completion"]
    assert (c["id"], c["exercise_id"], c["pain"], c["slot"]) == (done["id"], done["exercise_id"], "3", done["slot"])
    assert c["exercise"], "the exercise is named, not only its id"
    # A note that looks like a formula stays text in a spreadsheet.
    assert c["note"] == "'" + str(done["note"])
    k = by_kind["checkin"]
    assert (k["id"], k["soreness"], k["red_flags"], k["note"]) == (check["id"], "4", "fainting", check["note"])
    audit = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    assert audit[0]["action"] == "records.export"


async def test_csv_export_neutralises_formulas_after_leading_spaces_and_line_breaks(
    therapist: Client, other_client: Client
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    patient = await create_patient(therapist, name="Maria Lopez")
    plan = await assign(therapist, patient["id"], today - dt.timedelta(days=1))
    await join(therapist, other_client, patient["id"])
    item = plan["program"]["items"][0]
    risky = [" =1+1", "\n+cmd|' /C calc'!A0", "\r\n-2+3", "  @SUM(A1:A9)", "\t=1", "\r=1"]
    plain = ["ok - fine", "fine = good", ""]
    done = []
    for note in risky + plain:
        record = completion(item["exercise_id"], today, item["slots"][0])
        record["note"] = note
        done.append(record)
    r = await other_client.post("/api/v1/patient/sync", json={"completions": done})
    assert r.status_code == 200, r.text

    r = await therapist.get(f"/api/v1/patients/{patient['id']}/records.csv")
    notes = {row["id"]: row["note"] for row in csv.DictReader(io.StringIO(r.text))}
    for record in done:
        expected = "'" + record["note"] if record["note"] in risky else record["note"]
        assert notes[record["id"]] == expected, record["note"]


async def test_csv_export_of_a_patient_with_nothing_logged_is_just_the_header(therapist: Client) -> None:
    patient = await create_patient(therapist, name="Quiet Quentin")
    r = await therapist.get(f"/api/v1/patients/{patient['id']}/records.csv")
    assert r.status_code == 200
    assert r.text == ",".join(CSV_COLUMNS) + "\r\n"


async def test_another_therapist_gets_404_and_nothing_of_the_patient(
    therapist: Client, other_client: Client, app: Litestar, settings: Settings
) -> None:
    patient, done, check = await logged_patient(therapist, other_client)
    await make_therapist(settings, "bob@elsewhere.example", "Bob")
    # Extra clients share the running app: no `async with`, which would stop its lifespan.
    bob = AsyncTestClient(app=app)
    await sign_in(bob, "bob@elsewhere.example")
    for path in ("records.csv", "records", "handout"):
        r = await bob.get(f"/api/v1/patients/{patient['id']}/{path}")
        assert r.status_code == 404, (path, r.status_code)
        assert "Maria" not in r.text
        assert str(done["id"]) not in r.text
        assert str(check["id"]) not in r.text
    # A patient id that does not exist answers the same.
    missing = await bob.get("/api/v1/patients/999999/records.csv")
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        r.json()["detail"].replace(str(patient["id"]), "999999"),
    )
    nobody = AsyncTestClient(app=app)
    assert (await nobody.get(f"/api/v1/patients/{patient['id']}/records.csv")).status_code == 401
    # The patient's own token opens no therapist route.
    assert (await other_client.get(f"/api/v1/patients/{patient['id']}/records.csv")).status_code == 401


async def test_recent_records_as_json_name_the_reported_red_flags(therapist: Client, other_client: Client) -> None:
    patient, done, check = await logged_patient(therapist, other_client)
    r = await therapist.get(f"/api/v1/patients/{patient['id']}/records", params={"days": 14})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["id"] for c in body["completions"]] == [done["id"]]
    assert [c["id"] for c in body["checkins"]] == [check["id"]]
    assert set(body["red_flag_signs"]) == {"fainting"}
    assert (dt.date.fromisoformat(body["last"]) - dt.date.fromisoformat(body["first"])).days == 13
    assert (await therapist.get(f"/api/v1/patients/{patient['id']}/records", params={"days": 0})).status_code == 400


async def test_handout_is_in_the_patients_language_with_the_plans_red_flags(therapist: Client) -> None:
    patient = await create_patient(therapist, name="Maria Lopez")  # locale "es"
    assert (await therapist.get(f"/api/v1/patients/{patient['id']}/handout")).status_code == 404
    await assign(therapist, patient["id"], dt.date(2026, 11, 20))

    es = (await therapist.get(f"/api/v1/patients/{patient['id']}/handout")).json()
    en = (await therapist.get(f"/api/v1/patients/{patient['id']}/handout", params={"lang": "en"})).json()

    assert es["lang"] == "es"
    assert en["lang"] == "en"
    assert es["display_name"] == "Maria Lopez"
    assert es["treated_on"] == "2026-11-20"
    assert {t["muscle"] for t in es["treated"]} == {"upper-trapezius", "levator-scapulae"}
    assert es["items"]
    assert all(i["dosage_text"] for i in es["items"])
    assert "veces" in " ".join(i["dosage_text"] for i in es["items"])
    # Upper trapezius carries the chest-wall precaution: its pneumothorax warning is on the sheet.
    assert "breathing-chest-pain" in {f["id"] for f in en["red_flags"]}
    assert en["aftercare"]["guidance"]
    assert en["aftercare"]["disclaimer"]


async def test_handout_leaves_out_red_flags_of_precautions_the_plan_does_not_have(therapist: Client) -> None:
    patient = await create_patient(therapist, name="Calf Carla")
    r = await therapist.post(
        f"/api/v1/patients/{patient['id']}/plans",
        json={"treated": [{"muscle": "gastrocnemius", "side": "right"}], "treated_on": "2026-11-20"},
    )
    assert r.status_code == 201, r.text
    body = (await therapist.get(f"/api/v1/patients/{patient['id']}/handout", params={"lang": "en"})).json()
    assert "breathing-chest-pain" not in {f["id"] for f in body["red_flags"]}
    assert "chest-pain-any-time" in {f["id"] for f in body["red_flags"]}
