"""Pure program logic: treated muscles to a program, a program to one day's routine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import msgspec

from server.catalog.model import Catalog, Dosage, Exercise, Phase, Side, Slot, Template
from server.programs.model import DAY_ZERO, SLOTS, PhaseSpan, PlanItem, Program, Routine, RoutineEntry, TreatedMuscle

__all__ = [
    "ProgramError",
    "check_items",
    "generate",
    "hold_cap",
    "hold_floor",
    "minutes_floor",
    "routine_for",
    "slots_for",
    "slots_needed",
]


class ProgramError(ValueError):
    """Input that cannot make a program; ``field`` names the offending input."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _check_treated(treated: Sequence[TreatedMuscle], catalog: Catalog) -> dict[str, set[Side]]:
    if not treated:
        raise ProgramError("treated", "at least one treated muscle is required")
    sides: dict[str, set[Side]] = {}
    for i, tm in enumerate(treated):
        muscle = catalog.muscles.get(tm.muscle)
        if muscle is None:
            raise ProgramError(f"treated[{i}].muscle", f"unknown muscle {tm.muscle!r}")
        if not muscle.sided and tm.side != "both":
            raise ProgramError(f"treated[{i}].side", f"{tm.muscle!r} has no sides; use 'both'")
        sides.setdefault(tm.muscle, set()).add(tm.side)
    return sides


def _merge_sides(sides: Iterable[Side]) -> Side:
    found = set(sides)
    return found.pop() if len(found) == 1 else "both"


def slots_for(exercise: Exercise, times_per_day: int, template: Template) -> tuple[Slot, ...]:
    """The slots an item done ``times_per_day`` times a day goes into, in day order: as many as
    :func:`slots_needed` says, the kind's preferred ones first."""
    ranked = dict.fromkeys((*template.slots.get(exercise.kind, ()), *SLOTS))
    chosen = set(list(ranked)[: slots_needed(times_per_day)])
    return tuple(s for s in SLOTS if s in chosen)


def slots_needed(times_per_day: int) -> int:
    """How many slots an item done ``times_per_day`` times a day takes.

    The patient's app lists an item once per slot and never reads ``times_per_day``; it is the
    "n times a day" of the printed dose. So up to three times a day is one slot each, and more
    (a posture check 4 times a day) is every slot, the rest done between them.
    """
    return min(times_per_day, len(SLOTS))


def hold_floor(exercise: Exercise) -> int:
    """The shortest hold a plan may ask of an exercise that is held: what stretching needs (10 s),
    or the content's own shorter hold (a count of 3); 0 for one that is not held."""
    return min(exercise.dosage.hold_seconds, 10)


def minutes_floor(exercise: Exercise) -> int:
    """A timed exercise (a walk, breathing) takes at least a minute; others take no minutes."""
    return 1 if exercise.dosage.minutes else 0


def hold_cap(exercise: Exercise, template: Template) -> int:
    """The longest hold an item of ``exercise`` may ask for: the template's limit, or the
    exercise's own when its source gives a shorter one."""
    return min(template.max_hold_seconds, exercise.max_hold_seconds or template.max_hold_seconds)


def _dose(exercise: Exercise, phase: Phase, step: int, template: Template) -> Dosage:
    base, kind = exercise.dosage, exercise.kind
    times = base.times_per_day
    if phase.max_times_per_day is not None:
        times = min(times, phase.max_times_per_day)
    if exercise.fixed_dose:
        return msgspec.structs.replace(base, times_per_day=times)
    if kind not in template.progress_kinds or base.minutes:
        step = 0
    # A stretch grows by holding longer (repetitions times hold stay near what stretching needs);
    # everything else grows by repetitions.
    grow_hold = kind == "stretch" and base.hold_seconds > 0
    reps = max(1, round(base.reps * phase.reps_percent / 100)) + (0 if grow_hold else step * phase.reps_per_step)
    hold = 0
    if 0 < base.hold_seconds < 5:
        # A short hold is a count ("hold for a slow count of 3"), kept as the steps say it.
        hold = base.hold_seconds
    elif base.hold_seconds:
        # Rounded to 5 s: "hold 20 s" is easier to follow than "hold 22 s".
        hold = 5 * round(base.hold_seconds * phase.hold_percent / 500) + (
            step * phase.hold_per_step if grow_hold else 0
        )
        # Never shorten a hold below what stretching needs (or below a short hold the content asks for),
        # never lengthen it past the template's limit or the item's own (a source's short hold).
        hold = min(max(hold, hold_floor(exercise)), hold_cap(exercise, template))
    return msgspec.structs.replace(
        base,
        reps=min(reps, template.max_reps),
        sets=base.sets + step * phase.sets_per_step,
        hold_seconds=hold,
        times_per_day=times,
    )


def generate(
    treated: Sequence[TreatedMuscle],
    treated_on: dt.date,
    catalog: Catalog,
    conditions: Sequence[str] = (),
) -> Program:
    """Build a dated program in phases from the treated muscles.

    Raises:
        ProgramError: an unknown muscle or condition, or a side the muscle does not have.
    """
    sides = _check_treated(treated, catalog)
    extra: list[str] = []
    for i, condition_id in enumerate(conditions):
        condition = catalog.conditions.get(condition_id)
        if condition is None:
            raise ProgramError(f"conditions[{i}]", f"unknown condition {condition_id!r}")
        extra.extend(condition.extra)
    template = catalog.template
    items: list[PlanItem] = []
    for phase in template.phases:
        # exercise id -> sides of the treated muscles it serves, in first-chosen order
        chosen: dict[str, list[Side]] = {}
        for muscle_id in sorted(sides):
            candidates = [e for e in catalog.exercises_for(muscle_id) if phase.id in e.phases]
            for kind, count in phase.per_muscle.items():
                for exercise in [e for e in candidates if e.kind == kind][:count]:
                    chosen.setdefault(exercise.id, []).extend(
                        sides[muscle_id] if catalog.muscles[muscle_id].sided else ()
                    )
        for exercise_id in (*phase.general, *extra):
            if phase.id in catalog.exercises[exercise_id].phases:
                chosen.setdefault(exercise_id, [])
        for exercise_id, item_sides in chosen.items():
            items.extend(_blocks(catalog.exercises[exercise_id], phase, item_sides, template))
    precautions = sorted({p for m in sides for p in catalog.muscles[m].precautions})
    return Program(
        treated_on=treated_on,
        treated=tuple(TreatedMuscle(m, _merge_sides(s)) for m, s in sorted(sides.items())),
        phases=tuple(PhaseSpan(p.id, p.from_day, p.to_day) for p in template.phases),
        items=tuple(items),
        precautions=tuple(precautions),
    )


def _blocks(exercise: Exercise, phase: Phase, sides: list[Side], template: Template) -> list[PlanItem]:
    step_days = phase.step_days or (phase.to_day - phase.from_day + 1)
    side = _merge_sides(sides) if sides and exercise.sided and exercise.kind in template.sided_kinds else None
    blocks = []
    for step, start in enumerate(range(phase.from_day, phase.to_day + 1, step_days)):
        dosage = _dose(exercise, phase, step, template)
        blocks.append(
            PlanItem(
                exercise_id=exercise.id,
                phase=phase.id,
                from_day=start,
                to_day=min(start + step_days - 1, phase.to_day),
                slots=slots_for(exercise, dosage.times_per_day, template),
                dosage=dosage,
                side=side,
            )
        )
    return blocks


def check_items(
    items: Sequence[PlanItem],
    catalog: Catalog,
    field: str = "items",
    phases: Sequence[PhaseSpan] | None = None,
) -> None:
    """Check items a therapist edited against the catalog and the program's ``phases`` (the
    template's when not given).

    Raises:
        ProgramError: naming the first bad item and field.
    """
    spans = {p.id: p for p in (phases if phases is not None else catalog.template.phases)}
    for i, item in enumerate(items):
        exercise = catalog.exercises.get(item.exercise_id)
        if exercise is None:
            raise ProgramError(f"{field}[{i}].exercise_id", f"unknown exercise {item.exercise_id!r}")
        span = spans.get(item.phase)
        if span is None:
            raise ProgramError(f"{field}[{i}].phase", f"this program has no phase {item.phase!r}")
        # The console offers only the exercises made for a phase (no strengthening on sore, freshly
        # needled muscles); the API keeps to the same rule.
        if item.phase not in exercise.phases:
            names = ", ".join(exercise.phases)
            raise ProgramError(f"{field}[{i}].exercise_id", f"{item.exercise_id!r} is for the phases {names} only")
        if item.to_day < item.from_day:
            raise ProgramError(f"{field}[{i}].to_day", "must not be before from_day")
        # The patient's app shows an item on its days whatever its phase, so days outside the phase
        # would put it beside the wrong phase's items (or past the program's end).
        # Days as the API counts them, which the console and the app do from 1: say which count.
        within = f"must be within its phase, days {span.from_day} to {span.to_day} ({DAY_ZERO})"
        if not span.from_day <= item.from_day <= span.to_day:
            raise ProgramError(f"{field}[{i}].from_day", within)
        if item.to_day > span.to_day:
            raise ProgramError(f"{field}[{i}].to_day", within)
        if len(set(item.slots)) != len(item.slots):
            raise ProgramError(f"{field}[{i}].slots", "a slot is listed twice")
        times = item.dosage.times_per_day
        if len(item.slots) != slots_needed(times):
            needs = f"{slots_needed(times)} times of day" if times <= len(SLOTS) else "every time of day"
            raise ProgramError(
                f"{field}[{i}].dosage.times_per_day", f"{times} times a day needs {needs}, not {len(item.slots)}"
            )
        cap, floor = hold_cap(exercise, catalog.template), hold_floor(exercise)
        if item.dosage.hold_seconds > cap:
            raise ProgramError(f"{field}[{i}].dosage.hold_seconds", f"must be at most {cap}")
        # A stretch of no hold, or a walk of no minutes, would print as a dose nobody can follow.
        if item.dosage.hold_seconds < floor:
            raise ProgramError(f"{field}[{i}].dosage.hold_seconds", f"must be at least {floor} for this exercise")
        if item.dosage.minutes < minutes_floor(exercise):
            raise ProgramError(f"{field}[{i}].dosage.minutes", "must be at least 1 for this exercise")
        if item.dosage.reps > catalog.template.max_reps:
            raise ProgramError(f"{field}[{i}].dosage.reps", f"must be at most {catalog.template.max_reps}")


def _is_active(item: PlanItem, day: int) -> bool:
    if not item.from_day <= day <= item.to_day:
        return False
    # Items done fewer than 7 days a week rest on the last days of each week of the item.
    return (day - item.from_day) % 7 < item.dosage.days_per_week


def routine_for(program: Program, on_date: dt.date, catalog: Catalog) -> Routine:
    """Everything due on ``on_date``; a date outside the program gives an empty routine."""
    day = (on_date - program.treated_on).days
    phase = next((p.id for p in program.phases if p.from_day <= day <= p.to_day), None)
    entries = []
    if phase is not None:
        for index, item in enumerate(program.items):
            if _is_active(item, day):
                entries.extend(
                    RoutineEntry(index, item.exercise_id, slot, item.dosage, item.side) for slot in item.slots
                )
    entries.sort(key=lambda e: SLOTS.index(e.slot))
    aftercare = catalog.aftercare
    # A sign for any time shows on every day, before the program too; one tied to a precaution
    # only within its hours of a muscle needled with it.
    flags = tuple(
        f.id
        for f in aftercare.red_flags
        if f.precaution is None or (f.precaution in program.precautions and within_hours(day, aftercare.window(f) or 0))
    )
    return Routine(
        on_date=on_date,
        day=day if phase is not None else None,
        phase=phase,
        entries=tuple(entries),
        aftercare=within_hours(day, aftercare.hours),
        red_flags=flags,
    )


def within_hours(day: int, hours: int) -> bool:
    """Whether day ``day`` after needling (0: the day itself) may still be within ``hours`` of it.

    Only the date of the treatment is known, not its time: counting from the end of that day, a
    48-hour sign still shows on day 2 (needled at 15:00, it lasts until 15:00 that day).
    """
    return day >= 0 and (day - 1) * 24 < hours
