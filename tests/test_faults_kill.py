"""The process killed mid check-in and mid /conflict, then restarted on the same database.

A 'die' fault raises a BaseException from inside a Bot API call, as if the process
were killed there: nothing in the bot catches it, the app is abandoned without its
shutdown hooks, and a new application starts on the same database file.
"""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from playground.fakeapi import Fault, ProcessKilled
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all

GROUP = -500


async def kill_during(
    world: World, method: str, action: Awaitable[object], chat_id: int | None = None
) -> None:
    """Run `action` and die at its next `method` call (to `chat_id`, if given)."""
    world.api.faults.append(Fault(method, "die", chat_id=chat_id))
    with pytest.raises(ProcessKilled):
        await action
    assert world.app is not None
    dead = world.app.bot_data["services"].core.db
    world.app = None  # abandoned: no post_shutdown, no graceful close
    await world.start()
    await dead.close()  # what the OS does to a dead process's file handles


async def test_killed_mid_checkin_loses_and_doubles_nothing(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    # killed while telling Alice her first answer was taken: the answer is committed
    await kill_during(world, "editMessageText", world.press(alice, "4"))
    await checkin_now(world, alice)
    assert "add a short note" in world.last_text(alice.id)
    await world.press(alice, "Skip")
    assert "2/5" in world.last_text(alice.id)
    await answer_all(world, alice, "4")
    # killed while the reveal goes out to their group: it was queued with the state change
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await world.press(bob, "I'm in", chat_id=GROUP)
    await kill_during(world, "sendMessage", answer_all(world, bob, "4"), chat_id=GROUP)
    # the restarted process released the dead one's claim and sent it at start, not 120 s on
    assert world.said(GROUP, "Nobody went first")
    await world.tick()
    await world.tick()
    reveals = [t for t in world.texts(GROUP) if "Nobody went first" in t]
    assert len(reveals) == 1
    assert reveals[0].count("Alice: <b>4</b>/5") == 4


async def test_killed_mid_conflict_relays_each_turn_once(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel anxious about bills")
    # killed while relaying Alice's bit to Bob's private chat, on Done: the restarted
    # process releases the dead claim and sends it at once, not 120 s later
    done = world.press(alice, "Done, over to Bob")
    await kill_during(world, "sendMessage", done, chat_id=bob.id)
    relayed = [t for t in world.texts(bob.id) if "I feel anxious about bills" in t]
    assert len(relayed) == 1
    assert "what did you hear Alice say" in world.last_text(bob.id)
    await world.tick()
    assert len([t for t in world.texts(bob.id) if "I feel anxious about bills" in t]) == 1


async def test_killed_before_the_actor_saw_their_step_it_comes_after_the_restart(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: the actor's own next screen was a direct reply, so a kill after the commit
    lost it: Alice's chat still showed the rules, whose button now only said "from an
    earlier step", and nothing showed her that the floor was hers (found by the real
    process kill test, seed 60292)."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    first = world.press(alice, "Alice speaks first")
    await kill_during(world, "sendMessage", first, chat_id=alice.id)
    # the restarted process sends what the dead one owed her: her step, with its buttons
    assert "you have the floor" in world.last_text(alice.id)
    assert "Done, over to Bob" in world.api.last(alice.id).button_texts()
    await world.send(alice, "I feel anxious about bills")
    await world.press(alice, "Done, over to Bob")
    assert "what did you hear Alice say" in world.last_text(bob.id)


async def test_killed_before_the_safety_reply_it_comes_after_the_restart(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: the caring reply to words of crisis, with its help lines and the writer's
    Share / Keep choice, was a direct reply: a kill after the hold committed lost it, and
    the hold stayed undecided for good."""
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "4")
    words = "I don't want to be here anymore. I think about ending it."
    await kill_during(world, "sendMessage", world.send(alice, words), chat_id=alice.id)
    assert world.said(alice.id, "Thank you for telling me")
    await world.press(alice, "Keep it to myself")
    assert not world.said(bob.id, "ending it")


async def test_killed_at_the_time_zone_press_onboarding_can_still_be_finished(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: the day question was lost with the reply; the zone button said "already done,
    use /settings", /settings never finished the setup, /checkin pointed at /timezone
    ("already set"), and the couple was never scheduled."""
    await pair_by_invite(world, alice, bob, onboard=False)
    await kill_during(world, "editMessageText", world.press(alice, "Berlin"))
    await world.press(alice, "Berlin")  # the button she still sees
    assert "Which day" in world.last_text(alice.id)  # the step that waits is shown
    await world.send(bob, "/checkin")
    assert "/start" in world.last_text(bob.id)
    await world.send(bob, "/settings")  # nothing to change yet: where setup stands
    assert "Which day" in world.last_text(bob.id)
    await world.send(bob, "/start")  # shows it too, to either partner
    assert "Which day" in world.last_text(bob.id)
    await world.press(bob, "Mon")
    await world.press(bob, "20:00")
    await world.send(alice, "/checkin")
    assert "finish setting up" not in world.last_text(alice.id)
    await world.send(alice, "/start")  # nothing waits: no prompt, the pairing stands
    assert "Which" not in world.last_text(alice.id)


async def test_the_partner_can_type_the_zone_where_setup_is_shown_again(
    world: World, alice: Person, bob: Person
) -> None:
    """The re-shown step says "or type its name": the words must go where it says."""
    await pair_by_invite(world, alice, bob, onboard=False)
    await world.send(bob, "/start")
    assert "Which time zone" in world.last_text(bob.id)
    await world.send(bob, "Europe/Madrid")
    assert "Europe/Madrid" in " ".join(world.texts(bob.id)[-2:])
    assert "Which day" in world.last_text(bob.id)
