"""Consistent copies of the SQLite database while the server runs, and putting one back."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from server.db.migrate import latest_version

__all__ = ["BackupError", "backup", "check", "restore"]


class BackupError(RuntimeError):
    """A backup file that must not be restored, or a copy that failed."""


def check(path: Path) -> int:
    """Check a database file; returns its schema version.

    Raises:
        BackupError: not a database, damaged, or from a newer Unknot.
    """
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"{path}: integrity check failed: {result}")
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not an Unknot database ({exc})") from None
    if version > latest_version():
        raise BackupError(f"{path}: schema version {version} is newer than this Unknot ({latest_version()})")
    return version


def _copy(source: Path, target: Path) -> None:
    """Copy with SQLite's online backup API: a consistent snapshot even while another process writes."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"cannot copy {source} to {target}: {exc}") from None


def backup(database: Path, target: Path) -> int:
    """Copy the live ``database`` to ``target`` (which must not exist); returns the schema version."""
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    partial = target.with_name(target.name + ".partial")
    try:
        partial.unlink(missing_ok=True)  # left by a copy that was killed
        _copy(database, partial)
        version = check(partial)
        partial.rename(target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupError(f"cannot write {target}: {exc}") from None
        raise
    return version


def restore(source: Path, database: Path) -> int:
    """Replace ``database`` with the checked backup ``source``; returns its schema version.

    Stop the server first: a running server keeps its connections to the old file.
    """
    version = check(source)
    _copy(source, database)
    return version
