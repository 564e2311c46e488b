"""Benchmark 3: fan-out of due check-ins through the rate limiter.

`couples` check-ins fall due at once. The sweeps open them all (queueing an intro and
the first question to each partner: four messages a couple), then the outbox drains
through `TrellisRateLimiter` with Telegram-like limits against the fake Bot API
(`latency` per call). Reports messages/s against the configured global ceiling,
duplicates (a chat got a message twice) and losses (an owed message never arrived).

Telegram's real ceiling is 30 messages/s; 20,000 messages at 30/s take 11 minutes, so
by default the ceiling is scaled up (`--ceiling`, 500/s) to keep the run short. The
per-private-chat bucket (1/s, burst 3) is Telegram's and stays as it is.

`--parallel` is `OUTBOX_PARALLEL_SENDS`, the sends in flight at once. The default, 1,
keeps delivery's promise of at most one repeated message per crash (Telegram has no
idempotency key) and caps the rate at one message per API round trip; `make bench` runs
it on a small fan-out, and again with 64 in flight to show the ceiling an operator can
reach by accepting up to 64 repeats per crash.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import NOW, seed, user_ids
from bot.clock import ManualClock
from bot.services import Services
from handlers.common import flush
from handlers.ratelimit import TrellisRateLimiter
from playground.fakeapi import FakeBotAPI
from playground.sim import World


async def run(couples: int, ceiling: float, latency: float, parallel: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        await seed(db_path, couples, due=couples, now=int(NOW.timestamp()))
        api = FakeBotAPI(latency=latency)
        world = World(
            db_path=db_path,
            clock=ManualClock(NOW),
            api=api,
            rate_limiter=TrellisRateLimiter(overall_max_rate=ceiling, max_retries=5),
            settings_overrides={"outbox_parallel_sends": parallel},
        )
        await world.start()
        assert world.app is not None
        services: Services = world.app.bot_data["services"]
        started = time.perf_counter()
        queued = 0
        while True:
            opened = await services.sweep()
            if not opened:
                break
            queued += len(opened)
        sweeps = time.perf_counter() - started

        started = time.perf_counter()
        sent = await flush(world.app.bot, services)
        elapsed = time.perf_counter() - started
        pending = await services.outbox.pending_count()
        world.check_errors()
        await world.stop()

    sends = api.calls_of("sendMessage")
    per_message = Counter((int(c.params["chat_id"]), c.params["text"]) for c in sends)
    duplicates = sum(n - 1 for n in per_message.values() if n > 1)
    per_chat = Counter(int(c.params["chat_id"]) for c in sends)
    expected_per_chat = queued // (2 * couples) if couples else 0
    lost = sum(max(0, expected_per_chat - per_chat.get(chat, 0)) for chat in _chats(couples))
    span = (sends[-1].at - sends[0].at) if len(sends) > 1 else elapsed
    rate = (len(sends) - 1) / span if span > 0 else float("nan")
    # The limiter's bucket starts full (one second's worth goes out at once, as Telegram
    # tolerates); the steady rate is measured after that first burst.
    skip = int(ceiling)
    steady = (
        (len(sends) - skip - 1) / (sends[-1].at - sends[skip].at)
        if len(sends) > skip + 1 and sends[-1].at > sends[skip].at
        else rate
    )
    print(
        f"3. fan-out: {couples} due check-ins, {queued} messages owed, ceiling {ceiling:.0f}/s "
        f"(Telegram: 30/s), fake API latency {latency:.3f} s, {parallel} send(s) in flight"
        + (" (the default: at most one repeat per crash)" if parallel == 1 else "")
    )
    print(f"  sweeps opening them (not sending): {sweeps:.2f} s")
    print(
        f"  drained {sent} in {elapsed:.2f} s: {rate:.1f} msg/s overall; steady after the "
        f"first burst {steady:.1f} msg/s = {100 * steady / ceiling:.1f}% of the ceiling "
        + (
            "(target >= 95%)"
            if parallel > 1
            else f"(one round trip at a time: at most {1 / latency:.0f}/s)"
        )
    )
    print(f"  duplicates {duplicates}, lost {lost}, still pending {pending}")
    return {
        "queued": queued,
        "sent": sent,
        "rate": rate,
        "steady": steady,
        "ceiling": ceiling,
        "share": steady / ceiling,
        "duplicates": duplicates,
        "lost": lost,
        "pending": pending,
        "sweeps_s": sweeps,
    }


def _chats(couples: int) -> list[int]:
    return [u for c in range(couples) for u in user_ids(c)]


def main(couples: int, ceiling: float, latency: float, parallel: int = 1) -> dict[str, Any]:
    return asyncio.run(run(couples, ceiling, latency, parallel))
