"""The storage layer (bot/db.py): where transactions run, what they wait for, what they log.

Short transactions run synchronously on the event loop, on the sqlite3 connection that
aiosqlite owns; long ones run as one job on aiosqlite's thread. A SQLite function that
returns the calling thread's id tells where a statement really ran.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

import bot.checkins
import bot.db
from bot.db import Conn, Database
from playground.sim import Person, World
from tests.helpers import pair_by_invite

DUE = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday 19:00 in Berlin


def wal_size(world: World) -> int:
    return os.path.getsize(f"{world.db_path}-wal")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "s.sqlite3")
    await database.open()
    database.raw.create_function("thread_id", 0, threading.get_ident)
    yield database
    await database.close()


def test_the_aiosqlite_we_rely_on() -> None:
    """bot/db.py uses aiosqlite's `Connection._conn` and `Connection._execute`: private,
    so the version is pinned in pyproject.toml; a new version must pass this first."""
    from importlib.metadata import version

    assert version("aiosqlite") == "0.22.1"
    assert isinstance(aiosqlite.Connection._conn, property)
    assert asyncio.iscoroutinefunction(aiosqlite.Connection._execute)


async def test_short_transactions_run_on_the_loop_long_ones_on_the_db_thread(
    db: Database,
) -> None:
    loop_thread = threading.get_ident()
    async with db.tx() as conn:
        row = await conn.fetch_one("SELECT thread_id()")
    assert row is not None and row[0] == loop_thread

    async def work(conn: Conn, value: int) -> tuple[int, int]:
        await conn.execute("CREATE TABLE t (v INTEGER)")
        await conn.execute("INSERT INTO t VALUES (?)", (value,))
        got = await conn.fetch_one("SELECT thread_id(), v FROM t")
        assert got is not None
        return got[0], got[1]

    where, value = await db.job(work, 7)
    assert where != loop_thread and value == 7
    async with db.tx() as conn:
        rows = await conn.fetch_all("SELECT v FROM t")
    assert [r["v"] for r in rows] == [7]


async def test_a_job_is_one_transaction(db: Database) -> None:
    async with db.tx() as conn:
        await conn.execute("CREATE TABLE t (v INTEGER)")

    async def fails(conn: Conn) -> None:
        await conn.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")

    async def waits(conn: Conn) -> None:
        await conn.execute("INSERT INTO t VALUES (2)")
        await asyncio.sleep(0)  # not the database: a job may not do this

    with pytest.raises(ValueError):
        await db.job(fails)
    with pytest.raises(RuntimeError, match="only the database"):
        await db.job(waits)
    async with db.tx() as conn:
        assert await conn.fetch_all("SELECT v FROM t") == []


async def test_the_loop_never_waits_inside_sqlite_for_another_process(db: Database) -> None:
    async with db.tx() as conn:
        timeout = await conn.fetch_one("PRAGMA busy_timeout")
        autocheckpoint = await conn.fetch_one("PRAGMA wal_autocheckpoint")
        await conn.execute("CREATE TABLE t (v INTEGER)")
    assert timeout is not None and timeout[0] == 0
    assert autocheckpoint is not None and autocheckpoint[0] == 0

    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async def write() -> None:
        async with db.tx() as conn:
            await conn.execute("INSERT INTO t VALUES (1)")

    running = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.1)
    assert not writing.done() and ticks > 10  # the loop went on while the write waited
    other.execute("ROLLBACK")
    other.close()
    await asyncio.wait_for(writing, 5)
    running.cancel()
    assert db.stats.busy_retries > 0
    async with db.tx() as conn:
        assert len(await conn.fetch_all("SELECT v FROM t")) == 1


async def test_a_slow_loop_transaction_is_logged_with_ids_only(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.tx() as conn:
        await conn.execute("CREATE TABLE t (v TEXT)")
    monkeypatch.setattr(bot.db, "SLOW_LOOP_TX", 0.0)
    with caplog.at_level(logging.WARNING, logger="bot.db"):
        async with db.tx() as conn:
            await conn.execute("INSERT INTO t VALUES (?)", ("a private sentence",))
    slow = [r.getMessage() for r in caplog.records if "slow transaction" in r.getMessage()]
    assert len(slow) == 1
    assert "test_a_slow_loop_transaction_is_logged_with_ids_only" in slow[0]
    assert "private sentence" not in slow[0] and "INSERT" not in slow[0]


async def test_the_sweep_checkpoints_the_wal_and_bounds_it(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pair_by_invite(world, alice, bob)
    assert wal_size(world) > 0
    assert world.app is not None
    db: Database = world.app.bot_data["services"].core.db
    seen: list[tuple[int, int, int]] = []
    checkpoint = db.checkpoint

    async def spy() -> tuple[int, int, int]:
        seen.append(await checkpoint())
        return seen[-1]

    monkeypatch.setattr(db, "checkpoint", spy)
    await world.tick()
    assert len(seen) == 1 and seen[0][1] == seen[0][2] > 0  # every frame copied back
    # Past the bound the checkpoint truncates the WAL to nothing.
    monkeypatch.setattr(bot.db, "WAL_LIMIT_BYTES", 1)
    await world.send(alice, "/status")
    await world.tick()
    assert wal_size(world) == 0


async def test_due_couples_open_in_chunks(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol, dave = world.person(303, "Carol"), world.person(404, "Dave")
    await pair_by_invite(world, alice, bob)
    await pair_by_invite(world, carol, dave)
    monkeypatch.setattr(bot.checkins, "OPEN_CHUNK", 1)
    assert world.app is not None
    db: Database = world.app.bot_data["services"].core.db
    jobs = db.stats.jobs
    world.clock.set(DUE)
    await world.tick()
    for who in (alice, bob, carol, dave):
        assert world.said(who.id, "It's check-in time")
    # one job per couple, one that found none left, then reminders and closing
    assert db.stats.jobs - jobs >= 4


def outbox_bodies(world: World) -> dict[str, bytes]:
    with sqlite3.connect(world.db_path) as conn:
        return dict(conn.execute("SELECT key, body FROM outbox WHERE key LIKE 'ci:%:open:%'"))


async def test_a_question_is_owed_by_reference_and_rendered_at_send(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(DUE)
    assert world.app is not None
    await world.app.bot_data["services"].sweep()  # opened and owed, not sent yet
    bodies = outbox_bodies(world)
    assert len(bodies) == 2
    for body in bodies.values():
        assert body.startswith(b'{"ref": "checkin.question"')
        assert b"check-in time" not in body and b"1/5" not in body  # no rendered text
    await world.tick()
    for who in (alice, bob):
        assert world.said(who.id, "It's check-in time") and "1/5" in world.last_text(who.id)


async def test_a_removed_question_fails_its_row_alone(
    world: World, alice: Person, bob: Person
) -> None:
    carol, dave = world.person(303, "Carol"), world.person(404, "Dave")
    await pair_by_invite(world, alice, bob)
    await pair_by_invite(world, carol, dave)
    world.clock.set(DUE)
    assert world.app is not None
    await world.app.bot_data["services"].sweep()
    # The content changed since the sweep: Alice's question is no longer in the bank.
    with sqlite3.connect(world.db_path) as conn:
        key, body = conn.execute(
            "SELECT key, body FROM outbox WHERE key LIKE ?", (f"ci:%:open:{alice.id}",)
        ).fetchone()
        data = json.loads(body)
        data["args"]["qid"] = "a-question-since-removed"
        conn.execute("UPDATE outbox SET body = ? WHERE key = ?", (json.dumps(data).encode(), key))
    await world.tick()
    assert not world.said(alice.id, "It's check-in time")
    for who in (bob, carol, dave):
        assert world.said(who.id, "It's check-in time")
    with sqlite3.connect(world.db_path) as conn:
        failed = conn.execute("SELECT key, failed, body FROM outbox WHERE failed IS NOT NULL")
        assert failed.fetchall() == [(key, "unrenderable", None)]


async def test_export_and_erasure_run_off_the_loop(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pair_by_invite(world, alice, bob)
    assert world.app is not None
    db: Database = world.app.bot_data["services"].core.db
    ran: list[str] = []
    job = db.job

    async def spy(fn: Any, *args: Any) -> Any:
        ran.append(fn.__name__)
        return await job(fn, *args)

    monkeypatch.setattr(db, "job", spy)
    await world.send(alice, "/export")
    assert world.api.calls_of("sendDocument")
    await world.send(alice, "/deletedata")
    await world.press(alice, "Yes, erase everything")
    assert "Everything you wrote here is erased" in world.last_text(alice.id)
    assert "_gather" in ran and "_erase" in ran
