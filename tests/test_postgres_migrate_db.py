"""`unknot migrate-db`: a clinic's SQLite database, filled through the real API, moved to PostgreSQL.

The copy must be complete (every table, row counts and checksums equal), must read back
through the app on PostgreSQL exactly as it did on SQLite, must keep plan ids from ever
coming back, and must leave the target empty when it fails or is refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.catalog import Catalog
from server.cli import main
from server.clock import Clock
from server.db import open_database
from server.db.backup import backup
from server.db.migrate import latest_version
from server.push import Scheduler, load_or_create
from server.settings import Settings
from tests.conftest import rows, sign_in
from tests.postgres import Cluster
from tests.pushservice import PushService
from tests.test_push_scheduler import START, complete, make_patient, utc

Client = AsyncTestClient[Litestar]
pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


@pytest.fixture
def target(pg_cluster: Cluster) -> Iterator[str]:
    url = pg_cluster.create_database(migrated=False)
    yield url
    pg_cluster.drop_database(url)


async def fill(therapist: Client, app: Litestar, service: PushService, catalog: Catalog, settings: Settings) -> None:
    """Patients, plans, completions, check-ins, subscriptions and deliveries, all through the API."""
    ana = await make_patient(therapist, app, service, catalog, name="Ana", devices=2)
    await make_patient(therapist, app, service, catalog, name="Bruno", tz="America/New_York", locale="es")
    gone = await make_patient(therapist, app, service, catalog, name="Gone")
    done = await complete(ana.phones[0], ana, dt.date(2026, 11, 20), "morning", 1, START)
    checkin = {"id": "0b8f5b8e-0000-4000-8000-000000000001", "on_date": "2026-11-20", "soreness": 4}
    flagged = {"id": "0b8f5b8e-0000-4000-8000-000000000003", "on_date": "2026-11-20", "soreness": 6}
    # One completion taken back: its tombstone (withdrawn_at) moves too.
    taken_back = {**done[0], "withdrawn_at": "2026-11-20T09:05:00Z"}
    r = await ana.phones[1].post(
        "/api/v1/patient/sync",
        json={
            "checkins": [
                {**checkin, "done_at": "2026-11-20T09:00:00Z"},
                {**flagged, "red_flags": ["fainting"], "done_at": "2026-11-20T10:00:00Z"},
            ],
            "completions": [taken_back],
        },
    )
    assert r.status_code == 200, r.text
    # A flag marked as handled: the mark (time, therapist, note) moves with its check-in.
    r = await therapist.post(
        f"/api/v1/patients/{ana.id}/checkins/{flagged['id']}/handled", json={"note": "called, all well"}
    )
    assert r.status_code == 200, r.text
    # The highest plan id belonged to a patient who is erased: PostgreSQL must never hand it out again.
    assert (await therapist.patch(f"/api/v1/patients/{gone.id}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{gone.id}")).status_code == 204
    async with open_database(settings) as db:
        scheduler = Scheduler(db, catalog, settings, load_or_create(settings.data_dir))
        try:
            assert (await scheduler.tick(utc("2026-11-20T18:00:00"))).sent == 2
        finally:
            await scheduler.stop()


async def views(client: Client) -> dict[str, Any]:
    """What the therapist reads, endpoint by endpoint."""
    found: dict[str, Any] = {}
    patients = (await client.get("/api/v1/patients")).json()
    found["patients"] = patients
    for p in patients:
        for path in ("", "/plan", "/plans", "/devices", "/reminders", "/records", "/audit"):
            r = await client.get(f"/api/v1/patients/{p['id']}{path}")
            found[f"{p['id']}{path}"] = (r.status_code, r.json())
    return found


def copy(source: str, target: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["migrate-db", "--from", source, "--to", target])
    return code, out.getvalue(), err.getvalue()


def stopped(settings: Settings, tmp_path: Path) -> str:
    """The database as the server left it when stopped: the app of these tests keeps it open."""
    path = tmp_path / "stopped.db"
    backup(settings.sqlite_path, path)
    return str(path)


def counts(url: str) -> dict[str, int]:
    on = Settings.from_env({}, database_url=url)
    names = [r[0] for r in rows(on, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
    return {t: rows(on, f"SELECT count(*) FROM {t}")[0][0] for t in names}


async def test_a_clinic_filled_through_the_api_moves_to_postgresql_whole(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    settings: Settings,
    target: str,
    tmp_path: Path,
) -> None:
    await fill(therapist, app, service, catalog, settings)
    before = await views(therapist)
    highest_plan = rows(settings, "SELECT seq FROM sqlite_sequence WHERE name = 'plan'")[0][0]

    code, out, err = await asyncio.to_thread(copy, stopped(settings, tmp_path), target)
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:-1]}
    tables = [r[0] for r in rows(settings, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert set(lines) == set(tables) - {"sqlite_sequence"}
    for table, (_, lite_rows, pg_rows, lite_sum, _slash, pg_sum, verdict) in lines.items():
        assert lite_rows == pg_rows == str(rows(settings, f"SELECT count(*) FROM {table}")[0][0])
        assert (lite_sum, verdict) == (pg_sum, "ok")
    # Parents before children: therapist before patient before plan before reminder_delivery.
    order = list(lines)
    assert order.index("therapist") < order.index("patient") < order.index("plan")
    assert order.index("push_subscription") < order.index("reminder_delivery")
    for table in ("patient", "plan", "completion", "checkin", "push_subscription", "reminder_delivery", "audit"):
        assert int(lines[table][1]) > 0, table

    # The app on PostgreSQL reads exactly what it read on SQLite, and carries on from there.
    moved = msgspec.structs.replace(settings, database_url=target)
    async with AsyncTestClient(app=create_app(moved, Clock(fixed=START))) as client:
        await sign_in(client, "ana@clinic.example")
        assert await views(client) == before
        patient = before["patients"][0]["id"]
        r = await client.post(
            f"/api/v1/patients/{patient}/plans",
            json={"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": "2026-11-21"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["id"] > highest_plan


async def test_a_non_empty_target_is_refused_untouched(
    therapist: Client, settings: Settings, pg_cluster: Cluster, tmp_path: Path
) -> None:
    assert (await therapist.post("/api/v1/patients", json={"display_name": "A", "timezone": "UTC"})).status_code == 201
    url = pg_cluster.create_database()  # migrated, then used
    try:
        on = Settings.from_env({}, database_url=url)
        rows(on, "INSERT INTO therapist (email, name, password_hash, created_at) VALUES ('x@y.z', 'X', 'h', 't')")
        code, _, err = await asyncio.to_thread(copy, stopped(settings, tmp_path), url)
        assert code == 2
        assert "not empty: table therapist has rows" in err
        assert {t: n for t, n in counts(url).items() if n} == {"therapist": 1, "schema_version": latest_version()}
    finally:
        pg_cluster.drop_database(url)


async def test_a_copy_that_fails_half_way_leaves_the_target_empty(
    therapist: Client, other_client: Client, settings: Settings, pg_cluster: Cluster, tmp_path: Path
) -> None:
    from tests.test_flow_therapist_patient import assign, create_patient, join

    patient = await create_patient(therapist)
    await assign(therapist, patient["id"], dt.date(2026, 11, 18))
    await join(therapist, other_client, patient["id"])
    checkin = {"id": "0b8f5b8e-0000-4000-8000-000000000002", "on_date": "2026-11-20", "soreness": 4}
    r = await other_client.post(
        "/api/v1/patient/sync", json={"checkins": [{**checkin, "done_at": "2026-11-20T09:00:00Z"}]}
    )
    assert r.status_code == 200, r.text
    url = pg_cluster.create_database()  # the schema is there, empty
    try:
        on = Settings.from_env({}, database_url=url)
        # A target that refuses one of the later tables' rows: therapist, patient, plan ... are copied first.
        rows(on, "ALTER TABLE checkin ADD CONSTRAINT refuses_everything CHECK (soreness < 0)")
        code, _, err = await asyncio.to_thread(copy, stopped(settings, tmp_path), url)
        assert code == 1
        assert "rolled back" in err
        assert "refuses_everything" in err
        assert {t: n for t, n in counts(url).items() if n} == {"schema_version": latest_version()}
    finally:
        pg_cluster.drop_database(url)


async def test_migrate_db_only_writes_to_postgresql(settings: Settings, tmp_path: Any) -> None:
    code, _, err = await asyncio.to_thread(copy, str(settings.sqlite_path), str(tmp_path / "other.db"))
    assert code == 2
    assert "postgresql://" in err


async def test_migrate_db_refuses_a_database_a_running_server_has_open(therapist: Client, settings: Settings) -> None:
    # The app behind `therapist` has the database open, as `unknot serve` would; nothing is reached.
    code, out, err = await asyncio.to_thread(copy, str(settings.sqlite_path), "postgresql://u@127.0.0.1:9/none")
    assert code == 1
    assert "open in another program (a running `unknot serve`?); stop it first" in err
    assert out == ""  # no "copying ..." line: nothing was copied
