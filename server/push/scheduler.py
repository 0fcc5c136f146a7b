"""The reminder scheduler: one task per app process, safe with several processes on one database.

Every ``tick(now)``:

1. expires devices unused for ``UNKNOT_DEVICE_IDLE_DAYS`` (as a removal, see patients.expire_idle_devices),
   and closes deliveries that may no longer be sent (too late, or out of attempts);
2. *plans*: each rule whose next occurrence has come gets one delivery row per live
   subscription of its patient (or one ``skipped``/``missed`` row saying why not), and
   moves on to its following occurrence. A reminder is sent only within the grace
   window after its time, outside quiet hours, and only when its slot still has
   something left to do that local day;
3. *sends*: claims due rows in one statement with a lease, sends them concurrently
   (bounded), and records each outcome. 404/410 delete the subscription; 429/5xx and
   network errors retry with exponential backoff up to a bound. Each attempt works out
   again what is left in the slot: it says what is left by then, in the patient's language by
   then, and is skipped when nothing is. A retry of a reminder whose slot the patient changed
   while it was being sent is closed instead (reminders.close_pending).

The loop only calls ``tick(clock.now())`` every few seconds; tests call ``tick`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
import uuid
import zoneinfo
from collections.abc import Sequence

import msgspec
from msgspec import Struct

from server.catalog.model import Catalog
from server.clock import Clock, clocks_apart, iso, local_date, parse_iso
from server.db import patients, plans, reminders
from server.db.connection import Database, DatabaseUnavailable, Transaction
from server.db.reminders import Claimed, DueRule, TargetRow
from server.programs import SLOTS, Program, RoutineEntry, routine_for
from server.programs.text import shown_program
from server.push.keys import VapidKeys
from server.push.message import Payload, payload_for
from server.push.schedule import (
    DEFAULT_TIMES,
    Window,
    in_window,
    next_after,
    parse_hhmm,
    previous_at_or_before,
    reminds_on,
    zone,
)
from server.push.sender import Outcome, Sender, Target
from server.settings import Settings

__all__ = ["Report", "Scheduler", "TestResult", "left_in_slot"]

log = logging.getLogger("unknot.push")

_BACKOFF_BASE = 30
_BACKOFF_MAX = 600
_PRUNE_EVERY = dt.timedelta(hours=1)
_KEEP_DELIVERIES = dt.timedelta(days=90)


class Report(Struct, kw_only=True):
    """What one tick did."""

    planned: int = 0
    skipped: int = 0
    missed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    gone: int = 0
    expired: int = 0
    devices_expired: int = 0  # phones unused for UNKNOT_DEVICE_IDLE_DAYS, disconnected

    def any(self) -> bool:
        """Whether anything happened."""
        return any(msgspec.structs.astuple(self))


class TestResult(Struct, frozen=True):
    """The outcome of a test reminder on one device: which phone (its id and label, as the
    console's device list names it), and whether its push service took the message."""

    subscription_id: int
    status: str
    http_status: int | None
    error: str
    device_id: int | None = None
    label: str = ""
    this_device: bool = False  # the device that asked for the test


def left_in_slot(
    program: Program | None, on_date: dt.date, slot: str, done: set[tuple[str, str]], catalog: Catalog
) -> list[RoutineEntry]:
    """The entries of ``slot`` on ``on_date`` not yet done (``done`` holds (exercise_id, slot))."""
    if program is None:
        return []
    # Only what the patient's phone shows (see shown_program): a reminder never counts an item they cannot see.
    routine = routine_for(shown_program(program, catalog), on_date, catalog)
    return [e for e in routine.slot(slot) if (e.exercise_id, e.slot) not in done]


def _window(start: str | None, end: str | None) -> Window | None:
    if not start or not end:
        return None
    return Window(parse_hhmm(start), parse_hhmm(end))


def _tz(rule: DueRule) -> zoneinfo.ZoneInfo | None:
    try:
        return zone(rule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("patient %s has an unknown time zone; reminders paused", rule.patient_id)
        return None


class _Elapsing:
    """A tick's time moving on with the real time passed since it began: claims, sends and their
    records carry the moment they happen, however long the tick has been sending."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = start
        self._began = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._began)


class Scheduler:
    """Plans, claims and sends reminders for one app process."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        settings: Settings,
        keys: VapidKeys,
        *,
        batch: int = 500,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.settings = settings
        self.sender = Sender(
            keys,
            settings.vapid_contact,
            ttl=settings.push_ttl_seconds,
            timeout=settings.push_timeout_seconds,
            concurrency=settings.push_concurrency,
            public_only=settings.env != "development",
        )
        self.batch = batch
        self.grace = dt.timedelta(minutes=settings.push_grace_minutes)
        self.max_attempts = settings.push_max_attempts
        self.device_idle = dt.timedelta(days=settings.device_idle_days)
        # A claim outlives the slowest batch: every round of sends may take the whole timeout.
        rounds = math.ceil(batch / settings.push_concurrency) + 1
        self.lease = dt.timedelta(seconds=settings.push_timeout_seconds * rounds + 30)
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._last_prune: dt.datetime | None = None
        # `unknot serve` compares the clocks at start; a clock can drift or be set wrong later.
        self.clock_check_seconds = 3600.0

    # --- the loop --------------------------------------------------------------------------

    def start(self, clock: Clock, interval: float) -> None:
        """Run ``tick`` every ``interval`` seconds in a background task on the current loop."""
        if self._task is not None:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(clock, interval, self._stop), name="unknot-push-scheduler")

    async def _run(self, clock: Clock, interval: float, stop: asyncio.Event) -> None:
        next_clock_check = time.monotonic() + self.clock_check_seconds
        while not stop.is_set():
            try:
                report = await self.tick(clock.now())
                if report.any():
                    log.info("push: %s", msgspec.json.encode(report).decode())
                if time.monotonic() >= next_clock_check:
                    next_clock_check = time.monotonic() + self.clock_check_seconds
                    if apart := clocks_apart(await self.db.clock_ahead()):
                        log.warning("push: %s", apart)
            except Exception as exc:
                if self.db.disk_full(exc):  # every tick until space is freed: one line each, no traceback
                    log.error("push scheduler: the disk that holds the database is full; free space on it")
                elif isinstance(exc, DatabaseUnavailable):  # PostgreSQL down: one line a tick too
                    log.error("push scheduler: %s", exc)
                else:
                    log.exception("push scheduler tick failed; trying again next tick")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def stop(self, wait: float = 15.0) -> None:
        """Stop the loop: let a running tick finish (up to ``wait`` seconds), then close connections.

        Deliveries claimed by an interrupted tick are sent by the next scheduler once their lease ends.
        """
        task, self._task = self._task, None
        if task is not None and self._stop is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=wait)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.sender.close()

    # --- one tick ----------------------------------------------------------------------------

    async def tick(self, now: dt.datetime) -> Report:
        """Plan what has come due at ``now`` and send everything that is due."""
        report = Report()
        async with self.db.transaction() as tx:
            # First, before planning: a phone unused too long gets nothing more. Devices before
            # deliveries, in the order a removal takes them (PostgreSQL: no deadlock with one).
            report.devices_expired += await patients.expire_idle_devices(tx, now, now - self.device_idle)
            report.expired += await reminders.finish_stale(tx, now, now - self.grace, self.max_attempts)
        await self._rezone(now)
        clock = _Elapsing(now)
        # One batch planned, then everything due sent, then the next batch: the first messages
        # leave while later ones are still being planned, and memory stays bounded by the batch.
        while True:
            planned = await self._plan(clock.now(), report)
            await self._deliver_all(clock, report)
            if planned < self.batch:
                break
        if self._last_prune is None or now - self._last_prune > _PRUNE_EVERY:
            self._last_prune = now
            async with self.db.transaction() as tx:
                await reminders.prune(tx, now - _KEEP_DELIVERIES)
        return report

    async def plan(self, now: dt.datetime, report: Report | None = None) -> Report:
        """Step 2 of a tick: turn every rule that has come due into deliveries."""
        report = report or Report()
        while await self._plan(now, report) == self.batch:
            pass
        return report

    async def deliver(self, now: dt.datetime, report: Report | None = None) -> Report:
        """Step 3 of a tick: claim, send and record every delivery that is due."""
        report = report or Report()
        await self._deliver_all(_Elapsing(now), report)
        return report

    async def _deliver_all(self, clock: _Elapsing, report: Report) -> None:
        while await self._deliver(clock, report) == self.batch:
            pass

    async def _rezone(self, now: dt.datetime) -> None:
        """Recompute next occurrences of rules whose patient moved to another zone."""
        async with self.db.transaction() as tx:
            rules = await reminders.rezone_candidates(tx, 1000)
            updates = []
            for rule in rules:
                if rule.next_due_at is not None and rule.next_due_at <= iso(now):
                    # Come due, not planned yet: planning takes it (in the new zone), or records it missed.
                    updates.append((rule.patient_id, rule.slot, rule.next_due_at, rule.timezone))
                    continue
                tz = _tz(rule)
                found = next_after(parse_hhmm(rule.local_time), rule.weekdays, tz, now) if tz and rule.enabled else None
                updates.append((rule.patient_id, rule.slot, iso(found[1]) if found else None, rule.timezone))
            await reminders.set_next_due(tx, updates)

    async def _plan(self, now: dt.datetime, report: Report) -> int:
        """Turn one batch of due rules into deliveries; returns how many rules it took."""
        async with self.db.transaction() as tx:
            rules = await reminders.due_rules(tx, now, self.batch)
            if not rules:
                return 0
            subscriptions = await reminders.live_subscriptions(tx, {r.patient_id for r in rules})
            updates: list[tuple[int, str, str | None, str]] = []
            due_now: list[tuple[DueRule, dt.date, dt.datetime, zoneinfo.ZoneInfo]] = []
            for rule in rules:
                tz = _tz(rule)
                at = parse_hhmm(rule.local_time)
                following = next_after(at, rule.weekdays, tz, now) if tz and rule.enabled else None
                updates.append((rule.patient_id, rule.slot, iso(following[1]) if following else None, rule.timezone))
                if tz is None or not rule.enabled or rule.archived or not subscriptions.get(rule.patient_id):
                    continue
                # The occurrence that has come (the latest, if the server was down for several).
                last = previous_at_or_before(at, rule.weekdays, tz, now)
                if last is not None:
                    due_now.append((rule, *last, tz))
            # Another process may still be sending this slot's reminder of the day that the patient
            # has since moved or changed: planned now, the new one would be refused beside it (one
            # per device and day) and lost if that send then fails and is closed. Such a rule is
            # looked at again next tick, when that send has been sent (and this one is not needed)
            # or closed.
            closing = await reminders.closing_sends(tx) if due_now else set()
            held = {
                (r.patient_id, r.slot): iso(due)
                for r, d, due, _ in due_now
                if (r.patient_id, r.slot, d.isoformat()) in closing
            }
            if held:
                due_now = [x for x in due_now if (x[0].patient_id, x[0].slot) not in held]
                updates = [(p, s, held.get((p, s), n), z) for p, s, n, z in updates]
            slots = await self._slots(tx, [(r.patient_id, d, r.slot, r.timezone) for r, d, *_ in due_now])
            rows: list[dict[str, object]] = []
            for rule, on_date, due, tz in due_now:
                found = slots[(rule.patient_id, on_date, rule.slot)]
                if found is None:  # not a day this slot reminds of (see reminds_on): nothing to record
                    continue
                asked, left = found
                row = {"pid": rule.patient_id, "kind": "reminder", "slot": rule.slot, "on_date": on_date.isoformat()}
                row |= {"due_at": iso(due), "now": iso(now), "status": "skipped"}
                if not asked:  # not "nothing left": the therapist would read that the patient did it
                    rows.append({**row, "error": "nothing planned at this time of day"})
                elif not left:
                    rows.append({**row, "error": "nothing left to do in this slot"})
                elif now - due > self.grace:
                    rows.append({**row, "status": "missed", "error": "not sent in time (was the server down?)"})
                elif in_window(now, _window(rule.quiet_start, rule.quiet_end), tz):
                    rows.append({**row, "error": "quiet hours"})
                else:
                    payload = payload_for("reminder", rule.slot, on_date, left, self.catalog, rule.locale)
                    text = payload.encode().decode()
                    for subscription_id in subscriptions[rule.patient_id]:
                        rows.append(
                            {**row, "sid": subscription_id, "status": "pending", "next": iso(now), "payload": text}
                        )
            # Counted from the rows that went in: a device that already has this day's reminder gets no other.
            added = await reminders.add_deliveries(tx, rows)
            report.planned += added.count("pending")
            report.skipped += added.count("skipped")
            report.missed += added.count("missed")
            await reminders.set_next_due(tx, updates)
        return len(rules)

    def _backoff(self, attempts: int, retry_after: int | None) -> dt.timedelta:
        seconds = min(_BACKOFF_BASE * 2 ** max(attempts - 1, 0), _BACKOFF_MAX)
        return dt.timedelta(seconds=max(seconds, retry_after or 0))

    async def _left_in_slots(
        self, db: Database | Transaction, wanted: Sequence[tuple[int, dt.date, str, str]]
    ) -> dict[tuple[int, dt.date, str], list[RoutineEntry] | None]:
        """What is left in each ``(patient_id, on_date, slot)`` of the patient (in their ``timezone``,
        the fourth), of the plan version their app shows that day (plans.version_shown); ``None``
        where that slot does not remind on that day (outside the plan's days, see reminds_on). Two
        queries for all of them, and at most one more per patient whose plan version was saved that
        day or later."""
        return {key: None if found is None else found[1] for key, found in (await self._slots(db, wanted)).items()}

    async def _slots(
        self, db: Database | Transaction, wanted: Sequence[tuple[int, dt.date, str, str]]
    ) -> dict[tuple[int, dt.date, str], tuple[list[RoutineEntry], list[RoutineEntry]] | None]:
        """What each slot of ``wanted`` (see _left_in_slots) asks that day, and what of it is left."""
        shown, done, made = await self._shown_on(db, wanted)
        found: dict[tuple[int, dt.date, str], tuple[list[RoutineEntry], list[RoutineEntry]] | None] = {}
        for p, d, slot, _ in wanted:
            program = shown.get((p, d))
            if program is None or not reminds_on(program, made[p, d], d, slot):
                found[p, d, slot] = None
                continue
            asked = left_in_slot(program, d, slot, set(), self.catalog)
            logged = done.get((p, d), set())
            found[p, d, slot] = asked, [e for e in asked if (e.exercise_id, e.slot) not in logged]
        return found

    async def _shown_on(
        self, db: Database | Transaction, wanted: Sequence[tuple[int, dt.date, str, str]]
    ) -> tuple[
        dict[tuple[int, dt.date], Program | None],
        dict[tuple[int, dt.date], set[tuple[str, str]]],
        dict[tuple[int, dt.date], dt.date],
    ]:
        """For each ``(patient_id, on_date)`` of ``wanted`` (see _left_in_slots): the program the
        patient's app shows that day (absent without a plan), what they did that day, and the
        patient's date that program's plan was made (see reminds_on)."""
        plans_of = await reminders.active_plans_of(db, {p for p, *_ in wanted})
        done: dict[tuple[int, dt.date], set[tuple[str, str]]] = {}
        for p, d, e, s in await reminders.done_on(db, {(p, d) for p, d, *_ in wanted}):
            done.setdefault((p, d), set()).add((e, s))
        shown: dict[tuple[int, dt.date], Program | None] = {}
        made: dict[tuple[int, dt.date], dt.date] = {}
        for p, d, _, timezone in wanted:
            if (p, d) not in shown and (plan := plans_of.get(p)) is not None:
                on_day = msgspec.structs.replace(plan, done=frozenset(done.get((p, d), ())))
                try:
                    plan_id, _, program = await plans.version_shown(db, p, on_day, d, timezone, self.catalog)
                    made_on = local_date(parse_iso(plan.made_at), timezone)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # a zone this machine no longer knows
                    plan_id, program, made_on = plan.id, plan.program, plan.program.treated_on
                shown[p, d] = program
                # An earlier plan the app still shows was not prepared ahead as far as this day goes.
                made[p, d] = made_on if plan_id == plan.id else program.treated_on
        return shown, done, made

    async def _left_now(self, claimed: Sequence[Claimed]) -> dict[int, list[RoutineEntry]]:
        """What is left now in each claimed reminder's slot on its day, by delivery id: the patient
        may have done some (or all) of it since the reminder was planned, say while a retry waited."""
        planned = [
            (item, msgspec.json.decode(item.payload, type=Payload)) for item in claimed if item.kind == "reminder"
        ]
        if not planned:
            return {}
        wanted = [(i.patient_id, said.on_date, i.slot, i.target.timezone if i.target else "UTC") for i, said in planned]
        left_in = await self._left_in_slots(self.db, wanted)
        # A day the slot no longer reminds of (the plan was replaced since): nothing is left to send.
        return {item.id: left_in[(item.patient_id, said.on_date, item.slot)] or [] for item, said in planned}

    def _as_now(self, item: Claimed, left: Sequence[RoutineEntry] | None) -> Claimed:
        """The claimed reminder saying what is left now, in the patient's language now (unchanged
        when nothing is left: it is not sent)."""
        if not left:
            return item
        said = msgspec.json.decode(item.payload, type=Payload)
        # The patient may have picked another language in the app since it was planned (a retry).
        lang = item.target.locale if item.target is not None else said.lang
        text = payload_for("reminder", item.slot, said.on_date, left, self.catalog, lang).encode().decode()
        return item if text == item.payload else msgspec.structs.replace(item, payload=text)

    async def _send(self, item: Claimed, now: dt.datetime, left: Sequence[RoutineEntry] | None = None) -> Outcome:
        if item.target is None:
            return Outcome("gone", None, "the subscription was removed")
        if item.target.archived:  # planned before the therapist archived the patient
            return Outcome("skipped", None, "the patient was archived")
        # A browser handed to another patient since: never show them the previous patient's reminder.
        if item.target.patient_id != item.patient_id:
            return Outcome("skipped", None, "the device was handed to another patient")
        if left is not None and not left:  # done since it was planned
            return Outcome("skipped", None, "nothing left to do in this slot")
        # Checked again here: a retry, or a claim taken over after a lease, may come later than planned.
        window = _window(item.target.quiet_start, item.target.quiet_end)
        if item.kind == "reminder" and in_window(now, window, zone(item.target.timezone)):
            return Outcome("skipped", None, "quiet hours")
        target = Target(item.target.endpoint, item.target.p256dh, item.target.auth)
        return await self.sender.send(target, item.payload.encode(), topic=item.slot)

    async def _deliver(self, clock: _Elapsing, report: Report) -> int:
        """Claim one batch, send it, record the outcomes; returns how many were claimed."""
        token = uuid.uuid4().hex
        # The lease runs from the claim, not from the start of a tick that may have sent for minutes.
        now = clock.now()
        claimed = await reminders.claim(
            self.db,
            now,
            lease_until=now + self.lease,
            token=token,
            limit=self.batch,
            max_attempts=self.max_attempts,
            not_before=now - self.grace,
        )
        if not claimed:
            return 0
        # Worked out again for every attempt: a retry, or a claim taken over after a lease, says
        # what is left by then, and is not sent when nothing is.
        left = await self._left_now(claimed)
        claimed = [self._as_now(item, left.get(item.id)) for item in claimed]

        # Outcomes are recorded as they arrive: each write takes everything that arrived during the
        # previous one (a group commit). A message holds one of the sender's places from its send
        # until its outcome is written, so a process killed mid-send leaves at most that many sent
        # but unrecorded, to be sent again by whoever takes its claims over.
        places = asyncio.Semaphore(self.settings.push_concurrency)

        async def send(item: Claimed) -> tuple[Claimed, Outcome]:
            await places.acquire()
            return item, await self._send(item, clock.now(), left.get(item.id))

        waiting = {asyncio.ensure_future(send(item)) for item in claimed}
        try:
            while waiting:
                finished, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                arrived = [task.result() for task in finished]
                outcomes = [o for _, o in arrived]
                await self._record([i for i, _ in arrived], outcomes, token, clock.now(), report, retry=True)
                for _ in arrived:
                    places.release()
        finally:  # stopping (or a failed write) leaves the rest to the lease, not to orphaned tasks
            for task in waiting:
                task.cancel()
        return len(claimed)

    async def _record(
        self,
        claimed: Sequence[Claimed],
        outcomes: Sequence[Outcome],
        token: str,
        now: dt.datetime,
        report: Report,
        *,
        retry: bool,
    ) -> None:
        results: list[dict[str, object]] = []
        ok, failing, gone = [], [], []
        for item, outcome in zip(claimed, outcomes, strict=True):
            result = {"id": item.id, "claim": token, "sent_at": None, "next": None, "payload": item.payload}
            result |= {"code": outcome.status, "error": outcome.error}
            sid = item.subscription_id
            if outcome.kind == "sent":
                result |= {"status": "sent", "sent_at": iso(now)}
                ok.append(sid)
                report.sent += 1
            elif outcome.kind == "skipped":
                result["status"] = "skipped"
                report.skipped += 1
            elif outcome.kind == "gone":
                result["status"] = "gone"
                gone.append(sid)
                report.gone += 1
            elif outcome.kind == "retry" and retry and item.attempts < self.max_attempts:
                following = now + self._backoff(item.attempts, outcome.retry_after)
                if following - parse_iso(item.due_at) > self.grace:
                    result |= {"status": "expired", "error": f"too late to retry; last: {outcome.error}"}
                    report.expired += 1
                else:
                    result |= {"status": "pending", "next": iso(following)}
                    report.retried += 1
                failing.append(sid)
            else:
                result["status"] = "failed"
                if outcome.kind == "retry":
                    result["error"] = f"gave up after {item.attempts} attempts; last: {outcome.error}"
                failing.append(sid)
                report.failed += 1
            results.append(result)
        closed = await reminders.record(
            self.db,
            results,
            now,
            ok=[s for s in ok if s is not None],
            failing=[s for s in failing if s is not None],
            gone=[s for s in gone if s is not None],
        )
        report.retried -= closed
        report.skipped += closed

    # --- a test reminder, now ----------------------------------------------------------------

    async def send_test(
        self, patient_id: int, timezone: str, locale: str, now: dt.datetime
    ) -> tuple[Payload, list[TestResult]]:
        """Send what the current slot's reminder would say to every live device of the patient, now."""
        targets: list[TargetRow] = await reminders.targets_of(self.db, patient_id)
        tz = zone(timezone)
        today = now.astimezone(tz).date()
        local = now.astimezone(tz).time()
        rules = {r.slot: r for r in await reminders.rules_of(self.db, patient_id)}
        times = {s: parse_hhmm(rules[s].local_time if s in rules else t) for s, t in DEFAULT_TIMES.items()}
        ordered = sorted(times, key=lambda s: times[s])
        passed = [s for s in ordered if times[s] <= local]
        current = ordered.index(passed[-1]) if passed else 0
        # From the slot whose time came last on round the day: which would remind now, or next.
        turn = ordered[current:] + ordered[:current]
        shown, done, _ = await self._shown_on(self.db, [(patient_id, today, s, timezone) for s in SLOTS])
        program = shown.get((patient_id, today))
        planned = {s: left_in_slot(program, today, s, set(), self.catalog) for s in SLOTS}
        left = {s: left_in_slot(program, today, s, done.get((patient_id, today), set()), self.catalog) for s in SLOTS}
        # What a reminder would say: a slot that is on and has something left, rather than one the
        # plan has nothing in today ("Midday: all done" for a midday the app does not even show).
        off = {s for s, r in rules.items() if not r.enabled}
        slot = min(SLOTS, key=lambda s: (s in off, not left[s], not planned[s], turn.index(s)))
        payload = payload_for("test", slot, today, left[slot], self.catalog, locale, planned=bool(planned[slot]))
        if not targets:
            return payload, []
        token = uuid.uuid4().hex
        data = payload.encode()
        claimed = []
        async with self.db.transaction() as tx:
            for target in targets:
                delivery_id = await reminders.add_delivery(
                    tx,
                    {
                        "pid": patient_id,
                        "sid": target.id,
                        "kind": "test",
                        "slot": slot,
                        "on_date": today.isoformat(),
                        "due_at": iso(now),
                        "status": "sending",
                        "attempts": 1,
                        "next": iso(now + self.lease),
                        "claim": token,
                        "payload": data.decode(),
                        "now": iso(now),
                    },
                )
                claimed.append(
                    Claimed(
                        id=delivery_id,
                        patient_id=patient_id,
                        subscription_id=target.id,
                        kind="test",
                        slot=slot,
                        due_at=iso(now),
                        attempts=1,
                        payload=data.decode(),
                        target=target,
                    )
                )
        async with self.sender.one_off() as sender:
            outcomes = await asyncio.gather(
                *(sender.send(Target(t.endpoint, t.p256dh, t.auth), data, topic="test", ttl=300) for t in targets)
            )
        await self._record(claimed, outcomes, token, now, Report(), retry=False)
        results = [
            TestResult(
                t.id, {"sent": "sent", "gone": "gone"}.get(o.kind, "failed"), o.status, o.error, t.device_id, t.label
            )
            for t, o in zip(targets, outcomes, strict=True)
        ]
        return payload, results
