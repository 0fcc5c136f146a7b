"""A phone joining while its therapist archives the same patient, raced for real on both backends
(two connections, as two app processes hold): archiving promises that no phone joined before it
works again after a restore, so the join and the archive must be ordered, whichever wins."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.clock import iso
from server.db import open_database, patients, therapists
from server.db.connection import Database
from server.db.migrate import migrate
from server.settings import Settings
from tests.conftest import rows
from tests.test_flow_therapist_patient import create_patient

NOW = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
# Without the patient's row lock in the join, PostgreSQL left a live device on an archived
# patient (or answered "used" for a withdrawn code) within the first 10 or so rounds, every run.
ROUNDS = 200
T = TypeVar("T")
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def two(settings: Settings) -> AsyncIterator[tuple[Database, Database]]:
    async with open_database(settings) as one, open_database(settings) as other:
        await migrate(one)
        yield one, other


async def archive(db: Database, therapist_id: int, patient_id: int) -> None:
    """What archiving through the API writes (PatientsController.update), in the same order."""
    async with db.transaction() as tx:
        await patients.update_patient(tx, therapist_id, patient_id, {"archived_at": iso(NOW)})
        await patients.revoke_devices(tx, therapist_id, patient_id, NOW)
        await patients.withdraw_invites(tx, therapist_id, patient_id, NOW)


async def after(delay: float, work: Awaitable[T]) -> T:
    await asyncio.sleep(delay)
    return await work


async def test_a_join_racing_an_archive_never_leaves_a_live_device_on_the_archived_patient(
    two: tuple[Database, Database],
) -> None:
    one, other = two
    async with one.transaction() as tx:
        tid = await therapists.create_therapist(tx, "t@clinic.example", "T", "hash", NOW)
        pid = (await patients.create_patient(tx, tid, "P", "UTC", "en", NOW)).id
    results: collections.Counter[int | str] = collections.Counter()
    for n in range(ROUNDS):
        code, token = f"code{n}", f"token{n}"
        async with one.transaction() as tx:
            await patients.create_invite(tx, pid, code, NOW, NOW + dt.timedelta(days=1))
        # The join starts up to 2 ms before or after the archive: the rounds sweep across the
        # moments where the two transactions overlap, not only the two clean orders.
        offset = (n % 21 - 10) / 5000
        joined, _ = await asyncio.gather(
            after(max(offset, 0), patients.exchange_invite(one, code, token, "phone", NOW)),
            after(max(-offset, 0), archive(other, tid, pid)),
        )
        # Joined before the archive, or refused as for any archived patient; never "used" for a
        # code that nobody used.
        assert joined in (pid, "unknown"), (n, joined)
        results[joined] += 1
        live = await one.fetch_all(
            "SELECT id FROM patient_device WHERE patient_id = :pid AND revoked_at IS NULL", {"pid": pid}
        )
        assert live == [], (n, joined)
        async with one.transaction() as tx:
            await patients.update_patient(tx, tid, pid, {"archived_at": None})
        assert await patients.identity_for_token(one, token) is None, n
    # Both orders happened, so the rounds did race.
    assert results[pid], results
    assert results["unknown"], results


async def test_an_archive_just_after_a_join_commits_answers_the_phone_404_not_500(
    therapist: Client, other_client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = (await create_patient(therapist))["id"]
    code = (await therapist.post(f"/api/v1/patients/{pid}/invites")).json()["code"]
    [(tid,)] = rows(settings, "SELECT therapist_id FROM patient WHERE id = :pid", {"pid": pid})
    forget = therapists.forget_attempt

    # Runs between the join's commit and its read of the new device: the archive lands right there.
    async def archive_first(db: Database, keys: list[str], now: dt.datetime) -> None:
        await archive(db, tid, pid)
        await forget(db, keys, now)

    monkeypatch.setattr(therapists, "forget_attempt", archive_first)
    r = await other_client.post("/api/v1/patient/join", json={"code": code})
    assert r.status_code == 404, r.text
    assert "this code is not valid" in r.json()["detail"]
    devices = (await therapist.get(f"/api/v1/patients/{pid}/devices")).json()
    assert [d["revoked_at"] is not None for d in devices] == [True]
