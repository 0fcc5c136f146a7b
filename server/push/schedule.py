"""When reminders are due: local wall-clock times in an IANA zone, turned into UTC instants.

Pure functions, no database: the scheduler and the API both use them. Daylight saving
is handled by ``zoneinfo``: a reminder at 19:00 stays at 19:00 local time on both sides
of a change. A time that does not exist on the day clocks go forward (02:30 in the
gap) fires at the same instant as the local time an hour later (03:30); a time that
happens twice on the day clocks go back fires once, at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable
from typing import Literal

from msgspec import Struct

from server.programs import Program

__all__ = [
    "ALL_DAYS",
    "DEFAULT_TIMES",
    "WEEKDAYS",
    "Weekday",
    "Window",
    "days_from_mask",
    "in_window",
    "local_instant",
    "mask_of",
    "next_after",
    "parse_hhmm",
    "previous_at_or_before",
    "reminds_on",
    "time_in_window",
    "zone",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = 0b111_1111
# Default reminder times per slot, local to the patient.
DEFAULT_TIMES: dict[str, str] = {"morning": "08:00", "midday": "13:00", "evening": "19:00"}

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Window(Struct, frozen=True):
    """A daily local-time window such as quiet hours; ``start > end`` wraps past midnight."""

    start: dt.time
    end: dt.time


def parse_hhmm(text: str) -> dt.time:
    """``"19:05"`` as a time.

    Raises:
        ValueError: not a 24-hour ``HH:MM`` time.
    """
    match = _HHMM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a 24-hour HH:MM time")
    return dt.time(int(match.group(1)), int(match.group(2)))


def mask_of(days: Iterable[Weekday]) -> int:
    """Weekday names as a bit mask (bit 0 = Monday)."""
    mask = 0
    for day in days:
        mask |= 1 << WEEKDAYS.index(day)
    return mask


def days_from_mask(mask: int) -> list[Weekday]:
    """The weekday names in a bit mask, Monday first."""
    return [d for i, d in enumerate(WEEKDAYS) if mask & (1 << i)]


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name`` (cached by ``zoneinfo``)."""
    return zoneinfo.ZoneInfo(name)


def local_instant(day: dt.date, at: dt.time, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz``.

    In a spring-forward gap this is the instant the clocks skipped to plus the gap's
    remainder (02:30 becomes 03:30); in a fall-back overlap it is the first 01:30.
    """
    return dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)


def next_after(at: dt.time, mask: int, tz: dt.tzinfo, after: dt.datetime) -> tuple[dt.date, dt.datetime] | None:
    """The first occurrence strictly after ``after``: its local date and UTC instant (``None`` with no weekdays)."""
    if not mask & ALL_DAYS:
        return None
    base = after.astimezone(tz).date()
    # Local dates in order give instants in order, so the first match is the earliest.
    for offset in range(-1, 9):
        day = base + dt.timedelta(days=offset)
        if mask & (1 << day.weekday()):
            instant = local_instant(day, at, tz)
            if instant > after:
                return day, instant
    raise AssertionError("unreachable: a week always holds a chosen weekday")


def previous_at_or_before(
    at: dt.time, mask: int, tz: dt.tzinfo, moment: dt.datetime
) -> tuple[dt.date, dt.datetime] | None:
    """The last occurrence at or before ``moment``: its local date and UTC instant."""
    if not mask & ALL_DAYS:
        return None
    base = moment.astimezone(tz).date()
    for offset in range(1, -9, -1):
        day = base + dt.timedelta(days=offset)
        if mask & (1 << day.weekday()):
            instant = local_instant(day, at, tz)
            if instant <= moment:
                return day, instant
    raise AssertionError("unreachable: a week always holds a chosen weekday")


def time_in_window(at: dt.time, window: Window | None) -> bool:
    """Whether wall-clock ``at`` falls inside ``window`` (start inclusive, end exclusive)."""
    if window is None or window.start == window.end:
        return False
    if window.start < window.end:
        return window.start <= at < window.end
    return at >= window.start or at < window.end


def in_window(moment: dt.datetime, window: Window | None, tz: dt.tzinfo) -> bool:
    """Whether ``moment``'s local wall-clock time in ``tz`` falls inside ``window``."""
    return time_in_window(moment.astimezone(tz).time().replace(second=0, microsecond=0, tzinfo=None), window)


def reminds_on(program: Program, made_on: dt.date, day: dt.date, slot: str) -> bool:
    """Whether ``program`` (made on the patient's date ``made_on``) may remind of ``slot`` on ``day``,
    should something be left to do in it: the scheduler plans by it, and the next time a reminder
    comes is worked out by it too.

    Only on the program's days: before its first day and after its last there is nothing of its to
    do, and nothing is recorded either (the therapist's log would fill with a line a slot a day). On
    the first day of a plan made before that day (prepared ahead of a booked visit), only in the
    evening: the visit's time is not known, and a morning or midday reminder of the aftercare could
    come before the needling has happened. A plan entered on the day of the visit (after it, as a
    rule) reminds at every time of that day still to come.
    """
    if not program.treated_on <= day <= program.last_day:
        return False
    return not (day == program.treated_on and made_on < day and slot != "evening")
