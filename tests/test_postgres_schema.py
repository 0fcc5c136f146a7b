"""Both backends' migrations produce the same tables, columns and constraints.

SQLite is read through its PRAGMAs, PostgreSQL through information_schema and pg_catalog;
both are brought to one neutral description and compared whole.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from server.db.connection import SQLiteDatabase
from server.db.migrate import migrate
from server.settings import Settings
from tests.conftest import rows
from tests.postgres import Cluster

# Declared types by affinity: what SQLite stores and what PostgreSQL column we chose for it.
_TYPES = {"INTEGER": "integer", "TEXT": "text", "bigint": "integer", "integer": "integer", "text": "text"}
_ON_DELETE = {"NO ACTION": "no action", "CASCADE": "cascade", "SET NULL": "set null", "RESTRICT": "restrict"}
_PG_ON_DELETE = {"a": "no action", "c": "cascade", "n": "set null", "r": "restrict"}


class Shape(NamedTuple):
    """One table in neutral terms, as both backends are compared."""

    columns: dict[str, tuple[str, bool, str | None]]
    primary: tuple[str, ...]
    foreign: set[tuple[str, str, str, str]]
    indexes: set[tuple[tuple[str, ...], bool, bool]]
    index_names: set[str]
    checks: set[str]


def sqlite_schema(path: Path) -> dict[str, Shape]:
    schema: dict[str, Shape] = {}
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        for table, sql in tables.fetchall():
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            columns = {
                name: (_TYPES[kind], bool(notnull or pk), None if default is None else str(default))
                for _, name, kind, notnull, default, pk in info
            }
            primary = tuple(r[1] for r in sorted(info, key=lambda r: r[5]) if r[5])
            foreign = {
                (row[3], row[2], row[4], _ON_DELETE[row[6]])
                for row in conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
            }
            indexes = set()
            names = set()
            for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})").fetchall():
                if origin == "pk":
                    continue
                cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})").fetchall())
                indexes.add((cols, bool(unique), bool(partial)))
                if origin == "c":
                    names.add(name)
            checks = {line.split()[0] for line in sql.splitlines() if "CHECK (" in line}
            schema[table] = Shape(columns, primary, foreign, indexes, names, checks)
    return schema


def postgres_schema(settings: Settings) -> dict[str, Shape]:
    schema: dict[str, Shape] = {}
    tables = [
        r[0] for r in rows(settings, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    ]
    for table in tables:
        info = rows(
            settings,
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = :t",
            {"t": table},
        )
        columns = {
            name: (_TYPES[kind], nullable == "NO", None if default is None else re.sub(r"::\w+$", "", default))
            for name, kind, nullable, default in info
        }
        primary = tuple(
            r[0]
            for r in rows(
                settings,
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)",
                {"t": table},
            )
        )
        foreign = set(
            rows(
                settings,
                "SELECT a.attname, CAST(CAST(c.confrelid AS regclass) AS text), af.attname, "
                "CAST(c.confdeltype AS text) "
                "FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1] "
                "WHERE c.contype = 'f' AND c.conrelid = CAST(:t AS regclass)",
                {"t": table},
            )
        )
        foreign = {(a, b, c, _PG_ON_DELETE[d]) for a, b, c, d in foreign}
        indexes = set()
        names = set()
        for name, unique, partial, cols, constraint in rows(
            settings,
            "SELECT ic.relname, i.indisunique, i.indpred IS NOT NULL, "
            "array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), "
            "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
            "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary",
            {"t": table},
        ):
            indexes.add((tuple(cols), unique, partial))
            if not constraint:
                names.add(name)
        checks = {
            r[0]
            for r in rows(
                settings,
                "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                "AND a.attnum = c.conkey[1] WHERE c.contype = 'c' AND c.conrelid = CAST(:t AS regclass)",
                {"t": table},
            )
        }
        schema[table] = Shape(columns, primary, foreign, indexes, names, checks)
    return schema


@pytest.fixture
def pg_settings(pg_cluster: Cluster) -> Any:
    url = pg_cluster.create_database()
    yield Settings.from_env({}, database_url=url)
    pg_cluster.drop_database(url)


async def test_both_backends_migrate_to_the_same_tables_columns_and_constraints(
    tmp_path: Path, pg_settings: Settings
) -> None:
    async with SQLiteDatabase(tmp_path / "schema.db") as db:
        await migrate(db)
    lite = sqlite_schema(tmp_path / "schema.db")
    pg = postgres_schema(pg_settings)
    assert sorted(lite) == sorted(pg)
    for table in lite:
        for part in Shape._fields:
            assert getattr(lite[table], part) == getattr(pg[table], part), f"{table}.{part}"
    # Sanity: the comparison sees what matters.
    assert lite["plan"].indexes == {(("patient_id",), True, True)}
    assert ("subscription_id", "push_subscription", "id", "set null") in pg["reminder_delivery"].foreign


async def test_postgres_ids_are_identities_that_never_come_back(pg_settings: Settings) -> None:
    identity = rows(
        pg_settings,
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'id' AND is_identity = 'YES' ORDER BY 1",
    )
    assert [r[0] for r in identity] == [
        "audit",
        "patient",
        "patient_device",
        "plan",
        "push_subscription",
        "reminder_delivery",
        "therapist",
        "treatment",
    ]
