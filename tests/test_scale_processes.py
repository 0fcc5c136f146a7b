"""Three real `unknot serve` processes on one PostgreSQL database, as behind a load balancer.

A patient flow goes round-robin through them (sign in on one, act on the next), the same
sync batch reaches two of them at the same moment, the sign-in limit counts across them,
and two schedulers deliver 500 due reminders through the loopback push service, one of
them killed with SIGKILL while it is sending.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from server.api.patient import MAX_JOINS_PER_ADDRESS
from server.auth.secrets import new_invite_code
from server.catalog import Catalog
from server.db.migrate import latest_version
from server.push.keys import load_or_create
from server.settings import Settings
from tests.bench.harness import create_therapist, free_port, server_env, start_killable
from tests.conftest import http_client, rows
from tests.postgres import Cluster
from tests.pushservice import PushService
from tests.test_push_scheduler import plan_items

PASSWORD = "scale-out password 2026"
EMAIL = "scale@clinic.example"


@dataclass
class Process:
    """One `unknot serve`."""

    url: str
    env: dict[str, str]
    popen: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL to the server and its worker at once, as a crash would."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def connections_to(self, port: int) -> int:
        """Open TCP connections from this process group to ``port`` on loopback (is it sending?)."""
        inodes: set[str] = set()
        for pid in _group(self.popen.pid):
            fds = Path(f"/proc/{pid}/fd")
            for fd in fds.iterdir() if fds.exists() else []:
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        found = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == port and fields[9] in inodes:
                found += 1
        return found


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def start(database_url: str, data_dir: Path, **extra: str) -> Process:
    port = free_port()
    env = server_env(data_dir, port, UNKNOT_DATABASE_URL=database_url, **extra)
    return Process(f"http://127.0.0.1:{port}", env, start_killable(env, "/api/v1/health"))


@contextmanager
def cluster_of(n: int, database_url: str, data_dir: Path, **extra: str) -> Iterator[list[Process]]:
    """``n`` processes started together (they migrate at once), all stopped at the end."""
    with ExitStack() as stack, ThreadPoolExecutor(n) as pool:
        processes = list(pool.map(lambda _: start(database_url, data_dir, **extra), range(n)))
        for p in processes:
            stack.callback(p.kill)
        yield processes


@pytest.fixture
def database(pg_cluster: Cluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An empty PostgreSQL database (the processes migrate it) and the folder with the shared VAPID keys."""
    url = pg_cluster.create_database(migrated=False)
    data = tmp_path / "shared"
    load_or_create(data)  # `unknot vapid-keys` once; every process reads the same key pair
    create_therapist(server_env(data, free_port(), UNKNOT_DATABASE_URL=url), EMAIL, "Scale", PASSWORD)
    yield url, data
    pg_cluster.drop_database(url)


def sign_in(client: httpx.Client, url: str) -> None:
    r = client.post(f"{url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["x-csrf-token"] = r.json()["csrf_token"]


def browser() -> httpx.Client:
    """A therapist's browser (closed at the end of the test)."""
    return http_client(timeout=30)


def phone(address: str = "127.0.0.1") -> httpx.Client:
    """A patient's phone; each one comes from its own loopback address, like phones on the internet."""
    return http_client(timeout=30, transport=httpx.HTTPTransport(local_address=address))


def test_a_patient_flow_round_robin_through_three_processes(database: tuple[str, Path]) -> None:
    url, data = database
    with cluster_of(3, url, data) as processes:
        at = [p.url for p in processes]
        on = Settings.from_env({}, database_url=url)
        assert [r[0] for r in rows(on, "SELECT version FROM schema_version ORDER BY 1")] == list(
            range(1, latest_version() + 1)
        )

        therapist = browser()
        sign_in(therapist, at[0])
        # The session made on the first process is good on the others.
        assert therapist.get(f"{at[1]}/api/v1/auth/me").json()["therapist"]["email"] == EMAIL
        r = therapist.post(f"{at[1]}/api/v1/patients", json={"display_name": "Round Robin", "timezone": "UTC"})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        today = dt.datetime.now(dt.UTC).date()
        treated = [{"muscle": "upper-trapezius", "side": "left"}]
        r = therapist.post(
            f"{at[2]}/api/v1/patients/{pid}/plans",
            json={"treated": treated, "treated_on": (today - dt.timedelta(days=3)).isoformat()},
        )
        assert r.status_code == 201, r.text
        plan_id = r.json()["id"]
        code = therapist.post(f"{at[0]}/api/v1/patients/{pid}/invites").json()["code"]
        device = phone()
        r = device.post(f"{at[1]}/api/v1/patient/join", json={"code": code})
        assert r.status_code == 201, r.text
        device.headers["authorization"] = f"Bearer {r.json()['token']}"
        # The invite was used up on process 1: process 2 knows.
        assert device.post(f"{at[2]}/api/v1/patient/join", json={"code": code}).status_code == 410
        entries = device.get(f"{at[2]}/api/v1/patient/today").json()
        assert all(device.get(f"{u}/api/v1/patient/today").json() == entries for u in at)
        item = next(e for e in entries["entries"])

        # The same batch reaches two processes at the same moment, again and again: each record once.
        sent: list[str] = []
        for _ in range(10):
            batch = [
                {
                    "id": str(uuid.uuid4()),
                    "exercise_id": item["exercise_id"],
                    "on_date": today.isoformat(),
                    "slot": item["slot"],
                    "done_at": dt.datetime.now(dt.UTC).isoformat(),
                    "pain": 2,
                }
                for _ in range(25)
            ]
            checkin = {"id": str(uuid.uuid4()), "on_date": today.isoformat(), "soreness": 3}
            body = {"completions": batch, "checkins": [{**checkin, "done_at": batch[0]["done_at"]}]}
            barrier = threading.Barrier(2)

            def post(u: str, body: dict[str, Any] = body, barrier: threading.Barrier = barrier) -> httpx.Response:
                barrier.wait()
                return device.post(f"{u}/api/v1/patient/sync", json=body)

            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(post, at[:2]))
            for answer in answers:
                assert answer.status_code == 200, answer.text
                assert sorted(answer.json()["completions"]) == sorted(c["id"] for c in batch)
            sent += [c["id"] for c in batch]
        stored = rows(on, "SELECT id FROM completion WHERE patient_id = :pid", {"pid": pid})
        assert sorted(r[0] for r in stored) == sorted(sent)
        assert rows(on, "SELECT count(*) FROM checkin")[0][0] == 10

        # The therapist sees it through a third process; signs out on it; the session is gone everywhere.
        records = therapist.get(f"{at[2]}/api/v1/patients/{pid}/records").json()
        assert len(records["completions"]) == 250
        assert therapist.get(f"{at[0]}/api/v1/patients/{pid}/plan").json()["id"] == plan_id
        assert therapist.post(f"{at[2]}/api/v1/auth/logout").status_code == 204
        assert all(therapist.get(f"{u}/api/v1/auth/me").status_code == 401 for u in at)

        # The sign-in limit counts across processes: the sixth wrong password is refused, wherever it lands.
        stranger = browser()
        codes = [
            stranger.post(
                f"{at[n % 3]}/api/v1/auth/login", json={"email": EMAIL, "password": "wrong guess 12345"}
            ).status_code
            for n in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2


class SlowPushService(PushService):
    """The loopback push service, taking ``delay`` seconds to answer each message (a busy FCM)."""

    delay = 0.5

    async def _push(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        return await super()._push(request)


def test_two_schedulers_deliver_1000_due_reminders_once_and_survive_a_kill(
    database: tuple[str, Path], catalog: Catalog
) -> None:
    url, data = database
    # The lease of a claim is push timeout x (rounds of sends + 1) + 30 s: here 2 x 5 + 30 = 40 s.
    # The timeout leaves 1.5 s beyond the service's 0.5 s: a send timed out on a busy machine is
    # sent again, and this test would count that copy as a double.
    scheduler = {
        "UNKNOT_SCHEDULER": "1",
        "UNKNOT_SCHEDULER_INTERVAL_SECONDS": "0.2",
        "UNKNOT_PUSH_TIMEOUT_SECONDS": "2",
    }
    lease = 40
    with SlowPushService() as service, cluster_of(1, url, data) as [api]:
        therapist = browser()
        sign_in(therapist, api.url)
        key = httpx.get(f"{api.url}/api/v1/push/public-key").json()["public_key"]
        today = dt.datetime.now(dt.UTC).date()
        treated = [{"muscle": "upper-trapezius", "side": "left"}]
        preview = therapist.post(
            f"{api.url}/api/v1/programs/preview", json={"treated": treated, "treated_on": today.isoformat()}
        ).json()
        items = plan_items(catalog, preview["phases"])  # three stretches every evening

        def make(n: int) -> tuple[httpx.Client, list[Any]]:
            """A patient with a plan and ten subscribed devices; returns the first device and the subscriptions."""
            r = therapist.post(f"{api.url}/api/v1/patients", json={"display_name": f"P{n}", "timezone": "UTC"})
            pid = r.json()["id"]
            r = therapist.post(
                f"{api.url}/api/v1/patients/{pid}/plans",
                json={"treated": treated, "treated_on": today.isoformat(), "items": items},
            )
            assert r.status_code == 201, r.text
            devices, subs = [], []
            for d in range(10):
                code = therapist.post(f"{api.url}/api/v1/patients/{pid}/invites").json()["code"]
                device = phone(f"127.0.{n + 1}.{d + 1}")
                r = device.post(f"{api.url}/api/v1/patient/join", json={"code": code})
                assert r.status_code == 201, r.text
                device.headers["authorization"] = f"Bearer {r.json()['token']}"
                sub = service.subscribe(f"P{n}-{d}", application_server_key=key)
                r = device.put(f"{api.url}/api/v1/patient/push/subscriptions", json=sub.as_json())
                assert r.status_code == 200, r.text
                devices.append(device)
                subs.append(sub)
            return devices[0], subs

        with ThreadPoolExecutor(4) as pool:
            made = list(pool.map(make, range(50)))
        subs = [s for _, some in made for s in some]
        assert len(subs) == 500
        # Every patient's morning and evening reminders at the next whole minute (UTC) at least 10 s
        # away, set once everything else is in place (a time already past would mean tomorrow), no
        # quiet hours: 1000 messages for 500 devices. The schedulers start once it has passed; each
        # claims at most 500 at a time, so both get work.
        due = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=70)).replace(second=0, microsecond=0)
        rules = {
            "rules": [{"slot": s, "local_time": due.strftime("%H:%M")} for s in ("morning", "evening")],
            "quiet_hours": None,
        }
        with ThreadPoolExecutor(4) as pool:
            first_devices = [device for device, _ in made]
            for r in pool.map(
                lambda device: device.put(f"{api.url}/api/v1/patient/reminders", json=rules), first_devices
            ):
                assert r.status_code == 200, r.text
        assert dt.datetime.now(dt.UTC) < due
        time.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds() + 0.5))

        with cluster_of(2, url, data, **scheduler) as senders:
            # Messages are flowing: kill the process that holds connections to the push service.
            deadline = time.monotonic() + 30
            while service.stats()["count"] < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            busy = max(senders, key=lambda p: p.connections_to(service.port))
            assert busy.connections_to(service.port) > 0
            busy.kill()
            killed = time.time()
            survivor = next(p for p in senders if p is not busy)
            # Generous: on a loaded machine planning and sending 1000 messages can take minutes.
            deadline = time.monotonic() + lease + 150
            while (
                len({(r.endpoint, r.payload["slot"]) for r in service.received}) < 1000 and time.monotonic() < deadline
            ):
                time.sleep(0.2)
            time.sleep(1)
            assert survivor.popen.poll() is None

    on = Settings.from_env({}, database_url=url)
    deliveries = rows(
        on,
        "SELECT s.endpoint, d.slot, d.status, d.attempts FROM reminder_delivery d "
        "JOIN push_subscription s ON s.id = d.subscription_id",
    )
    assert len(deliveries) == 1000
    assert {status for _, _, status, _ in deliveries} == {"sent"}
    attempts = {(endpoint, slot): n for endpoint, slot, _, n in deliveries}
    received = Counter((r.endpoint, r.payload["slot"]) for r in service.received)
    assert set(received) == {(s.endpoint, slot) for s in subs for slot in ("morning", "evening")}  # none lost
    once = {key for key, n in attempts.items() if n == 1}
    taken_over = {key for key, n in attempts.items() if n == 2}
    assert once, "the surviving scheduler sent nothing of its own"
    assert taken_over, "the kill hit no claim"
    assert once | taken_over == set(attempts)
    # A delivery claimed once reached its device exactly once. One whose claim died with the killed
    # process was taken over only after that claim's lease ran out and sent at most once more; a copy
    # the dead process had already handed to the push service shows once on the phone (same Topic and tag).
    assert all(received[key] == 1 for key in once)
    for key in taken_over:
        copies = sorted((r for r in service.received if (r.endpoint, r.payload["slot"]) == key), key=lambda r: r.at)
        assert len(copies) <= 2
        assert copies[-1].at >= killed
        if len(copies) == 2:
            # The lease runs from the claim; the dead process's copy left within its rounds of sends
            # after it (four of 0.5 s each here, up to 10 s if every round timed out): a takeover
            # before the lease ran out would show a gap of a few seconds, not half a minute.
            assert copies[1].at - copies[0].at >= lease - 10
            assert len({(r.topic, r.payload["tag"]) for r in copies}) == 1
    assert service.rejected == []
    twice = sum(1 for n in received.values() if n == 2)
    # Outcomes are written as they arrive, so only messages still in flight at the kill (at most the
    # sender's concurrency) can have reached the push service without their outcome being recorded.
    assert twice <= Settings.from_env({}).push_concurrency
    print(f"\n1000 reminders: {len(once)} sent once, {len(taken_over)} taken over after the kill ({twice} sent twice)")


def test_behind_a_trusted_proxy_the_per_address_limit_counts_each_client(database: tuple[str, Path]) -> None:
    """With UNKNOT_TRUSTED_PROXIES one guesser behind the proxy does not lock everyone else out,
    and nobody else can choose their address by sending X-Forwarded-For."""
    url, data = database
    proxy, stranger = phone("127.0.0.2"), phone("127.0.0.3")

    with cluster_of(1, url, data, UNKNOT_TRUSTED_PROXIES="127.0.0.2") as [app]:

        def join(client: httpx.Client, forwarded_for: str) -> int:
            headers = {"x-forwarded-for": forwarded_for}
            body = {"code": new_invite_code()}  # random, so only the per-address limit can answer 429
            return client.post(f"{app.url}/api/v1/patient/join", json=body, headers=headers).status_code

        assert {join(proxy, "198.51.100.7") for _ in range(MAX_JOINS_PER_ADDRESS)} == {404}
        assert join(proxy, "198.51.100.7") == 429
        assert join(proxy, "203.0.113.5") == 404  # another patient behind the same proxy
        # What a client writes in front of the proxy's own entry does not change who it is.
        assert join(proxy, "203.0.113.99, 198.51.100.7") == 429
        # From an address that is not a trusted proxy the header is ignored.
        assert {join(stranger, f"192.0.2.{i}") for i in range(MAX_JOINS_PER_ADDRESS)} == {404}
        assert join(stranger, "192.0.2.200") == 429
