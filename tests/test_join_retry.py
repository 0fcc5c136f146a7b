"""A join whose answer was lost on the way (a poor network, the app's 30 s deadline) must not use up
the invite code: the phone sends the same join id again with the same code and is answered as the
first time, with a new token for the same device. Anything else gets today's answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.db import open_database, patients, therapists
from server.db.migrate import migrate
from server.settings import Settings
from tests.conftest import rows, tables
from tests.test_flow_therapist_patient import create_patient

Client = AsyncTestClient[Litestar]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
# Without the second look after a lost race for the code, PostgreSQL answered "used" within the
# first few rounds.
ROUNDS = 30


async def invite(therapist: Client, patient_id: int) -> str:
    r = await therapist.post(f"/api/v1/patients/{patient_id}/invites")
    assert r.status_code == 201, r.text
    return r.json()["code"]


async def post_join(phone: Client, code: str, join_id: str | None) -> Any:
    body: dict[str, Any] = {"code": code, "label": "Maria's phone"}
    if join_id is not None:
        body["join_id"] = join_id
    return await phone.post("/api/v1/patient/join", json=body)


async def works(app: Litestar, token: str) -> bool:
    # Not entered: leaving it would end the app's lifespan (the shared client runs it).
    r = await AsyncTestClient(app=app).get("/api/v1/patient/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


async def test_a_join_asked_again_with_its_join_id_is_answered_again_for_the_same_device(
    therapist: Client, other_client: Client, app: Litestar, settings: Settings
) -> None:
    app.state.clock.fixed = NOW
    patient = await create_patient(therapist)
    code = await invite(therapist, patient["id"])
    join_id = str(uuid.uuid4())
    first = await post_join(other_client, code, join_id)
    assert first.status_code == 201, first.text
    # The answer never reached the phone; it tries again a little later, the code typed this time.
    app.state.clock.fixed = NOW + dt.timedelta(minutes=9, seconds=59)
    again = await post_join(other_client, code.lower().replace("-", " "), join_id)
    assert again.status_code == 201, again.text
    assert again.json()["patient"] == first.json()["patient"]
    token = again.json()["token"]
    assert token != first.json()["token"]
    # Only the answer that arrived opens anything: the first token was replaced.
    assert await works(app, token)
    assert not await works(app, first.json()["token"])
    r = await therapist.get(f"/api/v1/patients/{patient['id']}/devices")
    assert r.status_code == 200, r.text
    devices = r.json()
    assert [(d["label"], d["revoked_at"]) for d in devices] == [("Maria's phone", None)]
    trail = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    joined = [(e["therapist_id"], e["detail"]) for e in trail if e["action"] == "device.join"]
    assert joined == [(None, str(devices[0]["id"]))] * 2
    # The join id is nowhere in the database in clear (only a hash of it with the code).
    for table in tables(settings):
        for row in rows(settings, f"SELECT * FROM {table}"):
            assert not any(join_id in str(value) for value in row), (table, row)
    [(stored,)] = rows(settings, "SELECT join_hash FROM patient_device")
    assert len(stored) == 64


async def test_a_used_code_with_another_join_id_or_none_is_still_refused(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    patient = await create_patient(therapist)
    code = await invite(therapist, patient["id"])
    first = await post_join(other_client, code, str(uuid.uuid4()))
    assert first.status_code == 201, first.text
    for join_id in (str(uuid.uuid4()), None):
        r = await post_join(other_client, code, join_id)
        assert r.status_code == 410, r.text
        assert r.json()["errors"][0]["field"] == "code"
        assert "already used" in r.json()["detail"]
    # A join by an app that sent no join id is never answered again either.
    other = await invite(therapist, patient["id"])
    assert (await post_join(other_client, other, None)).status_code == 201
    assert (await post_join(other_client, other, str(uuid.uuid4()))).status_code == 410
    # Nor is a join id sent with another code than the one it joined with.
    join_id = str(uuid.uuid4())
    third = await invite(therapist, patient["id"])
    assert (await post_join(other_client, third, join_id)).status_code == 201
    fourth = await invite(therapist, patient["id"])
    assert (await post_join(other_client, fourth, str(uuid.uuid4()))).status_code == 201
    assert (await post_join(other_client, fourth, join_id)).status_code == 410
    assert await works(app, first.json()["token"])
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert len(devices) == 4


async def test_a_join_asked_again_ten_minutes_later_is_refused(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    app.state.clock.fixed = NOW
    patient = await create_patient(therapist)
    code = await invite(therapist, patient["id"])
    join_id = str(uuid.uuid4())
    first = await post_join(other_client, code, join_id)
    assert first.status_code == 201, first.text
    app.state.clock.fixed = NOW + dt.timedelta(minutes=10)
    r = await post_join(other_client, code, join_id)
    assert r.status_code == 410, r.text
    assert "already used" in r.json()["detail"]
    assert await works(app, first.json()["token"])


async def test_a_removed_devices_join_asked_again_is_refused(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    patient = await create_patient(therapist)
    code = await invite(therapist, patient["id"])
    join_id = str(uuid.uuid4())
    first = await post_join(other_client, code, join_id)
    assert first.status_code == 201, first.text
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert (await therapist.delete(f"/api/v1/patients/{patient['id']}/devices/{devices[0]['id']}")).status_code == 204
    r = await post_join(other_client, code, join_id)
    assert r.status_code == 410, r.text
    devices = (await therapist.get(f"/api/v1/patients/{patient['id']}/devices")).json()
    assert [d["revoked_at"] is not None for d in devices] == [True]
    assert not await works(app, first.json()["token"])


async def test_an_archived_patients_join_asked_again_is_refused_as_any_of_their_codes(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist)
    code = await invite(therapist, patient["id"])
    join_id = str(uuid.uuid4())
    assert (await post_join(other_client, code, join_id)).status_code == 201
    assert (await therapist.patch(f"/api/v1/patients/{patient['id']}", json={"archived": True})).status_code == 200
    r = await post_join(other_client, code, join_id)
    assert r.status_code == 404, r.text


async def test_a_join_sent_again_while_its_first_try_is_under_way_joins_once(settings: Settings) -> None:
    # Two connections, as two app processes hold: the app gave up waiting on the first try (its
    # 30 s deadline) while the server was still at it, and the second reached another process.
    async with open_database(settings) as one, open_database(settings) as other:
        await migrate(one)
        async with one.transaction() as tx:
            tid = await therapists.create_therapist(tx, "t@clinic.example", "T", "hash", NOW)
            pid = (await patients.create_patient(tx, tid, "P", "UTC", "en", NOW)).id
        for n in range(ROUNDS):
            async with one.transaction() as tx:
                await patients.create_invite(tx, pid, f"code{n}", NOW, NOW + dt.timedelta(days=1))
            joined = await asyncio.gather(
                patients.exchange_invite(one, f"code{n}", f"first{n}", "phone", NOW, f"join{n}"),
                patients.exchange_invite(other, f"code{n}", f"again{n}", "phone", NOW, f"join{n}"),
            )
            assert joined == [pid, pid], n
            live = await one.fetch_all(
                "SELECT token_hash FROM patient_device WHERE patient_id = :pid AND join_hash = :j",
                {"pid": pid, "j": f"join{n}"},
            )
            assert len(live) == 1, n
