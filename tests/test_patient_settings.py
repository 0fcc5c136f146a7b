"""The patient's own settings (PATCH /api/v1/patient/me): a traveller's time zone, the app's language."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.settings import Settings
from tests.conftest import rows
from tests.test_flow_therapist_patient import create_patient, join

Client = AsyncTestClient[Litestar]


async def test_a_patient_changes_their_own_zone_and_language_and_the_therapist_sees_it(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist, tz="Europe/Madrid")
    await join(therapist, other_client, patient["id"])

    r = await other_client.patch("/api/v1/patient/me", json={"timezone": "America/New_York"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": patient["id"],
        "display_name": patient["display_name"],
        "timezone": "America/New_York",
        "locale": "es",
    }
    r = await other_client.patch("/api/v1/patient/me", json={"locale": "en"})
    assert r.status_code == 200, r.text
    assert (r.json()["timezone"], r.json()["locale"]) == ("America/New_York", "en")

    me = (await other_client.get("/api/v1/patient/me")).json()
    assert (me["timezone"], me["locale"]) == ("America/New_York", "en")
    # The reminder screen says which zone its times are in.
    assert (await other_client.get("/api/v1/patient/reminders")).json()["timezone"] == "America/New_York"
    # The therapist's patient detail reads the same record, and the history says who changed it.
    seen = (await therapist.get(f"/api/v1/patients/{patient['id']}")).json()
    assert (seen["timezone"], seen["locale"]) == ("America/New_York", "en")
    assert (await therapist.get(f"/api/v1/patients/{patient['id']}/reminders")).json()["timezone"] == "America/New_York"
    trail = (await therapist.get(f"/api/v1/patients/{patient['id']}/audit")).json()
    settings_entries = [(a["therapist_id"], a["detail"]) for a in trail if a["action"] == "patient.settings"]
    assert settings_entries == [
        (None, "locale: es -> en"),
        (None, "timezone: Europe/Madrid -> America/New_York"),
    ]


async def test_sending_what_is_already_so_writes_nothing(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient = await create_patient(therapist, tz="Europe/Madrid")
    await join(therapist, other_client, patient["id"])
    before = rows(settings, "SELECT count(*) FROM audit")
    r = await other_client.patch("/api/v1/patient/me", json={"timezone": "Europe/Madrid", "locale": "es"})
    assert r.status_code == 200, r.text
    assert rows(settings, "SELECT count(*) FROM audit") == before


async def test_a_patient_changes_only_their_own_record(therapist: Client, other_client: Client, app: Litestar) -> None:
    vera = await create_patient(therapist, name="Vera", tz="Europe/Madrid")
    otto = await create_patient(therapist, name="Otto", tz="Europe/Madrid")
    await join(therapist, other_client, otto["id"])
    r = await other_client.patch("/api/v1/patient/me", json={"timezone": "Asia/Tokyo", "locale": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == otto["id"]
    untouched = (await therapist.get(f"/api/v1/patients/{vera['id']}")).json()
    assert (untouched["timezone"], untouched["locale"]) == ("Europe/Madrid", "es")


async def test_without_a_device_token_nothing_changes(therapist: Client, app: Litestar) -> None:
    patient = await create_patient(therapist, tz="Europe/Madrid")
    nobody = AsyncTestClient(app=app)
    r = await nobody.patch("/api/v1/patient/me", json={"timezone": "Asia/Tokyo"})
    assert r.status_code == 401
    assert (await therapist.get(f"/api/v1/patients/{patient['id']}")).json()["timezone"] == "Europe/Madrid"
