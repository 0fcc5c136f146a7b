"""Therapist accounts, sessions, remembered browsers (device cookies) and failed-attempt counters."""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from server.clock import iso, parse_iso
from server.db import audit
from server.db.connection import Database, Reader, Transaction, dialects

__all__ = [
    "LiveSession",
    "NotTheirs",
    "StillHolds",
    "Therapist",
    "clear_account_attempts",
    "clear_attempts",
    "close_account",
    "count_attempt",
    "create_session",
    "create_therapist",
    "delete_session",
    "device_is_live",
    "forget_attempt",
    "is_closed",
    "patients_of",
    "remember_device",
    "reopen_account",
    "replace_password",
    "therapist_by_email",
    "therapist_for_session",
    "touch_session",
    "transfer_patients",
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


async def create_session(
    db: Database, token_hash: str, therapist_id: int, now: dt.datetime, hours: int, *, idle: dt.timedelta
) -> str:
    """Store a new session and return when it ends however much it is used (its ``expires_at``);
    every account's ended ones (past their hours, or unused for ``idle``) are cleared on the way,
    so a tablet's forgotten session is not kept until its therapist signs in again (both conditions
    are indexed: migration 0017)."""
    expires = iso(now + dt.timedelta(hours=hours))
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM therapist_session WHERE expires_at <= :now OR last_used_at <= :idle_since",
            {"now": iso(now), "idle_since": iso(now - idle)},
        )
        await tx.execute(
            "INSERT INTO therapist_session (token_hash, therapist_id, created_at, expires_at, last_used_at) "
            "VALUES (:hash, :tid, :now, :expires, :now)",
            {"hash": token_hash, "tid": therapist_id, "now": iso(now), "expires": expires},
        )
    return expires


class LiveSession(Struct, frozen=True):
    """The therapist behind a live session, when it was last used, and when it ends however much
    it is used (``expires_at``, ISO)."""

    therapist: Therapist
    last_used: dt.datetime
    expires_at: str


async def therapist_for_session(
    db: Database, token_hash: str, now: dt.datetime, idle: dt.timedelta
) -> LiveSession | None:
    """The live session of a token, or ``None``: a session ends 12 hours after sign-in, or once
    unused for ``idle``."""
    row = await db.fetch_one(
        "SELECT t.id, t.email, t.name, s.last_used_at, s.expires_at FROM therapist_session s "
        "JOIN therapist t ON t.id = s.therapist_id "
        "WHERE s.token_hash = :hash AND s.expires_at > :now AND s.last_used_at > :idle_since "
        "AND t.closed_at IS NULL",
        {"hash": token_hash, "now": iso(now), "idle_since": iso(now - idle)},
    )
    if row is None:
        return None
    therapist = Therapist(row["id"], row["email"], row["name"])
    return LiveSession(therapist, parse_iso(row["last_used_at"]), row["expires_at"])


async def touch_session(db: Database, token_hash: str, now: dt.datetime) -> None:
    """Record that a session was used."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE therapist_session SET last_used_at = :now WHERE token_hash = :hash",
            {"now": iso(now), "hash": token_hash},
        )


async def name_of(db: Database, therapist_id: int) -> str:
    """A therapist's name as their patients see it ("" when the account is gone)."""
    row = await db.fetch_one("SELECT name FROM therapist WHERE id = :id", {"id": therapist_id})
    return row["name"] if row else ""


async def is_closed(db: Database, therapist_id: int) -> bool:
    """Whether the account was closed (its therapist left the clinic)."""
    row = await db.fetch_one("SELECT closed_at FROM therapist WHERE id = :tid", {"tid": therapist_id})
    return row is not None and row["closed_at"] is not None


async def patients_of(db: Reader, therapist_id: int) -> int:
    """How many patients the therapist holds, archived ones included."""
    row = await db.fetch_one("SELECT count(*) AS n FROM patient WHERE therapist_id = :tid", {"tid": therapist_id})
    return row["n"] if row else 0


class StillHolds(Exception):
    """The account still holds patients (how many); it was not closed."""


async def close_account(tx: Transaction, therapist_id: int, now: dt.datetime, idle: dt.timedelta) -> int | None:
    """Close an account that holds no patients: no sign-in from now on; returns the sessions ended
    that were live at ``now`` (one that ran out, or sat unused for ``idle``, had ended already), or
    None if it was closed already (nothing changed: it keeps the date it was closed on).

    Closed first, counted after: a patient created meanwhile is either counted or refused (see
    patients.create_patient), never left with an account nobody can use.

    Raises:
        StillHolds: with the number of patients (the transaction is to be rolled back).
    """
    closing = await tx.execute(
        "UPDATE therapist SET closed_at = :now WHERE id = :tid AND closed_at IS NULL",
        {"tid": therapist_id, "now": iso(now)},
    )
    if not closing:
        return None
    if held := await patients_of(tx, therapist_id):
        raise StillHolds(held)
    await tx.execute("DELETE FROM therapist_device WHERE therapist_id = :tid", {"tid": therapist_id})
    return await _end_sessions(tx, therapist_id, now, idle)


async def reopen_account(tx: Transaction, therapist_id: int) -> bool:
    """Let a closed account sign in again (with the password it had); False if it was open already."""
    return bool(
        await tx.execute(
            "UPDATE therapist SET closed_at = NULL WHERE id = :tid AND closed_at IS NOT NULL", {"tid": therapist_id}
        )
    )


class NotTheirs(Exception):
    """Patient ids the giving therapist does not hold; nothing was moved."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        super().__init__(ids)


async def transfer_patients(
    tx: Transaction, giver: Therapist, taker: Therapist, patient_ids: list[int] | None, now: dt.datetime
) -> list[int]:
    """Give the patients of one therapist (all, or those listed) to another, each move in the patient's
    audit trail; returns the ids moved. Plans, logs, devices and reminders stay with the patient.

    Raises:
        NotTheirs: listed ids the giver does not hold (the transaction is rolled back).
    """
    if patient_ids is None:
        rows = await tx.fetch_all("SELECT id FROM patient WHERE therapist_id = :tid ORDER BY id", {"tid": giver.id})
        patient_ids = [r["id"] for r in rows]
    patient_ids = list(dict.fromkeys(patient_ids))  # a repeated id would find its patient moved already
    moved, missing = [], []
    for pid in patient_ids:
        changed = await tx.execute(
            "UPDATE patient SET therapist_id = :taker WHERE id = :pid AND therapist_id = :giver",
            {"taker": taker.id, "pid": pid, "giver": giver.id},
        )
        (moved if changed else missing).append(pid)
    if missing:
        raise NotTheirs(missing)
    detail = f"moved from {giver.name} <{giver.email}> to {taker.name} <{taker.email}> by the clinic's administrator"
    for pid in moved:
        await audit.record(tx, None, pid, "patient.transfer", now, detail)
    return moved


async def delete_session(db: Database, token_hash: str) -> None:
    """End a session."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM therapist_session WHERE token_hash = :hash", {"hash": token_hash})


async def replace_password(
    db: Database,
    therapist_id: int,
    password_hash: str,
    keep_session: str | None,
    keep_device: str | None = None,
    renew_session: str | None = None,
    *,
    now: dt.datetime,
    idle: dt.timedelta,
) -> int:
    """Set a new password hash, end every session of the account but ``keep_session`` and forget
    every remembered browser but ``keep_device`` (token hashes); returns how many sessions ended
    that were live at ``now`` (one that ran out, or sat unused for ``idle``, had ended already).
    With ``renew_session`` the kept session goes on under that token hash instead (a copy of its
    old cookie, taken by whoever made the password change necessary, stops working)."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE therapist SET password_hash = :hash WHERE id = :tid", {"hash": password_hash, "tid": therapist_id}
        )
        if keep_session is not None and renew_session is not None:
            await tx.execute(
                "UPDATE therapist_session SET token_hash = :new WHERE token_hash = :old AND therapist_id = :tid",
                {"new": renew_session, "old": keep_session, "tid": therapist_id},
            )
            keep_session = renew_session
        # A browser remembered while someone else knew the password would keep its own guessing
        # allowance against the new one, outside the account-wide limit.
        await tx.execute(
            "DELETE FROM therapist_device WHERE therapist_id = :tid AND token_hash <> :keep",
            {"tid": therapist_id, "keep": keep_device or ""},
        )
        return await _end_sessions(tx, therapist_id, now, idle, keep=keep_session)


async def _end_sessions(
    tx: Transaction, therapist_id: int, now: dt.datetime, idle: dt.timedelta, *, keep: str | None = None
) -> int:
    """End every session of the account but ``keep`` (a token hash); returns how many were live at
    ``now``: one that ran out, or sat unused for ``idle``, had ended already and is not counted."""
    others = {"tid": therapist_id, "keep": keep or ""}
    live = await tx.fetch_one(
        "SELECT count(*) AS n FROM therapist_session WHERE therapist_id = :tid AND token_hash <> :keep "
        "AND expires_at > :now AND last_used_at > :idle_since",
        {**others, "now": iso(now), "idle_since": iso(now - idle)},
    )
    await tx.execute("DELETE FROM therapist_session WHERE therapist_id = :tid AND token_hash <> :keep", others)
    return live["n"] if live else 0


# Browsers that drop their cookies would otherwise add one each sign-in; the oldest beyond this are
# forgotten, and such a browser is only limited like any other again.
MAX_DEVICES_PER_THERAPIST = 20


async def remember_device(
    db: Database, token_hash: str, therapist_id: int, now: dt.datetime, days: int, replaces: str | None
) -> None:
    """Remember a browser the therapist signed in from, in place of ``replaces`` (the hash of the
    browser's previous device cookie, if it was this account's); expired ones, and the oldest past
    :data:`MAX_DEVICES_PER_THERAPIST`, are cleared on the way."""
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM therapist_device WHERE therapist_id = :tid AND (expires_at <= :now OR token_hash = :old)",
            {"tid": therapist_id, "now": iso(now), "old": replaces or ""},
        )
        await tx.execute(
            "INSERT INTO therapist_device (token_hash, therapist_id, created_at, expires_at) "
            "VALUES (:hash, :tid, :now, :expires)",
            {"hash": token_hash, "tid": therapist_id, "now": iso(now), "expires": iso(now + dt.timedelta(days=days))},
        )
        await tx.execute(
            "DELETE FROM therapist_device WHERE therapist_id = :tid AND token_hash NOT IN ("
            "SELECT token_hash FROM therapist_device WHERE therapist_id = :tid "
            "ORDER BY created_at DESC, token_hash LIMIT :keep)",
            {"tid": therapist_id, "keep": MAX_DEVICES_PER_THERAPIST},
        )


async def device_is_live(db: Database, token_hash: str, email: str, now: dt.datetime) -> bool:
    """Whether a device cookie (its hash) is a live remembered browser of the account ``email``."""
    row = await db.fetch_one(
        "SELECT 1 AS ok FROM therapist_device d JOIN therapist t ON t.id = d.therapist_id "
        "WHERE d.token_hash = :hash AND t.email = :email AND d.expires_at > :now",
        {"hash": token_hash, "email": email.lower(), "now": iso(now)},
    )
    return row is not None


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


async def clear_attempts(db: Database, keys: list[str]) -> None:
    """Forget the attempts under each of ``keys`` (after a success)."""
    async with db.transaction() as tx:
        await tx.executemany("DELETE FROM attempt WHERE key = :key", [{"key": k} for k in keys])


async def clear_account_attempts(db: Database, email: str) -> int:
    """Forget an account's failed sign-ins, from anywhere and from each address (an administrator's
    reset lets the therapist in at once); returns how many were forgotten. Attempts counted per
    address only are not the account's and stay."""
    account = f"login:{email.lower()}"
    pattern = account.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "|%"
    async with db.transaction() as tx:
        rows = await tx.fetch_all(
            "SELECT DISTINCT key FROM attempt WHERE key = :account OR key LIKE :pattern ESCAPE '\\'",
            {"account": account, "pattern": pattern},
        )
        # An email may hold "|" itself: only "login:<email>|<address>" is this account's, and an
        # address never holds one.
        keys = [r["key"] for r in rows if r["key"] == account or "|" not in r["key"][len(account) + 1 :]]
        forgotten = 0
        for key in keys:
            forgotten += await tx.execute("DELETE FROM attempt WHERE key = :key", {"key": key})
        return forgotten
