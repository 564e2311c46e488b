"""An update is marked handled in its handler's own transaction (issue 11, items 6-7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
import pytest

from playground.fakeapi import Fault, ProcessKilled
from playground.sim import Person, World
from tests.helpers import pair_by_invite, state
from tests.test_faults_sends import services


async def test_a_crash_before_the_handler_commits_lets_the_redelivery_run(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: the mark autocommitted before the handler, so Telegram's redelivery after a
    crash was dropped and the press was lost without a word."""
    await world.send(alice, "/start")
    from tests.helpers import invite_token

    await world.send(bob, f"/start {invite_token(world, alice)}")
    db = services(world).core.db
    real_tx = db.tx

    @asynccontextmanager
    async def dies_before_commit() -> AsyncIterator[aiosqlite.Connection]:
        async with real_tx() as conn:
            yield conn
            raise ProcessKilled("killed before COMMIT")

    db.tx = dies_before_commit  # type: ignore[method-assign]
    with pytest.raises(ProcessKilled):
        await world.press(bob, "Yes, pair us")
    pressed = world.last_update
    assert pressed is not None
    world.app = None
    await world.start()
    await db.close()
    assert state(world)["couples"] == []
    assert world.app is not None
    await world.app.process_update(pressed)  # Telegram delivers it again
    world.check_errors()
    assert len(state(world)["couples"]) == 1
    assert world.said(alice.id, "accepted your invite")


async def test_a_failure_after_commit_is_told_truthfully_and_not_doubled(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: "nothing was saved" and the update id forgotten, so a retry doubled it."""
    await pair_by_invite(world, alice, bob)
    world.raise_errors = False
    world.api.faults.append(Fault("sendMessage", "bad_request", chat_id=alice.id))
    await world.send(alice, "/thanks for the soup")
    assert world.errors
    world.errors.clear()
    told = world.last_text(alice.id)
    assert "saved" in told and "nothing was saved" not in told
    await world.redeliver()
    world.raise_errors = True
    world.check_errors()
    assert sum("for the soup" in t for t in world.texts(bob.id)) == 1


async def test_a_crash_in_the_handler_after_the_language_look_lets_the_redelivery_run(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: the per-update language look (a transaction before the handler) wrote the
    update's mark, so a crash inside the handler made Telegram's redelivery be dropped."""
    await world.send(alice, "/start")
    from tests.helpers import invite_token

    await world.send(bob, f"/start {invite_token(world, alice)}")
    db = services(world).core.db
    pairing = services(world).pairing

    async def dies(*args: object, **kwargs: object) -> None:
        raise ProcessKilled("killed inside the handler, before its transaction")

    monkeypatch.setattr(pairing, "confirm_invite", dies)
    with pytest.raises(ProcessKilled):
        await world.press(bob, "Yes, pair us")
    pressed = world.last_update
    assert pressed is not None
    monkeypatch.undo()
    world.app = None
    await world.start()
    await db.close()  # the killed process's connection
    assert world.app is not None
    await world.app.process_update(pressed)  # Telegram delivers it again
    world.check_errors()
    assert len(state(world)["couples"]) == 1
    assert world.said(alice.id, "accepted your invite")
