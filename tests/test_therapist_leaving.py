"""A therapist leaves the clinic: `unknot transfer-patients` gives their patients to a colleague with
everything the patients hold, and `unknot close-therapist` closes the account (both backends)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.auth.identity import SESSION_COOKIE
from server.auth.secrets import hash_token
from server.cli import main
from server.clock import local_date
from server.db import open_database, patients
from server.settings import Settings
from tests.conftest import PASSWORD, make_therapist, rows, sign_in
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]
Command = Callable[..., Awaitable[int]]
GONE = "ana@clinic.example"  # the therapist fixture's account
STAYS = "bo@clinic.example"


@pytest.fixture
def command(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Command:
    """`unknot ...` on the test's database (in a thread: the command runs its own event loop)."""
    monkeypatch.setenv("UNKNOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("UNKNOT_DATA_DIR", settings.data_dir)

    async def run(*args: str) -> int:
        return await asyncio.to_thread(main, list(args))

    return run


def owners(settings: Settings) -> dict[int, int]:
    return dict(rows(settings, "SELECT id, therapist_id FROM patient"))


async def test_patients_move_to_a_colleague_with_everything_they_hold_then_the_account_closes(
    therapist: Client,
    other_client: Client,
    app: Litestar,
    settings: Settings,
    command,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kept = await create_patient(therapist, "Kai Keeps")
    # The patient's own day: adherence counts by it (after 23:00 UTC Madrid is a day ahead).
    today = local_date(dt.datetime.now(dt.UTC), kept["timezone"])
    plan = await assign(therapist, kept["id"], today - dt.timedelta(days=1))
    await join(therapist, other_client, kept["id"])
    item = plan["program"]["items"][0]
    done = completion(item["exercise_id"], today, item["slots"][0], pain=4)
    assert (await other_client.post("/api/v1/patient/sync", json={"completions": [done]})).status_code == 200
    archived = await create_patient(therapist, "Ada Archived")
    assert (await therapist.patch(f"/api/v1/patients/{archived['id']}", json={"archived": True})).status_code == 200
    gone_id = (await therapist.get("/api/v1/auth/me")).json()["therapist"]["id"]
    stays_id = await make_therapist(settings, STAYS, "Bo")

    # Not while patients are still theirs: nobody would be able to see them.
    assert await command("close-therapist", GONE) == 1
    assert "still holds 2 patient(s)" in capsys.readouterr().err
    assert (await therapist.get("/api/v1/auth/me")).status_code == 200

    assert await command("transfer-patients", GONE, STAYS) == 0
    assert f"moved 2 patient(s) from <{GONE}> to <{STAYS}>" in capsys.readouterr().out
    assert owners(settings) == {kept["id"]: stays_id, archived["id"]: stays_id}

    colleague = AsyncTestClient(app=app)  # no `async with`: that would run the app's shutdown
    await sign_in(colleague, STAYS)
    assert [p["id"] for p in (await colleague.get("/api/v1/patients")).json()] == [kept["id"]]
    listed = (await colleague.get("/api/v1/patients", params={"archived": "true"})).json()
    assert [p["id"] for p in listed] == [archived["id"]]
    taken_over = (await colleague.get(f"/api/v1/patients/{kept['id']}/plan")).json()
    assert (taken_over["id"], taken_over["program"]) == (plan["id"], plan["program"])
    adherence = (await colleague.get(f"/api/v1/patients/{kept['id']}/adherence")).json()
    assert adherence["days"][-1]["done"] == 1
    trail = (await colleague.get(f"/api/v1/patients/{kept['id']}/audit")).json()
    assert trail[0]["action"] == "patient.transfer"
    assert f"to Bo <{STAYS}>" in trail[0]["detail"]
    assert len(trail) > 1  # what was done before stays in the patient's history
    # The one who left sees them no more; the patient's phone goes on as before.
    assert (await therapist.get(f"/api/v1/patients/{kept['id']}")).status_code == 404
    assert (await other_client.get("/api/v1/patient/today")).status_code == 200

    assert await command("close-therapist", GONE) == 0
    assert f"closed <{GONE}>; 1 session(s) signed out" in capsys.readouterr().out
    assert (await therapist.get("/api/v1/auth/me")).status_code == 401
    again = await therapist.post("/api/v1/auth/login", json={"email": GONE, "password": "a wrong password"})
    assert again.status_code == 401  # a wrong password learns nothing about the account
    again = await therapist.post("/api/v1/auth/login", json={"email": GONE, "password": PASSWORD})
    assert again.status_code == 403
    assert "closed" in again.json()["detail"]
    assert rows(settings, "SELECT count(*) FROM therapist_session WHERE therapist_id = :t", {"t": gone_id}) == [(0,)]

    assert await command("reopen-therapist", GONE) == 0
    assert (await therapist.post("/api/v1/auth/login", json={"email": GONE, "password": PASSWORD})).status_code == 200


async def test_a_transfer_that_names_a_patient_not_theirs_moves_nothing(
    therapist: Client, settings: Settings, command: Command, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = await create_patient(therapist, "Mia Mine")
    await make_therapist(settings, STAYS, "Bo")
    await make_therapist(settings, "cy@clinic.example", "Cy")
    before = owners(settings)

    assert await command("transfer-patients", GONE, STAYS, "--patient", str(mine["id"]), "--patient", "999") == 1
    assert f"{GONE} holds no patient with id 999; nothing was moved" in capsys.readouterr().err
    assert owners(settings) == before
    assert rows(settings, "SELECT count(*) FROM audit WHERE action = 'patient.transfer'") == [(0,)]

    # The same id twice is that one patient, not a patient moved already.
    assert (
        await command("transfer-patients", GONE, STAYS, "--patient", str(mine["id"]), "--patient", str(mine["id"])) == 0
    )
    assert f"moved 1 patient(s) from <{GONE}> to <{STAYS}>: {mine['id']}" in capsys.readouterr().out


async def test_a_transfer_to_the_same_an_unknown_or_a_closed_account_is_refused(
    therapist: Client, settings: Settings, command: Command, capsys: pytest.CaptureFixture[str]
) -> None:
    await create_patient(therapist, "Mia Mine")
    await make_therapist(settings, STAYS, "Bo")
    before = owners(settings)
    assert await command("transfer-patients", GONE, GONE.upper()) == 2
    assert "the same account" in capsys.readouterr().err
    assert await command("transfer-patients", GONE, "nobody@clinic.example") == 1
    assert "no therapist with email nobody@clinic.example" in capsys.readouterr().err
    assert await command("close-therapist", STAYS) == 0
    assert await command("transfer-patients", GONE, STAYS) == 2
    assert f"{STAYS}'s account is closed" in capsys.readouterr().err
    assert owners(settings) == before


async def test_no_patient_can_be_added_to_an_account_once_it_is_closed(settings: Settings, command: Command) -> None:
    # A request that passed its session check just before the close still inserts after it: the
    # insert itself refuses, so no patient is left with an account nobody can use.
    bo = await make_therapist(settings, STAYS, "Bo")
    assert await command("close-therapist", STAYS) == 0
    async with open_database(settings) as db, db.transaction() as tx:
        assert await patients.create_patient(tx, bo, "Late Lea", "UTC", "en", dt.datetime.now(dt.UTC)) is None
    assert rows(settings, "SELECT count(*) FROM patient") == [(0,)]


async def test_closing_counts_only_the_sessions_it_signed_out_not_those_ended_already(
    therapist: Client, app: Litestar, settings: Settings, command, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "3 session(s) signed out" for a tablet that had signed itself out would tell the
    administrator someone was still using the account."""
    tablet, old_desk = AsyncTestClient(app=app), AsyncTestClient(app=app)
    for client in (tablet, old_desk):
        await sign_in(client, GONE)

    def ended(client: Client, column: str) -> None:
        token = hash_token(client.cookies[SESSION_COOKIE])
        rows(
            settings,
            f"UPDATE therapist_session SET {column} = '2000-01-01T00:00:00Z' WHERE token_hash = :t",
            {"t": token},
        )

    ended(tablet, "last_used_at")  # left unused past the idle limit
    ended(old_desk, "expires_at")  # past its 12 hours
    assert await command("close-therapist", GONE) == 0
    assert f"closed <{GONE}>; 1 session(s) signed out" in capsys.readouterr().out
    assert rows(settings, "SELECT count(*) FROM therapist_session") == [(0,)]
