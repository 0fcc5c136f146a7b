"""The whole flow through the real app: therapist to patient and back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.clock import local_date
from server.settings import Settings
from tests.conftest import columns, make_therapist, rows, sign_in, tables

Client = AsyncTestClient[Litestar]


def count(settings: Settings, table: str) -> int:
    return rows(settings, f"SELECT count(*) FROM {table}")[0][0]


async def create_patient(therapist: Client, name: str = "Maria Lopez", tz: str = "Europe/Madrid") -> dict[str, Any]:
    r = await therapist.post("/api/v1/patients", json={"display_name": name, "timezone": tz, "locale": "es"})
    assert r.status_code == 201, r.text
    return r.json()


async def assign(therapist: Client, patient_id: int, treated_on: dt.date, **extra: Any) -> dict[str, Any]:
    body = {
        "treated_on": treated_on.isoformat(),
        "treated": [{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "levator-scapulae", "side": "right"}],
        "notes": "tender band, local twitch",
        **extra,
    }
    r = await therapist.post(f"/api/v1/patients/{patient_id}/plans", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def join(therapist: Client, phone: Client, patient_id: int) -> str:
    invite = (await therapist.post(f"/api/v1/patients/{patient_id}/invites")).json()
    assert invite["link"].endswith(f"#join={invite['code']}")
    assert invite["qr_svg"].startswith("<svg")
    r = await phone.post("/api/v1/patient/join", json={"code": invite["code"].lower(), "label": "Maria's phone"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    phone.headers["authorization"] = f"Bearer {token}"
    return token


async def joined_phones(therapist: Client, app: Litestar, names: list[str], treated_on: dt.date) -> list[Client]:
    """One new patient per name, each with a plan treated on ``treated_on`` and a phone joined to it."""
    phones = []
    for name in names:
        patient = await create_patient(therapist, name)
        await assign(therapist, patient["id"], treated_on)
        phone = AsyncTestClient(app=app)
        await join(therapist, phone, patient["id"])
        phones.append(phone)
    return phones


def completion(exercise_id: str, on_date: dt.date, slot: str, pain: int | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "exercise_id": exercise_id,
        "on_date": on_date.isoformat(),
        "slot": slot,
        "done_at": dt.datetime.now(dt.UTC).isoformat(),
        "pain": pain,
    }


async def test_therapist_assigns_patient_logs_therapist_sees_adherence_and_alert(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    patient = await create_patient(therapist)

    preview = await therapist.post(
        "/api/v1/programs/preview",
        json={"treated_on": today.isoformat(), "treated": [{"muscle": "upper-trapezius", "side": "left"}]},
    )
    assert preview.status_code == 200
    plan = await assign(therapist, patient["id"], today - dt.timedelta(days=2))
    assert plan["version"] == 1

    # Adjust: drop the last item, halve one dosage, then save against version 1.
    items = plan["program"]["items"][:-1]
    items[0]["dosage"]["reps"] = 1
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan", json={"plan_id": plan["id"], "version": 1, "items": items}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert len(r.json()["program"]["items"]) == len(items)
    stale = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan", json={"plan_id": plan["id"], "version": 1, "items": items}
    )
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "version"

    phone = other_client
    await join(therapist, phone, patient["id"])
    me = await phone.get("/api/v1/patient/me")
    assert me.json()["display_name"] == "Maria Lopez"

    bundle = (await phone.get("/api/v1/patient/plan")).json()
    assert bundle["version"] == 2
    assert set(bundle["exercises"]) == {i["exercise_id"] for i in items}
    assert bundle["red_flags"]
    assert bundle["aftercare"]["guidance"]

    day = today - dt.timedelta(days=1)
    routine = (await phone.get("/api/v1/patient/today", params={"date": day.isoformat()})).json()
    assert routine["day"] == 1
    assert routine["aftercare"] is True
    assert routine["entries"]
    batch = {"completions": [completion(e["exercise_id"], day, e["slot"], pain=3) for e in routine["entries"]]}
    first = await phone.post("/api/v1/patient/sync", json=batch)
    assert first.status_code == 200, first.text
    assert sorted(first.json()["completions"]) == sorted(c["id"] for c in batch["completions"])
    rows = count(settings, "completion")
    second = await phone.post("/api/v1/patient/sync", json=batch)
    assert second.json() == first.json()
    assert count(settings, "completion") == rows == len(batch["completions"])

    again = (await phone.get("/api/v1/patient/today", params={"date": day.isoformat()})).json()
    assert all(e["done"] for e in again["entries"])

    checkin = {
        "id": str(uuid.uuid4()),
        "on_date": today.isoformat(),
        "soreness": 8,
        "red_flags": ["soreness-too-much"],
        "done_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    r = await phone.post("/api/v1/patient/sync", json={"checkins": [checkin]})
    assert r.json()["checkins"] == [checkin["id"]]

    adherence = (await therapist.get(f"/api/v1/patients/{patient['id']}/adherence", params={"days": 7})).json()
    by_date = {d["on_date"]: d for d in adherence["days"]}
    assert by_date[day.isoformat()]["rate"] == 1.0
    assert adherence["soreness"][-1]["value"] == 8
    assert adherence["pain"][0]["value"] == 3
    assert adherence["red_flag_days"] == [today.isoformat()]
    assert adherence["last_activity"] is not None

    attention = (await therapist.get("/api/v1/attention")).json()
    [item] = [a for a in attention if a["patient_id"] == patient["id"]]
    assert {r["kind"] for r in item["reasons"]} == {"pain", "red-flag"}
    [flag] = [r["detail"] for r in item["reasons"] if r["kind"] == "red-flag"]
    assert "soreness-too-much" not in flag  # the therapist reads the sign, not an id
    assert flag.startswith("reported: ")

    audit = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    assert [a["action"] for a in reversed(audit)] == [
        "patient.create",
        "plan.assign",
        "plan.edit",
        "invite.create",
        "device.join",
    ]


async def test_a_new_assignment_supersedes_the_old_plan_and_the_link_keeps_working(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist)
    today = dt.datetime.now(dt.UTC).date()
    await assign(therapist, patient["id"], today - dt.timedelta(days=10))
    await join(therapist, other_client, patient["id"])
    newer = await assign(therapist, patient["id"], today)
    history = (await therapist.get(f"/api/v1/patients/{patient['id']}/plans")).json()
    assert [p["status"] for p in history] == ["active", "superseded"]
    bundle = await other_client.get("/api/v1/patient/plan")
    assert bundle.status_code == 200
    assert bundle.json()["plan_id"] == newer["id"]


async def test_invites_are_single_use_and_revoked_devices_are_refused(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    patient = await create_patient(therapist)
    invite = (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()
    first = await other_client.post("/api/v1/patient/join", json={"code": invite["code"]})
    assert first.status_code == 201
    used = await other_client.post("/api/v1/patient/join", json={"code": invite["code"]})
    assert used.status_code == 410
    assert "ask your clinic" in used.json()["detail"]
    unknown = await other_client.post("/api/v1/patient/join", json={"code": "ZZZZ-ZZZZ-ZZZZ"})
    assert unknown.status_code == 404

    other_client.headers["authorization"] = f"Bearer {first.json()['token']}"
    assert (await other_client.get("/api/v1/patient/me")).status_code == 200
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert [d["label"] for d in devices] == ["Phone"]
    # The join is in the therapist's history once, done by no therapist, naming the device; the
    # refused tries are not.
    trail = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    joined = [(e["therapist_id"], e["detail"]) for e in trail if e["action"] == "device.join"]
    assert joined == [(None, str(devices[0]["id"]))]
    r = await therapist.delete(f"/api/v1/patients/{patient['id']}/devices/{devices[0]['id']}")
    assert r.status_code == 204
    refused = await other_client.get("/api/v1/patient/me")
    assert refused.status_code == 401
    assert "join again" in refused.json()["detail"]


# A code as it may reach the app, copied from a message or typed from paper (each is given the
# code as the clinic made it).
COPIED_CODES = [
    lambda c: c.lower().replace("-", " ") + ".",  # typed from an SMS, its full stop included
    lambda c: c.replace("-", "\u2013", 1).replace("-", "\u2014"),  # en and em dashes
    lambda c: c.replace("-", "\u00a0"),  # no-break spaces
    lambda c: f"\u201c{c[:9]}\n{c[10:]}\u201d",  # curly quotes, a line break for the dash
    lambda c: f"'{c}',\t",
    lambda c: c.replace("0", "o").replace("1", "l").replace("-", "_"),  # Crockford's read-alikes
]


async def test_a_code_with_characters_that_cannot_be_in_a_code_joins(therapist: Client, app: Litestar) -> None:
    patient = await create_patient(therapist)
    for i, copied in enumerate(COPIED_CODES):
        code = (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()["code"]
        phone = AsyncTestClient(app=app)
        r = await phone.post("/api/v1/patient/join", json={"code": copied(code), "label": f"Phone {i}"})
        assert r.status_code == 201, (copied(code), r.text)
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert len(devices) == len(COPIED_CODES)


async def test_revoking_a_device_twice_answers_the_same_and_audits_it_once(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist)
    await join(therapist, other_client, patient["id"])
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    url = f"/api/v1/patients/{patient['id']}/devices/{devices[0]['id']}"
    assert (await therapist.delete(url)).status_code == 204
    revoked_at = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()[0]["revoked_at"]
    assert revoked_at is not None
    assert (await therapist.delete(url)).status_code == 204
    assert (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()[0]["revoked_at"] == revoked_at
    trail = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    assert [e["action"] for e in trail].count("device.revoke") == 1
    # Another patient's device, or none, stays a 404.
    assert (await therapist.delete(f"/api/v1/patients/{patient['id']}/devices/999999")).status_code == 404


async def test_revoking_a_device_withdraws_the_patients_unused_codes(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    patient = await create_patient(therapist)
    other = await create_patient(therapist, name="Other Patient")
    await join(therapist, other_client, patient["id"])
    left = [(await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()["code"] for _ in range(2)]
    kept = (await therapist.post(f"/api/v1/patients/{other['id']}/invites")).json()["code"]
    device = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()[0]
    assert (await therapist.delete(f"/api/v1/patients/{patient['id']}/devices/{device['id']}")).status_code == 204

    phone = AsyncTestClient(app=app)
    for code in left:
        r = await phone.post("/api/v1/patient/join", json={"code": code})
        assert r.status_code == 404, r.text
    # Another patient's codes are theirs to keep.
    assert (await phone.post("/api/v1/patient/join", json={"code": kept})).status_code == 201
    trail = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    assert [(e["action"], e["detail"]) for e in trail[:2]] == [
        ("invite.withdraw", f"2; device {device['id']} revoked"),
        ("device.revoke", str(device["id"])),
    ]


async def test_the_therapist_withdraws_the_open_codes_and_a_joined_phone_stays(
    therapist: Client, other_client: Client, app: Litestar, settings: Settings
) -> None:
    patient = await create_patient(therapist)
    url = f"/api/v1/patients/{patient['id']}/invites"
    await join(therapist, other_client, patient["id"])
    # One more made 8 days ago, expired: removed too, but not counted as open.
    app.state.clock.fixed = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    expired = (await therapist.post(url)).json()["code"]
    app.state.clock.fixed = None
    codes = [(await therapist.post(url)).json()["code"] for _ in range(3)]
    token = therapist.headers.pop("x-csrf-token")
    assert (await therapist.delete(url)).status_code == 403  # CSRF, like every change
    therapist.headers["x-csrf-token"] = token
    r = await therapist.delete(url)
    assert r.status_code == 200, r.text
    assert r.json() == {"withdrawn": 3}
    phone = AsyncTestClient(app=app)
    for code in [expired, *codes]:
        assert (await phone.post("/api/v1/patient/join", json={"code": code})).status_code == 404
    assert count(settings, "patient_invite") == 1  # the used one: the record of the phone's joining
    assert (await other_client.get("/api/v1/patient/me")).status_code == 200
    trail = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    assert (trail[0]["action"], trail[0]["detail"]) == ("invite.withdraw", "3; by the therapist")
    # Again: nothing open, nothing withdrawn, nothing more in the audit trail.
    assert (await therapist.delete(url)).json() == {"withdrawn": 0}
    assert len((await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()) == len(trail)
    # A code made afterwards works.
    fresh = (await therapist.post(url)).json()["code"]
    assert (await phone.post("/api/v1/patient/join", json={"code": fresh})).status_code == 201


async def test_archiving_disconnects_the_phones_and_withdraws_the_codes_until_a_new_code(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    patient = await create_patient(therapist)
    pid = patient["id"]
    await join(therapist, other_client, pid)
    second = AsyncTestClient(app=app)
    await join(therapist, second, pid)
    left = (await therapist.post(f"/api/v1/patients/{pid}/invites")).json()["code"]
    assert (await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": True})).status_code == 200
    assert (await other_client.get("/api/v1/patient/me")).status_code == 401
    assert (await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": False})).status_code == 200

    # Restored: the phones stay disconnected, and the console lists them as removed, not active.
    for phone in (other_client, second):
        assert (await phone.get("/api/v1/patient/me")).status_code == 401
    devices = (await therapist.get(f"/api/v1/patients/{pid}/devices")).json()
    assert len(devices) == 2
    assert all(d["revoked_at"] is not None for d in devices)
    newcomer = AsyncTestClient(app=app)
    assert (await newcomer.post("/api/v1/patient/join", json={"code": left})).status_code == 404
    await join(therapist, newcomer, pid)  # a new code joins
    assert (await newcomer.get("/api/v1/patient/me")).status_code == 200

    trail = [(e["action"], e["detail"]) for e in (await therapist.get(f"/api/v1/patients/{pid}/audit")).json()]
    ids = ",".join(str(d["id"]) for d in sorted(devices, key=lambda d: d["id"]))
    # Newest first: the restore, then the archive, which withdrew and revoked in its transaction.
    archived_at = [i for i, entry in enumerate(trail) if entry == ("patient.update", "archived_at")][1]
    assert trail[archived_at - 2 : archived_at + 1] == [
        ("invite.withdraw", "1; patient archived"),
        ("device.revoke", f"{ids}; patient archived"),
        ("patient.update", "archived_at"),
    ]


async def test_a_device_label_of_invisible_characters_is_the_default_label(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist)
    invite = (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()
    r = await other_client.post("/api/v1/patient/join", json={"code": invite["code"], "label": "\u200b\u2060"})
    assert r.status_code == 201, r.text
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert [d["label"] for d in devices] == ["Phone"]


async def test_an_expired_invite_asks_for_a_new_code(therapist: Client, other_client: Client, app: Litestar) -> None:
    patient = await create_patient(therapist)
    invite = (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()
    app.state.clock.fixed = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    r = await other_client.post("/api/v1/patient/join", json={"code": invite["code"]})
    assert r.status_code == 410
    assert "expired" in r.json()["detail"]


async def test_patients_can_be_renamed_archived_restored_and_erased_completely(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient = await create_patient(therapist)
    pid = patient["id"]
    r = await therapist.patch(f"/api/v1/patients/{pid}", json={"display_name": "  Maria   L. ", "archived": True})
    assert r.json()["display_name"] == "Maria L."
    assert r.json()["archived_at"] is not None
    assert (await therapist.get("/api/v1/patients")).json() == []
    assert [p["id"] for p in (await therapist.get("/api/v1/patients", params={"archived": True})).json()] == [pid]
    r = await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": False})
    assert r.json()["archived_at"] is None
    plan = await assign(therapist, pid, dt.date(2026, 1, 5))
    await join(therapist, other_client, pid)
    item = plan["program"]["items"][0]
    checkin = {"id": str(uuid.uuid4()), "on_date": "2026-01-06", "soreness": 2, "done_at": "2026-01-06T09:00:00Z"}
    synced = await other_client.post(
        "/api/v1/patient/sync",
        json={
            "completions": [completion(item["exercise_id"], dt.date(2026, 1, 6), item["slots"][0])],
            "checkins": [checkin],
        },
    )
    assert synced.status_code == 200
    assert count(settings, "completion") == count(settings, "checkin") == 1
    # Erasing is for an archived patient only (it cannot be undone).
    assert (await therapist.delete(f"/api/v1/patients/{pid}")).status_code == 409
    assert count(settings, "completion") == count(settings, "checkin") == 1
    assert (await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{pid}")).status_code == 204
    assert (await therapist.get(f"/api/v1/patients/{pid}")).status_code == 404
    for table in tables(settings):
        if "patient_id" in columns(settings, table) and table != "audit":
            assert rows(settings, f"SELECT count(*) FROM {table} WHERE patient_id = :pid", {"pid": pid})[0][0] == 0
    audit = rows(settings, "SELECT action FROM audit WHERE patient_id = :pid", {"pid": pid})
    assert audit == [("patient.erase",)]
    assert count(settings, "patient") == 0


async def test_sign_out_ends_the_session(therapist: Client) -> None:
    assert (await therapist.get("/api/v1/auth/me")).status_code == 200
    assert (await therapist.post("/api/v1/auth/logout")).status_code == 204
    assert (await therapist.get("/api/v1/auth/me")).status_code == 401


async def test_a_deleted_patients_plan_is_never_served_to_the_next_patient(
    therapist: Client, other_client: Client
) -> None:
    """Plan ids are never reused, so a cached plan version can never belong to someone else."""
    first = await create_patient(therapist, name="First")
    old = await assign(therapist, first["id"], dt.date(2026, 1, 5))
    phone = AsyncTestClient(app=other_client.app)
    await join(therapist, phone, first["id"])
    assert (await phone.get("/api/v1/patient/plan")).status_code == 200  # cached now
    assert (await therapist.patch(f"/api/v1/patients/{first['id']}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{first['id']}")).status_code == 204

    second = await create_patient(therapist, name="Second")
    body = {"treated_on": "2026-02-01", "treated": [{"muscle": "gastrocnemius", "side": "left"}]}
    new = (await therapist.post(f"/api/v1/patients/{second['id']}/plans", json=body)).json()
    assert new["id"] != old["id"]
    await join(therapist, other_client, second["id"])
    served = (await other_client.get("/api/v1/patient/plan")).json()
    assert served["program"]["treated"] == [{"muscle": "gastrocnemius", "side": "left"}]


async def test_a_therapist_can_export_everything_stored_about_a_patient(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist, name="Exported Eva")
    plan = await assign(therapist, patient["id"], dt.date(2026, 1, 5))
    await join(therapist, other_client, patient["id"])
    item = plan["program"]["items"][0]
    done = completion(item["exercise_id"], dt.date(2026, 1, 6), item["slots"][0], pain=4)
    checkin = {"id": str(uuid.uuid4()), "on_date": "2026-01-06", "soreness": 5, "done_at": "2026-01-06T09:00:00Z"}
    await other_client.post("/api/v1/patient/sync", json={"completions": [done], "checkins": [checkin]})

    r = await therapist.get(f"/api/v1/patients/{patient['id']}/export.json")
    assert r.status_code == 200, r.text
    export = r.json()
    assert export["patient"]["display_name"] == "Exported Eva"
    assert [p["id"] for p in export["plans"]] == [plan["id"]]
    assert [c["id"] for c in export["completions"]] == [done["id"]]
    assert [c["id"] for c in export["checkins"]] == [checkin["id"]]
    assert len(export["devices"]) == 1
    assert "token" not in r.text.lower().replace("token_hash", "")  # no secret, not even hashed
    assert "records.export" in {
        a["action"] for a in (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    }


async def test_patients_are_listed_by_name_ignoring_case_and_accents_on_both_backends(therapist: Client) -> None:
    for name in ["zoe Ruiz", "Ávila Núñez", "Beatriz Sol", "álvaro Díaz", "Andrés Gil", "Øystein Berg"]:
        await create_patient(therapist, name=name)
    listed = [p["display_name"] for p in (await therapist.get("/api/v1/patients")).json()]
    # Ø is a letter of its own, after Z (as in Danish and Norwegian), not an O with a mark.
    assert listed == ["álvaro Díaz", "Andrés Gil", "Ávila Núñez", "Beatriz Sol", "zoe Ruiz", "Øystein Berg"]


async def test_the_patient_list_overview_agrees_with_each_patients_adherence(
    therapist: Client, other_client: Client, app: Litestar, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    phone = other_client
    # Madrid and Kiritimati (UTC+14): "today" and "this week" differ between them.
    madrid = await create_patient(therapist, name="Marta", tz="Europe/Madrid")
    kiri = await create_patient(therapist, name="Kai", tz="Pacific/Kiritimati")
    no_plan = await create_patient(therapist, name="Nadia")
    gone = await create_patient(therapist, name="Gus")
    for patient, checkins in ((madrid, [(0, 4), (0, 7), (9, 2)]), (kiri, [(1, 5)]), (gone, [])):
        today = local_date(now, patient["timezone"])
        plan = await assign(therapist, patient["id"], today - dt.timedelta(days=10))
        await join(therapist, phone, patient["id"])
        routine = (await phone.get("/api/v1/patient/today")).json()
        assert routine["entries"]
        done = [completion(e["exercise_id"], today, e["slot"]) for e in routine["entries"][:2]]
        # (days back, soreness): the later of two check-ins of one day stands; 9 days back is too old.
        batch = [
            {
                "id": str(uuid.uuid4()),
                "on_date": (today - dt.timedelta(days=back)).isoformat(),
                "soreness": value,
                "red_flags": [],
                "done_at": (now - dt.timedelta(minutes=60 - i)).isoformat(),
            }
            for i, (back, value) in enumerate(checkins)
        ]
        r = await phone.post("/api/v1/patient/sync", json={"completions": done, "checkins": batch})
        assert r.status_code == 200, r.text
        assert plan["version"] == 1
    assert (await therapist.patch(f"/api/v1/patients/{gone['id']}", json={"archived": True})).is_success

    overview = (await therapist.get("/api/v1/adherence")).json()
    assert [o["patient_id"] for o in overview] == [kiri["id"], madrid["id"], no_plan["id"]]  # by name
    for row in overview:
        each = (await therapist.get(f"/api/v1/patients/{row['patient_id']}/adherence", params={"days": 7})).json()
        today = dt.date.fromisoformat(each["today"])
        monday = (today - dt.timedelta(days=today.weekday())).isoformat()
        assert row["has_plan"] is bool(each["days"])
        assert row["week"] == next((w for w in each["weeks"] if w["week_start"] == monday), None)
        assert row["soreness"] == (each["soreness"][-1] if each["soreness"] else None)
        assert row["last_activity"] == each["last_activity"]
    rows = {o["patient_id"]: o for o in overview}
    assert rows[madrid["id"]]["week"]["done"] == 2
    assert rows[madrid["id"]]["soreness"]["value"] == 7
    assert rows[kiri["id"]]["soreness"]["value"] == 5
    assert rows[no_plan["id"]] == {
        "patient_id": no_plan["id"],
        "has_plan": False,
        "week": None,
        "soreness": None,
        "last_activity": None,
        "starts_on": None,
    }
    archived = (await therapist.get("/api/v1/adherence", params={"archived": "true"})).json()
    assert [o["patient_id"] for o in archived] == [gone["id"]]
    assert archived[0]["week"]["done"] == 2

    # Another therapist's overview holds only their own patients.
    await make_therapist(settings, "bob@elsewhere.example", "Bob")
    bob = AsyncTestClient(app=app)
    await sign_in(bob, "bob@elsewhere.example")
    assert (await bob.get("/api/v1/adherence")).json() == []
