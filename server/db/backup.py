"""Consistent copies of the SQLite database while the server runs, and putting one back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from server.clock import iso
from server.db.connection import DatabaseInUse, Memo, SQLiteTransaction, claim_file, create_private, no_space_left
from server.db.migrate import MIGRATIONS_DIR, latest_version, load_migrations

__all__ = [
    "BackupError",
    "Restored",
    "backup",
    "backup_name",
    "check",
    "claim_alone",
    "expected_schema",
    "prune",
    "read_only",
    "restore",
]


class BackupError(RuntimeError):
    """A backup file that must not be restored, or a copy that failed."""


def read_only(path: Path) -> str:
    """The URI that opens ``path`` read-only.

    Escaped: in a bare ``file:`` URI a ``#`` or ``?`` in the name would end the path there, and
    the file before it (another database, or a new empty one) would be opened instead.
    """
    return Path(path).resolve().as_uri() + "?mode=ro"


def _schema(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    """Every table in ``conn`` and its columns, leaving out SQLite's own (``sqlite_sequence``, ``sqlite_stat1``)."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        )
    ]
    return {t: frozenset(r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (t,))) for t in tables}


@functools.cache
def expected_schema(version: int) -> dict[str, frozenset[str]]:
    """The tables and columns an Unknot database at schema ``version`` has: its migrations run on an empty database.

    Derived, not listed, so that a new migration cannot leave the check behind.
    """
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for migration in load_migrations(MIGRATIONS_DIR)[:version]:
            for statement in migration.statements():
                conn.execute(statement)
        return _schema(conn)


def _missing(conn: sqlite3.Connection, version: int) -> str | None:
    """What ``conn`` lacks of the schema ``version`` must have, or ``None``."""
    found = _schema(conn)
    expected = expected_schema(version)
    tables = sorted(set(expected) - set(found))
    if tables:
        return f"tables {', '.join(tables)}"
    columns = sorted(f"{t}.{c}" for t in expected for c in expected[t] - found[t])
    return f"columns {', '.join(columns)}" if columns else None


def check(path: Path) -> int:
    """Check that a file is a sound Unknot database this code can open; returns its schema version.

    Raises:
        BackupError: not a database, damaged, from a newer Unknot, or without the tables and columns
            its schema version must have (another program's SQLite file).
    """
    if path.is_dir():  # the folder `unknot backup FOLDER` writes in, given for one of its backups
        raise BackupError(f"{path} is a folder; name a database file (a backup in it is unknot-<UTC date and time>.db)")
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with contextlib.closing(sqlite3.connect(read_only(path), uri=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"{path}: integrity check failed: {result}")
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            # 0 (no migration applied) holds no data: restored, the sessions could not even be ended.
            if not isinstance(version, int) or version < 1:
                raise BackupError(f"{path}: not an Unknot database (no schema version recorded in it)")
            latest = latest_version()
            if version > latest:
                raise BackupError(
                    f"{path}: schema version {version} was made by a newer Unknot (this one knows up to {latest}): "
                    "upgrade Unknot before restoring it"
                )
            missing = _missing(conn, version)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not an Unknot database ({exc})") from None
    if missing:
        raise BackupError(f"{path}: not an Unknot database: schema version {version} but no {missing}")
    return version


def _copy(source: Path, target: Path) -> None:
    """Copy with SQLite's online backup API: a consistent snapshot even while another process writes.

    The copy is one file (no -wal beside it) that only its owner can read: it is health data.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        create_private(target)
        src = sqlite3.connect(read_only(source), uri=True)
        with contextlib.closing(src), contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
            # The copy takes the source's WAL mode; a reader of a WAL file leaves -wal and -shm beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
    except (OSError, sqlite3.Error) as exc:
        if no_space_left(exc, target.parent):  # SQLite may say only "disk I/O error"
            raise BackupError(
                f"cannot copy {source} to {target}: the disk that holds it is full: free space on it, "
                "then run the command again"
            ) from None
        raise BackupError(f"cannot copy {source} to {target}: {exc}") from None


def _writable(target: Path) -> None:
    """Refuse, naming the folder, a ``target`` in a folder this user cannot write: the copy would fail
    on its ``.partial`` file, a name the operator never gave, or in SQLite's words ("unable to open
    database file")."""
    try:  # the nearest folder there is: the copy makes those missing below it
        folder = next(p for p in (target.parent.absolute(), *target.parent.absolute().parents) if p.exists())
        read_only = folder.is_dir() and os.statvfs(folder).f_flag & os.ST_RDONLY
    except OSError:
        return  # a folder it may not look into: the copy says what it meets
    if not folder.is_dir():
        return  # a file where a folder should be: likewise
    if read_only:
        raise BackupError(f"cannot write {target}: the folder {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK):
        raise BackupError(f"cannot write {target}: the folder {folder} is not writable by this user")


def backup(database: Path, target: Path) -> int:
    """Copy the live ``database`` to ``target`` (which must not exist); returns the schema version."""
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    _writable(target)
    partial = target.with_name(target.name + ".partial")
    with _made_aside(partial, f"cannot write {target}"):
        partial.unlink(missing_ok=True)  # left by a copy that was killed
        _copy(database, partial)
        version = check(partial)
        partial.rename(target)
    return version


# Only names of this shape are ever deleted by prune(): whatever else is in the folder is someone's.
_BACKUP_NAME = re.compile(r"unknot-\d{4}-\d{2}-\d{2}T\d{6}Z\.db")


def backup_name(moment: dt.datetime) -> str:
    """The file name of a backup made at ``moment`` into a folder: UTC, so that names sort as time does."""
    return "unknot-" + iso(moment).replace(":", "") + ".db"


def prune(folder: Path, keep: int, made: Path) -> tuple[list[Path], list[str]]:
    """Delete the oldest backups in ``folder`` so that the newest ``keep`` (at least 1) are left.

    Only files named as :func:`backup_name` names them count, oldest by name; ``made``, the backup
    just written, is always one of those kept, even if a clock set back gave it an older name.
    Returns the files deleted and what could not be deleted.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    try:
        named = sorted(
            p
            for p in folder.iterdir()
            if _BACKUP_NAME.fullmatch(p.name) and p.name != made.name and p.is_file() and not p.is_symlink()
        )
    except OSError as exc:
        return [], [f"cannot list the old backups in {folder}: {exc}"]
    deleted, failed = [], []
    for old in named[: max(len(named) - (keep - 1), 0)]:
        try:
            old.unlink()
        except OSError as exc:
            failed.append(f"cannot delete the old backup {old}: {exc}")
        else:
            deleted.append(old)
    return deleted, failed


@contextlib.contextmanager
def _made_aside(path: Path, failing: str) -> Iterator[None]:
    """Remove the half-made ``path`` when making it fails; an OSError is a BackupError starting ``failing``."""
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupError(f"{failing}: {exc}") from None
        raise


def claim_alone(database: Path, failing: str) -> int:
    """The exclusive claim on ``database`` (a file descriptor to close), refused as a BackupError while
    another program (a running server) has it open; any other OSError starts with ``failing``."""
    try:
        return claim_file(database, alone=True)
    except DatabaseInUse as exc:
        raise BackupError(str(exc)) from None
    except OSError as exc:
        raise BackupError(f"{failing}: {exc}") from None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sign_everyone_out(path: Path) -> None:
    """Drop every therapist session and remembered browser in the restored copy.

    The backup still holds sessions that a password change or an account closure since then ended;
    kept, they would let in whoever had stolen one. A browser forgotten since then (a password
    change, a reset) would get back its own sign-in limit, apart from the account's.
    """
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA secure_delete=ON")
            with conn:
                conn.execute("DELETE FROM therapist_session")
                # A backup made before schema version 9 has no remembered browsers.
                if conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'therapist_device'"
                ).fetchone():
                    conn.execute("DELETE FROM therapist_device")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot end the sessions in the restored copy {path}: {exc}") from None


@dataclass(frozen=True)
class Restored:
    """What a restore put back, and what it took out again."""

    version: int
    erased_again: int | None
    """Patients erased since the backup and erased again; ``None`` if the replaced database was unreadable."""
    unread: str = ""
    """Why the replaced database could not be read."""


def _erasures(database: Path) -> list[tuple[Any, ...]] | str:
    """The replaced database's erasure audit rows (the only record of who was erased), or why it cannot be read."""
    if not database.exists():
        return "it does not exist"
    try:
        with contextlib.closing(sqlite3.connect(read_only(database), uri=True)) as conn:
            return conn.execute(
                "SELECT at, therapist_id, patient_id, action, detail FROM audit "
                "WHERE action = 'patient.erase' AND patient_id IS NOT NULL ORDER BY id"
            ).fetchall()
    except sqlite3.Error as exc:
        return str(exc)


async def _erase(path: Path, erasures: Sequence[tuple[Any, ...]]) -> int:
    from server.db import audit, patients

    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in ("PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON", "BEGIN IMMEDIATE"):
            await conn.execute(pragma)
        tx = SQLiteTransaction(conn, Memo())
        erased = 0
        for at, therapist_id, patient_id, action, detail in erasures:
            # Ids are reused: the backup's patient is the erased one only if it existed by then.
            row = await tx.fetch_one(
                "SELECT therapist_id FROM patient WHERE id = :pid AND created_at <= :at", {"pid": patient_id, "at": at}
            )
            if row is not None:
                await patients.delete_patient(tx, row["therapist_id"], patient_id)
                await audit.forget_patient(tx, patient_id)
                erased += 1
            # As the API leaves it: the erasure stays on record, for the next restore too.
            await tx.execute(
                "INSERT INTO audit (at, therapist_id, patient_id, action, detail) "
                "SELECT :at, :tid, :pid, :action, :detail WHERE NOT EXISTS ("
                "SELECT 1 FROM audit WHERE at = :at AND patient_id = :pid AND action = :action)",
                {"at": at, "tid": therapist_id, "pid": patient_id, "action": action, "detail": detail},
            )
        await conn.execute("COMMIT")
        return erased
    finally:
        await conn.close()


def _erase_again(path: Path, erasures: Sequence[tuple[Any, ...]]) -> int:
    """Erase again, in the restored copy, the patients the replaced database had erased; returns how many."""
    try:
        # A thread of its own, so that this works whether or not the caller runs an event loop.
        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(asyncio.run, _erase(path, erasures)).result()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot erase again the patients erased since the backup in {path}: {exc}") from None


def restore(source: Path, database: Path) -> Restored:
    """Replace ``database`` with the checked backup ``source``.

    Patients that ``database`` records as erased are erased again in the restored copy.

    Refused while another program has ``database`` open: a running server would go on with what
    it had read and cached, and write into the restored file as if nothing had changed.
    """
    version = check(source)
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot restore to {database}: {exc}") from None
    claim = claim_alone(database, f"cannot restore to {database}")
    # Built beside the database and renamed over it: the current file is never opened as a target,
    # so a damaged one (the usual reason to restore) cannot refuse the copy.
    restoring = database.with_name(database.name + ".restoring")
    try:
        with _made_aside(restoring, f"cannot restore to {database}"):
            restoring.unlink(missing_ok=True)  # left by a restore that was killed
            erasures = _erasures(database)
            _copy(source, restoring)
            _sign_everyone_out(restoring)
            erased_again = None if isinstance(erasures, str) else _erase_again(restoring, erasures)
            _fsync(restoring)
            # The old file's -wal would be replayed into the restored one (and a -journal rolled back
            # onto it); nobody else has the database open, so they hold nothing anyone still needs.
            for leftover in ("-wal", "-shm", "-journal"):
                Path(f"{database}{leftover}").unlink(missing_ok=True)
            os.replace(restoring, database)
            _fsync(database.parent)
    finally:
        os.close(claim)
    if isinstance(erasures, str):
        return Restored(version, None, erasures)
    return Restored(version, erased_again)
