"""The patient's hot path on PostgreSQL with one and with two app processes, beside SQLite (issue 9).

Same load as bench_api (wrk, 64 connections, the real server on loopback): today's routine
and a 50-completion sync batch, and the bare JSON endpoint as the ceiling of what a second
process can add on this machine. PostgreSQL is a throwaway cluster (tests/postgres.py) with
its default durability (fsync on; only the test suite turns it off), reached through its Unix
socket, as a PostgreSQL on the same machine is best reached (TCP over loopback costs both sides
more per query). "Two processes" is ``unknot serve --workers 2``: two app processes on one
port, each with its own pool, as two processes behind a load balancer would be. Everything
shares this machine's cores with wrk and PostgreSQL, so compare the ratios, not the absolute
figures. The goal's ratio (today's routine, two processes to one, PostgreSQL) is measured in
ROUNDS interleaved pairs and reported with its median.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from tests.bench.bench_api import sync_script
from tests.bench.harness import Goal, Load, cpu_use, free_port, report, seed_patient, serve, server_env, temp_dir, wrk
from tests.postgres import Cluster

SECONDS = 8
CONNECTIONS = 64
ROUNDS = 5
GOAL_RATIO = 1.5  # today's routine on PostgreSQL, two processes to one


def _line(name: str, load: Load) -> str:
    return (
        f"  {name:<34} {load.rps:>9.0f} req/s   p50 {load.p50_ms:6.2f} ms   "
        f"p99 {load.p99_ms:6.2f} ms   errors {load.errors}"
    )


def _measure(
    env: dict[str, str], folder: Path, workers: int, *, today_only: bool = False
) -> tuple[dict[str, Load], dict[str, float]]:
    with serve(env, workers=workers) as running:
        therapist, token = seed_patient(running)
        auth = {"Authorization": f"Bearer {token}"}
        # A short warm-up: pools filled, statements prepared, plan decoded in every process.
        wrk(f"{running.url}/api/v1/patient/today", seconds=2, headers=auth)
        loads = {} if today_only else {"ping": wrk(f"{running.url}/api/v1/ping", seconds=SECONDS)}
        with cpu_use("unknot", "postgres") as cores:
            loads["today"] = wrk(f"{running.url}/api/v1/patient/today", seconds=SECONDS, headers=auth)
        if not today_only:
            script = sync_script(folder, running, therapist)
            loads["sync"] = wrk(f"{running.url}/api/v1/patient/sync", seconds=SECONDS, headers=auth, script=script)
        return loads, cores


def main() -> list[Goal]:
    print("== scale-out (issue 9): wrk, 64 connections; SQLite vs PostgreSQL, one and two app processes")
    cluster = Cluster(fsync=True).start()

    def empty_database() -> str:
        return cluster.on_socket(cluster.create_database(migrated=False))

    try:
        with temp_dir() as tmp:
            data = Path(tmp)
            runs = {
                "SQLite, 1 process": (None, 1),
                "SQLite, 2 processes": (None, 2),
                "PostgreSQL, 1 process": (empty_database(), 1),
                "PostgreSQL, 2 processes": (empty_database(), 2),
            }
            results: dict[str, dict[str, Load]] = {}
            cores: dict[str, dict[str, float]] = {}
            for name, (url, workers) in runs.items():
                folder = data / str(len(results))
                folder.mkdir()
                extra = {"UNKNOT_DATABASE_URL": url} if url else {}
                results[name], cores[name] = _measure(server_env(folder, free_port(), **extra), folder, workers)
            # More rounds of the goal's ratio alone, one and two processes in turn: one pair of runs
            # on this shared machine can land anywhere from 1.1x to 1.7x.
            ratios = [results["PostgreSQL, 2 processes"]["today"].rps / results["PostgreSQL, 1 process"]["today"].rps]
            for n in range(1, ROUNDS):
                rps = []
                for workers in (1, 2):
                    folder = data / f"round{n}-{workers}"
                    folder.mkdir()
                    env = server_env(folder, free_port(), UNKNOT_DATABASE_URL=empty_database())
                    rps.append(_measure(env, folder, workers, today_only=True)[0]["today"].rps)
                ratios.append(rps[1] / rps[0])
    finally:
        cluster.stop()
    for name, loads in results.items():
        print(f" {name}:")
        print(_line("bare JSON (/api/v1/ping)", loads["ping"]))
        print(_line("today's routine", loads["today"]))
        print(_line("sync, 50 completions", loads["sync"]))
    one, two = results["PostgreSQL, 1 process"], results["PostgreSQL, 2 processes"]
    lite, lite_two = results["SQLite, 1 process"], results["SQLite, 2 processes"]
    # What a second process can add on this machine at all: the same ratio for a handler that does nothing.
    print(
        f"  ceiling: bare JSON two/one processes {two['ping'].rps / one['ping'].rps:.2f}x (PostgreSQL run), "
        f"{lite_two['ping'].rps / lite['ping'].rps:.2f}x (SQLite run); "
        f"SQLite today two/one {lite_two['today'].rps / lite['today'].rps:.2f}x"
    )
    # What the machine had left while one process served today's routine is all a second one can use.
    for name in ("PostgreSQL, 1 process", "PostgreSQL, 2 processes"):
        use = cores[name]
        print(
            f"  cores busy on today's routine, {name}: app {use['unknot']:.2f}, PostgreSQL {use['postgres']:.2f}, "
            f"wrk {use['wrk']:.2f}, idle {use['idle']:.2f} of {os.cpu_count()}"
        )
    for route in ("today", "sync"):
        print(
            f"  {route}: PostgreSQL two/one processes {two[route].rps / one[route].rps:.2f}x;"
            f"  PostgreSQL/SQLite, one process {one[route].rps / lite[route].rps:.2f}x"
        )
    ratio = statistics.median(ratios)
    print(
        f"  today, PostgreSQL two/one processes in {ROUNDS} rounds: "
        + ", ".join(f"{r:.2f}x" for r in ratios)
        + f"; median {ratio:.2f}x (goal >= {GOAL_RATIO})"
    )
    return [
        Goal(
            "today's routine on PostgreSQL, two processes / one",
            f"median {ratio:.2f}x (>= {GOAL_RATIO}x)",
            ratio >= GOAL_RATIO,
        )
    ]


if __name__ == "__main__":
    raise SystemExit(report(main()))
