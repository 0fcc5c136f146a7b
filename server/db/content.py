"""Which content ids the stored records use, so that ``plans/`` cannot lose one a patient relies on.

A plan stores exercise and muscle ids, not texts: the texts come from ``plans/`` whenever the plan
is shown. Once a plan (or a logged completion) uses an id, that id is permanent; content that
lacks it would leave a patient's program with items nobody can read (see plans/README.md).
"""

from __future__ import annotations

from msgspec import Struct, json

from server.catalog.model import Catalog
from server.db.connection import Database

__all__ = ["ContentMissingError", "ContentUse", "content_in_use", "missing_content"]


class ContentMissingError(RuntimeError):
    """The content in ``plans/`` lacks ids that stored plans use."""


class _Item(Struct):
    exercise_id: str


class _Treated(Struct):
    muscle: str


class _Ids(Struct):
    """Only the ids of a stored program: the rest is skipped without being decoded."""

    treated: list[_Treated]
    items: list[_Item]


_ids = json.Decoder(_Ids)


class ContentUse(Struct, frozen=True):
    """Per id, the plans (any status, superseded ones too) that use it, and per exercise id the
    number of logged completions."""

    exercise_plans: dict[str, set[int]]
    muscle_plans: dict[str, set[int]]
    completions: dict[str, int]


async def content_in_use(db: Database) -> ContentUse:
    """Every exercise and muscle id the database's plans and completions use."""
    exercises: dict[str, set[int]] = {}
    muscles: dict[str, set[int]] = {}
    for row in await db.fetch_all("SELECT id, program FROM plan"):
        program = _ids.decode(row["program"])
        for item in program.items:
            exercises.setdefault(item.exercise_id, set()).add(row["id"])
        for treated in program.treated:
            muscles.setdefault(treated.muscle, set()).add(row["id"])
    rows = await db.fetch_all("SELECT exercise_id, count(*) AS n FROM completion GROUP BY exercise_id")
    return ContentUse(exercises, muscles, {r["exercise_id"]: r["n"] for r in rows})


def _uses(plans: int, completions: int) -> str:
    parts = []
    if plans:
        parts.append(f"{plans} plan{'s' if plans != 1 else ''}")
    if completions:
        parts.append(f"{completions} logged completion{'s' if completions != 1 else ''}")
    return " and ".join(parts)


def missing_content(catalog: Catalog, use: ContentUse) -> str | None:
    """One line naming every id the stored records use that ``catalog`` lacks, or ``None``."""
    missing = []
    for exercise_id in sorted(set(use.exercise_plans) | set(use.completions)):
        if exercise_id not in catalog.exercises:
            uses = _uses(len(use.exercise_plans.get(exercise_id, ())), use.completions.get(exercise_id, 0))
            missing.append(f"exercise {exercise_id!r} (used by {uses})")
    for muscle_id in sorted(use.muscle_plans):
        if muscle_id not in catalog.muscles:
            missing.append(f"muscle {muscle_id!r} (used by {_uses(len(use.muscle_plans[muscle_id]), 0)})")
    if not missing:
        return None
    return (
        f"the content lacks {len(missing)} id(s) that stored plans use: {'; '.join(missing)}. "
        "Ids are permanent once a plan uses them: put these back (a renamed item keeps its old id), "
        "see plans/README.md"
    )
