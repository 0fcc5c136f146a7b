from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from server.db import open_database, reminders
from server.db.connection import SQLiteDatabase
from server.db.migrate import DatabaseTooNewError, latest_version, migrate, migrations_dir
from server.settings import Settings
from tests.conftest import tables

# Rows an old schema's data test starts from: therapist 1 and their patient 1.
ONE_THERAPIST = (
    "INSERT INTO therapist (id, email, name, password_hash, created_at) VALUES (1, 'a@b.c', 'T', 'h', 'now')"
)
ONE_PATIENT = (
    "INSERT INTO patient (id, therapist_id, display_name, timezone, locale, created_at) "
    "VALUES (1, 1, 'P', 'UTC', 'en', 'now')"
)


def on(url: str) -> Settings:
    return Settings.from_env({}, database_url=url)


async def test_migrations_create_the_schema_on_an_empty_database(empty_database_url: str) -> None:
    async with open_database(on(empty_database_url)) as db:
        applied = await migrate(db)
    assert applied == list(range(1, latest_version() + 1))
    assert {"therapist", "patient", "plan", "completion", "checkin", "audit", "schema_version"} <= set(
        tables(on(empty_database_url))
    )


def test_both_backends_have_the_same_migration_versions() -> None:
    names = {d: [p.name[:4] for p in sorted(migrations_dir(d).glob("*.sql"))] for d in ("sqlite", "postgresql")}
    assert names["sqlite"] == names["postgresql"]
    assert latest_version(migrations_dir("postgresql")) == latest_version()


async def test_running_migrations_twice_changes_nothing(empty_database_url: str) -> None:
    async with open_database(on(empty_database_url)) as db:
        await migrate(db)
        assert await migrate(db) == []
        rows = await db.fetch_all("SELECT version FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, latest_version() + 1))


async def test_two_processes_migrating_at_once_apply_each_version_once(empty_database_url: str) -> None:
    settings = on(empty_database_url)
    async with open_database(settings) as one, open_database(settings) as two:
        results = await asyncio.gather(migrate(one), migrate(two))
        rows = await one.fetch_all("SELECT version FROM schema_version")
    assert sorted(results[0] + results[1]) == list(range(1, latest_version() + 1))
    assert len(rows) == latest_version()


async def test_a_database_from_the_future_is_refused_untouched(empty_database_url: str) -> None:
    settings = on(empty_database_url)
    async with open_database(settings) as db:
        await migrate(db)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO schema_version VALUES (999, '2030-01-01T00:00:00Z')")
        with pytest.raises(DatabaseTooNewError, match="999"):
            await migrate(db)
    async with open_database(settings) as db:
        row = await db.fetch_one("SELECT max(version) AS v FROM schema_version")
    assert row["v"] == 999


async def test_a_failing_migration_leaves_no_trace(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (folder / "0002_broken.sql").write_text("CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    settings = on(empty_database_url)
    async with open_database(settings) as db:
        with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError)):
            await migrate(db, folder)
        version = await db.fetch_one("SELECT max(version) AS v FROM schema_version")
    found = tables(settings)
    assert "a" in found
    assert "b" not in found
    assert version["v"] == 1


async def test_the_database_is_in_wal_mode_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    async with SQLiteDatabase(tmp_path / "a.db") as db:
        mode = await db.fetch_one("PRAGMA journal_mode")
        sync = await db.fetch_one("PRAGMA synchronous")
        fk = await db.fetch_one("PRAGMA foreign_keys")
    assert mode[0] == "wal"
    assert sync[0] == 2  # FULL
    assert fk[0] == 1


async def _at_version(path: Path, version: int, tmp_path: Path) -> SQLiteDatabase:
    """A SQLite database migrated up to ``version`` only, connected."""
    folder = tmp_path / f"up-to-{version}"
    folder.mkdir()
    for migration in sorted(migrations_dir("sqlite").glob("*.sql"))[:version]:
        shutil.copy(migration, folder)
    db = SQLiteDatabase(path)
    await db.connect()
    await migrate(db, folder)
    return db


async def test_rebuilding_the_patient_table_keeps_every_row_that_references_it(tmp_path: Path) -> None:
    """Migration 4 drops and rebuilds a table eleven others reference; nothing may cascade."""
    db = await _at_version(tmp_path / "old.db", 3, tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        for pid in (1, 2, 3):
            await tx.execute(
                "INSERT INTO patient (id, therapist_id, display_name, timezone, locale, created_at) "
                "VALUES (:id, 1, 'P', 'UTC', 'en', 'now')",
                {"id": pid},
            )
            await tx.execute(
                "INSERT INTO patient_device (token_hash, patient_id, label, created_at, last_seen_at) "
                "VALUES (:t, :id, 'Phone', 'now', 'now')",
                {"t": f"t{pid}", "id": pid},
            )
            await tx.execute(
                "INSERT INTO audit (at, therapist_id, patient_id, action) VALUES ('now', 1, :id, 'patient.create')",
                {"id": pid},
            )
        # Patient 3 was erased before the upgrade: its id lives on only in the audit trail.
        await tx.execute("DELETE FROM patient WHERE id = 3")
    assert await migrate(db) == list(range(4, latest_version() + 1))
    devices = await db.fetch_all("SELECT patient_id FROM patient_device ORDER BY 1")
    assert [r[0] for r in devices] == [1, 2]
    assert await db.fetch_all("PRAGMA foreign_key_check") == []
    assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM patient WHERE id = 2")  # still cascades to its device
        await tx.execute(
            "INSERT INTO patient (therapist_id, display_name, timezone, locale, created_at) "
            "VALUES (1, 'N', 'UTC', 'en', 'now')"
        )
    newest = await db.fetch_one("SELECT max(id) FROM patient")
    assert newest[0] == 4  # neither 2 nor 3 again
    assert [r[0] for r in await db.fetch_all("SELECT patient_id FROM patient_device")] == [1]
    await db.close()


async def test_plans_made_before_versions_were_kept_keep_their_current_version_from_the_start(
    tmp_path: Path,
) -> None:
    """Migration 6: the one version an older plan still has answers for the whole plan, as it did."""
    db = await _at_version(tmp_path / "old.db", 5, tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        await tx.execute(ONE_PATIENT)
        await tx.execute(
            "INSERT INTO treatment (id, patient_id, therapist_id, treated_on, created_at) "
            "VALUES (1, 1, 1, '2026-11-24', '2026-11-24T09:00:00Z')"
        )
        await tx.execute(
            "INSERT INTO plan (id, patient_id, treatment_id, starts_on, status, version, program, created_at, "
            "updated_at) VALUES (1, 1, 1, '2026-11-24', 'active', 3, '{}', '2026-11-24T09:00:00Z', "
            "'2026-11-26T10:00:00Z')"
        )
    assert await migrate(db) == list(range(6, latest_version() + 1))
    kept = await db.fetch_all("SELECT plan_id, version, program, saved_at FROM plan_version")
    assert [tuple(r) for r in kept] == [(1, 3, "{}", "2026-11-24T09:00:00Z")]
    await db.close()


async def test_patients_archived_before_archiving_disconnected_phones_have_none_left(tmp_path: Path) -> None:
    """Migration 7: an archived patient's live devices and unused codes would work again after a restore."""
    db = await _at_version(tmp_path / "old.db", 6, tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        for pid, archived in ((1, "2026-11-20T10:00:00Z"), (2, None)):
            await tx.execute(
                "INSERT INTO patient (id, therapist_id, display_name, timezone, locale, created_at, archived_at) "
                "VALUES (:pid, 1, 'P', 'UTC', 'en', 'now', :archived)",
                {"pid": pid, "archived": archived},
            )
            await tx.execute(
                "INSERT INTO patient_device (id, token_hash, patient_id, label, created_at, last_seen_at) "
                "VALUES (:pid, :token, :pid, 'phone', 'now', 'now')",
                {"pid": pid, "token": f"t{pid}"},
            )
            for code, used in (("open", None), ("used", "2026-11-19T10:00:00Z")):
                await tx.execute(
                    "INSERT INTO patient_invite (code_hash, patient_id, created_at, expires_at, used_at) "
                    "VALUES (:code, :pid, 'now', '2099-01-01T00:00:00Z', :used)",
                    {"code": f"{code}{pid}", "pid": pid, "used": used},
                )
    assert await migrate(db) == list(range(7, latest_version() + 1))
    devices = await db.fetch_all("SELECT id, revoked_at FROM patient_device ORDER BY id")
    assert [tuple(r) for r in devices] == [(1, "2026-11-20T10:00:00Z"), (2, None)]
    invites = await db.fetch_all("SELECT code_hash FROM patient_invite ORDER BY code_hash")
    assert [r[0] for r in invites] == ["open2", "used1", "used2"]
    await db.close()


async def test_devices_revoked_before_revoking_forgot_subscriptions_have_none_left(tmp_path: Path) -> None:
    """Migration 8: a revoked device's push subscription (its push address and keys) was kept."""
    db = await _at_version(tmp_path / "old.db", 7, tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        await tx.execute(ONE_PATIENT)
        for did, revoked in ((1, "2026-11-20T10:00:00Z"), (2, None)):
            await tx.execute(
                "INSERT INTO patient_device (id, token_hash, patient_id, label, created_at, last_seen_at, revoked_at) "
                "VALUES (:did, :token, 1, 'phone', 'now', 'now', :revoked)",
                {"did": did, "token": f"t{did}", "revoked": revoked},
            )
            await tx.execute(
                "INSERT INTO push_subscription (patient_id, device_id, endpoint, p256dh, auth, created_at, updated_at) "
                "VALUES (1, :did, :endpoint, 'k', 'a', 'now', 'now')",
                {"did": did, "endpoint": f"https://push.example/{did}"},
            )
    assert await migrate(db) == list(range(8, latest_version() + 1))
    kept = await db.fetch_all("SELECT device_id FROM push_subscription")
    assert [r[0] for r in kept] == [2]
    await db.close()


async def test_a_migration_that_would_leave_rows_pointing_nowhere_is_rolled_back(tmp_path: Path) -> None:
    db = await _at_version(tmp_path / "a.db", latest_version(), tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        await tx.execute(ONE_PATIENT)
    folder = tmp_path / f"up-to-{latest_version()}"
    (folder / f"{latest_version() + 1:04d}_orphan.sql").write_text("DELETE FROM therapist;\n")
    with pytest.raises(sqlite3.IntegrityError, match="foreign keys"):
        await migrate(db, folder)
    assert (await db.fetch_one("SELECT count(*) FROM therapist"))[0] == 1
    assert (await db.fetch_one("SELECT max(version) FROM schema_version"))[0] == latest_version()
    assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1
    await db.close()


async def test_sessions_made_before_idle_sessions_ended_count_as_used_when_they_were_made(tmp_path: Path) -> None:
    """Migration 15: a session's last use, which an idle session ends by, starts at its sign-in."""
    db = await _at_version(tmp_path / "old.db", 14, tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        await tx.execute(
            "INSERT INTO therapist_session (token_hash, therapist_id, created_at, expires_at) "
            "VALUES ('s', 1, '2026-11-24T09:00:00Z', '2026-11-24T21:00:00Z')"
        )
    assert await migrate(db) == list(range(15, latest_version() + 1))
    used = await db.fetch_all("SELECT last_used_at FROM therapist_session")
    assert [r[0] for r in used] == ["2026-11-24T09:00:00Z"]
    await db.close()


async def test_deliveries_logged_before_devices_were_kept_name_their_phone_while_its_subscription_lasts(
    tmp_path: Path,
) -> None:
    """Migration 18: a delivery keeps its device; older rows have none and name it by their subscription."""
    db = await _at_version(tmp_path / "old.db", 17, tmp_path)
    async with db.transaction() as tx:
        await tx.execute(ONE_THERAPIST)
        await tx.execute(ONE_PATIENT)
        await tx.execute(
            "INSERT INTO patient_device (id, token_hash, patient_id, label, created_at, last_seen_at) "
            "VALUES (1, 't1', 1, 'Old phone', 'now', 'now')"
        )
        await tx.execute(
            "INSERT INTO push_subscription (id, patient_id, device_id, endpoint, p256dh, auth, created_at, updated_at) "
            "VALUES (1, 1, 1, 'https://push.example/1', 'k', 'a', 'now', 'now')"
        )
        await tx.execute(
            "INSERT INTO reminder_delivery (patient_id, subscription_id, kind, slot, on_date, due_at, status, "
            "created_at) VALUES (1, 1, 'test', 'evening', '2026-11-20', 'now', 'sent', 'now')"
        )
    assert await migrate(db) == list(range(18, latest_version() + 1))
    assert [r[0] for r in await db.fetch_all("SELECT device_id FROM reminder_delivery")] == [None]
    [entry] = await reminders.deliveries_of(db, 1, 1, 10)
    assert (entry.device_id, entry.device) == (1, "Old phone")
    await db.close()
