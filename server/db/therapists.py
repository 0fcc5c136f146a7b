"""Therapist accounts, sessions and failed-attempt counters."""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from server.clock import iso
from server.db.connection import Database, Transaction, dialects

__all__ = [
    "Therapist",
    "clear_attempts",
    "count_attempt",
    "create_session",
    "create_therapist",
    "delete_session",
    "forget_attempt",
    "replace_password",
    "therapist_by_email",
    "therapist_for_session",
]


class Therapist(Struct, frozen=True):
    """A therapist account (without its password hash)."""

    id: int
    email: str
    name: str


async def create_therapist(tx: Transaction, email: str, name: str, password_hash: str, now: dt.datetime) -> int:
    """Insert an account; returns its id."""
    row = await tx.fetch_one(
        "INSERT INTO therapist (email, name, password_hash, created_at) VALUES (:email, :name, :hash, :now) "
        "RETURNING id",
        {"email": email.lower(), "name": name, "hash": password_hash, "now": iso(now)},
    )
    assert row is not None
    return row["id"]


async def therapist_by_email(db: Database, email: str) -> tuple[Therapist, str] | None:
    """The account and its password hash, or ``None``."""
    row = await db.fetch_one(
        "SELECT id, email, name, password_hash FROM therapist WHERE email = :email", {"email": email.lower()}
    )
    return (Therapist(row["id"], row["email"], row["name"]), row["password_hash"]) if row else None


async def create_session(db: Database, token_hash: str, therapist_id: int, now: dt.datetime, hours: int) -> None:
    """Store a new session; expired ones of the same therapist are cleared on the way."""
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM therapist_session WHERE therapist_id = :tid AND expires_at <= :now",
            {"tid": therapist_id, "now": iso(now)},
        )
        await tx.execute(
            "INSERT INTO therapist_session (token_hash, therapist_id, created_at, expires_at) "
            "VALUES (:hash, :tid, :now, :expires)",
            {"hash": token_hash, "tid": therapist_id, "now": iso(now), "expires": iso(now + dt.timedelta(hours=hours))},
        )


async def therapist_for_session(db: Database, token_hash: str, now: dt.datetime) -> Therapist | None:
    """The therapist behind a live session, or ``None``."""
    row = await db.fetch_one(
        "SELECT t.id, t.email, t.name FROM therapist_session s JOIN therapist t ON t.id = s.therapist_id "
        "WHERE s.token_hash = :hash AND s.expires_at > :now",
        {"hash": token_hash, "now": iso(now)},
    )
    return Therapist(row["id"], row["email"], row["name"]) if row else None


async def delete_session(db: Database, token_hash: str) -> None:
    """End a session."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM therapist_session WHERE token_hash = :hash", {"hash": token_hash})


async def replace_password(db: Database, therapist_id: int, password_hash: str, keep_session: str | None) -> int:
    """Set a new password hash and end every session of the account but ``keep_session`` (a token
    hash); returns how many sessions ended."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE therapist SET password_hash = :hash WHERE id = :tid", {"hash": password_hash, "tid": therapist_id}
        )
        return await tx.execute(
            "DELETE FROM therapist_session WHERE therapist_id = :tid AND token_hash <> :keep",
            {"tid": therapist_id, "keep": keep_session or ""},
        )


async def count_attempt(db: Database, keys: list[str], now: dt.datetime, window: dt.timedelta) -> dict[str, int]:
    """Record one attempt under each key; returns how many each key has had in ``window``.

    Recording before counting, in one write transaction, keeps the limit exact when
    many attempts arrive at once.
    """
    since = iso(now - window)
    counts = {}
    async with db.transaction() as tx:
        # Across processes on PostgreSQL: one counter at a time per key, so each sees the others.
        for key in sorted(keys):
            await tx.serialize(f"unknot.attempt:{key}")
        await tx.execute("DELETE FROM attempt WHERE at < :since", {"since": since})
        await tx.executemany(
            "INSERT INTO attempt (key, at) VALUES (:key, :at)", [{"key": k, "at": iso(now)} for k in keys]
        )
        for key in keys:
            row = await tx.fetch_one(
                "SELECT count(*) AS n FROM attempt WHERE key = :key AND at >= :since", {"key": key, "since": since}
            )
            counts[key] = row["n"] if row else 0
    return counts


# One row of several alike (attempts in the same microsecond): SQLite's rowid, PostgreSQL's ctid.
_FORGET_ONE = dialects(
    sqlite="DELETE FROM attempt WHERE rowid = (SELECT rowid FROM attempt WHERE key = :key AND at = :at LIMIT 1)",
    postgresql="DELETE FROM attempt WHERE ctid = (SELECT ctid FROM attempt WHERE key = :key AND at = :at LIMIT 1)",
)


async def forget_attempt(db: Database, keys: list[str], now: dt.datetime) -> None:
    """Take back the attempt :func:`count_attempt` recorded at ``now`` under each key: it succeeded,
    and the limits are for failures (a clinic's sign-ins and joins share one address)."""
    async with db.transaction() as tx:
        for key in sorted(keys):
            await tx.serialize(f"unknot.attempt:{key}")
            await tx.execute(_FORGET_ONE[tx.dialect], {"key": key, "at": iso(now)})


async def clear_attempts(db: Database, key: str) -> None:
    """Forget the attempts under ``key`` (after a success)."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM attempt WHERE key = :key", {"key": key})
