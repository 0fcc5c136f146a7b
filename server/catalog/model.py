"""Immutable shapes of the clinical content in ``plans/``.

Every patient-facing text is a :class:`Text` with one field per supported
language, so a missing translation is a validation error, not a blank screen.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = [
    "LANGUAGES",
    "Aftercare",
    "Catalog",
    "Caution",
    "Condition",
    "Dosage",
    "Exercise",
    "Kind",
    "Muscle",
    "Phase",
    "PhaseId",
    "Precaution",
    "RedFlag",
    "Region",
    "Side",
    "Slot",
    "Template",
    "Text",
    "TextList",
]

LANGUAGES: tuple[str, ...] = ("en", "es")

Id = Annotated[str, Meta(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Region = Literal["neck", "jaw", "shoulder", "upper-back", "chest", "lower-back", "hip", "thigh", "calf-foot", "forearm"]
Kind = Literal["aftercare", "mobility", "stretch", "posture", "stress", "strength", "self-massage"]
PhaseId = Literal["aftercare", "mobility", "progression", "maintenance"]
Side = Literal["left", "right", "both"]
Slot = Literal["morning", "midday", "evening"]
Precaution = Literal["chest-wall", "nerve", "vessel"]
Equipment = Literal["wall", "towel", "ball", "doorway", "chair", "step", "band", "table"]

NonEmpty = Annotated[str, Meta(min_length=1, max_length=2000)]


class Text(Struct, frozen=True, forbid_unknown_fields=True):
    """A text in every supported language."""

    en: NonEmpty
    es: NonEmpty

    def get(self, lang: str) -> str:
        """The text in ``lang`` (English when the language is unknown)."""
        return getattr(self, lang, self.en)


class TextList(Struct, frozen=True, forbid_unknown_fields=True):
    """An ordered list of texts (steps) in every supported language."""

    en: Annotated[tuple[NonEmpty, ...], Meta(min_length=1, max_length=20)]
    es: Annotated[tuple[NonEmpty, ...], Meta(min_length=1, max_length=20)]

    def get(self, lang: str) -> tuple[str, ...]:
        """The list in ``lang`` (English when the language is unknown)."""
        return getattr(self, lang, self.en)


class Dosage(Struct, frozen=True, forbid_unknown_fields=True):
    """How much of an exercise, per session and per day."""

    sets: Annotated[int, Meta(ge=1, le=10)] = 1
    reps: Annotated[int, Meta(ge=1, le=50)] = 1
    hold_seconds: Annotated[int, Meta(ge=0, le=120)] = 0
    minutes: Annotated[int, Meta(ge=0, le=60)] = 0
    times_per_day: Annotated[int, Meta(ge=1, le=12)] = 1
    days_per_week: Annotated[int, Meta(ge=1, le=7)] = 7


class Muscle(Struct, frozen=True, forbid_unknown_fields=True):
    """A muscle that can be needled."""

    id: Id
    region: Region
    sided: bool
    name: Text
    referral: Text
    conditions: tuple[Id, ...] = ()
    precautions: tuple[Precaution, ...] = ()
    precaution_note: Text | None = None


class Exercise(Struct, frozen=True, forbid_unknown_fields=True):
    """One home-program item: an exercise, a habit or a piece of aftercare."""

    id: Id
    kind: Kind
    title: Text
    steps: TextList
    feel: Text
    stop: Text
    phases: Annotated[tuple[PhaseId, ...], Meta(min_length=1)]
    muscles: tuple[Id, ...] = ()
    dosage: Dosage = Dosage()
    # The longest hold a generated program may ask for (the template grows holds week by week);
    # for items whose source gives a short hold. None: only the template's limit applies.
    max_hold_seconds: Annotated[int, Meta(ge=1, le=120)] | None = None
    # False: done with both sides together or in the middle of the body (a chin tuck, shoulder
    # rolls, a bridge), so never labelled with a side, whichever side was needled.
    sided: bool = True
    # The source's own counts (Rocabado's 6 x 6), or counts the steps spell out: repetitions,
    # sets and hold stay as written in every phase; the phase still sets how often a day.
    fixed_dose: bool = False
    equipment: tuple[Equipment, ...] = ()
    ask_first: tuple[Id, ...] = ()
    avoid: Text | None = None


class Caution(Struct, frozen=True, forbid_unknown_fields=True):
    """A condition under which the patient should ask the clinician before an exercise."""

    id: Id
    text: Text


class Condition(Struct, frozen=True, forbid_unknown_fields=True):
    """A condition a therapist can start a program from."""

    id: Id
    name: Text
    summary: Text
    extra: tuple[Id, ...] = ()


class RedFlag(Struct, frozen=True, forbid_unknown_fields=True):
    """A warning sign and what to do about it."""

    id: Id
    sign: Text
    action: Text
    urgency: Literal["emergency", "same-day", "contact-clinic"]
    # Shown only for this many hours after needling a muscle with this precaution.
    precaution: Precaution | None = None
    hours: Annotated[int, Meta(ge=1, le=336)] | None = None


class Aftercare(Struct, frozen=True, forbid_unknown_fields=True):
    """General guidance for the first 24-48 hours, and the red flags."""

    hours: Annotated[int, Meta(ge=12, le=96)]
    guidance: Annotated[tuple[Text, ...], Meta(min_length=1)]
    heat: Text
    ice: Text
    neither: Text
    soreness: Text
    disclaimer: Text
    red_flags: Annotated[tuple[RedFlag, ...], Meta(min_length=1)]

    def window(self, flag: RedFlag) -> int | None:
        """The hours after needling during which ``flag`` applies (its own, else the aftercare's
        for a flag tied to a precaution); None for a flag that applies at any time."""
        if flag.precaution is None:
            return None
        return flag.hours or self.hours


class Phase(Struct, frozen=True, forbid_unknown_fields=True):
    """One phase of a program template."""

    id: PhaseId
    name: Text
    # What the phase is for, in a sentence or two the patient reads with its name: why the dose is
    # what it is (a phase that asks for less than the one before says why).
    about: Text
    from_day: Annotated[int, Meta(ge=0, le=365)]
    to_day: Annotated[int, Meta(ge=0, le=365)]
    # How many items of each kind every treated muscle gets in this phase.
    per_muscle: dict[Kind, Annotated[int, Meta(ge=0, le=5)]]
    # Items every program gets in this phase whatever was treated.
    general: tuple[Id, ...] = ()
    # Dosage progression: the phase is cut into blocks of step_days with growing dosage.
    step_days: Annotated[int, Meta(ge=1, le=365)] | None = None
    reps_per_step: Annotated[int, Meta(ge=0, le=5)] = 0
    sets_per_step: Annotated[int, Meta(ge=0, le=2)] = 0
    hold_per_step: Annotated[int, Meta(ge=0, le=15)] = 0
    # Percentages of the exercise's default dosage used at the start of this phase.
    reps_percent: Annotated[int, Meta(ge=10, le=200)] = 100
    hold_percent: Annotated[int, Meta(ge=10, le=200)] = 100
    # Caps sessions a day in this phase (maintenance needs less than recovery).
    max_times_per_day: Annotated[int, Meta(ge=1, le=12)] | None = None


class Template(Struct, frozen=True, forbid_unknown_fields=True):
    """How a program is built from the treated muscles."""

    phases: Annotated[tuple[Phase, ...], Meta(min_length=1)]
    # Slots used for 1, 2 and 3+ sessions a day, by kind.
    slots: dict[Kind, tuple[Slot, ...]]
    max_hold_seconds: Annotated[int, Meta(ge=10, le=120)] = 60
    max_reps: Annotated[int, Meta(ge=1, le=50)] = 30
    # Kinds whose dosage grows step by step; habits, breathing and timed items stay as written.
    progress_kinds: tuple[Kind, ...] = ("mobility", "stretch", "strength")
    # Kinds done on one side of the body (a posture habit or a breathing exercise has no side).
    sided_kinds: tuple[Kind, ...] = ("mobility", "stretch", "strength", "self-massage")


class Catalog(Struct, frozen=True):
    """All content, validated and indexed by id."""

    muscles: dict[str, Muscle]
    exercises: dict[str, Exercise]
    conditions: dict[str, Condition]
    cautions: dict[str, Caution]
    aftercare: Aftercare
    template: Template

    def exercises_for(self, muscle_id: str) -> list[Exercise]:
        """Exercises that target ``muscle_id``, in catalog order."""
        return [e for e in self.exercises.values() if muscle_id in e.muscles]
