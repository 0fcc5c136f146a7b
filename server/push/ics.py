"""The reminder times as an iCalendar file (RFC 5545), for devices where push is not available.

One weekly recurring event per enabled slot, at the patient's local time with the
patient's ``TZID``, without the days the plan has nothing for that slot (``EXDATE``), and a
``VTIMEZONE`` built from the zone's real transitions so calendars without that zone still
place the events right across daylight saving.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from msgspec import Struct

from server.push.schedule import WEEKDAYS, parse_hhmm

__all__ = ["CalendarRule", "calendar"]

_SUMMARY = {
    "en": {"morning": "Morning exercises", "midday": "Midday exercises", "evening": "Evening exercises"},
    "es": {
        "morning": "Ejercicios de la mañana",
        "midday": "Ejercicios del mediodía",
        "evening": "Ejercicios de la tarde y noche",
    },
}
_DESCRIPTION = {
    "en": "Your home program in Unknot: open the app to see what is due.",
    "es": "Su programa en casa en Unknot: abra la app para ver lo que le toca.",
}
_BYDAY = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
# How far the VTIMEZONE's transitions reach, in years from the first event.
_YEARS = 3


class CalendarRule(Struct, frozen=True):
    """An enabled reminder: slot, local ``HH:MM``, weekday names, and dates with nothing to remind of."""

    slot: str
    local_time: str
    weekdays: Sequence[str]
    skip: Sequence[dt.date] = ()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets, never inside a UTF-8 sequence."""
    out, current = [], b""
    for char in line:
        encoded = char.encode()
        limit = 75 if not out else 74
        if len(current) + len(encoded) > limit:
            out.append(current.decode())
            current = b""
        current += encoded
    out.append(current.decode())
    return "\r\n ".join(out)


def _offset(delta: dt.timedelta | None) -> str:
    seconds = int((delta or dt.timedelta()).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    text = f"{sign}{seconds // 3600:02d}{seconds % 3600 // 60:02d}"
    return text + (f"{seconds % 60:02d}" if seconds % 60 else "")


def _transitions(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """UTC instants in [start, end) where the zone's offset changes, to the second."""
    found = []
    step = dt.timedelta(days=1)
    moment = start
    while moment < end:
        following = moment + step
        if moment.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            low, high = moment, following
            while high - low > dt.timedelta(seconds=1):
                mid = low + (high - low) / 2
                if mid.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    low = mid
                else:
                    high = mid
            found.append(high.replace(microsecond=0))
        moment = following
    return found


def _vtimezone(name: str, first: dt.datetime) -> list[str]:
    tz = ZoneInfo(name)
    start = first - dt.timedelta(days=1)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{name}"]
    initial = start.astimezone(tz)
    # The offset in force when the events begin.
    kind = "DAYLIGHT" if initial.dst() else "STANDARD"
    lines += [
        f"BEGIN:{kind}",
        f"DTSTART:{initial.replace(tzinfo=None):%Y%m%dT%H%M%S}",
        f"TZOFFSETFROM:{_offset(initial.utcoffset())}",
        f"TZOFFSETTO:{_offset(initial.utcoffset())}",
        f"TZNAME:{initial.tzname()}",
        f"END:{kind}",
    ]
    for instant in _transitions(tz, start, start + dt.timedelta(days=366 * _YEARS)):
        before = (instant - dt.timedelta(seconds=1)).astimezone(tz)
        after = instant.astimezone(tz)
        kind = "DAYLIGHT" if after.dst() else "STANDARD"
        # DTSTART is the local time, in the offset before the change, at which it happens.
        local = instant + (before.utcoffset() or dt.timedelta())
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{local.replace(tzinfo=None):%Y%m%dT%H%M%S}",
            f"TZOFFSETFROM:{_offset(before.utcoffset())}",
            f"TZOFFSETTO:{_offset(after.utcoffset())}",
            f"TZNAME:{after.tzname()}",
            f"END:{kind}",
        ]
    lines.append("END:VTIMEZONE")
    return lines


def calendar(
    *,
    patient_key: str,
    timezone: str,
    lang: str,
    rules: Sequence[CalendarRule],
    starts_on: dt.date,
    until: dt.date | None,
    now: dt.datetime,
    app_url: str,
) -> str:
    """An iCalendar document with one weekly event per rule, from ``starts_on`` to ``until`` (local dates)."""
    lang = lang if lang in _SUMMARY else "en"
    tz = ZoneInfo(timezone)
    host = urlsplit(app_url).hostname or "unknot"
    uid_base = hashlib.sha256(f"unknot-reminders:{patient_key}".encode()).hexdigest()[:24]
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    first = dt.datetime.combine(starts_on, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Unknot//Reminders//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape('Unknot')}",
        f"X-WR-TIMEZONE:{timezone}",
        *_vtimezone(timezone, first),
    ]
    for rule in rules:
        days = [d for d in WEEKDAYS if d in rule.weekdays]
        if not days:
            continue
        at = parse_hhmm(rule.local_time)
        # Start on the first listed weekday on or after starts_on, so DTSTART is itself an occurrence.
        begin = starts_on
        while WEEKDAYS[begin.weekday()] not in days:
            begin += dt.timedelta(days=1)
        if until is not None and begin > until:
            # RFC 5545 counts DTSTART as an occurrence even past UNTIL: calendars would remind after the end.
            continue
        rrule = f"RRULE:FREQ=WEEKLY;BYDAY={','.join(_BYDAY[d] for d in days)}"
        if until is not None:
            # With a TZID start, UNTIL must be UTC: the end of the last local day.
            last = dt.datetime.combine(until, dt.time(23, 59, 59), tzinfo=tz).astimezone(dt.UTC)
            rrule += f";UNTIL={last:%Y%m%dT%H%M%SZ}"
        summary = _SUMMARY[lang][rule.slot]
        url = f"{app_url.rstrip('/')}/#today?slot={rule.slot}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid_base}-{rule.slot}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;TZID={timezone}:{begin:%Y%m%d}T{at:%H%M}00",
            "DURATION:PT15M",
            rrule,
            *(f"EXDATE;TZID={timezone}:{day:%Y%m%d}T{at:%H%M}00" for day in sorted(rule.skip) if day >= begin),
            f"SUMMARY:{_escape(summary)}",
            f"DESCRIPTION:{_escape(_DESCRIPTION[lang])}",
            f"URL:{url}",
            "TRANSP:TRANSPARENT",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "TRIGGER:PT0M",
            f"DESCRIPTION:{_escape(summary)}",
            "END:VALARM",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
