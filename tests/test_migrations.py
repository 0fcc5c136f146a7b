from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from server.db import open_database
from server.db.connection import SQLiteDatabase
from server.db.migrate import DatabaseTooNewError, latest_version, migrate, migrations_dir
from server.settings import Settings
from tests.conftest import tables


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
