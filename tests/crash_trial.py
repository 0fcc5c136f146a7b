"""One crash trial: a real server under concurrent writes, killed with SIGKILL at a random moment.

After the restart every write the server had acknowledged must be there, intact, and the
database must pass PRAGMA integrity_check. Used by tests/test_crash_safety.py (a few trials)
and tests/bench/bench_crash.py (many).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bench.harness import BIN, create_therapist, free_port, server_env, signed_in, start_killable

PASSWORD = "crash trial password"


@dataclass
class Outcome:
    """What one trial saw."""

    acknowledged: dict[str, tuple[str, int]] = field(default_factory=dict)  # completion id -> (exercise, pain)
    renames: list[str] = field(default_factory=list)  # display names the server acknowledged, in order
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    integrity: str = ""
    last_name: str | None = None


def _read_back(database_url: str, data_dir: Path, outcome: Outcome) -> dict[str, tuple[str, int]]:
    """What the database holds after the restart; checks SQLite's integrity on the way."""
    if database_url.startswith("postgresql://"):
        import asyncio

        import asyncpg

        async def fetch() -> tuple[list[asyncpg.Record], str]:
            conn = await asyncpg.connect(database_url)
            try:
                found = await conn.fetch("SELECT id, exercise_id, pain FROM completion")
                name = await conn.fetchval("SELECT display_name FROM patient")
                return found, name
            finally:
                await conn.close()

        found, outcome.last_name = asyncio.run(fetch())
        # PostgreSQL has no integrity_check; its WAL replay on restart is what is being trusted here.
        outcome.integrity = "ok"
        return {r["id"]: (r["exercise_id"], r["pain"]) for r in found}
    with sqlite3.connect(data_dir / "unknot.db") as conn:
        outcome.integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        stored = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, exercise_id, pain FROM completion")}
        outcome.last_name = conn.execute("SELECT display_name FROM patient").fetchone()[0]
    return stored


def run_trial(data_dir: Path, seed: int, writers: int = 4, database_url: str | None = None) -> Outcome:
    """Run one trial in ``data_dir`` (a fresh folder), on SQLite or on an empty PostgreSQL database."""
    rng = random.Random(seed)
    port = free_port()
    env = server_env(data_dir, port, **({"UNKNOT_DATABASE_URL": database_url} if database_url else {}))
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    create_therapist(env, "crash@clinic.example", "Crash", PASSWORD)
    url = f"http://127.0.0.1:{port}"
    process = start_killable(env)
    outcome = Outcome()
    clients: list[httpx.Client] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        therapist = signed_in(url, "crash@clinic.example", PASSWORD, timeout=10)
        clients.append(therapist)
        pid = therapist.post("/api/v1/patients", json={"display_name": "P0", "timezone": "UTC"}).json()["id"]
        treated = [{"muscle": "upper-trapezius", "side": "left"}]
        body = {"treated": treated, "treated_on": dt.date.today().isoformat()}
        plan = therapist.post(f"/api/v1/patients/{pid}/plans", json=body)
        exercise = plan.json()["program"]["items"][0]["exercise_id"]
        code = therapist.post(f"/api/v1/patients/{pid}/invites").json()["code"]
        token = httpx.post(f"{url}/api/v1/patient/join", json={"code": code}).json()["token"]

        def patient_writer(n: int) -> None:
            with httpx.Client(base_url=url, timeout=10, headers={"authorization": f"Bearer {token}"}) as phone:
                send_batches(phone)

        def send_batches(phone: httpx.Client) -> None:
            while not stop.is_set():
                batch = [
                    {
                        "id": str(uuid.uuid4()),
                        "exercise_id": exercise,
                        "on_date": "2026-11-02",
                        "slot": "evening",
                        "done_at": dt.datetime.now(dt.UTC).isoformat(),
                        "pain": rng.randint(0, 10),
                    }
                    for _ in range(rng.randint(1, 20))
                ]
                try:
                    r = phone.post("/api/v1/patient/sync", json={"completions": batch})
                except httpx.TransportError:
                    continue
                if r.status_code == 200:
                    with lock:
                        for record in batch:
                            if record["id"] in r.json()["completions"]:
                                outcome.acknowledged[record["id"]] = (exercise, record["pain"])

        def therapist_writer() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                name = f"P{n}"
                try:
                    r = therapist.patch(f"/api/v1/patients/{pid}", json={"display_name": name})
                except httpx.TransportError:
                    continue
                if r.status_code == 200:
                    with lock:
                        outcome.renames.append(name)

        threads = [threading.Thread(target=patient_writer, args=(i,)) for i in range(writers)]
        threads.append(threading.Thread(target=therapist_writer))
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stop.set()
        for t in threads:
            t.join(15)
    finally:
        for client in clients:
            client.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    # Restart on the same file: the server must come up and serve what it acknowledged.
    process = start_killable(env)
    try:
        stored = _read_back(env["UNKNOT_DATABASE_URL"], data_dir, outcome)
        for cid, values in outcome.acknowledged.items():
            if cid not in stored:
                outcome.missing.append(cid)
            elif stored[cid] != values:
                outcome.damaged.append(cid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    return outcome
