"""`make bench`: every benchmark module's main(), in one run, so ratios compare like with like,
then every goal they measured, met or not (the exit status is 1 when any was missed)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from tests.bench.harness import Goal, report


def main() -> int:
    """Run the benchmarks named on the command line (all without names); exit 1 if a goal was missed."""
    only = set(sys.argv[1:])
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    goals: list[Goal] = []
    for name in names:
        if only and name.removeprefix("bench_") not in only:
            continue
        goals += importlib.import_module(f"tests.bench.{name}").main()
    return report(goals)


if __name__ == "__main__":
    raise SystemExit(main())
