"""Adherence and alerts for the therapist."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from msgspec import Struct

from server.api.deps import CatalogDep, ClockDep, DatabaseDep, SettingsDep
from server.api.params import RowId
from server.api.patients import owned_patient
from server.auth.identity import TherapistUser, therapist_guard
from server.catalog.model import Catalog
from server.clock import local_date, parse_iso
from server.db import attention, logs, plans
from server.db.attention import Flagged
from server.db.connection import Database
from server.db.patients import Patient
from server.db.plans import PlanVersion
from server.programs.adherence import (
    DayAdherence,
    InForce,
    WeekAdherence,
    by_day,
    by_week,
    missed_days,
    streak,
    streak_goes_on_before,
    this_week,
)

__all__ = ["AdherenceController", "AdherenceOut", "AttentionItem", "PatientWeek"]

TherapistRequest = Request[TherapistUser, None, object]


class DayOut(Struct, frozen=True):
    """One day: items due, items done, and the share."""

    on_date: dt.date
    expected: int
    done: int
    rate: float


class Point(Struct, frozen=True):
    """A value on a date."""

    on_date: dt.date
    value: float


class AdherenceOut(Struct, frozen=True, kw_only=True):
    """A patient's adherence and trends."""

    today: dt.date
    days: list[DayOut]
    weeks: list[WeekAdherence]
    streak: int
    soreness: list[Point]
    pain: list[Point]
    red_flag_days: list[dt.date]
    last_activity: str | None


class PatientWeek(Struct, frozen=True, kw_only=True):
    """A row of the patient list: this week so far, the latest soreness of the last 7 days, the last
    activity; ``starts_on``: with no plan in force today, the day a plan prepared for a booked visit
    starts."""

    patient_id: int
    has_plan: bool
    week: WeekAdherence | None
    soreness: Point | None
    last_activity: str | None
    starts_on: dt.date | None = None


class Reason(Struct, frozen=True):
    """Why a patient needs attention. ``urgent``: an emergency-level warning sign was reported (the
    content's ``urgency = "emergency"``), ``red-flag``: another one; for both, ``reported_at`` is when
    the latest such check-in not marked as handled was made (UTC) and ``reported_on`` its day.
    ``not-joined``: days with something due went by and no phone is connected now (the clinic hands
    over a new code): none ever joined (``assigned_on``: the day the first plan was assigned) or
    every one was removed, by the clinic or on archiving, or expired unused (``removed_on``: the day
    of the latest removal, which ``detail`` says expired if it did); both days in the patient's time
    zone. ``inactive``: a phone is connected, and nothing was logged on days with something due."""

    kind: Literal["urgent", "pain", "red-flag", "not-joined", "inactive"]
    detail: str
    reported_at: str | None = None
    reported_on: dt.date | None = None
    assigned_on: dt.date | None = None
    removed_on: dt.date | None = None


# Attention reasons, the most pressing first: a patient's reasons and the list are in this order.
# A patient with no phone cannot report a warning sign or pain through the app, so their silence
# says less than an inactive patient's: they come first of the two.
PRESSING = ("urgent", "red-flag", "pain", "not-joined", "inactive")
# The kinds that count days let pass: within these, the most days first.
_IDLE = ("not-joined", "inactive")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _long_date(day: dt.date) -> str:
    """A date as the console writes it in English ("November 24, 2026"), whatever the server's locale."""
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


class AttentionItem(Struct, frozen=True):
    """A patient who needs attention, with every reason (the most pressing first) and their time
    zone, in which the console shows when a sign was reported."""

    patient_id: int
    display_name: str
    reasons: list[Reason]
    timezone: str


def _in_force(versions: list[PlanVersion], timezone: str) -> list[InForce]:
    """Plan versions with the patient's dates they were in force."""
    return [span for v in versions if (span := v.in_force(timezone)) is not None]


async def _streak(
    db: Database,
    therapist_id: int,
    patient: Patient,
    catalog: Catalog,
    days: list[DayAdherence],
    *,
    first: dt.date,
    today: dt.date,
) -> int:
    """The streak ending ``today``, from ``days`` (``first`` to today), or from every plan the patient
    has had when it reaches back to ``first`` (the patient's app counts it so too)."""
    if not streak_goes_on_before(days, today, first):
        return streak(days, today)
    spans = _in_force(await plans.versions_of_patient(db, therapist_id, patient.id, dt.date.min), patient.timezone)
    since = min(v.since for v in spans)
    completions = logs.standing(await logs.completions_between(db, patient.id, since, today))
    logged = [(c.exercise_id, c.on_date, c.slot) for c in completions]
    return streak(by_day(spans, logged, since, today, catalog), today)


class AdherenceController(Controller):
    """How patients are doing."""

    tags = ["therapist: adherence"]
    guards = [therapist_guard]

    @get("/api/v1/patients/{patient_id:int}/adherence", summary="Adherence per day and week, streak, trends")
    async def adherence(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        catalog: CatalogDep,
        clock: ClockDep,
        patient_id: RowId,
        days: Annotated[int, QueryParameter(ge=1, le=366)] = 28,
    ) -> AdherenceOut:
        patient = await owned_patient(db, request.user.therapist.id, patient_id)
        today = local_date(clock.now(), patient.timezone)
        first = today - dt.timedelta(days=days - 1)
        # Every plan version in force since ``first``, superseded plans too: each day is judged by
        # what was asked that day. One replaced on the UTC day before may still have been in force
        # on ``first`` where the patient lives.
        versions = await plans.versions_of_patient(
            db, request.user.therapist.id, patient_id, first - dt.timedelta(days=1)
        )
        # Completions taken back count nowhere: not as done, not in the pain trend.
        completions = logs.standing(await logs.completions_between(db, patient_id, first, today))
        checkins = await logs.checkins_between(db, patient_id, first, today)
        done = [(c.exercise_id, c.on_date, c.slot) for c in completions]
        day_rows = by_day(_in_force(versions, patient.timezone), done, first, today, catalog)
        pains: dict[dt.date, list[int]] = {}
        for c in completions:
            if c.pain is not None:
                pains.setdefault(c.on_date, []).append(c.pain)
        soreness: dict[dt.date, int] = {}
        for c in checkins:
            soreness[c.on_date] = c.soreness  # the latest check-in of a day stands
        return AdherenceOut(
            today=today,
            days=[DayOut(d.on_date, d.expected, d.done, round(d.rate, 3)) for d in day_rows],
            weeks=by_week(day_rows, open_day=today),
            streak=await _streak(db, request.user.therapist.id, patient, catalog, day_rows, first=first, today=today),
            soreness=[Point(d, v) for d, v in sorted(soreness.items())],
            pain=[Point(d, round(sum(v) / len(v), 1)) for d, v in sorted(pains.items())],
            red_flag_days=sorted({c.on_date for c in checkins if c.red_flags}),
            last_activity=await logs.last_activity(db, patient_id),
        )

    @get("/api/v1/adherence", summary="Every patient's week so far, latest soreness and last activity, by name")
    async def overview(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        catalog: CatalogDep,
        clock: ClockDep,
        archived: Annotated[bool, QueryParameter()] = False,
    ) -> list[PatientWeek]:
        now = clock.now()
        # A patient's date is at most a day behind UTC's, so their Monday is at most 7 days back.
        since = now.astimezone(dt.UTC).date() - dt.timedelta(days=7)
        rows = []
        for o in await attention.overview(db, request.user.therapist.id, since, archived=archived):
            today = local_date(now, o.timezone)
            recent = [s for s in o.soreness if today - dt.timedelta(days=6) <= s[0] <= today]
            latest = max(recent, default=None)  # the last check-in of the latest day stands
            spans = _in_force(o.versions, o.timezone)
            in_force_today = any(v.covers(today) for v in spans)
            ahead = None if in_force_today else min((v.since for v in spans if v.since > today), default=None)
            rows.append(
                PatientWeek(
                    patient_id=o.patient_id,
                    has_plan=o.has_plan,
                    week=this_week(spans, o.done, today, catalog),
                    soreness=Point(latest[0], latest[2]) if latest else None,
                    last_activity=o.last_activity,
                    starts_on=ahead,
                )
            )
        return rows

    @get("/api/v1/attention", summary="Patients needing attention, the most pressing first, each with the reasons")
    async def attention(
        self, request: TherapistRequest, db: DatabaseDep, catalog: CatalogDep, clock: ClockDep, settings: SettingsDep
    ) -> list[AttentionItem]:
        now = clock.now()
        since = (now - dt.timedelta(days=7)).date()
        items: list[tuple[AttentionItem, int]] = []  # with the days let pass
        for s in await attention.signals(db, request.user.therapist.id, since):
            reasons = _flag_reasons(s.flagged, catalog)
            worst = max(s.max_soreness or 0, s.max_pain or 0)
            if worst >= settings.attention_pain:
                reasons.append(Reason("pain", f"pain or soreness {worst}/10 in the last 7 days"))
            # Only days the plan asked for something count: a patient who finished the program, or
            # whose first plan starts at a visit still ahead, has nothing to be inactive at.
            today = local_date(now, s.timezone)
            last = None if s.last_activity is None else local_date(parse_iso(s.last_activity), s.timezone)
            missed = missed_days(_in_force(s.versions, s.timezone), last, today, catalog)
            if missed >= settings.inactive_days and not s.connected:
                reasons.append(_no_phone(s))
            elif missed >= settings.inactive_days:
                reasons.append(Reason("inactive", f"no activity on {missed} days with something due"))
            if reasons:
                items.append((AttentionItem(s.patient_id, s.display_name, reasons, s.timezone), missed))
        # The most pressing first (an urgent sign, then a red flag, high pain, no phone, inactivity):
        # on a busy list an urgent sign must not sit among a dozen inactive patients. Within "not
        # joined" and "inactive" the most days let pass first; otherwise, and on a tie, by name (the
        # sort is stable and the signals come by name).
        return [item for item, _ in sorted(items, key=_pressing)]


def _no_phone(s: attention.Signals) -> Reason:
    """The "not-joined" reason of a patient without a connected phone, saying whether one ever joined."""
    if s.removed_at is None:
        # Never joined: every version is here (no activity), the oldest plan's first.
        assigned = local_date(parse_iso(min(v.made_at for v in s.versions)), s.timezone)
        detail = f"none since the plan was assigned on {_long_date(assigned)}"
        return Reason("not-joined", detail + ": hand over a new code", assigned_on=assigned)
    # Removed by the clinic (a lost phone), disconnected on archiving, or expired unused: the
    # patient had the app.
    removed = local_date(parse_iso(s.removed_at), s.timezone)
    on = _long_date(removed)
    detail = f"the phone expired on {on} (unused too long)" if s.expired else f"the phone was removed on {on}"
    detail += "; none connected since"
    return Reason("not-joined", detail + ": hand over a new code", removed_on=removed)


def _pressing(entry: tuple[AttentionItem, int]) -> tuple[int, int]:
    """The attention list's order: by the most pressing reason's kind, then the most days let pass
    for the kinds that count them."""
    item, missed = entry
    kind = item.reasons[0].kind
    return PRESSING.index(kind), -missed if kind in _IDLE else 0


def _flag_reasons(flagged: list[Flagged], catalog: Catalog) -> list[Reason]:
    """The urgent signs and the other red flags of the check-ins not handled yet (oldest first), each
    kind with the latest check-in that reported it. A sign the content no longer has is shown by its
    id and counts as not urgent."""
    flags = {f.id: f for f in catalog.aftercare.red_flags}
    reasons = []
    for kind, urgent in (("urgent", True), ("red-flag", False)):
        latest: Flagged | None = None
        reported: set[str] = set()
        for check in flagged:
            signs = {r for r in check.red_flags if (r in flags and flags[r].urgency == "emergency") == urgent}
            if signs:
                reported |= signs
                latest = check
        if latest is None:
            continue
        # Each sign is a sentence of its own (a bare id, for a sign the content no longer has).
        words = " ".join(flags[r].sign.en if r in flags else r for r in sorted(reported))
        detail = words if urgent else "reported: " + words
        reasons.append(Reason(kind, detail, reported_at=latest.done_at, reported_on=latest.on_date))
    return reasons
