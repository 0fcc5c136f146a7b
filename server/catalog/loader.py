"""Load ``plans/`` into a validated :class:`Catalog`.

Every problem is reported with the file, the key and the reason, and all
problems are collected before failing so a content author sees them at once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct

from server.catalog.model import (
    Aftercare,
    Catalog,
    Caution,
    Condition,
    Exercise,
    Muscle,
    Template,
)

__all__ = ["CatalogError", "ContentProblem", "load_catalog"]


class ContentProblem(Struct, frozen=True):
    """One thing wrong with the content."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.reason}"


class CatalogError(Exception):
    """The content in ``plans/`` is invalid."""

    def __init__(self, problems: list[ContentProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _MuscleFile(Struct, forbid_unknown_fields=True):
    muscle: list[Muscle]


class _ExerciseFile(Struct, forbid_unknown_fields=True):
    exercise: list[Exercise]


class _ConditionFile(Struct, forbid_unknown_fields=True):
    condition: list[Condition]


class _CautionFile(Struct, forbid_unknown_fields=True):
    caution: list[Caution]


def _read(path: Path, shape: type[Any], root: Path, problems: list[ContentProblem]) -> Any | None:
    name = path.relative_to(root.parent).as_posix() if root.parent in path.parents else str(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        problems.append(ContentProblem(name, "$", "file is missing"))
        return None
    except tomllib.TOMLDecodeError as exc:
        problems.append(ContentProblem(name, "$", f"not valid TOML: {exc}"))
        return None
    try:
        return msgspec.convert(raw, shape, strict=True)
    except msgspec.ValidationError as exc:
        reason, _, key = str(exc).rpartition(" - at ")
        if not reason:
            reason, key = str(exc), "$"
        key = key.strip("`")
        problems.append(ContentProblem(name, key, reason))
        return None


def _collect(
    files: Iterable[Path], shape: type[Any], attr: str, root: Path, problems: list[ContentProblem]
) -> dict[str, tuple[Any, str, str]]:
    """Read every file of one kind; index entries by id, reporting duplicates."""
    found: dict[str, tuple[Any, str, str]] = {}
    for path in sorted(files):
        parsed = _read(path, shape, root, problems)
        if parsed is None:
            continue
        name = path.relative_to(root.parent).as_posix()
        for i, item in enumerate(getattr(parsed, attr)):
            key = f"$.{attr}[{i}].id"
            if item.id in found:
                first_file, first_key = found[item.id][1:]
                problems.append(
                    ContentProblem(
                        name, key, f"duplicate id {item.id!r} (first defined in {first_file} at {first_key})"
                    )
                )
                continue
            found[item.id] = (item, name, key)
    return found


def load_catalog(root: Path) -> Catalog:
    """Load and validate every content file under ``root``.

    Raises:
        CatalogError: listing every problem found, each with file and key.
    """
    problems: list[ContentProblem] = []
    muscles = _collect(root.glob("muscles/*.toml"), _MuscleFile, "muscle", root, problems)
    exercises = _collect(root.glob("exercises/*.toml"), _ExerciseFile, "exercise", root, problems)
    conditions = _collect([root / "conditions.toml"], _ConditionFile, "condition", root, problems)
    cautions = _collect([root / "cautions.toml"], _CautionFile, "caution", root, problems)
    aftercare = _read(root / "aftercare.toml", Aftercare, root, problems)
    template = _read(root / "template.toml", Template, root, problems)

    def dangling(kind: str, ids: Iterable[str], known: dict[str, Any], file: str, key: str) -> None:
        for ref in ids:
            if ref not in known:
                problems.append(ContentProblem(file, key, f"unknown {kind} {ref!r}"))

    for muscle, file, key in muscles.values():
        base = key.removesuffix(".id")
        dangling("condition", muscle.conditions, conditions, file, f"{base}.conditions")
        if muscle.precautions and muscle.precaution_note is None:
            problems.append(ContentProblem(file, f"{base}.precaution_note", "required when precautions are set"))
    for exercise, file, key in exercises.values():
        base = key.removesuffix(".id")
        dangling("muscle", exercise.muscles, muscles, file, f"{base}.muscles")
        dangling("caution", exercise.ask_first, cautions, file, f"{base}.ask_first")
        if len(exercise.steps.en) != len(exercise.steps.es):
            problems.append(ContentProblem(file, f"{base}.steps", "en and es have a different number of steps"))
        cap = exercise.max_hold_seconds
        if cap is not None and exercise.dosage.hold_seconds == 0:
            problems.append(ContentProblem(file, f"{base}.max_hold_seconds", "only for items with a hold_seconds"))
        elif cap is not None and cap < exercise.dosage.hold_seconds:
            problems.append(
                ContentProblem(
                    file,
                    f"{base}.max_hold_seconds",
                    f"must not be below the item's own hold_seconds ({exercise.dosage.hold_seconds})",
                )
            )
    for condition, file, key in conditions.values():
        dangling("exercise", condition.extra, exercises, file, f"{key.removesuffix('.id')}.extra")
    if template is not None:
        _check_template(template, exercises, muscles, problems)

    if problems or aftercare is None or template is None:
        raise CatalogError(problems)
    return Catalog(
        muscles={k: v[0] for k, v in muscles.items()},
        exercises={k: v[0] for k, v in exercises.items()},
        conditions={k: v[0] for k, v in conditions.items()},
        cautions={k: v[0] for k, v in cautions.items()},
        aftercare=aftercare,
        template=template,
    )


def _check_template(
    template: Template,
    exercises: dict[str, tuple[Exercise, str, str]],
    muscles: dict[str, tuple[Muscle, str, str]],
    problems: list[ContentProblem],
) -> None:
    file = "plans/template.toml"
    previous_end = -1
    for i, phase in enumerate(template.phases):
        key = f"$.phases[{i}]"
        if phase.from_day != previous_end + 1:
            problems.append(
                ContentProblem(file, f"{key}.from_day", f"must be {previous_end + 1} (phases are contiguous)")
            )
        if phase.to_day < phase.from_day:
            problems.append(ContentProblem(file, f"{key}.to_day", "must not be before from_day"))
        previous_end = phase.to_day
        for j, ref in enumerate(phase.general):
            if ref not in exercises:
                problems.append(ContentProblem(file, f"{key}.general[{j}]", f"unknown exercise {ref!r}"))
            elif phase.id not in exercises[ref][0].phases:
                problems.append(
                    ContentProblem(
                        file, f"{key}.general[{j}]", f"exercise {ref!r} is not marked for phase {phase.id!r}"
                    )
                )
        # Every treated muscle must get something to do in every phase after aftercare.
        if phase.id == "aftercare":
            continue
        for muscle_id, (_, mfile, mkey) in muscles.items():
            if not any(
                muscle_id in e.muscles and phase.id in e.phases and phase.per_muscle.get(e.kind, 0) > 0
                for e, _, _ in exercises.values()
            ):
                problems.append(
                    ContentProblem(mfile, mkey, f"muscle {muscle_id!r} has no exercise for phase {phase.id!r}")
                )
