"""Where features meet: groups that are not the couple's, two flows at once, unpairing mid-flow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playground.sim import Person, World
from tests.helpers import pair_by_invite
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
    await world.send(alice, "/checkin")
    await world.press(alice, "3")  # a note is now awaited
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel tired about the dishes")
    assert world.said(bob.id, "I feel tired about the dishes")  # relayed as a turn
    await world.press(alice, "Done, over to Bob")
    await world.send(bob, "You feel tired")
    assert "Alice heard" not in world.last_text(alice.id)
    assert "Bob heard: “You feel tired”" in world.last_text(alice.id)


async def test_checkin_command_continues_the_open_one_rather_than_opening_another(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 29, 18, 0, tzinfo=UTC))  # Sunday 19:00 Berlin
    await world.tick()
    world.clock.advance(timedelta(hours=20))  # Monday: a new ISO week, still in the window
    await world.send(alice, "/checkin")
    assert "1/5" in world.last_text(alice.id)
    assert sum("It's check-in time" in t for t in world.texts(bob.id)) == 1


async def test_unpairing_mid_checkin_and_mid_conflict_closes_both(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/checkin")
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
    await world.send(alice, "/checkin")
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
    await world.send(alice, "/checkin")
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
