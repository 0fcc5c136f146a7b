"""Strict content validation: `unknot plans-check` names the file, the key and the reason."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Iterator
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


def test_a_phase_without_its_explanation_is_reported(plans: Path) -> None:
    path = plans / "template.toml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("about.es")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(plans)
    [problem] = info.value.problems
    assert (problem.file, problem.key) == ("plans/template.toml", "$.phases[0].about")
    assert "`es`" in problem.reason


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


# plans/README.md, "Muscles near a large vessel or nerve": what the patient must watch for in every
# item of the listed kinds that works one of these muscles, in the item's stop or avoid text.
NEAR_VESSEL_OR_NERVE = {
    # Carotid artery and jugular vein beside it: hands on the neck never press the front or a pulse.
    "sternocleidomastoid": (
        {"stretch", "self-massage", "strength"},
        {"en": ("front of the neck or on a pulse",), "es": ("parte delantera del cuello ni sobre el pulso",)},
    ),
    # Vertebral artery below them: any neck item stops at the signs of trouble in it.
    "suboccipitals": (
        {"mobility", "stretch", "strength", "self-massage"},
        {
            "en": (
                "Stop at once and keep still if you feel dizzy or sick, or your vision blurs or doubles; if it "
                "does not pass within a few minutes, get medical help straight away. If your speech is slurred, "
                "your face feels numb or you cannot swallow properly, call emergency services now.",
            ),
            "es": (
                "Pare enseguida y no se mueva si nota mareo o náuseas, o si ve borroso o doble; si no se le pasa "
                "en unos minutos, busque ayuda médica enseguida. Si habla con dificultad, nota la cara adormecida "
                "o no puede tragar bien, llame a emergencias ahora mismo.",
            ),
        },
    ),
    # Femoral artery and vein in the groin: a ball or tool keeps off the crease where the pulse is.
    "adductors": (
        {"self-massage"},
        {
            "en": ("top of the inner thigh, where you can feel a pulse",),
            "es": ("parte alta de la cara interna del muslo, donde se nota el pulso",),
        },
    ),
    # Median and ulnar nerves: tingling or numbness into the fingers stops the item.
    "wrist-flexors": (
        {"mobility", "stretch", "strength", "self-massage"},
        {"en": ("tingling or numbness in the fingers",), "es": ("hormigueo o adormecimiento en los dedos",)},
    ),
}


@pytest.mark.parametrize("muscle_id", sorted(NEAR_VESSEL_OR_NERVE))
def test_every_item_for_a_muscle_near_a_large_vessel_or_nerve_says_its_precaution(
    catalog: Catalog, muscle_id: str
) -> None:
    kinds, phrases = NEAR_VESSEL_OR_NERVE[muscle_id]
    used = [e for e in catalog.exercises_for(muscle_id) if e.kind in kinds]
    assert used, muscle_id
    missing = [
        f"{exercise.id}.{lang}: {phrase!r}"
        for exercise in used
        for lang, wanted in phrases.items()
        for phrase in wanted
        if phrase.lower() not in " ".join(t.get(lang) for t in (exercise.stop, exercise.avoid) if t is not None).lower()
    ]
    assert not missing, missing


def test_muscles_near_a_large_vessel_or_nerve_carry_its_precaution_and_a_note(catalog: Catalog) -> None:
    muscles = catalog.muscles
    assert {"iliopsoas", "sternocleidomastoid", "adductors"} <= {
        m.id for m in muscles.values() if "vessel" in m.precautions
    }
    assert "nerve" in muscles["wrist-flexors"].precautions
    # The vertebral artery lies deep: no swelling to watch for, so a note and the items' stop rules.
    note = muscles["suboccipitals"].precaution_note
    assert note is not None
    assert "vertebral artery" in note.en
    assert "arteria vertebral" in note.es
    for muscle_id in NEAR_VESSEL_OR_NERVE:
        assert muscles[muscle_id].precaution_note is not None, muscle_id


def test_the_swelling_sign_after_needling_near_a_large_vessel_names_the_neck_and_inner_thigh(catalog: Catalog) -> None:
    [flag] = [f for f in catalog.aftercare.red_flags if f.precaution == "vessel"]
    for word in ("groin", "inner thigh", "neck"):
        assert word in flag.sign.en, word
    for word in ("ingle", "muslo", "cuello"):
        assert word in flag.sign.es, word
    assert "emergency services" in flag.action.en
    assert "emergencias" in flag.action.es


# Looking up (extension) while the head is turned (rotation) at the end of range narrows the room of
# the vertebral artery: no neck item asks for both. Negations ("do not look up") belong in `avoid`.
EXTENSION = {
    "en": ("look up", "looking up", "a little up", "up and", "tip your head back", "tilt your head back", "ceiling"),
    "es": ("hacia arriba", "hacia atrás la cabeza", "la cabeza hacia atrás", "techo"),
}
ROTATION = {"en": ("turn your face", "turn your head", "look over"), "es": ("gire",)}


def test_no_neck_item_combines_looking_up_with_turning_the_head(catalog: Catalog) -> None:
    neck = {m.id for m in catalog.muscles.values() if m.region == "neck"}
    items = [e for e in catalog.exercises.values() if neck & set(e.muscles) and e.kind != "posture"]
    assert "scalene-stretch" in {e.id for e in items}
    both = [
        f"{exercise.id}.steps.{lang}"
        for exercise in items
        for lang in LANGUAGES
        if any(cue in " ".join(exercise.steps.get(lang)).lower() for cue in EXTENSION[lang])
        and any(cue in " ".join(exercise.steps.get(lang)).lower() for cue in ROTATION[lang])
    ]
    assert not both, both


# Tingling or numbness going down the leg or into the foot during a stretch for the low back, hip,
# thigh, calf or foot can come from a stretched nerve: the stretch stops.
FOOT_NUMBNESS = {
    "en": "tingling or numbness down the leg or in the foot",
    "es": "hormigueo o adormecimiento que baja por la pierna o en el pie",
}


def test_every_lower_limb_and_low_back_stretch_stops_at_tingling_or_numbness_in_the_foot(catalog: Catalog) -> None:
    lower = {m.id for m in catalog.muscles.values() if m.region in {"lower-back", "hip", "thigh", "calf-foot"}}
    stretches = [e for e in catalog.exercises.values() if e.kind == "stretch" and lower & set(e.muscles)]
    assert len(stretches) >= 10
    missing = [
        f"{exercise.id}.stop.{lang}"
        for exercise in stretches
        for lang, phrase in FOOT_NUMBNESS.items()
        if phrase not in exercise.stop.get(lang)
    ]
    assert not missing, missing


def test_the_quadratus_lumborum_note_says_what_breathlessness_or_chest_pain_means(catalog: Catalog) -> None:
    muscle = catalog.muscles["quadratus-lumborum"]
    assert "chest-wall" in muscle.precautions
    assert muscle.precaution_note is not None
    assert "rib" in muscle.precaution_note.en
    assert "short of breath" in muscle.precaution_note.en
    assert "emergency services" in muscle.precaution_note.en
    assert "falta el aire" in muscle.precaution_note.es
    assert "emergencias" in muscle.precaution_note.es


def test_the_breathing_warning_sends_the_patient_to_emergency_services_not_the_clinic(catalog: Catalog) -> None:
    [flag] = [f for f in catalog.aftercare.red_flags if f.id == "breathing-chest-pain"]
    assert flag.urgency == "emergency"
    assert flag.action.en.startswith("Call emergency services now")
    assert flag.action.es.startswith("Llame ahora a emergencias")
    assert "clinic" not in flag.action.en.lower()
    assert "clínica" not in flag.action.es.lower()
    # The app heads the sign with its urgency's line, in both languages.
    root = PLANS.parent / "pwa" / "i18n"
    lines = {
        "en": 'urgency_emergency: "Call emergency services now"',
        "es": 'urgency_emergency: "Llame ahora a emergencias"',
    }
    for lang, line in lines.items():
        assert line in (root / f"{lang}.js").read_text(), lang


# Words only "tú" uses (and a pronoun joined to a "tú" command: "siéntate", "estírate"); the content
# speaks to the patient as "usted" throughout, as the app does. ("estira" is also "usted estira",
# so a "tú" command such as "Ahora estira" is for a reviewer to catch.)
_TU = {"tu", "tus", "ti", "te", "contigo", "puedes", "tienes", "debes", "sientes", "estás", "eres", "haz", "mantén"}


def _spanish_texts(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "es":
                yield from [value] if isinstance(value, str) else value
            else:
                yield from _spanish_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _spanish_texts(value)


def test_the_spanish_content_speaks_to_the_patient_as_usted() -> None:
    found = []
    for path in sorted(PLANS.rglob("*.toml")):
        for text in _spanish_texts(tomllib.loads(path.read_text())):
            for word in re.findall(r"\w+", text.lower()):
                joined = re.search(r"[áéíóú]", word) and word.endswith("te") and not word.endswith("mente")
                if word in _TU or joined:
                    found.append(f"{path.name}: {word!r} in {text[:60]!r}")
    assert found == []
