"""Patients, their invites and devices. Every query is scoped to the owning therapist
or to the patient's own device."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Literal

from msgspec import Struct

from server.clock import iso
from server.db import audit
from server.db.connection import Database, Row, Transaction, dialects
from server.db.plans import PLAN_DAY_COLUMNS, PlanDays, last_served, plan_days

__all__ = [
    "IDLE",
    "Device",
    "Patient",
    "PatientIdentity",
    "by_name",
    "create_invite",
    "create_patient",
    "delete_patient",
    "devices_of",
    "exchange_invite",
    "expire_device",
    "expire_idle_devices",
    "expired_token",
    "get_patient",
    "identity_for_token",
    "list_patients",
    "revoke_device",
    "revoke_devices",
    "touch_device",
    "update_own_settings",
    "update_patient",
    "withdraw_invites",
]


class Patient(Struct, frozen=True):
    """A patient as their therapist sees them."""

    id: int
    display_name: str
    timezone: str
    locale: str
    created_at: str
    archived_at: str | None


class Device(Struct, frozen=True):
    """A phone or browser joined to a patient."""

    id: int
    label: str
    created_at: str
    last_seen_at: str
    revoked_at: str | None
    # Whether it gets push reminders: it holds a push subscription (a removed device holds none).
    # Reminder times are the patient's, the same on each of their phones (see reminders.rules_of).
    subscribed: bool
    # Revoked because it went unused for UNKNOT_DEVICE_IDLE_DAYS, not removed by the clinic.
    expired: bool = False


class PatientIdentity(Struct, frozen=True):
    """Who a device token belongs to."""

    patient_id: int
    device_id: int
    therapist_id: int
    display_name: str
    timezone: str
    locale: str
    last_seen_at: str
    # Read in the same statement when asked for, on PostgreSQL: see identity_for_token.
    plan_days: PlanDays | None = None


def _patient(row: Row) -> Patient:
    return Patient(*(row[k] for k in ("id", "display_name", "timezone", "locale", "created_at", "archived_at")))


# Only for an open account: a patient given to an account closed meanwhile would be seen by nobody.
# PostgreSQL takes the account's row FOR SHARE, so the insert waits for a close under way and sees it.
_CREATE = dialects(
    sqlite="INSERT INTO patient (therapist_id, display_name, timezone, locale, created_at) "
    "SELECT id, :name, :tz, :locale, :now FROM therapist WHERE id = :tid AND closed_at IS NULL "
    "RETURNING id, display_name, timezone, locale, created_at, archived_at",
    postgresql="INSERT INTO patient (therapist_id, display_name, timezone, locale, created_at) "
    "SELECT id, :name, :tz, :locale, :now FROM therapist WHERE id = :tid AND closed_at IS NULL FOR SHARE "
    "RETURNING id, display_name, timezone, locale, created_at, archived_at",
)


async def create_patient(
    tx: Transaction, therapist_id: int, display_name: str, timezone: str, locale: str, now: dt.datetime
) -> Patient | None:
    """Insert a patient for ``therapist_id``; ``None`` when that account is closed."""
    row = await tx.fetch_one(
        _CREATE[tx.dialect],
        {"tid": therapist_id, "name": display_name, "tz": timezone, "locale": locale, "now": iso(now)},
    )
    return _patient(row) if row else None


_LIST = (
    "SELECT id, display_name, timezone, locale, created_at, archived_at FROM patient WHERE therapist_id = :tid "
    "AND (archived_at IS NOT NULL) = :archived"
)


def by_name(name: str) -> str:
    """Sort key for people's names: case and accents ignored, so "Ávila" comes between "Andrés" and
    "Beatriz" on both backends (SQLite's NOCASE folds ASCII only; PostgreSQL follows its locale)."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()


async def list_patients(db: Database, therapist_id: int, *, archived: bool = False) -> list[Patient]:
    """The therapist's patients, by name."""
    rows = await db.fetch_all(_LIST, {"tid": therapist_id, "archived": archived})
    return sorted((_patient(r) for r in rows), key=lambda p: (by_name(p.display_name), p.id))


async def get_patient(db: Database | Transaction, therapist_id: int, patient_id: int) -> Patient | None:
    """One of the therapist's patients, or ``None`` (also when it belongs to someone else)."""
    row = await db.fetch_one(
        "SELECT id, display_name, timezone, locale, created_at, archived_at FROM patient "
        "WHERE id = :pid AND therapist_id = :tid",
        {"pid": patient_id, "tid": therapist_id},
    )
    return _patient(row) if row else None


async def update_patient(
    tx: Transaction,
    therapist_id: int,
    patient_id: int,
    changes: dict[str, object],
) -> Patient | None:
    """Apply ``changes`` (display_name, timezone, locale, archived_at) to an owned patient."""
    fields = ("display_name", "timezone", "locale", "archived_at")
    assert set(changes) <= set(fields)
    params: dict[str, object] = {"pid": patient_id, "tid": therapist_id}
    for name in fields:
        params[name] = changes.get(name)
        params[f"set_{name}"] = name in changes
    await tx.execute(
        "UPDATE patient SET "
        "display_name = CASE WHEN :set_display_name THEN :display_name ELSE display_name END, "
        "timezone = CASE WHEN :set_timezone THEN :timezone ELSE timezone END, "
        "locale = CASE WHEN :set_locale THEN :locale ELSE locale END, "
        "archived_at = CASE WHEN :set_archived_at THEN :archived_at ELSE archived_at END "
        "WHERE id = :pid AND therapist_id = :tid",
        params,
    )
    return await get_patient(tx, therapist_id, patient_id)


async def update_own_settings(tx: Transaction, patient_id: int, changes: dict[str, str]) -> None:
    """Apply a patient's own ``changes`` (timezone, locale), asked for with their device token."""
    assert changes
    assert set(changes) <= {"timezone", "locale"}
    params: dict[str, object] = {"pid": patient_id}
    for name in ("timezone", "locale"):
        params[name] = changes.get(name)
        params[f"set_{name}"] = name in changes
    await tx.execute(
        "UPDATE patient SET "
        "timezone = CASE WHEN :set_timezone THEN :timezone ELSE timezone END, "
        "locale = CASE WHEN :set_locale THEN :locale ELSE locale END "
        "WHERE id = :pid",
        params,
    )


async def erase_archived_patient(tx: Transaction, therapist_id: int, patient_id: int) -> bool:
    """Delete an owned, archived patient and everything about them (cascades); false when there is
    no such patient. One statement: a restore committed meanwhile leaves the patient as they are."""
    return (
        await tx.execute(
            "DELETE FROM patient WHERE id = :pid AND therapist_id = :tid AND archived_at IS NOT NULL",
            {"pid": patient_id, "tid": therapist_id},
        )
        == 1
    )


async def delete_patient(tx: Transaction, therapist_id: int, patient_id: int) -> bool:
    """Delete an owned patient and everything about them (cascades)."""
    return (
        await tx.execute(
            "DELETE FROM patient WHERE id = :pid AND therapist_id = :tid", {"pid": patient_id, "tid": therapist_id}
        )
        == 1
    )


async def create_invite(
    tx: Transaction, patient_id: int, code_hash: str, now: dt.datetime, expires: dt.datetime
) -> None:
    """Store a new invite code (hashed)."""
    await tx.execute(
        "INSERT INTO patient_invite (code_hash, patient_id, created_at, expires_at) VALUES (:h, :pid, :now, :exp)",
        {"h": code_hash, "pid": patient_id, "now": iso(now), "exp": iso(expires)},
    )


# The patient's row, taken for the rest of the transaction before its archived_at is trusted. At READ
# COMMITTED an archive under way (which updates this row first) would otherwise revoke the devices
# before the join's device is committed: a live device on an archived patient, back after a restore.
# FOR SHARE waits for that archive to commit and then reads its archived_at, or makes the archive
# wait for the join and revoke its device too. SQLite's write transactions run one at a time anyway.
_JOINABLE = dialects(
    sqlite="SELECT archived_at FROM patient WHERE id = :pid",
    postgresql="SELECT archived_at FROM patient WHERE id = :pid FOR SHARE",
)


# How long after a join the same phone may ask again for the answer it never received.
JOIN_RETRY = dt.timedelta(minutes=10)


async def exchange_invite(
    db: Database, code_hash: str, token_hash: str, label: str, now: dt.datetime, join_hash: str | None = None
) -> int | str:
    """Use an invite once: returns the patient id, or why it failed ("unknown", "used", "expired").

    An archived patient's codes are "unknown", also when the archive and the exchange run at once.
    ``join_hash`` (the hash of the phone's join id with the code) is kept with the new device: a
    used code whose device has it, joined less than JOIN_RETRY ago and not revoked, is the same
    join again (its answer was lost on the way), and that device's token becomes ``token_hash``.
    """
    async with db.transaction() as tx:
        found = await tx.fetch_one("SELECT patient_id FROM patient_invite WHERE code_hash = :h", {"h": code_hash})
        if found is None:
            return "unknown"
        patient_id = found["patient_id"]
        patient = await tx.fetch_one(_JOINABLE[tx.dialect], {"pid": patient_id})
        if patient is None or patient["archived_at"] is not None:
            return "unknown"
        # Read again under the lock: an archive that committed while the join waited withdrew the code.
        row = await tx.fetch_one(
            "SELECT used_at, expires_at FROM patient_invite WHERE code_hash = :h", {"h": code_hash}
        )
        if row is None:
            return "unknown"
        if row["used_at"] is not None:
            return await _join_again(tx, patient_id, token_hash, now, join_hash)
        if row["expires_at"] <= iso(now):
            return "expired"
        # Conditional, so that of two processes exchanging one code at once only one wins.
        used = await tx.execute(
            "UPDATE patient_invite SET used_at = :now WHERE code_hash = :h AND used_at IS NULL",
            {"now": iso(now), "h": code_hash},
        )
        if used != 1:
            # Another process used it meanwhile: the same phone's join, perhaps, sent again while
            # its first try was still under way (the app gave up waiting on it).
            return await _join_again(tx, patient_id, token_hash, now, join_hash)
        device = await tx.fetch_one(
            "INSERT INTO patient_device (token_hash, patient_id, label, created_at, last_seen_at, join_hash) "
            "VALUES (:t, :pid, :label, :now, :now, :j) RETURNING id",
            {"t": token_hash, "pid": patient_id, "label": label, "now": iso(now), "j": join_hash},
        )
        assert device is not None  # RETURNING gives the row just inserted
        # The therapist's history shows when a phone joined, as it shows when one was removed.
        await audit.record(tx, None, patient_id, "device.join", now, str(device["id"]))
        return patient_id


async def _join_again(
    tx: Transaction, patient_id: int, token_hash: str, now: dt.datetime, join_hash: str | None
) -> int | str:
    """A used code asked for again: the patient id when it is the same phone's join again (see
    exchange_invite), with a new token for its device (only hashes are kept, and the first token
    never reached the phone); else "used"."""
    if join_hash is None:
        return "used"
    # Conditional, so that a removal committed meanwhile (or by another process) is never undone.
    device = await tx.fetch_one(
        "UPDATE patient_device SET token_hash = :t WHERE patient_id = :pid AND join_hash = :j "
        "AND revoked_at IS NULL AND created_at > :since RETURNING id",
        {"t": token_hash, "pid": patient_id, "j": join_hash, "since": iso(now - JOIN_RETRY)},
    )
    if device is None:
        return "used"
    await audit.record(tx, None, patient_id, "device.join", now, str(device["id"]))
    return patient_id


_IDENTITY_COLUMNS = 7  # PatientIdentity's fields read from its row, in order


async def identity_for_token(
    db: Database, token_hash: str, *, plan_days_at: dt.datetime | None = None
) -> PatientIdentity | None:
    """The patient behind a live device token, or ``None`` (read again after any commit).

    With ``plan_days_at`` (a UTC moment), on PostgreSQL the identity comes with the active plan
    and what was logged on the UTC date before, of and after it, one of which is the patient's
    own date wherever they are: today's routine then needs no second round trip. SQLite keeps
    both answers from one request to the next (``until_change``), so it reads the identity alone.
    """
    if plan_days_at is not None and db.dialect == "postgresql":
        return await _identity_with_plan_days(db, token_hash, plan_days_at.date())

    async def read() -> PatientIdentity | None:
        row = await db.fetch_one(
            "SELECT d.patient_id, d.id AS device_id, p.therapist_id, p.display_name, p.timezone, p.locale, "
            "d.last_seen_at FROM patient_device d JOIN patient p ON p.id = d.patient_id "
            "WHERE d.token_hash = :t AND d.revoked_at IS NULL AND p.archived_at IS NULL",
            {"t": token_hash},
        )
        return PatientIdentity(*row) if row else None

    return await db.until_change(("device-token", token_hash), read)


_IDENTITY_WITH_PLAN_DAYS = (
    "SELECT d.patient_id, d.id AS device_id, p.therapist_id, p.display_name, p.timezone, p.locale, "
    "d.last_seen_at, " + PLAN_DAY_COLUMNS + "FROM patient_device d JOIN patient p ON p.id = d.patient_id "
    "LEFT JOIN plan pl ON pl.patient_id = p.id AND pl.status = 'active' "
    "LEFT JOIN completion c ON c.patient_id = pl.patient_id AND c.on_date BETWEEN :first AND :last "
    "AND c.withdrawn_at IS NULL "
    "WHERE d.token_hash = :t AND d.revoked_at IS NULL AND p.archived_at IS NULL"
)


async def _identity_with_plan_days(db: Database, token_hash: str, utc_date: dt.date) -> PatientIdentity | None:
    first, last = utc_date - dt.timedelta(days=1), utc_date + dt.timedelta(days=1)
    # The patient is known only from the answer, so the program hint is kept by token.
    hint = ("active-of-device", token_hash)
    seen, named = last_served(db.memo, hint)
    rows = await db.fetch_all(
        _IDENTITY_WITH_PLAN_DAYS,
        {"t": token_hash, "first": first.isoformat(), "last": last.isoformat(), **named},
    )
    if not rows:
        return None
    days = plan_days(rows, first, last, db.memo, hint, seen)
    return PatientIdentity(*tuple(rows[0])[:_IDENTITY_COLUMNS], plan_days=days)


async def touch_device(db: Database, device_id: int, now: dt.datetime) -> None:
    """Record that a device was seen."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE patient_device SET last_seen_at = :now WHERE id = :id", {"now": iso(now), "id": device_id}
        )


async def devices_of(db: Database, therapist_id: int, patient_id: int) -> list[Device]:
    """An owned patient's devices, newest first, each saying whether it gets push reminders."""
    rows = await db.fetch_all(
        "SELECT d.id, d.label, d.created_at, d.last_seen_at, d.revoked_at, "
        "EXISTS (SELECT 1 FROM push_subscription s WHERE s.device_id = d.id AND s.patient_id = p.id) "
        "AND d.revoked_at IS NULL AS subscribed, d.revoke_reason FROM patient_device d "
        "JOIN patient p ON p.id = d.patient_id WHERE p.id = :pid AND p.therapist_id = :tid ORDER BY d.id DESC",
        {"pid": patient_id, "tid": therapist_id},
    )
    return [Device(*r[:5], subscribed=bool(r[5]), expired=r[6] == IDLE) for r in rows]


async def revoke_device(
    tx: Transaction, therapist_id: int, patient_id: int, device_id: int, now: dt.datetime
) -> Literal["revoked", "already", "missing"]:
    """Revoke an owned patient's device: "revoked" now, "already" revoked before (left as it was),
    or "missing" when the patient has no such device (or is not this therapist's)."""
    params = {"now": iso(now), "did": device_id, "pid": patient_id, "tid": therapist_id}
    changed = await tx.execute(
        "UPDATE patient_device SET revoked_at = :now WHERE id = :did AND revoked_at IS NULL AND patient_id = "
        "(SELECT id FROM patient WHERE id = :pid AND therapist_id = :tid)",
        params,
    )
    if changed == 1:
        await _forget_subscriptions(tx, patient_id)
        return "revoked"
    found = await tx.fetch_one(
        "SELECT 1 AS found FROM patient_device WHERE id = :did AND patient_id = "
        "(SELECT id FROM patient WHERE id = :pid AND therapist_id = :tid)",
        params,
    )
    return "already" if found else "missing"


async def revoke_devices(tx: Transaction, therapist_id: int, patient_id: int, now: dt.datetime) -> list[int]:
    """Revoke every live device of an owned patient (on archiving); the ids revoked now, oldest first."""
    rows = await tx.fetch_all(
        "UPDATE patient_device SET revoked_at = :now WHERE revoked_at IS NULL AND patient_id = "
        "(SELECT id FROM patient WHERE id = :pid AND therapist_id = :tid) RETURNING id",
        {"now": iso(now), "pid": patient_id, "tid": therapist_id},
    )
    if rows:
        await _forget_subscriptions(tx, patient_id)
    return sorted(r["id"] for r in rows)


IDLE = "idle"  # patient_device.revoke_reason of a device that expired
_EXPIRE = (
    "UPDATE patient_device SET revoked_at = :now, revoke_reason = :reason "
    "WHERE revoked_at IS NULL AND last_seen_at < :since "
)
# Across patients: the scheduler's sweep, never reached from the API.
_EXPIRE_ALL = _EXPIRE + "RETURNING id, patient_id"
# The device of the token a request came with (see expire_device).
_EXPIRE_ONE = _EXPIRE + "AND id = :id RETURNING id, patient_id"


async def _expire(tx: Transaction, now: dt.datetime, since: dt.datetime, device_id: int | None) -> int:
    """Revoke live devices last seen before ``since`` (only ``device_id`` when given) as a removal
    does, each recorded in its patient's history; how many."""
    params: dict[str, object] = {"now": iso(now), "since": iso(since), "reason": IDLE}
    if device_id is None:
        rows = await tx.fetch_all(_EXPIRE_ALL, params)
    else:
        rows = await tx.fetch_all(_EXPIRE_ONE, {**params, "id": device_id})
    for r in sorted(rows, key=lambda r: r["id"]):
        await audit.record(tx, None, r["patient_id"], "device.expire", now, str(r["id"]))
    for patient_id in sorted({r["patient_id"] for r in rows}):
        await _forget_subscriptions(tx, patient_id)
    return len(rows)


async def expire_idle_devices(tx: Transaction, now: dt.datetime, since: dt.datetime) -> int:
    """Expire every live device last seen before ``since`` (the scheduler's sweep): its token stops
    working, its push subscriptions are deleted, and the console shows it expired; how many."""
    return await _expire(tx, now, since, None)


async def expire_device(db: Database, device_id: int, now: dt.datetime, since: dt.datetime) -> None:
    """Expire one device found unused since before ``since`` as it asked for something. Conditional:
    a device seen meanwhile (another request) or removed meanwhile is left as it is."""
    async with db.transaction() as tx:
        await _expire(tx, now, since, device_id)


async def expired_token(db: Database, token_hash: str) -> bool:
    """Whether a refused device token is one that expired (rather than was removed or never joined)."""
    row = await db.fetch_one(
        "SELECT 1 AS found FROM patient_device WHERE token_hash = :t AND revoke_reason = :reason",
        {"t": token_hash, "reason": IDLE},
    )
    return row is not None


async def _forget_subscriptions(tx: Transaction, patient_id: int) -> None:
    """Delete the push subscriptions of the patient's revoked devices: nothing is ever sent to them
    again, and a removed phone's push address and keys are not kept for nothing."""
    await tx.execute(
        "DELETE FROM push_subscription WHERE device_id IN "
        "(SELECT id FROM patient_device WHERE patient_id = :pid AND revoked_at IS NOT NULL)",
        {"pid": patient_id},
    )


async def withdraw_invites(tx: Transaction, therapist_id: int, patient_id: int, now: dt.datetime) -> int:
    """Delete an owned patient's unused invites, so no code handed out or printed for them joins a
    phone any more; the number of them that were still open (not expired). A used invite is kept:
    it is the record of a device's joining and opens nothing."""
    rows = await tx.fetch_all(
        "DELETE FROM patient_invite WHERE used_at IS NULL AND patient_id = "
        "(SELECT id FROM patient WHERE id = :pid AND therapist_id = :tid) RETURNING expires_at",
        {"pid": patient_id, "tid": therapist_id},
    )
    return sum(1 for r in rows if r["expires_at"] > iso(now))
