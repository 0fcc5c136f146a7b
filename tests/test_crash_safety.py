"""Kill the real server with SIGKILL mid-write: nothing it acknowledged may be lost (issue 10).

A quick count here; `make bench` runs many more trials (tests/bench/bench_crash.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash_trial import Outcome, run_trial
from tests.postgres import Cluster

TRIALS = 3


@pytest.mark.parametrize("seed", range(TRIALS))
def test_every_acknowledged_write_survives_a_kill(tmp_path: Path, seed: int) -> None:
    outcome = run_trial(tmp_path, seed)
    _check(outcome)


@pytest.mark.parametrize("seed", range(2))
def test_every_acknowledged_write_survives_a_kill_on_postgresql(tmp_path: Path, pg_cluster: Cluster, seed: int) -> None:
    url = pg_cluster.create_database(migrated=False)
    try:
        _check(run_trial(tmp_path, 100 + seed, database_url=url))
    finally:
        pg_cluster.drop_database(url)


def _check(outcome: Outcome) -> None:
    assert outcome.acknowledged, "the trial acknowledged no write before the kill"
    assert outcome.integrity == "ok"
    assert outcome.missing == []
    assert outcome.damaged == []
    # The therapist's last acknowledged rename is there (a later, unanswered one may be too).
    if outcome.renames:
        last = int(outcome.renames[-1][1:])
        assert outcome.last_name is not None
        assert int(outcome.last_name[1:]) >= last
