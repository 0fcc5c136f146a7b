"""Strict content validation: `unknot plans-check` names the file, the key and the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.catalog import Catalog, CatalogError, load_catalog
from server.catalog.model import LANGUAGES
from server.cli import main
from tests.conftest import PLANS


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    copy = tmp_path / "plans"
    shutil.copytree(PLANS, copy, ignore=shutil.ignore_patterns(".*"))
    return copy


def _first_muscle_file(plans: Path) -> Path:
    return sorted((plans / "muscles").glob("*.toml"))[0]


def _neck_exercises(plans: Path) -> Path:
    return plans / "exercises" / "neck.toml"


def _check(plans: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["plans-check", str(plans)]) == 1
    return capsys.readouterr().err


def test_the_shipped_content_passes_and_reports_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plans-check", str(PLANS)]) == 0
    out = capsys.readouterr().out
    assert "muscles:" in out
    assert "exercises:" in out
    assert "languages: en, es" in out


def test_an_unknown_key_is_reported_with_file_and_key(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _first_muscle_file(plans)
    text = path.read_text()
    path.write_text(text.replace("[[muscle]]\n", '[[muscle]]\ncolour = "red"\n', 1))
    err = _check(plans, capsys)
    assert f"plans/muscles/{path.name}: $.muscle[0]: Object contains unknown field `colour`" in err


def test_a_dangling_muscle_reference_is_reported(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _neck_exercises(plans)
    text = path.read_text()
    marker = "muscles = ["
    assert marker in text
    path.write_text(text.replace(marker, 'muscles = ["no-such-muscle", ', 1))
    err = _check(plans, capsys)
    assert f"plans/exercises/{path.name}: $.exercise[" in err
    assert "].muscles: unknown muscle 'no-such-muscle'" in err


def test_a_duplicate_id_is_reported_with_both_places(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _first_muscle_file(plans)
    text = path.read_text()
    first = text[text.index("[[muscle]]") :].split("\n[[muscle]]")[0]
    path.write_text(text + "\n" + first + "\n")
    err = _check(plans, capsys)
    assert f"plans/muscles/{path.name}: $.muscle[" in err
    assert "duplicate id" in err
    assert "first defined in" in err


def test_a_missing_translation_is_an_error(plans: Path) -> None:
    path = _first_muscle_file(plans)
    lines = [line for line in path.read_text().splitlines() if not line.startswith("referral.es")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(plans)
    assert any(p.key.endswith(".referral") and "`es`" in p.reason for p in info.value.problems)


def test_a_wrong_type_is_reported(plans: Path) -> None:
    path = plans / "template.toml"
    path.write_text(path.read_text().replace("max_hold_seconds = 60", 'max_hold_seconds = "sixty"'))
    with pytest.raises(CatalogError) as info:
        load_catalog(plans)
    [problem] = info.value.problems
    assert (problem.file, problem.key) == ("plans/template.toml", "$.max_hold_seconds")
    assert "Expected `int`" in problem.reason


def test_an_items_hold_limit_below_its_own_hold_is_reported(plans: Path) -> None:
    path = _neck_exercises(plans)
    text = path.read_text()
    marker = "max_hold_seconds = 15"
    assert marker in text
    path.write_text(text.replace(marker, "max_hold_seconds = 10", 1))
    with pytest.raises(CatalogError) as info:
        load_catalog(plans)
    [problem] = info.value.problems
    assert problem.file == f"plans/exercises/{path.name}"
    assert problem.key.endswith(".max_hold_seconds")
    assert "hold_seconds (15)" in problem.reason


def test_the_catalog_is_immutable(catalog: Catalog) -> None:
    muscle = next(iter(catalog.muscles.values()))
    with pytest.raises(AttributeError):
        muscle.id = "changed"  # type: ignore[misc]


# plans/README.md: shortness of breath and chest pain never stop at "stop". Items of the first
# 48 hours after chest-wall needling send them to emergency services; every other item that works a
# chest-wall muscle (strength, self-massage, posture habits) sends them for medical help.
CHEST_LINES = {
    "en": (
        "If you feel any chest pain or become short of breath, stop and get medical help straight away.",
        "If you become short of breath, or have chest or rib pain when you breathe in, "
        "stop and call emergency services now.",
    ),
    "es": (
        "Si nota cualquier dolor en el pecho o le falta el aire, pare y busque ayuda médica enseguida.",
        "Si le falta el aire, o nota dolor en el pecho o en las costillas al tomar aire, "
        "pare y llame a emergencias ahora mismo.",
    ),
}


def test_every_item_that_works_a_chest_wall_muscle_says_what_to_do_about_chest_pain(catalog: Catalog) -> None:
    chest_wall = {m.id for m in catalog.muscles.values() if "chest-wall" in m.precautions}
    assert chest_wall
    used = [e for e in catalog.exercises.values() if chest_wall & set(e.muscles)]
    kinds = {e.kind for e in used}
    assert {"strength", "self-massage", "posture"} <= kinds, kinds
    missing = [
        f"{exercise.id}.stop.{lang}"
        for exercise in used
        for lang in LANGUAGES
        if not any(line in exercise.stop.get(lang) for line in CHEST_LINES[lang])
    ]
    assert not missing, missing


def test_no_stop_rule_about_breathing_sends_the_patient_to_the_warning_signs(catalog: Catalog) -> None:
    # The list shows the breathing sign only in its first 48 hours, while a stop rule shows on every
    # day its item is due: from day 3 a pointer there would name a sign the list no longer has.
    breathing = {"en": ("short of breath", "warning signs"), "es": ("falta el aire", "señales de alarma")}
    pointing = [
        f"{exercise.id}.stop.{lang}"
        for exercise in catalog.exercises.values()
        for lang, (about, pointer) in breathing.items()
        if about in exercise.stop.get(lang).lower() and pointer in exercise.stop.get(lang).lower()
    ]
    assert not pointing, pointing


def test_a_swollen_calf_is_a_warning_sign_on_every_day(catalog: Catalog) -> None:
    [flag] = [f for f in catalog.aftercare.red_flags if f.id == "swollen-calf"]
    assert flag.precaution is None
    assert flag.urgency == "same-day"
    assert "emergency services" in flag.action.en


def test_muscles_close_to_a_large_nerve_carry_the_nerve_precaution(catalog: Catalog) -> None:
    nerve = {m.id for m in catalog.muscles.values() if "nerve" in m.precautions}
    assert {
        "scalenes",
        "pectoralis-minor",
        "subscapularis",
        "wrist-extensors",
        "brachioradialis",
        "piriformis",
        "hamstrings",
        "iliopsoas",
        "peroneals",
    } <= nerve
