"""Faults on the way out: 429 during a fan-out, a partner who blocked the bot, a network error.

Each test shows nothing lost and nothing doubled: every owed message reaches its chat
exactly once, or (a blocked user) is given up once and not retried in a loop.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.messages import Msg
from bot.outbox import RETRY_FOR
from bot.services import Services
from handlers.common import OUTAGE_AFTER
from handlers.ratelimit import TrellisRateLimiter
from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import pair_by_invite

COUPLES = 8


def services(world: World) -> Services:
    assert world.app is not None
    svc: Services = world.app.bot_data["services"]
    return svc


async def owe(world: World, chat_id: int, key: str) -> int | None:
    """Queue a message under a unique key, as a scheduled send does."""
    core = services(world).core
    async with core.db.tx() as conn:
        return await core.queue(conn, Msg(chat_id, f"owed {key}"), key=key)


async def outbox_rows(world: World) -> dict[str, tuple[bool, str | None]]:
    """key -> (sent, failed reason)."""
    core = services(world).core
    async with (
        core.db.tx() as conn,
        conn.execute("SELECT key, sent_at, failed FROM outbox WHERE key IS NOT NULL") as cur,
    ):
        return {r["key"]: (r["sent_at"] is not None, r["failed"]) for r in await cur.fetchall()}


def owed_texts(world: World, chat_id: int) -> list[str]:
    return [t for t in world.texts(chat_id) if t.startswith("owed ")]


async def many_couples(world: World) -> list[Person]:
    people = []
    for n in range(COUPLES):
        a = world.person(1000 + 2 * n, f"A{n}")
        b = world.person(1001 + 2 * n, f"B{n}")
        await pair_by_invite(world, a, b)
        people += [a, b]
    return people


@pytest.fixture
async def strict_world(tmp_path: Path) -> World:
    """Limits off (no waiting in tests) and no retries inside the limiter: a 429 reaches
    the outbox, which must retry it on the next tick."""
    w = World(
        db_path=tmp_path / "data" / "trellis.sqlite3",
        rate_limiter=TrellisRateLimiter(
            overall_max_rate=0, group_max_rate=0, private_max_rate=0, max_retries=0
        ),
    )
    await w.start()
    yield w  # type: ignore[misc]
    await w.stop()
    w.check_errors()


async def test_429_in_fanout_is_retried_next_tick_once_each(strict_world: World) -> None:
    world = strict_world
    people = await many_couples(world)
    throttled = people[::3]
    for p in throttled:
        world.api.faults.append(Fault("sendMessage", "retry_after", chat_id=p.id, retry_after=3))
    for p in people:
        assert await owe(world, p.id, f"fanout:{p.id}") is not None
    await world.tick()
    for p in people:
        assert len(owed_texts(world, p.id)) == (0 if p in throttled else 1)
    await world.tick()
    await world.tick()
    for p in people:
        assert owed_texts(world, p.id) == [f"owed fanout:{p.id}"]
    # The scheduler firing again (restart, duplicate sweep) owes nothing new.
    for p in people:
        assert await owe(world, p.id, f"fanout:{p.id}") is None
    await world.tick()
    assert all(len(owed_texts(world, p.id)) == 1 for p in people)
    assert all(sent and failed is None for sent, failed in (await outbox_rows(world)).values())


async def test_limiter_waits_out_retry_after_itself(tmp_path: Path) -> None:
    """With retries (the production setting), a 429 is waited out inside the same send."""
    world = World(
        db_path=tmp_path / "db.sqlite3",
        rate_limiter=TrellisRateLimiter(
            overall_max_rate=0, group_max_rate=0, private_max_rate=0, max_retries=2
        ),
    )
    await world.start()
    try:
        alice = world.person(101, "Alice")
        world.api.faults.append(Fault("sendMessage", "retry_after", chat_id=101, retry_after=1))
        await owe(world, alice.id, "one")
        await world.tick()
        assert owed_texts(world, alice.id) == ["owed one"]
        assert (
            len([c for c in world.api.calls_of("sendMessage") if c.params["chat_id"] == 101]) == 2
        )
    finally:
        await world.stop()


async def test_forbidden_partner_marked_unreachable_and_not_retried(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.api.blocked.add(alice.id)
    await owe(world, alice.id, "k:a")
    await owe(world, bob.id, "k:b")
    await world.tick()
    assert owed_texts(world, bob.id) == ["owed k:b"]
    rows = await outbox_rows(world)
    assert rows["k:a"] == (False, "forbidden")
    core = services(world).core
    async with (
        core.db.tx() as conn,
        conn.execute("SELECT reachable FROM users WHERE id = ?", (alice.id,)) as cur,
    ):
        row = await cur.fetchone()
    assert row is not None and row["reachable"] == 0
    calls_to_alice = lambda: [  # noqa: E731
        c for c in world.api.calls_of("sendMessage") if c.params["chat_id"] == alice.id
    ]
    tried = len(calls_to_alice())
    await owe(world, alice.id, "k:a2")  # more owed while she is away: skipped, not tried
    for _ in range(3):
        await world.tick()
    assert len(calls_to_alice()) == tried
    # She unblocks and writes again: reachable, and new messages reach her.
    world.api.blocked.discard(alice.id)
    await world.send(alice, "/status")
    await owe(world, alice.id, "k:a3")
    await world.tick()
    assert owed_texts(world, alice.id) == ["owed k:a3"]


async def test_network_error_retried_on_next_tick_and_sent_once(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    # A long outage towards Bob's chat: every attempt in this tick fails.
    outage = Fault("sendMessage", "network", chat_id=bob.id, times=1000)
    world.api.faults.append(outage)
    await owe(world, bob.id, "net")
    await owe(world, alice.id, "fine")
    await world.tick()
    assert owed_texts(world, alice.id) == ["owed fine"]
    assert owed_texts(world, bob.id) == []
    assert (await outbox_rows(world))["net"] == (False, None)  # still owed, not given up
    outage.times = 0  # the network is back
    await world.tick()
    await world.tick()
    assert owed_texts(world, bob.id) == ["owed net"]


async def test_an_outage_of_minutes_loses_nothing_and_keeps_order(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: each try counted, and after 8 (four minutes of 30-second sweeps, sooner when
    updates flushed too) a row owed through a network outage was given up for good: the
    partner never saw the turn, the reveal or the summary, and nobody was told."""
    await pair_by_invite(world, alice, bob)
    outage = Fault("sendMessage", "network", chat_id=bob.id, times=10**6)
    world.api.faults.append(outage)
    await owe(world, bob.id, "first")
    await owe(world, bob.id, "second")
    for _ in range(40):  # 20 minutes of sweeps without a way through
        world.clock.advance(timedelta(seconds=30))
        await world.tick()
    rows = await outbox_rows(world)
    assert rows["first"] == (False, None) and rows["second"] == (False, None)  # still owed
    outage.times = 0  # the network is back
    await world.tick()
    assert owed_texts(world, bob.id) == ["owed first", "owed second"]


async def test_while_telegram_is_unreachable_a_sweep_tries_once_not_every_chat(
    world: World,
) -> None:
    """Was: with Telegram down, each sweep tried every owed chat in turn, one timeout
    each (5 s in production, one send in flight): hundreds of chats held a sweep, and
    every flush after a partner's action, for many minutes. Now two network failures in
    a row end the drain; the rest stay owed, in order, for the next sweep."""
    people = await many_couples(world)
    outage = Fault("sendMessage", "network", times=10**6)
    world.api.faults.append(outage)
    for p in people:
        await owe(world, p.id, f"news:{p.id}")
    before = len(world.api.calls_of("sendMessage"))
    await world.tick()
    assert len(world.api.calls_of("sendMessage")) - before == OUTAGE_AFTER
    assert all(not sent and why is None for sent, why in (await outbox_rows(world)).values())
    outage.times = 0
    await world.tick()
    for p in people:
        assert owed_texts(world, p.id) == [f"owed news:{p.id}"]


async def test_chats_that_keep_failing_never_hold_the_others_back(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: the claim took rows oldest first, so two chats whose rows kept failing were
    tried first in every drain, two failures in a row ended it, and Carol's row waited
    behind them (for two days, until they were given up)."""
    await pair_by_invite(world, alice, bob)
    for who in (alice, bob):  # e.g. two uploads that keep timing out
        world.api.faults.append(Fault("sendMessage", "network", chat_id=who.id, times=10**6))
    await owe(world, alice.id, "a")
    await owe(world, bob.id, "b")
    await world.tick()  # both fail: the outage stop ends this drain
    await owe(world, carol.id, "c")
    world.clock.advance(timedelta(minutes=1))
    await world.tick()
    assert owed_texts(world, carol.id) == ["owed c"]


async def test_a_row_that_never_gets_through_is_given_up_after_days(
    world: World, alice: Person, bob: Person
) -> None:
    """A chat is not held back for ever: a row Telegram has refused for a passing reason
    for RETRY_FOR is given up (logged), and the chat's next row goes on."""
    await pair_by_invite(world, alice, bob)
    outage = Fault("sendMessage", "network", chat_id=bob.id, times=10**6)
    world.api.faults.append(outage)
    await owe(world, bob.id, "stuck")
    await world.tick()
    world.clock.advance(RETRY_FOR + timedelta(minutes=1))
    await world.tick()  # tried once more, too old: given up
    outage.times = 0
    await owe(world, bob.id, "later")
    await world.tick()
    rows = await outbox_rows(world)
    assert rows["stuck"] == (False, "retry")
    assert owed_texts(world, bob.id) == ["owed later"]


async def test_a_throttled_chat_keeps_its_order_across_batches(strict_world: World) -> None:
    world = strict_world
    alice, bob = world.person(101, "Alice"), world.person(202, "Bob")
    await pair_by_invite(world, alice, bob)
    await owe(world, bob.id, "first")
    for n in range(500):  # fills the rest of the drain's first batch
        await owe(world, alice.id, f"filler:{n}")
    await owe(world, bob.id, "second")  # lands in the second batch
    world.api.faults.append(Fault("sendMessage", "retry_after", chat_id=bob.id))
    await world.tick()
    assert owed_texts(world, bob.id) == []  # "second" waited for "first"
    await world.tick()
    assert owed_texts(world, bob.id) == ["owed first", "owed second"]
    assert len(owed_texts(world, alice.id)) == 500
