"""Many crash trials (issue 10): SIGKILL at random moments under concurrent writes."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.bench.harness import Goal, report
from tests.crash_trial import run_trial

TRIALS = int(os.environ.get("UNKNOT_CRASH_TRIALS", "30"))


def main() -> list[Goal]:
    print(f"== crash safety: {TRIALS} SIGKILL trials on SQLite")
    started = time.monotonic()
    checked = failures = 0
    for seed in range(TRIALS):
        with tempfile.TemporaryDirectory(prefix="unknot-crash-") as tmp:
            outcome = run_trial(Path(tmp), 1000 + seed)
        checked += len(outcome.acknowledged)
        if outcome.missing or outcome.damaged or outcome.integrity != "ok":
            failures += 1
            print(
                f"  trial {seed}: missing {len(outcome.missing)}, damaged {len(outcome.damaged)}, "
                f"integrity {outcome.integrity}"
            )
    print(
        f"  trials {TRIALS}, acknowledged writes checked {checked}, failed trials {failures}, "
        f"{time.monotonic() - started:.0f} s"
    )
    return [
        Goal(
            "SIGKILL trials: every acknowledged write kept, database intact",
            f"{failures} of {TRIALS} trials failed",
            failures == 0,
        )
    ]


if __name__ == "__main__":
    raise SystemExit(report(main()))
