"""Load on the patient's hot paths against the real server on loopback (issue 5).

Prints requests/second, p50 and p99 for today's routine and a 50-completion sync
batch at 64 connections, beside a bare JSON endpoint served by the same process in
the same run (interleaved rounds), today's routine while other patients' logs are
committed beside it, and the same for granian against uvicorn (the choice of ASGI server).
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import uuid
from pathlib import Path

import httpx

from tests.bench.harness import Goal, Load, Server, free_port, report, seed_patient, serve, server_env, temp_dir, wrk

SECONDS = 6
CONNECTIONS = 64
ROUNDS = 3
GOAL_RATIO = 0.5  # today's routine against the bare endpoint
GOAL_P99_MS = 20.0
# Far more than a clinic's patients log; each commit makes the next reads go to the database.
WRITES_PER_SECOND = 20

SYNC_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
local function uuid(n)
  return string.format("%08x-0000-4000-8000-%012x", tid or 0, n)
end
function request()
  local parts = {}
  for i = 1, 50 do
    counter = counter + 1
    parts[i] = string.format(
      '{"id":"%s","exercise_id":"EXERCISE","on_date":"DATE","slot":"evening","done_at":"DATE_T08:00:00Z","pain":2}',
      uuid(counter))
  end
  return wrk.format(nil, nil, nil, '{"completions":[' .. table.concat(parts, ",") .. ']}')
end
"""


def sync_script(folder: Path, server: Server, therapist: httpx.Client) -> Path:
    """A wrk script in ``folder`` that posts batches of 50 new completions of the seeded patient's plan."""
    plan = therapist.get(f"{server.url}/api/v1/patients/1/plan").json()
    exercise = plan["program"]["items"][0]["exercise_id"]
    today = dt.date.today().isoformat()
    script = folder / "sync.lua"
    script.write_text(SYNC_SCRIPT.replace("EXERCISE", exercise).replace("DATE_T", today + "T").replace("DATE", today))
    return script


def _line(name: str, load: Load) -> str:
    return (
        f"  {name:<28} {load.rps:>9.0f} req/s   p50 {load.p50_ms:6.2f} ms   "
        f"p99 {load.p99_ms:6.2f} ms   errors {load.errors}"
    )


class Writer:
    """Commits beside a load: a one-completion sync every ``1/rate`` seconds from a thread, as
    patients logging elsewhere would (each commit makes every process read again)."""

    def __init__(self, server: Server, token: str, exercise: str, rate: float) -> None:
        self._client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        self._exercise, self._pause = exercise, 1 / rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.commits = 0

    def _run(self) -> None:
        today = dt.date.today().isoformat()
        while not self._stop.wait(self._pause):
            done = {"exercise_id": self._exercise, "on_date": today, "slot": "evening", "done_at": f"{today}T08:00:00Z"}
            r = self._client.post("/api/v1/patient/sync", json={"completions": [{"id": str(uuid.uuid4()), **done}]})
            r.raise_for_status()
            self.commits += 1

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


def _median_line(name: str, loads: list[Load]) -> str:
    rps = statistics.median(x.rps for x in loads)
    p99 = statistics.median(x.p99_ms for x in loads)
    runs = ", ".join(f"{x.rps:.0f}" for x in loads)
    return f"  {name:<28} {rps:>9.0f} req/s   p99 {p99:6.2f} ms   (rounds: {runs})"


def main() -> list[Goal]:
    print(f"== patient hot paths (issue 5): wrk, {CONNECTIONS} connections, one app process")
    with temp_dir() as tmp:
        data = Path(tmp)
        results: dict[str, dict[str, Load]] = {}
        rounds: dict[str, list[Load]] = {}
        for server in ("granian", "uvicorn"):
            env = server_env(data / server, free_port())
            (data / server).mkdir()
            with serve(env, server=server) as running:
                therapist, token = seed_patient(running)
                auth = {"Authorization": f"Bearer {token}"}
                script = sync_script(data / server, running, therapist)
                paths = {
                    "bare JSON (/api/v1/ping)": ("/api/v1/ping", {}),
                    # The cheapest authenticated request (the device-token lookup and a tiny body):
                    # how much of the gap to the bare endpoint is identifying the patient at all.
                    "patient's name (/me)": ("/api/v1/patient/me", auth),
                    "today's routine": ("/api/v1/patient/today", auth),
                }
                if server == "uvicorn":
                    results[server] = {
                        n: wrk(running.url + p, seconds=SECONDS, headers=h) for n, (p, h) in paths.items()
                    }
                    continue
                # The bare endpoint's rate swings most on a shared machine: the paths take turns,
                # ROUNDS times, and each ratio is of one round; the median ratio is the figure.
                for _ in range(ROUNDS):
                    for name, (path, headers) in paths.items():
                        rounds.setdefault(name, []).append(wrk(running.url + path, seconds=SECONDS, headers=headers))
                exercise = therapist.get(f"{running.url}/api/v1/patients/1/plan").json()["program"]["items"][0]
                with Writer(running, token, exercise["exercise_id"], WRITES_PER_SECOND) as writer:
                    beside = wrk(f"{running.url}/api/v1/patient/today", seconds=SECONDS, headers=auth)
                results[server] = {
                    f"today, {writer.commits / SECONDS:.0f} commits/s beside": beside,
                    "sync, 50 completions": wrk(
                        f"{running.url}/api/v1/patient/sync", seconds=SECONDS, headers=auth, script=script
                    ),
                }
        print(f" granian ({ROUNDS} rounds, medians):")
        for name, loads in rounds.items():
            print(_median_line(name, loads))
        for server, loads in results.items():
            if server != "granian":
                print(f" {server}:")
            for name, load in loads.items():
                print(_line(name, load))
        bare, me, today = rounds.values()
        ratios = [t.rps / b.rps for t, b in zip(today, bare, strict=True)]
        ratio, p99 = statistics.median(ratios), statistics.median(t.p99_ms for t in today)
        print(
            f"  ratio today/bare (granian): {ratio:.2f}, "
            f"rounds {', '.join(f'{r:.2f}' for r in ratios)}  (goal >= {GOAL_RATIO}, p99 < {GOAL_P99_MS:.0f} ms)"
        )
        floor = statistics.median(m.rps / b.rps for m, b in zip(me, bare, strict=True))
        print(f"  ratio /me/bare (granian): {floor:.2f}  (identifying the caller and nothing else)")
        speedup = statistics.median(t.rps for t in today) / results["uvicorn"]["today's routine"].rps
        print(f"  granian/uvicorn on today's routine: {speedup:.2f}x")
    return [
        Goal("today's routine / bare endpoint, one process", f"{ratio:.2f} (>= {GOAL_RATIO})", ratio >= GOAL_RATIO),
        Goal("today's routine p99, one process", f"{p99:.1f} ms (< {GOAL_P99_MS:.0f} ms)", p99 < GOAL_P99_MS),
    ]


if __name__ == "__main__":
    raise SystemExit(report(main()))
