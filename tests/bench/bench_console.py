"""The therapist console's patient list: its figures in one request against one request per patient.

Seeds a therapist with many patients (each with a plan and a day of logging) through the API,
then times, against the real server and in the same run, one ``GET /api/v1/adherence`` for all
of them beside what the list used to ask for: ``/patients/{id}/adherence?days=7`` per patient,
4 in flight as the console sent them.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.bench.harness import Goal, create_therapist, free_port, report, serve, server_env, signed_in, temp_dir

PATIENTS = 150
RUNS = 7
TREATED = [{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "levator-scapulae", "side": "right"}]


def _seed(url: str, therapist: httpx.Client) -> list[int]:
    today = dt.date.today()
    ids = []
    for n in range(PATIENTS):
        pid = therapist.post("/api/v1/patients", json={"display_name": f"Patient {n:03}", "timezone": "UTC"}).json()[
            "id"
        ]
        therapist.post(
            f"/api/v1/patients/{pid}/plans",
            json={"treated": TREATED, "treated_on": (today - dt.timedelta(days=n % 20)).isoformat()},
        ).raise_for_status()
        code = therapist.post(f"/api/v1/patients/{pid}/invites").json()["code"]
        token = httpx.post(f"{url}/api/v1/patient/join", json={"code": code}).json()["token"]
        phone = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"})
        entries = phone.get("/api/v1/patient/today").json()["entries"]
        now = dt.datetime.now(dt.UTC).isoformat()
        done = [
            {
                "id": f"{n:08x}-0000-4000-8000-{i:012x}",
                "exercise_id": e["exercise_id"],
                "on_date": today.isoformat(),
                "slot": e["slot"],
                "done_at": now,
            }
            for i, e in enumerate(entries[: n % 4])
        ]
        checkin = {
            "id": f"{n:08x}-0000-4000-9000-000000000000",
            "on_date": today.isoformat(),
            "soreness": n % 10,
            "red_flags": [],
            "done_at": now,
        }
        phone.post("/api/v1/patient/sync", json={"completions": done, "checkins": [checkin]}).raise_for_status()
        ids.append(pid)
    return ids


def _median_ms(run: object) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> list[Goal]:
    print(f"== console patient list (issue 8): {PATIENTS} patients, median of {RUNS}")
    with temp_dir() as tmp:
        env = server_env(Path(tmp), free_port())
        with serve(env) as running:
            create_therapist(running.env, "list@clinic.example", "List")
            therapist = signed_in(running.url, "list@clinic.example")
            ids = _seed(running.url, therapist)

            def one_request() -> None:
                assert len(therapist.get("/api/v1/adherence").json()) == PATIENTS

            def per_patient() -> None:
                def fetch(pid: int) -> None:
                    therapist.get(f"/api/v1/patients/{pid}/adherence", params={"days": 7}).raise_for_status()

                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(fetch, ids))

            overview = _median_ms(one_request)
            each = _median_ms(per_patient)
    print(f"  one request for the list (/adherence)   {overview:8.1f} ms")
    print(f"  one request per patient, 4 in flight    {each:8.1f} ms")
    print(f"  ratio per-patient/one: {each / overview:.1f}x")
    return []  # the console's issue set no figure: this compares two designs for the README


if __name__ == "__main__":
    raise SystemExit(report(main()))
