"""Time in one place: UTC instants as ISO text, and a clock tests can move."""

from __future__ import annotations

import datetime as dt
import zoneinfo

__all__ = ["CLOCKS_APART", "Clock", "clocks_apart", "iso", "local_date", "parse_iso"]

# Synchronised clocks (NTP) are milliseconds apart; seconds mean one of them is not.
CLOCKS_APART = dt.timedelta(seconds=5)


def iso(moment: dt.datetime) -> str:
    """``moment`` as stored: UTC, second precision, ``Z`` suffix."""
    # isoformat, not strftime: %Y does not pad years below 1000, and the text must sort as time does.
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    """The date at ``moment`` where a patient lives (an IANA zone)."""
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def clocks_apart(ahead: dt.timedelta | None) -> str | None:
    """What to say when this machine's clock is ``ahead`` of the database server's by more than
    synchronised clocks ever are (negative: behind), or ``None``."""
    # Each app process judges by its own clock when a reminder is due and when another process's
    # claim on one has run out.
    if ahead is None or abs(ahead) <= CLOCKS_APART:
        return None
    side = "ahead of" if ahead > dt.timedelta(0) else "behind"
    return (
        f"this machine's clock is {abs(ahead).total_seconds():.0f} s {side} the database server's; app processes "
        "whose clocks differ send reminders early or late, and may send one twice: synchronise this machine's "
        "clock (NTP)"
    )


def parse_iso(text: str) -> dt.datetime:
    """The inverse of :func:`iso`."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Clock:
    """The current time; a test sets ``fixed`` to control it."""

    def __init__(self, fixed: dt.datetime | None = None) -> None:
        self.fixed = fixed

    def now(self) -> dt.datetime:
        """Now, as an aware UTC datetime."""
        return self.fixed if self.fixed is not None else dt.datetime.now(dt.UTC)
