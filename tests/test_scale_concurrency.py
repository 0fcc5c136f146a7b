"""What must hold when several app processes share one database, checked with two connections
(two pools on PostgreSQL, two writers on one SQLite file) racing each other, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.catalog import Catalog
from server.clock import iso
from server.db import connection, logs, open_database, patients, plans, reminders, therapists
from server.db.connection import Database, DatabaseBusy
from server.db.migrate import migrate
from server.programs import Program, TreatedMuscle, generate
from server.settings import Settings
from tests import test_flow_therapist_patient as flow
from tests.conftest import rows

NOW = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
async def two(settings: Settings) -> AsyncIterator[tuple[Database, Database]]:
    """Two connections to one database, as two app processes would hold."""
    async with open_database(settings) as one, open_database(settings) as other:
        await migrate(one)
        yield one, other


def a_completion(n: str) -> logs.CompletionRow:
    return logs.CompletionRow(
        id=n, exercise_id="neck-side-bend-stretch", on_date=NOW.date(), slot="evening", done_at=iso(NOW)
    )


async def a_patient(db: Database) -> int:
    async with db.transaction() as tx:
        tid = await therapists.create_therapist(tx, "t@clinic.example", "T", "hash", NOW)
        return (await patients.create_patient(tx, tid, "P", "UTC", "en", NOW)).id


def trapezius(catalog: Catalog) -> tuple[tuple[TreatedMuscle, ...], Program]:
    """One treated muscle and its generated program."""
    treated = (TreatedMuscle("upper-trapezius", "left"),)
    return treated, generate(list(treated), NOW.date(), catalog)


async def test_one_invite_exchanged_by_two_processes_at_once_joins_one_device(two: tuple[Database, Database]) -> None:
    one, other = two
    pid = await a_patient(one)
    async with one.transaction() as tx:
        await patients.create_invite(tx, pid, "code", NOW, NOW + dt.timedelta(days=1))
    results = await asyncio.gather(
        *(patients.exchange_invite(db, "code", f"token{i}", "phone", NOW) for i, db in enumerate([one, other] * 4))
    )
    assert sorted(map(str, results)) == sorted([str(pid)] + ["used"] * 7)
    assert len(await one.fetch_all("SELECT id FROM patient_device")) == 1


async def test_failed_attempts_counted_by_two_processes_at_once_are_counted_exactly(
    two: tuple[Database, Database],
) -> None:
    counts = await asyncio.gather(
        *(therapists.count_attempt(db, ["account:a", "address:b"], NOW, dt.timedelta(minutes=15)) for db in [*two] * 20)
    )
    # Each attempt sees itself and every attempt before it: 1, 2, ... 40, never a number twice.
    assert sorted(c["account:a"] for c in counts) == list(range(1, 41))
    assert sorted(c["address:b"] for c in counts) == list(range(1, 41))


async def test_two_claimers_at_once_take_disjoint_deliveries_and_together_all(two: tuple[Database, Database]) -> None:
    one, other = two
    pid = await a_patient(one)
    # Reminders (a test push is never claimed: its request sends it), each without a device, so the
    # once-per-device-and-day index does not fold them together.
    async with one.transaction() as tx:
        await reminders.add_deliveries(
            tx,
            [
                {"pid": pid, "kind": "reminder", "slot": "evening", "on_date": f"2026-11-{d:02}", "due_at": iso(NOW)}
                | {"status": "pending", "next": iso(NOW), "now": iso(NOW)}
                for d in range(1, 31)
            ]
            * 10,
        )

    async def claim_all(db: Database, token: str) -> list[int]:
        taken: list[int] = []
        while True:
            batch = await reminders.claim(
                db,
                NOW,
                lease_until=NOW + dt.timedelta(minutes=5),
                token=token,
                limit=7,
                max_attempts=5,
                not_before=NOW - dt.timedelta(minutes=30),
            )
            if not batch:
                return taken
            taken += [c.id for c in batch]

    mine, theirs = await asyncio.gather(claim_all(one, "one"), claim_all(other, "other"))
    assert not set(mine) & set(theirs)
    assert sorted(mine + theirs) == [
        r["id"] for r in await one.fetch_all("SELECT id FROM reminder_delivery ORDER BY id")
    ]
    assert len(mine + theirs) == 300


async def test_two_planners_at_once_take_each_due_rule_once(two: tuple[Database, Database]) -> None:
    one, other = two
    async with one.transaction() as tx:
        tid = await therapists.create_therapist(tx, "t@clinic.example", "T", "hash", NOW)
        for n in range(40):
            pid = (await patients.create_patient(tx, tid, f"P{n}", "UTC", "en", NOW)).id
            rule = reminders.RuleRow(
                slot="evening", local_time="18:00", weekdays=127, enabled=True, next_due_at=iso(NOW)
            )
            await reminders.save_rules(tx, pid, [rule], "UTC", NOW)
    taken: dict[str, list[int]] = {"one": [], "other": []}
    started = asyncio.Event()

    async def plan(db: Database, name: str) -> None:
        while True:
            async with db.transaction() as tx:
                rules = await reminders.due_rules(tx, NOW, 5)
                if not rules:
                    return
                taken[name] += [r.patient_id for r in rules]
                started.set()
                await asyncio.sleep(0.01)  # hold the rows while the other planner looks
                await reminders.set_next_due(tx, [(r.patient_id, r.slot, None, r.zone) for r in rules])

    await asyncio.gather(plan(one, "one"), plan(other, "other"))
    assert not set(taken["one"]) & set(taken["other"])
    assert len(taken["one"]) + len(taken["other"]) == 40


async def test_two_assignments_for_one_patient_at_once_leave_one_active_plan(
    two: tuple[Database, Database], catalog: Catalog
) -> None:
    one, other = two
    pid = await a_patient(one)
    treated, program = trapezius(catalog)

    async def assign(db: Database) -> int:
        async with db.transaction() as tx:
            record = await plans.create_plan(tx, 1, pid, treated, program, "", NOW)
            await asyncio.sleep(0.02)  # both are in flight together
            return record.id

    ids = await asyncio.gather(*(assign(db) for db in [one, other] * 3))
    active = await one.fetch_all("SELECT id FROM plan WHERE patient_id = :pid AND status = 'active'", {"pid": pid})
    assert len(active) == 1
    assert active[0]["id"] in ids
    assert len(set(ids)) == 6


async def test_todays_plan_follows_changes_made_by_another_process(
    two: tuple[Database, Database], catalog: Catalog
) -> None:
    """The patient's day skips the program text when it is the version last served: never a stale one."""
    one, other = two
    pid = await a_patient(one)
    treated, program = trapezius(catalog)
    async with one.transaction() as tx:
        first = await plans.create_plan(tx, 1, pid, treated, program, "", NOW)
    day = NOW.date()
    seen = await plans.active_plan_day(other, pid, day)
    assert seen is not None
    assert (seen.id, seen.version, seen.program, seen.done) == (first.id, 1, program, frozenset())

    shorter = msgspec.structs.replace(program, items=program.items[:1])
    async with one.transaction() as tx:
        assert await plans.update_plan(tx, 1, pid, first.id, 1, shorter, NOW) is not None
    item = shorter.items[0]
    slot = item.slots[0]
    done = logs.CompletionRow(id="c1", exercise_id=item.exercise_id, on_date=day, slot=slot, done_at=iso(NOW))
    await logs.store_batch(one, pid, [done, msgspec.structs.replace(done, id="c2")], [], NOW)
    seen = await plans.active_plan_day(other, pid, day)
    assert seen is not None
    assert (seen.version, seen.program, seen.done) == (2, shorter, {(item.exercise_id, slot)})
    assert (await plans.active_plan_day(other, pid, day)) == seen  # served from the hint this time

    other_muscle = (TreatedMuscle("gastrocnemius", "right"),)
    calf = generate(list(other_muscle), NOW.date(), catalog)
    async with one.transaction() as tx:
        second = await plans.create_plan(tx, 1, pid, other_muscle, calf, "", NOW)
    seen = await plans.active_plan_day(other, pid, day + dt.timedelta(days=1))
    assert seen is not None
    assert (seen.id, seen.version, seen.program, seen.done) == (second.id, 1, calf, frozenset())


async def test_a_snapshot_sees_one_moment_while_another_process_commits(two: tuple[Database, Database]) -> None:
    """What the patient list's three queries read through: a sync landing between them shows in all or none."""
    one, other = two
    pid = await a_patient(one)
    count = "SELECT count(*) AS n FROM completion WHERE patient_id = :pid"

    async def sync(n: int) -> None:
        await logs.store_batch(one, pid, [a_completion(f"s{n}")], [], NOW)

    await sync(1)
    async with other.snapshot() as snapshot:
        assert (await snapshot.fetch_one(count, {"pid": pid}))["n"] == 1
        await sync(2)
        assert (await other.fetch_one(count, {"pid": pid}))["n"] == 2  # outside the snapshot: at once
        assert (await snapshot.fetch_one(count, {"pid": pid}))["n"] == 1  # inside: still the same moment
    async with other.snapshot() as snapshot:
        assert (await snapshot.fetch_one(count, {"pid": pid}))["n"] == 2


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)  # PostgreSQL has no file-wide write lock
async def test_a_sync_that_waits_too_long_for_another_writer_gets_503_and_changes_nothing(
    therapist: AsyncTestClient[Litestar], other_client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    patient = await flow.create_patient(therapist)
    item = (await flow.assign(therapist, patient["id"], NOW.date()))["program"]["items"][0]
    await flow.join(therapist, other_client, patient["id"])
    batch = {"completions": [flow.completion(item["exercise_id"], NOW.date(), item["slots"][0])]}
    # A program that does not take turns with the app's processes (the sqlite3 shell) holds the write lock.
    other = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        r = await other_client.post("/api/v1/patient/sync", json=batch)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    assert rows(settings, "SELECT count(*) FROM completion") == [(0,)]
    again = await other_client.post("/api/v1/patient/sync", json=batch)
    assert again.status_code == 200
    assert again.json()["completions"] == [batch["completions"][0]["id"]]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_wait_for_the_turn_given_up_or_cancelled_still_hands_it_on(
    two: tuple[Database, Database], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """App processes on one SQLite file take turns at writing (first come, first served; see
    bench_scale for what that does under load); a wait that ends early must not keep a turn."""
    monkeypatch.setattr(connection, "WRITE_WAIT_SECONDS", 0.2)
    one, other = two
    pid = await a_patient(one)
    async with one.transaction():  # one process holds the turn for longer than the other will wait
        with pytest.raises(DatabaseBusy):
            await logs.store_batch(other, pid, [a_completion("given-up")], [], NOW)
        cancelled = asyncio.create_task(logs.store_batch(other, pid, [a_completion("cancelled")], [], NOW))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
    # Both abandoned waits gave the turn back as soon as they got it, so the first process writes
    # again at once (a turn kept would make it wait, then answer 503), and so does the second.
    await logs.store_batch(one, pid, [a_completion("one")], [], NOW)
    await logs.store_batch(other, pid, [a_completion("other")], [], NOW)
    assert sorted(rows(settings, "SELECT id FROM completion")) == [("one",), ("other",)]


async def test_a_take_back_and_another_phones_completion_arriving_together_leave_it_taken_back(
    two: tuple[Database, Database],
) -> None:
    """Two phones of one patient: one takes an exercise back while the other's record of it (done
    before) arrives at the same moment, through another process. Neither transaction saw the other's
    row, so both stood (logs.TAKE_BACK_TWINS needs the patient's batches one at a time)."""
    one, other = two
    pid = await a_patient(one)
    days = [NOW.date() - dt.timedelta(days=n) for n in range(30)]

    def record(n: str, day: dt.date, minutes: int, withdrawn: int | None = None) -> logs.CompletionRow:
        return msgspec.structs.replace(
            a_completion(n),
            on_date=day,
            done_at=iso(NOW + dt.timedelta(minutes=minutes)),
            withdrawn_at=None if withdrawn is None else iso(NOW + dt.timedelta(minutes=withdrawn)),
        )

    mine = [record(f"a{i}", day, 0) for i, day in enumerate(days)]
    await logs.store_batch(one, pid, mine, [], NOW)
    await asyncio.gather(
        *(
            batch
            for i, day in enumerate(days)
            for batch in (
                logs.store_batch(one, pid, [record(f"a{i}", day, 0, withdrawn=5)], [], NOW),
                logs.store_batch(other, pid, [record(f"b{i}", day, 3)], [], NOW),
            )
        )
    )
    standing = await one.fetch_all("SELECT id FROM completion WHERE withdrawn_at IS NULL")
    assert [r["id"] for r in standing] == []
