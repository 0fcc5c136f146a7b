"""`unknot backup` under write load, and `unknot restore`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.cli import main
from server.clock import Clock
from server.db.backup import BackupError, backup, check, expected_schema, restore
from server.db.connection import DatabaseInUse, SQLiteDatabase, claim_file
from server.db.migrate import latest_version
from server.settings import Settings
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]
# unknot backup and restore copy SQLite files; PostgreSQL is backed up with pg_dump.
pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def ids(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM completion")}


async def test_a_backup_taken_under_write_load_holds_everything_acknowledged_before_it(
    therapist: Client, other_client: Client, settings: Settings, tmp_path: Path
) -> None:
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], dt.date(2026, 11, 1))
    await join(therapist, other_client, patient["id"])
    item = plan["program"]["items"][0]

    async def write(n: int) -> list[str]:
        acknowledged = []
        for _ in range(n):
            batch = [completion(item["exercise_id"], dt.date(2026, 11, 2), item["slots"][0]) for _ in range(20)]
            r = await other_client.post("/api/v1/patient/sync", json={"completions": batch})
            assert r.status_code == 200
            acknowledged += r.json()["completions"]
        return acknowledged

    before = await write(10)
    writer = asyncio.create_task(write(30))
    await asyncio.sleep(0)
    target = tmp_path / "backups" / "unknot-backup.db"
    version = await asyncio.to_thread(backup, settings.sqlite_path, target)
    during = await writer
    assert version >= 1
    copied = ids(target)
    assert set(before) <= copied
    assert copied <= set(before) | set(during)
    assert check(target) == version

    restored = tmp_path / "restored.db"
    restore(target, restored)
    assert ids(restored) == copied
    with sqlite3.connect(restored) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_backup_refuses_to_overwrite_and_restore_refuses_a_damaged_file(settings: Settings, tmp_path: Path) -> None:
    with sqlite3.connect(settings.sqlite_path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER, applied_at TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (1, 'x')")
    existing = tmp_path / "exists.db"
    existing.write_text("")
    with pytest.raises(BackupError, match="exists"):
        backup(settings.sqlite_path, existing)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(BackupError, match=r"not an Unknot database|integrity"):
        restore(damaged, tmp_path / "target.db")
    assert not (tmp_path / "target.db").exists()
    future = tmp_path / "future.db"
    with sqlite3.connect(future) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER, applied_at TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (999, 'x')")
    with pytest.raises(BackupError, match="newer"):
        restore(future, tmp_path / "target.db")


def test_the_cli_backs_up_and_restores(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    target = tmp_path / "b.db"
    assert main(["backup", str(target)]) == 0
    assert "integrity ok" in capsys.readouterr().out
    assert main(["restore", str(target)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["restore", str(target), "--yes"]) == 0
    assert main(["backup", str(target)]) == 1


async def test_restore_under_a_running_server_is_refused_and_copies_nothing(
    therapist: Client, settings: Settings, tmp_path: Path
) -> None:
    # The app behind `therapist` has the database open, as `unknot serve` would.
    target = tmp_path / "before.db"
    backup(settings.sqlite_path, target)
    patient = await create_patient(therapist)
    with pytest.raises(BackupError, match=r"open in another program \(a running `unknot serve`\?\); stop it first"):
        restore(target, settings.sqlite_path)
    r = await therapist.get(f"/api/v1/patients/{patient['id']}")
    assert r.status_code == 200


async def test_a_server_starting_during_a_restore_is_refused(settings: Settings) -> None:
    claim = claim_file(settings.sqlite_path, alone=True)
    try:
        with pytest.raises(DatabaseInUse, match="is being restored"):
            await SQLiteDatabase(settings.sqlite_path).connect()
    finally:
        os.close(claim)
    async with SQLiteDatabase(settings.sqlite_path) as db:
        assert await db.fetch_one("SELECT 1") is not None


async def test_the_database_and_its_backups_are_readable_by_their_owner_only(
    therapist: Client, settings: Settings, tmp_path: Path
) -> None:
    await create_patient(therapist)  # something in the -wal too
    folder = tmp_path / "backups"
    backup(settings.sqlite_path, folder / "b.db")
    for path in (settings.sqlite_path, Path(f"{settings.sqlite_path}-wal"), folder / "b.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # One self-contained file: no -wal or .partial leftovers beside it.
    assert [p.name for p in folder.iterdir()] == ["b.db"]


def test_restore_replaces_a_damaged_database(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    with sqlite3.connect(settings.sqlite_path) as conn:
        conn.execute("INSERT INTO therapist (email, name, password_hash, created_at) VALUES ('a@b.c', 'A', 'h', 't')")
    target = tmp_path / "b.db"
    assert main(["backup", str(target)]) == 0
    with settings.sqlite_path.open("r+b") as f:  # a disk that lost the file's end
        f.truncate(3000)
    capsys.readouterr()
    assert main(["restore", str(target), "--yes"]) == 0
    assert "erasures made since the backup could not be repeated" in capsys.readouterr().err
    with sqlite3.connect(settings.sqlite_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT email FROM therapist").fetchall() == [("a@b.c",)]
    assert stat.S_IMODE(settings.sqlite_path.stat().st_mode) == 0o600
    assert not Path(f"{settings.sqlite_path}.restoring").exists()


async def test_a_restore_ends_every_session_forgets_every_browser_and_says_account_changes_are_undone(
    therapist: Client,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The backup holds the therapist's session; set-password or close-therapist would end it since.
    target = tmp_path / "b.db"
    backup(settings.sqlite_path, target)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM therapist_session").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM therapist_device").fetchone()[0] > 0
    restored = tmp_path / "restored.db"
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(restored))
    assert await asyncio.to_thread(main, ["restore", str(target), "--yes"]) == 0
    assert "password changes and account closures made since the backup are undone" in capsys.readouterr().out
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT count(*) FROM therapist_session").fetchone()[0] == 0
        # A browser forgotten since (a password change, a reset) must not get back its own limit.
        assert conn.execute("SELECT count(*) FROM therapist_device").fetchone()[0] == 0


async def test_patients_erased_since_the_backup_are_erased_again(
    therapist: Client, settings: Settings, tmp_path: Path
) -> None:
    kept, gone = await create_patient(therapist), await create_patient(therapist)
    before = tmp_path / "before.db"
    backup(settings.sqlite_path, before)
    assert (await therapist.patch(f"/api/v1/patients/{gone['id']}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{gone['id']}")).status_code == 204
    # The server keeps the live file; a copy of it stands for the database the restore replaces.
    current = tmp_path / "current.db"
    backup(settings.sqlite_path, current)
    assert restore(before, current).erased_again == 1
    with sqlite3.connect(current) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM patient")] == [kept["id"]]
        assert conn.execute("SELECT action FROM audit WHERE patient_id = ?", (gone["id"],)).fetchall() == [
            ("patient.erase",)
        ]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # Restored again, from the same backup: the erasure is still on record and still repeated.
    assert restore(before, current).erased_again == 1


def test_paths_with_hash_question_mark_and_percent_are_the_files_named(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a bare file: URI, "unknot.db#2026" would be read as "unknot.db": another database.
    decoy = settings.sqlite_path
    assert decoy == tmp_path / "unknot.db"
    with sqlite3.connect(decoy) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER, applied_at TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (1, 'x')")
    live = tmp_path / "unknot.db#2026"
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(live))
    assert main(["init"]) == 0
    with sqlite3.connect(live) as conn:
        conn.execute("INSERT INTO therapist (email, name, password_hash, created_at) VALUES ('a@b.c', 'A', 'h', 't')")
    folder = tmp_path / "bk"
    target = folder / "nightly #1 ?50%.db"
    backup(live, target)
    assert [p.name for p in folder.iterdir()] == [target.name]
    restored = tmp_path / "restored #2.db"
    restore(target, restored)
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT email FROM therapist").fetchall() == [("a@b.c",)]


def _version_only(path: Path, version: int) -> None:
    """A SQLite file with a ``schema_version`` table and nothing else: another program's, not Unknot's."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (?, 'x')", (version,))


def _therapists(path: Path) -> list[tuple[str]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT email FROM therapist").fetchall()


@pytest.mark.parametrize(
    ("version", "refusal"),
    [
        (1, r"not an Unknot database: schema version 1 but no tables attempt, audit, checkin, .*treatment$"),
        (latest_version(), rf"not an Unknot database: schema version {latest_version()} but no tables .*plan_version"),
        (0, r"not an Unknot database \(no schema version recorded in it\)$"),
        (
            latest_version() + 1,
            rf"schema version {latest_version() + 1} was made by a newer Unknot \(this one knows up to "
            rf"{latest_version()}\)",
        ),
    ],
)
def test_restore_refuses_a_file_that_is_not_an_unknot_database_and_leaves_the_live_one_alone(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    version: int,
    refusal: str,
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as conn, conn:
        conn.execute("INSERT INTO therapist (email, name, password_hash, created_at) VALUES ('a@b.c', 'A', 'h', 't')")
    before = settings.sqlite_path.read_bytes()
    stranger = tmp_path / "other.db"
    _version_only(stranger, version)
    capsys.readouterr()

    assert main(["restore", str(stranger), "--yes"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert re.fullmatch(rf"unknot: {re.escape(str(stranger))}: .*{refusal}.*\n", err), err
    assert settings.sqlite_path.read_bytes() == before
    assert not Path(f"{settings.sqlite_path}.restoring").exists()
    # Still the clinic's database: the next start finds it as it was.
    assert main(["init"]) == 0
    assert _therapists(settings.sqlite_path) == [("a@b.c",)]


def test_restore_refuses_a_table_that_lacks_a_column_its_version_has(settings: Settings, tmp_path: Path) -> None:
    # therapist.closed_at came with migration 5: a version-5 file must have it.
    stranger = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(stranger)) as conn, conn:
        for table, columns in expected_schema(5).items():
            kept = sorted(columns - {"closed_at"} if table == "therapist" else columns)
            conn.execute(f"CREATE TABLE {table} ({', '.join(kept)})")
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (5, 'x')")
    with pytest.raises(BackupError, match=r"schema version 5 but no columns therapist\.closed_at$"):
        restore(stranger, tmp_path / "target.db")
    assert not (tmp_path / "target.db").exists()


def test_the_expected_schema_is_what_unknot_init_makes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(expected_schema(latest_version())) == tables - {"sqlite_sequence"}
    assert check(settings.sqlite_path) == latest_version()


def _at(monkeypatch: pytest.MonkeyPatch, day: int) -> str:
    """Set the command's clock to 02:00 UTC on ``day`` November 2026; returns the backup's name then."""
    moment = dt.datetime(2026, 11, day, 2, 0, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(Clock, "now", lambda self: moment)
    return f"unknot-2026-11-{day:02d}T020000Z.db"


def test_backup_keep_deletes_the_oldest_backups_it_named_and_nothing_else(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    # Not the command's: a copy named by hand or by the old cron line, another program's, one being
    # written, a folder and a link named like a backup.
    others = {
        "notes.txt",
        "unknot-2026-10-01.db",
        "unknot-before-upgrade.db",
        "other-2026-10-01T020000Z.db",
        "unknot-2026-10-01T020000Z.db.partial",
        "unknot-2026-10-02T020000Z.db",
        "unknot-2026-10-03T020000Z.db",
    }
    for name in others - {"unknot-2026-10-02T020000Z.db", "unknot-2026-10-03T020000Z.db"}:
        (folder / name).write_text("keep me")
    (folder / "unknot-2026-10-02T020000Z.db").mkdir()
    (folder / "unknot-2026-10-03T020000Z.db").symlink_to(folder / "notes.txt")
    capsys.readouterr()

    made = []
    for day in range(1, 6):
        made.append(_at(monkeypatch, day))
        assert main(["backup", str(folder), "--keep", "3"]) == 0
        out = capsys.readouterr().out
        assert f"to {folder / made[-1]} (schema version {latest_version()}, integrity ok)" in out
        gone = made[:-3]
        assert {p.name for p in folder.iterdir()} == others | set(made[-3:])
        # Each run names what it deleted: the one that fell out of the newest three, once.
        expected = [f"deleted old backup {folder / made[-4]}"] if len(made) > 3 else []
        assert [line for line in out.splitlines() if line.startswith("deleted")] == expected
        assert all(not (folder / name).exists() for name in gone)
    for name in made[-3:]:
        assert check(folder / name) == latest_version()
    assert (folder / "notes.txt").read_text() == "keep me"

    # A trailing slash names a folder that is not there yet.
    fresh = tmp_path / "fresh"
    name = _at(monkeypatch, 6)
    assert main(["backup", f"{fresh}/", "--keep", "1"]) == 0
    assert [p.name for p in fresh.iterdir()] == [name]


def test_backup_keep_never_deletes_the_backup_just_made(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    later = []
    for day in (20, 21, 22):
        later.append(_at(monkeypatch, day))
        assert main(["backup", str(folder)]) == 0
    # The clock set back: the new backup's name is older than every other one.
    earliest = _at(monkeypatch, 1)
    capsys.readouterr()
    assert main(["backup", str(folder), "--keep", "2"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [earliest, later[-1]]
    assert capsys.readouterr().out.count("deleted old backup") == 2


@pytest.mark.parametrize("keep", ["0", "-1", "two", "1.5", ""])
def test_backup_keep_below_one_or_not_a_number_is_refused_before_any_backup(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], keep: str
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "unknot-2026-10-01T020000Z.db").write_text("an old backup")
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(["backup", str(folder), "--keep", keep])
    assert refused.value.code == 2
    assert f"argument --keep: must be a whole number of at least 1, not {keep!r}" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["unknot-2026-10-01T020000Z.db"]


def test_backup_keep_is_refused_with_a_file_name(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A name the clinic chose tells nothing of which files beside it are backups.
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(settings.sqlite_path))
    assert main(["init"]) == 0
    target = tmp_path / "backups" / "tonight.db"
    capsys.readouterr()
    assert main(["backup", str(target), "--keep", "3"]) == 2
    assert "--keep needs the backup folder" in capsys.readouterr().err
    assert not target.parent.exists()
