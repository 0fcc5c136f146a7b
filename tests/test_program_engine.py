"""The program engine over random treated muscles and dates (pure, fast)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.catalog import Catalog, load_catalog
from server.programs import PlanItem, Program, ProgramError, TreatedMuscle, check_items, generate, routine_for
from server.programs.adherence import (
    DayAdherence,
    InForce,
    by_day,
    by_week,
    in_force,
    missed_days,
    streak,
    this_week,
)
from tests.conftest import PLANS

CATALOG = load_catalog(PLANS)
GENTLE_KINDS = {"aftercare", "mobility", "stress"}


@st.composite
def treated_sets(draw: st.DrawFn) -> list[TreatedMuscle]:
    ids = draw(st.lists(st.sampled_from(sorted(CATALOG.muscles)), min_size=1, max_size=6, unique=True))
    treated = []
    for muscle_id in ids:
        sides = ["left", "right", "both"] if CATALOG.muscles[muscle_id].sided else ["both"]
        for side in draw(st.lists(st.sampled_from(sides), min_size=1, max_size=2, unique=True)):
            treated.append(TreatedMuscle(muscle_id, side))
    return draw(st.permutations(treated))


dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))


@settings(max_examples=60, deadline=None)
@given(treated=treated_sets(), treated_on=dates)
def test_every_treated_muscle_is_stretched_or_moved_in_the_stretching_phase(
    treated: list[TreatedMuscle], treated_on: dt.date
) -> None:
    program = generate(treated, treated_on, CATALOG)
    targeted = {
        m for item in program.items if item.phase == "mobility" for m in CATALOG.exercises[item.exercise_id].muscles
    }
    assert {t.muscle for t in treated} <= targeted


@settings(max_examples=60, deadline=None)
@given(treated=treated_sets(), treated_on=dates)
def test_nothing_strenuous_is_due_in_the_first_48_hours(treated: list[TreatedMuscle], treated_on: dt.date) -> None:
    program = generate(treated, treated_on, CATALOG)
    for day in (0, 1):
        routine = routine_for(program, treated_on + dt.timedelta(days=day), CATALOG)
        kinds = {CATALOG.exercises[e.exercise_id].kind for e in routine.entries}
        assert kinds <= GENTLE_KINDS, (day, kinds)
        assert routine.aftercare


@settings(max_examples=40, deadline=None)
@given(treated=treated_sets(), treated_on=dates)
def test_every_day_of_the_program_has_a_routine(treated: list[TreatedMuscle], treated_on: dt.date) -> None:
    program = generate(treated, treated_on, CATALOG)
    assert program.days >= 28
    for day in range(program.days):
        routine = routine_for(program, treated_on + dt.timedelta(days=day), CATALOG)
        assert routine.day == day
        assert routine.entries, f"day {day} is empty"


@settings(max_examples=40, deadline=None)
@given(treated=treated_sets(), treated_on=dates)
def test_the_program_is_deterministic_and_ignores_input_order(
    treated: list[TreatedMuscle], treated_on: dt.date
) -> None:
    assert generate(treated, treated_on, CATALOG) == generate(list(reversed(treated)), treated_on, CATALOG)


@settings(max_examples=40, deadline=None)
@given(treated=treated_sets(), treated_on=dates)
def test_dosage_stays_within_the_template_limits(treated: list[TreatedMuscle], treated_on: dt.date) -> None:
    program = generate(treated, treated_on, CATALOG)
    for item in program.items:
        assert item.dosage.hold_seconds <= CATALOG.template.max_hold_seconds
        assert item.dosage.reps <= CATALOG.template.max_reps
        assert 1 <= len(item.slots) <= 3


@settings(max_examples=60, deadline=None)
@given(treated=treated_sets(), treated_on=dates, short_slots=st.booleans())
def test_every_generated_program_passes_the_checks_on_edited_items(
    treated: list[TreatedMuscle], treated_on: dt.date, short_slots: bool
) -> None:
    catalog = CATALOG
    if short_slots:
        # A clinic may rank fewer than three times of day for a kind: items still get one per time a day.
        slots = {kind: ranked[:1] for kind, ranked in catalog.template.slots.items()}
        catalog = msgspec.structs.replace(catalog, template=msgspec.structs.replace(catalog.template, slots=slots))
    program = generate(treated, treated_on, catalog, ["neck-pain"])
    check_items(program.items, catalog, phases=program.phases)


def _item(**changes: object) -> PlanItem:
    base = PlanItem(
        exercise_id="neck-side-bend-stretch",
        phase="mobility",
        from_day=2,
        to_day=6,
        slots=("morning", "evening"),
        dosage=msgspec.structs.replace(CATALOG.exercises["neck-side-bend-stretch"].dosage, times_per_day=2),
    )
    dosage = {k: changes.pop(k) for k in ("times_per_day", "hold_seconds", "reps", "minutes") if k in changes}
    return msgspec.structs.replace(base, dosage=msgspec.structs.replace(base.dosage, **dosage), **changes)


@pytest.mark.parametrize(
    "item",
    [
        _item(),
        _item(slots=("midday",), times_per_day=1),
        _item(slots=("morning", "midday", "evening"), times_per_day=3),
        # More than three times a day (a posture check): every time of day, the rest between them.
        _item(slots=("morning", "midday", "evening"), times_per_day=5),
        _item(from_day=6, to_day=6),
        _item(hold_seconds=60),
        _item(hold_seconds=10),
        _item(exercise_id="scalene-stretch", hold_seconds=15),
        _item(reps=30),
    ],
)
def test_consistent_items_pass(item: PlanItem) -> None:
    check_items([item], CATALOG)


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        (_item(slots=("morning",), times_per_day=3), "dosage.times_per_day", "3 times a day needs 3 times of day"),
        (_item(slots=("morning", "midday", "evening"), times_per_day=1), "dosage.times_per_day", "not 3"),
        (_item(slots=("morning", "evening"), times_per_day=4), "dosage.times_per_day", "needs every time of day"),
        (_item(from_day=1), "from_day", "within its phase, days 2 to 6"),
        (_item(from_day=7, to_day=8), "from_day", "within its phase, days 2 to 6"),
        (_item(to_day=7), "to_day", "within its phase, days 2 to 6"),
        (_item(hold_seconds=65), "dosage.hold_seconds", "at most 60"),
        # The exercise's own limit (its source gives 10-15 s), below the template's.
        (_item(exercise_id="scalene-stretch", hold_seconds=20), "dosage.hold_seconds", "at most 15"),
        (_item(reps=31), "dosage.reps", "at most 30"),
        # A held stretch with no hold, a walk with no minutes: a dose nobody can follow.
        (_item(hold_seconds=0), "dosage.hold_seconds", "at least 10 for this exercise"),
        (_item(hold_seconds=5), "dosage.hold_seconds", "at least 10 for this exercise"),
        (
            _item(
                exercise_id="aftercare-gentle-walk", phase="aftercare", from_day=0, to_day=1, hold_seconds=0, minutes=0
            ),
            "dosage.minutes",
            "at least 1 for this exercise",
        ),
        # Strengthening is not for the first week: the console offers it from "progression" on.
        (_item(exercise_id="toe-raises"), "exercise_id", "for the phases progression, maintenance only"),
    ],
)
def test_inconsistent_items_are_refused_naming_the_field(item: PlanItem, field: str, reason: str) -> None:
    with pytest.raises(ProgramError) as info:
        check_items([_item(), item], CATALOG)
    assert info.value.field == f"items[1].{field}"
    assert reason in info.value.reason


def test_days_outside_the_program_give_an_empty_routine(catalog: Catalog) -> None:
    treated_on = dt.date(2026, 3, 1)
    program = generate([TreatedMuscle("upper-trapezius", "left")], treated_on, catalog)
    before = routine_for(program, treated_on - dt.timedelta(days=1), catalog)
    after = routine_for(program, treated_on + dt.timedelta(days=program.days), catalog)
    for routine in (before, after):
        assert routine.entries == ()
        assert routine.day is None
        assert routine.phase is None
        assert not routine.aftercare
        # The signs that apply at any time show on every day, before the program starts too.
        assert set(routine.red_flags) == {f.id for f in catalog.aftercare.red_flags if f.precaution is None}
    assert "breathing-chest-pain" not in after.red_flags


def test_progression_raises_the_dosage_week_by_week(catalog: Catalog) -> None:
    program = generate([TreatedMuscle("levator-scapulae", "right")], dt.date(2026, 1, 5), catalog)
    blocks = [i for i in program.items if i.phase == "progression"]
    by_exercise: dict[str, list[int]] = {}
    for item in blocks:
        by_exercise.setdefault(item.exercise_id, []).append(item.dosage.reps * 1000 + item.dosage.hold_seconds)
    assert any(len(v) == 3 and v == sorted(v) and v[0] < v[-1] for v in by_exercise.values())


def test_chest_wall_muscles_show_the_breathing_red_flag_for_48_hours(catalog: Catalog) -> None:
    treated_on = dt.date(2026, 5, 10)
    program = generate([TreatedMuscle("scalenes", "left")], treated_on, catalog)
    assert "chest-wall" in program.precautions
    shown = [
        "breathing-chest-pain" in routine_for(program, treated_on + dt.timedelta(days=d), catalog).red_flags
        for d in range(4)
    ]
    # Needled at any time of day 0, 48 hours reach into day 2.
    assert shown == [True, True, True, False]


def test_scalenes_show_the_nerve_red_flag_on_the_next_day_and_not_after_its_hours(catalog: Catalog) -> None:
    treated_on = dt.date(2026, 5, 10)
    program = generate([TreatedMuscle("scalenes", "left")], treated_on, catalog)
    assert "nerve" in program.precautions
    [nerve] = [f for f in catalog.aftercare.red_flags if f.precaution == "nerve"]
    assert nerve.hours == 48
    shown = [nerve.id in routine_for(program, treated_on + dt.timedelta(days=d), catalog).red_flags for d in range(4)]
    assert shown == [True, True, True, False]
    aftercare = [routine_for(program, treated_on + dt.timedelta(days=d), catalog).aftercare for d in range(-1, 4)]
    assert aftercare == [False, True, True, True, False]


def test_an_items_own_hold_limit_stops_the_hold_growing_past_it(catalog: Catalog) -> None:
    def holds(catalog: Catalog) -> list[int]:
        program = generate([TreatedMuscle("scalenes", "left")], dt.date(2026, 1, 5), catalog)
        return [i.dosage.hold_seconds for i in program.items if i.exercise_id == "scalene-stretch"]

    assert catalog.exercises["scalene-stretch"].max_hold_seconds == 15
    assert holds(catalog)
    assert max(holds(catalog)) == 15
    # The same template without the item's limit grows the hold past what the source gives.
    uncapped = msgspec.structs.replace(catalog.exercises["scalene-stretch"], max_hold_seconds=None)
    catalog = msgspec.structs.replace(catalog, exercises={**catalog.exercises, "scalene-stretch": uncapped})
    assert max(holds(catalog)) > 15


def test_a_left_and_a_right_side_share_one_item_for_both_sides(catalog: Catalog) -> None:
    program = generate(
        [TreatedMuscle("upper-trapezius", "left"), TreatedMuscle("upper-trapezius", "right")],
        dt.date(2026, 1, 1),
        catalog,
    )
    assert {i.side for i in program.items if i.phase == "mobility" and i.side is not None} == {"both"}


def test_an_item_done_with_both_sides_together_is_never_labelled_with_the_needled_side(catalog: Catalog) -> None:
    # Shoulder rolls move both shoulders and a chin tuck is in the middle: "(left)" would tell the
    # patient to do half of it. A stretch for one side still names it.
    program = generate([TreatedMuscle("upper-trapezius", "left")], dt.date(2026, 1, 5), catalog)
    sides = {i.exercise_id: i.side for i in program.items}
    assert not catalog.exercises["shoulder-rolls"].sided
    assert sides["shoulder-rolls"] is None
    sided = [i for i in program.items if catalog.exercises[i.exercise_id].kind == "stretch"]
    assert sided
    assert {i.side for i in sided} == {"left"}
    # The same content without the flag labels it.
    labelled = msgspec.structs.replace(catalog.exercises["shoulder-rolls"], sided=True)
    catalog = msgspec.structs.replace(catalog, exercises={**catalog.exercises, "shoulder-rolls": labelled})
    program = generate([TreatedMuscle("upper-trapezius", "left")], dt.date(2026, 1, 5), catalog)
    assert {i.side for i in program.items if i.exercise_id == "shoulder-rolls"} == {"left"}


def test_a_fixed_dose_keeps_its_counts_in_every_phase_and_only_the_times_a_day_follow_the_phase(
    catalog: Catalog,
) -> None:
    def doses(catalog: Catalog) -> list[tuple[str, int, int]]:
        program = generate([TreatedMuscle("masseter", "left")], dt.date(2026, 1, 5), catalog, ["tmd"])
        items = [i for i in program.items if i.exercise_id == "rocabado-6x6"]
        return [(i.phase, i.dosage.reps, i.dosage.times_per_day) for i in items]

    rocabado = catalog.exercises["rocabado-6x6"]
    assert rocabado.fixed_dose
    found = doses(catalog)
    assert {p for p, _, _ in found} == set(rocabado.phases)
    assert {reps for _, reps, _ in found} == {rocabado.dosage.reps}
    caps = {p.id: p.max_times_per_day for p in catalog.template.phases}
    for phase, _, times in found:
        assert times == min(rocabado.dosage.times_per_day, caps[phase] or rocabado.dosage.times_per_day)
    # Without the flag the template scales and grows the repetitions.
    grown = msgspec.structs.replace(rocabado, fixed_dose=False)
    catalog = msgspec.structs.replace(catalog, exercises={**catalog.exercises, "rocabado-6x6": grown})
    assert len({reps for _, reps, _ in doses(catalog)}) > 1


def test_a_hold_of_a_few_seconds_is_kept_as_the_steps_count_it(catalog: Catalog) -> None:
    # "Hold for a slow count of 3": rounding to 5 s would contradict the steps.
    lift = catalog.exercises["lying-chest-lift"]
    assert 0 < lift.dosage.hold_seconds < 5
    program = generate([TreatedMuscle("thoracic-paraspinals", "both")], dt.date(2026, 1, 5), catalog)
    holds = {i.dosage.hold_seconds for i in program.items if i.exercise_id == "lying-chest-lift"}
    assert holds == {lift.dosage.hold_seconds}


@pytest.mark.parametrize(
    ("treated", "field"),
    [
        ([], "treated"),
        ([TreatedMuscle("not-a-muscle", "left")], "treated[0].muscle"),
        ([TreatedMuscle("upper-trapezius", "left"), TreatedMuscle("midline", "left")], "treated[1].side"),
    ],
)
def test_bad_treated_muscles_name_the_field(catalog: Catalog, treated: list[TreatedMuscle], field: str) -> None:
    # A muscle without sides (none in the shipped content yet): a copy of one, marked unsided.
    midline = msgspec.structs.replace(catalog.muscles["scalenes"], id="midline", sided=False)
    catalog = msgspec.structs.replace(catalog, muscles={**catalog.muscles, "midline": midline})
    with pytest.raises(ProgramError) as info:
        generate(treated, dt.date(2026, 1, 1), catalog)
    assert info.value.field == field


def test_an_unknown_condition_names_its_index(catalog: Catalog) -> None:
    with pytest.raises(ProgramError) as info:
        generate([TreatedMuscle("scalenes", "both")], dt.date(2026, 1, 1), catalog, ["neck-pain", "nope"])
    assert info.value.field == "conditions[1]"


@settings(max_examples=60, deadline=None)
@given(treated=treated_sets(), treated_on=dates, days_later=st.integers(-3, 40), share=st.floats(0, 1))
def test_this_week_is_the_current_week_of_the_longer_adherence_view(
    treated: list[TreatedMuscle], treated_on: dt.date, days_later: int, share: float
) -> None:
    program = generate(treated, treated_on, CATALOG)
    today = treated_on + dt.timedelta(days=days_later)
    due = [
        (e.exercise_id, day, e.slot)
        for n in range(45)
        for day in [treated_on + dt.timedelta(days=n)]
        for e in routine_for(program, day, CATALOG).entries
    ]
    done = due[: int(len(due) * share)]
    week = this_week([InForce(program, treated_on)], done, today, CATALOG)
    if today < treated_on:
        assert week is None
        return
    monday = today - dt.timedelta(days=today.weekday())
    days = by_day([InForce(program, treated_on)], done, max(treated_on, today - dt.timedelta(days=27)), today, CATALOG)
    assert week == next(w for w in by_week(days, open_day=today) if w.week_start == monday)


def test_a_rest_day_neither_counts_toward_the_streak_nor_breaks_it() -> None:
    today = dt.date(2026, 11, 26)
    # Oldest first: missed, done, rest day, done, done, and today still open.
    asked = [(2, 0), (2, 2), (0, 0), (3, 3), (1, 1), (2, 1)]
    days = [DayAdherence(today - dt.timedelta(days=5 - n), expected, done) for n, (expected, done) in enumerate(asked)]
    assert streak(days, today) == 3
    assert streak(days[:-1], today - dt.timedelta(days=1)) == 3
    assert streak([*days[:-1], DayAdherence(today, 2, 2)], today) == 4
    assert streak(days[:1], today - dt.timedelta(days=5)) == 0


def _due(program: Program, day: dt.date) -> list[tuple[str, dt.date, str]]:
    return [(e.exercise_id, day, e.slot) for e in routine_for(program, day, CATALOG).entries]


NECK = [TreatedMuscle("upper-trapezius", "left"), TreatedMuscle("levator-scapulae", "right")]


def test_a_version_answers_for_the_days_from_its_saving_and_the_first_ones_for_the_plans_first_days() -> None:
    treated_on = dt.date(2026, 11, 24)
    program = generate(NECK, treated_on, CATALOG)
    later = dt.date(2026, 11, 26)
    # Made on the treatment day, or entered two days later: answers from the treatment date.
    assert in_force(program, treated_on, treated_on, later) == InForce(program, treated_on, later)
    assert in_force(program, later, later, None) == InForce(program, treated_on, None)
    # An edit counts from the day it was saved.
    assert in_force(program, later, treated_on, None) == InForce(program, later, None)
    # A plan made ahead of a booked visit asks nothing before it; replaced before it, nothing at all.
    ahead = generate(NECK, dt.date(2026, 12, 10), CATALOG)
    assert in_force(ahead, later, later, None) == InForce(ahead, dt.date(2026, 12, 10), None)
    assert in_force(ahead, later, later, dt.date(2026, 12, 1)) is None


def test_each_day_is_judged_by_the_version_in_force_and_a_change_day_by_the_one_followed_best() -> None:
    treated_on = dt.date(2026, 11, 24)
    before = generate(NECK, treated_on, CATALOG)
    unused = next(x for x in sorted(CATALOG.exercises) if x not in {i.exercise_id for i in before.items})
    daily = msgspec.structs.replace(before.items[0].dosage, days_per_week=7)
    extra = msgspec.structs.replace(before.items[0], exercise_id=unused, from_day=0, to_day=41, dosage=daily)
    after = msgspec.structs.replace(before, items=(*before.items, extra))
    edited_on = dt.date(2026, 11, 26)
    versions = [InForce(before, treated_on, edited_on), InForce(after, edited_on)]
    done = [*_due(before, treated_on), *_due(before, dt.date(2026, 11, 25)), *_due(before, edited_on)]

    days = by_day(versions, done, treated_on - dt.timedelta(days=1), dt.date(2026, 11, 27), CATALOG)
    assert [d.on_date for d in days] == [treated_on + dt.timedelta(days=n) for n in range(4)]  # none before
    # The edit day: done in full as asked in the morning, so it counts in full.
    assert [d.rate for d in days[:3]] == [1.0, 1.0, 1.0]
    assert days[2].expected == len(_due(before, edited_on))
    day_after = dt.date(2026, 11, 27)
    assert len(_due(after, day_after)) == len(_due(before, day_after)) + len(extra.slots)
    assert days[3] == DayAdherence(day_after, len(_due(after, day_after)), 0)
    assert streak(days, dt.date(2026, 11, 27)) == 3


def test_missed_days_are_the_days_with_something_due_since_the_last_activity() -> None:
    treated_on = dt.date(2026, 9, 1)
    program = generate(NECK, treated_on, CATALOG)
    last_day = treated_on + dt.timedelta(days=program.days - 1)
    versions = [InForce(program, treated_on)]
    due_days = {treated_on + dt.timedelta(days=n) for n in range(program.days)}
    due_days = {d for d in due_days if _due(program, d)}
    long_after = last_day + dt.timedelta(days=40)
    assert missed_days(versions, last_day, long_after, CATALOG) == 0
    assert missed_days(versions, last_day - dt.timedelta(days=3), long_after, CATALOG) == 3
    assert missed_days(versions, None, long_after, CATALOG) == len(due_days)
    assert missed_days(versions, None, treated_on, CATALOG) == 0  # today is still open
    assert missed_days([], None, long_after, CATALOG) == 0
