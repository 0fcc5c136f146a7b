"""Signals across a therapist's patients, in a few aggregate queries (not one per patient)."""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from server.db.connection import Database
from server.db.logs import LAST_ACTIVITY
from server.db.patients import IDLE, by_name
from server.db.plans import PlanVersion, version_rows, versions_query

__all__ = ["Flagged", "Overview", "Signals", "overview", "signals"]


class Flagged(Struct, frozen=True):
    """A check-in with red flags that no therapist has marked as handled yet."""

    on_date: dt.date
    done_at: str  # when the patient reported it (device time, UTC)
    red_flags: list[str]


class Signals(Struct, frozen=True):
    """What one active patient reported recently, and their plan versions in force since their last activity."""

    patient_id: int
    display_name: str
    timezone: str
    max_soreness: int | None
    max_pain: int | None
    last_activity: str | None
    # A phone joined and not removed is connected now: a patient who has one and lets days pass is
    # inactive; one without (never joined, or every phone removed, expired or disconnected by
    # archiving) needs a new code. ``removed_at``: when a phone was last removed (UTC), None if none
    # ever was; ``expired``: that phone expired (unused for UNKNOT_DEVICE_IDLE_DAYS).
    connected: bool
    removed_at: str | None
    expired: bool = False
    flagged: list[Flagged] = []  # oldest first
    versions: list[PlanVersion] = []


_SIGNALS_OF = """
    SELECT p.id, p.display_name, p.timezone,
           (SELECT max(soreness) FROM checkin WHERE patient_id = p.id AND on_date >= :since) AS max_soreness,
           (SELECT max(pain) FROM completion
            WHERE patient_id = p.id AND on_date >= :since AND withdrawn_at IS NULL) AS max_pain,
           {last_activity} AS last_activity,
           EXISTS (SELECT 1 FROM patient_device WHERE patient_id = p.id AND revoked_at IS NULL) AS connected,
           (SELECT max(revoked_at) FROM patient_device WHERE patient_id = p.id) AS removed_at,
           (SELECT revoke_reason FROM patient_device WHERE patient_id = p.id AND revoked_at IS NOT NULL
            ORDER BY revoked_at DESC, id DESC LIMIT 1) AS removed_why
    FROM patient p
    WHERE p.therapist_id = :tid AND p.archived_at IS NULL
"""
_SIGNALS = _SIGNALS_OF.format(last_activity=LAST_ACTIVITY)
# A handled check-in raises nothing any more; a flagged one after it does.
_FLAGGED = """
    SELECT c.patient_id, c.on_date, c.done_at, c.red_flags FROM checkin c JOIN patient p ON p.id = c.patient_id
    WHERE p.therapist_id = :tid AND p.archived_at IS NULL AND c.on_date >= :since
      AND c.red_flags != '' AND c.handled_at IS NULL
    ORDER BY c.patient_id, c.done_at, c.id
"""


# Only versions in force on the day of the patient's last activity or later can have asked for
# something since (a version replaced before that moment ended on that day at the latest).
_QUIET_VERSIONS = versions_query(
    "p.therapist_id = :tid AND p.archived_at IS NULL", cutoff=f"coalesce(substr({LAST_ACTIVITY}, 1, 10), '')"
)


async def signals(db: Database, therapist_id: int, since: dt.date) -> list[Signals]:
    """For each of the therapist's active patients, by name: highest soreness and pain since
    ``since``, the flagged check-ins since then not handled yet, the plan versions that may have
    asked for something since their last activity (every version, for a patient with none) and
    whether a phone is connected now (and when the latest was removed, and whether it expired);
    three queries however many patients, in one snapshot."""
    params = {"tid": therapist_id, "since": since.isoformat()}
    async with db.snapshot() as snapshot:
        rows = await snapshot.fetch_all(_SIGNALS, params)
        flagged_rows = await snapshot.fetch_all(_FLAGGED, params)
        versions = await snapshot.fetch_all(_QUIET_VERSIONS, params)
    of_patient: dict[int, list[PlanVersion]] = {}
    for v in version_rows(versions, db.memo):
        of_patient.setdefault(v.patient_id, []).append(v)
    flagged: dict[int, list[Flagged]] = {}
    for r in flagged_rows:
        flagged.setdefault(r[0], []).append(Flagged(dt.date.fromisoformat(r[1]), r[2], r[3].split()))
    found = [
        Signals(
            *(r[i] for i in range(6)),
            connected=bool(r[6]),  # SQLite answers 0 or 1, PostgreSQL a boolean
            removed_at=r[7],
            expired=r[8] == IDLE,
            flagged=flagged.get(r[0], []),
            versions=of_patient.get(r[0], []),
        )
        for r in rows
    ]
    return sorted(found, key=lambda s: (by_name(s.display_name), s.patient_id))


class Overview(Struct, frozen=True, kw_only=True):
    """One patient of the list: their plan versions in force lately, what they logged lately, their last activity."""

    patient_id: int
    timezone: str
    has_plan: bool  # an active plan
    versions: list[PlanVersion]  # oldest first
    done: set[tuple[str, dt.date, str]]  # completions: (exercise, date, slot)
    soreness: list[tuple[dt.date, str, int]]  # check-ins: (date, done at, soreness)
    last_activity: str | None


_OVERVIEW = """
    SELECT p.id AS patient_id, p.timezone, p.display_name,
           EXISTS (SELECT 1 FROM plan WHERE patient_id = p.id AND status = 'active') AS has_plan,
           {last_activity} AS last_activity
    FROM patient p
    WHERE p.therapist_id = :tid AND (p.archived_at IS NOT NULL) = :archived
"""
_PATIENTS = _OVERVIEW.format(last_activity=LAST_ACTIVITY)
# Superseded plans too: a day is judged by the plan in force that day, not by the newest plan.
_VERSIONS = versions_query("p.therapist_id = :tid AND (p.archived_at IS NOT NULL) = :archived")
_LOGGED_SINCE = """
    SELECT x.patient_id, {columns} FROM {table} x JOIN patient p ON p.id = x.patient_id
    WHERE p.therapist_id = :tid AND (p.archived_at IS NOT NULL) = :archived AND x.on_date >= :since
"""
# A completion taken back counts for nothing.
_COMPLETIONS_SINCE = (
    _LOGGED_SINCE.format(columns="x.exercise_id, x.on_date, x.slot", table="completion") + " AND x.withdrawn_at IS NULL"
)
_CHECKINS_SINCE = _LOGGED_SINCE.format(columns="x.on_date, x.done_at, x.soreness", table="checkin")


async def overview(db: Database, therapist_id: int, since: dt.date, *, archived: bool = False) -> list[Overview]:
    """The therapist's patients by name, each with what they logged since ``since`` and the plan
    versions in force since, in four queries that see one moment (a record synced meanwhile shows
    in every column or in none)."""
    # A version replaced on the UTC day before ``since`` may still have been in force on ``since``
    # where the patient lives (up to 14 hours ahead of UTC).
    cutoff = since - dt.timedelta(days=1)
    params = {"tid": therapist_id, "archived": archived, "since": since.isoformat(), "cutoff": cutoff.isoformat()}
    async with db.snapshot() as snapshot:
        patients = await snapshot.fetch_all(_PATIENTS, params)
        versions = await snapshot.fetch_all(_VERSIONS, params)
        completions = await snapshot.fetch_all(_COMPLETIONS_SINCE, params)
        checkins = await snapshot.fetch_all(_CHECKINS_SINCE, params)
    of_patient: dict[int, list[PlanVersion]] = {}
    for v in version_rows(versions, db.memo):
        of_patient.setdefault(v.patient_id, []).append(v)
    done: dict[int, set[tuple[str, dt.date, str]]] = {}
    for r in completions:
        done.setdefault(r[0], set()).add((r[1], dt.date.fromisoformat(r[2]), r[3]))
    soreness: dict[int, list[tuple[dt.date, str, int]]] = {}
    for r in checkins:
        soreness.setdefault(r[0], []).append((dt.date.fromisoformat(r[1]), r[2], r[3]))
    ordered = sorted(patients, key=lambda r: (by_name(r["display_name"]), r["patient_id"]))
    return [
        Overview(
            patient_id=r["patient_id"],
            timezone=r["timezone"],
            has_plan=bool(r["has_plan"]),
            versions=of_patient.get(r["patient_id"], []),
            done=done.get(r["patient_id"], set()),
            soreness=soreness.get(r["patient_id"], []),
            last_activity=r["last_activity"],
        )
        for r in ordered
    ]
