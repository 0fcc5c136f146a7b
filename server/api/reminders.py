"""Push reminders over the API: the VAPID public key, the patient's subscriptions and
reminder times, a test reminder, the calendar fallback, and the therapist's view.

For the PWA (patient routes take ``Authorization: Bearer <device token>``):

- ``GET /api/v1/push/public-key`` (no auth): ``{"public_key"}``, the ``applicationServerKey``.
- ``PUT /api/v1/patient/push/subscriptions`` with ``subscription.toJSON()``; send it on every
  app start and from ``pushsubscriptionchange``. Answers ``{"endpoint", "created", "subscriptions"}``.
- ``DELETE /api/v1/patient/push/subscriptions`` with ``{"endpoint"}`` after ``unsubscribe()``: 204
  (404 if unknown). ``?endpoint=<url>`` instead of the body is still taken from older apps.
- ``GET|PUT /api/v1/patient/reminders``: times per slot, weekdays, on/off, quiet hours.
- ``POST /api/v1/patient/push/test``: a test reminder to every subscribed device now; the answer
  names each device (``device_id``, ``label``; ``this_device`` for the one asking) with its outcome.
- ``GET /api/v1/patient/reminders.ics``: the same times as a calendar file.

For the console: ``GET /api/v1/patients/{id}/reminders`` (whether they are on, whether one is
still coming and why not, the log) and ``POST /api/v1/patients/{id}/reminders/test`` (the same
test reminder, sent by the therapist, say while the patient is in the room with their phone;
never in the patient's quiet hours).

The notification payload is described in :mod:`server.push.message`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import Dependency, Provide
from litestar.exceptions import TooManyRequestsException
from litestar.params import JSONBody, QueryParameter, SkipValidation
from msgspec import UNSET, Meta, Struct, UnsetType

from server.api.deps import CatalogDep, ClockDep, DatabaseDep, SettingsDep
from server.api.errors import InputError
from server.api.params import HHMM, PLAIN_TEXT, RowId
from server.api.patients import current_patient, owned_patient
from server.auth.identity import TherapistUser, patient_guard, therapist_guard
from server.catalog.model import Catalog, Slot
from server.clock import iso, local_date, parse_iso
from server.db import audit, reminders, therapists
from server.db.patients import PatientIdentity
from server.db.reminders import DeliveryRow, Prefs, RuleRow
from server.programs import SLOTS, Program, routine_for
from server.programs.text import shown_program
from server.push.addresses import public_ip
from server.push.ics import CalendarRule, calendar
from server.push.message import Payload
from server.push.schedule import (
    ALL_DAYS,
    DEFAULT_TIMES,
    WEEKDAYS,
    Weekday,
    Window,
    days_from_mask,
    mask_of,
    next_after,
    parse_hhmm,
    reminds_on,
    time_in_window,
    zone,
)
from server.push.scheduler import Scheduler, TestResult
from server.settings import Settings

__all__ = [
    "PatientRemindersController",
    "PushKeyController",
    "RemindersIn",
    "RemindersOut",
    "SubscriptionIn",
    "TherapistRemindersController",
]

PatientRequest = Request[PatientIdentity, None, object]
TherapistRequest = Request[TherapistUser, None, object]
SchedulerDep = Annotated[SkipValidation[Scheduler], Dependency(kind="named")]

LocalTime = Annotated[str, Meta(pattern=HHMM, description="Local time, 24-hour HH:MM")]
DEFAULT_QUIET = ("22:00", "07:00")
MAX_SUBSCRIPTIONS = 10
TEST_WINDOW = dt.timedelta(minutes=10)
MAX_TESTS = 5
CALENDAR_PATH = "/api/v1/patient/reminders.ics"


def _scheduler(state: State) -> Scheduler:
    return state.push


_DEPENDENCIES = {"push": Provide(_scheduler, sync_to_thread=False)}


# --- shapes ---------------------------------------------------------------------------------


class PublicKeyOut(Struct, frozen=True):
    """The VAPID public key: pass it to ``pushManager.subscribe({applicationServerKey})``."""

    public_key: str


class KeysIn(Struct, frozen=True, forbid_unknown_fields=True):
    """The subscription's keys, base64url as ``PushSubscription.toJSON()`` gives them."""

    p256dh: Annotated[str, Meta(min_length=1, max_length=200)]
    auth: Annotated[str, Meta(min_length=1, max_length=100)]


class SubscriptionIn(Struct, frozen=True, forbid_unknown_fields=True, rename={"expiration_time": "expirationTime"}):
    """A browser push subscription: send ``subscription.toJSON()`` as it is."""

    endpoint: Annotated[str, Meta(min_length=8, max_length=2048, pattern=PLAIN_TEXT)]
    keys: KeysIn
    expiration_time: float | None = None


class UnsubscribeIn(Struct, frozen=True, forbid_unknown_fields=True):
    """The subscription to remove: ``{"endpoint": subscription.endpoint}``."""

    endpoint: Annotated[str, Meta(min_length=1, max_length=2048, pattern=PLAIN_TEXT)]


class SubscriptionOut(Struct, frozen=True):
    """The stored subscription and how many the patient now has."""

    endpoint: str
    created: bool
    subscriptions: int


class QuietHours(Struct, frozen=True, forbid_unknown_fields=True):
    """No reminder is sent between ``start`` and ``end`` (local; may wrap past midnight)."""

    start: LocalTime
    end: LocalTime


class RuleIn(Struct, frozen=True, forbid_unknown_fields=True):
    """When to remind for one slot."""

    slot: Slot
    local_time: LocalTime
    weekdays: Annotated[list[Weekday], Meta(max_length=7)] = msgspec.field(default_factory=lambda: list(WEEKDAYS))
    enabled: bool = True


class RemindersIn(Struct, frozen=True, forbid_unknown_fields=True):
    """Changes to the reminders: slots not listed keep their rule; omit quiet_hours to keep them, null clears."""

    rules: Annotated[list[RuleIn], Meta(max_length=3)] = []
    quiet_hours: QuietHours | UnsetType | None = UNSET


class RuleOut(Struct, frozen=True, kw_only=True):
    """One slot's reminder, and when it next goes off (UTC; null when off, without a plan, or when
    the plan has nothing more in that slot): its next time on a day the plan has something in the
    slot (today: something not done yet), sent then if something is still left to do."""

    slot: Slot
    local_time: str
    weekdays: list[Weekday]
    enabled: bool
    next_at: str | None


class ActivePlan(Struct, frozen=True):
    """A patient's active plan as the reminders need it: its program, the patient's date it was made
    (see reminds_on), and for a plan prepared ahead of a visit the program of the plan it replaced,
    in force until the day before (None: none, or not prepared ahead)."""

    program: Program
    made_on: dt.date
    earlier: Program | None = None


class RemindersOut(Struct, frozen=True, kw_only=True):
    """The patient's reminders."""

    timezone: str
    customized: bool
    quiet_hours: QuietHours | None
    rules: list[RuleOut]
    subscriptions: int
    calendar_url: str


class TestOut(Struct, frozen=True, kw_only=True):
    """What the test reminder said and how each device's push service answered."""

    sent: int
    payload: Payload
    results: list[TestResult]


# Why no reminder is coming: none turned on (no phone subscribed, every time off, or the patient
# archived), no plan yet, the plan's last day has passed, or the plan has nothing more at the times on.
NotComing = Literal["off", "no_plan", "plan_ended", "nothing_more"]


class PatientRemindersOut(Struct, frozen=True, kw_only=True):
    """A patient's reminders as their therapist sees them."""

    # Turned on: a phone subscribed and a time on. Whether any reminder can come is ``coming``.
    on: bool
    # A reminder is still to come (a time on has a next_at); else ``not_coming`` says why.
    coming: bool
    not_coming: NotComing | None
    subscriptions: int
    last_ok_at: str | None
    timezone: str
    customized: bool
    quiet_hours: QuietHours | None
    rules: list[RuleOut]
    # The last day of the patient's plan (their date; null without one): no reminder comes, and
    # none is logged, after it.
    plan_last_day: dt.date | None
    # How long a reminder waits for a phone that is switched off or offline (UNKNOT_PUSH_TTL_SECONDS,
    # in whole minutes): a phone that comes back later never gets it.
    offline_kept_minutes: int
    deliveries: list[DeliveryRow]


# --- checks -----------------------------------------------------------------------------------


def _b64url(value: str, field: str, length: int, what: str) -> bytes:
    text = value.strip().rstrip("=")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != length:
        raise InputError(field, f"must be {what} ({length} bytes, base64url)")
    return raw


def _public_name(host: str) -> bool:
    """Whether ``host`` may be a push service: a name (not localhost) or a public address."""
    public = public_ip(host)
    return public if public is not None else host != "localhost" and not host.endswith(".localhost")


def check_subscription(data: SubscriptionIn, settings: Settings) -> tuple[str, str, str]:
    """The endpoint and keys in canonical form (keys base64url without padding).

    Raises:
        InputError: naming the field that is wrong.
    """
    url = urlsplit(data.endpoint.strip())
    host = (url.hostname or "").lower()
    local = settings.env == "development" and host in {"127.0.0.1", "::1", "localhost"}
    if url.scheme not in {"https", "http"} or not host or url.username or url.password:
        raise InputError("endpoint", "must be the https:// URL of the browser's push subscription")
    if url.scheme == "http" and not local:
        raise InputError("endpoint", "must use https")
    if settings.env != "development" and not _public_name(host):
        # Push services have public names; sending also refuses names that resolve to private addresses.
        raise InputError("endpoint", f"{host} is not a public address")
    allowed = [h.strip().lower().lstrip(".") for h in settings.push_hosts.split(",") if h.strip()]
    if not local and "*" not in allowed and not any(host == a or host.endswith(f".{a}") for a in allowed):
        raise InputError("endpoint", f"{host} is not a known push service")
    point = _b64url(data.keys.p256dh, "keys.p256dh", 65, "the subscription's P-256 public key")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InputError("keys.p256dh", "is not a point on the P-256 curve") from None
    secret = _b64url(data.keys.auth, "keys.auth", 16, "the subscription's auth secret")
    encode = base64.urlsafe_b64encode
    return data.endpoint.strip(), encode(point).rstrip(b"=").decode(), encode(secret).rstrip(b"=").decode()


# --- effective rules --------------------------------------------------------------------------


def _plan_slots(program: Program | None) -> set[str]:
    used = {s for item in (program.items if program else ()) for s in item.slots}
    return used or set(SLOTS)


def default_rules() -> list[RuleRow]:
    """The rules before the patient chooses: every slot at its usual time, every day.

    All three are stored enabled: a slot with nothing to do that day is never reminded,
    so the plan decides which actually go off.
    """
    return [RuleRow(slot=s, local_time=DEFAULT_TIMES[s], weekdays=ALL_DAYS, enabled=True) for s in SLOTS]


def _untouched(rule: RuleRow) -> bool:
    """Whether a rule is still the default one: on, at the slot's usual time, every day."""
    return rule.enabled and rule.local_time == DEFAULT_TIMES[rule.slot] and rule.weekdays == ALL_DAYS


def stored_rules(stored: list[RuleRow]) -> list[RuleRow]:
    """The three rules as kept: the stored one per slot, or the default where none is stored."""
    by_slot = {r.slot: r for r in stored}
    return [by_slot.get(rule.slot, rule) for rule in default_rules()]


def effective_rules(stored: list[RuleRow], program: Program | None) -> list[RuleRow]:
    """The three rules as shown. A slot the plan does not use shows as off while its rule is
    still the default one; it stays on underneath, and reminds as soon as the plan puts
    something in that slot. A slot the patient changed shows as they left it."""
    used = _plan_slots(program)
    return [
        r if r.slot in used or not _untouched(r) else msgspec.structs.replace(r, enabled=False)
        for r in stored_rules(stored)
    ]


def _setting(rule: RuleRow) -> tuple[str, int, bool]:
    return rule.local_time, rule.weekdays, rule.enabled


def _quiet(prefs: Prefs | None) -> tuple[str, str] | None:
    if prefs is None:
        return DEFAULT_QUIET
    return (prefs.quiet_start, prefs.quiet_end) if prefs.quiet_start and prefs.quiet_end else None


def _next(rule: RuleRow, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    if not rule.enabled:
        return None
    found = next_after(parse_hhmm(rule.local_time), rule.weekdays, tz, now)
    return found[1] if found else None


def _next_reminded(
    rule: RuleRow,
    tz: zoneinfo.ZoneInfo,
    now: dt.datetime,
    shown: Program | None,
    catalog: Catalog,
    done: frozenset[tuple[str, str]],
    made_on: dt.date | None = None,
    earlier: Program | None = None,
) -> dt.datetime | None:
    """When ``rule`` next reminds: its next time on a day the program the phone shows (``shown``,
    its plan made on ``made_on``) reminds of its slot (reminds_on, as the scheduler decides) and
    has something in it, today something not yet ``done`` ((exercise id, slot) pairs done today).
    None without a plan or after its last day, as the scheduler sends none then. Before the first
    day of a plan prepared ahead of a visit, the plan it replaced (``earlier``, as the phone shows
    it) is in force and decides; a first plan reminds of nothing before its first day."""
    if shown is None:
        return None
    made = made_on if made_on is not None else shown.treated_on
    today = now.astimezone(tz).date()
    last_day = shown.last_day
    moment = now
    while (found := _next(rule, tz, moment)) is not None:
        day = found.astimezone(tz).date()
        if day > last_day:
            return None
        # An earlier plan counts as made in time: its first day is long past.
        program = shown if day >= shown.treated_on else earlier
        made_then = made if program is shown or program is None else program.treated_on
        if program is None or not reminds_on(program, made_then, day, rule.slot):
            moment = found
            continue
        entries = routine_for(program, day, catalog).slot(rule.slot)
        if any(day != today or (e.exercise_id, e.slot) not in done for e in entries):
            return found
        moment = found
    return None


def _rules_out(
    rules: list[RuleRow],
    tz: zoneinfo.ZoneInfo,
    now: dt.datetime,
    plan: ActivePlan | None,
    catalog: Catalog,
    done: frozenset[tuple[str, str]] = frozenset(),
) -> list[RuleOut]:
    shown = shown_program(plan.program, catalog) if plan is not None else None
    earlier = shown_program(plan.earlier, catalog) if plan is not None and plan.earlier is not None else None
    made_on = plan.made_on if plan is not None else None
    out = []
    for r in rules:
        following = _next_reminded(r, tz, now, shown, catalog, done, made_on, earlier)
        out.append(
            RuleOut(
                slot=r.slot,  # type: ignore[arg-type]
                local_time=r.local_time,
                weekdays=days_from_mask(r.weekdays),
                enabled=r.enabled,
                next_at=iso(following) if following else None,
            )
        )
    return out


async def _done_today(
    db: DatabaseDep, patient_id: int, tz: zoneinfo.ZoneInfo, now: dt.datetime
) -> frozenset[tuple[str, str]]:
    """(exercise id, slot) of what the patient did today, in their zone."""
    today = now.astimezone(tz).date()
    return frozenset((e, s) for _, _, e, s in await reminders.done_on(db, {(patient_id, today)}))


def _with_next(
    rules: list[RuleRow], tz: zoneinfo.ZoneInfo, now: dt.datetime, due: Mapping[str, str] | None = None
) -> list[RuleRow]:
    """The rules with their next occurrence; a slot in ``due`` keeps the occurrence that has come
    but is not planned yet, so that saving settings never loses a reminder that is due."""
    out = []
    for r in rules:
        following = _next(r, tz, now)
        next_due_at = (due or {}).get(r.slot) or (iso(following) if following else None)
        out.append(msgspec.structs.replace(r, next_due_at=next_due_at))
    return out


def _not_coming(on: bool, rules: list[RuleOut], program: Program | None, today: dt.date) -> NotComing | None:
    """Why no reminder is coming (None: one is), the first reason that holds: ``on`` alone would say
    "on" for a patient without a plan, or after it ended."""
    if not on:
        return "off"
    if any(r.enabled and r.next_at for r in rules):
        return None
    if program is None:
        return "no_plan"
    return "plan_ended" if program.last_day < today else "nothing_more"


async def _program_of(db: DatabaseDep, patient_id: int) -> Program | None:
    plan = (await reminders.active_plans_of(db, [patient_id])).get(patient_id)
    return plan.program if plan else None


async def _plan_of(db: DatabaseDep, patient_id: int, timezone: str) -> ActivePlan | None:
    """The patient's active plan (see ActivePlan), dates in ``timezone``; None without one."""
    plan = (await reminders.active_plans_of(db, [patient_id])).get(patient_id)
    if plan is None:
        return None
    made_on = local_date(parse_iso(plan.made_at), timezone)
    earlier = await reminders.earlier_plan_of(db, patient_id, plan.id) if made_on < plan.program.treated_on else None
    return ActivePlan(plan.program, made_on, earlier)


async def _reminders_out(db: DatabaseDep, user: PatientIdentity, now: dt.datetime, catalog: Catalog) -> RemindersOut:
    prefs = await reminders.prefs_of(db, user.patient_id)
    tz = zone(user.timezone)
    plan = await _plan_of(db, user.patient_id, user.timezone)
    rules = effective_rules(await reminders.rules_of(db, user.patient_id), plan.program if plan else None)
    quiet = _quiet(prefs)
    done = await _done_today(db, user.patient_id, tz, now)
    return RemindersOut(
        timezone=user.timezone,
        customized=prefs is not None and prefs.customized,
        quiet_hours=QuietHours(*quiet) if quiet else None,
        rules=_rules_out(rules, tz, now, plan, catalog, done),
        subscriptions=(await reminders.subscription_info(db, user.patient_id)).count,
        calendar_url=CALENDAR_PATH,
    )


async def _count_test(db: DatabaseDep, patient_id: int, now: dt.datetime) -> None:
    """Count a test reminder of the patient (from their phone or their therapist alike).

    Raises:
        TooManyRequestsException: more than MAX_TESTS in TEST_WINDOW.
    """
    key = f"push-test:{patient_id}"
    if (await therapists.count_attempt(db, [key], now, TEST_WINDOW))[key] > MAX_TESTS:
        raise TooManyRequestsException(
            f"at most {MAX_TESTS} test reminders in {TEST_WINDOW.seconds // 60} minutes",
            headers={"Retry-After": str(TEST_WINDOW.seconds)},
        )


# --- controllers --------------------------------------------------------------------------------


class PushKeyController(Controller):
    """What the PWA needs before it can subscribe."""

    path = "/api/v1/push"
    tags = ["public"]
    dependencies = _DEPENDENCIES

    @get("/public-key", summary="The VAPID public key (applicationServerKey)", opt={"public": True})
    async def public_key(self, push: SchedulerDep) -> PublicKeyOut:
        return PublicKeyOut(push.sender.keys.public_key)


class PatientRemindersController(Controller):
    """The patient's push subscriptions and reminder times, by device token."""

    path = "/api/v1/patient"
    tags = ["patient: reminders"]
    guards = [patient_guard]
    dependencies = _DEPENDENCIES

    @put("/push/subscriptions", summary="Register or refresh this browser's push subscription")
    async def subscribe(
        self,
        request: PatientRequest,
        data: JSONBody[SubscriptionIn],
        db: DatabaseDep,
        clock: ClockDep,
        settings: SettingsDep,
    ) -> SubscriptionOut:
        user, now = request.user, clock.now()
        endpoint, p256dh, auth = check_subscription(data, settings)
        tz = zone(user.timezone)
        async with db.transaction() as tx:
            created = await reminders.upsert_subscription(
                tx, user.patient_id, user.device_id, endpoint, p256dh, auth, now, MAX_SUBSCRIPTIONS
            )
            if created is None:
                raise InputError("endpoint", "this subscription belongs to another patient", status=409)
            # The first subscription turns reminders on with the defaults (kept if already chosen).
            await reminders.insert_rules_if_missing(
                tx, user.patient_id, _with_next(default_rules(), tz, now), user.timezone, now
            )
            await reminders.save_prefs(tx, user.patient_id, now, customized=False, quiet=DEFAULT_QUIET, keep_quiet=True)
            count = (await reminders.subscription_info(tx, user.patient_id)).count
        return SubscriptionOut(endpoint, created, count)

    @delete("/push/subscriptions", summary="Remove a push subscription (this browser unsubscribed)")
    async def unsubscribe(
        self,
        request: PatientRequest,
        db: DatabaseDep,
        data: JSONBody[UnsubscribeIn | None] = None,
        endpoint: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=2048,
                pattern=PLAIN_TEXT,
                description='Deprecated: what apps before the JSON body sent; send `{"endpoint"}` instead',
            ),
        ] = None,
    ) -> None:
        # In the body: a proxy's access log keeps a query string, and the endpoint is a secret of the
        # patient's browser. The query is still taken from phones whose cached app is an older
        # version's; the app's own access log never writes a query string.
        endpoint = data.endpoint if data is not None else endpoint
        if endpoint is None:
            raise InputError("endpoint", 'is required; send the JSON body {"endpoint": ...}', status=400)
        async with db.transaction() as tx:
            if not await reminders.delete_subscription(tx, request.user.patient_id, endpoint.strip()):
                raise InputError("endpoint", "no such subscription for this patient", status=404)

    @post("/push/test", summary="Send a test reminder to every subscribed device now", status_code=200)
    async def test(self, request: PatientRequest, db: DatabaseDep, clock: ClockDep, push: SchedulerDep) -> TestOut:
        user, now = request.user, clock.now()
        if not (await reminders.subscription_info(db, user.patient_id)).count:
            raise InputError("subscriptions", "no device is subscribed to reminders yet; subscribe first", status=409)
        await _count_test(db, user.patient_id, now)
        payload, results = await push.send_test(user.patient_id, user.timezone, user.locale, now)
        results = [msgspec.structs.replace(r, this_device=r.device_id == user.device_id) for r in results]
        return TestOut(sent=sum(r.status == "sent" for r in results), payload=payload, results=results)

    @get("/reminders", summary="Reminder times per slot, quiet hours, subscribed devices")
    async def get_reminders(
        self, request: PatientRequest, db: DatabaseDep, clock: ClockDep, catalog: CatalogDep
    ) -> RemindersOut:
        return await _reminders_out(db, request.user, clock.now(), catalog)

    @put("/reminders", summary="Change reminder times, weekdays, on/off per slot, quiet hours")
    async def put_reminders(
        self,
        request: PatientRequest,
        data: JSONBody[RemindersIn],
        db: DatabaseDep,
        clock: ClockDep,
        catalog: CatalogDep,
    ) -> RemindersOut:
        user, now = request.user, clock.now()
        tz = zone(user.timezone)
        seen: dict[str, int] = {}
        for i, rule in enumerate(data.rules):
            if rule.slot in seen:
                raise InputError(f"rules[{i}].slot", f"{rule.slot} is listed twice (also at rules[{seen[rule.slot]}])")
            seen[rule.slot] = i
            if rule.enabled and not rule.weekdays:
                raise InputError(f"rules[{i}].weekdays", "pick at least one day, or set enabled to false")
        if isinstance(data.quiet_hours, QuietHours) and data.quiet_hours.start == data.quiet_hours.end:
            raise InputError("quiet_hours.end", "must differ from start")
        prefs = await reminders.prefs_of(db, user.patient_id)
        program = await _program_of(db, user.patient_id)
        current = stored_rules(await reminders.rules_of(db, user.patient_id))
        shown = {r.slot: r for r in effective_rules(current, program)}
        chosen = {r.slot: r for r in data.rules}
        rules = []
        for rule in current:
            if rule.slot in chosen:
                sent = chosen[rule.slot]
                new = RuleRow(
                    slot=rule.slot, local_time=sent.local_time, weekdays=mask_of(sent.weekdays), enabled=sent.enabled
                )
                # Only a change is a choice. The app sends every slot back as it showed it, and it
                # shows a slot the plan does not use as off: that must not turn its reminder off.
                if _setting(new) != _setting(shown[rule.slot]):
                    rule = new
            rules.append(rule)
        if data.quiet_hours is UNSET:
            quiet = _quiet(prefs)
        else:
            quiet = (data.quiet_hours.start, data.quiet_hours.end) if data.quiet_hours else None
        window = Window(parse_hhmm(quiet[0]), parse_hhmm(quiet[1])) if quiet else None
        for rule in effective_rules(rules, program):  # what the patient will see on
            if rule.enabled and time_in_window(parse_hhmm(rule.local_time), window):
                field = f"rules[{seen[rule.slot]}].local_time" if rule.slot in seen else "quiet_hours"
                assert quiet is not None
                raise InputError(
                    field, f"{rule.slot} at {rule.local_time} falls inside the quiet hours ({quiet[0]}-{quiet[1]})"
                )
        was = {r.slot: r for r in current}
        due = {}
        for r in rules:
            before = was[r.slot]
            if _setting(r) == _setting(before) and before.next_due_at is not None and before.next_due_at <= iso(now):
                due[r.slot] = before.next_due_at
        changed = [r.slot for r in rules if _setting(r) != _setting(was[r.slot])]
        async with db.transaction() as tx:
            await reminders.save_rules(tx, user.patient_id, _with_next(rules, tz, now, due), user.timezone, now)
            # After the rules are saved (on PostgreSQL that waits for a plan step holding them), so a
            # reminder planned under the old setting is closed too. A retry of the old time must not go
            # out, nor block the new time's reminder the same day.
            await reminders.close_pending(tx, user.patient_id, changed, "settings changed")
            await reminders.save_prefs(tx, user.patient_id, now, customized=True, quiet=quiet)
        return await _reminders_out(db, user, now, catalog)

    @get(
        CALENDAR_PATH.removeprefix("/api/v1/patient"),
        summary="The reminder times as a calendar file (.ics)",
        media_type="text/calendar",
    )
    async def calendar_file(
        self, request: PatientRequest, db: DatabaseDep, catalog: CatalogDep, clock: ClockDep, settings: SettingsDep
    ) -> Response[str]:
        user, now = request.user, clock.now()
        today = now.astimezone(zone(user.timezone)).date()
        plan = await _plan_of(db, user.patient_id, user.timezone)
        program, made_on = (plan.program, plan.made_on) if plan else (None, None)
        if program is not None:
            # As the phone shows it (see shown_program), as the push reminders count it: a day whose
            # slot holds only items the phone leaves out has nothing to remind of.
            program = shown_program(program, catalog)
        earlier = shown_program(plan.earlier, catalog) if plan is not None and plan.earlier is not None else None
        rules = effective_rules(await reminders.rules_of(db, user.patient_id), program)
        # The events run while the plan does, as the push reminders: not before it starts (unless the
        # plan it replaces is in force until then), not after it ends, not without one, and not on a
        # day it has nothing in that slot.
        starts_on, until, events = today, None, []
        if program is not None:
            assert made_on is not None
            starts_on = today if earlier is not None else max(today, program.treated_on)
            until = program.last_day
            days = [starts_on + dt.timedelta(days=n) for n in range((until - starts_on).days + 1)]
            # Each day's program, and the date it was made (see reminds_on): the plan it replaced, made
            # in time, before the visit.
            of = {
                d: (program, made_on) if d >= program.treated_on or earlier is None else (earlier, earlier.treated_on)
                for d in days
            }
            planned = {day: {e.slot for e in routine_for(of[day][0], day, catalog).entries} for day in days}
            for r in rules:
                skip = [day for day in days if r.slot not in planned[day] or not reminds_on(*of[day], day, r.slot)]
                weekdays = days_from_mask(r.weekdays)
                # An event needs a day of the plan on one of its weekdays with something in its slot:
                # calendars count the first start as an occurrence even after the end.
                reminded = [d for d in days if d not in skip and WEEKDAYS[d.weekday()] in weekdays]
                if r.enabled and reminded:
                    events.append(CalendarRule(r.slot, r.local_time, weekdays, skip))
        body = calendar(
            patient_key=f"{user.therapist_id}:{user.patient_id}",
            timezone=user.timezone,
            lang=user.locale,
            rules=events,
            starts_on=starts_on,
            until=until,
            now=now,
            app_url=settings.public_url,
        )
        return Response(
            body,
            media_type="text/calendar",
            headers={"content-disposition": 'attachment; filename="unknot-reminders.ics"'},
        )


class TherapistRemindersController(Controller):
    """A patient's reminders for their therapist."""

    path = "/api/v1/patients/{patient_id:int}"
    tags = ["therapist: patients"]
    guards = [therapist_guard]
    dependencies = _DEPENDENCIES

    @get("/reminders", summary="Whether reminders are on, devices, and the last deliveries with their outcome")
    async def patient_reminders(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        clock: ClockDep,
        catalog: CatalogDep,
        settings: SettingsDep,
        patient_id: RowId,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 30,
    ) -> PatientRemindersOut:
        therapist_id = request.user.therapist.id
        patient = await owned_patient(db, therapist_id, patient_id)
        prefs = await reminders.prefs_of(db, patient_id)
        plan = await _plan_of(db, patient_id, patient.timezone)
        program = plan.program if plan else None
        rules = effective_rules(await reminders.rules_of(db, patient_id), program)
        tz, now = zone(patient.timezone), clock.now()
        info = await reminders.subscription_info(db, patient_id)
        quiet = _quiet(prefs)
        on = info.count > 0 and any(r.enabled for r in rules) and patient.archived_at is None
        rules_out = _rules_out(rules, tz, now, plan, catalog, await _done_today(db, patient_id, tz, now))
        not_coming = _not_coming(on, rules_out, program, now.astimezone(tz).date())
        return PatientRemindersOut(
            on=on,
            coming=not_coming is None,
            not_coming=not_coming,
            subscriptions=info.count,
            last_ok_at=info.last_ok_at,
            timezone=patient.timezone,
            customized=prefs is not None and prefs.customized,
            quiet_hours=QuietHours(*quiet) if quiet else None,
            rules=rules_out,
            plan_last_day=program.last_day if program is not None else None,
            offline_kept_minutes=settings.push_ttl_seconds // 60,
            deliveries=await reminders.deliveries_of(db, therapist_id, patient_id, limit),
        )

    @post(
        "/reminders/test",
        summary="Send a test reminder to every phone of the patient now, and say which it reached",
        status_code=200,
    )
    async def send_test(
        self, request: TherapistRequest, db: DatabaseDep, clock: ClockDep, push: SchedulerDep, patient_id: RowId
    ) -> TestOut:
        therapist_id, now = request.user.therapist.id, clock.now()
        patient = await current_patient(db, therapist_id, patient_id)
        if not (await reminders.subscription_info(db, patient_id)).count:
            raise InputError(
                "subscriptions",
                "no phone of this patient gets reminders yet: they turn them on in the app (More, Reminders)",
                status=409,
            )
        quiet = _quiet(await reminders.prefs_of(db, patient_id))
        local = now.astimezone(zone(patient.timezone)).time().replace(second=0, microsecond=0)
        if quiet and time_in_window(local, Window(parse_hhmm(quiet[0]), parse_hhmm(quiet[1]))):
            raise InputError(
                "quiet_hours",
                f"it is {local:%H:%M} for the patient, inside their quiet hours ({quiet[0]}-{quiet[1]}); "
                "send it outside them",
                status=409,
            )
        await _count_test(db, patient_id, now)
        payload, results = await push.send_test(patient_id, patient.timezone, patient.locale, now)
        sent = sum(r.status == "sent" for r in results)
        async with db.transaction() as tx:
            await audit.record(tx, therapist_id, patient_id, "reminders.test", now, f"{sent} of {len(results)}")
        return TestOut(sent=sent, payload=payload, results=results)
