"""`make soak`: the patient's hot paths at a steady, moderate rate for several minutes.

Reports errors, p99 per minute and the server's memory at start and end; memory should be
flat and errors zero. UNKNOT_SOAK_MINUTES (default 5) and UNKNOT_SOAK_RATE (requests/s, default 100).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx

from tests.bench.harness import Goal, free_port, report, seed_patient, serve, server_env, temp_dir

MINUTES = float(os.environ.get("UNKNOT_SOAK_MINUTES", "5"))
RATE = int(os.environ.get("UNKNOT_SOAK_RATE", "100"))
# "Flat": the caches fill in the first minute; a leak grows with every request.
MEMORY_GROWTH = 0.10


PATIENTS = 20


async def _load(url: str, tokens: list[str], exercise: str, seconds: float) -> tuple[list[tuple[float, float]], int]:
    """Send requests at RATE per second across the patients (one sync for every nine routine reads)."""
    latencies: list[tuple[float, float]] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def one(n: int) -> None:
            nonlocal errors
            headers = {"authorization": f"Bearer {tokens[n % len(tokens)]}"}
            # A realistic log: a handful of exercises a day, spread over the plan's days.
            on_date = (dt.date.today() - dt.timedelta(days=n % 40)).isoformat()
            started = time.perf_counter()
            try:
                if n % 10 == 0:
                    done_at = dt.datetime.now(dt.UTC).isoformat()
                    batch = [
                        {
                            "id": str(uuid.uuid4()),
                            "exercise_id": exercise,
                            "on_date": on_date,
                            "slot": "evening",
                            "done_at": done_at,
                        }
                        for _ in range(10)
                    ]
                    r = await client.post("/api/v1/patient/sync", json={"completions": batch}, headers=headers)
                else:
                    r = await client.get("/api/v1/patient/today", headers=headers)
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((started, (time.perf_counter() - started) * 1000))

        begin = time.perf_counter()
        tasks = []
        n = 0
        while time.perf_counter() - begin < seconds:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
            await asyncio.sleep(max(0.0, begin + n / RATE - time.perf_counter()))
        await asyncio.gather(*tasks)
    return latencies, errors


def _join(url: str, therapist: httpx.Client, name: str) -> str:
    """Another patient with a plan and a joined device; returns the device token."""
    pid = therapist.post("/api/v1/patients", json={"display_name": name, "timezone": "Europe/Berlin"}).json()["id"]
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    start = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    therapist.post(f"/api/v1/patients/{pid}/plans", json={"treated": treated, "treated_on": start}).raise_for_status()
    code = therapist.post(f"/api/v1/patients/{pid}/invites").json()["code"]
    return httpx.post(f"{url}/api/v1/patient/join", json={"code": code}).json()["token"]


def main() -> list[Goal]:
    print(f"== soak: {MINUTES:g} min at {RATE} req/s over {PATIENTS} patients (a sync batch every 10th request)")
    with temp_dir() as tmp:
        env = server_env(Path(tmp), free_port())
        with serve(env) as server:
            therapist, token = seed_patient(server)
            exercise = therapist.get("/api/v1/patients/1/plan").json()["program"]["items"][0]["exercise_id"]
            tokens = [token] + [_join(server.url, therapist, f"Soak {i}") for i in range(PATIENTS - 1)]
            therapist.close()
            rss_start = server.rss_kib()
            latencies, errors = asyncio.run(_load(server.url, tokens, exercise, MINUTES * 60))
            rss_end = server.rss_kib()
    start = latencies[0][0]
    print(f"  requests {len(latencies)}, errors {errors}")
    for minute in range(int(MINUTES + 0.999)):
        window = [ms for at, ms in latencies if minute * 60 <= at - start < (minute + 1) * 60]
        if len(window) > 1:
            cuts = statistics.quantiles(window, n=100)
            print(f"  minute {minute + 1}: {len(window)} requests, p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms")
    print(f"  server memory: {rss_start / 1024:.1f} MiB at start, {rss_end / 1024:.1f} MiB at end")
    growth = rss_end / rss_start - 1
    return [
        Goal("soak: errors", f"{errors} of {len(latencies)} requests", errors == 0),
        Goal(
            "soak: server memory flat",
            f"{growth:+.1%} from start to end (<= +{MEMORY_GROWTH:.0%})",
            growth <= MEMORY_GROWTH,
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(report(main()))
