"""`python -m bench` (or `make bench`): the three benchmarks, each in its own process.

Figures, not assertions; see docs/performance.md for what they mean and the last run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
from pathlib import Path


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs{mem}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "which", nargs="?", default="all", choices=["all", "updates", "schedule", "fanout", "seed"]
    )
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--couples", type=int, default=1000, help="benchmark 1 (default 1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="fake API s/call (0.05)")
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="interleaved runs (benchmark 1), sweeps (2): 5",
    )
    parser.add_argument("--schedule-couples", type=int, default=100_000, help="benchmark 2")
    parser.add_argument("--due", type=int, default=1000, help="benchmark 2: due now (1000)")
    parser.add_argument("--fanout", type=int, default=5000, help="benchmark 3: due check-ins")
    parser.add_argument(
        "--ceiling", type=float, default=500, help="benchmark 3: global msg/s (Telegram: 30)"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="benchmark 3: sends in flight (OUTBOX_PARALLEL_SENDS)",
    )
    args = parser.parse_args(argv)
    os.umask(0o077)  # files owner-only, as the bot makes them (it warns about anything else)

    if args.which == "seed":  # internal: benchmark 2 seeds in a child process
        from bench.harness import NOW, seed

        path, couples, due = args.rest
        asyncio.run(seed(Path(path), int(couples), int(due), int(NOW.timestamp())))
        return 0
    if args.which == "updates":
        from bench import updates

        updates.main(args.couples, args.latency, args.runs)
        return 0
    if args.which == "schedule":
        from bench import schedule

        schedule.main(args.schedule_couples, args.due, args.runs)
        return 0
    if args.which == "fanout":
        from bench import fanout

        fanout.main(args.fanout, args.ceiling, args.latency, args.parallel)
        return 0

    print(f"machine: {machine()}")
    common = ["--latency", str(args.latency)]
    runs = [
        ["updates", "--couples", str(args.couples), "--runs", str(args.runs)],
        [
            "schedule",
            "--schedule-couples",
            str(args.schedule_couples),
            "--due",
            str(args.due),
            "--runs",
            str(args.runs),
        ],
        # The default (one send in flight) on a small fan-out: it is bounded by round trips.
        ["fanout", "--fanout", str(max(1, args.fanout // 20)), "--ceiling", str(args.ceiling)],
        [
            "fanout",
            "--fanout",
            str(args.fanout),
            "--ceiling",
            str(args.ceiling),
            "--parallel",
            "64",
        ],
    ]
    for run in runs:  # one process each: RSS and warm caches stay each benchmark's own
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", "bench", *run, *common], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
