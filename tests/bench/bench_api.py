"""Load on the patient's hot paths against the real server on loopback (issue 5).

Prints requests/second, p50 and p99 for today's routine and a 50-completion sync
batch at 64 connections, beside a bare JSON endpoint served by the same process in
the same run, and the same for granian against uvicorn (the choice of ASGI server).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from tests.bench.harness import Load, Server, free_port, seed_patient, serve, server_env, temp_dir, wrk

SECONDS = 8
CONNECTIONS = 64

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


def main() -> None:
    print("== patient hot paths (issue 5): wrk, 64 connections, one app process")
    with temp_dir() as tmp:
        data = Path(tmp)
        results: dict[str, dict[str, Load]] = {}
        for server in ("granian", "uvicorn"):
            env = server_env(data / server, free_port())
            (data / server).mkdir()
            with serve(env, server=server) as running:
                therapist, token = seed_patient(running)
                auth = {"Authorization": f"Bearer {token}"}
                script = sync_script(data / server, running, therapist)
                results[server] = {
                    "bare JSON (/api/v1/ping)": wrk(f"{running.url}/api/v1/ping", seconds=SECONDS),
                    # The cheapest authenticated request (the device-token lookup and a tiny body):
                    # how much of the gap to the bare endpoint is identifying the patient at all.
                    "patient's name (/me)": wrk(f"{running.url}/api/v1/patient/me", seconds=SECONDS, headers=auth),
                    "today's routine": wrk(f"{running.url}/api/v1/patient/today", seconds=SECONDS, headers=auth),
                }
                if server == "granian":
                    results[server]["sync, 50 completions"] = wrk(
                        f"{running.url}/api/v1/patient/sync", seconds=SECONDS, headers=auth, script=script
                    )
        for server, loads in results.items():
            print(f" {server}:")
            for name, load in loads.items():
                print(_line(name, load))
        g = results["granian"]
        ratio = g["today's routine"].rps / g["bare JSON (/api/v1/ping)"].rps
        print(f"  ratio today/bare (granian): {ratio:.2f}  (goal >= 0.5, p99 < 20 ms)")
        floor = g["patient's name (/me)"].rps / g["bare JSON (/api/v1/ping)"].rps
        print(f"  ratio /me/bare (granian): {floor:.2f}  (the ceiling for any route that looks up its caller)")
        speedup = g["today's routine"].rps / results["uvicorn"]["today's routine"].rps
        print(f"  granian/uvicorn on today's routine: {speedup:.2f}x")


if __name__ == "__main__":
    main()
