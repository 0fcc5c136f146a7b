"""A program as plain text: for clinicians to review, for print, for snapshots in tests."""

from __future__ import annotations

import msgspec

from server.catalog.model import Catalog, Dosage
from server.programs.model import SLOTS, Program

__all__ = ["dosage_text", "muscle_name", "program_text", "shown_program"]


def shown_program(program: Program, catalog: Catalog) -> Program:
    """``program`` as the content shown today has it: without the items whose exercise ``catalog``
    lacks, and with the precautions its treated muscles carry in ``catalog`` now.

    Start-up refuses content that lacks an id a stored plan uses, but a process with other content
    may share the database (a rolling update on PostgreSQL) and write such a plan meanwhile. An
    item with no instructions cannot be shown or logged, so the patient and the printout skip it
    rather than the whole plan failing. A precaution the content adds to a muscle (a vessel near
    it, say) reaches plans made before: its warning sign is shown within its hours like any other.
    """
    kept = tuple(item for item in program.items if item.exercise_id in catalog.exercises)
    now = {p for t in program.treated if (m := catalog.muscles.get(t.muscle)) for p in m.precautions}
    if len(kept) == len(program.items) and now <= set(program.precautions):
        return program
    precautions = tuple(sorted(now | set(program.precautions)))
    return msgspec.structs.replace(program, items=kept, precautions=precautions)


def muscle_name(catalog: Catalog, muscle_id: str, lang: str) -> str:
    """The muscle's name in ``lang``; its id when the content lacks it (see :func:`shown_program`)."""
    muscle = catalog.muscles.get(muscle_id)
    return muscle.name.get(lang) if muscle else muscle_id


_WORDS = {
    "en": {
        "hold": "hold {n} s",
        "reps": "{n} repetitions",
        "sets": "{n} sets",
        "minutes": "{n} min",
        "per_day": "{n} times a day",
        "once_a_day": "once a day",
        "days_week": "{n} days a week",
        "days": "Days {a}-{b}",
        "treated": "Treated on {date}",
        "watch": "First {hours} h, watch for",
        "about": "About this stage",
        "morning": "morning",
        "midday": "midday",
        "evening": "evening",
        "left": "left",
        "right": "right",
        "both": "both sides",
    },
    "es": {
        "hold": "mantener {n} s",
        "reps": "{n} repeticiones",
        "sets": "{n} series",
        "minutes": "{n} min",
        "per_day": "{n} veces al día",
        "once_a_day": "una vez al día",
        "days_week": "{n} días a la semana",
        "days": "Días {a}-{b}",
        "treated": "Tratamiento el {date}",
        "watch": "Primeras {hours} h, vigile",
        "about": "Sobre esta etapa",
        "morning": "mañana",
        "midday": "mediodía",
        "evening": "tarde",
        "left": "izquierda",
        "right": "derecha",
        "both": "ambos lados",
    },
}


def dosage_text(d: Dosage, lang: str = "en") -> str:
    """A dosage in words: "hold 30 s, 3 repetitions, 2 times a day" (not "3 times, 2 times a day",
    which a patient reading the printed plan could take either way)."""
    w = _WORDS.get(lang, _WORDS["en"])
    parts = []
    if d.minutes:
        parts.append(w["minutes"].format(n=d.minutes))
    if d.hold_seconds:
        parts.append(w["hold"].format(n=d.hold_seconds))
    if d.reps > 1:
        parts.append(w["reps"].format(n=d.reps))
    if d.sets > 1:
        parts.append(w["sets"].format(n=d.sets))
    parts.append(w["per_day"].format(n=d.times_per_day) if d.times_per_day > 1 else w["once_a_day"])
    if d.days_per_week < 7:
        parts.append(w["days_week"].format(n=d.days_per_week))
    return ", ".join(parts)


def program_text(program: Program, catalog: Catalog, lang: str = "en") -> str:
    """The whole program, phase by phase, in ``lang``."""
    w = _WORDS.get(lang, _WORDS["en"])
    program = shown_program(program, catalog)
    treated = ", ".join(f"{muscle_name(catalog, t.muscle, lang)} ({w[t.side]})" for t in program.treated)
    lines = [f"{w['treated'].format(date=program.treated_on.isoformat())}: {treated}"]
    # One line per window, each flag under its own hours (not the aftercare's), shortest first.
    windows: dict[int, list[str]] = {}
    for f in catalog.aftercare.red_flags:
        hours = catalog.aftercare.window(f)
        if hours is not None and f.precaution in program.precautions:
            windows.setdefault(hours, []).append(f.sign.get(lang))
    for hours, signs in sorted(windows.items()):
        lines.append(f"{w['watch'].format(hours=hours)}: " + " / ".join(signs))
    phases = {p.id: p for p in catalog.template.phases}
    for span in program.phases:
        lines.append("")
        lines.append(f"{w['days'].format(a=span.from_day, b=span.to_day)} · {phases[span.id].name.get(lang)}")
        lines.append(f"  {w['about']}: {phases[span.id].about.get(lang)}")
        items = [i for i in program.items if i.phase == span.id]
        for item in sorted(items, key=lambda i: (i.from_day, SLOTS.index(i.slots[0]))):
            exercise = catalog.exercises[item.exercise_id]
            side = f" ({w[item.side]})" if item.side else ""
            slots = ", ".join(w[s] for s in item.slots)
            days = (
                f"[{item.from_day}-{item.to_day}] "
                if (item.from_day, item.to_day) != (span.from_day, span.to_day)
                else ""
            )
            lines.append(f"  {days}{exercise.title.get(lang)}{side}: {dosage_text(item.dosage, lang)} ({slots})")
    return "\n".join(lines) + "\n"
