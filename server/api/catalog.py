"""Public catalog routes: muscles, exercises and the content they carry."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from msgspec import Struct

from server.api.deps import CatalogDep
from server.api.errors import InputError
from server.catalog.model import Dosage, Exercise, Kind, Muscle, PhaseId, Region
from server.programs import hold_cap, hold_floor, minutes_floor

__all__ = [
    "AftercareOut",
    "CatalogController",
    "ConditionOut",
    "ExerciseOut",
    "Lang",
    "MuscleOut",
    "PatientLangQuery",
    "aftercare_out",
    "exercise_out",
    "muscle_out",
]

Lang = Literal["en", "es"]
LangParam = Annotated[Lang, QueryParameter(description="Language of the texts")]
# For texts about one patient: their own language unless asked otherwise.
PatientLangQuery = Annotated[Lang | None, QueryParameter(description="Language; the patient's own by default")]


class MuscleOut(Struct, frozen=True):
    """A muscle in one language."""

    id: str
    name: str
    region: Region
    sided: bool
    referral: str
    conditions: list[str]
    precautions: list[str]
    precaution_note: str | None


class RegionOut(Struct, frozen=True):
    """One body region and its muscles."""

    region: Region
    muscles: list[MuscleOut]


class ExerciseOut(Struct, frozen=True):
    """An exercise in one language."""

    id: str
    kind: Kind
    title: str
    steps: list[str]
    feel: str
    stop: str
    avoid: str | None
    muscles: list[str]
    phases: list[PhaseId]
    # Whether a plan labels it with the needled side: done one side at a time (not a habit, not
    # done with both sides together or in the middle of the body).
    sided: bool
    dosage: Dosage
    # The longest hold a plan may ask of it: the template's limit, or the exercise's own if lower.
    max_hold_seconds: int
    # The shortest hold and the fewest minutes a plan may ask (0: it is not held, not timed).
    min_hold_seconds: int
    min_minutes: int
    # The most repetitions a plan may ask (the template's limit).
    max_reps: int
    equipment: list[str]
    ask_first: list[str]


class ConditionOut(Struct, frozen=True):
    """A condition a therapist can start a program from, in one language."""

    id: str
    name: str
    summary: str
    # The exercises and habits it adds to a program, in the phases each is marked for.
    extra: list[str]


class AftercareOut(Struct, frozen=True):
    """First-days guidance in the patient's language."""

    hours: int
    guidance: list[str]
    temperature: str
    soreness: str
    disclaimer: str


def aftercare_out(catalog: CatalogDep, temperature: str, lang: str) -> AftercareOut:
    """The aftercare texts in ``lang``, with the clinic's choice of cold or warm advice (a settings value)."""
    after = catalog.aftercare
    return AftercareOut(
        after.hours,
        [g.get(lang) for g in after.guidance],
        getattr(after, temperature).get(lang),
        after.soreness.get(lang),
        after.disclaimer.get(lang),
    )


def muscle_out(m: Muscle, lang: str) -> MuscleOut:
    """A muscle's texts in ``lang``."""
    return MuscleOut(
        id=m.id,
        name=m.name.get(lang),
        region=m.region,
        sided=m.sided,
        referral=m.referral.get(lang),
        conditions=list(m.conditions),
        precautions=list(m.precautions),
        precaution_note=m.precaution_note.get(lang) if m.precaution_note else None,
    )


def exercise_out(e: Exercise, catalog: CatalogDep, lang: str) -> ExerciseOut:
    """An exercise's texts in ``lang``, cautions spelled out."""
    return ExerciseOut(
        id=e.id,
        kind=e.kind,
        title=e.title.get(lang),
        steps=list(e.steps.get(lang)),
        feel=e.feel.get(lang),
        stop=e.stop.get(lang),
        avoid=e.avoid.get(lang) if e.avoid else None,
        muscles=list(e.muscles),
        phases=list(e.phases),
        sided=e.sided and e.kind in catalog.template.sided_kinds,
        dosage=e.dosage,
        max_hold_seconds=hold_cap(e, catalog.template),
        min_hold_seconds=hold_floor(e),
        min_minutes=minutes_floor(e),
        max_reps=catalog.template.max_reps,
        equipment=list(e.equipment),
        ask_first=[catalog.cautions[c].text.get(lang) for c in e.ask_first],
    )


class CatalogController(Controller):
    """The content library, readable by anyone: it holds no patient data."""

    path = "/api/v1/catalog"
    tags = ["catalog"]

    @get("/muscles", summary="Muscles grouped by body region", opt={"public": True})
    async def muscles(
        self,
        catalog: CatalogDep,
        region: Annotated[Region | None, QueryParameter(description="Only this region")] = None,
        lang: LangParam = "en",
    ) -> list[RegionOut]:
        groups: dict[Region, list[MuscleOut]] = {}
        for m in catalog.muscles.values():
            if region is None or m.region == region:
                groups.setdefault(m.region, []).append(muscle_out(m, lang))
        return [RegionOut(r, ms) for r, ms in groups.items()]

    @get("/conditions", summary="Conditions a program can be started from", opt={"public": True})
    async def conditions(self, catalog: CatalogDep, lang: LangParam = "en") -> list[ConditionOut]:
        return [
            ConditionOut(id=c.id, name=c.name.get(lang), summary=c.summary.get(lang), extra=list(c.extra))
            for c in catalog.conditions.values()
        ]

    @get("/exercises", summary="Exercises, filtered by muscle and kind", opt={"public": True})
    async def exercises(
        self,
        catalog: CatalogDep,
        muscle: Annotated[str | None, QueryParameter(max_length=64)] = None,
        kind: Annotated[Kind | None, QueryParameter()] = None,
        lang: LangParam = "en",
    ) -> list[ExerciseOut]:
        if muscle is not None and muscle not in catalog.muscles:
            raise InputError("muscle", f"unknown muscle {muscle!r}", status=400)
        return [
            exercise_out(e, catalog, lang)
            for e in catalog.exercises.values()
            if (muscle is None or muscle in e.muscles) and (kind is None or e.kind == kind)
        ]

    @get("/exercises/{exercise_id:str}", summary="One exercise", opt={"public": True})
    async def exercise(self, catalog: CatalogDep, exercise_id: FromPath[str], lang: LangParam = "en") -> ExerciseOut:
        found = catalog.exercises.get(exercise_id)
        if found is None:
            raise NotFoundException(f"no exercise {exercise_id!r}")
        return exercise_out(found, catalog, lang)
