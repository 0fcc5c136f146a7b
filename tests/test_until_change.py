"""Reads used again until the database changes (the device-token lookup, today's routine): never
after a commit, whoever made it: this process, another `unknot serve`, or another program."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import server.api.patient as patient_api
from server.api import compression
from server.db import open_database
from server.push.keys import load_or_create
from server.settings import Settings
from tests.bench.harness import BIN, create_therapist, free_port, server_env
from tests.conftest import rows
from tests.test_flow_therapist_patient import assign, completion, create_patient, join
from tests.test_scale_processes import EMAIL, PASSWORD, browser, cluster_of, phone, sign_in

Client = AsyncTestClient[Litestar]


async def test_a_read_is_used_again_only_until_something_is_committed(empty_database_url: str) -> None:
    sqlite = not empty_database_url.startswith("postgresql")
    settings = Settings.from_env({}, database_url=empty_database_url)
    async with open_database(settings) as db:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE note (n INTEGER NOT NULL)")
        reads = 0

        async def count() -> int:
            nonlocal reads
            reads += 1
            row = await db.fetch_one("SELECT count(*) AS n FROM note")
            return int(row["n"])

        assert [await db.until_change(("notes",), count) for _ in range(3)] == [0, 0, 0]
        # SQLite tells a commit from its wal-index; PostgreSQL has nothing as cheap, so it reads each time.
        assert reads == (1 if sqlite else 3)

        async with db.transaction() as tx:  # this process's own commit
            await tx.execute("INSERT INTO note (n) VALUES (1)")
        assert await db.until_change(("notes",), count) == 1

        async def rolled_back() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO note (n) VALUES (2)")
                raise RuntimeError

        with pytest.raises(RuntimeError):  # a rolled-back write changes nothing, and is not a commit
            await rolled_back()
        before = reads
        assert await db.until_change(("notes",), count) == 1
        assert reads == before + (0 if sqlite else 1)

        # Another program's commit, from another process.
        if sqlite:
            write = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('INSERT INTO note VALUES (3)')"
            program = await asyncio.create_subprocess_exec(
                sys.executable, "-c", write + "; c.commit()", empty_database_url
            )
            assert await program.wait() == 0
        else:
            async with open_database(settings) as other, other.transaction() as tx:
                await tx.execute("INSERT INTO note (n) VALUES (3)")
        assert await db.until_change(("notes",), count) == 2
        # Each key holds its own read.
        before = reads
        assert await db.until_change(("other",), count) == 2
        assert reads == before + 1


def _locks_on(path: Path) -> list[str]:
    """This process's POSIX locks on ``path`` (Linux: /proc/locks names the inode)."""
    inode = f":{os.stat(path).st_ino} "
    return [
        line for line in Path("/proc/locks").read_text().splitlines() if inode in line and f" {os.getpid()} " in line
    ]


async def test_reading_the_wal_index_keeps_sqlites_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops the process's POSIX locks on it: had the -shm been
    opened and closed beside SQLite, another program would take itself for the first and reset it
    under the server's connections (which crashed the server in the browser tests)."""
    path = tmp_path / "unknot.db"
    async with open_database(Settings.from_env({}, database_url=str(path))) as db:
        await db.until_change(("one",), lambda: db.fetch_one("SELECT 1"))
        assert _locks_on(Path(f"{path}-shm")), "SQLite's lock on the -shm was dropped"


async def test_what_another_program_commits_shows_on_the_next_request(
    therapist: Client, other_client: Client, settings: Settings
) -> None:
    patient = await create_patient(therapist, name="Vera")
    await join(therapist, other_client, patient["id"])
    await assign(therapist, patient["id"], dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    assert (await other_client.get("/api/v1/patient/me")).json()["display_name"] == "Vera"
    today = (await other_client.get("/api/v1/patient/today")).json()
    first = today["entries"][0]
    assert not first["done"]

    # A fix made in the sqlite3 shell or psql, outside the app.
    rows(settings, "UPDATE patient SET display_name = 'Vera M.' WHERE id = :id", {"id": patient["id"]})
    assert (await other_client.get("/api/v1/patient/me")).json()["display_name"] == "Vera M."
    rows(
        settings,
        "INSERT INTO completion (id, patient_id, exercise_id, on_date, slot, done_at, received_at) "
        "VALUES (:id, :pid, :x, :d, :slot, :at, :at)",
        {
            "id": str(uuid.uuid4()),
            "pid": patient["id"],
            "x": first["exercise_id"],
            "d": today["on_date"],
            "slot": first["slot"],
            "at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    entries = (await other_client.get("/api/v1/patient/today")).json()["entries"]
    assert entries[0]["done"]
    rows(settings, "UPDATE patient_device SET revoked_at = :at", {"at": dt.datetime.now(dt.UTC).isoformat()})
    assert (await other_client.get("/api/v1/patient/me")).status_code == 401
    assert (await other_client.get("/api/v1/patient/today")).status_code == 401


def test_a_device_removed_on_one_process_is_refused_by_another_at_once(tmp_path: Path) -> None:
    """Two `unknot serve` processes on one SQLite file: what one commits, the other's reads see."""
    url, data = str(tmp_path / "unknot.db"), tmp_path / "shared"
    load_or_create(data)
    env = server_env(data, free_port(), UNKNOT_DATABASE_URL=url)
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    create_therapist(env, EMAIL, "Two", PASSWORD)
    with cluster_of(2, url, data) as (one, two):
        therapist = browser()
        sign_in(therapist, one.url)
        pid = therapist.post(f"{one.url}/api/v1/patients", json={"display_name": "Otto", "timezone": "UTC"}).json()[
            "id"
        ]
        today = dt.datetime.now(dt.UTC).date()
        r = therapist.post(
            f"{one.url}/api/v1/patients/{pid}/plans",
            json={"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": today.isoformat()},
        )
        assert r.status_code == 201, r.text
        code = therapist.post(f"{one.url}/api/v1/patients/{pid}/invites").json()["code"]
        device = phone()
        r = device.post(f"{one.url}/api/v1/patient/join", json={"code": code})
        assert r.status_code == 201, r.text
        device.headers["authorization"] = f"Bearer {r.json()['token']}"
        entries = [device.get(f"{two.url}/api/v1/patient/today").json()["entries"] for _ in range(2)][-1]
        item = entries[0]
        assert not item["done"]

        batch = {
            "completions": [
                {
                    "id": str(uuid.uuid4()),
                    "exercise_id": item["exercise_id"],
                    "on_date": today.isoformat(),
                    "slot": item["slot"],
                    "done_at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ]
        }
        assert device.post(f"{one.url}/api/v1/patient/sync", json=batch).status_code == 200
        assert device.get(f"{two.url}/api/v1/patient/today").json()["entries"][0]["done"]

        device_id = therapist.get(f"{one.url}/api/v1/patients/{pid}/devices").json()[0]["id"]
        assert therapist.delete(f"{one.url}/api/v1/patients/{pid}/devices/{device_id}").status_code == 204
        assert device.get(f"{two.url}/api/v1/patient/me").status_code == 401
        assert device.get(f"{two.url}/api/v1/patient/today").status_code == 401


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_second_request_reads_nothing_and_an_unknown_token_is_not_kept(
    therapist: Client, other_client: Client, app: Litestar
) -> None:
    patient = await create_patient(therapist)
    await join(therapist, other_client, patient["id"])
    await assign(therapist, patient["id"], dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    statements: list[str] = []
    app.state.db._reader.set_trace_callback(statements.append)
    first = await other_client.get("/api/v1/patient/today")
    assert statements
    statements.clear()
    assert (await other_client.get("/api/v1/patient/today")).content == first.content
    assert statements == []
    # Guessed tokens are looked up every time: they take no place from the patients' entries.
    stranger = AsyncTestClient(app=app)
    for _ in range(2):
        r = await stranger.get("/api/v1/patient/me", headers={"authorization": "Bearer not-a-token"})
        assert r.status_code == 401
        assert statements
        statements.clear()


async def test_todays_routine_is_compressed_once_for_phones_that_take_gzip_and_a_change_shows_at_once(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist)
    await join(therapist, other_client, patient["id"])
    await assign(therapist, patient["id"], dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    plain = await other_client.get("/api/v1/patient/today", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert len(plain.content) >= compression.MIN_BYTES
    browser = {"accept-encoding": "gzip, deflate, br, zstd"}  # what Chromium asks for
    before = compression._gzipped.cache_info()
    for _ in range(3):
        r = await other_client.get("/api/v1/patient/today", headers=browser)
        assert (r.headers["content-encoding"], r.headers["vary"]) == ("gzip", "Accept-Encoding")
        assert r.content == plain.content  # decompressed by the client
    after = compression._gzipped.cache_info()
    # Compressed at most once (the same routine of another patient may have been compressed before).
    assert (after.misses - before.misses, after.hits - before.hits) in {(1, 2), (0, 3)}

    first = plain.json()["entries"][0]
    done = completion(first["exercise_id"], dt.date.fromisoformat(plain.json()["on_date"]), first["slot"])
    assert (await other_client.post("/api/v1/patient/sync", json={"completions": [done]})).status_code == 200
    r = await other_client.get("/api/v1/patient/today", headers=browser)
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["entries"][0]["done"]
    refused = await other_client.get("/api/v1/patient/today", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    assert refused.json() == r.json()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_time_zone_changed_during_a_request_is_not_kept_with_its_routine(
    therapist: Client, other_client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware looked up the patient (and the time zone) before the handler took its mark:
    a commit in between must not leave a routine worked out with the old zone under the new mark."""
    patient = await create_patient(therapist, tz="UTC")
    await join(therapist, other_client, patient["id"])
    day = dt.datetime.now(dt.UTC).date()
    await assign(therapist, patient["id"], day - dt.timedelta(days=1))
    url = f"/api/v1/patient/today?date={day.isoformat()}"
    assert (await other_client.get(url)).status_code == 200

    zones: list[str] = []
    local_date, routine_json = patient_api.local_date, patient_api._routine_json
    changed = False

    def change_zone_first(moment: dt.datetime, zone: str) -> dt.date:
        nonlocal changed
        if not changed:  # in the handler: after the middleware's lookup, before the mark
            changed = True
            rows(settings, "UPDATE patient SET timezone = 'Pacific/Kiritimati' WHERE id = :id", {"id": patient["id"]})
        return local_date(moment, zone)

    async def noting_zone(db: Any, catalog: Any, user: Any, day: dt.date, lang: str) -> bytes:
        zones.append(user.timezone)
        return await routine_json(db, catalog, user, day, lang)

    monkeypatch.setattr(patient_api, "local_date", change_zone_first)
    monkeypatch.setattr(patient_api, "_routine_json", noting_zone)
    await other_client.get(url)
    await other_client.get(url)
    assert zones == ["UTC", "Pacific/Kiritimati"]
