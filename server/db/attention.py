"""Signals across a therapist's patients, in a few aggregate queries (not one per patient)."""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from server.db.connection import Database, dialects
from server.db.patients import by_name

__all__ = ["Signals", "signals"]


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
           (SELECT max(at) FROM (SELECT max(done_at) AS at FROM completion WHERE patient_id = p.id
                                 UNION ALL SELECT max(done_at) FROM checkin WHERE patient_id = p.id) AS latest)
               AS last_activity,
           p.created_at
    FROM patient p
    WHERE p.therapist_id = :tid AND p.archived_at IS NULL
"""
SIGNALS = dialects(
    sqlite=_SIGNALS.format(concat="group_concat(red_flags, ' ')"),
    postgresql=_SIGNALS.format(concat="string_agg(red_flags, ' ')"),
)


async def signals(db: Database, therapist_id: int, since: dt.date) -> list[Signals]:
    """For each of the therapist's active patients, by name: highest soreness and pain and red flags since ``since``."""
    rows = await db.fetch_all(SIGNALS[db.dialect], {"tid": therapist_id, "since": since.isoformat()})
    found = [Signals(r[0], r[1], r[2], bool(r[3]), *(r[i] for i in range(4, 9))) for r in rows]
    return sorted(found, key=lambda s: (by_name(s.display_name), s.patient_id))
