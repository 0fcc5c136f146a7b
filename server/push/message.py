"""What a reminder says: the slot, what is left in it, about how long, in the patient's language.

The payload is the JSON the service worker receives in its ``push`` event::

    {
      "v": 1,
      "kind": "reminder",            # or "test"
      "slot": "evening",
      "on_date": "2026-11-25",       # the patient's local date
      "title": "Evening: 3 stretches, about 6 minutes",
      "body": "Tap to open today's routine.",
      "url": "/#today?slot=evening&date=2026-11-25",  # open (or focus) this on notificationclick
      "tag": "unknot-evening-2026-11-25",  # showNotification tag: a resend replaces, never stacks
                                           # (a test's is "unknot-test": it never replaces a reminder)
      "lang": "en",
      "count": 3,                    # things left to do in the slot
      "minutes": 6                   # rough time they take
    }
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import msgspec
from msgspec import Struct

from server.catalog.model import Catalog, Dosage
from server.programs import RoutineEntry

__all__ = ["TEST_TAG", "Payload", "estimate_seconds", "payload_for", "summary"]

# Every test shares one: a second test replaces the first.
TEST_TAG = "unknot-test"

# The slots as the app names them (pwa/i18n/*.js slot_*; a test keeps them the same).
_SLOT = {
    "en": {"morning": "Morning", "midday": "Midday", "evening": "Evening"},
    "es": {"morning": "Mañana", "midday": "Mediodía", "evening": "Tarde y noche"},
}
# (singular, plural) per kind, named as the app names the kind (pwa/i18n/*.js kind_*; a test keeps
# them together); "" is the word for a mix of kinds.
_NOUN = {
    "en": {
        "aftercare": ("aftercare step", "aftercare steps"),
        "mobility": ("gentle movement", "gentle movements"),
        "stretch": ("stretch", "stretches"),
        "posture": ("posture habit", "posture habits"),
        "stress": ("relaxation exercise", "relaxation exercises"),
        "strength": ("strengthening exercise", "strengthening exercises"),
        "self-massage": ("self-massage", "self-massages"),
        "": ("exercise", "exercises"),
    },
    "es": {
        "aftercare": ("cuidado", "cuidados"),
        "mobility": ("movimiento suave", "movimientos suaves"),
        "stretch": ("estiramiento", "estiramientos"),
        "posture": ("hábito postural", "hábitos posturales"),
        "stress": ("ejercicio de relajación", "ejercicios de relajación"),
        "strength": ("ejercicio de fuerza", "ejercicios de fuerza"),
        "self-massage": ("automasaje", "automasajes"),
        "": ("ejercicio", "ejercicios"),
    },
}
_TEXT = {
    "en": {
        "and": "and",
        "minutes": ("about 1 minute", "about {n} minutes"),
        "tap": "Tap to open today's routine.",
        "done": "{slot}: all done for today",
        "test": "Test reminder. This is how your reminders will look.",
        "test_title": "Test reminder",
        "test_nothing": "Reminders work on this phone. Nothing is planned for today, so none will come today.",
    },
    "es": {
        "and": "y",
        "minutes": ("1 minuto aproximadamente", "unos {n} minutos"),
        "tap": "Toque para abrir la rutina de hoy.",
        "done": "{slot}: todo hecho por hoy",
        "test": "Recordatorio de prueba. Así se verán sus recordatorios.",
        "test_title": "Recordatorio de prueba",
        "test_nothing": (
            "Los recordatorios funcionan en este teléfono. Hoy no hay nada previsto, así que hoy no recibirá ninguno."
        ),
    },
}
# Getting into position between exercises, and rest between sets.
_SETUP_SECONDS = 15
_REST_SECONDS = 30
# A repetition without a hold still takes a few seconds.
_REP_SECONDS = 4


class Payload(Struct, frozen=True, kw_only=True):
    """The JSON a reminder carries (see the module docstring)."""

    v: int = 1
    kind: Literal["reminder", "test"]
    slot: str
    on_date: dt.date
    title: str
    body: str
    url: str
    tag: str
    lang: str
    count: int
    minutes: int

    def encode(self) -> bytes:
        """The payload as sent (UTF-8 JSON, well under the 4 KB Web Push limit)."""
        return msgspec.json.encode(self)


def estimate_seconds(dosage: Dosage, both_sides: bool) -> int:
    """Rough time for one exercise at ``dosage``, counting setup and rests."""
    if dosage.minutes:
        work = dosage.minutes * 60
    else:
        work = dosage.sets * dosage.reps * max(dosage.hold_seconds, _REP_SECONDS) + (dosage.sets - 1) * _REST_SECONDS
    return (work * (2 if both_sides else 1)) + _SETUP_SECONDS


def _lang(lang: str) -> str:
    return lang if lang in _TEXT else "en"


def _count(n: int, kind: str, lang: str) -> str:
    one, many = _NOUN[lang][kind]
    return f"{n} {one if n == 1 else many}"


def summary(slot: str, entries: Sequence[RoutineEntry], catalog: Catalog, lang: str) -> tuple[str, int]:
    """``("Evening: 3 stretches, about 6 minutes", 6)`` for the entries left in a slot."""
    lang = _lang(lang)
    name = _SLOT[lang][slot]
    if not entries:
        return _TEXT[lang]["done"].format(slot=name), 0
    kinds = Counter(catalog.exercises[e.exercise_id].kind for e in entries)
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) == 1:
        what = _count(ranked[0][1], ranked[0][0], lang)
    elif len(ranked) == 2:
        (first, n1), (second, n2) = ranked
        what = f"{_count(n1, first, lang)} {_TEXT[lang]['and']} {_count(n2, second, lang)}"
    elif "aftercare" in kinds:
        # Drinking water or an easy walk is no exercise: the first days' reminders say which are
        # aftercare, and count the rest together.
        aftercare = kinds["aftercare"]
        rest = _count(len(entries) - aftercare, "", lang)
        what = f"{_count(aftercare, 'aftercare', lang)} {_TEXT[lang]['and']} {rest}"
    else:
        what = _count(len(entries), "", lang)
    seconds = sum(estimate_seconds(e.dosage, e.side == "both") for e in entries)
    minutes = max(1, math.ceil(seconds / 60))
    one, many = _TEXT[lang]["minutes"]
    return f"{name}: {what}, {one if minutes == 1 else many.format(n=minutes)}", minutes


def payload_for(
    kind: Literal["reminder", "test"],
    slot: str,
    on_date: dt.date,
    left: Sequence[RoutineEntry],
    catalog: Catalog,
    lang: str,
    *,
    planned: bool = True,
) -> Payload:
    """The notification for ``slot`` on ``on_date`` with ``left`` still to do (a test's, when the
    plan has nothing at all that day, ``planned`` false, says so rather than "all done")."""
    lang = _lang(lang)
    title, minutes = summary(slot, left, catalog, lang)
    body = _TEXT[lang]["test"] if kind == "test" else _TEXT[lang]["tap"]
    if kind == "test" and not planned and not left:
        title, body = _TEXT[lang]["test_title"], _TEXT[lang]["test_nothing"]
    return Payload(
        kind=kind,
        slot=slot,
        on_date=on_date,
        title=title,
        body=body,
        # The date too: a reminder tapped after midnight opens the day it was for.
        url=f"/#today?slot={slot}&date={on_date.isoformat()}",
        # A test has its own tag: with the reminder's, it would take that reminder's place in the tray.
        tag=TEST_TAG if kind == "test" else f"unknot-{slot}-{on_date.isoformat()}",
        lang=lang,
        count=len(left),
        minutes=minutes,
    )
