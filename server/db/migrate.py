"""Numbered SQL migrations, applied in order, each in its own transaction.

Each backend has its own files with the same numbers: ``migrations/NNNN_*.sql`` for SQLite
and ``migrations/postgresql/NNNN_*.sql`` for PostgreSQL. ``tests/test_postgres_schema.py``
checks that both produce the same tables, columns and constraints.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

from server.clock import iso
from server.db.connection import Database

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseTooNewError",
    "Migration",
    "latest_version",
    "load_migrations",
    "migrate",
    "migrations_dir",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_DIRS = {"sqlite": MIGRATIONS_DIR, "postgresql": MIGRATIONS_DIR / "postgresql"}
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabaseTooNewError(RuntimeError):
    """The database was migrated by a newer Unknot than this one."""


class Migration:
    """One numbered SQL file, split into statements."""

    def __init__(self, version: int, path: Path) -> None:
        self.version = version
        self.path = path

    def statements(self) -> list[str]:
        """The file's statements, split where SQLite says a statement is complete."""
        statements, current = [], ""
        for line in self.path.read_text().splitlines(keepends=True):
            current += line
            if sqlite3.complete_statement(current):
                statements.append(current.strip())
                current = ""
        if any(line.strip() and not line.strip().startswith("--") for line in current.splitlines()):
            raise ValueError(f"{self.path.name}: incomplete statement at the end")
        return statements


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in ``directory``, in version order; versions must run 1, 2, 3 ..."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ValueError(f"{migration.path.name}: expected version {expected}")
    return found


def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    """The newest schema version this code knows."""
    return len(load_migrations(directory))


def migrations_dir(dialect: str) -> Path:
    """The folder of one backend's migrations."""
    return _DIRS[dialect]


async def migrate(db: Database, directory: Path | None = None) -> list[int]:
    """Bring the schema up to date; returns the versions applied (none when current).

    Raises:
        DatabaseTooNewError: the database has a version this code does not know.
    """
    migrations = load_migrations(directory or migrations_dir(db.dialect))
    applied = []
    async with db.transaction() as tx:
        # Several app processes may start at once: on PostgreSQL, concurrent CREATE TABLE IF
        # NOT EXISTS can still collide, so every migration step holds one lock.
        await tx.serialize("unknot.migrate")
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    while True:
        # One migration per transaction, re-reading the version inside it so that two
        # processes starting together never apply the same file twice.
        async with db.migration() as tx:
            await tx.serialize("unknot.migrate")
            row = await tx.fetch_one("SELECT coalesce(max(version), 0) AS v FROM schema_version")
            current = row["v"] if row else 0
            if current > len(migrations):
                raise DatabaseTooNewError(
                    f"database schema version {current} is newer than this Unknot ({len(migrations)}): "
                    "upgrade Unknot or restore a matching backup"
                )
            if current == len(migrations):
                return applied
            migration = migrations[current]
            for statement in migration.statements():
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (:version, :now)",
                {"version": migration.version, "now": iso(dt.datetime.now(dt.UTC))},
            )
            applied.append(migration.version)
