"""Treatments and plans: one active plan per patient, history kept, every edit versioned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

import msgspec
from msgspec import Struct

from server.catalog.model import Catalog
from server.clock import iso, local_date, parse_iso
from server.db.connection import Database, Memo, Row, Transaction
from server.programs import Program, TreatedMuscle, routine_for
from server.programs.adherence import InForce, in_force, version_on
from server.programs.text import shown_program

__all__ = [
    "PLAN_DAY_COLUMNS",
    "PlanDay",
    "PlanDays",
    "PlanRecord",
    "PlanVersion",
    "active_plan",
    "active_plan_day",
    "active_plan_of_patient",
    "create_plan",
    "decoded_program",
    "in_force_as_shown",
    "last_served",
    "plan_days",
    "plan_history",
    "update_plan",
    "version_rows",
    "version_shown",
    "versions_of_own_patient",
    "versions_of_patient",
    "versions_query",
]

# Stored as text (not bytes: SQLite would keep a BLOB, PostgreSQL refuses bytes for text)
_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Program)


class PlanRecord(Struct, frozen=True, kw_only=True):
    """A stored plan."""

    id: int
    version: int
    status: str
    starts_on: dt.date
    notes: str
    updated_at: str
    program: Program


class PlanDay(Struct, frozen=True):
    """The active plan's program and the (exercise, slot) pairs logged on one date."""

    id: int
    version: int
    program: Program
    done: frozenset[tuple[str, str]]
    saved_at: str = ""  # when this version was saved (UTC): no other version is in force after that day
    made_at: str = ""  # when the plan was made (UTC; its first version): before its first day, it was prepared ahead


class PlanDays(Struct, frozen=True):
    """The active plan (``None``: there is none) and what was logged on each date from ``first``
    to ``last``, read with the device's identity (see ``patients.identity_for_token``)."""

    first: dt.date
    last: dt.date
    plan: PlanDay | None  # its ``done`` is empty: see ``on``
    done: dict[dt.date, frozenset[tuple[str, str]]]

    def on(self, day: dt.date) -> PlanDay | None:
        """The active plan with what was logged on ``day`` (one of the dates read)."""
        if self.plan is None:
            return None
        return msgspec.structs.replace(self.plan, done=self.done.get(day, frozenset()))


class PlanVersion(Struct, frozen=True, kw_only=True):
    """A saved version of one of a patient's plans, and the moments (UTC) that bound it."""

    patient_id: int
    plan_id: int
    version: int
    program: Program
    saved_at: str
    made_at: str  # when its plan was made (the plan's first version saved)
    ends_at: str | None  # when the next version, or a newer treatment's plan, replaced it; None: not yet
    # The earliest treatment date of the newer treatments' plans (its last version only): a plan
    # prepared ahead of a booked visit leaves this one in force until the day before, and of two
    # prepared ahead the sooner visit ends it, whichever was prepared first.
    next_starts_on: str | None = None

    def in_force(self, timezone: str) -> InForce | None:
        """The patient's dates this version was in force, where the patient lives (see in_force)."""

        def on(at: str) -> dt.date:
            return local_date(parse_iso(at), timezone)

        ends_on = None if self.ends_at is None else on(self.ends_at)
        if ends_on is not None and self.next_starts_on is not None:
            ends_on = max(ends_on, dt.date.fromisoformat(self.next_starts_on) - dt.timedelta(days=1))
        return in_force(self.program, on(self.saved_at), on(self.made_at), ends_on)


def decoded_program(row: Row, memo: Memo) -> Program:
    """The program of a plan row (id, version, program); a plan version never changes, so it is
    decoded once per process (plan ids are never reused, see migration 0003)."""
    return memo.get(("program", row["id"], row["version"]), lambda: _decoder.decode(row["program"]))


# What plan_days reads, for a statement that joins the active plan ``pl`` with completions ``c``:
# the program's text only when it is not the version named by last_served's parameters.
PLAN_DAY_COLUMNS = (
    "pl.id, pl.version, pl.updated_at, "
    "CASE WHEN pl.id = :seen_id AND pl.version = :seen_version THEN NULL ELSE pl.program END AS program, "
    "c.on_date, c.exercise_id, c.slot "
)


def last_served(memo: Memo, hint: Hashable) -> tuple[tuple[int, int, Program] | None, dict[str, int]]:
    """The plan version (id, version, program) this process last served under ``hint``, and the
    parameters ``:seen_id`` and ``:seen_version`` by which a query leaves out that program's text."""
    seen: tuple[int, int, Program] | None = memo.peek(hint)
    return seen, {"seen_id": seen[0] if seen else 0, "seen_version": seen[1] if seen else 0}


def plan_days(
    rows: list[Row],
    first: dt.date,
    last: dt.date,
    memo: Memo,
    hint: Hashable,
    seen: tuple[int, int, Program] | None,
) -> PlanDays:
    """``PlanDays`` from rows of the active plan (``id``, ``version``, ``updated_at``, and ``program``,
    NULL when it is ``seen``, the version the query was told of, kept in ``memo`` under ``hint``)
    joined with the completions (``on_date``, ``exercise_id``, ``slot``) of those dates; no rows or
    a NULL ``id``: no plan."""
    if not rows or rows[0]["id"] is None:
        return PlanDays(first, last, None, {})
    head = rows[0]
    if head["program"] is None:  # NULL only when it matched the hint (plan ids start at 1)
        assert seen is not None
        program = seen[2]
    else:
        program = decoded_program(head, memo)
        memo.put(hint, (head["id"], head["version"], program))
    done: dict[dt.date, set[tuple[str, str]]] = {}
    for r in rows:
        if r["exercise_id"] is not None:
            done.setdefault(dt.date.fromisoformat(r["on_date"]), set()).add((r["exercise_id"], r["slot"]))
    plan = PlanDay(head["id"], head["version"], program, frozenset(), head["updated_at"])
    return PlanDays(first, last, plan, {d: frozenset(pairs) for d, pairs in done.items()})


def _record(row: Row, memo: Memo) -> PlanRecord:
    return PlanRecord(
        id=row["id"],
        version=row["version"],
        status=row["status"],
        starts_on=dt.date.fromisoformat(row["starts_on"]),
        notes=row["notes"],
        updated_at=row["updated_at"],
        program=decoded_program(row, memo),
    )


_SELECT = (
    "SELECT pl.id, pl.version, pl.status, pl.starts_on, pl.updated_at, pl.program, t.notes "
    "FROM plan pl JOIN treatment t ON t.id = pl.treatment_id "
)


async def create_plan(
    tx: Transaction,
    therapist_id: int,
    patient_id: int,
    treated: tuple[TreatedMuscle, ...],
    program: Program,
    notes: str,
    now: dt.datetime,
) -> PlanRecord:
    """Record the treatment and make ``program`` the patient's active plan (the old one is kept as history)."""
    # Two assignments for one patient at once (two processes on PostgreSQL) take turns, so the
    # second supersedes the first instead of colliding with it on the one-active-plan index.
    await tx.serialize(f"unknot.plan:{patient_id}")
    row = await tx.fetch_one(
        "INSERT INTO treatment (patient_id, therapist_id, treated_on, notes, created_at) "
        "VALUES (:pid, :tid, :on, :notes, :now) RETURNING id",
        {"pid": patient_id, "tid": therapist_id, "on": program.treated_on.isoformat(), "notes": notes, "now": iso(now)},
    )
    assert row is not None
    treatment_id = row["id"]
    await tx.executemany(
        "INSERT INTO treated_muscle (treatment_id, muscle_id, side) VALUES (:t, :m, :s) ON CONFLICT DO NOTHING",
        [{"t": treatment_id, "m": t.muscle, "s": t.side} for t in treated],
    )
    await tx.execute(
        "UPDATE plan SET status = 'superseded', updated_at = :now WHERE patient_id = :pid AND status = 'active'",
        {"pid": patient_id, "now": iso(now)},
    )
    row = await tx.fetch_one(
        "INSERT INTO plan (patient_id, treatment_id, starts_on, status, version, program, created_at, updated_at) "
        "VALUES (:pid, :t, :on, 'active', 1, :program, :now, :now) RETURNING id",
        {
            "pid": patient_id,
            "t": treatment_id,
            "on": program.treated_on.isoformat(),
            "program": _encode(program).decode(),
            "now": iso(now),
        },
    )
    assert row is not None
    await _keep_version(tx, row["id"])
    return PlanRecord(
        id=row["id"],
        version=1,
        status="active",
        starts_on=program.treated_on,
        notes=notes,
        updated_at=iso(now),
        program=program,
    )


async def active_plan(db: Database | Transaction, therapist_id: int, patient_id: int) -> PlanRecord | None:
    """The active plan of one of the therapist's patients."""
    row = await db.fetch_one(
        _SELECT + "JOIN patient p ON p.id = pl.patient_id "
        "WHERE pl.patient_id = :pid AND p.therapist_id = :tid AND pl.status = 'active'",
        {"pid": patient_id, "tid": therapist_id},
    )
    return _record(row, db.memo) if row else None


async def active_plan_of_patient(db: Database, patient_id: int) -> PlanRecord | None:
    """The active plan of the patient behind a device token."""
    row = await db.fetch_one(_SELECT + "WHERE pl.patient_id = :pid AND pl.status = 'active'", {"pid": patient_id})
    return _record(row, db.memo) if row else None


_ACTIVE_PLAN_DAY = (
    "SELECT " + PLAN_DAY_COLUMNS + "FROM plan pl "
    "LEFT JOIN completion c ON c.patient_id = pl.patient_id AND c.on_date = :d AND c.withdrawn_at IS NULL "
    "WHERE pl.patient_id = :pid AND pl.status = 'active'"
)


async def active_plan_day(
    db: Database, patient_id: int, on_date: dt.date, read: PlanDays | None = None
) -> PlanDay | None:
    """The patient's active plan and what they logged on ``on_date``, in one round trip, or in
    none when ``read`` (read with the patient's identity, in the same request) holds that date.

    The program text (kilobytes) comes back only when it is not the version this process last
    served to this patient; the database decides, so a hint that is out of date costs nothing.
    """
    if read is not None and read.first <= on_date <= read.last:
        return read.on(on_date)
    hint = ("active", patient_id)
    seen, named = last_served(db.memo, hint)
    rows = await db.fetch_all(
        _ACTIVE_PLAN_DAY,
        {"pid": patient_id, "d": on_date.isoformat(), **named},
    )
    return plan_days(rows, on_date, on_date, db.memo, hint, seen).on(on_date)


async def update_plan(
    tx: Transaction,
    therapist_id: int,
    patient_id: int,
    plan_id: int,
    version: int,
    program: Program,
    now: dt.datetime,
) -> PlanRecord | None:
    """Replace plan ``plan_id``'s program if it is still the active plan and at ``version``;
    ``None`` when it is not (another edit, or a newer treatment's plan, came first)."""
    changed = await tx.execute(
        "UPDATE plan SET program = :program, version = version + 1, updated_at = :now "
        "WHERE id = :plan AND patient_id = (SELECT id FROM patient WHERE id = :pid AND therapist_id = :tid) "
        "AND status = 'active' AND version = :version",
        {
            "plan": plan_id,
            "program": _encode(program).decode(),
            "now": iso(now),
            "pid": patient_id,
            "tid": therapist_id,
            "version": version,
        },
    )
    if not changed:
        return None
    await _keep_version(tx, plan_id)
    return await active_plan(tx, therapist_id, patient_id)


async def _keep_version(tx: Transaction, plan_id: int) -> None:
    # The plan's current version joins its history, stamped with the moment it was saved.
    await tx.execute(
        "INSERT INTO plan_version (plan_id, version, program, saved_at) "
        "SELECT id, version, program, updated_at FROM plan WHERE id = :plan",
        {"plan": plan_id},
    )


async def plan_history(db: Database, therapist_id: int, patient_id: int) -> list[PlanRecord]:
    """Every plan of an owned patient, newest first."""
    rows = await db.fetch_all(
        _SELECT + "JOIN patient p ON p.id = pl.patient_id "
        "WHERE pl.patient_id = :pid AND p.therapist_id = :tid ORDER BY pl.id DESC",
        {"pid": patient_id, "tid": therapist_id},
    )
    return [_record(r, db.memo) for r in rows]


# Every version of the chosen patients' plans that was still in force at ``cutoff`` (an ISO date or
# time: a version replaced before it is left out, however long the history). A version ends when
# the next one was saved, or else when a newer treatment's plan was made: the patient's next plan
# by id, since create_plan supersedes the old plan in the transaction that makes the new one.
# Columns id, version and program are named as decoded_program reads them.
_VERSIONS = """
    SELECT x.patient_id, x.id, x.version, x.program, x.saved_at, x.made_at, x.ends_at, x.next_starts_on FROM (
        SELECT pl.patient_id, v.plan_id AS id, v.version, v.program, v.saved_at, pl.created_at AS made_at,
               coalesce(lead(v.saved_at) OVER (PARTITION BY v.plan_id ORDER BY v.version),
                        (SELECT n.created_at FROM plan n WHERE n.patient_id = pl.patient_id AND n.id > pl.id
                         ORDER BY n.id LIMIT 1)) AS ends_at,
               CASE WHEN lead(v.saved_at) OVER (PARTITION BY v.plan_id ORDER BY v.version) IS NULL
                    THEN (SELECT min(n.starts_on) FROM plan n WHERE n.patient_id = pl.patient_id AND n.id > pl.id)
               END AS next_starts_on,
               {cutoff} AS cutoff
        FROM patient p JOIN plan pl ON pl.patient_id = p.id JOIN plan_version v ON v.plan_id = pl.id
        WHERE {patients}
    ) x
    WHERE x.ends_at IS NULL OR x.ends_at >= x.cutoff OR x.next_starts_on > x.cutoff
    ORDER BY x.patient_id, x.id, x.version
"""


def versions_query(patients: str, cutoff: str = "CAST(:cutoff AS TEXT)") -> str:
    """The versions query for the patients ``patients`` (a condition on ``p``, the patient) selects,
    still in force at ``cutoff`` (an SQL expression, by default the parameter ``:cutoff``)."""
    return _VERSIONS.format(patients=patients, cutoff=cutoff)


def version_rows(rows: list[Row], memo: Memo) -> list[PlanVersion]:
    """The rows of a versions query, decoded."""
    return [
        PlanVersion(
            patient_id=r["patient_id"],
            plan_id=r["id"],
            version=r["version"],
            program=decoded_program(r, memo),
            saved_at=r["saved_at"],
            made_at=r["made_at"],
            ends_at=r["ends_at"],
            next_starts_on=r["next_starts_on"],
        )
        for r in rows
    ]


_VERSIONS_OF_PATIENT = versions_query("p.id = :pid AND p.therapist_id = :tid")


async def versions_of_patient(db: Database, therapist_id: int, patient_id: int, cutoff: dt.date) -> list[PlanVersion]:
    """Every version of an owned patient's plans still in force on ``cutoff`` (UTC) or later, oldest first."""
    rows = await db.fetch_all(
        _VERSIONS_OF_PATIENT, {"pid": patient_id, "tid": therapist_id, "cutoff": cutoff.isoformat()}
    )
    return version_rows(rows, db.memo)


_VERSIONS_OF_OWN_PATIENT = versions_query("p.id = :pid")


def in_force_as_shown(versions: list[PlanVersion], timezone: str, catalog: Catalog) -> list[tuple[int, int, InForce]]:
    """(plan id, version, dates in force) of plan versions, oldest first, each program as the phone shows it."""
    return [
        (v.plan_id, v.version, msgspec.structs.replace(span, program=shown_program(span.program, catalog)))
        for v in versions
        if (span := v.in_force(timezone)) is not None
    ]


async def version_shown(
    db: Database | Transaction, patient_id: int, plan: PlanDay, day: dt.date, timezone: str, catalog: Catalog
) -> tuple[int, int, Program]:
    """(plan id, version, program) the patient's app shows on ``day``, given the active ``plan``
    with what was logged that day: the active version, except up to the day it was saved (or
    before its treatment date, for a plan prepared ahead of a visit), when an earlier version (or
    an earlier plan's) may have been in force too and the app shows the one the patient followed
    (version_on; pwa/js/routine.js picks the same way).

    While this version is the active one, the versions in force on a day never change: read and
    worked out once per process (the day a plan is assigned, every request would read them).
    """
    active = (plan.id, plan.version, plan.program)
    saved_on = db.memo.get(
        ("saved-on", plan.id, plan.version, timezone), lambda: local_date(parse_iso(plan.saved_at), timezone)
    )
    # A plan prepared ahead of a booked visit is in force from its treatment date: before it, the
    # plan it replaced is (see PlanVersion.next_starts_on).
    if day > saved_on and day >= plan.program.treated_on:
        return active
    # On the day it was saved the active version is in force, and with nothing logged the app
    # shows the newest version asking something: this one, when it does (no versions to read).
    if day == saved_on and not plan.done:
        asks = db.memo.get(
            ("asks", plan.id, plan.version, day),
            lambda: bool(routine_for(shown_program(plan.program, catalog), day, catalog).entries),
        )
        if asks:
            return active
    key = ("in-force", plan.id, plan.version, day, timezone)
    spans = db.memo.peek(key)
    if spans is None:
        spans = in_force_as_shown(
            await versions_of_own_patient(db, patient_id, day - dt.timedelta(days=1)), timezone, catalog
        )
        db.memo.put(key, spans)
    picked = db.memo.get((key, plan.done), lambda: version_on([s for _, _, s in spans], day, plan.done, catalog))
    if picked is None:
        return active
    plan_id, version, span = spans[picked]
    return plan_id, version, span.program


async def versions_of_own_patient(db: Database, patient_id: int, cutoff: dt.date) -> list[PlanVersion]:
    """Every version of the plans of the patient behind a device token still in force on ``cutoff``
    (UTC) or later, oldest first."""
    rows = await db.fetch_all(_VERSIONS_OF_OWN_PATIENT, {"pid": patient_id, "cutoff": cutoff.isoformat()})
    return version_rows(rows, db.memo)
