"""What the three benchmarks share: a seeded database, a timed fake Bot API, timed processors.

Handling time is measured per update: the time its handlers ran, minus the fake API's
sleep for each call it made (`latency` × calls). The time an update waits for the loop
to come back to it after a call (a saturated loop) counts as handling, for both bots.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import statistics
import time
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiosqlite
from telegram import Update
from telegram.ext import SimpleUpdateProcessor

from bot.db import Database
from handlers.processor import OrderedUpdateProcessor
from playground.fakeapi import FakeBotAPI

ZONES = [
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/Azores",
    "Africa/Lagos",
    "Africa/Johannesburg",
]
NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # a Sunday evening in Europe
FIRST_USER = 10_000_000


def user_ids(couple: int) -> tuple[int, int]:
    return FIRST_USER + 2 * couple, FIRST_USER + 2 * couple + 1


async def migrate(db_path: Path) -> None:
    db = Database(db_path)
    await db.open()
    await db.close()


async def seed(db_path: Path, couples: int, due: int, now: int) -> None:
    """`couples` active couples across many zones; the first `due` are due at `now`,
    the rest spread over the coming week. Written with plain sqlite3 in one transaction."""
    await migrate(db_path)
    week = 7 * 24 * 3600
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    users = []
    rows = []
    members = []
    for c in range(couples):
        a, b = user_ids(c)
        users += [(a, f"A{c}", 1, 1, now), (b, f"B{c}", 1, 1, now)]
        due_at = now - 60 if c < due else now + 60 + (c * week) // couples
        zone = ZONES[c % len(ZONES)]
        rows.append((c + 1, a, b, "active", zone, c % 7, f"{c % 24:02d}:00", due_at, now))
        members += [(a, c + 1), (b, c + 1)]
    conn.executemany(
        "INSERT INTO users (id, first_name, private_chat, reachable, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        users,
    )
    conn.executemany(
        "INSERT INTO couples (id, user_a, user_b, stage, timezone, weekday, local_time, "
        "next_due_at, reveal_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'private', ?)",
        rows,
    )
    conn.executemany("INSERT INTO members (user_id, couple_id) VALUES (?, ?)", members)
    conn.execute("COMMIT")
    conn.close()


@dataclass
class Record:
    """One update's handling: wall time, time inside Bot API calls, the calls it made."""

    total: float = 0.0
    api: float = 0.0
    methods: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)  # what each call carried

    def own(self, latency: float) -> float:
        """Handling: all the update's time but the fake API's sleep."""
        return self.total - latency * len(self.methods)


CURRENT: ContextVar[Record | None] = ContextVar("bench_record", default=None)


class TimedAPI(FakeBotAPI):
    """The fake Bot API, charging each call's time to the update that made it."""

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        record = CURRENT.get()
        request_data = kwargs.get("request_data", args[0] if args else None)
        started = time.perf_counter()
        try:
            return await super().do_request(url, method, *args, **kwargs)
        finally:
            if record is not None:
                record.api += time.perf_counter() - started
                record.methods.append(url.rsplit("/", 1)[-1])
                record.params.append(dict(request_data.parameters) if request_data else {})


async def timed(coroutine: Awaitable[Any], records: dict[int, Record], update: object) -> None:
    record = Record()
    token = CURRENT.set(record)
    started = time.perf_counter()
    try:
        await coroutine
    finally:
        record.total = time.perf_counter() - started
        CURRENT.reset(token)
        if isinstance(update, Update):
            records[update.update_id] = record


class TimedOrdered(OrderedUpdateProcessor):
    """Trellis's processor, timing each update once it is allowed to run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records: dict[int, Record] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await super().do_process_update(update, timed(coroutine, self.records, update))


class TimedSimple(SimpleUpdateProcessor):
    """PTB's own concurrent processor (no ordering), timed the same way."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self.records: dict[int, Record] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await timed(coroutine, self.records, update)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class TimedLock(asyncio.Lock):
    """`Database`'s lock, timing how long it is held (works on any version of bot/db.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0.0
        self.longest = 0.0
        self.times = 0
        self._since = 0.0

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self._since = time.perf_counter()
        return True

    def release(self) -> None:
        held = time.perf_counter() - self._since
        self.held += held
        self.longest = max(self.longest, held)
        self.times += 1
        super().release()


class RoundTrips:
    """Counts functions handed to aiosqlite's thread while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._original = aiosqlite.Connection._execute

    def __enter__(self) -> RoundTrips:
        original = self._original

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(conn, fn, *args, **kwargs)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        aiosqlite.Connection._execute = self._original  # type: ignore[method-assign]


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """'median (min–max)' of repeated runs."""
    if not values:
        return "—"
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(lo)}–{fmt.format(hi)})"


def rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
