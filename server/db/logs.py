"""What patients log: completions and check-ins, idempotent by client id.

A repeat of a record is ignored, with two exceptions:
- a completion stored without a pain answer takes the pain of a later repeat (the phone may have
  sent the record before the patient answered). That pain is filled in once: a stored pain is never
  changed.
- a repeat of a completion carrying ``withdrawn_at`` takes it back (the patient's mis-tap noticed
  after it was sent). The completion stays, as a tombstone: marked once, never cleared, so a later
  replay of the completion from any outbox copy finds it and cannot count it again. A take-back
  that arrives before its completion stores the completion already withdrawn.
  A take-back is of the exercise at that time of day on that day, not only of the one record: the
  completions of it logged no later than it was taken back (on another phone joined for the same
  patient, which the phone taking it back may not have heard of yet) are taken back with it, at
  the same time, whichever arrives first (see TAKE_BACK_TWINS). One logged after it counts.
Nothing else of a stored record changes. Withdrawn completions stay in the patient's history (the
``withdrawn_at`` of a CompletionRow) but count nowhere: not as done, not in adherence, pain or
activity (every such query here and in plans, patients, attention and reminders says
``withdrawn_at IS NULL``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal, NamedTuple

from msgspec import Struct

from server.clock import iso
from server.db.connection import Database, Transaction, dialects

__all__ = [
    "LAST_ACTIVITY",
    "CheckinRow",
    "CompletionRow",
    "Handled",
    "Held",
    "IdInUse",
    "checkins_between",
    "completions_between",
    "handled_between",
    "last_activity",
    "mark_handled",
    "standing",
    "store_batch",
]


class CompletionRow(Struct, frozen=True, kw_only=True):
    """One logged exercise."""

    id: str
    exercise_id: str
    on_date: dt.date
    slot: str
    done_at: str
    sets_done: int | None = None
    reps_done: int | None = None
    hold_seconds_done: int | None = None
    pain: int | None = None
    note: str = ""
    # When the patient took it back (device time, UTC); None: it stands.
    withdrawn_at: str | None = None


class CheckinRow(Struct, frozen=True, kw_only=True):
    """One daily check-in."""

    id: str
    on_date: dt.date
    soreness: int
    red_flags: list[str]
    note: str
    done_at: str


class Handled(Struct, frozen=True, kw_only=True):
    """A check-in whose red flags a therapist marked as handled: when, who, and their note.

    Kept apart from ``CheckinRow``, which is also what the patient's own phone reads back: the
    clinic's note is the clinic's.
    """

    checkin_id: str
    at: str
    therapist_id: int
    therapist_name: str
    note: str


class IdInUse(Exception):
    """A record of the batch has an id another patient's record holds; nothing was stored."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(field)


# A repeat fills in a blank pain answer, once, and a repeat with withdrawn_at takes the completion
# back, once; only for the patient who holds the record (another patient's id is left alone here
# and refused below); the same text on both backends.
STORE_COMPLETION = (
    "INSERT INTO completion (id, patient_id, exercise_id, on_date, slot, done_at, sets_done, reps_done, "
    "hold_seconds_done, pain, note, received_at, withdrawn_at) VALUES (:id, :pid, :exercise_id, :on_date, :slot, "
    ":done_at, :sets_done, :reps_done, :hold_seconds_done, :pain, :note, :received, :withdrawn_at) "
    "ON CONFLICT (id) DO UPDATE SET pain = coalesce(completion.pain, excluded.pain), "
    "withdrawn_at = coalesce(completion.withdrawn_at, excluded.withdrawn_at) "
    "WHERE completion.patient_id = excluded.patient_id AND ("
    "(completion.pain IS NULL AND excluded.pain IS NOT NULL) "
    "OR (completion.withdrawn_at IS NULL AND excluded.withdrawn_at IS NOT NULL))"
)

# A take-back counts for every completion of the same exercise, time of day and day logged no later
# than it (two phones joined for one patient may each have logged it, offline, unaware of the other):
# run for each of those a batch touches, so that whichever of the two arrives last is taken back.
# Times are stored as server.clock.iso makes them, so text order is time order. The same text on
# both backends.
TAKE_BACK_TWINS = (
    "UPDATE completion SET withdrawn_at = (SELECT min(t.withdrawn_at) FROM completion t "
    "WHERE t.patient_id = completion.patient_id AND t.exercise_id = completion.exercise_id "
    "AND t.slot = completion.slot AND t.on_date = completion.on_date AND t.withdrawn_at >= completion.done_at) "
    "WHERE patient_id = :pid AND exercise_id = :exercise_id AND slot = :slot AND on_date = :on_date "
    "AND withdrawn_at IS NULL AND EXISTS (SELECT 1 FROM completion t "
    "WHERE t.patient_id = completion.patient_id AND t.exercise_id = completion.exercise_id "
    "AND t.slot = completion.slot AND t.on_date = completion.on_date AND t.withdrawn_at >= completion.done_at)"
)

# Which of a batch's ids are stored (and, for a completion, the pain it keeps and whether it was
# taken back): the ids travel as one JSON array parameter.
HELD = {
    "completion": dialects(
        sqlite="SELECT id, pain, withdrawn_at FROM completion WHERE patient_id = :pid "
        "AND id IN (SELECT value FROM json_each(:ids))",
        postgresql="SELECT id, pain, withdrawn_at FROM completion WHERE patient_id = :pid "
        "AND id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))",
    ),
    "checkin": dialects(
        sqlite="SELECT id, NULL AS pain, NULL AS withdrawn_at FROM checkin WHERE patient_id = :pid "
        "AND id IN (SELECT value FROM json_each(:ids))",
        postgresql="SELECT id, NULL AS pain, NULL AS withdrawn_at FROM checkin WHERE patient_id = :pid "
        "AND id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))",
    ),
}


class Held(NamedTuple):
    """The ids of a batch the server now holds, the pain stored for each of its completions
    (which is not the one sent when a stored pain was kept), and which of them are taken back."""

    completions: list[str]
    checkins: list[str]
    pains: dict[str, int | None]
    withdrawn: list[str]


async def store_batch(
    db: Database, patient_id: int, completions: list[CompletionRow], checkins: list[CheckinRow], now: dt.datetime
) -> Held:
    """Insert the records not seen before, fill in a blank pain answer from a repeat; returns what of
    this batch the server now holds.

    Raises:
        IdInUse: naming the first record whose id is another patient's (the batch is rolled back).
    """
    received = iso(now)
    async with db.transaction() as tx:
        # A patient's batches one at a time: on PostgreSQL two committing together (two phones, two
        # app processes) would each miss the other's rows in TAKE_BACK_TWINS, and a take-back and a
        # completion it covers would both stand.
        await tx.serialize(f"unknot.log:{patient_id}")
        await tx.executemany(
            STORE_COMPLETION,
            [
                {
                    "id": c.id,
                    "pid": patient_id,
                    "exercise_id": c.exercise_id,
                    "on_date": c.on_date.isoformat(),
                    "slot": c.slot,
                    "done_at": c.done_at,
                    "sets_done": c.sets_done,
                    "reps_done": c.reps_done,
                    "hold_seconds_done": c.hold_seconds_done,
                    "pain": c.pain,
                    "note": c.note,
                    "received": received,
                    "withdrawn_at": c.withdrawn_at,
                }
                for c in completions
            ],
        )
        if completions:
            # Only the batch's exercises, times of day and days that hold a take-back (stored now or
            # before): most batches touch none, and need no UPDATE at all.
            withdrawn = await tx.fetch_all(
                "SELECT DISTINCT exercise_id, slot, on_date FROM completion "
                "WHERE patient_id = :pid AND on_date BETWEEN :first AND :last AND withdrawn_at IS NOT NULL",
                {
                    "pid": patient_id,
                    "first": min(c.on_date for c in completions).isoformat(),
                    "last": max(c.on_date for c in completions).isoformat(),
                },
            )
            batch = {(c.exercise_id, c.slot, c.on_date.isoformat()) for c in completions}
            twins = sorted(batch & {(r["exercise_id"], r["slot"], r["on_date"]) for r in withdrawn})
            await tx.executemany(
                TAKE_BACK_TWINS,
                [{"pid": patient_id, "exercise_id": e, "slot": s, "on_date": d} for e, s, d in twins],
            )
        await tx.executemany(
            "INSERT INTO checkin (id, patient_id, on_date, soreness, red_flags, note, done_at, received_at) "
            "VALUES (:id, :pid, :on_date, :soreness, :red_flags, :note, :done_at, :received) "
            "ON CONFLICT (id) DO NOTHING",
            [
                {
                    "id": c.id,
                    "pid": patient_id,
                    "on_date": c.on_date.isoformat(),
                    "soreness": c.soreness,
                    "red_flags": " ".join(c.red_flags),
                    "note": c.note,
                    "done_at": c.done_at,
                    "received": received,
                }
                for c in checkins
            ],
        )
        held: dict[str, dict[str, int | None]] = {}
        withdrawn: set[str] = set()
        for table, records in (("completion", completions), ("checkin", checkins)):
            rows = await tx.fetch_all(
                HELD[table][tx.dialect], {"pid": patient_id, "ids": json.dumps([r.id for r in records])}
            )
            held[table] = {r["id"]: r["pain"] for r in rows}
            withdrawn.update(r["id"] for r in rows if r["withdrawn_at"] is not None)
            # Skipped as a repeat yet not this patient's: the phone would send it for ever.
            for i, r in enumerate(records):
                if r.id not in held[table]:
                    raise IdInUse(f"{table}s[{i}].id")
    ids = [c.id for c in completions]
    return Held(ids, [c.id for c in checkins], held["completion"], [i for i in ids if i in withdrawn])


async def completions_between(db: Database, patient_id: int, first: dt.date, last: dt.date) -> list[CompletionRow]:
    """A patient's completions with ``first <= on_date <= last``, in order; those taken back too
    (their ``withdrawn_at`` set): the caller counting anything leaves them out (see ``standing``)."""
    rows = await db.fetch_all(
        "SELECT id, exercise_id, on_date, slot, done_at, sets_done, reps_done, hold_seconds_done, pain, note, "
        "withdrawn_at "
        "FROM completion WHERE patient_id = :pid AND on_date BETWEEN :a AND :b ORDER BY on_date, done_at, id",
        {"pid": patient_id, "a": first.isoformat(), "b": last.isoformat()},
    )
    return [
        CompletionRow(**{**dict(r), "on_date": dt.date.fromisoformat(r["on_date"])})  # type: ignore[arg-type]
        for r in rows
    ]


def standing(completions: list[CompletionRow]) -> list[CompletionRow]:
    """The completions that count: those not taken back."""
    return [c for c in completions if c.withdrawn_at is None]


async def checkins_between(db: Database, patient_id: int, first: dt.date, last: dt.date) -> list[CheckinRow]:
    """A patient's check-ins with ``first <= on_date <= last``, in order."""
    rows = await db.fetch_all(
        "SELECT id, on_date, soreness, red_flags, note, done_at FROM checkin "
        "WHERE patient_id = :pid AND on_date BETWEEN :a AND :b ORDER BY on_date, done_at, id",
        {"pid": patient_id, "a": first.isoformat(), "b": last.isoformat()},
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


_HANDLED = (
    "SELECT c.id AS checkin_id, c.handled_at AS at, c.handled_by AS therapist_id, t.name AS therapist_name, "
    "c.handled_note AS note FROM checkin c JOIN patient p ON p.id = c.patient_id "
    "JOIN therapist t ON t.id = c.handled_by "
    "WHERE c.patient_id = :pid AND p.therapist_id = :tid AND c.handled_at IS NOT NULL"
)


async def handled_between(
    db: Database, therapist_id: int, patient_id: int, first: dt.date, last: dt.date
) -> list[Handled]:
    """An owned patient's handled check-ins with ``first <= on_date <= last``, in order."""
    rows = await db.fetch_all(
        _HANDLED + " AND c.on_date BETWEEN :a AND :b ORDER BY c.on_date, c.done_at, c.id",
        {"pid": patient_id, "tid": therapist_id, "a": first.isoformat(), "b": last.isoformat()},
    )
    return [Handled(**dict(r)) for r in rows]


async def mark_handled(
    tx: Transaction, therapist_id: int, patient_id: int, checkin_id: str, now: dt.datetime, note: str
) -> tuple[Literal["handled", "already", "missing", "no-flags"], Handled | None]:
    """Mark an owned patient's flagged check-in as handled, unless it already is (the first mark,
    its time, therapist and note, stands); returns what happened and the mark the check-in holds."""
    found = await tx.fetch_one(
        "SELECT c.red_flags FROM checkin c JOIN patient p ON p.id = c.patient_id "
        "WHERE c.id = :cid AND c.patient_id = :pid AND p.therapist_id = :tid",
        {"cid": checkin_id, "pid": patient_id, "tid": therapist_id},
    )
    if found is None:
        return "missing", None
    if not found["red_flags"]:
        return "no-flags", None
    # "IS NULL" in the update itself: of two marks at once only one changes the row (PostgreSQL
    # checks the condition again after waiting for the other's lock), so only one is audited.
    changed = await tx.execute(
        "UPDATE checkin SET handled_at = :at, handled_by = :tid, handled_note = :note "
        "WHERE id = :cid AND patient_id = :pid AND handled_at IS NULL",
        {"at": iso(now), "tid": therapist_id, "note": note, "cid": checkin_id, "pid": patient_id},
    )
    row = await tx.fetch_one(_HANDLED + " AND c.id = :cid", {"pid": patient_id, "tid": therapist_id, "cid": checkin_id})
    return ("handled" if changed else "already"), Handled(**dict(row))


# When the patient ``p`` last logged anything (device time, UTC): an expression for any query over patients.
# A completion taken back is no activity (a mis-tap).
LAST_ACTIVITY = """(SELECT max(at) FROM (SELECT max(done_at) AS at FROM completion
                                         WHERE patient_id = p.id AND withdrawn_at IS NULL
                                 UNION ALL SELECT max(done_at) FROM checkin WHERE patient_id = p.id) AS latest)"""
_OF_ONE_PATIENT = "SELECT {last_activity} AS at FROM patient p WHERE p.id = :pid"
_LAST_ACTIVITY_OF_ONE = _OF_ONE_PATIENT.format(last_activity=LAST_ACTIVITY)


async def last_activity(db: Database, patient_id: int) -> str | None:
    """When the patient last logged anything (device time, UTC)."""
    row = await db.fetch_one(_LAST_ACTIVITY_OF_ONE, {"pid": patient_id})
    return row["at"] if row else None
