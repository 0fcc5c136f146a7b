"""Adherence from a program and what the patient logged: pure, no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from msgspec import Struct

from server.catalog.model import Catalog
from server.programs.engine import routine_for
from server.programs.model import Program

__all__ = [
    "DayAdherence",
    "InForce",
    "WeekAdherence",
    "by_day",
    "by_week",
    "in_force",
    "missed_days",
    "streak",
    "streak_goes_on_before",
    "this_week",
    "version_on",
]


class DayAdherence(Struct, frozen=True):
    """What one day asked for and what was done of it."""

    on_date: dt.date
    expected: int
    done: int

    @property
    def rate(self) -> float:
        """Share done, 0..1 (1 when nothing was asked)."""
        return min(1.0, self.done / self.expected) if self.expected else 1.0


class WeekAdherence(Struct, frozen=True):
    """A week (Monday first) of adherence."""

    week_start: dt.date
    expected: int
    done: int
    rate: float


class InForce(Struct, frozen=True):
    """A version of a plan and the patient's dates it was in force, both ends included
    (``until`` None: it still is)."""

    program: Program
    since: dt.date
    until: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        """Whether ``day`` falls in the dates this version was in force."""
        return self.since <= day and (self.until is None or day <= self.until)


def in_force(program: Program, saved_on: dt.date, made_on: dt.date, ends_on: dt.date | None) -> InForce | None:
    """The dates a plan version answers for, from the patient's dates it was saved on, the plan was
    made on and it was replaced on (by the next version or a newer treatment's plan; None: not yet).

    A version counts from the day it was saved, and up to and including the day it was replaced,
    so the day of a change has both (see :func:`by_day`). A version saved on the day the plan was
    made also counts back to the treatment date: a treatment entered after the visit (or adjusted
    as it was handed over) answers for its own first days. Nothing counts before the treatment
    date (a plan made ahead of a booked visit). None when no date is left.
    """
    since = program.treated_on if saved_on == made_on else max(saved_on, program.treated_on)
    if ends_on is not None and ends_on < since:
        return None
    return InForce(program, since, ends_on)


def _asked(program: Program, day: dt.date, logged: set[tuple[str, dt.date, str]], catalog: Catalog) -> DayAdherence:
    if not 0 <= (day - program.treated_on).days < program.days:
        return DayAdherence(day, 0, 0)  # outside the program: nothing due (and no routine to build)
    due = {(e.exercise_id, e.slot) for e in routine_for(program, day, catalog).entries}
    return DayAdherence(day, len(due), sum((x, day, s) in logged for x, s in due))


def by_day(
    versions: Sequence[InForce],
    done: Iterable[tuple[str, dt.date, str]],
    first: dt.date,
    last: dt.date,
    catalog: Catalog,
) -> list[DayAdherence]:
    """Per day from ``first`` to ``last`` that a plan version was in force on: entries due, and how
    many of them were logged. A day no version covers has no entry (no plan then).

    Each day is judged by what was asked that day, not by the plan as it is now. On a day two
    versions were in force (the day of an edit, or of a newer treatment's plan) the patient may
    have followed either, so the day counts as the one they did best at (by share done, then by
    items done; a version asking nothing that day counts as all done).

    ``done`` holds (exercise id, date, slot) of completions; a repeat counts once, and
    work the plan did not ask for that day does not count.
    """
    logged = set(done)
    days = []
    day = first
    while day <= last:
        asked = [_asked(v.program, day, logged, catalog) for v in versions if v.covers(day)]
        if asked:
            days.append(max(enumerate(asked), key=lambda a: (a[1].rate, a[1].done, a[0]))[1])
        day += dt.timedelta(days=1)
    return days


def version_on(
    versions: Sequence[InForce], day: dt.date, done: Iterable[tuple[str, str]], catalog: Catalog
) -> int | None:
    """Which of ``versions`` (oldest first) the patient's app shows on ``day``, given the (exercise id,
    slot) pairs logged that day: its index, None when none was in force then.

    On a day two were in force this is the one :func:`by_day` judges the day by (the best share
    done, then the most items done, then the newer), except that a version asking something that
    day comes before one asking nothing: the day of a follow-up shows the new plan, not an empty
    day of the old one. pwa/js/routine.js picks the same way; change both together.
    """
    logged = {(x, day, s) for x, s in done}
    best: tuple[tuple[bool, float, int, int], int] | None = None
    for i, v in enumerate(versions):
        if not v.covers(day):
            continue
        a = _asked(v.program, day, logged, catalog)
        key = (a.expected > 0, a.rate, a.done, i)
        if best is None or key > best[0]:
            best = (key, i)
    return None if best is None else best[1]


def missed_days(versions: Sequence[InForce], after: dt.date | None, today: dt.date, catalog: Catalog) -> int:
    """Days after ``after`` (the patient's last activity; None: never) and before ``today`` (still
    open) on which something was due: the days a patient with no activity since has let pass.

    A day the plan asked nothing of (a rest day, after the program ended, before a booked visit,
    with no plan) is not counted.
    """
    if not versions:
        return 0
    first = min(v.since for v in versions)
    if after is not None:
        first = max(first, after + dt.timedelta(days=1))
    return sum(1 for d in by_day(versions, (), first, today - dt.timedelta(days=1), catalog) if d.expected)


def by_week(days: list[DayAdherence], open_day: dt.date | None = None) -> list[WeekAdherence]:
    """Days summed into Monday-first weeks.

    On ``open_day`` (today, still going on) only what is done counts as asked: the evening's
    items are not missed at noon, and a week is not 0% on Monday morning.
    """
    weeks: dict[dt.date, list[int]] = {}
    for d in days:
        start = d.on_date - dt.timedelta(days=d.on_date.weekday())
        totals = weeks.setdefault(start, [0, 0])
        totals[0] += d.done if d.on_date == open_day else d.expected
        totals[1] += d.done
    return [
        WeekAdherence(start, expected, done, round(min(1.0, done / expected), 3) if expected else 1.0)
        for start, (expected, done) in sorted(weeks.items())
    ]


def this_week(
    versions: Sequence[InForce], done: Iterable[tuple[str, dt.date, str]], today: dt.date, catalog: Catalog
) -> WeekAdherence | None:
    """Monday to ``today`` (still open), each day judged as :func:`by_day` does; None when no plan
    covers any of it."""
    days = by_day(versions, done, today - dt.timedelta(days=today.weekday()), today, catalog)
    return by_week(days, open_day=today)[0] if days else None


def _run(days: list[DayAdherence], today: dt.date) -> tuple[int, dt.date]:
    """The streak's length, and the day before its earliest day (where it was broken, or ``days`` end)."""
    by_date = {d.on_date: d for d in days}
    day = today
    if day in by_date and by_date[day].done < by_date[day].expected:
        day -= dt.timedelta(days=1)
    count = 0
    while day in by_date and by_date[day].done >= by_date[day].expected:
        count += bool(by_date[day].expected)
        day -= dt.timedelta(days=1)
    return count, day


def streak(days: list[DayAdherence], today: dt.date) -> int:
    """Days in a row, ending today (or yesterday while today is still open), with everything due done.

    A day with nothing due (a rest day of the plan) neither counts nor breaks the run.
    """
    return _run(days, today)[0]


def streak_goes_on_before(days: list[DayAdherence], today: dt.date, first: dt.date) -> bool:
    """Whether the run :func:`streak` counts in ``days`` (from ``first``) reaches ``first`` unbroken,
    so that it may go on before: then it must be counted from earlier days."""
    count, before = _run(days, today)
    return count > 0 and before < first
