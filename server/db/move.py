"""Moving a clinic from SQLite to PostgreSQL: ``unknot migrate-db --from <file> --to <url>``.

Everything happens in one transaction on the target: the schema is created there when it
is missing (PostgreSQL's DDL is transactional), the target is checked to hold no data,
every table is copied in foreign-key order with COPY, identity sequences are moved past
the highest id ever handed out, and each table's row count and checksum are compared
with the source's. Any failure rolls the whole transaction back, so the target is left
exactly as empty as it was.

The checksum of a table is the sum (mod 2**128) of the SHA-256 of every row's values as
canonical JSON, in column order: independent of row order and of either database's
collation, computed in the same way on both sides.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from server.db.backup import BackupError, check, claim_alone, read_only
from server.db.migrate import latest_version, load_migrations, migrations_dir
from server.db.postgres import connect

__all__ = ["MoveError", "TableReport", "TargetNotEmptyError", "copy_to_postgres", "dependency_order"]

_BATCH = 5000
_MOD = 2**128


class MoveError(RuntimeError):
    """The copy failed; the target was rolled back."""


class TargetNotEmptyError(MoveError):
    """The target already holds data: nothing was copied."""


@dataclass(frozen=True)
class TableReport:
    """One table on both sides."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        """Whether both sides hold the same rows."""
        return (self.source_rows, self.source_checksum) == (self.target_rows, self.target_checksum)


class _Checksum:
    def __init__(self) -> None:
        self.rows = 0
        self.total = 0

    def add(self, values: Sequence[Any]) -> None:
        text = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
        self.total = (self.total + int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")) % _MOD
        self.rows += 1

    @property
    def hex(self) -> str:
        return f"{self.total:032x}"


def dependency_order(conn: sqlite3.Connection) -> list[str]:
    """The source's tables, every table after the tables it references (ties by name)."""
    names = [
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    parents = {t: {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({t})") if r[2] != t} for t in names}
    order: list[str] = []
    while len(order) < len(names):
        ready = sorted(t for t in names if t not in order and parents[t] <= set(order))
        if not ready:
            raise MoveError(f"circular foreign keys among {sorted(set(names) - set(order))}")
        order.extend(ready)
    return order


def _value(value: Any) -> Any:
    # Older rows may hold text as a BLOB (SQLite does not enforce column types); PostgreSQL's is text.
    return value.decode() if isinstance(value, bytes) else value


def _source_rows(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> Iterable[list[tuple[Any, ...]]]:
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 - names from the schema
    while batch := cursor.fetchmany(_BATCH):
        yield [tuple(_value(v) for v in row) for row in batch]


async def _create_schema(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    for migration in load_migrations(migrations_dir("postgresql")):
        for statement in migration.statements():
            await conn.execute(statement)


async def _target_tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    return {r["table_name"] for r in rows}


async def copy_to_postgres(
    source: Path, target_url: str, starting: Callable[[], None] = lambda: None
) -> list[TableReport]:
    """Copy the SQLite database ``source`` into the PostgreSQL database at ``target_url``;
    ``starting`` is called once the source is checked and held, before the target is reached.

    Raises:
        BackupError: the source is not a sound Unknot database, or another program has it open.
        TargetNotEmptyError: the target holds data (nothing was changed).
        MoveError: the copy failed or did not compare equal (the target was rolled back).
        DatabaseUnavailable: the target cannot be reached (nothing was changed).
    """
    version = check(source)
    if version != latest_version():
        raise BackupError(
            f"{source}: schema version {version}; bring it to {latest_version()} first (`unknot init` on it)"
        )
    # A server writing on meanwhile would lose those writes when the clinic moves to the copy.
    claim = claim_alone(source, f"cannot open {source}")
    try:
        starting()
        return await _copy_claimed(source, target_url)
    finally:
        os.close(claim)


async def _copy_claimed(source: Path, target_url: str) -> list[TableReport]:
    conn = await connect(target_url, {"application_name": "unknot migrate-db"})
    lite = sqlite3.connect(read_only(source), uri=True, isolation_level=None)
    try:
        # One read transaction on the source: every table from the same snapshot.
        lite.execute("BEGIN")
        order = dependency_order(lite)
        async with conn.transaction():
            # Two copies at once into one target would both find it empty; the second waits here.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('unknot.migrate'))")
            existing = await _target_tables(conn)
            if not existing:
                await _create_schema(conn)
            elif existing != set(order):
                raise TargetNotEmptyError(
                    f"the target has other tables than Unknot's ({', '.join(sorted(existing ^ set(order)))}); "
                    "use a new, empty database"
                )
            for table in order:
                if table != "schema_version" and await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # noqa: S608
                    raise TargetNotEmptyError(f"the target is not empty: table {table} has rows")
            target_version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            if target_version not in (0, latest_version()):
                raise TargetNotEmptyError(f"the target has schema version {target_version}, not {latest_version()}")
            await conn.execute("DELETE FROM schema_version")
            reports = [await _copy_table(lite, conn, table) for table in order]
            await _move_sequences(lite, conn, order)
            bad = [r.table for r in reports if not r.ok]
            if bad:
                raise MoveError(f"copy differs from the source in {', '.join(bad)}; rolled back")
        return reports
    except (asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error, UnicodeDecodeError) as exc:
        raise MoveError(f"copy failed, the target was rolled back: {type(exc).__name__}: {exc}") from exc
    finally:
        await conn.close()
        lite.close()


async def _copy_table(lite: sqlite3.Connection, conn: asyncpg.Connection, table: str) -> TableReport:
    columns = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
    source = _Checksum()
    for batch in _source_rows(lite, table, columns):
        for row in batch:
            source.add(row)
        await conn.copy_records_to_table(table, records=batch, columns=columns)
    target = _Checksum()
    query = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 - names from the schema
    async for record in conn.cursor(query, prefetch=_BATCH):
        target.add(tuple(record))
    return TableReport(table, source.rows, target.rows, source.hex, target.hex)


async def _move_sequences(lite: sqlite3.Connection, conn: asyncpg.Connection, tables: Sequence[str]) -> None:
    """Every identity continues after the highest id the source ever handed out."""
    handed_out = dict(lite.execute("SELECT name, seq FROM sqlite_sequence").fetchall()) if _has_sequence(lite) else {}
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND is_identity = 'YES'"
    )
    for row in rows:
        table, column = row["table_name"], row["column_name"]
        if table not in tables:
            continue
        highest = await conn.fetchval(f"SELECT coalesce(max({column}), 0) FROM {table}")  # noqa: S608
        start = max(highest, handed_out.get(table, 0)) + 1
        await conn.execute("SELECT setval(pg_get_serial_sequence($1, $2), $3, false)", table, column, start)


def _has_sequence(lite: sqlite3.Connection) -> bool:
    return lite.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is not None
