"""Pure program logic: no web framework and no database here."""

from __future__ import annotations

from server.programs.engine import (
    ProgramError,
    check_items,
    generate,
    hold_cap,
    hold_floor,
    minutes_floor,
    routine_for,
    slots_for,
    slots_needed,
)
from server.programs.model import SLOTS, PhaseSpan, PlanItem, Program, Routine, RoutineEntry, TreatedMuscle

__all__ = [
    "SLOTS",
    "PhaseSpan",
    "PlanItem",
    "Program",
    "ProgramError",
    "Routine",
    "RoutineEntry",
    "TreatedMuscle",
    "check_items",
    "generate",
    "hold_cap",
    "hold_floor",
    "minutes_floor",
    "routine_for",
    "slots_for",
    "slots_needed",
]
