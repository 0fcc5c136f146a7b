"""Reminder times and texts, without the server: local times across daylight saving, quiet hours,
what a notification says, and the calendar file."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.catalog import Catalog
from server.catalog.model import Dosage
from server.programs import RoutineEntry
from server.push.ics import CalendarRule, calendar
from server.push.message import _NOUN, payload_for, summary
from server.push.schedule import (
    ALL_DAYS,
    Window,
    in_window,
    mask_of,
    next_after,
    parse_hhmm,
    previous_at_or_before,
    time_in_window,
)

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# (zone, local date before the change, its 19:00 in UTC, local date after, its 19:00 in UTC)
DST_CHANGES = [
    ("Europe/Berlin", "2026-03-28", "2026-03-28T18:00", "2026-03-29", "2026-03-29T17:00"),
    ("Europe/Berlin", "2026-10-24", "2026-10-24T17:00", "2026-10-25", "2026-10-25T18:00"),
    ("America/New_York", "2026-03-07", "2026-03-08T00:00", "2026-03-08", "2026-03-08T23:00"),
    ("America/New_York", "2026-10-31", "2026-10-31T23:00", "2026-11-01", "2026-11-02T00:00"),
]


@pytest.mark.parametrize(("name", "before", "before_utc", "after", "after_utc"), DST_CHANGES)
def test_a_daylight_saving_change_keeps_the_local_time(
    name: str, before: str, before_utc: str, after: str, after_utc: str
) -> None:
    tz = zoneinfo.ZoneInfo(name)
    at = parse_hhmm("19:00")
    first = next_after(at, ALL_DAYS, tz, utc(f"{before}T12:00"))
    assert first == (dt.date.fromisoformat(before), utc(before_utc))
    second = next_after(at, ALL_DAYS, tz, first[1])
    assert second == (dt.date.fromisoformat(after), utc(after_utc))
    assert second[1].astimezone(tz).strftime("%H:%M") == "19:00"
    assert previous_at_or_before(at, ALL_DAYS, tz, second[1]) == second
    assert previous_at_or_before(at, ALL_DAYS, tz, second[1] - dt.timedelta(seconds=1)) == first


def test_a_time_in_the_spring_forward_gap_fires_once_an_hour_later_in_local_terms() -> None:
    at = parse_hhmm("02:30")
    day, instant = next_after(at, ALL_DAYS, BERLIN, utc("2026-03-28T12:00"))
    assert day == dt.date(2026, 3, 29)
    assert instant.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"
    following = next_after(at, ALL_DAYS, BERLIN, instant)
    assert following[0] == dt.date(2026, 3, 30)
    assert following[1].astimezone(BERLIN).strftime("%H:%M") == "02:30"


def test_a_time_that_happens_twice_when_clocks_go_back_fires_once() -> None:
    at = parse_hhmm("01:30")
    day, instant = next_after(at, ALL_DAYS, NEW_YORK, utc("2026-10-31T12:00"))
    assert (day, instant) == (dt.date(2026, 11, 1), utc("2026-11-01T05:30"))  # the first 01:30, EDT
    following = next_after(at, ALL_DAYS, NEW_YORK, instant)
    assert following[0] == dt.date(2026, 11, 2)  # not the second 01:30 an hour later


def test_weekdays_limit_the_occurrences() -> None:
    mask = mask_of(["mon", "thu"])
    moment = utc("2026-11-25T12:00")  # a Wednesday
    found = []
    for _ in range(4):
        day, moment = next_after(parse_hhmm("08:00"), mask, BERLIN, moment)
        found.append(day.strftime("%a %d"))
    assert found == ["Thu 26", "Mon 30", "Thu 03", "Mon 07"]
    assert next_after(parse_hhmm("08:00"), 0, BERLIN, moment) is None


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        ("22:00", "07:00", ["22:00", "23:59", "00:00", "06:59"], ["07:00", "12:00", "21:59"]),
        ("13:00", "14:00", ["13:00", "13:59"], ["12:59", "14:00"]),
    ],
)
def test_quiet_hours_may_wrap_past_midnight(start: str, end: str, inside: list[str], outside: list[str]) -> None:
    window = Window(parse_hhmm(start), parse_hhmm(end))
    assert all(time_in_window(parse_hhmm(t), window) for t in inside)
    assert not any(time_in_window(parse_hhmm(t), window) for t in outside)
    assert in_window(utc("2026-11-25T21:30"), Window(parse_hhmm("22:00"), parse_hhmm("07:00")), BERLIN)


@pytest.mark.parametrize("bad", ["24:00", "7:00", "07:60", "0700", " 07:00", ""])
def test_only_24_hour_hh_mm_is_a_time(bad: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(bad)


def _entries(catalog: Catalog, kind: str, n: int, dosage: Dosage, slot: str = "evening") -> list[RoutineEntry]:
    ids = [e.id for e in catalog.exercises.values() if e.kind == kind][:n]
    assert len(ids) == n, f"the catalog needs {n} exercises of kind {kind}"
    return [RoutineEntry(i, x, slot, dosage) for i, x in enumerate(ids)]  # type: ignore[arg-type]


def test_the_notification_says_the_slot_what_is_left_and_about_how_long(catalog: Catalog) -> None:
    three = _entries(catalog, "stretch", 3, Dosage(sets=1, reps=3, hold_seconds=30))
    # 3 x (3 x 30 s + 15 s to get into position) = 315 s: about 6 minutes.
    assert summary("evening", three, catalog, "en") == ("Evening: 3 stretches, about 6 minutes", 6)
    assert summary("evening", three, catalog, "es") == ("Tarde y noche: 3 estiramientos, unos 6 minutos", 6)
    one = three[:1]
    assert summary("morning", [RoutineEntry(0, one[0].exercise_id, "morning", Dosage(reps=1))], catalog, "en") == (
        "Morning: 1 stretch, about 1 minute",
        1,
    )
    mixed = three[:2] + _entries(catalog, "posture", 1, Dosage(minutes=2))
    assert summary("midday", mixed, catalog, "en")[0] == "Midday: 2 stretches and 1 posture habit, about 6 minutes"
    assert summary("evening", [], catalog, "en")[0] == "Evening: all done for today"


APP_I18N = Path(__file__).resolve().parent.parent / "pwa" / "i18n"


def _app_slot_names(lang_file: Path) -> dict[str, str]:
    """``slot_<slot>: "Name"`` from one of the app's i18n files, read as text."""
    found = re.findall(r'^\s*slot_(morning|midday|evening):\s*"([^"]*)"', lang_file.read_text("utf-8"), re.M)
    return dict(found)


@pytest.mark.parametrize("lang_file", sorted(APP_I18N.glob("*.js")), ids=lambda p: p.stem)
def test_the_notification_names_each_slot_as_the_app_does(catalog: Catalog, lang_file: Path) -> None:
    names = _app_slot_names(lang_file)
    assert sorted(names) == ["evening", "midday", "morning"], f"{lang_file.name} names every slot"
    one = _entries(catalog, "stretch", 1, Dosage(sets=1, reps=3, hold_seconds=30))
    for slot, name in names.items():
        title, _ = summary(slot, one, catalog, lang_file.stem)
        assert title.startswith(f"{name}: "), f"{lang_file.stem} {slot}: {title!r}, the app says {name!r}"
        assert payload_for("reminder", slot, dt.date(2026, 11, 25), one, catalog, lang_file.stem).lang == lang_file.stem


@pytest.mark.parametrize("lang_file", sorted(APP_I18N.glob("*.js")), ids=lambda p: p.stem)
def test_the_notification_names_each_kind_as_the_app_does(lang_file: Path) -> None:
    """A reminder of "2 mobility exercises" for what the app calls "Gentle movement" left the patient
    to work out that they are the same."""
    labels = dict(re.findall(r'^\s*"?kind_([a-z-]+)"?:\s*"([^"]*)"', lang_file.read_text("utf-8"), re.M))
    assert len(labels) == 7, labels
    for kind, label in labels.items():
        one, _ = _NOUN[lang_file.stem][kind]
        assert label.lower() in one or one in label.lower(), f"{lang_file.stem} {kind}: {one!r}, the app says {label!r}"


def test_the_payload_opens_the_slot_and_replaces_an_older_copy(catalog: Catalog) -> None:
    left = _entries(catalog, "stretch", 2, Dosage(sets=2, reps=5))
    payload = payload_for("reminder", "evening", dt.date(2026, 11, 25), left, catalog, "fr")
    assert payload.url == "/#today?slot=evening&date=2026-11-25"  # the day it was for, even tapped after midnight
    assert payload.tag == "unknot-evening-2026-11-25"
    assert payload.lang == "en"  # an unknown language falls back to English
    assert payload.count == 2
    assert len(payload.encode()) < 1024


def test_the_calendar_file_repeats_each_reminder_weekly_at_local_time_with_the_zone() -> None:
    text = calendar(
        patient_key="1:2",
        timezone="Europe/Berlin",
        lang="en",
        rules=[CalendarRule("evening", "19:00", ["mon", "wed", "fri"]), CalendarRule("morning", "08:15", [])],
        starts_on=dt.date(2026, 3, 25),  # a Wednesday
        until=dt.date(2026, 5, 5),
        now=utc("2026-03-25T10:00"),
        app_url="https://clinic.example/app",
    )
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    lines = text.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    assert "DTSTART;TZID=Europe/Berlin:20260325T190000" in lines
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260505T215959Z" in lines
    assert "URL:https://clinic.example/app/#today?slot=evening" in lines
    assert text.count("BEGIN:VEVENT") == 1  # a rule without weekdays has no event
    # The zone is described, with its change to summer time on 29 March at 02:00 local time.
    assert "TZID:Europe/Berlin" in lines
    i = lines.index("DTSTART:20260329T020000")
    assert lines[i - 1] == "BEGIN:DAYLIGHT"
    assert lines[i + 1 : i + 4] == ["TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST"]


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Santiago", "Asia/Kolkata", "UTC"]


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(ZONES),
    after=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    days=st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1),
)
def test_the_next_reminder_is_the_first_chosen_local_time_after_any_moment(
    name: str, after: dt.datetime, hour: int, minute: int, days: set[str]
) -> None:
    tz = zoneinfo.ZoneInfo(name)
    after = after.replace(tzinfo=UTC)
    at = dt.time(hour, minute)
    mask = mask_of(days)  # type: ignore[arg-type]
    day, instant = next_after(at, mask, tz, after)
    assert instant > after
    assert day.strftime("%a").lower() in days
    local = instant.astimezone(tz)
    # The wall time is the one chosen, unless the clocks skipped it that day (then it is later by the gap).
    if local.time().replace(tzinfo=None) != at:
        assert local.dst() != (instant - dt.timedelta(hours=3)).astimezone(tz).dst()
    # Nothing chosen lies between: the previous occurrence is at or before `after`.
    before = previous_at_or_before(at, mask, tz, instant - dt.timedelta(seconds=1))
    assert before is None or before[1] <= after


def test_the_printed_plan_names_each_slot_as_the_app_does() -> None:
    """The console's handout has its own words (it prints in the patient's language, not the console's)."""
    handout = (APP_I18N.parent / "console" / "js" / "handout.js").read_text("utf-8")
    blocks = dict(re.findall(r"^  (\w\w): \{$(.*?)^  \},", handout, re.M | re.S))
    assert sorted(blocks) == sorted(p.stem for p in APP_I18N.glob("*.js"))
    for lang, block in blocks.items():
        printed = dict(
            re.findall(r'(morning|midday|evening): "([^"]*)"', block.split("slots: {", 1)[1].split("}", 1)[0])
        )
        assert printed == _app_slot_names(APP_I18N / f"{lang}.js"), lang
