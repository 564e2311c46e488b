"""Benchmark 1: N couples answering their check-in at once, Trellis vs a bare PTB bot.

Both partners of every couple press a score on their open check-in question at the same
moment: 2N callback queries go through the application's update queue (as polling or a
webhook would put them) and its update processor, against a fake Bot API that takes
`latency` seconds per call. The bare bot gets the same updates through the same queue
and fake API and makes, for each update, exactly the Bot API calls Trellis made for it
(answerCallbackQuery, editMessageText, sendMessage...), with no storage and no logic.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, TypeHandler

from bench.harness import NOW, TimedAPI, TimedOrdered, TimedSimple, pct, seed, user_ids
from bot.app import TRELLIS_DEFAULTS
from bot.clock import ManualClock
from handlers.ratelimit import TrellisRateLimiter
from playground.fakeapi import BOT_ID
from playground.sim import TEST_TOKEN, World

RUNNING = 256  # handlers running at once, for both bots


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


async def trellis(db_path: Path, couples: int, latency: float) -> dict[str, Any]:
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
    api.latency = latency
    await world.app.start()
    started = time.perf_counter()
    for data in updates:
        await world.app.update_queue.put(Update.de_json(data, world.app.bot))
    await world.app.update_queue.join()
    elapsed = time.perf_counter() - started
    await world.app.stop()
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
        "elapsed": elapsed,
        "records": processor.records,
        "updates": updates,
        "methods": methods,
        "api": api,
    }


async def bare(
    updates: list[dict[str, Any]],
    methods: dict[int, list[tuple[str, dict[str, Any]]]],
    api: TimedAPI,
) -> Any:
    processor = TimedSimple(RUNNING)

    async def same_calls(update: Update, context: Any) -> None:
        """Exactly the Bot API calls Trellis made for this update, with the same texts and
        buttons (so both bots pay PTB the same to build requests and parse answers)."""
        query = update.callback_query
        assert query is not None and query.message is not None
        chat_id, message_id = query.message.chat.id, query.message.message_id
        for method, params in methods[update.update_id]:
            markup = params.get("reply_markup")
            keyboard = InlineKeyboardMarkup.de_json(markup, context.bot) if markup else None
            if method == "answerCallbackQuery":
                await query.answer(params.get("text"))
            elif method == "editMessageText":
                await context.bot.edit_message_text(
                    params["text"], chat_id=chat_id, message_id=message_id, reply_markup=keyboard
                )
            else:
                await context.bot.send_message(chat_id, params["text"], reply_markup=keyboard)

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
    started = time.perf_counter()
    for data in updates:
        await app.update_queue.put(Update.de_json(data, app.bot))
    await app.update_queue.join()
    elapsed = time.perf_counter() - started
    await app.stop()
    await app.shutdown()
    return {"elapsed": elapsed, "records": processor.records}


def summary(name: str, run: dict[str, Any], n: int) -> dict[str, float]:
    own = [r.own * 1000 for r in run["records"].values()]
    calls = sum(len(r.methods) for r in run["records"].values())
    figures = {
        "updates_per_s": n / run["elapsed"],
        "p50_ms": pct(own, 50),
        "p99_ms": pct(own, 99),
        "api_calls_per_update": calls / max(1, len(run["records"])),
    }
    print(
        f"  {name:8} {figures['updates_per_s']:8.1f} updates/s   handling excl. API: "
        f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:7.2f} ms   "
        f"({figures['api_calls_per_update']:.1f} API calls/update, {run['elapsed']:.2f} s)"
    )
    return figures


async def run(couples: int, latency: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        await seed(db_path, couples, due=couples, now=int(NOW.timestamp()))
        ours = await trellis(db_path, couples, latency)
    n = len(ours["updates"])
    print(f"1. updates: {couples} couples, {n} presses at once, fake API latency {latency:.3f} s")
    ours["api"].latency = latency
    theirs = await bare(ours["updates"], ours["methods"], ours["api"])
    a = summary("trellis", ours, n)
    b = summary("bare PTB", theirs, n)
    ratio = a["updates_per_s"] / b["updates_per_s"]
    print(f"  ratio trellis / bare: {ratio:.2f} (target >= 0.7)")
    return {"trellis": a, "bare": b, "ratio": ratio}


def main(couples: int, latency: float) -> dict[str, Any]:
    return asyncio.run(run(couples, latency))
