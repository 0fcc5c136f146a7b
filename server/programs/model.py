"""Shapes of a generated program and of one day's routine."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from msgspec import Meta, Struct

from server.catalog.model import Dosage, PhaseId, Side, Slot

__all__ = [
    "DAY_ZERO",
    "SLOTS",
    "PhaseSpan",
    "PlanDay",
    "PlanItem",
    "Program",
    "Routine",
    "RoutineEntry",
    "TreatedMuscle",
]

SLOTS: tuple[Slot, ...] = ("morning", "midday", "evening")

MuscleId = Annotated[str, Meta(min_length=1, max_length=64, description="A muscle id from the catalog")]
# The API counts a program's days from 0; the console and the patient's app call the day of needling
# day 1. Errors about an item's days say so.
DAY_ZERO = "day 0 is the day of needling"
PlanDay = Annotated[
    int,
    Meta(
        ge=0,
        le=365,
        description="A day of the program counted from 0: day 0 is the day of needling "
        "(the console and the patient's app call it day 1)",
    ),
]


class TreatedMuscle(Struct, frozen=True, forbid_unknown_fields=True):
    """A muscle that was needled, and on which side."""

    muscle: MuscleId
    side: Side = "both"


class PlanItem(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One exercise done on days ``from_day``..``to_day`` (day 0 = day of needling)."""

    exercise_id: Annotated[str, Meta(min_length=1, max_length=64)]
    phase: PhaseId
    from_day: PlanDay
    to_day: PlanDay
    slots: Annotated[tuple[Slot, ...], Meta(min_length=1, max_length=3)]
    dosage: Dosage
    side: Side | None = None


class PhaseSpan(Struct, frozen=True):
    """Where a phase starts and ends, in days after needling."""

    id: PhaseId
    from_day: int
    to_day: int


class Program(Struct, frozen=True, kw_only=True):
    """A dated home program: phases and the items in them."""

    treated_on: dt.date
    treated: tuple[TreatedMuscle, ...]
    phases: tuple[PhaseSpan, ...]
    items: tuple[PlanItem, ...]
    # Precautions (such as "chest-wall") carried by the treated muscles.
    precautions: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        """Number of days the program runs, day 0 included."""
        return max((p.to_day for p in self.phases), default=-1) + 1

    @property
    def last_day(self) -> dt.date:
        """The date of the program's last day."""
        return self.treated_on + dt.timedelta(days=self.days - 1)


class RoutineEntry(Struct, frozen=True):
    """One thing to do in one slot of one day."""

    item: int
    exercise_id: str
    slot: Slot
    dosage: Dosage
    side: Side | None = None


class Routine(Struct, frozen=True, kw_only=True):
    """Everything due on one date, by slot."""

    on_date: dt.date
    day: int | None
    phase: PhaseId | None
    entries: tuple[RoutineEntry, ...]
    aftercare: bool
    red_flags: tuple[str, ...]

    def slot(self, slot: Slot) -> tuple[RoutineEntry, ...]:
        """The entries of one slot."""
        return tuple(e for e in self.entries if e.slot == slot)
