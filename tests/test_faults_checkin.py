"""Check-ins under faults: duplicates, a crash between commit and send, duplicate sweeps
across a restart, and 429s while many couples' check-ins open at once.

Each shows nothing lost and nothing doubled.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from handlers.ratelimit import TrellisRateLimiter
from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite

DUE = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday 19:00 in Berlin
INTRO = "It's check-in time"


def count(world: World, sql: str) -> int:
    with sqlite3.connect(world.db_path) as conn:
        return int(conn.execute(sql).fetchone()[0])


def intros(world: World, who: Person) -> int:
    return sum(INTRO in t for t in world.texts(who.id))


async def test_duplicate_press_is_answered_once(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "4")
    after_first = list(world.texts(alice.id))
    await world.redeliver()  # Telegram sends the same press again
    assert world.texts(alice.id) == after_first
    assert count(world, "SELECT COUNT(*) FROM answers") == 1


async def test_sweep_twice_and_across_a_restart_opens_once(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(DUE)
    await world.tick()
    await world.tick()
    await world.restart()
    await world.tick()
    assert intros(world, alice) == 1 and intros(world, bob) == 1
    assert count(world, "SELECT COUNT(*) FROM checkins") == 1


async def test_crash_between_commit_and_send_is_sent_once_after_restart(
    world: World, alice: Person, bob: Person
) -> None:
    """The sweep committed the check-in and its messages, then sending failed (the process
    died, the network went away): the restart sends what is owed, once."""
    await pair_by_invite(world, alice, bob)
    world.clock.set(DUE)
    outage = Fault("sendMessage", "network", times=1000)
    world.api.faults.append(outage)
    await world.tick()
    assert intros(world, alice) == 0 and intros(world, bob) == 0
    assert count(world, "SELECT COUNT(*) FROM checkins") == 1
    outage.times = 0
    await world.restart()  # post_init sends what the outbox still owes
    assert intros(world, alice) == 1 and intros(world, bob) == 1
    await world.tick()
    assert intros(world, alice) == 1 and intros(world, bob) == 1


async def test_429_while_many_check_ins_open(tmp_path: Path) -> None:
    world = World(
        db_path=tmp_path / "db.sqlite3",
        rate_limiter=TrellisRateLimiter(
            overall_max_rate=0, group_max_rate=0, private_max_rate=0, max_retries=0
        ),
    )
    await world.start()
    try:
        people = []
        for n in range(6):
            a, b = world.person(2000 + 2 * n, f"A{n}"), world.person(2001 + 2 * n, f"B{n}")
            await pair_by_invite(world, a, b)
            people += [a, b]
        for p in people[::2]:
            world.api.faults.append(Fault("sendMessage", "retry_after", chat_id=p.id))
        world.clock.set(DUE)
        await world.tick()
        assert any(intros(world, p) == 0 for p in people)  # some were throttled
        await world.tick()
        await world.tick()
        assert all(intros(world, p) == 1 for p in people)
        for p in people:  # the intro and the first question travel as one message
            assert INTRO in world.texts(p.id)[-1] and "1/" in world.texts(p.id)[-1]
        assert count(world, "SELECT COUNT(*) FROM checkins") == 6
        assert count(world, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == 0
    finally:
        await world.stop()
