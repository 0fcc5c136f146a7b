"""A patient's logged records (completions and check-ins) as their therapist reads them.

Every query joins the patient row on the owning therapist: another therapist's patient
gives no rows, exactly like a patient that does not exist.
"""

from __future__ import annotations

import datetime as dt

from server.db.connection import Database
from server.db.logs import CheckinRow, CompletionRow

__all__ = ["checkins_of", "completions_of"]

_FIRST = dt.date(1, 1, 1)
_LAST = dt.date(9999, 12, 31)


async def completions_of(
    db: Database, therapist_id: int, patient_id: int, first: dt.date = _FIRST, last: dt.date = _LAST
) -> list[CompletionRow]:
    """The owned patient's completions with ``first <= on_date <= last``, oldest first."""
    rows = await db.fetch_all(
        "SELECT c.id, c.exercise_id, c.on_date, c.slot, c.done_at, c.sets_done, c.reps_done, "
        "c.hold_seconds_done, c.pain, c.note FROM completion c JOIN patient p ON p.id = c.patient_id "
        "WHERE c.patient_id = :pid AND p.therapist_id = :tid AND c.on_date BETWEEN :a AND :b "
        "ORDER BY c.on_date, c.done_at, c.id",
        {"pid": patient_id, "tid": therapist_id, "a": first.isoformat(), "b": last.isoformat()},
    )
    return [
        CompletionRow(
            id=r["id"],
            exercise_id=r["exercise_id"],
            on_date=dt.date.fromisoformat(r["on_date"]),
            slot=r["slot"],
            done_at=r["done_at"],
            sets_done=r["sets_done"],
            reps_done=r["reps_done"],
            hold_seconds_done=r["hold_seconds_done"],
            pain=r["pain"],
            note=r["note"],
        )
        for r in rows
    ]


async def checkins_of(
    db: Database, therapist_id: int, patient_id: int, first: dt.date = _FIRST, last: dt.date = _LAST
) -> list[CheckinRow]:
    """The owned patient's check-ins with ``first <= on_date <= last``, oldest first."""
    rows = await db.fetch_all(
        "SELECT c.id, c.on_date, c.soreness, c.red_flags, c.note, c.done_at FROM checkin c "
        "JOIN patient p ON p.id = c.patient_id "
        "WHERE c.patient_id = :pid AND p.therapist_id = :tid AND c.on_date BETWEEN :a AND :b "
        "ORDER BY c.on_date, c.done_at, c.id",
        {"pid": patient_id, "tid": therapist_id, "a": first.isoformat(), "b": last.isoformat()},
    )
    return [
        CheckinRow(
            id=r["id"],
            on_date=dt.date.fromisoformat(r["on_date"]),
            soreness=r["soreness"],
            red_flags=r["red_flags"].split(),
            note=r["note"],
            done_at=r["done_at"],
        )
        for r in rows
    ]
