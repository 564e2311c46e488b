"""Weeks lived through the real application, each ending in one weekly summary."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from playground.fakeapi import Sent
from playground.sim import Person, World
from tests.helpers import pair_by_invite

# Sunday 29 November 2026, 19:00 Europe/Berlin: the first check-in after pairing.
FIRST = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def finish_checkin(world: World, who: Person, score: str) -> None:
    """Answer the open check-in: every scale with `score`, every note and open item skipped."""
    for _ in range(20):
        labels = world.api.last(who.id).button_texts()
        if score in labels:
            await world.press(who, score)
        elif "Skip" in labels:  # a note
            await world.press(who, "Skip")
        elif "Prefer not to say" in labels:  # an open question
            await world.press(who, "Prefer not to say")
        else:
            return
    raise AssertionError("the check-in did not end")


async def open_week(world: World, n: int) -> None:
    world.clock.set(FIRST + timedelta(weeks=n))
    await world.tick()


def summaries(world: World, chat: int) -> list[Sent]:
    return [s for s in world.api.sent_to(chat) if "Your week together" in s.text]


def photos(world: World, chat: int) -> list[Sent]:
    return [s for s in world.api.sent_to(chat) if s.photo is not None]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_weeks_end_in_summaries_with_a_chart(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)

    # Week 1: both finish, the reveal closes the check-in, the next sweep sends the summary.
    await open_week(world, 0)
    await finish_checkin(world, alice, "5")
    await finish_checkin(world, bob, "2")
    assert world.said(alice.id, "Nobody went first")
    await world.tick()
    await world.tick()
    for chat in (alice.id, bob.id):
        sent = summaries(world, chat)
        assert len(sent) == 1 and sent[0].protect
        text = sent[0].text
        assert "Alice 5.0 · Bob 2.0" in text
        assert "first check-in together" in text and "A focus for the coming week" in text
        assert "biggest difference" in text
        assert not photos(world, chat)  # one week is too little for a trend

    # During week 2: a promise kept, thanks both ways.
    world.clock.advance(timedelta(days=1))
    await world.send(alice, "/promise plan Saturday by Thursday")
    await world.send(bob, "/thanks for dinner")
    await world.send(alice, "/thanks for listening")
    await world.send(alice, "/thanks for the tea")
    await world.press(alice, "Done")  # only the promiser reports
    await world.send(bob, "/promise call the bank by next week")

    await open_week(world, 1)
    await finish_checkin(world, alice, "4")
    await finish_checkin(world, bob, "4")
    await world.tick()
    await world.restart()
    await world.tick()  # a restart and a second sweep send nothing twice
    for chat in (alice.id, bob.id):
        assert len(summaries(world, chat)) == 2
        pictures = photos(world, chat)
        assert len(pictures) == 1 and pictures[0].protect
        assert pictures[0].photo is not None
        width, height = png_size(pictures[0].photo)
        assert 400 <= width <= 2000 and 300 <= height <= 2000
        assert len(pictures[0].text) <= 1024
    text = summaries(world, alice.id)[-1].text
    assert "(+" in text or "(−" in text  # change since last week
    assert "Kept 1 · didn't happen 0 · still open 1" in text
    assert "call the bank" in text  # due in the coming week
    assert "Alice sent 2, Bob sent 1" in text
    assert "for dinner" not in text  # thanks are counted, never shown

    # /summary shows it again, /history lists both weeks and opens one.
    await world.send(bob, "/summary")
    assert world.api.last(bob.id).photo is not None or "Your week together" in world.last_text(
        bob.id
    )
    assert any("Alice sent 2" in s.text for s in world.api.sent_to(bob.id)[-3:])
    await world.send(alice, "/history")
    listing = world.api.last(alice.id)
    assert listing.protect and len(listing.button_texts()) == 2
    assert "both took part" in listing.text
    await world.press(alice, "23 Nov")
    assert "Alice 5.0 · Bob 2.0" in world.api.sent_to(alice.id)[-1].text


async def test_one_sided_and_missed_weeks_are_framed_kindly(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await open_week(world, 0)
    await finish_checkin(world, alice, "4")
    world.clock.advance(timedelta(hours=72))
    await world.tick()  # the window runs out: expired
    await world.tick()
    sent = summaries(world, bob.id)
    assert len(sent) == 1
    assert "Only one of you finished" in sent[0].text and "4.0" not in sent[0].text

    await open_week(world, 1)
    world.clock.advance(timedelta(hours=72))
    await world.tick()
    await world.tick()
    assert "Neither of you got to the check-in" in summaries(world, alice.id)[-1].text

    await open_week(world, 2)
    await finish_checkin(world, alice, "3")
    await finish_checkin(world, bob, "3")
    await world.tick()
    latest = summaries(world, alice.id)[-1].text
    assert "Welcome back" in latest and "first check-in together" in latest
    assert not photos(world, alice.id)  # still only one complete week

    # A stranger cannot open the couple's summary; /summary mid-week shows the week so far.
    await world.send(alice, "/history")
    data = world.find_button(alice.id, "7 Dec")[1]["callback_data"]
    await world.press_data(carol, data, chat_id=carol.id)
    assert world.api.calls_of("answerCallbackQuery")[-1].params["show_alert"]
    await open_week(world, 3)
    await world.send(bob, "/summary")
    assert "This week so far" in world.last_text(bob.id)


async def test_summary_goes_to_the_linked_group(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    world.make_group(-500, alice, bob)
    await world.add_bot(-500, alice)
    await world.press(alice, "I'm in", chat_id=-500)
    await world.press(bob, "I'm in", chat_id=-500)
    for n in range(2):
        await open_week(world, n)
        await finish_checkin(world, alice, "4")
        await finish_checkin(world, bob, "3")
        await world.tick()
    assert len(summaries(world, -500)) == 2 and not summaries(world, alice.id)
    assert len(photos(world, -500)) == 1
