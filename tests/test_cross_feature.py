"""Where features meet: groups that are not the couple's, two flows at once, unpairing mid-flow."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all

FAMILY = -700
OURS = -500


async def test_nothing_private_is_shown_in_a_group_that_is_not_theirs(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/promise call the doctor")
    world.make_group(FAMILY, alice, carol)  # a family group: Carol is not the partner
    for command in ("/status", "/promises", "/summary", "/history", "/checkin", "/settings"):
        await world.send(alice, command, chat_id=FAMILY)
        text = world.last_text(FAMILY)
        assert "isn't your shared space" in text, command
    assert not any("doctor" in t or "Bob" in t for t in world.texts(FAMILY))


async def test_a_conflict_turn_is_never_filed_as_a_checkin_note(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "3")  # a note is now awaited
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel tired about the dishes")
    # Two flows could take it: held, unseen by Bob, until Alice says which.
    assert "where does this message belong" in world.last_text(alice.id)
    assert not world.said(bob.id, "I feel tired about the dishes")
    await world.press(alice, "My words in the conversation with Bob")
    assert world.said(alice.id, "/checkin brings that question back")
    await world.send(alice, "and about the laundry")  # the note prompt is set aside now
    await world.press(alice, "Done, over to Bob")  # her bit is passed on now, as turns
    assert world.said(bob.id, "I feel tired about the dishes")
    assert world.said(bob.id, "and about the laundry")
    await world.send(bob, "You feel tired")
    assert "Alice heard" not in world.last_text(alice.id)
    assert "Bob heard: “You feel tired”" in world.last_text(alice.id)


async def test_a_checkin_note_never_reaches_the_partner_through_conflict(
    world: World, alice: Person, bob: Person
) -> None:
    """Seen: with a private /conflict live, the note typed after "Want to add a short
    note?" was relayed to the partner as a conflict turn (and exported as one)."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await checkin_now(world, alice)
    await world.press(alice, "3")
    assert "reveal" in world.last_text(alice.id)  # the prompt says where a note goes
    await world.send(alice, "my secret note")
    assert not world.said(bob.id, "my secret note")
    await world.press(alice, "My check-in note (shown to Bob at the reveal)")
    assert world.said(alice.id, "Filed under: 📝 My check-in note")
    assert not world.said(bob.id, "my secret note")
    with sqlite3.connect(world.db_path) as conn:
        turns = conn.execute("SELECT COUNT(*) FROM conflict_turns").fetchone()[0]
        notes = conn.execute("SELECT COUNT(*) FROM answers WHERE note IS NOT NULL").fetchone()[0]
    assert (turns, notes) == (0, 1)


async def test_a_held_message_can_be_thrown_away(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "/thanks")
    await world.send(alice, "oops, wrong window")
    await world.press(alice, "Neither: throw it away")
    assert world.said(alice.id, "Nothing was sent or saved")
    assert not world.said(bob.id, "oops, wrong window")
    with sqlite3.connect(world.db_path) as conn:
        held = conn.execute("SELECT COUNT(*) FROM held_texts").fetchone()[0]
        thanks = conn.execute("SELECT COUNT(*) FROM appreciations").fetchone()[0]
    assert (held, thanks) == (0, 0)


async def test_checkin_command_continues_the_open_one_rather_than_opening_another(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 29, 18, 0, tzinfo=UTC))  # Sunday 19:00 Berlin
    await world.tick()
    world.clock.advance(timedelta(hours=20))  # Monday: a new ISO week, still in the window
    await checkin_now(world, alice)
    assert "1/5" in world.last_text(alice.id)
    assert sum("It's check-in time" in t for t in world.texts(bob.id)) == 1


async def test_unpairing_mid_checkin_and_mid_conflict_closes_both(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    _, four = world.find_button(bob.id, "4")
    await world.send(alice, "/conflict money")
    await world.send(alice, "/unpair")
    await world.press(alice, "Yes, unpair")
    await world.press_data(bob, four["callback_data"])
    assert "closed" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    world.clock.advance(timedelta(days=2))
    await world.tick()
    assert not world.said(bob.id, "gentle nudge")
    await world.send(bob, "/conflict")
    assert "aren't paired" in world.last_text(bob.id)


async def test_bot_removed_mid_group_conversation_moves_it_to_private(
    world: World, alice: Person, bob: Person
) -> None:
    world.make_group(OURS, alice, bob)
    await pair_by_invite(world, alice, bob)
    await world.add_bot(OURS, alice)
    await world.press(alice, "I'm in", chat_id=OURS)
    await world.press(bob, "I'm in", chat_id=OURS)
    await world.send(alice, "/conflict holidays", chat_id=OURS)
    await world.press(bob, "Now is good", chat_id=OURS)
    await world.press(alice, "Alice speaks first", chat_id=OURS)
    await world.remove_bot(OURS, bob)
    await world.send(alice, "I would like a quiet week")
    await world.press(alice, "Done, over to Bob")
    assert world.said(bob.id, "I would like a quiet week")


async def test_button_labels_and_toasts_are_plain_text(world: World, bob: Person) -> None:
    obrien = world.person(505, "O'Brien & Co")
    await pair_by_invite(world, obrien, bob)
    await world.send(obrien, "/conflict chores")
    await world.press(bob, "Now is good")
    labels = [b for row in world.api.last(obrien.id).buttons for b in row]
    assert any(b["text"] == "O'Brien & Co speaks first" for b in labels)


async def test_a_changed_score_does_not_keep_the_old_note(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "1")
    await world.send(alice, "an old note about a bad day")
    await world.press(alice, "Back")
    await world.press(alice, "5")
    await world.press(alice, "Skip")
    await answer_all(world, alice)
    await answer_all(world, bob)
    reveal = next(t for t in world.texts(bob.id) if "Nobody went first" in t)
    assert "an old note" not in reveal


async def test_an_overlong_note_is_refused_kindly_and_nothing_is_lost(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "4")
    await world.send(alice, "&" * 2000)
    assert "a bit long" in world.last_text(alice.id)
    await world.send(alice, "short & sweet")
    assert "2/5" in world.last_text(alice.id)


async def test_a_heart_after_unpairing_reaches_nobody(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/thanks for the soup")
    heart = world.find_button(bob.id, "heart")[1]["callback_data"]
    await world.send(alice, "/unpair")
    await world.press(alice, "Yes, unpair")
    before = len(world.texts(alice.id))
    await world.press_data(bob, heart)
    assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    assert len(world.texts(alice.id)) == before
