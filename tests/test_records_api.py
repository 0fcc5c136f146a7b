"""The therapist's view of a patient's records: CSV export, recent records as JSON, the printable handout."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zoneinfo
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.api.records import CSV_COLUMNS
from server.app import create_app
from server.settings import Settings
from tests.conftest import make_therapist, rows, sign_in
from tests.test_flow_therapist_patient import assign, completion, create_patient, join, joined_phones

Client = AsyncTestClient[Litestar]


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def checkin(on_date: dt.date, soreness: int, red_flags: list[str] | None = None, note: str = "") -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "on_date": on_date.isoformat(),
        "soreness": soreness,
        "red_flags": red_flags or [],
        "note": note,
        "done_at": dt.datetime.now(dt.UTC).isoformat(),
    }


async def joined_patient(therapist: Client, phone: Client) -> tuple[dict[str, Any], dict[str, Any], dt.date]:
    """A patient treated yesterday with ``phone`` joined; returns the patient, their plan's first item and today."""
    today = dt.datetime.now(dt.UTC).date()
    patient = await create_patient(therapist, name="Maria Lopez")
    plan = await assign(therapist, patient["id"], today - dt.timedelta(days=1))
    await join(therapist, phone, patient["id"])
    return patient, plan["program"]["items"][0], today


async def logged_patient(therapist: Client, phone: Client) -> tuple[dict[str, object], dict[str, object], dict]:
    patient, item, today = await joined_patient(therapist, phone)
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
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
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
    # Every time is UTC; done_at_local is the same moment on the patient's clock, as a spreadsheet reads it.
    for row, record in ((c, done), (k, check)):
        at = dt.datetime.fromisoformat(str(record["done_at"]).replace("Z", "+00:00"))
        assert row["timezone"] == patient["timezone"] == "Europe/Madrid"
        assert row["done_at_local"] == f"{at.astimezone(zoneinfo.ZoneInfo('Europe/Madrid')):%Y-%m-%d %H:%M}"
    audit = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    assert audit[0]["action"] == "records.export"


async def test_csv_export_neutralises_formulas_after_leading_spaces_and_line_breaks(
    therapist: Client, other_client: Client
) -> None:
    patient, item, today = await joined_patient(therapist, other_client)
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
    assert r.content.decode("utf-8-sig") == ",".join(CSV_COLUMNS) + "\r\n"


async def test_csv_export_opens_in_a_spreadsheet_as_utf8_with_its_accents(
    therapist: Client, other_client: Client
) -> None:
    # A spreadsheet takes a CSV without a byte order mark for the computer's legacy encoding.
    patient, _, today = await joined_patient(therapist, other_client)
    check = checkin(today, 3, note="Me dolía el cuello; mejor después del estiramiento")
    assert (await other_client.post("/api/v1/patient/sync", json={"checkins": [check]})).status_code == 200
    r = await therapist.get(f"/api/v1/patients/{patient['id']}/records.csv")
    assert r.content.startswith(b"\xef\xbb\xbf" + b"record,id,on_date,")
    [row] = csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))
    assert row["note"] == check["note"]


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
    # Each sign carries the hours after needling it applies in (null: at any time), for the sheet to say so.
    hours = {f["id"]: f["hours"] for f in en["red_flags"]}
    assert (hours["breathing-chest-pain"], hours["chest-pain-any-time"]) == (48, None)
    assert en["aftercare"]["guidance"]
    assert en["aftercare"]["disclaimer"]


async def test_each_handout_item_says_how_to_do_it_in_the_patients_language(therapist: Client) -> None:
    # A patient on paper has only the sheet: each item carries its exercise's steps, what to feel and
    # the muscles it works on, as the catalog gives them in the patient's language.
    patient = await create_patient(therapist, name="Maria Lopez")  # locale "es"
    await assign(therapist, patient["id"], dt.date(2026, 11, 20))
    sheet = (await therapist.get(f"/api/v1/patients/{patient['id']}/handout")).json()
    exercises = {e["id"]: e for e in (await therapist.get("/api/v1/catalog/exercises", params={"lang": "es"})).json()}
    muscles = {
        m["id"]: m["name"]
        for region in (await therapist.get("/api/v1/catalog/muscles", params={"lang": "es"})).json()
        for m in region["muscles"]
    }
    assert sheet["items"]
    for item in sheet["items"]:
        exercise = exercises[item["exercise_id"]]
        assert item["steps"] == exercise["steps"]
        assert item["feel"] == exercise["feel"]
        assert item["muscles"] == [muscles[m] for m in exercise["muscles"]]
    assert "Trapecio superior" in " ".join(n for i in sheet["items"] for n in i["muscles"])


async def test_the_handout_says_whom_to_contact(settings: Settings) -> None:
    # The warning signs say "contact the clinic": the sheet gives the therapist, the clinic and its number.
    clinic = msgspec.structs.replace(settings, clinic_name="Clínica Norte", clinic_phone="+34 910 000 000")
    await make_therapist(clinic, "eva@clinic.example", "Eva Ruiz")
    async with AsyncTestClient(app=create_app(clinic)) as client:
        await sign_in(client, "eva@clinic.example")
        patient = await create_patient(client)
        await assign(client, patient["id"], dt.date.today())
        body = (await client.get(f"/api/v1/patients/{patient['id']}/handout")).json()
    assert (body["therapist_name"], body["clinic_name"], body["clinic_phone"]) == (
        "Eva Ruiz",
        "Clínica Norte",
        "+34 910 000 000",
    )


async def test_the_patients_app_says_whom_to_contact_too(settings: Settings) -> None:
    # The app's warning signs say "contact your clinic" as the sheet does: its stored plan says who that is.
    clinic = msgspec.structs.replace(settings, clinic_name="Clínica Norte", clinic_phone="+34 910 000 000")
    await make_therapist(clinic, "eva@clinic.example", "Eva Ruiz")
    app = create_app(clinic)
    async with AsyncTestClient(app=app) as client:
        phone = AsyncTestClient(app=app)  # the app runs in the first client; the phone only sends
        await sign_in(client, "eva@clinic.example")
        patient = await create_patient(client)
        await assign(client, patient["id"], dt.date.today())
        await join(client, phone, patient["id"])
        contact = (await phone.get("/api/v1/patient/plan")).json()["contact"]
    assert contact == {"therapist_name": "Eva Ruiz", "clinic_name": "Clínica Norte", "clinic_phone": "+34 910 000 000"}


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


# ---- a later pain answer: a repeat fills in a blank, once -----------------------------------------


def stored(settings: Settings, record_id: object) -> list[tuple[object, ...]]:
    return rows(
        settings,
        "SELECT patient_id, exercise_id, on_date, slot, done_at, sets_done, reps_done, hold_seconds_done, pain, note, "
        "received_at FROM completion WHERE id = :id",
        {"id": record_id},
    )


async def test_a_repeat_fills_in_a_blank_pain_answer_once_and_changes_nothing_else(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    _, item, today = await joined_patient(therapist, other_client)
    done = completion(item["exercise_id"], today, item["slots"][0])
    done.update(sets_done=2, reps_done=5, note="fine")
    r = await other_client.post("/api/v1/patient/sync", json={"completions": [done]})
    assert r.json()["completions"] == [done["id"]]
    [before] = stored(settings, done["id"])
    assert before[8] is None

    # The pain answer comes later, as a repeat; whatever else the repeat says is not taken.
    other = "evening" if done["slot"] != "evening" else "morning"
    later = dict(done, pain=7, slot=other, sets_done=9, reps_done=1, note="changed", done_at=iso_now())
    r = await other_client.post("/api/v1/patient/sync", json={"completions": [later]})
    assert (r.status_code, r.json()["completions"]) == (200, [done["id"]])
    assert stored(settings, done["id"]) == [(*before[:8], 7, *before[9:])]

    # Once there, the pain stays: another value, or none, changes nothing.
    for pain in (3, None, 0):
        r = await other_client.post("/api/v1/patient/sync", json={"completions": [dict(done, pain=pain)]})
        assert (r.status_code, r.json()["completions"]) == (200, [done["id"]])
        assert stored(settings, done["id"]) == [(*before[:8], 7, *before[9:])]
    assert rows(settings, "SELECT count(*) FROM completion")[0][0] == 1

    # A pain that came with the record is never replaced either.
    answered = completion(item["exercise_id"], today, item["slots"][0], pain=2)
    await other_client.post("/api/v1/patient/sync", json={"completions": [answered]})
    await other_client.post("/api/v1/patient/sync", json={"completions": [dict(answered, pain=9)]})
    assert [row[8] for row in stored(settings, answered["id"])] == [2]

    log = await other_client.get("/api/v1/patient/log", params={"from": today.isoformat(), "to": today.isoformat()})
    assert {c["id"]: c["pain"] for c in log.json()["completions"]} == {done["id"]: 7, answered["id"]: 2}


async def test_sync_answers_the_pain_the_server_keeps_for_each_completion(
    therapist: Client, other_client: Client
) -> None:
    """A phone whose answer to an earlier send was lost, and whose patient changed the pain since,
    learns from the answer which pain the clinic keeps (the existing fields stay as they were)."""
    _, item, today = await joined_patient(therapist, other_client)
    blank = completion(item["exercise_id"], today, item["slots"][0])
    answered = completion(item["exercise_id"], today, item["slots"][-1], pain=7)
    check = checkin(today, 2)
    r = await other_client.post("/api/v1/patient/sync", json={"completions": [blank, answered], "checkins": [check]})
    assert r.status_code == 200
    assert r.json() == {
        "completions": [blank["id"], answered["id"]],
        "checkins": [check["id"]],
        "pains": {blank["id"]: None, answered["id"]: 7},
        "withdrawn": [],
    }

    # Sent again with other answers: the blank one is filled in, the stored 7 stays and is said.
    r = await other_client.post(
        "/api/v1/patient/sync", json={"completions": [dict(blank, pain=4), dict(answered, pain=3)]}
    )
    assert r.json() == {
        "completions": [blank["id"], answered["id"]],
        "checkins": [],
        "pains": {blank["id"]: 4, answered["id"]: 7},
        "withdrawn": [],
    }
    r = await other_client.post("/api/v1/patient/sync", json={"checkins": [check]})
    assert r.json() == {"completions": [], "checkins": [check["id"]], "pains": {}, "withdrawn": []}


async def test_a_filled_in_pain_shows_in_the_therapists_views_and_nothing_counts_twice(
    therapist: Client, other_client: Client
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    patient = await create_patient(therapist, name="Maria Lopez", tz="UTC")
    plan = await assign(therapist, patient["id"], today - dt.timedelta(days=3))
    await join(therapist, other_client, patient["id"])
    item = plan["program"]["items"][0]
    done = completion(item["exercise_id"], today, item["slots"][0])
    await other_client.post("/api/v1/patient/sync", json={"completions": [done]})

    async def views() -> tuple[list, list, list, list]:
        pid = patient["id"]
        adherence = (await therapist.get(f"/api/v1/patients/{pid}/adherence", params={"days": 7})).json()
        attention = [a for a in (await therapist.get("/api/v1/attention")).json() if a["patient_id"] == pid]
        week = [w for w in (await therapist.get("/api/v1/adherence")).json() if w["patient_id"] == pid]
        records = (await therapist.get(f"/api/v1/patients/{pid}/records", params={"days": 7})).json()
        return adherence, attention, week, records["completions"]

    adherence, attention, week, records = await views()
    assert adherence["pain"] == []
    assert attention == []
    assert [c["pain"] for c in records] == [None]

    await other_client.post("/api/v1/patient/sync", json={"completions": [dict(done, pain=8)]})
    after, attention, week_after, records = await views()
    assert after["pain"] == [{"on_date": today.isoformat(), "value": 8}]
    assert [(a["kind"], a["detail"]) for a in attention[0]["reasons"]] == [
        ("pain", "pain or soreness 8/10 in the last 7 days")
    ]
    assert [c["pain"] for c in records] == [8]
    # Still one exercise done: adherence and the week are what they were.
    assert (after["days"], after["weeks"], after["streak"]) == (
        adherence["days"],
        adherence["weeks"],
        adherence["streak"],
    )
    assert week_after == week
    csv_rows = list(
        csv.DictReader(io.StringIO((await therapist.get(f"/api/v1/patients/{patient['id']}/records.csv")).text))
    )
    assert [(row["id"], row["pain"]) for row in csv_rows] == [(done["id"], "8")]


async def test_a_repeat_of_another_patients_record_is_a_409_and_fills_in_nothing(
    therapist: Client, app: Litestar, settings: Settings
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    first, second = await joined_phones(therapist, app, ["Ana", "Bea"], today)
    taken = completion("neck-side-bend-stretch", today, "evening")
    assert (await first.post("/api/v1/patient/sync", json={"completions": [taken]})).status_code == 200
    [before] = stored(settings, taken["id"])

    r = await second.post("/api/v1/patient/sync", json={"completions": [dict(taken, pain=9)]})
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["completions[0].id"]
    assert stored(settings, taken["id"]) == [before]
    assert before[8] is None
