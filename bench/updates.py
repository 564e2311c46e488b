"""Benchmark 1: N couples answering their check-in at once, Trellis vs a bare PTB bot.

Both partners of every couple press a score on their open check-in question at the same
moment: 2N callback queries go through the application's update queue (as polling or a
webhook would put them) and its update processor, against a fake Bot API that takes
`latency` seconds per call. The bare bot gets the same updates through the same queue
and fake API and makes, for each update, exactly the Bot API calls Trellis made for it
(answerCallbackQuery, editMessageText, sendMessage...) with the same fields, with no
storage and no logic.

The two run interleaved (`runs` times each, alternating which goes first) and the
figures are medians with their ranges: on a shared machine a single rate moves by ±20%.
CPU per update (process time over the burst) is the steadier figure.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, TypeHandler

from bench.harness import (
    NOW,
    RoundTrips,
    TimedAPI,
    TimedLock,
    TimedOrdered,
    TimedSimple,
    pct,
    seed,
    spread,
    user_ids,
)
from bot.app import TRELLIS_DEFAULTS
from bot.clock import ManualClock
from handlers.ratelimit import TrellisRateLimiter
from playground.fakeapi import BOT_ID
from playground.sim import TEST_TOKEN, World

RUNNING = 256  # handlers running at once, for both bots


# The storage layer warns of each loop transaction over 5 ms; here they are counted instead.
logging.getLogger("bot.db").setLevel(logging.ERROR)


def limiter() -> TrellisRateLimiter:
    # Per-private-chat limit on (it is ours); the global 30/s would measure Telegram, not us.
    return TrellisRateLimiter(overall_max_rate=0, group_max_rate=0)


def press(update_id: int, user: int, chat: int, message_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": {"id": user, "is_bot": False, "first_name": "U"},
            "chat_instance": str(chat),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(NOW.timestamp()),
                "chat": {"id": chat, "type": "private", "first_name": "U"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Trellis"},
                "text": "…",
            },
        },
    }


class Burst:
    """Process-wide costs of one burst: wall time, CPU time, voluntary context switches."""

    def __enter__(self) -> Burst:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - self.switches


async def trellis(couples: int, latency: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        await seed(db_path, couples, due=couples, now=int(NOW.timestamp()))
        return await _trellis(db_path, couples, latency)


async def _trellis(db_path: Path, couples: int, latency: float) -> dict[str, Any]:
    api = TimedAPI()
    world = World(db_path=db_path, clock=ManualClock(NOW), api=api, rate_limiter=limiter())
    await world.start()
    assert world.app is not None
    while True:  # open every check-in (instant API while setting up)
        before = len(api.calls)
        await world.tick()
        if len(api.calls) == before:
            break
    updates: list[dict[str, Any]] = []
    for c in range(couples):
        for user in user_ids(c):
            sent, button = world.find_button(user, "4")
            updates.append(
                press(len(updates) + 1, user, user, sent.message_id, button["callback_data"])
            )
    # The check-ins opened hours ago: a restart gives fresh per-chat rate-limit buckets.
    world.rate_limiter = limiter()
    await world.restart()
    assert world.app is not None
    # The real processor, timed; the app's own one is swapped before the app starts.
    processor = TimedOrdered(max_running=RUNNING)
    world.app._update_processor = processor
    lock = TimedLock()
    db = world.app.bot_data["services"].core.db
    db._lock = lock
    slow_before = getattr(db, "stats", None) and db.stats.slow
    api.latency = latency
    await world.app.start()
    with RoundTrips() as trips, Burst() as burst:
        for data in updates:
            await world.app.update_queue.put(Update.de_json(data, world.app.bot))
        await world.app.update_queue.join()
    await world.app.stop()
    slow = (db.stats.slow - slow_before) if slow_before is not None else float("nan")
    world.check_errors()
    await world.stop()
    methods = {
        u["update_id"]: list(
            zip(
                processor.records[u["update_id"]].methods,
                processor.records[u["update_id"]].params,
                strict=True,
            )
        )
        for u in updates
    }
    return {
        "burst": burst,
        "records": processor.records,
        "updates": updates,
        "methods": methods,
        "lock": lock,
        "trips": trips.count,
        "slow": slow,
        "api": api,
    }


async def bare(
    updates: list[dict[str, Any]],
    methods: dict[int, list[tuple[str, dict[str, Any]]]],
    api: TimedAPI,
) -> dict[str, Any]:
    """The bare bot, on the fake API Trellis used (it knows the messages to edit)."""
    processor = TimedSimple(RUNNING)

    async def same_calls(update: Update, context: Any) -> None:
        """Exactly the Bot API calls Trellis made for this update, with the same texts,
        buttons and optional fields (so both bots pay PTB the same to build requests and
        parse answers)."""
        query = update.callback_query
        assert query is not None and query.message is not None
        chat_id, message_id = query.message.chat.id, query.message.message_id
        for method, params in methods[update.update_id]:
            markup = params.get("reply_markup")
            keyboard = InlineKeyboardMarkup.de_json(markup, context.bot) if markup else None
            if method == "answerCallbackQuery":
                await query.answer(params.get("text"), show_alert=params.get("show_alert"))
            elif method == "editMessageText":
                await context.bot.edit_message_text(
                    params["text"], chat_id=chat_id, message_id=message_id, reply_markup=keyboard
                )
            else:
                await context.bot.send_message(
                    chat_id,
                    params["text"],
                    reply_markup=keyboard,
                    protect_content=params.get("protect_content"),
                )

    app = (
        ApplicationBuilder()
        .token(TEST_TOKEN)
        .request(api)
        .get_updates_request(api)
        .rate_limiter(limiter())
        .defaults(TRELLIS_DEFAULTS)  # the same parse mode and link options as Trellis
        .concurrent_updates(processor)
        .build()
    )
    app.add_handler(TypeHandler(Update, same_calls))
    await app.initialize()
    await app.start()
    with Burst() as burst:
        for data in updates:
            await app.update_queue.put(Update.de_json(data, app.bot))
        await app.update_queue.join()
    await app.stop()
    await app.shutdown()
    return {"burst": burst, "records": processor.records}


def figures(run: dict[str, Any], n: int, latency: float) -> dict[str, float]:
    records = run["records"].values()
    own = [r.own(latency) * 1000 for r in records]
    inside = [(r.total - r.api) * 1000 for r in records]  # the old figure: all API time out
    burst: Burst = run["burst"]
    out = {
        "rate": n / burst.wall,
        "p50": pct(own, 50),
        "p99": pct(own, 99),
        "in50": pct(inside, 50),
        "in99": pct(inside, 99),
        "cpu_ms": burst.cpu * 1000 / n,
        "switches": burst.switches / n,
        "calls": sum(len(r.methods) for r in records) / max(1, len(records)),
    }
    if "lock" in run:
        lock: TimedLock = run["lock"]
        out["lock_share"] = lock.held / burst.wall
        out["lock_per_update_ms"] = lock.held * 1000 / n
        out["lock_longest_ms"] = lock.longest * 1000
        out["trips"] = run["trips"] / n
        out["slow"] = run["slow"]
    return out


def line(name: str, f: dict[str, float]) -> str:
    text = (
        f"  {name:8} {f['rate']:7.1f} updates/s  handling p50 {f['p50']:6.2f} ms "
        f"p99 {f['p99']:7.2f} ms  CPU {f['cpu_ms']:.2f} ms/update  "
        f"{f['switches']:.1f} ctx switches/update\n"
        f"           (excluding all time inside API calls: p50 {f['in50']:.2f} ms "
        f"p99 {f['in99']:.2f} ms)"
    )
    if "lock_share" in f:
        text += (
            f"\n           lock held {f['lock_share']:.0%} of the burst, "
            f"{f['lock_per_update_ms']:.3f} ms/update, longest {f['lock_longest_ms']:.1f} ms; "
            f"{f['trips']:.2f} round trips to the db thread/update; "
            f"{f['slow']:.0f} loop transactions over 5 ms"
        )
    return text


def same_fields(a: dict[int, Any], b: dict[int, Any]) -> bool:
    """Both bots made the same calls with the same parameter names for every update."""
    return all(
        [(m, sorted(p)) for m, p in zip(a[k].methods, a[k].params, strict=True)]
        == [(m, sorted(p)) for m, p in zip(b[k].methods, b[k].params, strict=True)]
        for k in a
    )


async def run(couples: int, latency: float, runs: int = 5) -> dict[str, Any]:
    n = 2 * couples
    print(
        f"1. updates: {couples} couples, {n} presses at once, fake API latency {latency:.3f} s, "
        f"{runs} interleaved runs"
    )
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    first = await trellis(couples, latency)
    ours.append(figures(first, n, latency))
    print(line("trellis", ours[-1]))
    same = True
    for i in range(runs):
        order = ["bare", "trellis"] if i % 2 == 0 else ["trellis", "bare"]
        for who in order:
            if who == "trellis":
                if i == 0:
                    continue  # the first Trellis run above gave the calls to copy
                ours.append(figures(await trellis(couples, latency), n, latency))
                print(line("trellis", ours[-1]))
            else:
                got = await bare(first["updates"], first["methods"], first["api"])
                same = same and same_fields(first["records"], got["records"])
                theirs.append(figures(got, n, latency))
                print(line("bare PTB", theirs[-1]))
    ratios = [a["rate"] / b["rate"] for a, b in zip(ours, theirs, strict=True)]
    cpu = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(ours, theirs, strict=True)]

    def med(rows: list[dict[str, float]], key: str, fmt: str = "{:.2f}") -> str:
        return spread([r[key] for r in rows], fmt)

    print(f"  same calls and fields in both bots: {'yes' if same else 'NO'}")
    print("  medians (min–max) of the runs:")
    print(
        f"    updates/s   trellis {med(ours, 'rate', '{:.0f}')}  "
        f"bare {med(theirs, 'rate', '{:.0f}')}"
    )
    print(f"    ratio trellis / bare: {spread(ratios)} (target >= 0.8)")
    print(
        f"    handling p50 trellis {med(ours, 'p50')} ms  bare {med(theirs, 'p50')} ms; "
        f"p99 trellis {med(ours, 'p99')} ms (target < 50)  bare {med(theirs, 'p99')} ms"
    )
    print(
        f"    excluding all time inside API calls: p50 trellis {med(ours, 'in50')} ms "
        f"bare {med(theirs, 'in50')} ms; p99 trellis {med(ours, 'in99')} ms "
        f"bare {med(theirs, 'in99')} ms"
    )
    print(
        f"    CPU per update trellis {med(ours, 'cpu_ms', '{:.3f}')} ms  "
        f"bare {med(theirs, 'cpu_ms', '{:.3f}')} ms; trellis / bare {spread(cpu)} "
        "(target <= 1.4)"
    )
    print(
        f"    lock held {med(ours, 'lock_share', '{:.0%}')} of the burst, longest hold "
        f"{med(ours, 'lock_longest_ms', '{:.1f}')} ms; round trips to the db thread "
        f"{med(ours, 'trips')}/update"
    )
    return {
        "ratio": statistics.median(ratios),
        "cpu_ratio": statistics.median(cpu),
        "trellis": ours,
        "bare": theirs,
    }


def main(couples: int, latency: float, runs: int = 5) -> dict[str, Any]:
    return asyncio.run(run(couples, latency, runs))
