"""Run the benchmarks: `make bench` (all) or `make bench ARGS="eventstore"` (names containing it).

Each `bench/bench_<area>.py` exposes `main(quick: bool) -> None`, which measures a baseline and the
thing under test in the same run and prints ratios. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help="run the benchmarks whose module name contains one of these")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (for a smoke run)")
    args = parser.parse_args()
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = [n for n in names if not args.only or any(o in n for o in args.only)]
    if not chosen:
        sys.exit(f"no benchmark matches {args.only}; have {names}")
    for name in chosen:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main(quick=args.quick)


if __name__ == "__main__":
    main()
