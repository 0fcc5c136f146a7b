from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from server.db.connection import Database
from server.db.migrate import DatabaseTooNewError, latest_version, migrate


async def test_migrations_create_the_schema_on_an_empty_database(tmp_path: Path) -> None:
    async with Database(tmp_path / "a.db") as db:
        applied = await migrate(db)
        assert applied == list(range(1, latest_version() + 1))
        tables = {r["name"] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"therapist", "patient", "plan", "completion", "checkin", "audit", "schema_version"} <= tables


async def test_running_migrations_twice_changes_nothing(tmp_path: Path) -> None:
    async with Database(tmp_path / "a.db") as db:
        await migrate(db)
        assert await migrate(db) == []
        rows = await db.fetch_all("SELECT version FROM schema_version")
    assert [r["version"] for r in rows] == list(range(1, latest_version() + 1))


async def test_two_processes_migrating_at_once_apply_each_version_once(tmp_path: Path) -> None:
    async with Database(tmp_path / "a.db") as one, Database(tmp_path / "a.db") as two:
        results = await asyncio.gather(migrate(one), migrate(two))
        rows = await one.fetch_all("SELECT version FROM schema_version")
    assert sorted(results[0] + results[1]) == list(range(1, latest_version() + 1))
    assert len(rows) == latest_version()


async def test_a_database_from_the_future_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    async with Database(path) as db:
        await migrate(db)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO schema_version VALUES (999, '2030-01-01T00:00:00Z')")
        with pytest.raises(DatabaseTooNewError, match="999"):
            await migrate(db)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 999


async def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (folder / "0002_broken.sql").write_text("CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    async with Database(tmp_path / "a.db") as db:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(db, folder)
        tables = {r["name"] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = await db.fetch_one("SELECT max(version) AS v FROM schema_version")
    assert "a" in tables
    assert "b" not in tables
    assert version["v"] == 1


async def test_the_database_is_in_wal_mode_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    async with Database(tmp_path / "a.db") as db:
        mode = await db.fetch_one("PRAGMA journal_mode")
        sync = await db.fetch_one("PRAGMA synchronous")
        fk = await db.fetch_one("PRAGMA foreign_keys")
    assert mode[0] == "wal"
    assert sync[0] == 2  # FULL
    assert fk[0] == 1
