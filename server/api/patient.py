"""The patient's side, by device token: join, plan, today's routine, offline sync."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.params import JSONBody, QueryParameter
from litestar.serialization import encode_json
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_410_GONE
from msgspec import UNSET, Meta, Struct, UnsetType

from server.api.catalog import AftercareOut, ExerciseOut, PatientLangQuery, aftercare_out, exercise_out
from server.api.compression import SELF_COMPRESSED, json_answer
from server.api.deps import CatalogDep, ClockDep, DatabaseDep, ServicesDep
from server.api.errors import RECORD_REFUSALS, InputError
from server.api.params import JOIN_ID, PLAIN_TEXT, visible_name
from server.api.patients import Locale, TimeZone, check_timezone
from server.auth.identity import WITH_PLAN_DAYS, client_address, patient_guard
from server.auth.secrets import hash_token, new_token, normalize_invite_code
from server.catalog.model import Catalog, Dosage, Kind, PhaseId, Side, Slot
from server.clock import iso, local_date
from server.db import audit, logs, patients, plans, therapists
from server.db.connection import Database, DatabaseBusy
from server.db.logs import CheckinRow, CompletionRow
from server.db.patients import PatientIdentity
from server.programs import Program, routine_for
from server.programs.text import muscle_name, shown_program

__all__ = ["JoinController", "PatientController", "SyncIn", "SyncOut"]

PatientRequest = Request[PatientIdentity, None, object]
JOIN_WINDOW = dt.timedelta(minutes=15)
# A clinic's patients may share one address (guest Wi-Fi); one code prefix is one guesser.
MAX_JOINS_PER_ADDRESS = 30
MAX_JOINS_PER_PREFIX = 10


class JoinIn(Struct, frozen=True, forbid_unknown_fields=True):
    """An invite code, as typed or from the link, and a name for this device. ``join_id`` (optional):
    made by the phone once per code (a UUID) and sent with every try of it; a used code asked for
    again with the join id it joined with, within 10 minutes and while that device is not removed,
    is answered as the first time, with a new token for that device (the first answer was lost)."""

    code: Annotated[str, Meta(min_length=4, max_length=32)]
    label: Annotated[str, Meta(max_length=80, pattern=PLAIN_TEXT)] = "Phone"
    join_id: Annotated[str, Meta(min_length=16, max_length=64, pattern=JOIN_ID)] | None = None


class Me(Struct, frozen=True):
    """The patient, as their own device sees them (the id tells a re-join from someone else joining)."""

    id: int
    display_name: str
    timezone: str
    locale: str


def _me(identity: PatientIdentity) -> Me:
    return Me(identity.patient_id, identity.display_name, identity.timezone, identity.locale)


class MePatch(Struct, frozen=True, forbid_unknown_fields=True):
    """The patient's own settings; omitted fields stay as they are, and at least one is required."""

    timezone: TimeZone | UnsetType = UNSET
    locale: Locale | UnsetType = UNSET


class JoinOut(Struct, frozen=True):
    """The device token: keep it; send it as ``Authorization: Bearer <token>``."""

    token: str
    patient: Me


class RedFlagOut(Struct, frozen=True):
    """A warning sign and what to do."""

    id: str
    sign: str
    action: str
    urgency: str
    # Shown only within these hours (aftercare hours when None) of needling a muscle with this
    # precaution, counted from the end of the treatment day (engine.within_hours); the PWA needs
    # both to compute any day's routine offline.
    precaution: str | None = None
    hours: int | None = None


class EarlierVersion(Struct, frozen=True):
    """A version of this plan, or of a plan it replaced, and the patient's dates it was in force
    (both ends included)."""

    plan_id: int
    version: int
    since: dt.date
    until: dt.date
    program: Program


class ClinicContact(Struct, frozen=True, kw_only=True):
    """Whom the warning signs send the patient to: their therapist, and the clinic's name and phone
    (UNKNOT_CLINIC_NAME, UNKNOT_CLINIC_PHONE; empty when not set)."""

    therapist_name: str
    clinic_name: str
    clinic_phone: str


class PatientPlanOut(Struct, frozen=True, kw_only=True):
    """Everything the app needs to show any day of the plan offline; past days by the version in
    force that day (``earlier``: those in force during the last 14 days, oldest first)."""

    plan_id: int
    version: int
    updated_at: str
    today: dt.date
    program: Program
    since: dt.date  # the first of the patient's dates this version is in force
    earlier: list[EarlierVersion]
    phase_names: dict[str, str]
    # Each phase in a sentence or two: what it is for, and why the dose is what it is.
    phase_about: dict[str, str]
    exercises: dict[str, ExerciseOut]
    muscles: dict[str, str]
    aftercare: AftercareOut
    red_flags: list[RedFlagOut]
    contact: ClinicContact


class EntryOut(Struct, frozen=True, kw_only=True):
    """One thing to do today."""

    exercise_id: str
    title: str
    kind: Kind
    slot: Slot
    side: Side | None
    dosage: Dosage
    done: bool


class TodayOut(Struct, frozen=True, kw_only=True):
    """One day's routine."""

    on_date: dt.date
    day: int | None
    phase: PhaseId | None
    phase_name: str | None
    aftercare: bool
    plan_version: int | None
    entries: list[EntryOut]
    red_flags: list[RedFlagOut]


Note = Annotated[str, Meta(max_length=500, pattern=PLAIN_TEXT)]


class CompletionIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One exercise done, as logged on the device; with ``withdrawn_at``, the patient's take-back of
    it (the whole record is sent again, so a take-back works whichever of the two arrives first)."""

    id: uuid.UUID
    exercise_id: Annotated[str, Meta(min_length=1, max_length=64)]
    on_date: dt.date
    slot: Slot
    done_at: dt.datetime
    sets_done: Annotated[int, Meta(ge=0, le=20)] | None = None
    reps_done: Annotated[int, Meta(ge=0, le=200)] | None = None
    hold_seconds_done: Annotated[int, Meta(ge=0, le=3600)] | None = None
    pain: Annotated[int, Meta(ge=0, le=10)] | None = None
    note: Note = ""
    withdrawn_at: dt.datetime | None = None


class CheckinIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A daily check-in: soreness and any red flags."""

    id: uuid.UUID
    on_date: dt.date
    soreness: Annotated[int, Meta(ge=0, le=10)]
    red_flags: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=20)] = []
    done_at: dt.datetime
    note: Note = ""


class SyncIn(Struct, frozen=True, forbid_unknown_fields=True):
    """A batch from the device's outbox."""

    completions: Annotated[list[CompletionIn], Meta(max_length=500)] = []
    checkins: Annotated[list[CheckinIn], Meta(max_length=100)] = []


class SyncOut(Struct, frozen=True):
    """The ids of the batch that the server now holds: the device may drop them from its outbox.

    ``pains`` has the pain answer stored for each completion of the batch (null: none), which is not
    the one sent when a stored pain was kept: the device shows what the clinic has. ``withdrawn``
    has the completions of the batch the clinic holds as taken back (by this send or an earlier one).
    """

    completions: list[str]
    checkins: list[str]
    pains: dict[str, int | None] = {}
    withdrawn: list[str] = []


class LogOut(Struct, frozen=True):
    """What the patient logged in a date range."""

    completions: list[CompletionRow]
    checkins: list[CheckinRow]


def _red_flags(catalog: CatalogDep, ids: tuple[str, ...] | None, lang: str) -> list[RedFlagOut]:
    return [
        RedFlagOut(f.id, f.sign.get(lang), f.action.get(lang), f.urgency, f.precaution, f.hours)
        for f in catalog.aftercare.red_flags
        if ids is None or f.id in ids
    ]


def _moment(moment: dt.datetime, field: str, earliest: dt.datetime, latest: dt.datetime) -> str:
    """``moment`` as stored, if it has an offset and lies between ``earliest`` and ``latest``."""
    if moment.tzinfo is None:
        raise InputError(
            field, "must include a time zone offset (e.g. 2026-11-25T08:00:00Z)", status=400, code="no_time_zone"
        )
    # Compared before converting: a far-off year (0001-01-01T00:00+01:00) overflows in UTC.
    if moment < earliest:
        raise InputError(field, "is out of range", code="too_long_ago")
    if moment > latest:
        raise InputError(field, "is in the future", code="in_the_future")
    return iso(moment)


def _check_batch(
    data: JSONBody[SyncIn], catalog: CatalogDep, now: dt.datetime
) -> tuple[list[CompletionRow], list[CheckinRow]]:
    """Validate every record before anything is written; the first bad one names its index and
    field, and why in a code (errors.Refusal) the device tells its patient in their language."""
    latest = now + dt.timedelta(days=1)
    earliest = now - dt.timedelta(days=800)

    def check_date(on_date: dt.date, field: str) -> None:
        if on_date < earliest.date():
            raise InputError(field, "date is out of range", code="too_long_ago")
        if on_date > latest.date():
            raise InputError(field, "date is out of range", code="in_the_future")

    completions = []
    for i, c in enumerate(data.completions):
        field = f"completions[{i}]"
        if c.exercise_id not in catalog.exercises:
            raise InputError(f"{field}.exercise_id", f"unknown exercise {c.exercise_id!r}", code="unknown_exercise")
        check_date(c.on_date, f"{field}.on_date")
        done_at = _moment(c.done_at, f"{field}.done_at", earliest, latest)
        withdrawn_at = None
        if c.withdrawn_at is not None:
            withdrawn_at = _moment(c.withdrawn_at, f"{field}.withdrawn_at", earliest, latest)
        completions.append(
            CompletionRow(
                id=str(c.id),
                exercise_id=c.exercise_id,
                on_date=c.on_date,
                slot=c.slot,
                done_at=done_at,
                sets_done=c.sets_done,
                reps_done=c.reps_done,
                hold_seconds_done=c.hold_seconds_done,
                pain=c.pain,
                note=c.note,
                withdrawn_at=withdrawn_at,
            )
        )
    known_flags = {f.id for f in catalog.aftercare.red_flags}
    checkins = []
    for i, c in enumerate(data.checkins):
        field = f"checkins[{i}]"
        for j, flag in enumerate(c.red_flags):
            if flag not in known_flags:
                raise InputError(f"{field}.red_flags[{j}]", f"unknown red flag {flag!r}", code="unknown_red_flag")
        check_date(c.on_date, f"{field}.on_date")
        done_at = _moment(c.done_at, f"{field}.done_at", earliest, latest)
        checkins.append(
            CheckinRow(
                id=str(c.id),
                on_date=c.on_date,
                soreness=c.soreness,
                red_flags=sorted(set(c.red_flags)),
                note=c.note,
                done_at=done_at,
            )
        )
    for name, records in (("completions", completions), ("checkins", checkins)):
        seen: set[str] = set()
        for i, r in enumerate(records):
            if r.id in seen:
                raise InputError(f"{name}[{i}].id", "appears twice in this batch", code="repeated_id")
            seen.add(r.id)
    return completions, checkins


# How far back the plan bundle carries earlier versions: Progress shows the last 7 days, and the
# "day before" screens reach a little further.
HISTORY_DAYS = 14
# Days either side of today a day's routine may be asked for: plans start at most 800 days back
# and end at most 731 days ahead (treated a year ahead, a year long).
DAY_VIEW_RANGE = 800


def _day_view(program: Program | None, version: int, day: dt.date, catalog: Catalog, lang: str) -> TodayOut:
    """One day of a plan in ``lang``, nothing marked done."""
    if program is None:
        return TodayOut(
            on_date=day,
            day=None,
            phase=None,
            phase_name=None,
            aftercare=False,
            plan_version=None,
            entries=[],
            red_flags=_red_flags(catalog, (), lang),
        )
    routine = routine_for(shown_program(program, catalog), day, catalog)
    phase_names = {p.id: p.name for p in catalog.template.phases}
    return TodayOut(
        on_date=day,
        day=routine.day,
        phase=routine.phase,
        phase_name=phase_names[routine.phase].get(lang) if routine.phase else None,
        aftercare=routine.aftercare,
        plan_version=version,
        entries=[
            EntryOut(
                exercise_id=e.exercise_id,
                title=catalog.exercises[e.exercise_id].title.get(lang),
                kind=catalog.exercises[e.exercise_id].kind,
                slot=e.slot,
                side=e.side,
                dosage=e.dosage,
                done=False,
            )
            for e in routine.entries
        ],
        red_flags=_red_flags(catalog, routine.red_flags, lang),
    )


async def _routine_json(db: Database, catalog: Catalog, user: PatientIdentity, day: dt.date, lang: str) -> bytes:
    """A patient's routine on ``day`` in ``lang``, marked with what was logged, as JSON."""
    plan = await plans.active_plan_day(db, user.patient_id, day, user.plan_days)
    if plan is None:
        return encode_json(_day_view(None, 0, day, catalog, lang))
    plan_id, version, program = await plans.version_shown(db, user.patient_id, plan, day, user.timezone, catalog)
    # The view of one plan version on one date never changes: build it once, then mark what is done.
    view = db.memo.get(
        ("today", plan_id, version, day, lang),
        lambda: _day_view(program, version, day, catalog, lang),
    )
    if plan.done:
        entries = [
            msgspec.structs.replace(e, done=True) if (e.exercise_id, e.slot) in plan.done else e for e in view.entries
        ]
        view = msgspec.structs.replace(view, entries=entries)
    return encode_json(view)


class JoinController(Controller):
    """Exchanging an invite for a device token: the one patient route without a token."""

    path = "/api/v1/patient"
    tags = ["patient"]

    @post("/join", summary="Exchange an invite code for a device token", status_code=201, opt={"public": True})
    async def join(self, request: Request, data: JSONBody[JoinIn], db: DatabaseDep, clock: ClockDep) -> JoinOut:
        now = clock.now()
        code = normalize_invite_code(data.code)
        address = client_address(request)
        keys = [f"join-ip:{address}", f"join-prefix:{code[:4]}"]
        counts = await therapists.count_attempt(db, keys, now, JOIN_WINDOW)
        if counts[keys[0]] > MAX_JOINS_PER_ADDRESS or counts[keys[1]] > MAX_JOINS_PER_PREFIX:
            raise TooManyRequestsException(
                "too many tries; wait 15 minutes and try again", headers={"Retry-After": str(JOIN_WINDOW.seconds)}
            )
        token = new_token()
        label = visible_name(data.label) or "Phone"
        # With the code: the same join id sent with another code is another join.
        join_hash = None if data.join_id is None else hash_token(f"{code}\n{data.join_id}")
        result = await patients.exchange_invite(db, hash_token(code), hash_token(token), label, now, join_hash)
        if not isinstance(result, str):
            # The limits are for guessing: a patient who joined does not count against the clinic's Wi-Fi.
            # Best effort: the code is used up now, so a busy database must not cost the phone its token.
            with contextlib.suppress(DatabaseBusy):
                await therapists.forget_attempt(db, keys, now)
            identity = await patients.identity_for_token(db, hash_token(token))
            if identity is not None:
                return JoinOut(token, _me(identity))
            # Archived (which revoked the new device) or erased since the join committed: the token
            # opens nothing, so the phone hears what a moment later's join would have told it.
            result = "unknown"
        status = HTTP_404_NOT_FOUND if result == "unknown" else HTTP_410_GONE
        reason = {
            "unknown": "this code is not valid",
            "used": "this code was already used",
            "expired": "this code has expired",
        }[result]
        raise InputError("code", f"{reason}; ask your clinic for a new one", status=status)


class PatientController(Controller):
    """Only the patient's own data, found through their device token."""

    path = "/api/v1/patient"
    tags = ["patient"]
    guards = [patient_guard]

    @get("/me", summary="The patient behind this device")
    async def me(self, request: PatientRequest) -> Me:
        return _me(request.user)

    @patch(
        "/me",
        summary="Change the patient's own time zone or language",
        description="For a patient who travels (reminder times, quiet hours and the app's today follow "
        "`timezone`) or who picked another language in the app (reminders are written in `locale`). "
        "Only the fields given change; a body with none of them (`{}`) is refused with 422 (field `body`). "
        "An unknown zone is a 422 naming `timezone`, and nothing is written. A real change is recorded in "
        "the therapist's audit trail of this patient (action `patient.settings`, no therapist).",
    )
    async def update_me(self, request: PatientRequest, data: JSONBody[MePatch], services: ServicesDep) -> Me:
        user = request.user
        changes: dict[str, str] = {}
        if data.timezone is not UNSET:
            changes["timezone"] = check_timezone(data.timezone)
        if data.locale is not UNSET:
            changes["locale"] = data.locale
        if not changes:
            raise InputError("body", "names nothing to change: give timezone or locale")
        new = msgspec.structs.replace(user, **changes)
        # The app may send its language again on each start: what is already so writes nothing.
        changed = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if changed:
            detail = ", ".join(f"{k}: {getattr(user, k)} -> {v}" for k, v in sorted(changed.items()))
            now = services.clock.now()
            async with services.db.transaction() as tx:
                await patients.update_own_settings(tx, user.patient_id, changed)
                await audit.record(tx, None, user.patient_id, "patient.settings", now, detail)
        return _me(new)

    @get("/plan", summary="The whole active plan with every text it needs, for offline use")
    async def plan(
        self,
        request: PatientRequest,
        services: ServicesDep,
        lang: PatientLangQuery = None,
    ) -> PatientPlanOut:
        db, catalog, clock, settings = services.db, services.catalog, services.clock, services.settings
        user = request.user
        lang = lang or user.locale
        record = await plans.active_plan_of_patient(db, user.patient_id)
        if record is None:
            raise NotFoundException("no plan has been assigned yet")
        # The phone computes every day from this program offline: it gets only items it can show.
        program = shown_program(record.program, catalog)
        today = local_date(clock.now(), user.timezone)
        # The UTC date may be a day ahead of the patient's: one day more is asked for.
        versions = await plans.versions_of_own_patient(db, user.patient_id, today - dt.timedelta(days=HISTORY_DAYS))
        spans = plans.in_force_as_shown(versions, user.timezone, catalog)
        first = today - dt.timedelta(days=HISTORY_DAYS - 1)
        since = next(
            (s.since for p, v, s in spans if (p, v) == (record.id, record.version)),
            program.treated_on,
        )
        earlier = [
            EarlierVersion(p, v, s.since, s.until, s.program)
            for p, v, s in spans
            if s.until is not None and s.until >= first and (p, v) != (record.id, record.version)
        ]
        used = {i.exercise_id for x in [program, *(e.program for e in earlier)] for i in x.items}
        treated = {t.muscle for x in [program, *(e.program for e in earlier)] for t in x.treated}
        return PatientPlanOut(
            plan_id=record.id,
            version=record.version,
            updated_at=record.updated_at,
            today=today,
            program=program,
            since=since,
            earlier=earlier,
            phase_names={p.id: p.name.get(lang) for p in catalog.template.phases},
            phase_about={p.id: p.about.get(lang) for p in catalog.template.phases},
            exercises={x: exercise_out(catalog.exercises[x], catalog, lang) for x in sorted(used)},
            muscles={m: muscle_name(catalog, m, lang) for m in sorted(treated)},
            aftercare=aftercare_out(catalog, settings.aftercare_temperature, lang),
            red_flags=_red_flags(catalog, None, lang),
            contact=ClinicContact(
                therapist_name=await therapists.name_of(db, user.therapist_id),
                clinic_name=settings.clinic_name,
                clinic_phone=settings.clinic_phone,
            ),
        )

    @get(
        "/today",
        summary="The routine for a day (today where the patient is, by default)",
        opt={SELF_COMPRESSED: True, WITH_PLAN_DAYS: True},
    )
    async def today(
        self,
        request: PatientRequest,
        services: ServicesDep,
        on_date: Annotated[dt.date | None, QueryParameter(name="date")] = None,
        lang: PatientLangQuery = None,
    ) -> Response[TodayOut]:
        db, catalog, clock = services.db, services.catalog, services.clock
        user = request.user
        lang = lang or user.locale
        today = local_date(clock.now(), user.timezone)
        day = on_date or today
        # Every plan lies well inside this; a date at the calendar's ends would overflow below.
        if abs((day - today).days) > DAY_VIEW_RANGE:
            raise InputError("date", f"must be within {DAY_VIEW_RANGE} days of today")
        # The patient's hottest path: the encoded answer is used again until anything is committed.
        body = await db.until_change(
            ("today", user.patient_id, user.timezone, day, lang),
            lambda: _routine_json(db, catalog, user, day, lang),
        )
        return json_answer(request, body)

    @post(
        "/sync",
        summary="Send logged completions and check-ins; repeats are ignored, except that a blank pain answer "
        "can be filled in once and a completion can be taken back",
        description="Records are kept by their client-made id. A record sent again is ignored, with one "
        "exception: when a completion this patient already sent is stored without a pain answer and the "
        "repeat carries one, that pain is stored (the phone may send a record before the patient answers). "
        "A stored pain is never changed, and nothing else of a stored record changes; a record is never "
        "counted twice. A completion sent again with `withdrawn_at` (when the patient took it back, "
        "within the same dates a completion is accepted for) is taken back: it stays stored as taken back "
        "(kept in the history, counted nowhere), once; a take-back sent before its completion stores it "
        "taken back, and a later copy of the completion changes nothing. A take-back is of the exercise at "
        "that time of day on that day: the patient's other completions of it done no later than it was taken "
        "back (another phone's, say) are taken back with it, whichever arrives first. Ticking the exercise "
        "again is a new completion with a new id. The answer has the pain stored for each completion of the batch, "
        "and in `withdrawn` those the clinic holds as taken back, so a device whose answer to an earlier "
        "send was lost learns what the clinic keeps. An id another "
        "patient's record holds is a 409 naming it, and nothing of the batch is stored. A refused batch "
        "names the first record refused (`completions[i]...` or `checkins[i]...` in `errors[].field`), "
        "nothing of it stored; beside the English `message`, that error's `code` says why in a word that "
        "stays the same, for the device to tell its patient in their language: `in_the_future` (a date "
        "or time after tomorrow), `too_long_ago` (more than 800 days back), `no_time_zone` (a time "
        "without its offset), `unknown_exercise`, `unknown_red_flag`, `repeated_id` (an id twice in the "
        "batch), `id_in_use` (the 409) or `invalid` (not in the shape this API takes). A device that "
        "does not know a code shows the message.",
        status_code=200,
        opt={RECORD_REFUSALS: True},
    )
    async def sync(self, request: PatientRequest, data: JSONBody[SyncIn], services: ServicesDep) -> SyncOut:
        db, now = services.db, services.clock.now()
        completions, checkins = _check_batch(data, services.catalog, now)
        try:
            held = await logs.store_batch(db, request.user.patient_id, completions, checkins, now)
        except logs.IdInUse as exc:
            raise InputError(
                exc.field, "is the id of another record; make a new one", status=409, code="id_in_use"
            ) from None
        return SyncOut(held.completions, held.checkins, held.pains, held.withdrawn)

    @get("/log", summary="What this patient logged between two dates")
    async def log(
        self,
        request: PatientRequest,
        db: DatabaseDep,
        first: Annotated[dt.date, QueryParameter(name="from")],
        last: Annotated[dt.date, QueryParameter(name="to")],
    ) -> LogOut:
        if last < first:
            raise InputError("to", "must not be before 'from'", status=400)
        if (last - first).days > 366:
            raise InputError("to", "at most 366 days at a time", status=400)
        pid = request.user.patient_id
        return LogOut(
            await logs.completions_between(db, pid, first, last), await logs.checkins_between(db, pid, first, last)
        )
