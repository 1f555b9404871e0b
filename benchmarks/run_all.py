"""Run every benchmark against the peers in one process; print the table and write
``results.md`` and ``results.json``.

    python benchmarks/run_all.py                      # full sizes, into benchmarks/results/
    python benchmarks/run_all.py --quick --out /tmp/b # tiny sizes: checks that it all runs
    python benchmarks/run_all.py --only lars,fit --device cuda --threads 4

The book's wall times are a separate, slow script: ``benchmarks/book_times.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import bench_finder
import bench_fit
import bench_lars
import bench_schedules
from common import DEFAULT_OUT, add_arguments, load_average, machine, setup, write_results

BENCHMARKS = {
    "schedules": bench_schedules.run,
    "lars": bench_lars.run,
    "lr_find": bench_finder.run,
    "fit": bench_fit.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for results.md and results.json (default {DEFAULT_OUT})")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmarks {unknown}; choose from {list(BENCHMARKS)}")

    device = setup(args)
    info = machine(device)
    info["quick"] = args.quick
    info["load_start"] = load_average()
    started = time.perf_counter()
    rows = []
    for name in chosen:
        t0 = time.perf_counter()
        rows += BENCHMARKS[name](args, device)
        print(f"# {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    info["load_end"] = load_average()
    info["seconds"] = round(time.perf_counter() - started, 1)
    print(write_results(rows, info, args.out))
    print(f"# wrote {args.out / 'results.md'} and {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
