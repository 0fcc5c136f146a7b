"""Adherence from a program and what the patient logged: pure, no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from msgspec import Struct

from server.catalog.model import Catalog
from server.programs.engine import routine_for
from server.programs.model import Program

__all__ = ["DayAdherence", "WeekAdherence", "by_day", "by_week", "streak", "this_week"]


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


def by_day(
    program: Program,
    done: Iterable[tuple[str, dt.date, str]],
    first: dt.date,
    last: dt.date,
    catalog: Catalog,
) -> list[DayAdherence]:
    """Per day from ``first`` to ``last``: entries due, and how many of them were logged.

    ``done`` holds (exercise id, date, slot) of completions; a repeat counts once, and
    work the plan did not ask for that day does not count.
    """
    logged = set(done)
    days = []
    day = first
    while day <= last:
        due = {(e.exercise_id, e.slot) for e in routine_for(program, day, catalog).entries}
        days.append(DayAdherence(day, len(due), sum((x, day, s) in logged for x, s in due)))
        day += dt.timedelta(days=1)
    return days


def by_week(days: list[DayAdherence]) -> list[WeekAdherence]:
    """Days summed into Monday-first weeks."""
    weeks: dict[dt.date, list[int]] = {}
    for d in days:
        start = d.on_date - dt.timedelta(days=d.on_date.weekday())
        totals = weeks.setdefault(start, [0, 0])
        totals[0] += d.expected
        totals[1] += d.done
    return [
        WeekAdherence(start, expected, done, round(min(1.0, done / expected), 3) if expected else 1.0)
        for start, (expected, done) in sorted(weeks.items())
    ]


def this_week(
    program: Program, done: Iterable[tuple[str, dt.date, str]], today: dt.date, catalog: Catalog
) -> WeekAdherence | None:
    """Monday (or the program's first day, if later) to ``today``; None before the program starts."""
    start = max(today - dt.timedelta(days=today.weekday()), program.treated_on)
    if start > today:
        return None
    [week] = by_week(by_day(program, done, start, today, catalog))
    return week


def streak(days: list[DayAdherence], today: dt.date) -> int:
    """Days in a row, ending today (or yesterday while today is still open), with everything due done.

    A day with nothing due (a rest day of the plan) neither counts nor breaks the run.
    """
    by_date = {d.on_date: d for d in days}
    day = today
    if day in by_date and by_date[day].done < by_date[day].expected:
        day -= dt.timedelta(days=1)
    count = 0
    while day in by_date and by_date[day].done >= by_date[day].expected:
        count += bool(by_date[day].expected)
        day -= dt.timedelta(days=1)
    return count
