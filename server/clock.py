"""Time in one place: UTC instants as ISO text, and a clock tests can move."""

from __future__ import annotations

import datetime as dt
import zoneinfo

__all__ = ["Clock", "iso", "local_date", "parse_iso"]


def iso(moment: dt.datetime) -> str:
    """``moment`` as stored: UTC, second precision, ``Z`` suffix."""
    # isoformat, not strftime: %Y does not pad years below 1000, and the text must sort as time does.
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    """The date at ``moment`` where a patient lives (an IANA zone)."""
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()


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
