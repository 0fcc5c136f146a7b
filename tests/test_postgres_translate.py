"""The one place :name parameters become PostgreSQL's $n, and the one place the backend is chosen."""

from __future__ import annotations

import pytest

from server.db.postgres import _args, translate


def test_names_become_numbers_in_first_use_order_and_repeat_as_the_same_number() -> None:
    sql, names = translate("SELECT * FROM t WHERE a = :a AND b IN (:b, :a) AND c = :c_1")
    assert sql == "SELECT * FROM t WHERE a = $1 AND b IN ($2, $1) AND c = $3"
    assert names == ("a", "b", "c_1")


def test_casts_strings_quoted_names_and_comments_are_left_alone() -> None:
    sql, names = translate(
        "SELECT x::text, 'at :noon' || 'it''s :x', \"col:y\" -- :z\nFROM t WHERE id = CAST(:id AS bigint)"
    )
    assert sql == "SELECT x::text, 'at :noon' || 'it''s :x', \"col:y\" -- :z\nFROM t WHERE id = CAST($1 AS bigint)"
    assert names == ("id",)


def test_values_are_passed_in_placeholder_order() -> None:
    _, names = translate("UPDATE t SET a = :a WHERE b = :b AND a2 = :a")
    assert _args(names, {"b": 2, "a": 1, "unused": 3}) == (1, 2)
    assert _args((), ()) == ()
    with pytest.raises(TypeError):
        _args(names, (1, 2))


def test_the_database_url_chooses_the_backend() -> None:
    from server.db import open_database
    from server.db.connection import SQLiteDatabase
    from server.db.postgres import PostgresDatabase
    from server.settings import Settings

    for url in ("postgresql://u@h:5432/db", "postgres://u:p@h/db"):
        settings = Settings.from_env({"UNKNOT_DATABASE_URL": url})
        assert settings.database_backend == "postgresql"
        assert isinstance(open_database(settings), PostgresDatabase)
    for url in ("var/unknot.db", "sqlite:///var/unknot.db"):
        settings = Settings.from_env({"UNKNOT_DATABASE_URL": url})
        assert settings.database_backend == "sqlite"
        assert isinstance(open_database(settings), SQLiteDatabase)


def test_messages_name_the_database_without_its_password() -> None:
    from server.db.postgres import without_password

    assert (
        without_password("postgresql://unknot:s3cret@db-host:5432/unknot") == "postgresql://unknot@db-host:5432/unknot"
    )
    local = "postgresql://unknot@/unknot?host=/var/run/postgresql&password=s3cret&sslmode=disable"
    assert without_password(local) == "postgresql://unknot@/unknot?host=%2Fvar%2Frun%2Fpostgresql&sslmode=disable"
