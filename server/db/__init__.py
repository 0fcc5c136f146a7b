"""The database: SQLite embedded by default, PostgreSQL for several app processes.

:func:`open_database` is the one place that chooses the backend from the settings.

What several app processes on one PostgreSQL database share, and what each keeps to itself:

- Shared, in the database: therapist sessions (the cookie's hash; the CSRF token is derived
  from the cookie), failed sign-in and join attempts (``attempt``, counted under an advisory
  lock per key), invites (used up by one conditional update) and device tokens, reminder
  rules and the delivery log (claimed with ``FOR UPDATE SKIP LOCKED`` under a lease), the
  schema version (migrations take one advisory lock, so processes may start together).
- Per process, and safe to be: the content catalog (read-only, loaded from ``plans/`` at
  start: deploy the same ``plans/`` everywhere), the memo of decoded plans keyed by
  ``(plan id, version)`` (a version never changes and plan ids are identities, never
  handed out twice), hints of the plan version last served to a patient or device (each read
  checks its hint in the database), the connection pool, and the scheduler's hourly prune timer.
- Shared by configuration: the VAPID key pair in ``UNKNOT_DATA_DIR`` must be the same file in
  every process (make it once with ``unknot vapid-keys`` and copy it), or browsers subscribed
  through one process refuse messages signed by another.
"""

from __future__ import annotations

import sqlite3

import asyncpg

from server.db.connection import Database, SQLiteDatabase
from server.db.postgres import PostgresDatabase, is_postgres_url
from server.settings import Settings

__all__ = ["IntegrityError", "open_database"]

# A constraint said no (a duplicate key, a missing parent row), on either backend.
IntegrityError = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


def open_database(settings: Settings) -> Database:
    """The database ``settings.database_url`` names, not yet connected.

    ``postgresql://...`` (or ``postgres://``) selects PostgreSQL; anything else is a SQLite
    file path, optionally written ``sqlite:///path``.
    """
    if is_postgres_url(settings.database_url):
        return PostgresDatabase(settings.database_url, max_size=settings.database_pool_size)
    return SQLiteDatabase(settings.sqlite_path)
