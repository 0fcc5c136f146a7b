"""Push subscriptions, reminder rules and the delivery log.

Patient-facing reads are scoped by the patient id from the device token, therapist
reads join the owning therapist. The scheduler's statements work across patients:
they are the only queries here without such a filter, and they never reach the API.

Two statements are written to stay correct with several schedulers on one database:
``due_rules`` (SQLite serialises it in a write transaction; PostgreSQL locks the rules it
takes with ``FOR UPDATE OF r SKIP LOCKED``, so two schedulers plan disjoint sets) and
``claim``, one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`` (PostgreSQL:
``FOR UPDATE SKIP LOCKED`` in the sub-select, so concurrent claimers never wait for or
take each other's rows). A delivery that is or may still be sent is also unique per device,
patient, slot and local day, so even a doubled plan step cannot send twice.

Where the dialects differ, both texts sit side by side in a :func:`dialects` pair.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from msgspec import Struct

from server.clock import iso
from server.db.connection import Database, Row, Transaction, dialects
from server.db.plans import PlanDay, decoded_program
from server.programs import Program

__all__ = [
    "Claimed",
    "DeliveryRow",
    "DueRule",
    "Prefs",
    "RuleRow",
    "SubscriptionInfo",
    "TargetRow",
    "active_plans_of",
    "add_deliveries",
    "add_delivery",
    "claim",
    "close_pending",
    "delete_subscription",
    "deliveries_of",
    "done_on",
    "due_rules",
    "earlier_plan_of",
    "finish_stale",
    "insert_rules_if_missing",
    "live_subscriptions",
    "prefs_of",
    "prune",
    "record",
    "rezone_candidates",
    "rules_of",
    "save_prefs",
    "save_rules",
    "set_next_due",
    "subscription_info",
    "subscriptions_stored",
    "targets_of",
    "upsert_subscription",
]


def _ids(values: Iterable[object]) -> str:
    return json.dumps(sorted(set(values), key=str))


def _in_sets(sql: str) -> dict[str, str]:
    """Both dialects of a statement whose ``{ids}`` (integers) and ``{dates}`` (text) are sets
    given as one JSON array parameter each (``:ids``, ``:dates``)."""
    return dialects(
        sqlite=sql.format(ids="SELECT value FROM json_each(:ids)", dates="SELECT value FROM json_each(:dates)"),
        postgresql=sql.format(
            ids="SELECT CAST(jsonb_array_elements_text(CAST(:ids AS jsonb)) AS bigint)",
            dates="SELECT jsonb_array_elements_text(CAST(:dates AS jsonb))",
        ),
    )


LIVE_SUBSCRIPTIONS = _in_sets(
    "SELECT s.patient_id, s.id FROM push_subscription s "
    "JOIN patient_device d ON d.id = s.device_id AND d.revoked_at IS NULL "
    "WHERE s.patient_id IN ({ids}) ORDER BY s.id"
)
ACTIVE_PLANS = _in_sets(
    "SELECT patient_id, id, version, program, updated_at, created_at FROM plan "
    "WHERE status = 'active' AND patient_id IN ({ids})"
)
DONE_ON = _in_sets(
    "SELECT patient_id, on_date, exercise_id, slot FROM completion "
    "WHERE patient_id IN ({ids}) AND on_date IN ({dates}) AND withdrawn_at IS NULL"
)
CLAIMED_TARGETS = _in_sets(
    "SELECT s.id, s.patient_id, s.endpoint, s.p256dh, s.auth, p.archived_at IS NOT NULL AS archived, p.timezone, "
    "p.locale, q.quiet_start, q.quiet_end FROM push_subscription s "
    "JOIN patient_device d ON d.id = s.device_id AND d.revoked_at IS NULL "
    "JOIN patient p ON p.id = d.patient_id LEFT JOIN reminder_prefs q ON q.patient_id = p.id "
    "WHERE s.id IN ({ids})"
)

# A row being sent ('sending') is in a sender's hands and may still succeed: it is only marked, and
# closed for that reason by its sender should the send fail (see RECORD) or by finish_stale should
# the sender die. One statement for both, so that on PostgreSQL a retry a sender commits meanwhile
# is not missed: the row is read again as 'pending' and closed.
CLOSE_PENDING_SLOTS = _in_sets(
    "UPDATE reminder_delivery SET "
    "status = CASE WHEN status = 'pending' THEN 'skipped' ELSE status END, "
    "last_error = CASE WHEN status = 'pending' THEN :error ELSE last_error END, "
    "next_attempt_at = CASE WHEN status = 'pending' THEN NULL ELSE next_attempt_at END, "
    "claim = CASE WHEN status = 'pending' THEN NULL ELSE claim END, close_reason = :error "
    "WHERE kind = 'reminder' AND status IN ('pending', 'sending') AND patient_id = :pid AND slot IN ({dates})"
)
HANDED_OVER = (
    "UPDATE reminder_delivery SET status = 'skipped', last_error = :error, next_attempt_at = NULL, claim = NULL "
    "WHERE kind = 'reminder' AND status = 'pending' AND patient_id <> :pid "
    "AND subscription_id IN (SELECT id FROM push_subscription WHERE endpoint = :e)"
)


class RuleRow(Struct, frozen=True, kw_only=True):
    """One slot's reminder rule as stored."""

    slot: str
    local_time: str
    weekdays: int
    enabled: bool
    next_due_at: str | None = None


class Prefs(Struct, frozen=True, kw_only=True):
    """A patient's reminder preferences."""

    customized: bool
    quiet_start: str | None
    quiet_end: str | None


class SubscriptionInfo(Struct, frozen=True):
    """How many live subscriptions a patient has, and the last time one received a message."""

    count: int
    last_ok_at: str | None


class TargetRow(Struct, frozen=True, kw_only=True):
    """A live subscription and its keys; for a claimed delivery also its patient's state as it is now
    (who owns it now, archived since the reminder was planned, time zone, language and quiet hours)."""

    id: int
    endpoint: str
    p256dh: str
    auth: str
    patient_id: int | None = None
    archived: bool = False
    timezone: str = "UTC"
    locale: str = "en"
    quiet_start: str | None = None
    quiet_end: str | None = None
    device_id: int | None = None  # the joined device (phone) it belongs to, and its label
    label: str = ""


class DueRule(Struct, frozen=True, kw_only=True):
    """A rule whose next occurrence has come, with what the scheduler needs about its patient."""

    patient_id: int
    slot: str
    local_time: str
    weekdays: int
    enabled: bool
    next_due_at: str | None
    zone: str
    timezone: str
    locale: str
    archived: bool
    quiet_start: str | None
    quiet_end: str | None


class Claimed(Struct, frozen=True, kw_only=True):
    """A delivery this scheduler now holds until its lease ends."""

    id: int
    patient_id: int
    subscription_id: int | None
    kind: str
    slot: str
    due_at: str
    attempts: int
    payload: str
    target: TargetRow | None


class DeliveryRow(Struct, frozen=True, kw_only=True):
    """One entry of the delivery log, as the therapist sees it."""

    id: int
    kind: str
    slot: str
    on_date: dt.date
    due_at: str
    status: str
    attempts: int
    sent_at: str | None
    http_status: int | None
    last_error: str
    # The device (phone) it went to, by the label the console shows, kept after that phone's
    # subscription is gone (removed, or refused by its push service); null for a reminder never
    # meant for a phone (skipped, missed), and for one logged before devices were kept whose
    # subscription is gone.
    device_id: int | None = None
    device: str | None = None


# --- subscriptions -------------------------------------------------------------------------


async def upsert_subscription(
    tx: Transaction,
    patient_id: int,
    device_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    now: dt.datetime,
    keep: int,
) -> bool | None:
    """Store a subscription or refresh the one with this endpoint; true when new, ``None`` when refused.

    An endpoint registered to another patient moves over only with the same keys, the secret
    ``auth`` included (one browser profile handed from one patient to the next); otherwise it is
    refused, so nobody can take over a subscription by sending its endpoint and public key with
    a secret of their own (the owner's browser could no longer read its reminders).
    Keeps the patient's ``keep`` most recently working subscriptions and drops older ones.
    """
    existing = await tx.fetch_one("SELECT 1 FROM push_subscription WHERE endpoint = :e", {"e": endpoint})
    # The refusal is part of the upsert, so two registrations racing on PostgreSQL cannot both pass a check.
    stored = await tx.execute(
        "INSERT INTO push_subscription (patient_id, device_id, endpoint, p256dh, auth, created_at, updated_at) "
        "VALUES (:pid, :did, :e, :p, :a, :now, :now) "
        "ON CONFLICT (endpoint) DO UPDATE SET patient_id = excluded.patient_id, device_id = excluded.device_id, "
        "p256dh = excluded.p256dh, auth = excluded.auth, updated_at = excluded.updated_at, failures = 0 "
        "WHERE push_subscription.patient_id = excluded.patient_id "
        "OR (push_subscription.p256dh = excluded.p256dh AND push_subscription.auth = excluded.auth)",
        {"pid": patient_id, "did": device_id, "e": endpoint, "p": p256dh, "a": auth, "now": iso(now)},
    )
    if stored == 0:
        return None
    # Handed over: what was waiting for the previous patient must not reach the new one's browser
    # (it speaks of the previous patient's plan), and must not hold back the new patient's own.
    await tx.execute(
        HANDED_OVER, {"pid": patient_id, "e": endpoint, "error": "the device was handed to another patient"}
    )
    await tx.execute(
        "DELETE FROM push_subscription WHERE patient_id = :pid AND id NOT IN (SELECT id FROM push_subscription "
        "WHERE patient_id = :pid ORDER BY coalesce(last_ok_at, updated_at) DESC, id DESC LIMIT :keep)",
        {"pid": patient_id, "keep": keep},
    )
    return existing is None


async def close_pending(tx: Transaction, patient_id: int, slots: Iterable[str], reason: str) -> int:
    """Close the patient's reminders of ``slots`` still waiting to be sent (a first attempt or a retry)
    as skipped for ``reason``. One being sent right now may finish, but is not retried: it is closed
    the same way if that send fails, or if its sender dies holding it."""
    return await tx.execute(
        CLOSE_PENDING_SLOTS[tx.dialect],
        {"pid": patient_id, "dates": _ids(slots), "error": reason},
    )


async def delete_subscription(tx: Transaction, patient_id: int, endpoint: str) -> bool:
    """Remove one of the patient's subscriptions; false when the patient has none with this endpoint."""
    changed = await tx.execute(
        "DELETE FROM push_subscription WHERE patient_id = :pid AND endpoint = :e", {"pid": patient_id, "e": endpoint}
    )
    return changed == 1


async def subscriptions_stored(db: Database) -> int:
    """How many push subscriptions the database holds, of every patient."""
    row = await db.fetch_one("SELECT count(*) AS n FROM push_subscription")
    return int(row["n"]) if row else 0


async def subscription_info(db: Database | Transaction, patient_id: int) -> SubscriptionInfo:
    """The patient's live subscriptions (their device not revoked)."""
    row = await db.fetch_one(
        "SELECT count(*) AS n, max(s.last_ok_at) AS ok FROM push_subscription s "
        "JOIN patient_device d ON d.id = s.device_id AND d.revoked_at IS NULL WHERE s.patient_id = :pid",
        {"pid": patient_id},
    )
    return SubscriptionInfo(row["n"], row["ok"]) if row else SubscriptionInfo(0, None)


async def targets_of(db: Database | Transaction, patient_id: int) -> list[TargetRow]:
    """The patient's live subscriptions with their keys and their device."""
    rows = await db.fetch_all(
        "SELECT s.id, s.endpoint, s.p256dh, s.auth, d.id, d.label FROM push_subscription s "
        "JOIN patient_device d ON d.id = s.device_id AND d.revoked_at IS NULL WHERE s.patient_id = :pid ORDER BY s.id",
        {"pid": patient_id},
    )
    return [
        TargetRow(id=r[0], endpoint=r[1], p256dh=r[2], auth=r[3], patient_id=patient_id, device_id=r[4], label=r[5])
        for r in rows
    ]


async def live_subscriptions(tx: Transaction, patient_ids: Iterable[int]) -> dict[int, list[int]]:
    """Live subscription ids per patient."""
    rows = await tx.fetch_all(LIVE_SUBSCRIPTIONS[tx.dialect], {"ids": _ids(patient_ids)})
    found: dict[int, list[int]] = {}
    for r in rows:
        found.setdefault(r["patient_id"], []).append(r["id"])
    return found


# --- rules and preferences -----------------------------------------------------------------


async def rules_of(db: Database | Transaction, patient_id: int) -> list[RuleRow]:
    """The patient's stored rules (none until they subscribe or choose)."""
    rows = await db.fetch_all(
        "SELECT slot, local_time, weekdays, enabled, next_due_at FROM reminder_rule WHERE patient_id = :pid",
        {"pid": patient_id},
    )
    return [
        RuleRow(
            slot=r["slot"],
            local_time=r["local_time"],
            weekdays=r["weekdays"],
            enabled=bool(r["enabled"]),
            next_due_at=r["next_due_at"],
        )
        for r in rows
    ]


async def prefs_of(db: Database | Transaction, patient_id: int) -> Prefs | None:
    """The patient's preferences, or ``None`` when never stored."""
    row = await db.fetch_one(
        "SELECT customized, quiet_start, quiet_end FROM reminder_prefs WHERE patient_id = :pid", {"pid": patient_id}
    )
    return Prefs(customized=bool(row[0]), quiet_start=row[1], quiet_end=row[2]) if row else None


def _rule_params(patient_id: int, rules: Sequence[RuleRow], zone: str, now: dt.datetime) -> list[dict[str, object]]:
    return [
        {
            "pid": patient_id,
            "slot": r.slot,
            "t": r.local_time,
            "w": r.weekdays,
            "on": int(r.enabled),
            "zone": zone,
            "next": r.next_due_at,
            "now": iso(now),
        }
        for r in rules
    ]


_INSERT_RULE = (
    "INSERT INTO reminder_rule (patient_id, slot, local_time, weekdays, enabled, zone, next_due_at, updated_at) "
    "VALUES (:pid, :slot, :t, :w, :on, :zone, :next, :now) "
)


async def save_rules(tx: Transaction, patient_id: int, rules: Sequence[RuleRow], zone: str, now: dt.datetime) -> None:
    """Store rules (with their next occurrence computed in ``zone``), replacing those of the same slots."""
    await tx.executemany(
        _INSERT_RULE + "ON CONFLICT (patient_id, slot) DO UPDATE SET local_time = excluded.local_time, "
        "weekdays = excluded.weekdays, enabled = excluded.enabled, zone = excluded.zone, "
        "next_due_at = excluded.next_due_at, updated_at = excluded.updated_at",
        _rule_params(patient_id, rules, zone, now),
    )


async def insert_rules_if_missing(
    tx: Transaction, patient_id: int, rules: Sequence[RuleRow], zone: str, now: dt.datetime
) -> None:
    """Store rules for slots that have none yet."""
    await tx.executemany(
        _INSERT_RULE + "ON CONFLICT (patient_id, slot) DO NOTHING", _rule_params(patient_id, rules, zone, now)
    )


_SAVE_PREFS = (
    "INSERT INTO reminder_prefs (patient_id, customized, quiet_start, quiet_end, updated_at) "
    "VALUES (:pid, :c, :s, :e, :now) ON CONFLICT (patient_id) DO UPDATE SET "
    "customized = {larger}(reminder_prefs.customized, excluded.customized), "
    "quiet_start = CASE WHEN :keep THEN reminder_prefs.quiet_start ELSE excluded.quiet_start END, "
    "quiet_end = CASE WHEN :keep THEN reminder_prefs.quiet_end ELSE excluded.quiet_end END, "
    "updated_at = excluded.updated_at"
)
# Two-argument max() is SQLite's spelling of greatest().
SAVE_PREFS = dialects(sqlite=_SAVE_PREFS.format(larger="max"), postgresql=_SAVE_PREFS.format(larger="greatest"))


async def save_prefs(
    tx: Transaction,
    patient_id: int,
    now: dt.datetime,
    *,
    customized: bool,
    quiet: tuple[str, str] | None,
    keep_quiet: bool = False,
) -> None:
    """Store preferences; with ``keep_quiet`` the stored quiet hours stay as they are."""
    start, end = quiet if quiet else (None, None)
    await tx.execute(
        SAVE_PREFS[tx.dialect],
        {"pid": patient_id, "c": int(customized), "s": start, "e": end, "now": iso(now), "keep": keep_quiet},
    )


# --- the scheduler's plan step ---------------------------------------------------------------

_RULE_COLUMNS = (
    "SELECT r.patient_id, r.slot, r.local_time, r.weekdays, r.enabled, r.next_due_at, r.zone, p.timezone, "
    "p.locale, p.archived_at IS NOT NULL AS archived, q.quiet_start, q.quiet_end "
    "FROM reminder_rule r JOIN patient p ON p.id = r.patient_id "
    "LEFT JOIN reminder_prefs q ON q.patient_id = r.patient_id "
)


def _due(row: Row) -> DueRule:
    return DueRule(
        patient_id=row["patient_id"],
        slot=row["slot"],
        local_time=row["local_time"],
        weekdays=row["weekdays"],
        enabled=bool(row["enabled"]),
        next_due_at=row["next_due_at"],
        zone=row["zone"],
        timezone=row["timezone"],
        locale=row["locale"],
        archived=bool(row["archived"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
    )


_DUE = _RULE_COLUMNS + "WHERE r.next_due_at <= :now ORDER BY r.next_due_at LIMIT :limit"
# PostgreSQL: the rules taken stay locked until the plan step commits; another scheduler skips them.
DUE_RULES = dialects(sqlite=_DUE, postgresql=_DUE + " FOR UPDATE OF r SKIP LOCKED")


async def due_rules(tx: Transaction, now: dt.datetime, limit: int) -> list[DueRule]:
    """Rules whose next occurrence is at or before ``now``, oldest first (PostgreSQL: locked, SKIP LOCKED)."""
    rows = await tx.fetch_all(DUE_RULES[tx.dialect], {"now": iso(now), "limit": limit})
    return [_due(r) for r in rows]


async def rezone_candidates(tx: Transaction, limit: int) -> list[DueRule]:
    """Rules computed in a zone the patient no longer has."""
    rows = await tx.fetch_all(_RULE_COLUMNS + "WHERE r.zone <> p.timezone LIMIT :limit", {"limit": limit})
    return [_due(r) for r in rows]


async def closing_sends(tx: Transaction) -> set[tuple[int, str, str]]:
    """(patient, slot, day) of reminders still being sent that a change of their slot will close
    should the send fail: until then, they hold that device's one reminder of the slot and day."""
    # The in-flight rows only (the partial index reminder_delivery_work), a handful at most.
    rows = await tx.fetch_all(
        "SELECT patient_id, slot, on_date FROM reminder_delivery "
        "WHERE status IN ('pending', 'sending') AND kind = 'reminder' AND close_reason IS NOT NULL"
    )
    return {(r["patient_id"], r["slot"], r["on_date"]) for r in rows}


async def set_next_due(tx: Transaction, updates: Sequence[tuple[int, str, str | None, str]]) -> None:
    """Move rules on: ``(patient_id, slot, next_due_at, zone)`` each."""
    await tx.executemany(
        "UPDATE reminder_rule SET next_due_at = :next, zone = :zone WHERE patient_id = :pid AND slot = :slot",
        [{"pid": p, "slot": s, "next": n, "zone": z} for p, s, n, z in updates],
    )


async def active_plans_of(db: Database | Transaction, patient_ids: Iterable[int]) -> dict[int, PlanDay]:
    """The active plan of each patient that has one (nothing marked done)."""
    rows = await db.fetch_all(ACTIVE_PLANS[db.dialect], {"ids": _ids(patient_ids)})
    return {
        r["patient_id"]: PlanDay(
            r["id"], r["version"], decoded_program(r, db.memo), frozenset(), r["updated_at"], r["created_at"]
        )
        for r in rows
    }


async def earlier_plan_of(db: Database | Transaction, patient_id: int, plan_id: int) -> Program | None:
    """The program of the patient's plan made before ``plan_id`` (the one it replaced), if any."""
    row = await db.fetch_one(
        "SELECT id, version, program FROM plan WHERE patient_id = :pid AND id < :id ORDER BY id DESC LIMIT 1",
        {"pid": patient_id, "id": plan_id},
    )
    return decoded_program(row, db.memo) if row else None


async def done_on(
    db: Database | Transaction, days: Iterable[tuple[int, dt.date]]
) -> set[tuple[int, dt.date, str, str]]:
    """``(patient_id, on_date, exercise_id, slot)`` of every completion on the given patient days (not
    those taken back)."""
    days = set(days)
    if not days:
        return set()
    rows = await db.fetch_all(
        DONE_ON[db.dialect],
        {"ids": _ids(p for p, _ in days), "dates": _ids(d.isoformat() for _, d in days)},
    )
    found = set()
    for r in rows:
        key = (r["patient_id"], dt.date.fromisoformat(r["on_date"]))
        if key in days:
            found.add((*key, r["exercise_id"], r["slot"]))
    return found


# A delivery made for a subscription keeps the device it belongs to (device_id): the subscription
# is deleted once its push service says it is gone, and the log still names the phone.
_INSERT_DELIVERY = (
    "INSERT INTO reminder_delivery (patient_id, subscription_id, device_id, kind, slot, on_date, due_at, status, "
    "attempts, next_attempt_at, claim, payload, last_error, created_at) VALUES (:pid, :sid, "
    "(SELECT device_id FROM push_subscription WHERE id = :sid), :kind, :slot, :on_date, :due_at, "
    ":status, :attempts, :next, :claim, :payload, :error, :now) "
)


def _delivery_params(d: dict[str, object]) -> dict[str, object]:
    return {"sid": None, "attempts": 0, "next": None, "claim": None, "payload": "", "error": "", **d}


# One statement for the whole set, so that RETURNING says which rows went in (executemany cannot).
# "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
ADD_DELIVERIES = dialects(
    sqlite="INSERT INTO reminder_delivery (patient_id, subscription_id, device_id, kind, slot, on_date, due_at, "
    "status, attempts, next_attempt_at, claim, payload, last_error, created_at) "
    "SELECT json_extract(value, '$.pid'), json_extract(value, '$.sid'), "
    "(SELECT device_id FROM push_subscription WHERE id = json_extract(value, '$.sid')), json_extract(value, '$.kind'), "
    "json_extract(value, '$.slot'), json_extract(value, '$.on_date'), json_extract(value, '$.due_at'), "
    "json_extract(value, '$.status'), json_extract(value, '$.attempts'), json_extract(value, '$.next'), "
    "json_extract(value, '$.claim'), json_extract(value, '$.payload'), json_extract(value, '$.error'), "
    "json_extract(value, '$.now') FROM json_each(:rows) WHERE true ON CONFLICT DO NOTHING RETURNING status",
    postgresql="INSERT INTO reminder_delivery (patient_id, subscription_id, device_id, kind, slot, on_date, due_at, "
    "status, attempts, next_attempt_at, claim, payload, last_error, created_at) "
    "SELECT CAST(r->>'pid' AS bigint), CAST(r->>'sid' AS bigint), "
    "(SELECT device_id FROM push_subscription WHERE id = CAST(r->>'sid' AS bigint)), r->>'kind', r->>'slot', "
    "r->>'on_date', r->>'due_at', r->>'status', CAST(r->>'attempts' AS integer), r->>'next', r->>'claim', "
    "r->>'payload', r->>'error', r->>'now' FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r "
    "ON CONFLICT DO NOTHING RETURNING status",
)


async def add_deliveries(tx: Transaction, rows: Sequence[dict[str, object]]) -> list[str]:
    """Insert deliveries; one a device already has for that patient, slot and day (still to be sent,
    or sent) is left alone. Returns the status of each row that went in.

    Keys: pid, kind, slot, on_date, due_at, status, now; optional sid, attempts, next, claim, payload, error.
    """
    if not rows:
        return []
    found = await tx.fetch_all(ADD_DELIVERIES[tx.dialect], {"rows": json.dumps([_delivery_params(r) for r in rows])})
    return [r["status"] for r in found]


async def add_delivery(tx: Transaction, row: dict[str, object]) -> int:
    """Insert one delivery and return its id (keys as in :func:`add_deliveries`)."""
    found = await tx.fetch_one(_INSERT_DELIVERY + "RETURNING id", _delivery_params(row))
    assert found is not None
    return found["id"]


# --- the scheduler's send step ---------------------------------------------------------------


async def finish_stale(tx: Transaction, now: dt.datetime, not_before: dt.datetime, max_attempts: int) -> int:
    """Close work that must not be sent any more: due before ``not_before``, out of attempts, closed
    by a change of its slot while being sent, or a test whose sender's lease ran out (the request
    that sent it ended before storing the outcome: it may well have arrived, and a test that comes
    minutes after the tap would only puzzle)."""
    return await tx.execute(
        "UPDATE reminder_delivery SET "
        "status = CASE WHEN close_reason IS NOT NULL THEN 'skipped' WHEN kind = 'test' THEN 'expired' "
        "WHEN attempts >= :max THEN 'failed' ELSE 'expired' END, "
        "last_error = CASE WHEN close_reason IS NOT NULL THEN close_reason "
        "WHEN kind = 'test' THEN 'outcome unknown: the request sending it ended first' "
        "ELSE CASE WHEN attempts >= :max THEN 'gave up after ' || attempts || ' attempts' "
        "ELSE 'too late to send' END || CASE WHEN last_error = '' THEN '' ELSE '; last: ' || last_error END END, "
        "next_attempt_at = NULL, claim = NULL "
        "WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now "
        "AND (close_reason IS NOT NULL OR kind = 'test' OR attempts >= :max OR due_at < :not_before)",
        {"now": iso(now), "not_before": iso(not_before), "max": max_attempts},
    )


_CLAIM = (
    "UPDATE reminder_delivery SET status = 'sending', attempts = attempts + 1, "
    "next_attempt_at = :lease_until, claim = :token "
    "WHERE id IN (SELECT id FROM reminder_delivery "
    "WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now "
    "AND attempts < :max AND due_at >= :not_before AND kind = 'reminder' AND close_reason IS NULL "
    "ORDER BY next_attempt_at LIMIT :limit{lock}) "
    "RETURNING id, patient_id, subscription_id, kind, slot, due_at, attempts, payload"
)
# Never a test: the request that asked for it sends it, once (see finish_stale); nor a reminder whose
# slot changed while it was being sent. SQLite runs one writer at a time. PostgreSQL: rows another
# claimer holds are skipped, not waited for; after that claimer commits, the statement's own WHERE
# no longer matches them.
CLAIM = dialects(sqlite=_CLAIM.format(lock=""), postgresql=_CLAIM.format(lock=" FOR UPDATE SKIP LOCKED"))


async def claim(
    db: Database,
    now: dt.datetime,
    *,
    lease_until: dt.datetime,
    token: str,
    limit: int,
    max_attempts: int,
    not_before: dt.datetime,
) -> list[Claimed]:
    """Take up to ``limit`` deliveries that are due (or whose previous claim's lease ran out), in one statement."""
    async with db.transaction() as tx:
        rows = await tx.fetch_all(
            CLAIM[tx.dialect],
            {
                "lease_until": iso(lease_until),
                "token": token,
                "now": iso(now),
                "max": max_attempts,
                "not_before": iso(not_before),
                "limit": limit,
            },
        )
        if not rows:
            return []
        targets = await tx.fetch_all(
            CLAIMED_TARGETS[tx.dialect],
            {"ids": _ids(r["subscription_id"] for r in rows if r["subscription_id"] is not None)},
        )
    by_id = {t["id"]: TargetRow(**{**dict(t), "archived": bool(t["archived"])}) for t in targets}
    return [
        Claimed(
            id=r["id"],
            patient_id=r["patient_id"],
            subscription_id=r["subscription_id"],
            kind=r["kind"],
            slot=r["slot"],
            due_at=r["due_at"],
            attempts=r["attempts"],
            payload=r["payload"],
            target=by_id.get(r["subscription_id"]),
        )
        for r in rows
    ]


# A retry of a reminder whose slot changed while it was being sent is closed instead (see close_pending).
RECORD = (
    "UPDATE reminder_delivery SET "
    "status = CASE WHEN :status = 'pending' AND close_reason IS NOT NULL THEN 'skipped' ELSE :status END, "
    "sent_at = :sent_at, "
    "next_attempt_at = CASE WHEN :status = 'pending' AND close_reason IS NOT NULL THEN NULL ELSE :next END, "
    "http_status = :code, "
    "last_error = CASE WHEN :status = 'pending' AND close_reason IS NOT NULL THEN close_reason ELSE :error END, "
    "payload = COALESCE(:payload, payload), claim = NULL WHERE id = :id AND claim = :claim"
)
CLOSED_RETRIES = _in_sets(
    "SELECT count(*) FROM reminder_delivery WHERE id IN ({ids}) AND status = 'skipped' AND close_reason IS NOT NULL"
)


async def record(
    db: Database,
    results: Sequence[dict[str, object]],
    now: dt.datetime,
    *,
    ok: Iterable[int] = (),
    failing: Iterable[int] = (),
    gone: Iterable[int] = (),
) -> int:
    """Store outcomes of claimed deliveries and what they say about the subscriptions.

    ``results``: id, claim, status, sent_at, next, code, error, and optionally payload (what the
    attempt said, when it differs from what was planned). An outcome is stored only while
    its claim is current: a sender whose lease ran out cannot overwrite a newer attempt.
    A retry (status 'pending') of a reminder whose slot changed meanwhile is stored as skipped
    instead; returns how many were.
    """
    async with db.transaction() as tx:
        await tx.executemany(RECORD, [{"payload": None, **r} for r in results])
        retries = [r["id"] for r in results if r["status"] == "pending"]
        closed = 0
        if retries:
            # Within this transaction: the rows just written stay as they are until it commits.
            found = await tx.fetch_one(CLOSED_RETRIES[tx.dialect], {"ids": _ids(retries)})
            closed = found[0] if found else 0
        await tx.executemany(
            "UPDATE push_subscription SET last_ok_at = :now, failures = 0 WHERE id = :id",
            [{"id": i, "now": iso(now)} for i in set(ok)],
        )
        await tx.executemany(
            "UPDATE push_subscription SET failures = failures + 1 WHERE id = :id", [{"id": i} for i in set(failing)]
        )
        await tx.executemany("DELETE FROM push_subscription WHERE id = :id", [{"id": i} for i in set(gone)])
    return closed


async def prune(tx: Transaction, before: dt.datetime) -> int:
    """Forget finished deliveries created before ``before``."""
    return await tx.execute(
        "DELETE FROM reminder_delivery WHERE created_at < :before AND status NOT IN ('pending', 'sending')",
        {"before": iso(before)},
    )


# --- the therapist's view ----------------------------------------------------------------------


async def deliveries_of(db: Database, therapist_id: int, patient_id: int, limit: int) -> list[DeliveryRow]:
    """An owned patient's latest deliveries, newest first, each with the phone it went to: the device
    stored with it or, for a row logged before devices were stored, its subscription's while that lasts.
    Only ever one of this patient's devices: a subscription handed to another patient since names none."""
    rows = await db.fetch_all(
        "SELECT d.id, d.kind, d.slot, d.on_date, d.due_at, d.status, d.attempts, d.sent_at, d.http_status, "
        "d.last_error, pd.id AS device_id, pd.label AS device FROM reminder_delivery d "
        "JOIN patient p ON p.id = d.patient_id LEFT JOIN push_subscription s ON s.id = d.subscription_id "
        "LEFT JOIN patient_device pd ON pd.id = coalesce(d.device_id, s.device_id) AND pd.patient_id = d.patient_id "
        "WHERE d.patient_id = :pid AND p.therapist_id = :tid ORDER BY d.id DESC LIMIT :limit",
        {"pid": patient_id, "tid": therapist_id, "limit": limit},
    )
    return [
        DeliveryRow(
            id=r["id"],
            kind=r["kind"],
            slot=r["slot"],
            on_date=dt.date.fromisoformat(r["on_date"]),
            due_at=r["due_at"],
            status=r["status"],
            attempts=r["attempts"],
            sent_at=r["sent_at"],
            http_status=r["http_status"],
            last_error=r["last_error"],
            device_id=r["device_id"],
            device=r["device"],
        )
        for r in rows
    ]
