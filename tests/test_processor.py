"""The update processor: parallel across chats and users, strictly ordered within each.

Ordering is shown with gates (events the test opens), never with timing.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from telegram import Update
from telegram.ext import ApplicationHandlerStop, TypeHandler

from handlers.processor import OrderedUpdateProcessor, keys_of
from playground.sim import World

_ids = itertools.count(1)


def update(chat_id: int, user_id: int) -> Update:
    chat: dict[str, Any] = (
        {"id": chat_id, "type": "private", "first_name": "U"}
        if chat_id > 0
        else {"id": chat_id, "type": "group", "title": "G"}
    )
    return Update.de_json(
        {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": 0,
                "chat": chat,
                "from": {"id": user_id, "is_bot": False, "first_name": "U"},
                "text": "hi",
            },
        },
        None,
    )


class Script:
    """Handlers that record when they start and finish and wait for the test to open a gate."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def run(self, name: str) -> None:
        self.log.append(f"start {name}")
        await self.gates.setdefault(name, asyncio.Event()).wait()
        self.log.append(f"end {name}")

    def open(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_keys_are_chat_and_user_once() -> None:
    assert keys_of(update(5, 5)) == (5,)
    assert keys_of(update(-100, 5)) == (-100, 5)
    assert keys_of(object()) == ()


async def test_same_chat_waits_other_chat_runs() -> None:
    proc = OrderedUpdateProcessor()
    s = Script()
    first = asyncio.create_task(proc.process_update(update(1, 1), s.run("a1")))
    second = asyncio.create_task(proc.process_update(update(1, 1), s.run("a2")))
    other = asyncio.create_task(proc.process_update(update(2, 2), s.run("b1")))
    await settle()
    assert s.log == ["start a1", "start b1"]  # a2 waits for a1; b1 does not
    s.open("a2")
    s.open("b1")
    await settle()
    assert "start a2" not in s.log  # its gate is open, but a1 is still running
    s.open("a1")
    await asyncio.gather(first, second, other)
    assert s.log.index("end a1") < s.log.index("start a2")
    assert proc.tracked_keys == 0  # idle keys are forgotten


async def test_same_user_in_group_and_private_stays_in_order() -> None:
    proc = OrderedUpdateProcessor()
    s = Script()
    in_group = asyncio.create_task(proc.process_update(update(-500, 7), s.run("group")))
    in_private = asyncio.create_task(proc.process_update(update(7, 7), s.run("private")))
    partner = asyncio.create_task(proc.process_update(update(-500, 8), s.run("partner")))
    await settle()
    assert s.log == ["start group"]  # private waits on the user, partner on the group
    s.open("private")
    s.open("partner")
    s.open("group")
    await asyncio.gather(in_group, in_private, partner)
    assert s.log[:2] == ["start group", "end group"]
    assert proc.tracked_keys == 0


async def test_chains_through_shared_keys_without_deadlock() -> None:
    proc = OrderedUpdateProcessor()
    s = Script()
    # a: chat 1 / user 1; b: group -2 / user 1; c: group -2 / user 3 -> c after b after a.
    tasks = [
        asyncio.create_task(proc.process_update(update(1, 1), s.run("a"))),
        asyncio.create_task(proc.process_update(update(-2, 1), s.run("b"))),
        asyncio.create_task(proc.process_update(update(-2, 3), s.run("c"))),
    ]
    await settle()
    assert s.log == ["start a"]
    for name in ("c", "b", "a"):
        s.open(name)
    await asyncio.gather(*tasks)
    assert [x for x in s.log if x.startswith("start")] == ["start a", "start b", "start c"]


async def test_a_failure_does_not_block_the_next_update() -> None:
    proc = OrderedUpdateProcessor()
    ran: list[str] = []

    async def boom() -> None:
        raise RuntimeError("handler bug")

    async def fine() -> None:
        ran.append("next")

    failing = asyncio.create_task(proc.process_update(update(1, 1), boom()))
    following = asyncio.create_task(proc.process_update(update(1, 1), fine()))
    with pytest.raises(RuntimeError):
        await failing
    await following
    assert ran == ["next"]
    assert proc.tracked_keys == 0


async def test_running_handlers_are_capped() -> None:
    proc = OrderedUpdateProcessor(max_running=2)
    s = Script()
    tasks = [
        asyncio.create_task(proc.process_update(update(n, n), s.run(str(n)))) for n in range(1, 6)
    ]
    await settle()
    assert s.log == ["start 1", "start 2"]
    s.open("1")
    await settle()
    assert s.log == ["start 1", "start 2", "end 1", "start 3"]
    for n in range(1, 6):
        s.open(str(n))
    await asyncio.gather(*tasks)
    assert proc.tracked_keys == 0


async def test_cancelled_while_waiting_releases_the_chain() -> None:
    proc = OrderedUpdateProcessor()
    s = Script()
    first = asyncio.create_task(proc.process_update(update(1, 1), s.run("1")))
    waiting = asyncio.create_task(proc.process_update(update(1, 1), s.run("never")))
    third = asyncio.create_task(proc.process_update(update(1, 1), s.run("3")))
    await settle()
    waiting.cancel()
    await settle()
    s.open("1")
    s.open("3")
    await asyncio.gather(first, third)
    assert waiting.cancelled()
    assert "start never" not in s.log
    assert s.log[-2:] == ["start 3", "end 3"]
    assert proc.tracked_keys == 0


async def test_real_application_keeps_each_users_order(world: World) -> None:
    """Updates fed through the update queue, as polling and webhooks do, with the processor."""
    app = world.app
    assert app is not None
    assert isinstance(app.update_processor, OrderedUpdateProcessor)
    seen: dict[int, list[int]] = {}
    in_flight = 0
    most = 0

    async def record(upd: Update, context: Any) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(3):  # yield, as a handler awaiting the database or Telegram does
            await asyncio.sleep(0)
        assert upd.effective_user is not None and upd.message is not None
        seen.setdefault(upd.effective_user.id, []).append(int(upd.message.text or "0"))
        in_flight -= 1
        raise ApplicationHandlerStop

    app.add_handler(TypeHandler(Update, record), group=-2)
    await app.start()
    try:
        for n in range(10):
            for user in range(1, 21):
                upd = update(user, user)
                assert upd.message is not None
                data = upd.to_dict()
                data["message"]["text"] = str(n)
                await app.update_queue.put(Update.de_json(data, app.bot))
        await app.update_queue.join()
    finally:
        await app.stop()
    assert seen == {user: list(range(10)) for user in range(1, 21)}
    assert most > 1  # users really ran side by side
