"""Benchmark 2: the schedule at scale.

100,000 couples (by default) in a fresh database across 22 time zones, inserted directly;
1,000 of them due now. Reports the start-up time (build the application, initialize it,
run `post_init`: open the database, migrate, load content, resume owed sends), the peak
RSS of the process, and one sweep tick with 1,000 due (the sweeps only: opening the
check-ins and queueing their messages, not sending them): its wall time, its CPU time
and the longest time one of its transactions held the database. The sweep is measured
`repeats` times, each on a fresh copy of the seeded file; medians and ranges are shown.
Run in its own process so the RSS is this benchmark's alone.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import NOW, TimedLock, rss_mb, spread
from bot.clock import ManualClock
from bot.services import Services
from playground.fakeapi import FakeBotAPI
from playground.sim import World


async def once(db_path: Path) -> dict[str, Any]:
    world = World(db_path=db_path, clock=ManualClock(NOW), api=FakeBotAPI())
    started = time.perf_counter()
    await world.start()
    startup = time.perf_counter() - started
    assert world.app is not None
    services: Services = world.app.bot_data["services"]
    lock = TimedLock()  # how long the sweep holds the database at once, at most
    services.core.db._lock = lock
    started, cpu = time.perf_counter(), time.process_time()
    queued = await services.sweep()
    tick, cpu = time.perf_counter() - started, time.process_time() - cpu
    longest, holds = lock.longest, lock.times
    started = time.perf_counter()
    again = await services.sweep()  # nothing due any more: the idle cost of a tick
    idle = time.perf_counter() - started
    await world.stop()
    return {
        "startup_ms": startup * 1000,
        "tick_ms": tick * 1000,
        "cpu_ms": cpu * 1000,
        "longest_hold_ms": longest * 1000,
        "holds": holds,
        "idle_tick_ms": idle * 1000,
        "queued": len(queued),
        "queued_again": len(again),
    }


async def run(couples: int, due: int, repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        seeded_path = Path(tmp) / "seeded.sqlite3"
        started = time.perf_counter()
        # Seeded in a child process, so its lists do not count in this process's RSS.
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench", "seed", str(seeded_path), str(couples), str(due)],
            check=True,
        )
        seeded = time.perf_counter() - started
        rss_before = rss_mb()
        runs = []
        for n in range(repeats):
            db_path = Path(tmp) / f"run{n}.sqlite3"
            shutil.copyfile(seeded_path, db_path)
            runs.append(await once(db_path))
            db_path.unlink()
        rss = rss_mb()

    def med(key: str, fmt: str = "{:.0f}") -> str:
        return spread([r[key] for r in runs], fmt)

    print(f"2. schedule: {couples} couples in {len({c % 22 for c in range(couples)})} zones")
    print(f"  seeding (own process, not in the figures): {seeded:.1f} s")
    print(f"  RSS after imports, before start: {rss_before:.0f} MB")
    print(f"  medians (min–max) of {repeats} runs, each on a fresh copy of the seeded file:")
    print(f"  start-up (build + initialize + post_init): {med('startup_ms')} ms (target < 2000)")
    print(
        f"  one sweep with {due} due: {med('tick_ms')} ms (target < 50), CPU {med('cpu_ms')} ms, "
        f"{runs[0]['queued']} messages queued in {runs[0]['holds']} transactions"
    )
    print(f"  longest database hold in that sweep: {med('longest_hold_ms', '{:.1f}')} ms (< 20)")
    print(f"  idle sweep: {med('idle_tick_ms', '{:.1f}')} ms ({runs[0]['queued_again']} queued)")
    print(f"  peak RSS: {rss:.0f} MB (target < 120)")
    return {
        "startup_ms": statistics.median(r["startup_ms"] for r in runs),
        "tick_ms": statistics.median(r["tick_ms"] for r in runs),
        "longest_hold_ms": statistics.median(r["longest_hold_ms"] for r in runs),
        "rss_mb": rss,
    }


def main(couples: int, due: int, repeats: int = 5) -> dict[str, Any]:
    return asyncio.run(run(couples, due, repeats))
