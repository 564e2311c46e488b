"""Delivery you can rely on (issue 11, items 1-4 and 8): markup never broken by a cut, a
row that fails alone, a group that moved, order per chat across drains and restarts."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta

import pytest

import bot.db
from bot.messages import TAG, Msg, split_message
from bot.outbox import CLAIM_LAPSE
from playground.fakeapi import Fault, telegram_problem
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all
from tests.test_conflict_flow import pair_in_group
from tests.test_faults_sends import outbox_rows, owe, owed_texts, services

GROUP = -500


def test_split_never_cuts_inside_markup() -> None:
    note = "<i>" + "\n".join(f"a short line {n} of a long note" for n in range(400)) + "</i>"
    text = "<b>Head</b>\n\n" + note + "\n<a href='https://x.y/a b'>link text here</a>"
    parts = split_message(text, 1000)
    assert len(parts) > 5
    for part in parts:
        assert len(part) <= 1000
        assert telegram_problem({"text": part}, "text", 4096) is None, part[:80]
    # one long line inside a tag: cut at spaces, tags closed and reopened, no entity cut
    line = "<b>" + "word &amp; " * 800 + "</b>"
    parts = split_message(line)
    assert all(telegram_problem({"text": p}, "text", 4096) is None for p in parts)
    assert all(not p.endswith("&amp") for p in parts)


async def test_a_reveal_with_many_line_notes_arrives_whole(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: the cut fell inside <i>…</i>, Telegram refused both parts, the reveal was lost."""
    await pair_by_invite(world, alice, bob)
    note = "\n".join(f"line {n:02}: this & that & so" for n in range(22))
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note=note)
    await checkin_now(world, bob)
    await answer_all(world, bob, "3", note=note)
    rows = await outbox_rows(world)
    reveal = {k: v for k, v in rows.items() if "reveal" in k}
    assert reveal and all(sent and failed is None for sent, failed in reveal.values())
    shown = "\n".join(t for t in world.texts(alice.id) if "<i>" in t or "line 23" in t)
    assert shown.count("line 21: this &amp; that") >= 2


def test_every_part_fits_as_telegram_counts_it() -> None:
    """Was: a cut at a space left a piece longer than the limit (4,505 of 4,096), and
    length was counted in code points while Telegram counts UTF-16 units, so 2,048
    emoji (4,096 units) were one part Telegram refused as too long."""
    long_word = "a " + "y" * 3000 + "&amp;" + "z" * 1500
    emoji = "<i>" + "\U0001f600" * 3000 + "</i>\n" + "word \U0001f601 " * 900
    for text in (long_word, emoji):
        parts = split_message(text)
        assert len(parts) > 1
        for part in parts:
            assert telegram_problem({"text": part}, "text", 4096) is None, len(part)
        visible = "".join(TAG.sub("", p) for p in parts)
        assert visible.count("\U0001f600") == text.count("\U0001f600")  # nothing lost


def test_a_long_word_is_never_changed_by_a_cut() -> None:
    """Was: a word longer than a piece was cut, and when both pieces fit one part again
    they were joined with a space: a 3,900-character link arrived with a space in it."""
    word = "https://example.org/" + "x" * 3880
    assert split_message(word) == [word]
    assert "".join(split_message("a " + word * 2)).replace("a ", "", 1) == word * 2


async def test_a_reveal_of_notes_in_emoji_arrives_whole(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: two notes of 600 emoji made a reveal Telegram refused as too long; the plain
    retry was refused too and raised, the claim stayed, both chats waited for ever."""
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note="\U0001f600" * 600)
    await checkin_now(world, bob)
    await answer_all(world, bob, "4", note="\U0001f601" * 600)
    await world.tick()
    for who in (alice, bob):
        assert "".join(world.texts(who.id)).count("\U0001f601") >= 600
        assert "".join(world.texts(who.id)).count("\U0001f600") >= 600
    rows = await outbox_rows(world)
    assert all(sent and failed is None for sent, failed in rows.values()), rows


async def test_a_message_refused_as_malformed_is_sent_plainly(world: World, alice: Person) -> None:
    core = services(world).core
    async with core.db.tx() as conn:
        await core.queue(conn, Msg(alice.id, "<i>half a tag & more words"), key="broken")
    await world.tick()
    assert world.texts(alice.id)[-1] == "half a tag & more words"
    assert (await outbox_rows(world))["broken"] == (True, None)


async def test_a_message_refused_plainly_too_fails_alone(world: World, alice: Person) -> None:
    """Was: the plain retry's refusal escaped the drain, the row stayed claimed and its
    chat waited behind it for ever; every sweep raised."""
    too_long = "Bad Request: message is too long"
    world.api.faults.append(
        Fault("sendMessage", "bad_request", chat_id=alice.id, times=2, description=too_long)
    )
    await owe(world, alice.id, "refused")
    await owe(world, alice.id, "next")
    await world.tick()
    rows = await outbox_rows(world)
    assert rows["refused"] == (False, "bad_request")
    assert owed_texts(world, alice.id) == ["owed next"]


async def test_an_unreadable_row_fails_alone(world: World, alice: Person, bob: Person) -> None:
    """Was: one undecryptable row aborted every drain; nobody else got anything."""
    await pair_by_invite(world, alice, bob)
    await owe(world, alice.id, "a:1")
    core = services(world).core
    async with core.db.tx() as conn:
        await conn.execute("UPDATE outbox SET body = X'00ff' WHERE key = 'a:1'")
    await owe(world, alice.id, "a:2")
    await owe(world, bob.id, "b:1")
    await world.tick()
    assert owed_texts(world, alice.id) == ["owed a:2"]
    assert owed_texts(world, bob.id) == ["owed b:1"]
    rows = await outbox_rows(world)
    assert rows["a:1"][0] is False and (rows["a:1"][1] or "").startswith("unreadable")


async def test_a_group_that_became_a_supergroup_gets_its_messages(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: 400 migrate_to_chat_id retried for ever, and every sweep raised."""
    await pair_in_group(world, alice, bob)
    new = -1000000000500
    world.api.migrated[GROUP] = new
    world.make_group(new, alice, bob)
    await owe(world, GROUP, "g:1")
    await world.tick()
    assert owed_texts(world, new) == ["owed g:1"]
    core = services(world).core
    async with core.db.tx() as conn:
        couple = await core.couple_of(conn, alice.id)
    assert couple is not None and couple.group_chat_id == new
    await world.send(alice, "/status", chat_id=new)  # the couple's group, at its new id
    assert not world.said(new, "isn't linked") and not world.said(new, "not linked")


async def test_a_chat_never_gets_row_n_plus_1_while_row_n_is_owed(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: a chat's new rows went out while an older one waited for retry (the held set
    lived in one drain), and a dead process's claims held later rows back 120 s."""
    await pair_by_invite(world, alice, bob)
    world.api.faults.append(Fault("sendMessage", "network", chat_id=bob.id))
    await owe(world, bob.id, "first")
    await world.tick()
    assert owed_texts(world, bob.id) == []
    await owe(world, bob.id, "second")
    core = services(world).core
    async with core.db.tx() as conn:
        cur = await conn.execute("SELECT id FROM outbox WHERE key = 'second'")
        row = await cur.fetchone()
    assert row is not None
    from handlers.common import flush

    assert world.app is not None
    await flush(world.app.bot, services(world), [row["id"]])  # an operation's own flush
    assert owed_texts(world, bob.id) == []  # "second" waits for "first"
    await world.tick()
    assert owed_texts(world, bob.id) == ["owed first", "owed second"]


async def test_a_restart_sends_a_dead_claim_at_once_and_in_order(
    world: World, alice: Person
) -> None:
    await owe(world, alice.id, "one")
    await owe(world, alice.id, "two")
    core = services(world).core
    async with core.db.tx() as conn:  # as a process killed mid-send leaves it
        await conn.execute(
            "UPDATE outbox SET claimed_at = ?, attempts = 1 WHERE key = 'one'", (core.now(),)
        )
    await world.tick()
    assert owed_texts(world, alice.id) == []  # a live claim: its owner is sending it
    await world.restart()
    assert owed_texts(world, alice.id) == ["owed one", "owed two"]


async def test_a_send_still_in_flight_is_never_claimed_again(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: a claim older than 120 s was taken for a dead one even in the live process
    that held it, so a send still waiting (the rate limiter sitting out 429s, rows queued
    behind the one-send gate) went out twice, with no crash at all. In a live process a
    claim is released by its sender, always; only a restart frees another's."""
    await pair_by_invite(world, alice, bob)
    world.api.hold = bob.id
    first = asyncio.create_task(world.send(alice, "/thanks for the soup"))
    await world.api.holding.wait()  # the handler's own flush is sending to Bob
    world.clock.advance(timedelta(minutes=10))
    # What a sweep's drain may take now: nothing of Bob's, whose row is in flight.
    taken = await services(world).outbox.claim()
    assert [owed.msg.chat_id for owed in taken if owed.msg.chat_id == bob.id] == []
    world.api.release.set()
    await first
    await world.tick()
    assert sum("for the soup" in t for t in world.texts(bob.id)) == 1


async def test_a_sent_row_is_marked_sent_even_while_another_process_writes(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: a backup or an admin shell holding the write lock for longer than the busy
    timeout made both "sent" and "try again later" fail; the claim was never ended, Bob's
    chat waited behind it until a restart, and everything he typed was handed back."""
    monkeypatch.setattr(bot.db, "BUSY_TIMEOUT_MS", 50)  # 5 s in production
    await pair_by_invite(world, alice, bob)
    world.api.hold = bob.id
    thanks = asyncio.create_task(world.send(alice, "/thanks for the tea"))
    await world.api.holding.wait()  # Telegram has the message for Bob
    other = sqlite3.connect(world.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writes, longer than the timeout
    world.api.release.set()
    db = services(world).core.db
    await asyncio.sleep(0.2)  # four busy timeouts of real time (as tests/test_storage.py)
    assert not thanks.done() and db.stats.busy_retries > 0  # it waits, it does not give up
    other.execute("ROLLBACK")
    other.close()
    await thanks
    await world.tick()
    assert sum("for the tea" in t for t in world.texts(bob.id)) == 1
    await owe(world, bob.id, "next")
    await world.tick()
    assert owed_texts(world, bob.id) == ["owed next"]  # nothing holds his chat back


async def test_a_claim_whose_end_could_not_be_written_lapses(
    world: World, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose end cannot be written at all (a disk error) is not held for ever:
    once no sender holds it, it lapses after CLAIM_LAPSE and its chat goes on."""
    outbox = services(world).outbox
    real_done = outbox.done
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    async def done_once_broken(ids: list[int]) -> None:
        for exc in failures:
            raise exc
        await real_done(ids)

    monkeypatch.setattr(outbox, "done", done_once_broken)
    monkeypatch.setattr(outbox, "failed", _refusing)
    await owe(world, alice.id, "first")
    await owe(world, alice.id, "second")
    await world.tick()  # "first" went out; that it did could not be written
    assert owed_texts(world, alice.id) == ["owed first"]
    monkeypatch.undo()
    world.clock.advance(timedelta(seconds=60))
    await world.tick()
    assert owed_texts(world, alice.id) == ["owed first"]  # not yet: it may be in flight
    world.clock.advance(timedelta(seconds=CLAIM_LAPSE))
    await world.tick()
    assert owed_texts(world, alice.id)[-1] == "owed second"  # the chat goes on


async def _refusing(*args: object, **kwargs: object) -> None:
    raise sqlite3.OperationalError("disk I/O error")


async def test_sends_in_flight_are_bounded(world: World, alice: Person, bob: Person) -> None:
    """Was: 64 chats' rows in flight at once, so one kill repeated up to 64 messages."""
    people = [world.person(1000 + n, f"P{n}") for n in range(12)]
    for p in people:
        await owe(world, p.id, f"k:{p.id}")
    world.api.latency = 0.01
    in_flight = 0
    peak = 0
    original = world.api.do_request

    async def counting(*args: object, **kwargs: object) -> tuple[int, bytes]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    world.api.do_request = counting  # type: ignore[method-assign]
    await world.tick()
    assert all(owed_texts(world, p.id) == [f"owed k:{p.id}"] for p in people)
    assert peak == 1
    assert json.dumps(await outbox_rows(world))  # every row readable afterwards


async def test_what_nobody_needs_is_purged_on_schedule(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: sent outbox rows, replaced invites and never-paired users were kept forever."""
    from datetime import timedelta

    await pair_by_invite(world, alice, bob)
    await world.send(carol, "/start")  # never pairs
    await world.send(alice, "/thanks for everything")

    def count(sql: str) -> int:
        import sqlite3

        conn = sqlite3.connect(world.db_path)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()

    assert count("SELECT COUNT(*) FROM outbox WHERE key IS NULL AND sent_at IS NOT NULL") > 0
    world.clock.advance(timedelta(days=91))
    await world.tick()
    assert count("SELECT COUNT(*) FROM outbox WHERE key IS NULL AND sent_at IS NOT NULL") == 0
    assert count("SELECT COUNT(*) FROM invites WHERE used_at IS NOT NULL") == 0
    assert count(f"SELECT COUNT(*) FROM users WHERE id = {carol.id}") == 0
    assert count(f"SELECT COUNT(*) FROM users WHERE id IN ({alice.id}, {bob.id})") == 2
