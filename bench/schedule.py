"""Benchmark 2: the schedule at scale.

100,000 couples (by default) in a fresh database across 22 time zones, inserted directly;
1,000 of them due now. Reports the start-up time (build the application, initialize it,
run `post_init`: open the database, migrate, load content, resume owed sends), the peak
RSS of the process, and one sweep tick with 1,000 due (the sweeps only: opening the
check-ins and queueing their messages, not sending them). Run in its own process so the
RSS is this benchmark's alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import NOW, rss_mb
from bot.clock import ManualClock
from bot.services import Services
from playground.fakeapi import FakeBotAPI
from playground.sim import World


async def run(couples: int, due: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        started = time.perf_counter()
        # Seeded in a child process, so its lists do not count in this process's RSS.
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench", "seed", str(db_path), str(couples), str(due)],
            check=True,
        )
        seeded = time.perf_counter() - started
        rss_before = rss_mb()

        world = World(db_path=db_path, clock=ManualClock(NOW), api=FakeBotAPI())
        started = time.perf_counter()
        await world.start()
        startup = time.perf_counter() - started
        assert world.app is not None
        services: Services = world.app.bot_data["services"]

        started = time.perf_counter()
        queued = await services.sweep()
        tick = time.perf_counter() - started
        started = time.perf_counter()
        again = await services.sweep()  # nothing due any more: the idle cost of a tick
        idle = time.perf_counter() - started
        rss = rss_mb()
        await world.stop()
    print(f"2. schedule: {couples} couples in {len({c % 22 for c in range(couples)})} zones")
    print(f"  seeding (own process, not in the figures): {seeded:.1f} s")
    print(f"  RSS after imports, before start: {rss_before:.0f} MB")
    print(f"  start-up (build + initialize + post_init): {startup * 1000:.0f} ms (target < 2000)")
    print(
        f"  one sweep with {due} due: {tick * 1000:.0f} ms, {len(queued)} messages queued "
        f"(target < 50 ms); idle sweep {idle * 1000:.1f} ms ({len(again)} queued)"
    )
    print(f"  peak RSS: {rss:.0f} MB (target < 120)")
    return {
        "startup_ms": startup * 1000,
        "tick_ms": tick * 1000,
        "idle_tick_ms": idle * 1000,
        "queued": len(queued),
        "rss_mb": rss,
    }


def main(couples: int, due: int) -> dict[str, Any]:
    return asyncio.run(run(couples, due))
