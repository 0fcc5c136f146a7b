"""Signals across a therapist's patients, in a few aggregate queries (not one per patient)."""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from server.db.connection import Database, dialects
from server.db.logs import LAST_ACTIVITY
from server.db.patients import by_name
from server.db.plans import decoded_program
from server.programs import Program

__all__ = ["Overview", "Signals", "overview", "signals"]


class Signals(Struct, frozen=True):
    """What one active patient reported recently."""

    patient_id: int
    display_name: str
    timezone: str
    has_plan: bool
    max_soreness: int | None
    max_pain: int | None
    red_flags: str
    last_activity: str | None
    created_at: str


_SIGNALS = """
    SELECT p.id, p.display_name, p.timezone,
           EXISTS (SELECT 1 FROM plan WHERE patient_id = p.id AND status = 'active') AS has_plan,
           (SELECT max(soreness) FROM checkin WHERE patient_id = p.id AND on_date >= :since) AS max_soreness,
           (SELECT max(pain) FROM completion WHERE patient_id = p.id AND on_date >= :since) AS max_pain,
           coalesce((SELECT {concat} FROM checkin
                     WHERE patient_id = p.id AND on_date >= :since AND red_flags != ''), '') AS red_flags,
           {last_activity} AS last_activity,
           p.created_at
    FROM patient p
    WHERE p.therapist_id = :tid AND p.archived_at IS NULL
"""
SIGNALS = dialects(
    sqlite=_SIGNALS.format(concat="group_concat(red_flags, ' ')", last_activity=LAST_ACTIVITY),
    postgresql=_SIGNALS.format(concat="string_agg(red_flags, ' ')", last_activity=LAST_ACTIVITY),
)


async def signals(db: Database, therapist_id: int, since: dt.date) -> list[Signals]:
    """For each of the therapist's active patients, by name: highest soreness and pain and red flags since ``since``."""
    rows = await db.fetch_all(SIGNALS[db.dialect], {"tid": therapist_id, "since": since.isoformat()})
    found = [Signals(r[0], r[1], r[2], bool(r[3]), *(r[i] for i in range(4, 9))) for r in rows]
    return sorted(found, key=lambda s: (by_name(s.display_name), s.patient_id))


class Overview(Struct, frozen=True, kw_only=True):
    """One patient of the list: their active program, what they logged lately, their last activity."""

    patient_id: int
    timezone: str
    program: Program | None
    done: set[tuple[str, dt.date, str]]  # completions: (exercise, date, slot)
    soreness: list[tuple[dt.date, str, int]]  # check-ins: (date, done at, soreness)
    last_activity: str | None


# The plan's columns keep their own names (id, version, program), as decoded_program reads them.
_OVERVIEW = """
    SELECT p.id AS patient_id, p.timezone, p.display_name, pl.id, pl.version, pl.program,
           {last_activity} AS last_activity
    FROM patient p LEFT JOIN plan pl ON pl.patient_id = p.id AND pl.status = 'active'
    WHERE p.therapist_id = :tid AND (p.archived_at IS NOT NULL) = :archived
"""
_PATIENTS_AND_PLANS = _OVERVIEW.format(last_activity=LAST_ACTIVITY)
_LOGGED_SINCE = """
    SELECT x.patient_id, {columns} FROM {table} x JOIN patient p ON p.id = x.patient_id
    WHERE p.therapist_id = :tid AND (p.archived_at IS NOT NULL) = :archived AND x.on_date >= :since
"""
_COMPLETIONS_SINCE = _LOGGED_SINCE.format(columns="x.exercise_id, x.on_date, x.slot", table="completion")
_CHECKINS_SINCE = _LOGGED_SINCE.format(columns="x.on_date, x.done_at, x.soreness", table="checkin")


async def overview(db: Database, therapist_id: int, since: dt.date, *, archived: bool = False) -> list[Overview]:
    """The therapist's patients by name, each with what they logged since ``since``, in three queries
    that see one moment (a record synced meanwhile shows in every column or in none)."""
    params = {"tid": therapist_id, "archived": archived, "since": since.isoformat()}
    async with db.snapshot() as snapshot:
        patients = await snapshot.fetch_all(_PATIENTS_AND_PLANS, params)
        completions = await snapshot.fetch_all(_COMPLETIONS_SINCE, params)
        checkins = await snapshot.fetch_all(_CHECKINS_SINCE, params)
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
            program=None if r["id"] is None else decoded_program(r, db.memo),
            done=done.get(r["patient_id"], set()),
            soreness=soreness.get(r["patient_id"], []),
            last_activity=r["last_activity"],
        )
        for r in ordered
    ]
