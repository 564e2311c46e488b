"""The database locked by someone else for longer than the busy timeout.

Another connection (a backup, an admin's sqlite3 shell) holds the write lock. The update
must fail cleanly: a kind reply, nothing half-written; once the lock is gone, the same
press (or Telegram's redelivery of the same update) works.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import bot.db
from playground.sim import Person, World
from tests.helpers import invite_token

KIND_ERROR = "Sorry, something went wrong on my side"


@contextmanager
def write_locked(world: World) -> Iterator[None]:
    other = sqlite3.connect(world.db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def table_count(world: World, sql: str) -> int:
    with sqlite3.connect(world.db_path) as conn:
        return int(conn.execute(sql).fetchone()[0])


@pytest.fixture
async def quick_busy(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """Give up on a lock after 20 ms instead of 5 s, so the test does not wait."""
    monkeypatch.setattr(bot.db, "BUSY_TIMEOUT_MS", 20)
    await world.restart()
    return world


async def test_locked_database_fails_kindly_then_works(
    quick_busy: World, alice: Person, bob: Person
) -> None:
    world = quick_busy
    await world.send(alice, "/start")
    token = invite_token(world, alice)
    await world.send(bob, f"/start {token}")
    alice_before = list(world.texts(alice.id))
    invite, yes = world.find_button(bob.id, "Yes, pair us")

    world.raise_errors = False
    with write_locked(world):
        await world.press(bob, "Yes, pair us")
    # The press got a kind alert, and the failure was recorded (ids only, see logging test).
    assert any(isinstance(e, sqlite3.OperationalError) for e in world.errors)
    world.errors.clear()
    world.raise_errors = True
    answers = world.api.calls_of("answerCallbackQuery")
    assert KIND_ERROR in answers[-1].params.get("text", "")
    # Nothing half-written: no couple, no member, nothing owed to Alice, no seen update.
    assert table_count(world, "SELECT COUNT(*) FROM couples") == 0
    assert table_count(world, "SELECT COUNT(*) FROM members") == 0
    assert world.texts(alice.id) == alice_before

    # Telegram redelivers the same update (or Bob presses again): now it pairs, once.
    await world.redeliver()
    assert table_count(world, "SELECT COUNT(*) FROM couples") == 1
    assert table_count(world, "SELECT COUNT(*) FROM members") == 2
    # A second press of the (now old) button changes nothing.
    await world.press_data(bob, yes["callback_data"], bob.id, invite.message_id)
    assert table_count(world, "SELECT COUNT(*) FROM couples") == 1
    assert sum("accepted your invite" in t for t in world.texts(alice.id)) == 1


async def test_locked_database_on_a_message_gets_a_kind_reply(
    quick_busy: World, alice: Person
) -> None:
    world = quick_busy
    world.raise_errors = False
    with write_locked(world):
        await world.send(alice, "/start")
    world.errors.clear()
    world.raise_errors = True
    assert world.texts(alice.id) and KIND_ERROR in world.last_text(alice.id)
    assert table_count(world, "SELECT COUNT(*) FROM users WHERE id != 0") == 0
    await world.send(alice, "/start")  # the retry works
    assert invite_token(world, alice)
