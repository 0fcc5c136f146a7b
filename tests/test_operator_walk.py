"""What the clinic's operator meets running Unknot: a full disk, settings mistyped, the command's messages."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import VERSION
from server.catalog import Catalog
from server.cli import main
from server.clock import Clock
from server.db import open_database
from server.db.backup import backup_name
from server.db.connection import SQLiteDatabase
from server.db.migrate import latest_version, migrate, migrations_dir
from server.push import Scheduler, load_or_create
from server.settings import Settings
from tests.bench.harness import answers
from tests.conftest import PLANS, rows
from tests.postgres import Cluster
from tests.test_cli import UNKNOT, closed_port

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_full_disk_answers_503_saying_so_and_logs_one_line_without_a_traceback(
    therapist: Client, app: Litestar, settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite's own limit on the file's pages fails a write the way a full disk does (SQLITE_FULL).
    writer = app.state.db._writer
    (pages,) = await (await writer.execute("PRAGMA page_count")).fetchone()
    await writer.execute(f"PRAGMA max_page_count = {pages}")
    caplog.set_level(logging.INFO, logger="unknot")
    made = 0
    for n in range(500):  # the patient table's pages fill up after some dozens
        r = await therapist.post(
            "/api/v1/patients", json={"display_name": f"Patient {n:03} " + "x" * 80, "timezone": "UTC", "locale": "en"}
        )
        if r.status_code != 201:
            break
        made += 1
    assert r.status_code == 503, r.text
    assert r.json()["detail"] == "the server's disk is full; nothing was changed, try again later"
    assert r.headers["Retry-After"] == "60"
    logged = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert [rec.getMessage() for rec in logged] == [
        "cannot save POST /api/v1/patients: the disk that holds the database is full; free space on it "
        "(nothing was changed)"
    ]
    assert logged[0].exc_info is None
    assert rows(settings, "SELECT count(*) FROM patient") == [(made,)]  # type: ignore[arg-type]
    # Space freed: the same request goes through, nothing of the refused one is left over.
    await writer.execute("PRAGMA max_page_count = 1073741823")
    r = await therapist.post("/api/v1/patients", json={"display_name": "After", "timezone": "UTC", "locale": "en"})
    assert r.status_code == 201, r.text
    assert rows(settings, "SELECT count(*) FROM patient") == [(made + 1,)]  # type: ignore[arg-type]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_health_says_the_disk_is_full_while_writes_are_refused_and_ok_once_one_goes_through(
    therapist: Client, client: Client, app: Litestar
) -> None:
    # Health read the schema version and said "ok" while every write was answered 503: a monitoring
    # system never learnt that the clinic could store nothing.
    r = await client.get("/api/v1/health")
    assert (r.status_code, set(r.json())) == (200, {"status", "version", "schema_version"})
    ok = r.json()
    writer = app.state.db._writer
    (pages,) = await (await writer.execute("PRAGMA page_count")).fetchone()
    await writer.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own limit fails as a full disk does
    for n in range(500):
        r = await therapist.post(
            "/api/v1/patients", json={"display_name": f"Patient {n:03} " + "x" * 80, "timezone": "UTC", "locale": "en"}
        )
        if r.status_code != 201:
            break
    assert r.status_code == 503, r.text
    r = await client.get("/api/v1/health")
    assert r.status_code == 503
    body = r.json()
    assert {k: body[k] for k in ("status", "version", "schema_version")} == {**ok, "status": "disk_full"}
    assert re.fullmatch(
        r"the disk that holds the database is full: writes are refused since "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00; free space on it",
        body["reason"],
    ), body["reason"]
    assert r.headers["cache-control"] == "no-store"
    # The app's reminder scheduler ticks meanwhile: its transactions change nothing (no reminder is
    # due), so they commit on a full disk too, and prove nothing about the next write.
    await app.state.push.tick(Clock().now())
    assert (await client.get("/api/v1/health")).status_code == 503
    # Space freed: the next write that goes through makes it ok again, in the same shape as before.
    await writer.execute("PRAGMA max_page_count = 1073741823")
    r = await therapist.post("/api/v1/patients", json={"display_name": "After", "timezone": "UTC", "locale": "en"})
    assert r.status_code == 201, r.text
    r = await client.get("/api/v1/health")
    assert (r.status_code, r.json()) == (200, ok)


@pytest.mark.parametrize("settings", ["postgresql"], indirect=True)
async def test_with_postgresql_out_of_reach_health_and_requests_answer_503_and_log_one_line_each(
    therapist: Client,
    app: Litestar,
    settings: Settings,
    catalog: Catalog,
    pg_cluster: Cluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Health answered 500 "internal error", and every request logged a whole traceback of
    # "unhandled DatabaseUnavailable", while PostgreSQL refused connections.
    name = settings.database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg_cluster.url())
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await asyncio.sleep(0.5)  # the pool's idle connections hear they were closed
        caplog.set_level(logging.INFO, logger="unknot")
        monitor = AsyncTestClient(app=app)  # no session cookie: only the health check reads the database
        r = await monitor.get("/api/v1/health")
        assert (r.status_code, r.json()) == (
            503,
            {
                "status": "database_unavailable",
                "version": VERSION,
                "reason": "the database cannot be reached; the server's log says why",
            },
        )
        r = await therapist.get("/api/v1/patients")
        assert r.status_code == 503, r.text
        assert r.json()["detail"] == "the database cannot be reached; nothing was changed, try again later"
        assert r.json()["code"] == "database_unavailable"
        assert r.headers["Retry-After"] == "10"
        logged = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert [rec.getMessage().split(": cannot connect to ")[0] for rec in logged] == [
            "health: cannot reach the database",
            "cannot reach the database for GET /api/v1/patients",
        ]
        assert all(rec.exc_info is None and "not currently accepting connections" in rec.getMessage() for rec in logged)
        # The reminder scheduler, every tick: one line, not a traceback.
        caplog.clear()
        ticking = Scheduler(app.state.db, catalog, settings, load_or_create(settings.data_dir))
        ticking.start(Clock(), interval=0.02)
        await asyncio.sleep(0.3)
        await ticking.stop()
        logged = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert len(logged) >= 2
        for rec in logged:
            assert rec.getMessage().startswith("push scheduler: cannot connect to postgresql://"), rec.getMessage()
            assert rec.exc_info is None
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    r = await monitor.get("/api/v1/health")
    assert (r.status_code, r.json()["status"]) == (200, "ok")
    assert (await therapist.get("/api/v1/patients")).status_code == 200


@pytest.mark.parametrize("settings", ["postgresql"], indirect=True)
async def test_after_postgresql_ended_the_apps_connections_the_next_requests_are_answered(
    therapist: Client, client: Client, settings: Settings, pg_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # A restart of PostgreSQL (or its idle timeout) ended the pool's idle connections; the first
    # request on each was answered 500 ("connection was closed in the middle of operation").
    new = {"display_name": "Pat", "timezone": "UTC", "locale": "en"}
    assert (await therapist.post("/api/v1/patients", json=new)).status_code == 201
    caplog.set_level(logging.INFO, logger="unknot")
    for request in (
        lambda: therapist.get("/api/v1/patients"),
        lambda: therapist.post("/api/v1/patients", json={**new, "display_name": "After"}),
        lambda: client.get("/api/v1/health"),
    ):
        assert pg_cluster.end_connections(settings.database_url) >= 1
        r = await request()
        assert r.status_code in (200, 201), r.text
    assert [rec for rec in caplog.records if rec.levelno >= logging.WARNING] == []
    assert rows(settings, "SELECT display_name FROM patient ORDER BY id") == [("Pat",), ("After",)]


@pytest.mark.parametrize("at_commit", [False, True], ids=["mid-transaction", "at-commit"])
@pytest.mark.parametrize("settings", ["postgresql"], indirect=True)
async def test_a_connection_lost_mid_request_says_why_and_whether_anything_may_have_been_saved(
    therapist: Client, settings: Settings, pg_cluster: Cluster, caplog: pytest.LogCaptureFixture, at_commit: bool
) -> None:
    # A connection lost while COMMIT was on its way was answered "nothing was changed", though the
    # server may have committed; and the log gave asyncpg's "cannot call Transaction.__aexit__(): the
    # underlying connection is closed" instead of the server's reason, only in the chained exception.
    url = settings.database_url
    admin = await asyncpg.connect(url)
    try:
        # A new patient's row sleeps in a trigger, at its INSERT or (deferred) at COMMIT: time to end
        # the connection then, as PostgreSQL's restart or an operator's pg_terminate_backend does.
        await admin.execute(
            "CREATE FUNCTION sleep_a_while() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$"
        )
        when = (
            "CONSTRAINT TRIGGER slow AFTER INSERT ON patient DEFERRABLE INITIALLY DEFERRED"
            if at_commit
            else ("TRIGGER slow AFTER INSERT ON patient")
        )
        await admin.execute(f"CREATE {when} FOR EACH ROW EXECUTE FUNCTION sleep_a_while()")
    finally:
        await admin.close()

    async def asleep() -> None:
        watcher = await asyncpg.connect(url)
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'unknot' AND wait_event = 'PgSleep'"
        try:
            for _ in range(1000):
                if await watcher.fetchval(query):
                    return
                await asyncio.sleep(0.02)
        finally:
            await watcher.close()

    ended: list[int] = []

    def end_when_asleep() -> None:
        pg_cluster.call(asleep())
        ended.append(pg_cluster.end_connections(url))

    # The test client holds this loop while the app (on a loop of its own) answers: end it from a thread.
    ending = threading.Thread(target=end_when_asleep)
    ending.start()
    caplog.set_level(logging.INFO, logger="unknot")
    r = await therapist.post("/api/v1/patients", json={"display_name": "Pat", "timezone": "UTC", "locale": "en"})
    ending.join()
    assert ended[0] >= 1
    assert r.status_code == 503, r.text
    assert (r.json()["code"], r.headers["Retry-After"]) == ("database_unavailable", "10")
    logged = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert [rec.exc_info for rec in logged] == [None]
    said = logged[0].getMessage()
    assert "postgresql://unknot@" in said
    reason = "connection was closed in the middle of operation: terminating connection due to administrator command"
    if at_commit:
        assert r.json()["detail"] == (
            "the connection to the database was lost while saving: it may or may not have been saved; "
            "check before sending it again"
        )
        assert said.startswith("POST /api/v1/patients may or may not have been saved: lost the connection to "), said
        assert said.endswith(f" while committing: {reason}"), said
    else:
        assert r.json()["detail"] == "the database cannot be reached; nothing was changed, try again later"
        assert said.startswith("cannot reach the database for POST /api/v1/patients: lost the connection to "), said
        assert said.endswith(f": {reason} (nothing was changed)"), said
    assert rows(settings, "SELECT count(*) FROM patient") == [(0,)]  # ended before its COMMIT took effect


async def test_only_a_write_that_changed_something_says_the_disk_has_room_again(settings: Settings) -> None:
    # Both backends. A transaction that changes nothing (the scheduler's every tick) commits on a full disk too.
    async with open_database(settings) as db:
        await migrate(db)
        full = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
        db.disk_full_since = full  # as a refused write leaves it
        async with db.transaction() as tx:
            await tx.execute("UPDATE therapist SET name = name WHERE id = -1")
        assert db.disk_full_since == full
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO therapist (email, name, password_hash, created_at) VALUES ('a@b.c', 'A', 'h', 'now')"
            )
        assert db.disk_full_since is None


async def test_a_write_too_large_for_the_disk_fails_saying_the_disk_is_full(tmp_path: Path) -> None:
    # SQLite rolls such a transaction back itself; the ROLLBACK after it failed ("no transaction is
    # active"), and that error hid the one that says what happened.
    async with SQLiteDatabase(tmp_path / "unknot.db") as db:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE t (x BLOB)")
        assert db._writer is not None
        (pages,) = await (await db._writer.execute("PRAGMA page_count")).fetchone()
        await db._writer.execute(f"PRAGMA max_page_count = {pages + 10}")
        with pytest.raises(sqlite3.OperationalError) as refused:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (zeroblob(?))", (8_000_000,))
        assert str(refused.value) == "database or disk is full"
        assert db.disk_full(refused.value)
        await db._writer.execute("PRAGMA max_page_count = 1073741823")
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (zeroblob(?))", (10,))
        assert [tuple(r) for r in await db.fetch_all("SELECT length(x) FROM t")] == [(10,)]


# Runs inside a mount namespace of its own on a small tmpfs (argv[1]): the commands meet a disk
# that is really full. Prints each command's [exit status, stdout, stderr] as JSON.
FULL_DISK_WALK = r"""
import json, os, shutil, subprocess, sys
disk, port = sys.argv[1], sys.argv[2]
env = {**os.environ, "UNKNOT_DATABASE_URL": f"{disk}/unknot.db", "UNKNOT_DATA_DIR": f"{disk}/var", "UNKNOT_PORT": port}
said = {}
def run(name, *args, **extra):
    done = subprocess.run([sys.executable, "-m", "server.cli", *args], env={**env, **extra},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    said[name] = [done.returncode, done.stdout, done.stderr]
run("init", "init")
run("vapid", "vapid-keys")
fill(0)
run("serve", "serve")
run("init again", "init")
run("backup", "backup", f"{disk}/copy.db")
run("vapid elsewhere", "vapid-keys", UNKNOT_DATA_DIR=f"{disk}/other")
for name in os.listdir(disk):  # a new database, with room to open it but not for its tables
    if name.startswith("unknot.db") or name == "filler":
        os.remove(f"{disk}/{name}")
fill(128 * 1024)
run("init new", "init")
os.remove(f"{disk}/filler")
run("init freed", "init")
print(json.dumps(said))
"""


# Put before every script on_a_small_disk runs: fill(leave) takes the disk's space (argv[1]) as a
# file "filler", all of it but ``leave`` bytes.
FILL = r"""
import sys as _sys
def fill(leave=0):
    with open(f"{_sys.argv[1]}/filler", "wb", buffering=0) as out:
        try:
            while out.write(bytes(4096)):
                pass
        except OSError:  # No space left on device
            pass
        out.truncate(max(0, out.tell() - leave))
"""


# A request refused on a full disk, as a script reports it: status, body and Retry-After.
DISK_FULL_503 = [
    503,
    {
        "status": 503,
        "detail": "the server's disk is full; nothing was changed, try again later",
        "errors": [],
        "code": "disk_full",
    },
    "60",
]


def on_a_small_disk(disk: Path, script: str, *args: str, size: str = "2m") -> Any:
    """Run the Python ``script`` (argv: ``disk``, then ``args``; ``fill`` defined, see FILL) in a mount
    namespace of its own, with a tmpfs of ``size`` at ``disk``; what it prints, read as JSON. Skips where
    no such disk can be made, except as root, where that is a failure."""
    disk.mkdir()
    mount = ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs "$0" && exec "$@"', str(disk)]
    if shutil.which("unshare") is None or subprocess.run([*mount, "true"], capture_output=True).returncode != 0:
        # As root (CI) a mount namespace is there to be had: its absence would hide these tests.
        if os.geteuid() == 0:
            pytest.fail("no small file system to fill: unshare -rm cannot mount a tmpfs, even as root")
        pytest.skip("no small file system to fill: unshare -rm cannot mount a tmpfs here (not root)")
    done = subprocess.run(
        [*mount, sys.executable, "-c", FILL + script, str(disk), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# A running app whose disk fills up before it has tried to write.
FULL_DISK_HEALTH = r"""
import asyncio, json, os, sys
from litestar.testing import AsyncTestClient
from server.app import create_app
from server.settings import Settings
disk = sys.argv[1]
settings = Settings.from_env({}, database_url=f"{disk}/unknot.db", data_dir=f"{disk}/var", scheduler=False)
async def main():
    said = []
    async with AsyncTestClient(app=create_app(settings)) as monitor:
        said.append((await monitor.get("/api/v1/health")).json())
        fill()
        r = await monitor.get("/api/v1/health")
        said.append([r.status_code, r.json()])
        os.remove(f"{disk}/filler")
        said.append((await monitor.get("/api/v1/health")).json())
    print(json.dumps(said))
asyncio.run(main())
"""


def test_health_says_the_disk_is_full_before_any_write_is_refused(tmp_path: Path) -> None:
    # Each process notes the writes it had refused: one that had not tried any (another worker, a
    # quiet night) said "ok" on a full disk.
    ok, full, again = on_a_small_disk(tmp_path / "disk", FULL_DISK_HEALTH)
    assert ok["status"] == "ok"
    assert full[0] == 503
    assert full[1]["status"] == "disk_full"
    assert re.fullmatch(
        r"the disk that holds the database is full \(\d+ KiB free\); free space on it", full[1]["reason"]
    )
    assert again == ok


# A running app whose disk fills up when SQLite's -shm file must grow: the WAL's frames have room,
# the wal-index's next 32 KiB do not, and SQLite says "disk I/O error" (SQLITE_IOERR_SHMSIZE).
FULL_DISK_SHM = r"""
import asyncio, json, logging, os, sqlite3, sys
from litestar.testing import AsyncTestClient
from server.app import create_app
from server.settings import Settings
from tests.conftest import make_therapist, sign_in
disk = sys.argv[1]
db = f"{disk}/unknot.db"
settings = Settings.from_env({}, database_url=db, data_dir=f"{disk}/var", scheduler=False)
logged = []
def frames():  # 4 KiB pages: each frame is its page and a 24-byte header, after the WAL's 32-byte header
    return (os.path.getsize(f"{db}-wal") - 32) // 4120
async def main():
    said = {}
    async with AsyncTestClient(app=create_app(settings)) as console:  # the app sets the log's handlers
        keep = type("Keep", (logging.Handler,), {"emit": lambda self, record: logged.append(record)})
        logging.getLogger("unknot").addHandler(keep())
        await make_therapist(settings, "ana@clinic.example", "Ana")
        await sign_in(console, "ana@clinic.example")
        new = {"display_name": "Pat", "timezone": "UTC", "locale": "en"}
        assert (await console.post("/api/v1/patients", json=new)).status_code == 201
        # The first 32 KiB of the -shm index 4062 frames. A reader holding a snapshot keeps the WAL from
        # starting over, so it grows to just short of that; the next patient's frames cross it.
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("PRAGMA wal_autocheckpoint=0")
        other.execute("CREATE TABLE scratch (x BLOB)")
        held = sqlite3.connect(db, isolation_level=None)
        held.execute("BEGIN")
        held.execute("SELECT count(*) FROM scratch").fetchone()
        other.execute("INSERT INTO scratch VALUES (zeroblob(?))", ((4000 - frames()) * 4096,))
        while frames() < 4060:
            other.execute("INSERT INTO scratch VALUES (1)")
        fill(28 * 1024)  # room for the WAL's frames (6 pages of 4 KiB at most), not for the -shm's 8
        r = await console.post("/api/v1/patients", json={**new, "display_name": "Refused"})
        said["refused"] = [r.status_code, r.json(), r.headers.get("retry-after")]
        said["shm grew"] = os.path.getsize(f"{db}-shm") > 32 * 1024
        said["logged"] = [[rec.getMessage(), rec.exc_info is not None] for rec in logged]
        said["full"] = (await console.get("/api/v1/health")).json()
        said["names"] = [p["display_name"] for p in (await console.get("/api/v1/patients")).json()]
        os.remove(f"{disk}/filler")
        r = await console.get("/api/v1/health")  # no write in between
        said["freed"] = [r.status_code, r.json()["status"]]
        r = await console.post("/api/v1/patients", json={**new, "display_name": "After"})
        said["after"] = r.status_code
        said["names after"] = [p["display_name"] for p in (await console.get("/api/v1/patients")).json()]
    print(json.dumps(said))
asyncio.run(main())
"""


def test_a_disk_io_error_of_a_full_disk_answers_503_disk_full_and_health_is_ok_once_space_is_freed(
    tmp_path: Path,
) -> None:
    # SQLite's "disk I/O error" when its -shm could not grow was answered 500 with a traceback in the
    # log, and health said "ok" once space was freed only after some write had gone through.
    said = on_a_small_disk(tmp_path / "disk", FULL_DISK_SHM, size="20m")
    assert said["shm grew"]  # the write met the -shm's growth, not the WAL's (that one says SQLITE_FULL)
    assert said["refused"] == DISK_FULL_503
    assert said["logged"] == [
        [
            "cannot save POST /api/v1/patients: the disk that holds the database is full; free space on it "
            "(nothing was changed)",
            False,
        ]
    ]
    assert said["full"]["status"] == "disk_full"
    assert said["full"]["reason"].startswith("the disk that holds the database is full: writes are refused since ")
    assert said["names"] == ["Pat"]
    assert said["freed"] == [200, "ok"]
    assert said["after"] == 201
    assert sorted(said["names after"]) == ["After", "Pat"]


def test_commands_on_a_full_disk_say_it_is_full_and_what_to_do_without_a_traceback(tmp_path: Path) -> None:
    # They said SQLite's "disk I/O error" (opening: its -shm file could not grow) or ended in a
    # traceback ("database or disk is full", from a migration); vapid-keys said "None: No space left on device".
    disk = tmp_path / "disk"
    said = on_a_small_disk(disk, FULL_DISK_WALK, str(closed_port()))
    full = "the disk that holds it is full: free space on it, then run the command again"
    assert said["init"][0] == 0, said["init"]
    assert said["vapid"][0] == 0, said["vapid"]
    assert said["serve"] == [1, "", f"unknot: cannot open {disk}/unknot.db: {full}\n"]
    assert said["init again"] == [1, "", f"unknot: cannot open {disk}/unknot.db: {full}\n"]
    assert said["backup"] == [1, "", f"unknot: cannot copy {disk}/unknot.db to {disk}/copy.db.partial: {full}\n"]
    assert said["vapid elsewhere"] == [1, "", f"unknot: UNKNOT_DATA_DIR {disk}/other: {full}\n"]
    assert said["init new"] == [
        1,
        "",
        f"unknot: the disk that holds {disk}/unknot.db is full: free space on it, then run the command again\n",
    ]
    # Space freed: the migrations that did not fit are applied, nothing else is needed.
    code, out, err = said["init freed"]
    assert (code, err) == (0, ""), err
    assert re.fullmatch(rf"database {re.escape(str(disk))}/unknot\.db: applied \[\d+(, \d+)*\]\n", out), out


# Backups onto a file system mounted read-only (argv[1]), of the database argv[2].
READ_ONLY_BACKUP = r"""
import json, os, subprocess, sys
disk, database = sys.argv[1], sys.argv[2]
subprocess.run(["mount", "-o", "remount,ro", disk], check=True)
said = {}
for target in ("copy.db", "", "sub/copy.db"):
    done = subprocess.run([sys.executable, "-m", "server.cli", "backup", f"{disk}/{target}"], capture_output=True,
                          text=True, env={**os.environ, "UNKNOT_DATABASE_URL": database}, timeout=120)
    said[target] = [done.returncode, done.stdout, done.stderr]
print(json.dumps(said))
"""


def test_a_backup_onto_a_read_only_file_system_names_the_folder(tmp_path: Path) -> None:
    # It said "[Errno 30] Read-only file system" of a ".partial" file the operator never named.
    database = tmp_path / "unknot.db"
    assert subprocess.run([UNKNOT, "init"], env={**os.environ, "UNKNOT_DATABASE_URL": str(database)}).returncode == 0
    disk = tmp_path / "disk"
    said = on_a_small_disk(disk, READ_ONLY_BACKUP, str(database))
    refused = f"the folder {disk} is on a read-only file system\n"
    assert said["copy.db"] == [1, "", f"unknot: cannot write {disk}/copy.db: {refused}"]
    code, out, err = said[""]  # a backup into the folder, named by the time
    assert (code, out) == (1, "")
    assert re.fullmatch(rf"unknot: cannot write {re.escape(str(disk))}/unknot-\S+Z\.db: {re.escape(refused)}", err)
    assert said["sub/copy.db"] == [1, "", f"unknot: cannot write {disk}/sub/copy.db: {refused}"]


def served_from(folder: Path, env: dict[str, str]) -> tuple[str, str, str]:
    """Start the real ``unknot serve`` in ``folder``; once it answers, its push public key, then what
    it printed up to a clean stop (SIGTERM)."""
    process = subprocess.Popen(
        [UNKNOT, "serve"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{env['UNKNOT_PORT']}"
        assert answers(url, process, "/api/v1/health"), process.communicate(timeout=30)
        public_key = httpx.get(f"{url}/api/v1/push/public-key").json()["public_key"]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=60)
    return public_key, out, err


def test_serve_started_from_another_folder_says_it_made_a_second_key_pair_and_where(tmp_path: Path) -> None:
    # UNKNOT_DATA_DIR is relative by default: started from another folder (a service without its
    # WorkingDirectory), serve made a new key pair there without a word; phones subscribing then
    # got no reminder from the server started in the usual folder, and the other way round.
    usual, other = tmp_path / "srv", tmp_path / "elsewhere"
    usual.mkdir()
    other.mkdir()
    env = {
        **os.environ,
        "UNKNOT_DATABASE_URL": str(tmp_path / "unknot.db"),
        "UNKNOT_DATA_DIR": "var",
        "UNKNOT_PORT": str(closed_port()),
        "UNKNOT_SCHEDULER": "0",
    }

    def unknot(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([UNKNOT, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)

    assert unknot(usual, "init").returncode == 0
    made = unknot(usual, "vapid-keys")
    assert made.stdout.startswith(f"VAPID key pair created: {usual}/var/vapid_private.pem (mode 600)\n"), made.stdout
    clinic_key = made.stdout.rsplit(" ", 1)[1].strip()

    key, out, err = served_from(other, env)
    assert key != clinic_key  # a second pair, in the other folder
    assert (other / "var" / "vapid_private.pem").is_file()
    assert err.startswith(
        f"unknot: warning: made a new VAPID key pair, {other}/var/vapid_private.pem: UNKNOT_DATA_DIR var is taken "
        f"from the folder unknot runs in ({other}). If the clinic's pair is in another folder, stop the server and "
        "start it from there, or set UNKNOT_DATA_DIR to that folder's whole path (phones subscribed with one pair "
        "get no reminders sent with the other)\n"
    ), err

    # From the usual folder: its pair, named in the log, and no warning.
    key, out, err = served_from(usual, env)
    assert key == clinic_key
    assert out.startswith(f"VAPID key pair in use: {usual}/var/vapid_private.pem\n"), out
    assert "warning" not in err, err


def test_a_misspelt_setting_is_named_with_the_one_meant_and_the_command_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A typo was ignored without a word: the clinic's public address stayed 127.0.0.1 on its invites.
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    monkeypatch.setenv("UNKNOT_PUBLIC_URI", "https://clinic.example.org")
    monkeypatch.setenv("UNKNOT_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("UNKNOT_CRASH_TRIALS", "3")  # the benchmarks' own: no warning
    assert main(["init"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"database {tmp_path / 'unknot.db'}: applied")
    assert err.splitlines() == [
        "unknot: warning: UNKNOT_PUBLIC_URI is not a setting of Unknot and is ignored; did you mean UNKNOT_PUBLIC_URL?",
        "unknot: warning: UNKNOT_SMTP_HOST is not a setting of Unknot and is ignored",
    ]


def test_the_database_is_named_by_its_whole_path_when_the_setting_is_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default var/unknot.db is relative: run by cron or a service manager from another folder
    # (/ for systemd without WorkingDirectory), "no database at var/unknot.db" did not say where it looked.
    monkeypatch.delenv("UNKNOT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 1
    assert capsys.readouterr().err == (
        f"unknot: no database at {tmp_path}/var/unknot.db: check UNKNOT_DATABASE_URL, "
        "or run `unknot init` to create it\n"
    )
    assert main(["init"]) == 0
    assert capsys.readouterr().out.startswith(f"database {tmp_path}/var/unknot.db: applied [1, ")
    # The nightly backup's line in cron's mail, and restore's, said "var/unknot.db" too.
    assert main(["backup", "copy.db"]) == 0
    assert capsys.readouterr().out.startswith(f"backed up {tmp_path}/var/unknot.db to copy.db (schema version ")
    assert main(["restore", "copy.db"]) == 2
    said = f"unknot: this replaces {tmp_path}/var/unknot.db; stop the server, then add --yes\n"
    assert capsys.readouterr().err == said
    assert main(["restore", "copy.db", "--yes"]) == 0
    assert capsys.readouterr().out.startswith(f"restored copy.db to {tmp_path}/var/unknot.db (schema version ")
    (tmp_path / "folder.db").mkdir()
    monkeypatch.setenv("UNKNOT_DATABASE_URL", "folder.db")
    with pytest.raises(SystemExit, match=re.escape(f"UNKNOT_DATABASE_URL {tmp_path}/folder.db is a folder")):
        main(["init"])


def test_the_help_says_where_settings_come_from_and_what_each_argument_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing in `unknot --help` said that the database, the port or anything else is set in the environment.
    with pytest.raises(SystemExit):
        main(["--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "Settings come from UNKNOT_* environment variables" in said
    assert "UNKNOT_DATABASE_URL, by default var/unknot.db in the folder the command runs in" in said
    with pytest.raises(SystemExit):
        main(["create-therapist", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "email the email the therapist signs in with" in said
    assert 'name the name patients and colleagues see (quote it: "Ana López")' in said


def test_restore_given_the_backup_folder_says_to_name_a_file_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `unknot backup backups/` writes into a folder; `unknot restore backups/ --yes` said "no such file".
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    assert main(["init"]) == 0
    assert main(["backup", f"{tmp_path}/backups/"]) == 0
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "backups"), "--yes"]) == 1
    assert capsys.readouterr().err == (
        f"unknot: {tmp_path}/backups is a folder; name a database file (a backup in it is unknot-<UTC date and "
        "time>.db)\n"
    )


def test_transferring_from_a_therapist_with_no_patients_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed "moved 0 patient(s) from <a> to <b>: ", an empty list after the colon.
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    assert main(["init"]) == 0
    for email in ("ana@clinic.example", "bo@clinic.example"):
        monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
        assert main(["create-therapist", email, "Someone", "--password-stdin"]) == 0
    capsys.readouterr()
    assert main(["transfer-patients", "ana@clinic.example", "bo@clinic.example"]) == 0
    assert capsys.readouterr().out == "<ana@clinic.example> holds no patients; nothing was moved\n"


def test_closing_a_closed_account_or_reopening_an_open_one_says_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both said they had done it ("closed <a>; 0 session(s) signed out", "<a> can sign in again").
    db = tmp_path / "unknot.db"
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(db))
    assert main(["init"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert main(["create-therapist", "ana@clinic.example", "Ana", "--password-stdin"]) == 0
    capsys.readouterr()

    def closed_at() -> str | None:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            [(when,)] = conn.execute("SELECT closed_at FROM therapist").fetchall()
        return when

    assert main(["reopen-therapist", "ana@clinic.example"]) == 0
    assert capsys.readouterr().out == "<ana@clinic.example> is already open; nothing changed\n"
    assert closed_at() is None

    assert main(["close-therapist", "ana@clinic.example"]) == 0
    assert capsys.readouterr().out == "closed <ana@clinic.example>; 0 session(s) signed out\n"
    first = closed_at()
    assert first is not None
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # as if closed a while ago
        conn.execute("UPDATE therapist SET closed_at = '2020-01-02T03:04:05+00:00'")
    assert main(["close-therapist", "ana@clinic.example"]) == 0
    assert capsys.readouterr().out == "<ana@clinic.example> is already closed; nothing changed\n"
    assert closed_at() == "2020-01-02T03:04:05+00:00"  # the day it was closed stays the record

    assert main(["reopen-therapist", "ana@clinic.example"]) == 0
    assert capsys.readouterr().out.startswith("<ana@clinic.example> can sign in again")
    assert closed_at() is None


def test_a_mistyped_or_taken_email_is_said_before_the_password_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # set-password asked for the new password (twice at a terminal) and only then said there was no
    # such account; create-therapist, only then that the email was taken.
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    assert main(["init"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert main(["create-therapist", "ana@clinic.example", "Ana", "--password-stdin"]) == 0
    capsys.readouterr()
    for command, said in (
        (["set-password", "anna@clinic.example", "--password-stdin"], "no therapist with email anna@clinic.example"),
        (
            ["create-therapist", "Ana@clinic.example", "Ana B", "--password-stdin"],
            "a therapist with email Ana@clinic.example already exists",
        ),
    ):
        monkeypatch.setattr(sys, "stdin", io.StringIO("another-long-password\n"))
        assert main(command) == 1, command
        assert capsys.readouterr() == ("", f"unknot: {said}\n")
        assert sys.stdin.read() == "another-long-password\n"  # never asked for


def test_a_content_folder_that_is_not_there_is_named_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A mistyped UNKNOT_PLANS_DIR listed four files "missing" (and lost the path's leading /).
    missing = tmp_path / "plnas"
    assert main(["plans-check", str(missing)]) == 1
    assert capsys.readouterr().err == f"error: {missing}: folder: no such folder\n1 problem(s) in {missing}\n"
    monkeypatch.setenv("UNKNOT_PLANS_DIR", str(missing))
    assert main(["serve"]) == 1
    assert capsys.readouterr().err == f"unknot: invalid content in {missing}:\n{missing}: folder: no such folder\n"


class NoServer:
    """Stands in for Granian: ``unknot serve`` goes as far as starting it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def serve(self) -> None:
        pass


def schema_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]


def test_plans_check_reads_an_older_database_without_upgrading_it_and_serve_says_what_it_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Run before an upgrade, `plans-check --database` brought the schema up to date in silence,
    # under the server of the version before (which then refuses a database "newer" than itself).
    import granian

    old = tmp_path / "migrations"
    old.mkdir()
    for sql in sorted(migrations_dir("sqlite").glob("*.sql"))[:6]:
        shutil.copy(sql, old)
    database = tmp_path / "unknot.db"

    async def make_old() -> None:
        async with SQLiteDatabase(database) as db:
            await migrate(db, old)

    asyncio.run(make_old())
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(database))
    monkeypatch.setenv("UNKNOT_DATA_DIR", str(tmp_path))
    assert main(["plans-check", "--database"]) == 0
    assert f"database {database}: every exercise and muscle its plans use is here" in capsys.readouterr().out
    assert schema_version(database) == 6
    # `unknot serve` upgrades it, and says so: the upgrade is in the service's log.
    monkeypatch.setattr(granian, "Granian", NoServer)
    monkeypatch.setenv("UNKNOT_PORT", str(closed_port()))
    assert main(["serve"]) == 0
    applied = list(range(7, latest_version() + 1))
    assert capsys.readouterr().out == (
        f"VAPID key pair created: {tmp_path}/vapid_private.pem\ndatabase {database}: applied {applied}\n"
    )
    assert schema_version(database) == latest_version()
    # A file with no tables at all is said to be one, not a traceback.
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "empty.db"))
    assert main(["plans-check", "--database"]) == 1
    assert capsys.readouterr().err == (
        f"error: {PLANS}: database {tmp_path / 'empty.db'} holds no Unknot tables yet: run `unknot init`\n"
    )


def test_a_damaged_vapid_key_is_said_once_with_what_to_do(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # py_vapid logged its own error on the root logger, and ours ended in ": VapidException".
    monkeypatch.setenv("UNKNOT_DATA_DIR", str(tmp_path))
    key = tmp_path / "vapid_private.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)
    assert main(["vapid-keys"]) == 1
    assert capsys.readouterr().err == (
        f"unknot: {key} is not a VAPID private key (PEM): restore it from your backup, or move it away and run "
        "`unknot vapid-keys` for a new pair (each phone then gets reminders again once its app is opened)\n"
    )
    assert caplog.records == []
    # A good key still loads.
    key.unlink()
    assert main(["vapid-keys"]) == 0
    assert main(["vapid-keys"]) == 0
    assert "VAPID key pair exists" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [["backup", "copy.db"], ["plans-check", "--database"], ["set-password", "ana@clinic.example"]],
)
def test_commands_given_a_database_that_is_not_there_say_so_and_make_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # backup said "unable to open database file"; plans-check --database made an empty database
    # where the mistyped path pointed; set-password asked for the new password first.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(command) == 1
    out, err = capsys.readouterr()
    assert err == (
        f"unknot: no database at {tmp_path}/unknot.db: check UNKNOT_DATABASE_URL, or run `unknot init` to create it\n"
    )
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_a_second_backup_into_a_folder_within_the_same_second_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "... exists; choose a new file name", though nobody had chosen one.
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    assert main(["init"]) == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    now = Clock().now()
    for second in range(5):  # whichever second the command runs in, its name is taken
        (folder / backup_name(now + dt.timedelta(seconds=second))).write_bytes(b"")
    capsys.readouterr()
    assert main(["backup", str(folder)]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"unknot: {re.escape(str(folder))}/unknot-\S+Z\.db, a backup made this second, is there already; "
        r"run it again\n",
        err,
    ), err


# Put before a script on_a_small_disk runs that needs it: joined(settings, console, phone) makes a therapist, signs
# her in on the console and joins the phone to a patient of hers; returns the patient. It imports
# only when called: a script may have to set SQLite's environment before sqlite3 is imported.
JOINED = r"""
async def joined(settings, console, phone):
    from tests.conftest import make_therapist, sign_in
    await make_therapist(settings, "ana@clinic.example", "Ana")
    await sign_in(console, "ana@clinic.example")
    new = {"display_name": "Pat", "timezone": "UTC", "locale": "en"}
    p = (await console.post("/api/v1/patients", json=new)).json()
    code = (await console.post(f"/api/v1/patients/{p['id']}/invites")).json()["code"]
    token = (await phone.post("/api/v1/patient/join", json={"code": code, "label": "phone"})).json()["token"]
    phone.headers["authorization"] = f"Bearer {token}"
    return p


"""


# A running app, a therapist signed in and a phone joined, whose disk fills up: what each is then
# answered when its note of use (session last used, device last seen) is due.
FULL_DISK_READS = r"""
import asyncio, json, sqlite3, sys
from litestar.testing import AsyncTestClient
from server.app import create_app
from server.settings import Settings
disk = sys.argv[1]
settings = Settings.from_env({}, database_url=f"{disk}/unknot.db", data_dir=f"{disk}/var", scheduler=False)
async def main():
    app = create_app(settings)
    async with AsyncTestClient(app=app) as console, AsyncTestClient(app=app) as phone:
        await joined(settings, console, phone)
        # Last used a while ago (within the idle limits): the next request notes its use.
        ago = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', ?)"
        with sqlite3.connect(f"{disk}/unknot.db") as db:
            db.execute("UPDATE patient_device SET last_seen_at = " + ago, ("-11 minutes",))
            db.execute("UPDATE therapist_session SET last_used_at = " + ago, ("-5 minutes",))
        fill()
        said = {}
        for name, client, url in [("patients", console, "/api/v1/patients"), ("me", phone, "/api/v1/patient/me"),
                                  ("log", phone, "/api/v1/patient/log?from=2026-01-01&to=2026-01-02")]:
            r = await client.get(url)
            said[name] = [r.status_code, r.text[:200]]
        r = await console.post("/api/v1/patients", json={"display_name": "Two", "timezone": "UTC", "locale": "en"})
        said["write"] = r.status_code
    print(json.dumps(said))
asyncio.run(main())
"""


def test_on_a_full_disk_the_console_and_the_phone_still_read_when_their_note_of_use_cannot_be_written(
    tmp_path: Path,
) -> None:
    # The session's last use (once a minute) and the device's last sighting (every 10 minutes) are
    # written on a read: on a full disk that write failed and the read was answered 503, so nothing
    # could be looked at while the disk was full, though reads need no space.
    said = on_a_small_disk(tmp_path / "disk", JOINED + FULL_DISK_READS)
    assert said["patients"][0] == 200, said
    assert said["me"][0] == 200, said
    assert said["log"][0] == 200, said
    assert said["write"] == 503  # the disk is really full: a write is refused, as before


# A running app whose disk fills up while a phone's day holds more than SQLite sorts in memory (2 MiB):
# the sort's temporary file is on the same disk (SQLITE_TMPDIR here; /var/tmp on most servers).
FULL_DISK_SORT = r"""
import os, sys
disk = sys.argv[1]
os.environ["SQLITE_TMPDIR"] = disk  # read once, when sqlite3 is imported
import asyncio, json, logging, sqlite3
from litestar.testing import AsyncTestClient
from server.app import create_app
from server.settings import Settings
settings = Settings.from_env({}, database_url=f"{disk}/unknot.db", data_dir=f"{disk}/var", scheduler=False)
logged = []
DAY = "SELECT note FROM completion WHERE on_date = '2026-01-05' ORDER BY done_at"
async def main():
    app = create_app(settings)
    async with AsyncTestClient(app=app) as console, AsyncTestClient(app=app) as phone:
        keep = type("Keep", (logging.Handler,), {"emit": lambda self, record: logged.append(record)})
        logging.getLogger("unknot").addHandler(keep())
        p = await joined(settings, console, phone)
        with sqlite3.connect(f"{disk}/unknot.db") as db:
            db.executemany(
                "INSERT INTO completion (id, patient_id, exercise_id, on_date, slot, done_at, note, received_at) "
                "VALUES (?, ?, 'neck-turns', '2026-01-05', 'morning', ?, ?, '2026-01-05T20:00:00+00:00')",
                [(f"c{n}", p["id"], f"2026-01-05T08:{n // 600:02}:{n % 60:02}+00:00", "n" * 200) for n in range(9000)],
            )
        url = "/api/v1/patient/log?from=2026-01-05&to=2026-01-05"
        said = {"before": (await phone.get(url)).status_code}
        fill()
        r = await phone.get(url)
        said["refused"] = [r.status_code, r.json(), r.headers.get("retry-after")]
        said["logged"] = [[rec.getMessage(), rec.exc_info is not None] for rec in logged]
        said["noted"] = app.state.db.disk_full_since is not None
        try:
            async with app.state.db.snapshot() as snapshot:
                await snapshot.fetch_all(DAY)
        except sqlite3.OperationalError as exc:
            said["snapshot"] = [type(exc).__name__, str(exc)]
        os.remove(f"{disk}/filler")
        said["after"] = (await phone.get(url)).status_code
        said["health after"] = (await console.get("/api/v1/health")).json()["status"]
    print(json.dumps(said))
asyncio.run(main())
"""


def test_a_read_refused_on_a_full_disk_says_it_could_not_read_and_notes_the_full_disk(tmp_path: Path) -> None:
    # A read whose sort's temporary file did not fit was answered 503 with a log line saying it
    # could not *save* the request, and health's note of the full disk was not made.
    said = on_a_small_disk(tmp_path / "disk", JOINED + FULL_DISK_SORT, size="20m")
    assert said["before"] == 200
    assert said["refused"] == DISK_FULL_503
    assert said["logged"] == [
        [
            "cannot read GET /api/v1/patient/log: the disk that holds the database is full; free space on it "
            "(nothing was changed)",
            False,
        ]
    ]
    assert said["noted"]
    assert said["snapshot"] == ["DiskFullOnRead", "database or disk is full"]
    assert said["after"] == 200
    assert said["health after"] == "ok"
